/*  store: LMDB environment, named databases, and the retrying write path.
 *
 *  The daemon is single-threaded around the store, so growing the map (which
 *  LMDB allows only with no transaction open in the process) is safe between
 *  two writes. Commit errors are mapped to operator-readable causes.
 *
 *  The one exception is an online backup: mdb_env_copy2 runs in a thread of
 *  its own, inside a read transaction, while the daemon writes. The map is
 *  never grown under it: a write that needs a bigger map first waits for
 *  the copy to end (s_backup_join).
 */
#include "store.h"
#include "log.h"
#include "zvh/zvh.h"
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STORE_MAX_DBS         16
#define STORE_MAX_READERS     126
#define STORE_MB              ((uint64_t) 1024 * 1024)
#define STORE_GROWTH_FACTOR   2
#define STORE_HEADROOM_NUM    3     //  a turn ends with the map grown if more than
#define STORE_HEADROOM_DEN    4     //  3/4 of it is in use
#define STORE_META_FORMAT     "format_version"
#define STORE_META_REGION     "region"
#define STORE_META_KEY_MAX    256

static const char *s_db_names [STORE_DB_COUNT] = {
    "meta", "cases", "plans", "outbox", "dedup", "signals", "signal_ids", "cursors",
    "audit", "requests", "events"
};

//  Databases whose values may hold personal data: sealed at rest. Keys
//  everywhere are ids, seqs and region names, never personal data.
static const bool s_sealed_db [STORE_DB_COUNT] = {
    [STORE_DB_CASES] = true, [STORE_DB_PLANS] = true, [STORE_DB_OUTBOX] = true,
    [STORE_DB_SIGNALS] = true, [STORE_DB_AUDIT] = true, [STORE_DB_EVENTS] = true
};

#define SEAL_VERSION       1
#define SEAL_NONCE_BYTES   crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define SEAL_TAG_BYTES     crypto_aead_xchacha20poly1305_ietf_ABYTES
#define SEAL_OVERHEAD      (1 + SEAL_NONCE_BYTES + SEAL_TAG_BYTES)
#define SEAL_AAD_MAX       (1 + 511)            //  db index + LMDB's longest key
#define STORE_META_SEALED  "sealed"
#define STORE_META_CHECK   "key_check"
#define STORE_KEY_CHECK    "zvh-federation store key check"
#define STORE_KEY_HEX_LEN  (STORE_KEY_BYTES * 2)

#define STORE_BACKUP_PATH_MAX   512
#define STORE_BACKUP_FILE       "data.mdb"      //  what mdb_env_copy2 writes
#define STORE_BACKUP_PARTIAL    ".partial"      //  the copy is made here, then renamed
#define STORE_BACKUP_NAME_MAX   (STORE_BACKUP_PATH_MAX + 32)
#define STORE_META_BACKUP_TAKEN "backup_taken_ms"   //  only ever set in a copy
#define STORE_META_LAST_BACKUP  "last_backup_ms"    //  the last good backup of this store

//  An online backup runs in a thread of its own; the daemon's thread joins
//  it, and never grows the map while it runs (the copy reads the map).
typedef enum { BACKUP_IDLE, BACKUP_RUNNING, BACKUP_ENDED } backup_state_t;

typedef struct {
    backup_state_t state;
    pthread_t thread;
    atomic_bool finished;           //  set by the backup thread as it ends
    int mdb_rc;                     //  the thread's result, read after the join
    int rc;                         //  our code for it, once ENDED
    char dir [STORE_BACKUP_PATH_MAX];
    char error [2 * STORE_BACKUP_PATH_MAX];
    int64_t started_ms;
} backup_t;

//  An effect that waits for the turn's commit, and what became of it.
#define STORE_AFTER_PENDING  1      //  not committed yet (commit results are <= 0)
#define STORE_AFTER_GROWTH   16     //  the list grows by this many entries

typedef struct {
    store_after_fn *fn;
    void *arg;
    int state;                      //  STORE_AFTER_PENDING, or its commit's result
} after_t;

//  The loop's turn (store_turn_begin .. store_turn_end): every store_write
//  is a nested transaction of txn, which is begun by the turn's first write
//  and committed once, at the end (or earlier, to grow a full map).
typedef struct {
    bool open;
    bool in_fn;                     //  a write function runs: no store_write now
    bool wrote;                     //  a store_write of the turn kept a change
    MDB_txn *txn;                   //  NULL until the turn's first write
    int64_t started_us;             //  when txn began
    after_t *after;
    size_t after_count;
    size_t after_max;
} turn_t;

struct _store_t {
    MDB_env *env;
    MDB_dbi dbi [STORE_DB_COUNT];
    char *path;
    uint64_t map_bytes;
    uint64_t max_bytes;
    bool sealed;                    //  values of sealed dbs are encrypted
    uint8_t key [STORE_KEY_BYTES];
    zlist_t *arena;                 //  opened values, freed when the txn ends
    uint8_t *scratch;               //  the last value opened by a cursor
    size_t scratch_size;
    store_stats_t stats;            //  store_write and backup counters
    backup_t backup;
    turn_t turn;                    //  the loop's turn, while one is open
};

static void s_backup_join (store_t *self);

void
store_be64_put (uint8_t *out, uint64_t n)
{
    for (int i = 7; i >= 0; i--) {
        out [i] = (uint8_t) (n & 0xff);
        n >>= 8;
    }
}

uint64_t
store_be64_get (const uint8_t *in)
{
    uint64_t n = 0;
    for (int i = 0; i < 8; i++)
        n = (n << 8) | in [i];
    return n;
}

size_t
store_seq_key (uint8_t *key, size_t key_max, const char *prefix, uint64_t n)
{
    size_t prefix_len = strlen (prefix);
    size_t size = prefix_len + 1 + 8;
    if (size > key_max)
        return 0;
    memcpy (key, prefix, prefix_len);
    key [prefix_len] = 0;
    store_be64_put (key + prefix_len + 1, n);
    return size;
}

uint64_t
store_seq_key_n (const MDB_val *key)
{
    if (key->mv_size < 8)
        return 0;
    return store_be64_get ((const uint8_t *) key->mv_data + key->mv_size - 8);
}

//  Map an LMDB or errno code to our error code and log what to do.
static int
s_fail (store_t *self, const char *what, int rc)
{
    //  LMDB reports a short write (the disk filled mid-page) as EIO
    if (rc == ENOSPC || rc == EFBIG || rc == EDQUOT || rc == EIO) {
        log_error ("store %s: %s: the disk is full or failing (%s); free space "
                    "on its volume or check the kernel log; the store keeps its "
                    "last committed state", self->path, what, mdb_strerror (rc));
        return ZVH_E_FULL;
    }
    if (rc == MDB_MAP_FULL) {
        log_error ("store %s: %s: map is at its ceiling of %" PRIu64 " MiB; "
                    "raise map_max_mb in the config", self->path, what,
                    self->max_bytes / STORE_MB);
        return ZVH_E_FULL;
    }
    log_error ("store %s: %s: %s", self->path, what, mdb_strerror (rc));
    return ZVH_E_STORE;
}

static int
s_grow (store_t *self)
{
    s_backup_join (self);           //  the copy reads the map: never remap under it
    uint64_t bigger = self->map_bytes * STORE_GROWTH_FACTOR;
    if (bigger > self->max_bytes)
        bigger = self->max_bytes;
    if (bigger <= self->map_bytes)
        return MDB_MAP_FULL;
    int rc = mdb_env_set_mapsize (self->env, (size_t) bigger);
    if (rc)
        return rc;
    log_info ("store %s: map grown from %" PRIu64 " to %" PRIu64 " MiB",
               self->path, self->map_bytes / STORE_MB, bigger / STORE_MB);
    self->map_bytes = bigger;
    return 0;
}

//  Grow the map before it is nearly full: a turn that fills it must commit
//  what it has, and that commit needs pages of its own (the free-page list);
//  a commit that fails so loses the turn. Not while a backup reads the map
//  (growing would wait for it); a map at its ceiling is said by the write
//  that fills it.
static void
s_keep_headroom (store_t *self)
{
    MDB_envinfo info;
    MDB_stat stat;
    if (self->backup.state == BACKUP_RUNNING
    ||  mdb_env_info (self->env, &info) || mdb_env_stat (self->env, &stat))
        return;
    uint64_t used = (uint64_t) (info.me_last_pgno + 1) * stat.ms_psize;
    if (used * STORE_HEADROOM_DEN > self->map_bytes * STORE_HEADROOM_NUM)
        s_grow (self);
}

static void
s_arena_clear (store_t *self)
{
    void *block;
    while ((block = zlist_pop (self->arena)))
        free (block);
}

//  ---------------------------------------------------------------- sealing

static size_t
s_aad (uint8_t *aad, store_db_t db, const void *key, size_t key_size)
{
    aad [0] = (uint8_t) db;
    if (key_size > SEAL_AAD_MAX - 1)
        key_size = SEAL_AAD_MAX - 1;
    memcpy (aad + 1, key, key_size);
    return key_size + 1;
}

//  version || nonce || ciphertext+tag, in a new buffer of *size_p bytes.
static uint8_t *
s_seal (store_t *self, const uint8_t *key_bytes, store_db_t db, const void *key,
        size_t key_size, const void *value, size_t value_size, size_t *size_p)
{
    uint8_t *sealed = (uint8_t *) malloc (value_size + SEAL_OVERHEAD);
    if (!sealed)
        return NULL;
    uint8_t aad [SEAL_AAD_MAX];
    size_t aad_size = s_aad (aad, db, key, key_size);
    sealed [0] = SEAL_VERSION;
    randombytes_buf (sealed + 1, SEAL_NONCE_BYTES);
    unsigned long long cipher_size;
    crypto_aead_xchacha20poly1305_ietf_encrypt (
        sealed + 1 + SEAL_NONCE_BYTES, &cipher_size, (const uint8_t *) value, value_size,
        aad, aad_size, NULL, sealed + 1, key_bytes);
    *size_p = 1 + SEAL_NONCE_BYTES + (size_t) cipher_size;
    (void) self;
    return sealed;
}

//  Open value into out (value_size - SEAL_OVERHEAD bytes); 0 or -1.
static int
s_open (const uint8_t *key_bytes, store_db_t db, const MDB_val *key,
        const MDB_val *value, uint8_t *out)
{
    const uint8_t *sealed = (const uint8_t *) value->mv_data;
    if (value->mv_size < SEAL_OVERHEAD || sealed [0] != SEAL_VERSION)
        return -1;
    uint8_t aad [SEAL_AAD_MAX];
    size_t aad_size = s_aad (aad, db, key->mv_data, key->mv_size);
    unsigned long long plain_size;
    return crypto_aead_xchacha20poly1305_ietf_decrypt (
        out, &plain_size, NULL, sealed + 1 + SEAL_NONCE_BYTES,
        value->mv_size - 1 - SEAL_NONCE_BYTES, aad, aad_size, sealed + 1, key_bytes);
}

static int
s_open_failed (store_t *self, store_db_t db)
{
    log_error ("store %s: a value in '%s' fails authentication: the store was "
                "altered, or data_key is not this store's key", self->path,
                s_db_names [db]);
    return MDB_CORRUPTED;
}

//  Open a sealed value into a buffer from the arena.
static int
s_open_into_arena (store_t *self, store_db_t db, const MDB_val *key, MDB_val *value)
{
    if (value->mv_size < SEAL_OVERHEAD)
        return s_open_failed (self, db);
    size_t size = value->mv_size - SEAL_OVERHEAD;
    uint8_t *plain = (uint8_t *) malloc (size ? size : 1);
    if (!plain)
        return ENOMEM;
    if (s_open (self->key, db, key, value, plain)) {
        free (plain);
        return s_open_failed (self, db);
    }
    zlist_append (self->arena, plain);
    value->mv_data = plain;
    value->mv_size = size;
    return 0;
}

int
store_cursor_get (store_t *self, MDB_cursor *cursor, store_db_t db,
                  MDB_val *key, MDB_val *value, MDB_cursor_op op)
{
    assert (self);
    int rc = mdb_cursor_get (cursor, key, value, op);
    if (rc || !self->sealed || !s_sealed_db [db])
        return rc;
    if (value->mv_size < SEAL_OVERHEAD)
        return s_open_failed (self, db);
    size_t size = value->mv_size - SEAL_OVERHEAD;
    if (size + 1 > self->scratch_size) {
        uint8_t *bigger = (uint8_t *) realloc (self->scratch, size + 1);
        if (!bigger)
            return ENOMEM;
        self->scratch = bigger;
        self->scratch_size = size + 1;
    }
    if (s_open (self->key, db, key, value, self->scratch))
        return s_open_failed (self, db);
    value->mv_data = self->scratch;
    value->mv_size = size;
    return 0;
}

//  Begin a top-level write transaction; follows a map another process grew.
static int
s_begin_write (store_t *self, MDB_txn **txn_p)
{
    int rc = mdb_txn_begin (self->env, NULL, 0, txn_p);
    if (rc == MDB_MAP_RESIZED) {
        //  Another process (mdb_copy, a backup) grew the map
        s_backup_join (self);
        rc = mdb_env_set_mapsize (self->env, 0);
        if (rc == 0)
            rc = mdb_txn_begin (self->env, NULL, 0, txn_p);
    }
    return rc;
}

static int
s_write (store_t *self, store_fn *fn, void *arg)
{
    while (true) {
        s_arena_clear (self);
        MDB_txn *txn;
        int rc = s_begin_write (self, &txn);
        if (rc)
            return s_fail (self, "begin write", rc);
        rc = fn (txn, arg);
        if (rc == 0)
            rc = mdb_txn_commit (txn);
        else
            mdb_txn_abort (txn);
        s_arena_clear (self);
        if (rc == MDB_MAP_FULL) {
            int grow_rc = s_grow (self);
            if (grow_rc == 0)
                continue;
            return s_fail (self, "write", grow_rc);
        }
        if (STORE_IS_APP_CODE (rc))
            return rc;          //  fn refused with one of our codes
        if (rc)
            return s_fail (self, "commit", rc);
        return 0;
    }
}

static int64_t
s_monotonic_us (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

static const int64_t s_latency_bounds_us [STORE_LATENCY_BUCKETS - 1] = {
    STORE_LATENCY_BOUNDS_US
};

static void
s_count_write (store_t *self, int rc, int64_t elapsed_us)
{
    store_stats_t *stats = &self->stats;
    if (rc == 0) {
        size_t bucket = 0;
        while (bucket < STORE_LATENCY_BUCKETS - 1 && elapsed_us > s_latency_bounds_us [bucket])
            bucket++;
        stats->latency_count [bucket]++;
        stats->latency_sum_us += (uint64_t) (elapsed_us > 0 ? elapsed_us : 0);
        stats->commits++;
    }
    else
    if (rc == ZVH_E_FULL || rc == ZVH_E_STORE)
        stats->failures++;
    else
        stats->refusals++;
}

//  ---------------------------------------------------------------- the turn

//  Commit the turn's transaction, if it has begun; every effect waiting so
//  far learns the outcome. Returns 0, ZVH_E_FULL or ZVH_E_STORE.
static int
s_turn_commit (store_t *self)
{
    turn_t *turn = &self->turn;
    int rc = 0;
    if (turn->txn && !turn->wrote)
        mdb_txn_abort (turn->txn);              //  only reads: nothing to commit
    else
    if (turn->txn) {
        rc = mdb_txn_commit (turn->txn);        //  frees the txn, failed or not
        //  The commit itself can fill the map (it writes the free-page list):
        //  the turn is lost, but the map grows so that the next one commits
        if (rc == MDB_MAP_FULL && s_grow (self) == 0) {
            log_warning ("store %s: the map filled at the commit of a turn and has grown; "
                          "that turn's changes were not committed (its requests were "
                          "answered with a store error, its events not acknowledged: "
                          "their senders send again)", self->path);
            rc = ZVH_E_STORE;
        }
        else
        if (rc)
            rc = s_fail (self, "commit of the turn", rc);   //  counted by the caller
        else
            s_count_write (self, 0, s_monotonic_us () - turn->started_us);
    }
    turn->txn = NULL;
    turn->wrote = false;
    s_arena_clear (self);
    for (size_t i = 0; i < turn->after_count; i++)
        if (turn->after [i].state == STORE_AFTER_PENDING)
            turn->after [i].state = rc;
    return rc;
}

//  The turn's transaction, begun by its first write or read. Returns 0,
//  ZVH_E_FULL or ZVH_E_STORE.
static int
s_turn_txn (store_t *self)
{
    turn_t *turn = &self->turn;
    if (turn->txn)
        return 0;
    int rc = s_begin_write (self, &turn->txn);
    if (rc) {
        turn->txn = NULL;
        return s_fail (self, "begin write", rc);
    }
    turn->started_us = s_monotonic_us ();
    return 0;
}

//  store_write inside a turn: fn in a transaction nested in the turn's. A
//  refusal or an error of fn undoes fn alone (one hostile frame never costs
//  the turn); a full map commits what the turn has, grows the map and runs
//  fn again in the turn's next transaction.
static int
s_write_in_turn (store_t *self, store_fn *fn, void *arg)
{
    turn_t *turn = &self->turn;
    assert (!turn->in_fn);          //  a write function may not write on its own
    while (true) {
        int rc = s_turn_txn (self);
        if (rc)
            return rc;
        s_arena_clear (self);
        MDB_txn *child;
        rc = mdb_txn_begin (self->env, turn->txn, 0, &child);
        if (rc == 0) {
            turn->in_fn = true;
            rc = fn (child, arg);
            turn->in_fn = false;
            if (rc == 0)
                rc = mdb_txn_commit (child);
            else
                mdb_txn_abort (child);
        }
        s_arena_clear (self);
        if (rc == MDB_MAP_FULL) {
            int commit_rc = s_turn_commit (self);
            if (commit_rc)
                return commit_rc;
            int grow_rc = s_grow (self);
            if (grow_rc)
                return s_fail (self, "write", grow_rc);
            continue;
        }
        if (rc && !STORE_IS_APP_CODE (rc))
            return s_fail (self, "write", rc);
        if (rc == 0) {
            turn->wrote = true;
            self->stats.writes++;
        }
        return rc;
    }
}

void
store_turn_begin (store_t *self)
{
    assert (self && !self->turn.open);
    self->turn.open = true;
}

int
store_turn_end (store_t *self)
{
    assert (self && self->turn.open);
    turn_t *turn = &self->turn;
    bool wrote = turn->wrote;
    int rc = s_turn_commit (self);
    if (rc)
        s_count_write (self, rc, 0);
    if (wrote)                      //  a turn that only read used no pages
        s_keep_headroom (self);
    turn->open = false;
    //  The effects run with the turn closed: what they write commits alone,
    //  and an effect they hand over runs at once (the list does not grow)
    for (size_t i = 0; i < turn->after_count; i++)
        turn->after [i].fn (turn->after [i].arg, turn->after [i].state == 0);
    turn->after_count = 0;          //  the list is kept for the next turn
    return rc;
}

bool
store_in_turn (store_t *self)
{
    assert (self);
    return self->turn.open;
}

void
store_after_commit (store_t *self, store_after_fn *fn, void *arg)
{
    assert (self && fn);
    turn_t *turn = &self->turn;
    if (!turn->open) {
        fn (arg, true);             //  the write it follows has committed
        return;
    }
    if (turn->after_count == turn->after_max) {
        size_t max = turn->after_max + STORE_AFTER_GROWTH;
        after_t *after = (after_t *) realloc (turn->after, max * sizeof (after_t));
        assert (after);
        turn->after = after;
        turn->after_max = max;
    }
    turn->after [turn->after_count++] = (after_t) { fn, arg, STORE_AFTER_PENDING };
}

int
store_write (store_t *self, store_fn *fn, void *arg)
{
    assert (self);
    if (self->turn.open) {
        int rc = s_write_in_turn (self, fn, arg);
        if (rc)
            s_count_write (self, rc, 0);    //  its commit is counted with the turn's
        return rc;
    }
    int64_t started_us = s_monotonic_us ();
    int rc = s_write (self, fn, arg);
    s_count_write (self, rc, s_monotonic_us () - started_us);
    if (rc == 0)
        self->stats.writes++;
    return rc;
}

int
store_nested (store_t *self, MDB_txn *txn, store_fn *fn, void *arg)
{
    assert (self);
    MDB_txn *child;
    int rc = mdb_txn_begin (self->env, txn, 0, &child);
    if (rc)
        return rc;
    rc = fn (child, arg);
    if (rc == 0)
        rc = mdb_txn_commit (child);
    else
        mdb_txn_abort (child);
    if (rc && STORE_IS_APP_CODE (rc) && rc != ZVH_E_FULL && rc != ZVH_E_STORE)
        self->stats.refusals++;     //  as a refused store_write counts
    return rc;
}

int
store_read (store_t *self, store_fn *fn, void *arg)
{
    assert (self);
    MDB_txn *txn;
    int rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn);
    if (rc == MDB_MAP_RESIZED) {
        s_backup_join (self);
        if (mdb_env_set_mapsize (self->env, 0) == 0)
            rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn);
    }
    if (rc)
        return s_fail (self, "begin read", rc);
    rc = fn (txn, arg);
    mdb_txn_abort (txn);
    s_arena_clear (self);
    if (rc && !STORE_IS_APP_CODE (rc))
        return s_fail (self, "read", rc);
    return rc;
}

int
store_read_turn (store_t *self, store_fn *fn, void *arg)
{
    assert (self);
    turn_t *turn = &self->turn;
    if (!turn->open)
        return store_read (self, fn, arg);
    assert (!turn->in_fn);
    int rc = s_turn_txn (self);
    if (rc)
        return rc;
    MDB_txn *child;
    rc = mdb_txn_begin (self->env, turn->txn, 0, &child);
    if (rc)
        return s_fail (self, "begin read", rc);
    turn->in_fn = true;
    rc = fn (child, arg);
    turn->in_fn = false;
    mdb_txn_abort (child);          //  a read: nothing of it is kept
    s_arena_clear (self);
    if (rc && !STORE_IS_APP_CODE (rc))
        return s_fail (self, "read", rc);
    return rc;
}

MDB_dbi
store_dbi (store_t *self, store_db_t db)
{
    assert (self);
    assert (db < STORE_DB_COUNT);
    return self->dbi [db];
}

int
store_get (store_t *self, MDB_txn *txn, store_db_t db,
           const void *key, size_t key_size, MDB_val *value)
{
    MDB_val k = { key_size, (void *) key };
    int rc = mdb_get (txn, store_dbi (self, db), &k, value);
    if (rc == 0 && self->sealed && s_sealed_db [db])
        rc = s_open_into_arena (self, db, &k, value);
    return rc;
}

int
store_put (store_t *self, MDB_txn *txn, store_db_t db, const void *key,
           size_t key_size, const void *value, size_t value_size, unsigned flags)
{
    MDB_val k = { key_size, (void *) key };
    if (!self->sealed || !s_sealed_db [db]) {
        MDB_val v = { value_size, (void *) value };
        return mdb_put (txn, store_dbi (self, db), &k, &v, flags);
    }
    size_t size;
    uint8_t *sealed = s_seal (self, self->key, db, key, key_size, value, value_size, &size);
    if (!sealed)
        return ENOMEM;
    MDB_val v = { size, sealed };
    int rc = mdb_put (txn, store_dbi (self, db), &k, &v, flags);
    free (sealed);
    return rc;
}

int
store_del (store_t *self, MDB_txn *txn, store_db_t db,
           const void *key, size_t key_size)
{
    MDB_val k = { key_size, (void *) key };
    int rc = mdb_del (txn, store_dbi (self, db), &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

uint64_t
store_meta_u64 (store_t *self, MDB_txn *txn, const char *name)
{
    MDB_val value;
    if (store_get (self, txn, STORE_DB_META, name, strlen (name), &value)
    ||  value.mv_size != 8)
        return 0;
    return store_be64_get ((const uint8_t *) value.mv_data);
}

int
store_set_meta_u64 (store_t *self, MDB_txn *txn, const char *name, uint64_t value)
{
    uint8_t bytes [8];
    store_be64_put (bytes, value);
    return store_put (self, txn, STORE_DB_META, name, strlen (name), bytes, 8, 0);
}

int
store_info (store_t *self, store_info_t *info)
{
    assert (self);
    MDB_envinfo envinfo;
    MDB_stat stat;
    int rc = mdb_env_info (self->env, &envinfo);
    if (rc == 0)
        rc = mdb_env_stat (self->env, &stat);
    if (rc)
        return s_fail (self, "info", rc);
    info->map_bytes = envinfo.me_mapsize;
    info->used_bytes = (uint64_t) (envinfo.me_last_pgno + 1) * stat.ms_psize;
    info->max_bytes = self->max_bytes;
    return 0;
}

const char *
store_path (store_t *self)
{
    assert (self);
    return self->path;
}

uint64_t
store_entries (store_t *self, MDB_txn *txn, store_db_t db)
{
    assert (self);
    MDB_stat stat;
    return mdb_stat (txn, store_dbi (self, db), &stat) == 0 ? stat.ms_entries : 0;
}

void
store_stats (store_t *self, store_stats_t *stats)
{
    assert (self);
    *stats = self->stats;
    stats->backup_running = self->backup.state == BACKUP_RUNNING;
}

//  ---------------------------------------------------------------- backup

//  Make the copy durable: its file, then the directory entry. The file is
//  the store's own kind of secret, so only its owner may read it.
static int
s_sync_path (const char *path, int flags)
{
    int fd = open (path, flags | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int rc = !(flags & O_DIRECTORY) && fchmod (fd, S_IRUSR | S_IWUSR) ? errno : 0;
    if (rc == 0 && fsync (fd))
        rc = errno;
    close (fd);
    return rc;
}

//  Stamp the copy (never the live store) with the time it was taken, so
//  that a daemon started on a restored backup knows it.
static int
s_mark_copy (const char *dir, int64_t taken_ms)
{
    MDB_env *env = NULL;
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc = mdb_env_create (&env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs (env, STORE_MAX_DBS);
    if (rc == 0)
        rc = mdb_env_open (env, dir, MDB_NOLOCK, 0600);
    if (rc == 0)
        rc = mdb_txn_begin (env, NULL, 0, &txn);
    if (rc == 0) {
        uint8_t stamp [8];
        store_be64_put (stamp, (uint64_t) taken_ms);
        MDB_val key = { strlen (STORE_META_BACKUP_TAKEN), (void *) STORE_META_BACKUP_TAKEN };
        MDB_val value = { sizeof stamp, stamp };
        rc = mdb_dbi_open (txn, s_db_names [STORE_DB_META], 0, &dbi);
        if (rc == 0)
            rc = mdb_put (txn, dbi, &key, &value, 0);
        if (rc == 0)
            rc = mdb_txn_commit (txn);
        else
            mdb_txn_abort (txn);
    }
    if (env)
        mdb_env_close (env);
    return rc;
}

//  The copy is made in dir/.partial and renamed to dir/data.mdb only once
//  it is complete, stamped and on disk: a backup killed half-way leaves no
//  data.mdb that could be restored by mistake (an unstamped copy).
static int
s_make_copy (store_t *self, const char *dir, int64_t taken_ms)
{
    char partial [STORE_BACKUP_NAME_MAX], done [STORE_BACKUP_NAME_MAX];
    char file [STORE_BACKUP_NAME_MAX + sizeof STORE_BACKUP_FILE + 1];
    snprintf (partial, sizeof partial, "%s/%s", dir, STORE_BACKUP_PARTIAL);
    snprintf (file, sizeof file, "%s/%s", partial, STORE_BACKUP_FILE);
    snprintf (done, sizeof done, "%s/%s", dir, STORE_BACKUP_FILE);
    if (mkdir (partial, 0700) && errno != EEXIST)
        return errno;
    if (unlink (file) && errno != ENOENT)   //  left by a backup killed before
        return errno;
    int rc = mdb_env_copy2 (self->env, partial, MDB_CP_COMPACT);
    if (rc == 0)
        rc = s_mark_copy (partial, taken_ms);
    if (rc == 0)
        rc = s_sync_path (file, O_RDONLY);
    if (rc == 0 && rename (file, done))
        rc = errno;
    if (rc == 0)
        rc = s_sync_path (dir, O_RDONLY | O_DIRECTORY);
    if (rc == 0)
        rmdir (partial);            //  only a leftover if it fails: harmless
    return rc;
}

static void *
s_backup_thread (void *arg)
{
    store_t *self = (store_t *) arg;
    backup_t *backup = &self->backup;
    backup->mdb_rc = s_make_copy (self, backup->dir, backup->started_ms);
    atomic_store (&backup->finished, true);
    return NULL;
}

//  Wait for a running backup and keep its result for store_backup_done.
static void
s_backup_join (store_t *self)
{
    backup_t *backup = &self->backup;
    if (backup->state != BACKUP_RUNNING)
        return;
    if (!atomic_load (&backup->finished))
        log_info ("store %s: waiting for the backup to %s to finish", self->path,
                   backup->dir);
    pthread_join (backup->thread, NULL);
    backup->state = BACKUP_ENDED;
    int64_t now_ms = zclock_time ();
    if (backup->mdb_rc == 0) {
        backup->rc = 0;
        backup->error [0] = 0;
        self->stats.backups++;
        self->stats.last_backup_ms = now_ms;
        self->stats.last_backup_duration_ms = now_ms - backup->started_ms;
        log_info ("store %s: backup written to %s in %" PRId64 " ms", self->path,
                   backup->dir, now_ms - backup->started_ms);
    }
    else {
        char what [STORE_BACKUP_PATH_MAX + 16];
        snprintf (what, sizeof what, "backup to %s", backup->dir);
        backup->rc = s_fail (self, what, backup->mdb_rc);
        snprintf (backup->error, sizeof backup->error, "backup to %s failed: %s; "
                  "remove what it left there before trying again", backup->dir,
                  mdb_strerror (backup->mdb_rc));
        self->stats.backup_failures++;
    }
}

static int
s_backup_refused (store_t *self, int code, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (self->backup.error, sizeof self->backup.error, format, args);
    va_end (args);
    log_warning ("store %s: %s", self->path, self->backup.error);
    return code;
}

int
store_backup_start (store_t *self, const char *dir)
{
    assert (self);
    assert (dir);
    backup_t *backup = &self->backup;
    if (backup->state == BACKUP_RUNNING)
        return s_backup_refused (self, ZVH_E_CONFLICT, "a backup to %s is running; "
                                 "wait for it", backup->dir);
    backup->state = BACKUP_IDLE;            //  an unread result is dropped
    if (!*dir || strlen (dir) >= sizeof backup->dir)
        return s_backup_refused (self, ZVH_E_BAD_REQUEST, "backup directory '%s' is "
                                 "empty or too long", dir);
    struct stat info;
    if (mkdir (dir, 0700) && errno != EEXIST)
        return s_backup_refused (self, ZVH_E_BAD_REQUEST, "cannot create backup "
                                 "directory %s: %s", dir, strerror (errno));
    if (stat (dir, &info) || !S_ISDIR (info.st_mode))
        return s_backup_refused (self, ZVH_E_BAD_REQUEST, "%s is not a directory", dir);
    char file [STORE_BACKUP_PATH_MAX + sizeof STORE_BACKUP_FILE + 1];
    snprintf (file, sizeof file, "%s/%s", dir, STORE_BACKUP_FILE);
    if (access (file, F_OK) == 0)
        return s_backup_refused (self, ZVH_E_BAD_REQUEST, "%s already holds a backup "
                                 "(%s); name a new directory", dir, STORE_BACKUP_FILE);
    snprintf (backup->dir, sizeof backup->dir, "%s", dir);
    backup->error [0] = 0;
    backup->started_ms = zclock_time ();
    atomic_store (&backup->finished, false);
    int rc = pthread_create (&backup->thread, NULL, s_backup_thread, self);
    if (rc)
        return s_backup_refused (self, ZVH_E_STORE, "cannot start the backup "
                                 "thread: %s", strerror (rc));
    backup->state = BACKUP_RUNNING;
    log_info ("store %s: backup to %s started", self->path, dir);
    return 0;
}

static int
s_save_backup_time (MDB_txn *txn, void *arg)
{
    store_t *self = (store_t *) arg;
    return store_set_meta_u64 (self, txn, STORE_META_LAST_BACKUP,
                               (uint64_t) self->stats.last_backup_ms);
}

bool
store_backup_done (store_t *self, int *rc_p)
{
    assert (self);
    backup_t *backup = &self->backup;
    if (backup->state == BACKUP_RUNNING && atomic_load (&backup->finished))
        s_backup_join (self);
    if (backup->state != BACKUP_ENDED)
        return false;
    backup->state = BACKUP_IDLE;
    *rc_p = backup->rc;
    if (backup->rc == 0 && store_write (self, s_save_backup_time, self))
        log_warning ("store %s: could not record the backup's time; the backup itself "
                      "is good", self->path);
    return true;
}

int
store_backup (store_t *self, const char *dir)
{
    assert (self);
    int rc = store_backup_start (self, dir);
    if (rc)
        return rc;
    s_backup_join (self);
    store_backup_done (self, &rc);
    return rc;
}

const char *
store_backup_error (store_t *self)
{
    assert (self);
    return self->backup.error;
}

typedef struct {
    store_t *store;
    int64_t taken_ms;
} backup_mark_t;

static int
s_read_backup_mark (MDB_txn *txn, void *arg)
{
    backup_mark_t *mark = (backup_mark_t *) arg;
    mark->taken_ms = (int64_t) store_meta_u64 (mark->store, txn, STORE_META_BACKUP_TAKEN);
    return 0;
}

int64_t
store_backup_taken_ms (store_t *self)
{
    assert (self);
    backup_mark_t mark = { self, 0 };
    return store_read (self, s_read_backup_mark, &mark) == 0 ? mark.taken_ms : 0;
}

//  Open the named databases and check (or stamp) format version and region.
typedef struct {
    store_t *store;
    const char *region;
    int refused;
} open_args_t;

static int
s_open_dbs (MDB_txn *txn, void *arg)
{
    open_args_t *args = (open_args_t *) arg;
    store_t *self = args->store;
    for (int db = 0; db < STORE_DB_COUNT; db++) {
        int rc = mdb_dbi_open (txn, s_db_names [db], MDB_CREATE, &self->dbi [db]);
        if (rc)
            return rc;
    }
    uint64_t format = store_meta_u64 (self, txn, STORE_META_FORMAT);
    if (format > STORE_FORMAT_VERSION) {
        log_error ("store %s has format version %" PRIu64 "; this zvhd reads up "
                    "to version %d: run a newer zvhd, or restore a backup",
                    self->path, format, STORE_FORMAT_VERSION);
        args->refused = 1;
        return ZVH_E_STORE;
    }
    MDB_val value;
    int rc = store_get (self, txn, STORE_DB_META, STORE_META_REGION,
                        strlen (STORE_META_REGION), &value);
    if (rc == 0 && (value.mv_size != strlen (args->region)
                ||  memcmp (value.mv_data, args->region, value.mv_size))) {
        log_error ("store %s belongs to region '%.*s', not '%s': check data_dir "
                    "in the config", self->path, (int) value.mv_size,
                    (char *) value.mv_data, args->region);
        args->refused = 1;
        return ZVH_E_STORE;
    }
    if (rc == MDB_NOTFOUND)
        rc = store_put (self, txn, STORE_DB_META, STORE_META_REGION,
                        strlen (STORE_META_REGION), args->region,
                        strlen (args->region), 0);
    //  Every older format is read as it is: the new layout is only ever
    //  added to (format 1 has no outbox entry that refers to the event log)
    if (rc == 0 && format < STORE_FORMAT_VERSION)
        rc = store_set_meta_u64 (self, txn, STORE_META_FORMAT, STORE_FORMAT_VERSION);
    //  The backup-age alert must survive a restart: the last good backup is
    //  kept in the store; a store restored from a copy was backed up then
    uint64_t last = store_meta_u64 (self, txn, STORE_META_LAST_BACKUP);
    uint64_t taken = store_meta_u64 (self, txn, STORE_META_BACKUP_TAKEN);
    self->stats.last_backup_ms = (int64_t) (last > taken ? last : taken);
    return rc;
}

static int
s_open_env (store_t *self, uint64_t map_bytes)
{
    int rc = mdb_env_create (&self->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs (self->env, STORE_MAX_DBS);
    if (rc == 0)
        rc = mdb_env_set_maxreaders (self->env, STORE_MAX_READERS);
    if (rc == 0)
        rc = mdb_env_set_mapsize (self->env, (size_t) map_bytes);
    if (rc == 0)
        rc = mdb_env_open (self->env, self->path, MDB_NOTLS, 0600);
    if (rc == 0) {
        int dead = 0;
        //  Readers of a killed process leave stale slots behind
        mdb_reader_check (self->env, &dead);
        if (dead)
            log_info ("store %s: cleared %d stale reader slot(s)", self->path, dead);
        MDB_envinfo info;
        if (mdb_env_info (self->env, &info) == 0)
            self->map_bytes = info.me_mapsize;
    }
    return rc;
}

store_t *
store_new (const char *dir, const char *region, uint64_t map_size_mb, uint64_t map_max_mb)
{
    assert (dir && region);
    store_t *self = (store_t *) zmalloc (sizeof (store_t));
    self->path = strdup (dir);
    self->arena = zlist_new ();
    self->max_bytes = map_max_mb * STORE_MB;
    if (mkdir (dir, 0700) && errno != EEXIST) {
        log_error ("store %s: cannot create directory: %s", dir, strerror (errno));
        store_destroy (&self);
        return NULL;
    }
    uint64_t map_bytes = map_size_mb * STORE_MB;
    if (map_bytes > self->max_bytes)
        self->max_bytes = map_bytes;
    int rc = s_open_env (self, map_bytes);
    if (rc) {
        s_fail (self, "open", rc);
        store_destroy (&self);
        return NULL;
    }
    open_args_t args = { self, region, 0 };
    rc = store_write (self, s_open_dbs, &args);
    if (rc) {
        if (!args.refused)
            log_error ("store %s: cannot open its databases", dir);
        store_destroy (&self);
        return NULL;
    }
    return self;
}

void
store_destroy (store_t **self_p)
{
    assert (self_p);
    store_t *self = *self_p;
    if (!self)
        return;
    s_backup_join (self);           //  the copy must end before the env closes
    if (self->env)
        mdb_env_close (self->env);
    if (self->arena)
        s_arena_clear (self);
    zlist_destroy (&self->arena);
    free (self->scratch);
    free (self->turn.after);
    sodium_memzero (self->key, sizeof self->key);
    free (self->path);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------- keys

int
store_read_key_file (const char *path, uint8_t key [STORE_KEY_BYTES])
{
    FILE *file = fopen (path, "r");
    char text [STORE_KEY_HEX_LEN + 2] = "";
    bool read = file && fgets (text, sizeof text, file);
    if (file)
        fclose (file);
    text [strcspn (text, "\r\n")] = 0;
    size_t length;
    if (!read || strlen (text) != STORE_KEY_HEX_LEN
    ||  sodium_hex2bin (key, STORE_KEY_BYTES, text, STORE_KEY_HEX_LEN, NULL, &length, NULL)
    ||  length != STORE_KEY_BYTES) {
        log_error ("cannot read a store key (%d hex digits) from %s: make one with "
                    "zvhctl datakey FILE", STORE_KEY_HEX_LEN, path);
        sodium_memzero (text, sizeof text);
        return -1;
    }
    sodium_memzero (text, sizeof text);
    return 0;
}

typedef struct {
    store_t *store;
    const uint8_t *key;
    bool matches;
    bool new_store;
} key_args_t;

//  A store is new when it has no case, plan, outbox, signal or audit entry.
static bool
s_is_empty (store_t *self, MDB_txn *txn)
{
    for (int db = 0; db < STORE_DB_COUNT; db++) {
        MDB_stat stat;
        if (s_sealed_db [db] && mdb_stat (txn, self->dbi [db], &stat) == 0
        &&  stat.ms_entries)
            return false;
    }
    return true;
}

static int
s_check_key (MDB_txn *txn, void *arg)
{
    key_args_t *args = (key_args_t *) arg;
    store_t *self = args->store;
    args->new_store = !store_meta_u64 (self, txn, STORE_META_SEALED) && s_is_empty (self, txn);
    MDB_val value;
    MDB_val k = { strlen (STORE_META_CHECK), (void *) STORE_META_CHECK };
    int rc = mdb_get (txn, self->dbi [STORE_DB_META], &k, &value);
    if (rc == 0) {
        uint8_t plain [sizeof STORE_KEY_CHECK];
        args->matches = value.mv_size == sizeof STORE_KEY_CHECK - 1 + SEAL_OVERHEAD
                     && s_open (args->key, STORE_DB_META, &k, &value, plain) == 0;
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int
s_stamp_key (MDB_txn *txn, void *arg)
{
    key_args_t *args = (key_args_t *) arg;
    store_t *self = args->store;
    size_t size;
    uint8_t *check = s_seal (self, args->key, STORE_DB_META, STORE_META_CHECK,
                             strlen (STORE_META_CHECK), STORE_KEY_CHECK,
                             sizeof STORE_KEY_CHECK - 1, &size);
    if (!check)
        return ENOMEM;
    MDB_val k = { strlen (STORE_META_CHECK), (void *) STORE_META_CHECK };
    MDB_val v = { size, check };
    int rc = mdb_put (txn, self->dbi [STORE_DB_META], &k, &v, 0);
    free (check);
    return rc ? rc : store_set_meta_u64 (self, txn, STORE_META_SEALED, 1);
}

int
store_set_key (store_t *self, const uint8_t key [STORE_KEY_BYTES])
{
    assert (self);
    key_args_t args = { self, key, false, false };
    if (store_read (self, s_check_key, &args))
        return -1;
    if (args.new_store && store_write (self, s_stamp_key, &args))
        return -1;
    if (!args.new_store && !args.matches) {
        log_error ("store %s: data_key does not open this store (a wrong key, or a "
                    "store written without encryption: run zvhd --rekey)", self->path);
        return -1;
    }
    memcpy (self->key, key, STORE_KEY_BYTES);
    self->sealed = true;
    return 0;
}

typedef struct {
    store_t *store;
    const uint8_t *new_key;
    size_t count;
} rekey_args_t;

//  Rewrite every value of one sealed database under the new key.
static int
s_rekey_db (rekey_args_t *args, MDB_txn *txn, store_db_t db)
{
    store_t *self = args->store;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->dbi [db], &cursor);
    MDB_val key, value;
    for (rc = rc ? rc : store_cursor_get (self, cursor, db, &key, &value, MDB_FIRST);
         rc == 0; rc = store_cursor_get (self, cursor, db, &key, &value, MDB_NEXT)) {
        size_t size;
        uint8_t *sealed = s_seal (self, args->new_key, db, key.mv_data, key.mv_size,
                                  value.mv_data, value.mv_size, &size);
        MDB_val fresh = { size, sealed };
        rc = sealed ? mdb_cursor_put (cursor, &key, &fresh, MDB_CURRENT) : ENOMEM;
        free (sealed);
        if (rc)
            break;
        args->count++;
    }
    mdb_cursor_close (cursor);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int
s_rekey_all (MDB_txn *txn, void *arg)
{
    rekey_args_t *args = (rekey_args_t *) arg;
    args->count = 0;
    for (int db = 0; db < STORE_DB_COUNT; db++) {
        int rc = s_sealed_db [db] ? s_rekey_db (args, txn, (store_db_t) db) : 0;
        if (rc)
            return rc;
    }
    key_args_t stamp = { args->store, args->new_key, false, false };
    return s_stamp_key (txn, &stamp);
}

int
store_rekey (store_t *self, const uint8_t new_key [STORE_KEY_BYTES])
{
    assert (self);
    rekey_args_t args = { self, new_key, 0 };
    //  One transaction: the store is under the old key or the new, never both
    if (store_write (self, s_rekey_all, &args))
        return -1;
    memcpy (self->key, new_key, STORE_KEY_BYTES);
    self->sealed = true;
    log_info ("store %s: %zu value(s) re-encrypted under the new key", self->path,
               args.count);
    return 0;
}
