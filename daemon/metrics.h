/*  metrics: Prometheus metrics and a health check over HTTP, for the
 *  region's IT.
 *
 *  libmicrohttpd runs without threads of its own: the daemon's loop calls
 *  metrics_run on every tick and MHD answers inside that call, in the
 *  daemon's one thread. So a scrape reads the store, the links and the
 *  partner sessions directly (nothing is shared between threads, nothing is
 *  a stale copy), and /healthz can prove that a write still commits.
 *
 *  GET /metrics   Prometheus text format 0.0.4
 *  GET /healthz   200 if a store write commits and a peer was seen within
 *                 health_peer_s (a region without peers: the store alone),
 *                 else 503; the body says why, in one line
 *
 *  There is no authentication, and nothing personal is served (counts,
 *  region and partner ids): bind metrics_bind to loopback or a management
 *  network only.
 */
#ifndef ZVH_METRICS_H
#define ZVH_METRICS_H

#include "audit.h"
#include "config.h"
#include "federation.h"
#include "outbox.h"
#include "signal_log.h"
#include "store.h"
#include "subscriber.h"
#include <czmq.h>

typedef struct _metrics_t metrics_t;

//  Listen on config->metrics_bind (host:port). subscriber may be NULL (no
//  partner endpoint). Returns NULL (logged) if the address cannot be used.
metrics_t *
    metrics_new (const config_t *config, store_t *store, outbox_t *outbox,
                 transfer_t *transfer, signal_log_t *log, audit_t *audit,
                 federation_t *federation, subscriber_t *subscriber);

//  Stop listening and null the pointer.
void
    metrics_destroy (metrics_t **self_p);

//  Use config from now on: a reload's, which replaces the one given to
//  metrics_new (the address stays: changing it needs a restart).
void
    metrics_set_config (metrics_t *self, const config_t *config);

//  Serve what is waiting (accept, read, answer); never blocks.
void
    metrics_run (metrics_t *self);

//  The descriptor that is readable when metrics_run has work, or -1 if
//  there is none (libmicrohttpd without epoll: poll it by metrics_next_due_ms).
int
    metrics_fd (metrics_t *self);

//  When metrics_run must run even if metrics_fd stays quiet (epoch ms):
//  connection timeouts, or soon when there is no descriptor.
int64_t
    metrics_next_due_ms (metrics_t *self, int64_t now_ms);

//  Every metric as Prometheus text; the caller frees it. NULL on error.
char *
    metrics_render (metrics_t *self, int64_t now_ms);

//  The health check: 0 if healthy, -1 if not; why (why_size bytes) says
//  what was checked or what failed. Writes to the store (a meta stamp).
int
    metrics_health (metrics_t *self, int64_t now_ms, char *why, size_t why_size);

typedef struct _status_t status_t;

//  Serve the federation's status page (/) and its JSON (/status) from status.
void
    metrics_set_status (metrics_t *self, status_t *status);

#endif
