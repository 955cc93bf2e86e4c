/*  endpoint: a network-facing CURVE server socket, bound the one safe way.
 *
 *  Both the federation and the partner endpoint are ROUTERs that must admit
 *  only the keys of their ZAP domain (zap.c; ZAP enforced: with no handler,
 *  nobody gets in),
 *  bound frames to WIRE_MAX_FRAME_BYTES before a byte reaches a decoder,
 *  fail loudly on sends to a vanished peer, and report refused handshakes.
 */
#ifndef ZVH_ENDPOINT_H
#define ZVH_ENDPOINT_H

#include <czmq.h>

//  Bind a ROUTER as a CURVE server with cert at address; name labels log
//  lines and is its ZAP domain (ZAP_DOMAIN_*). The monitor socket goes to
//  *monitor_p. NULL (logged) on failure.
zsock_t *
    endpoint_bind (zcert_t *cert, const char *address, const char *name,
                   int sndhwm, zsock_t **monitor_p);

//  Unbind sock from its endpoint and bind it again: libzmq closes every
//  connection accepted on an endpoint when it is unbound (it cannot drop one
//  peer of a ROUTER), and new handshakes meet the ZAP handler's current keys.
//  Returns 0, or -1 (logged) if the endpoint could not be bound again.
int
    endpoint_rebind (zsock_t *sock, const char *name);

//  Stop monitoring sock and close it and its monitor (either may be NULL).
void
    endpoint_close (zsock_t **sock_p, zsock_t **monitor_p);

//  Turn on ZAP enforcement on sock in domain: refuse everyone if the ZAP
//  handler is unreachable (libzmq's default admits unknown keys then).
int
    endpoint_enforce_zap (zsock_t *sock, const char *domain);

#endif
