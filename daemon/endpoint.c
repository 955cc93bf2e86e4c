/*  endpoint: socket options and bind of the daemon's CURVE servers.
 */
#include "endpoint.h"
#include "log.h"
#include "monitor.h"
#include "wire.h"

#define ENDPOINT_ZAP_ENFORCE_DOMAIN  93     //  ZMQ_ZAP_ENFORCE_DOMAIN, a draft constant
#define ENDPOINT_REBIND_TRIES        200    //  the old listener closes in the I/O thread,
#define ENDPOINT_REBIND_WAIT_MS      10     //  so its port may be busy for a moment

int
endpoint_enforce_zap (zsock_t *sock, const char *domain)
{
    int on = 1;
    zsock_set_zap_domain (sock, domain);
    return zmq_setsockopt (zsock_resolve (sock), ENDPOINT_ZAP_ENFORCE_DOMAIN, &on, sizeof on);
}

int
endpoint_rebind (zsock_t *sock, const char *name)
{
    char *address = zsock_last_endpoint (sock);
    if (!address || zmq_unbind (zsock_resolve (sock), address)) {
        log_error ("%s: cannot unbind %s to close revoked keys' connections: %s", name,
                    address ? address : "(no endpoint)", zmq_strerror (zmq_errno ()));
        zstr_free (&address);
        return -1;
    }
    int rc = -1;
    for (int tries = 0; rc && tries < ENDPOINT_REBIND_TRIES; tries++) {
        rc = zmq_bind (zsock_resolve (sock), address);
        if (rc && zmq_errno () != EADDRINUSE)
            break;
        if (rc)
            zclock_sleep (ENDPOINT_REBIND_WAIT_MS);
    }
    if (rc)
        log_error ("%s: cannot bind %s again: %s; the endpoint is down until a restart",
                    name, address, zmq_strerror (zmq_errno ()));
    else
        log_warning ("%s: every connection closed (a key was revoked or removed); "
                      "admitted peers reconnect", name);
    zstr_free (&address);
    return rc;
}

void
endpoint_close (zsock_t **sock_p, zsock_t **monitor_p)
{
    if (*sock_p && *monitor_p)
        zmq_socket_monitor (zsock_resolve (*sock_p), NULL, 0);
    zsock_destroy (monitor_p);
    zsock_destroy (sock_p);
}

zsock_t *
endpoint_bind (zcert_t *cert, const char *address, const char *name, int sndhwm,
               zsock_t **monitor_p)
{
    *monitor_p = NULL;
    zsock_t *sock = zsock_new (ZMQ_ROUTER);
    if (!sock) {
        log_error ("%s: cannot create a socket: %s", name, zmq_strerror (zmq_errno ()));
        return NULL;
    }
    zcert_apply (cert, sock);
    zsock_set_curve_server (sock, 1);
    zsock_set_router_mandatory (sock, 1);
    zsock_set_maxmsgsize (sock, WIRE_MAX_FRAME_BYTES);
    zsock_set_linger (sock, 0);
    if (sndhwm > 0)
        zsock_set_sndhwm (sock, sndhwm);
    if (endpoint_enforce_zap (sock, name)) {
        log_error ("%s: cannot enforce ZAP: %s", name, zmq_strerror (zmq_errno ()));
        endpoint_close (&sock, monitor_p);
        return NULL;
    }
    *monitor_p = monitor_attach (sock, name);
    if (!*monitor_p || zsock_bind (sock, "%s", address) < 0) {
        log_error ("%s: cannot bind %s: %s (is another zvhd running, or the port "
                    "taken?)", name, address, zmq_strerror (zmq_errno ()));
        endpoint_close (&sock, monitor_p);
    }
    return sock;
}
