/*  transfer: the case and handover state machine (verhuizen, warme overdracht).
 *
 *  Every function here runs inside a caller's write transaction and touches
 *  nothing else, so the caller commits a state change together with the
 *  outbox events it causes, or neither. States per region:
 *
 *    ACTIVE        owned here                      (include, or joint phase over)
 *    OFFERED       offer sent to target; frozen    (move)
 *    JOINT_TARGET  owned here, joint with source   (offer accepted here)
 *    JOINT_SOURCE  owned by target, joint with it  (target's accept arrived)
 *    TOMBSTONE     moved away; no plan content     (joint phase over)
 *    CLOSED        outflow; no plan content         (close)
 *
 *  The owner is the single writer of plan versions: an edit at the joint
 *  source is a proposal that the owner applies as its next version (last
 *  write wins) and sends back. Inclusion travels with the case and is never
 *  redone by the receiving region.
 */
#ifndef ZVH_TRANSFER_H
#define ZVH_TRANSFER_H

#include "config.h"
#include "outbox.h"
#include "sigcache.h"
#include "store.h"
#include "wire.h"
#include "zvh/zvh.h"

typedef struct _transfer_t transfer_t;

#define TRANSFER_ERROR_MAX  256

//  What happened to a case that partners must hear of (the label).
typedef enum {
    TRANSFER_EVENT_INCLUDED,        //  included here
    TRANSFER_EVENT_TAKEN_OVER,      //  a handover to this region was accepted
    TRANSFER_EVENT_CLOSING          //  about to close here (plan still readable)
} transfer_event_t;

//  Told of each transfer_event_t inside the same transaction; a non-zero
//  return aborts the transaction.
typedef int (transfer_hook_fn) (void *arg, MDB_txn *txn, transfer_event_t event,
                                const char *case_id, const char *previous_region,
                                int64_t now_ms);

//  Create the state machine for this region's store and outbox.
transfer_t *
    transfer_new (store_t *store, outbox_t *outbox, const config_t *config);

//  Destroy and null the pointer.
void
    transfer_destroy (transfer_t **self_p);

//  At start: count the cases per state (kept from then on as records
//  change) and start the monitoring figures (figures.h) of a store that
//  has none yet. Returns 0 or an LMDB code.
int
    transfer_start (transfer_t *self);

//  Cases per state (counts [1..ZVH_CASE_STATES], by Zvh__V1__CaseState),
//  from the counters, or by walking every record if they are not kept yet.
int
    transfer_count_states (transfer_t *self, MDB_txn *txn,
                           uint64_t counts [ZVH_CASE_STATES + 1]);

//  Remember there each custody statement this region signs (sigcache.h),
//  so that its signature is not verified when a peer's event carries it
//  back. verified NULL (the default) remembers nothing.
void
    transfer_set_verified (transfer_t *self, sigcache_t *verified);

//  Sign this region's custody statements with sign_key (copied): without
//  it (unit tests) offers and accepts go out unsigned and peers refuse them.
void
    transfer_set_sign_key (transfer_t *self, const uint8_t sign_key [WIRE_SIGN_SECRET_BYTES]);

//  Use config from now on: a reload's, which replaces the one given to
//  transfer_new (the region to move a case to is looked up in it).
void
    transfer_set_config (transfer_t *self, const config_t *config);

//  Set the function told of label events (one; NULL for none).
void
    transfer_set_hook (transfer_t *self, transfer_hook_fn *hook, void *arg);

//  Close a case owned here (outflow, uitstroom): the plan is purged, the
//  label removed; a joint phase is completed first.
int
    transfer_close (transfer_t *self, MDB_txn *txn, const char *case_id,
                    int64_t now_ms);

//  Why the last operation was refused (operator-readable).
const char *
    transfer_error (transfer_t *self);

//  Include a case with its plan; case_id "" makes one up. The case id used is
//  copied into case_id_out (ZVH id size). Returns 0 or a ZVH_E_* code.
int
    transfer_include (transfer_t *self, MDB_txn *txn, const char *case_id,
                      const uint8_t *plan, size_t plan_size, int64_t now_ms,
                      char *case_id_out);

//  Start a handover of case_id to region target.
int
    transfer_move (transfer_t *self, MDB_txn *txn, const char *case_id,
                   const char *target, int64_t now_ms);

//  End the joint phase of case_id (either side).
int
    transfer_complete (transfer_t *self, MDB_txn *txn, const char *case_id,
                       int64_t now_ms);

//  A new plan for case_id: next version at the owner, a proposal at the
//  joint source.
int
    transfer_plan_update (transfer_t *self, MDB_txn *txn, const char *case_id,
                          const uint8_t *plan, size_t plan_size, int64_t now_ms);

//  Apply one event from peer region `from` (already authenticated and
//  deduplicated). Events that make no sense in the case's state are logged
//  and dropped; relay says where a plan proposal went (outbox_relay_t).
//  Returns non-zero only for store errors.
int
    transfer_apply (transfer_t *self, MDB_txn *txn, const char *from,
                    const Zvh__V1__Envelope *envelope, outbox_relay_t *relay,
                    int64_t now_ms);

//  Complete the joint phases owned here whose end has passed.
int
    transfer_expire (transfer_t *self, MDB_txn *txn, int64_t now_ms);

//  Earliest end of a joint phase owned here (INT64_MAX if none), as last
//  seen by the functions above; transfer_expire rescans.
int64_t
    transfer_next_expiry (transfer_t *self);

//  Read a case record; returns a message to wire_free, or NULL if unknown.
Zvh__V1__Case *
    transfer_case (transfer_t *self, MDB_txn *txn, const char *case_id);

//  The current plan bytes of case_id (valid until the txn ends); 0 or
//  MDB_NOTFOUND.
int
    transfer_plan (transfer_t *self, MDB_txn *txn, const char *case_id,
                   MDB_val *plan);

//  Name of a case state: "active", "offered", ...
const char *
    transfer_state_name (int state);

#endif
