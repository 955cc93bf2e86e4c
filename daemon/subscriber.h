/*  subscriber: the partner endpoint, where police, crisis services,
 *  probation and operators subscribe to this region's signal log.
 *
 *  A ROUTER, CURVE server; the partner is known by its key (never by what
 *  it says), and its role and coverage come from the partners file. Each
 *  partner has one session: it resumes from a seq of its choice or from its
 *  stored cursor, receives at most `credit` unacknowledged views, and its
 *  acknowledgements move its durable cursor. Sessions share nothing, so a
 *  slow or dead partner never delays another; nothing is dropped: a view not
 *  acknowledged in time is sent again, and the partner drops seqs it has.
 *  Every view is recorded in the audit trail before it is sent.
 */
#ifndef ZVH_SUBSCRIBER_H
#define ZVH_SUBSCRIBER_H

#include "audit.h"
#include "config.h"
#include "crisis.h"
#include "pollset.h"
#include "signal_log.h"
#include "store.h"
#include <czmq.h>

typedef struct _subscriber_t subscriber_t;

//  Bind the partner endpoint (the ZAP handler must be running). NULL (logged) on error.
subscriber_t *
    subscriber_new (const config_t *config, zcert_t *cert, store_t *store,
                    signal_log_t *log, crisis_t *crisis, audit_t *audit);

//  Use config from now on (a reload's; the old one is destroyed right
//  after): sessions of partners that are gone or revoked end at once; the
//  others keep their streams. With withdrawn (a key was
//  revoked or removed) every partner connection is closed as well, so that
//  the withdrawn key's live one goes; the others reconnect and resume.
void
    subscriber_reload (subscriber_t *self, const config_t *config, bool withdrawn);

//  Close and null the pointer.
void
    subscriber_destroy (subscriber_t **self_p);

//  Add the sockets to poll.
void
    subscriber_poll_add (subscriber_t *self, pollset_t *pollset);

//  Handle a readable socket; false if it is not one of ours.
bool
    subscriber_handle (subscriber_t *self, void *socket, int64_t now_ms);

//  Send what is due to every session: new views, resends, heartbeats.
//  Does nothing before subscriber_next_due_ms unless the store committed
//  since (the log may have grown) or a socket was handled.
void
    subscriber_pump (subscriber_t *self, int64_t now_ms);

//  When subscriber_pump next has work of its own (epoch ms; 0 = at once).
int64_t
    subscriber_next_due_ms (subscriber_t *self);

//  Number of sessions and, per index, partner id, whether it is live, and
//  how far its acknowledged cursor is behind the log.
size_t
    subscriber_count (subscriber_t *self);
const char *
    subscriber_info (subscriber_t *self, size_t index, bool *live_p,
                     uint64_t *lag_p);

#endif
