/*  store: LMDB environment, named databases, and the retrying write path.
 *
 *  The daemon is single-threaded around the store, so growing the map (which
 *  LMDB allows only with no transaction open in the process) is safe between
 *  two writes. Commit errors are mapped to operator-readable causes.
 */
#include "store.h"
#include "zvh/zvh.h"
#include <czmq.h>
#include <errno.h>
#include <sys/stat.h>

#define STORE_MAX_DBS         16
#define STORE_MAX_READERS     126
#define STORE_MB              (1024ULL * 1024ULL)
#define STORE_GROWTH_FACTOR   2
#define STORE_META_FORMAT     "format_version"
#define STORE_META_REGION     "region"
#define STORE_META_KEY_MAX    256

static const char *s_db_names [STORE_DB_COUNT] = {
    "meta", "cases", "plans", "outbox", "dedup", "signals", "signal_ids", "cursors"
};

struct _store_t {
    MDB_env *env;
    MDB_dbi dbi [STORE_DB_COUNT];
    char *path;
    uint64_t map_bytes;
    uint64_t max_bytes;
};

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
        zsys_error ("store %s: %s: the disk is full or failing (%s); free space "
                    "on its volume or check the kernel log; the store keeps its "
                    "last committed state", self->path, what, mdb_strerror (rc));
        return ZVH_E_FULL;
    }
    if (rc == MDB_MAP_FULL) {
        zsys_error ("store %s: %s: map is at its ceiling of %" PRIu64 " MiB; "
                    "raise map_max_mb in the config", self->path, what,
                    self->max_bytes / STORE_MB);
        return ZVH_E_FULL;
    }
    zsys_error ("store %s: %s: %s", self->path, what, mdb_strerror (rc));
    return ZVH_E_STORE;
}

static int
s_grow (store_t *self)
{
    uint64_t bigger = self->map_bytes * STORE_GROWTH_FACTOR;
    if (bigger > self->max_bytes)
        bigger = self->max_bytes;
    if (bigger <= self->map_bytes)
        return MDB_MAP_FULL;
    int rc = mdb_env_set_mapsize (self->env, (size_t) bigger);
    if (rc)
        return rc;
    zsys_info ("store %s: map grown from %" PRIu64 " to %" PRIu64 " MiB",
               self->path, self->map_bytes / STORE_MB, bigger / STORE_MB);
    self->map_bytes = bigger;
    return 0;
}

int
store_write (store_t *self, store_fn *fn, void *arg)
{
    assert (self);
    while (true) {
        MDB_txn *txn;
        int rc = mdb_txn_begin (self->env, NULL, 0, &txn);
        if (rc == MDB_MAP_RESIZED) {
            //  Another process (mdb_copy, a backup) grew the map
            rc = mdb_env_set_mapsize (self->env, 0);
            if (rc == 0)
                continue;
        }
        if (rc)
            return s_fail (self, "begin write", rc);
        rc = fn (txn, arg);
        if (rc == 0)
            rc = mdb_txn_commit (txn);
        else
            mdb_txn_abort (txn);
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

int
store_read (store_t *self, store_fn *fn, void *arg)
{
    assert (self);
    MDB_txn *txn;
    int rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn);
    if (rc == MDB_MAP_RESIZED && mdb_env_set_mapsize (self->env, 0) == 0)
        rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return s_fail (self, "begin read", rc);
    rc = fn (txn, arg);
    mdb_txn_abort (txn);
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
    return mdb_get (txn, store_dbi (self, db), &k, value);
}

int
store_put (store_t *self, MDB_txn *txn, store_db_t db, const void *key,
           size_t key_size, const void *value, size_t value_size, unsigned flags)
{
    MDB_val k = { key_size, (void *) key };
    MDB_val v = { value_size, (void *) value };
    return mdb_put (txn, store_dbi (self, db), &k, &v, flags);
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
        zsys_error ("store %s has format version %" PRIu64 "; this zvhd reads up "
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
        zsys_error ("store %s belongs to region '%.*s', not '%s': check data_dir "
                    "in the config", self->path, (int) value.mv_size,
                    (char *) value.mv_data, args->region);
        args->refused = 1;
        return ZVH_E_STORE;
    }
    if (rc == MDB_NOTFOUND)
        rc = store_put (self, txn, STORE_DB_META, STORE_META_REGION,
                        strlen (STORE_META_REGION), args->region,
                        strlen (args->region), 0);
    if (rc == 0 && format == 0)
        rc = store_set_meta_u64 (self, txn, STORE_META_FORMAT, STORE_FORMAT_VERSION);
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
            zsys_info ("store %s: cleared %d stale reader slot(s)", self->path, dead);
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
    self->max_bytes = map_max_mb * STORE_MB;
    if (mkdir (dir, 0700) && errno != EEXIST) {
        zsys_error ("store %s: cannot create directory: %s", dir, strerror (errno));
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
            zsys_error ("store %s: cannot open its databases", dir);
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
    if (self->env)
        mdb_env_close (self->env);
    free (self->path);
    free (self);
    *self_p = NULL;
}
