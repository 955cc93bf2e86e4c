/*  crisis: routing of crisis signals and label events (opschalen).
 *
 *  A signal is raised at any region. The region that holds the case's
 *  plan (owner, or a source whose offer is still in flight) makes it ready
 *  for partners: it adds what the plan says per partner role (the partner's
 *  own reference, its scenario actions, the coordinator's contact) and
 *  sends the resulting event to every region, each of which appends it to
 *  its signal log once (by event id) and serves its own subscribers.
 *  Regions that do not hold the plan pass a raise on to the owner they know,
 *  or, if they know nothing of the case, to every region: only the holder
 *  acts on it. National signals go to every region as they are.
 *
 *  Label events (set at inclusion, moved when a handover is accepted,
 *  removed at closure) are made by the owner and travel the same way;
 *  review-due events stay in the owner region's log, for its operators.
 */
#ifndef ZVH_CRISIS_H
#define ZVH_CRISIS_H

#include "config.h"
#include "outbox.h"
#include "signal_log.h"
#include "store.h"
#include "transfer.h"

typedef struct _crisis_t crisis_t;

#define CRISIS_TEXT_MAX     500     //  bytes of free text in a signal
#define CRISIS_EVENT_ID_MAX (CONFIG_ID_MAX + 24)

//  Create the router; it registers itself as the transfer's label hook.
crisis_t *
    crisis_new (store_t *store, outbox_t *outbox, signal_log_t *log,
                transfer_t *transfer, const config_t *config);

//  Destroy and null the pointer.
void
    crisis_destroy (crisis_t **self_p);

//  Sign the proof of every event made here with sign_key (copied), so that
//  partners can check who published it (PROTOCOL 8.3). Without it events
//  carry no proof (unit tests only).
void
    crisis_set_sign_key (crisis_t *self, const uint8_t sign_key [WIRE_SIGN_SECRET_BYTES]);

//  Use config from now on (a reload's; the old one is about to be
//  destroyed): the regions to send to are taken from it.
void
    crisis_reload (crisis_t *self, const config_t *config);

//  Why the last raise was refused.
const char *
    crisis_error (crisis_t *self);

//  Raise a signal here (from an operator or a partner key): validated,
//  recorded and routed in txn. The event id goes to event_id_out
//  (CRISIS_EVENT_ID_MAX). Returns 0 or a ZVH_E_* / LMDB code.
int
    crisis_raise (crisis_t *self, MDB_txn *txn, const Zvh__V1__SignalRaise *raise,
                  int64_t now_ms, char *event_id_out);

//  Apply a TYPE_SIGNAL_RAISE or TYPE_SIGNAL_EVENT envelope from peer
//  `from`; relay says where a raise went (outbox_relay_t). Returns non-zero
//  only for store errors.
int
    crisis_apply (crisis_t *self, MDB_txn *txn, const char *from,
                  const Zvh__V1__Envelope *envelope, outbox_relay_t *relay,
                  int64_t now_ms);

//  One step of the review pass: of the next few case records, append a
//  review-due event for each owned case whose review date has passed (once
//  per plan version). *done_p is true when the pass reached the last case
//  (the next step begins a new pass). Steps keep the event loop free.
int
    crisis_check_reviews (crisis_t *self, MDB_txn *txn, int64_t now_ms, bool *done_p);

//  Purge log entries older than the retention period.
int
    crisis_purge (crisis_t *self, MDB_txn *txn, int64_t now_ms);

#endif
