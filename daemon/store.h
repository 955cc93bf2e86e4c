/*  store: the daemon's one LMDB environment and its named databases.
 *
 *  Invariant: every state change and the outbox entries it causes commit in
 *  one write transaction, through store_write. LMDB commits are synchronous
 *  (no MDB_NOSYNC), so data is on disk once its transaction commits, and an
 *  acknowledgement may be sent after it, never before.
 *
 *  The turn: the daemon's loop opens one (store_turn_begin) around all it
 *  does in a loop turn. Inside it, store_write runs fn in a transaction
 *  nested in the turn's one write transaction (a refusal or error undoes fn
 *  alone) and returns when fn's changes are in the turn, not yet on disk;
 *  what may only happen once they are (a reply, an ACK, a view, a send) is
 *  handed to store_after_commit and runs after store_turn_end committed,
 *  told whether the commit held. store_read sees committed state only, so a
 *  send that reads never shows what is not durable. Outside a turn (start,
 *  tools, tests) store_write commits at once, as before.
 *
 *  MDB_MAP_FULL aborts the transaction, doubles the map (up to a ceiling)
 *  and runs the whole write function again; write functions therefore touch
 *  nothing but the transaction. A full disk aborts cleanly: LMDB's
 *  copy-on-write pages leave the last committed state intact.
 */
#ifndef ZVH_STORE_H
#define ZVH_STORE_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Bumped when the layout of any database changes; a store written by a
//  newer format is refused at open. Format 2: an outbox entry may refer to
//  the event log (STORE_DB_EVENTS); a format 1 store is read as it is.
#define STORE_FORMAT_VERSION  2

typedef enum {
    STORE_DB_META,          //  format version, region, counters, link state
    STORE_DB_CASES,         //  case id -> zvh.v1.Case
    STORE_DB_PLANS,         //  case id, NUL, be64 version -> serialised Plan
    STORE_DB_OUTBOX,        //  peer id, NUL, be64 link seq -> zvh.v1.Envelope
    STORE_DB_DEDUP,         //  origin id, NUL, be64 seq -> be64 ms [, relayed to] (relay.h)
    STORE_DB_SIGNALS,       //  be64 log seq -> zvh.v1.SignalEvent
    STORE_DB_SIGNAL_IDS,    //  event id -> be64 log seq (each event once)
    STORE_DB_CURSORS,       //  subscriber id -> be64 last acknowledged seq
    STORE_DB_AUDIT,         //  be64 audit seq -> hash-chained audit record
    STORE_DB_REQUESTS,      //  control client id, be64 request id -> be64 ms, case id,
                            //  NUL, event id: a change done once (idempotent control)
    STORE_DB_EVENTS,        //  be64 origin seq -> zvh.v1.Envelope sent to many peers;
                            //  be64 origin seq, 'n' -> be32 outbox entries that refer to it
    STORE_DB_COUNT
} store_db_t;

typedef struct _store_t store_t;

//  Our ZVH_E_* codes are small negatives; LMDB's are errno values or -30799..
#define STORE_IS_APP_CODE(rc) ((rc) < 0 && (rc) > -1000)

//  A unit of work on a transaction; returns 0, a ZVH_E_* code to abort, or
//  an LMDB error code. Must have no effect outside txn: it may run again.
typedef int (store_fn) (MDB_txn *txn, void *arg);


typedef struct {
    uint64_t map_bytes;     //  current map size
    uint64_t used_bytes;    //  pages in use
    uint64_t max_bytes;     //  ceiling for growth
} store_info_t;

//  Open (or create) the store in directory dir for region. Refuses a store
//  of a newer format or of another region. Returns NULL and logs why.
store_t *
    store_new (const char *dir, const char *region,
               uint64_t map_size_mb, uint64_t map_max_mb);

//  Close the store and null the pointer.
void
    store_destroy (store_t **self_p);

#define STORE_KEY_BYTES  32     //  XChaCha20-Poly1305 key

//  Seal every value of the databases that hold personal data (cases, plans,
//  outbox, signals, audit) with XChaCha20-Poly1305 under key, bound to its
//  database and key. A new store is marked sealed; a sealed store refuses a
//  wrong key. Returns 0, or -1 (logged).
int
    store_set_key (store_t *self, const uint8_t key [STORE_KEY_BYTES]);

//  Re-encrypt every sealed value under new_key (the daemon must be stopped).
//  A store without a key yet is sealed for the first time. Returns 0 or -1.
int
    store_rekey (store_t *self, const uint8_t new_key [STORE_KEY_BYTES]);

//  Read a key file: 64 hex digits. Returns 0 or -1 (logged).
int
    store_read_key_file (const char *path, uint8_t key [STORE_KEY_BYTES]);

//  mdb_cursor_get for db, with the value opened if db is sealed; the value
//  stays valid until the next call on this store.
int
    store_cursor_get (store_t *self, MDB_cursor *cursor, store_db_t db,
                      MDB_val *key, MDB_val *value, MDB_cursor_op op);

//  Run fn in one write transaction and commit (inside a turn: in a nested
//  transaction of the turn's, see above). Returns 0, or ZVH_E_FULL (disk or
//  map ceiling), ZVH_E_STORE, or fn's own ZVH_E_* code.
int
    store_write (store_t *self, store_fn *fn, void *arg);

//  What must wait for the turn's commit; committed is false if it failed
//  (ZVH_E_FULL, ZVH_E_STORE): then nothing of the turn is stored.
typedef void (store_after_fn) (void *arg, bool committed);

//  Open the loop's turn: every store_write until store_turn_end is nested
//  in one write transaction (begun by the first of them).
void
    store_turn_begin (store_t *self);

//  Commit the turn's transaction (none if nothing was written), then run
//  the effects handed to store_after_commit, in order, with the outcome.
//  Returns 0, ZVH_E_FULL or ZVH_E_STORE.
int
    store_turn_end (store_t *self);

//  True between store_turn_begin and store_turn_end.
bool
    store_in_turn (store_t *self);

//  Run fn (arg, committed) once what the turn wrote so far is committed (or
//  failed to be); outside a turn, at once with committed true. A full map
//  commits the turn early: effects then run at store_turn_end all the same.
void
    store_after_commit (store_t *self, store_after_fn *fn, void *arg);

//  Inside a store_write: run fn in a nested transaction of txn, kept if fn
//  returns 0 and undone if not, so one refused step of a batch leaves the
//  others. Returns fn's code, or an LMDB code if the nesting failed.
int
    store_nested (store_t *self, MDB_txn *txn, store_fn *fn, void *arg);

//  Run fn in a read-only transaction of the committed state (inside a turn
//  too). Returns fn's result or ZVH_E_STORE.
int
    store_read (store_t *self, store_fn *fn, void *arg);

//  Run fn on what the turn has written so far (a nested transaction of the
//  turn's, undone after fn); outside a turn, store_read. For replies that
//  are sent after the commit, never for a send before it.
int
    store_read_turn (store_t *self, store_fn *fn, void *arg);

//  The handle of a named database.
MDB_dbi
    store_dbi (store_t *self, store_db_t db);

//  Get a value by key (opened if sealed, valid until the transaction ends);
//  returns 0, MDB_NOTFOUND, or another LMDB code.
int
    store_get (store_t *self, MDB_txn *txn, store_db_t db,
               const void *key, size_t key_size, MDB_val *value);

//  Put a value; returns 0 or an LMDB code.
int
    store_put (store_t *self, MDB_txn *txn, store_db_t db,
               const void *key, size_t key_size,
               const void *value, size_t value_size, unsigned flags);

//  Delete a key; a missing key is not an error. Returns 0 or an LMDB code.
int
    store_del (store_t *self, MDB_txn *txn, store_db_t db,
               const void *key, size_t key_size);

//  Read a uint64 counter from meta (0 when absent).
uint64_t
    store_meta_u64 (store_t *self, MDB_txn *txn, const char *name);

//  Write a uint64 counter to meta.
int
    store_set_meta_u64 (store_t *self, MDB_txn *txn, const char *name,
                        uint64_t value);

//  Map size, pages in use and growth ceiling.
int
    store_info (store_t *self, store_info_t *info);

//  Path of the environment directory.
const char *
    store_path (store_t *self);

//  Number of entries in a named database, as of txn.
uint64_t
    store_entries (store_t *self, MDB_txn *txn, store_db_t db);

//  Upper bounds (microseconds) of the buckets of the write latency
//  histogram; a last, unbounded bucket follows.
#define STORE_LATENCY_BOUNDS_US \
    250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, \
    500000, 1000000, 2500000
#define STORE_LATENCY_BUCKETS  14   //  the bounds above and +Inf

//  What store_write and store_backup have done since store_new: counts,
//  and how long committed writes took (from the start of the transaction
//  to its synchronous commit, retries after map growth included).
typedef struct {
    uint64_t commits;                   //  transactions committed (a turn is one)
    uint64_t writes;                    //  store_write calls that kept a change (in a
                                        //  turn: before its commit)
    uint64_t refusals;                  //  fn refused with a ZVH_E_* code
    uint64_t failures;                  //  store errors, full disk or map
    uint64_t latency_count [STORE_LATENCY_BUCKETS];     //  per bucket, not cumulative
    uint64_t latency_sum_us;
    uint64_t backups;                   //  backups that completed
    uint64_t backup_failures;
    int64_t last_backup_ms;             //  end of the last good backup of this store
                                        //  (kept in its meta: survives restarts), 0 = none
    int64_t last_backup_duration_ms;
    bool backup_running;
} store_stats_t;

//  Fill stats (see store_stats_t).
void
    store_stats (store_t *self, store_stats_t *stats);

//  Start an online backup: a compacted copy of the whole environment
//  (mdb_env_copy2 with MDB_CP_COMPACT) into directory dir, made in a thread
//  of its own while the daemon goes on writing. The copy is the state of one
//  read transaction taken when the thread starts: everything committed
//  before this call is in it. The copy's meta gets the time it was taken
//  (store_backup_taken_ms), and its file is made mode 0600 and fsynced. dir is created (mode 0700) if missing and must
//  not hold a data.mdb already. While a backup runs the map is not grown (a
//  write that needs more room waits for the copy to end). Returns 0,
//  ZVH_E_CONFLICT if a backup is running, or ZVH_E_BAD_REQUEST if dir cannot
//  be used; store_backup_error says why.
int
    store_backup_start (store_t *self, const char *dir);

//  True once the backup begun by store_backup_start has ended: *rc_p is 0
//  (the copy is complete and fsynced) or ZVH_E_FULL / ZVH_E_STORE, with the
//  reason in store_backup_error. False while it runs, or when none ran; a
//  result is reported once.
bool
    store_backup_done (store_t *self, int *rc_p);

//  Start a backup and wait for it: returns what store_backup_start or
//  store_backup_done gave.
int
    store_backup (store_t *self, const char *dir);

//  Why the last backup could not start or failed ("" if it did not).
const char *
    store_backup_error (store_t *self);

//  When the backup this store was restored from was taken (epoch ms), or 0
//  if it is no restored backup. Every copy store_backup makes is stamped;
//  the live store never is.
int64_t
    store_backup_taken_ms (store_t *self);

//  Build "prefix NUL be64(n)" keys: the sortable key shape of every
//  sequence-ordered database. Returns the key length, 0 if it does not fit.
size_t
    store_seq_key (uint8_t *key, size_t key_max, const char *prefix,
                   uint64_t n);

//  Read the be64 number at the end of a store_seq_key key.
uint64_t
    store_seq_key_n (const MDB_val *key);

//  Big-endian encode and decode of uint64.
void
    store_be64_put (uint8_t *out, uint64_t n);
uint64_t
    store_be64_get (const uint8_t *in);

#endif
