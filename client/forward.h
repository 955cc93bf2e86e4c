/*  forward: zvhctl's durable CAP-over-HTTPS forwarder (docs/PARTNERS.md (c)).
 *  Internal to zvhctl, not part of libzvh's public API.
 */
#ifndef ZVH_FORWARD_H
#define ZVH_FORWARD_H

#include "zvh/zvh.h"

//  Where and how to POST: the receiver's HTTPS URL, the CA that signed its
//  certificate (NULL: the system's CAs), a client certificate and key in
//  PEM (NULL: none), a file holding a bearer token (NULL: none) and the
//  Content-Type (NULL: application/cap+xml).
typedef struct {
    const char *url;
    const char *ca_file;
    const char *cert_file;
    const char *key_file;
    const char *token_file;
    const char *content_type;
} forward_config_t;

typedef struct _forward_t forward_t;

//  A forwarder for one receiver. NULL if the URL is not https:// or the
//  token file cannot be read; *error_p (static text) says why.
forward_t *
    forward_new (const forward_config_t *config, const char **error_p);

//  Free the forwarder and null the pointer.
void
    forward_destroy (forward_t **self_p);

//  POST one CAP alert (seq and event_id go in headers Zvh-Seq and
//  Zvh-Event-Id as well). 0 if the receiver answered 2xx, else -1 (why:
//  forward_error).
int
    forward_post (forward_t *self, uint64_t seq, const char *event_id, const char *xml);

//  Why the last POST failed.
const char *
    forward_error (forward_t *self);

//  Start partner's stream from the daemon's stored cursor, take its views
//  and POST each, in order, as a CAP
//  alert for role; acknowledge a view only after its POST succeeded, and
//  retry a failed POST with back-off for as long as it takes. Returns 0
//  when interrupted (SIGTERM, SIGINT), else the ZVH_E_* code that stopped
//  it (a refused key, a view that cannot be written as CAP).
int
    forward_run (forward_t *self, zvh_subscriber_t *partner, const char *role);

#endif
