/*  signal_log: STORE_DB_SIGNALS keyed by be64 seq (appended with MDB_APPEND,
 *  since seqs only grow), STORE_DB_SIGNAL_IDS as the once-only index, and
 *  STORE_DB_CURSORS. Meta "slog" is the last seq ever given, so a purge of
 *  the whole log never reuses a seq; "slog_purged" the last seq purged
 *  (seqs skipped at a start are holes, not purged entries).
 */
#include "signal_log.h"
#include <czmq.h>

#define SIGNAL_LOG_META_LAST  "slog"
#define SIGNAL_LOG_META_PURGED "slog_purged"    //  seq of the last entry purged

struct _signal_log_t {
    store_t *store;
};

signal_log_t *
signal_log_new (store_t *store)
{
    assert (store);
    signal_log_t *self = (signal_log_t *) zmalloc (sizeof (signal_log_t));
    self->store = store;
    return self;
}

void
signal_log_destroy (signal_log_t **self_p)
{
    assert (self_p);
    free (*self_p);
    *self_p = NULL;
}

uint64_t
signal_log_last (signal_log_t *self, MDB_txn *txn)
{
    assert (self);
    return store_meta_u64 (self->store, txn, SIGNAL_LOG_META_LAST);
}

uint64_t
signal_log_purged (signal_log_t *self, MDB_txn *txn)
{
    assert (self);
    return store_meta_u64 (self->store, txn, SIGNAL_LOG_META_PURGED);
}

//  A store from before "slog_purged": whatever lies below its oldest entry
//  was purged.
static int
s_note_old_purges (signal_log_t *self, MDB_txn *txn)
{
    MDB_val value;
    const char *name = SIGNAL_LOG_META_PURGED;
    int rc = store_get (self->store, txn, STORE_DB_META, name, strlen (name), &value);
    if (rc != MDB_NOTFOUND)
        return rc;
    return store_set_meta_u64 (self->store, txn, name, signal_log_first (self, txn) - 1);
}

int
signal_log_skip_to (signal_log_t *self, MDB_txn *txn, uint64_t seq)
{
    assert (self);
    int rc = s_note_old_purges (self, txn);
    if (rc || signal_log_last (self, txn) >= seq)
        return rc;
    return store_set_meta_u64 (self->store, txn, SIGNAL_LOG_META_LAST, seq);
}

int
signal_log_append (signal_log_t *self, MDB_txn *txn,
                   const Zvh__V1__SignalEvent *event, uint64_t *seq_p)
{
    assert (self);
    *seq_p = 0;
    const char *id = event->event_id ? event->event_id : "";
    MDB_val found;
    int rc = store_get (self->store, txn, STORE_DB_SIGNAL_IDS, id, strlen (id), &found);
    if (rc == 0)
        return 0;               //  already in the log: once only
    if (rc != MDB_NOTFOUND)
        return rc;
    uint64_t seq = signal_log_last (self, txn) + 1;
    uint8_t key [8];
    store_be64_put (key, seq);
    size_t size;
    uint8_t *bytes = wire_encode (&event->base, &size);
    if (!bytes)
        return ENOMEM;
    rc = store_put (self->store, txn, STORE_DB_SIGNALS, key, sizeof key, bytes, size,
                    MDB_APPEND);
    free (bytes);
    if (rc == 0)
        rc = store_put (self->store, txn, STORE_DB_SIGNAL_IDS, id, strlen (id),
                        key, sizeof key, 0);
    if (rc == 0)
        rc = store_set_meta_u64 (self->store, txn, SIGNAL_LOG_META_LAST, seq);
    if (rc == 0)
        *seq_p = seq;
    return rc;
}

uint64_t
signal_log_first (signal_log_t *self, MDB_txn *txn)
{
    assert (self);
    MDB_cursor *cursor;
    uint64_t first = signal_log_last (self, txn) + 1;
    if (mdb_cursor_open (txn, store_dbi (self->store, STORE_DB_SIGNALS), &cursor))
        return first;
    MDB_val key, value;
    if (mdb_cursor_get (cursor, &key, &value, MDB_FIRST) == 0 && key.mv_size == 8)
        first = store_be64_get ((const uint8_t *) key.mv_data);
    mdb_cursor_close (cursor);
    return first;
}

int
signal_log_scan (signal_log_t *self, MDB_txn *txn, uint64_t after, size_t max,
                 signal_log_visit_fn *visit, void *arg)
{
    assert (self);
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, store_dbi (self->store, STORE_DB_SIGNALS), &cursor);
    if (rc)
        return rc;
    uint8_t start [8];
    store_be64_put (start, after + 1);
    MDB_val key = { sizeof start, start }, value;
    rc = store_cursor_get (self->store, cursor, STORE_DB_SIGNALS, &key, &value, MDB_SET_RANGE);
    for (size_t count = 0; rc == 0 && count < max; count++) {
        if (visit (store_be64_get ((const uint8_t *) key.mv_data),
                   (const uint8_t *) value.mv_data, value.mv_size, arg))
            break;
        rc = store_cursor_get (self->store, cursor, STORE_DB_SIGNALS, &key, &value, MDB_NEXT);
    }
    mdb_cursor_close (cursor);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int
signal_log_purge (signal_log_t *self, MDB_txn *txn, int64_t cutoff_ms, size_t *purged_p)
{
    assert (self);
    *purged_p = 0;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, store_dbi (self->store, STORE_DB_SIGNALS), &cursor);
    if (rc)
        return rc;
    MDB_val key, value;
    rc = store_cursor_get (self->store, cursor, STORE_DB_SIGNALS, &key, &value, MDB_FIRST);
    while (rc == 0) {
        Zvh__V1__SignalEvent *event = WIRE_DECODE (Zvh__V1__SignalEvent,
            zvh__v1__signal_event, value.mv_data, value.mv_size);
        bool old = !event || event->time_ms < cutoff_ms;
        wire_free (event ? &event->base : NULL);
        if (!old)
            break;              //  time order follows seq order closely enough
        uint64_t seq = key.mv_size == 8 ? store_be64_get ((const uint8_t *) key.mv_data) : 0;
        rc = mdb_cursor_del (cursor, 0);
        if (rc == 0 && seq)
            rc = store_set_meta_u64 (self->store, txn, SIGNAL_LOG_META_PURGED, seq);
        if (rc == 0) {
            (*purged_p)++;
            rc = store_cursor_get (self->store, cursor, STORE_DB_SIGNALS, &key, &value, MDB_FIRST);
        }
    }
    mdb_cursor_close (cursor);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

uint64_t
signal_log_cursor (signal_log_t *self, MDB_txn *txn, const char *subscriber)
{
    assert (self);
    MDB_val value;
    if (store_get (self->store, txn, STORE_DB_CURSORS, subscriber, strlen (subscriber),
                   &value) || value.mv_size != 8)
        return 0;
    return store_be64_get ((const uint8_t *) value.mv_data);
}

int
signal_log_set_cursor (signal_log_t *self, MDB_txn *txn, const char *subscriber,
                       uint64_t seq)
{
    assert (self);
    uint8_t bytes [8];
    store_be64_put (bytes, seq);
    return store_put (self->store, txn, STORE_DB_CURSORS, subscriber,
                      strlen (subscriber), bytes, sizeof bytes, 0);
}
