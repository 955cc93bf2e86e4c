/*  audit: the audit trail of every access to and disclosure of case data
 *  (NEN 7513 shape), hash-chained so that a deleted or altered entry is
 *  detected.
 *
 *  Invariant: an entry is appended in the same transaction as what it
 *  records (a refusal, which changes nothing else, in its own), so the trail
 *  never claims what did not happen nor misses what did. The trail is kept
 *  when plans are purged. Entries are sealed at rest like other personal
 *  data.
 */
#ifndef ZVH_AUDIT_H
#define ZVH_AUDIT_H

#include "store.h"
#include "wire.h"

typedef struct _audit_t audit_t;

//  What one entry says; NULL fields are left empty.
typedef struct {
    const char *action;         //  create, read, change, transfer, receive, disclose, refuse
    const char *outcome;        //  ok, refused
    const char *actor;
    const char *actor_role;
    const char *on_behalf;
    const char *purpose;
    const char *legal_basis;
    const char *case_id;
    const char *source;
    const char *detail;
    const char *event_id;
} audit_entry_t;

#define AUDIT_WHY_MAX  256
#define AUDIT_REFUSAL_INTERVAL_MS  10000    //  noted refusals are recorded this often

//  Called per entry by audit_scan; return non-zero to stop.
typedef int (audit_visit_fn) (const Zvh__V1__AuditRecord *record, void *arg);

//  Create the trail over the store.
audit_t *
    audit_new (store_t *store);

//  Destroy and null the pointer.
void
    audit_destroy (audit_t **self_p);

//  Append an entry in txn. Returns 0 or an LMDB code.
int
    audit_record (audit_t *self, MDB_txn *txn, const audit_entry_t *entry,
                  int64_t now_ms);

//  Append one entry in its own transaction (refusals, reads). Logs on error.
void
    audit_record_now (audit_t *self, const audit_entry_t *entry, int64_t now_ms);

//  Note a refused frame from a key that may not speak on this endpoint
//  (source): the first of an interval is recorded at once, the rest are
//  counted in memory and recorded by audit_flush_refusals as one entry per
//  key and source, so that a key sending garbage costs no commit per
//  frame. Returns true for the first (the caller logs that one).
bool
    audit_note_refusal (audit_t *self, const char *key, const char *source,
                        const char *detail, int64_t now_ms);

//  Record the noted refusals if AUDIT_REFUSAL_INTERVAL_MS has passed since
//  the last flush (or always, at shutdown), in one transaction.
void
    audit_flush_refusals (audit_t *self, int64_t now_ms, bool always);

//  When audit_flush_refusals next has work (epoch ms; INT64_MAX: none noted).
int64_t
    audit_next_flush_ms (audit_t *self);

//  Check the whole chain: *count_p entries; returns 0 if intact, else 1 with
//  the first problem in why (AUDIT_WHY_MAX). LMDB errors are returned as is.
int
    audit_verify (audit_t *self, MDB_txn *txn, uint64_t *count_p, char *why);

//  Visit entries after seq `after`, at most max.
int
    audit_scan (audit_t *self, MDB_txn *txn, uint64_t after, size_t max,
                audit_visit_fn *visit, void *arg);

#endif
