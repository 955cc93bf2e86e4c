/*  zap: the ZAP handler (ZeroMQ RFC 27) that admits CURVE keys per endpoint.
 *
 *  zauth admits one set of keys for every socket of the process, so a
 *  partner key got through the federation endpoint's handshake and a
 *  region key through the partner endpoint's. Here each endpoint is a ZAP
 *  domain ("federation", "partners") with its own set: a key of the other
 *  kind, unknown or revoked, fails the handshake. An actor (CZMQ) on
 *  inproc://zeromq.zap.01; the sockets enforce ZAP, so if it is not there
 *  nobody gets in.
 */
#ifndef ZVH_ZAP_H
#define ZVH_ZAP_H

#include <czmq.h>

#define ZAP_DOMAIN_FEDERATION  "federation"
#define ZAP_DOMAIN_PARTNERS    "partners"
#define ZAP_DOMAIN_CONTROL     "control"

typedef struct _zap_t zap_t;

//  Start the handler; NULL (logged) if it cannot bind its endpoint.
zap_t *
    zap_new (void);

//  Stop the handler and null the pointer.
void
    zap_destroy (zap_t **self_p);

//  The handler's socket, readable when it reports a denial (zap_denial).
zsock_t *
    zap_socket (zap_t *self);

//  Read one denial the handler reports: the first of each 10 s interval per
//  key and domain, so that it can be audited. Fills domain and key (sizes
//  ZAP_DOMAIN_MAX, ZAP_KEY_MAX); false if the message was not a denial.
#define ZAP_DOMAIN_MAX  64
#define ZAP_KEY_MAX     41
bool
    zap_denial (zap_t *self, char *domain, char *key);

//  Admit exactly keys (Z85 strings) in domain from the next handshake on;
//  returns when the handler has them. 0, or -1 if the handler is gone.
int
    zap_set_keys (zap_t *self, const char *domain, zlist_t *keys);

#endif
