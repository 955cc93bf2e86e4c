/*  signal_log: this region's durable log of crisis signals and label events,
 *  and the cursors of its subscribers.
 *
 *  Invariant: an event id is in the log at most once (STORE_DB_SIGNAL_IDS),
 *  whatever path or how many copies brought it; log seqs increase by one
 *  per appended event and are what subscribers resume from. Entries older
 *  than the retention period are purged from the front only, so a
 *  subscriber that was away too long is told of the gap, never skipped
 *  silently.
 */
#ifndef ZVH_SIGNAL_LOG_H
#define ZVH_SIGNAL_LOG_H

#include "store.h"
#include "wire.h"

typedef struct _signal_log_t signal_log_t;

//  Called per entry by signal_log_scan; return non-zero to stop.
typedef int (signal_log_visit_fn) (uint64_t seq, const uint8_t *event,
                                   size_t size, void *arg);

//  Create the log over the store.
signal_log_t *
    signal_log_new (store_t *store);

//  Destroy and null the pointer.
void
    signal_log_destroy (signal_log_t **self_p);

//  Append event unless its event_id is in the log already. *seq_p gets the
//  new seq, or 0 for a duplicate. Returns 0 or an LMDB code.
int
    signal_log_append (signal_log_t *self, MDB_txn *txn,
                       const Zvh__V1__SignalEvent *event, uint64_t *seq_p);

//  The newest seq (0 if empty) and the oldest retained (last + 1 if empty).
uint64_t
    signal_log_last (signal_log_t *self, MDB_txn *txn);

//  At every start: give the next entries seqs after seq (the clock in
//  microseconds), if the log is not past it already, so that a copy of the
//  store started later hands out no seq its partners saw from the lost
//  store. Returns 0 or an LMDB code.
int
    signal_log_skip_to (signal_log_t *self, MDB_txn *txn, uint64_t seq);
uint64_t
    signal_log_first (signal_log_t *self, MDB_txn *txn);

//  The seq of the last entry purged (0 if none): a partner that resumes
//  below it has missed entries (GAP). Seqs skipped at a start are no loss.
uint64_t
    signal_log_purged (signal_log_t *self, MDB_txn *txn);

//  Visit entries after seq `after`, at most max.
int
    signal_log_scan (signal_log_t *self, MDB_txn *txn, uint64_t after,
                     size_t max, signal_log_visit_fn *visit, void *arg);

//  Delete entries whose time is before cutoff_ms; *purged_p counts them.
int
    signal_log_purge (signal_log_t *self, MDB_txn *txn, int64_t cutoff_ms,
                      size_t *purged_p);

//  A subscriber's stored cursor (0 if none) and its update.
uint64_t
    signal_log_cursor (signal_log_t *self, MDB_txn *txn, const char *subscriber);
int
    signal_log_set_cursor (signal_log_t *self, MDB_txn *txn,
                           const char *subscriber, uint64_t seq);

#endif
