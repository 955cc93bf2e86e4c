/*  relay: dedup records of events taken here, in STORE_DB_DEDUP, and the
 *  per-origin highest seq recorded, in meta.
 *
 *  A record is written in the transaction that applies (or passes on) its
 *  event and is never deleted: an event id is applied at most once in the
 *  life of a store (PROTOCOL 4.6 rule 5). The bytes are what stores on disk
 *  already hold; a change here needs a store migration.
 */
#include "relay.h"
#include <czmq.h>

#define RELAY_KEY_MAX        128
#define RELAY_META_ORIGIN    "oseq:"    //  highest event seq recorded per origin
#define RELAY_WHEN_SIZE      8          //  value: big-endian ms, then where it went

struct _relay_t {
    store_t *store;
};

relay_t *
relay_new (store_t *store)
{
    assert (store);
    relay_t *self = (relay_t *) zmalloc (sizeof (relay_t));
    self->store = store;
    return self;
}

void
relay_destroy (relay_t **self_p)
{
    assert (self_p);
    free (*self_p);
    *self_p = NULL;
}

//  The region a record says its event was passed on to, into before;
//  false for a record of an event applied here (or a target too long to
//  be a region id, which no daemon wrote).
static bool
s_passed_on (const MDB_val *value, char *before, size_t before_max)
{
    size_t size = value->mv_size;
    if (size <= RELAY_WHEN_SIZE || size - RELAY_WHEN_SIZE >= before_max)
        return false;
    memcpy (before, (const uint8_t *) value->mv_data + RELAY_WHEN_SIZE,
            size - RELAY_WHEN_SIZE);
    before [size - RELAY_WHEN_SIZE] = 0;
    return true;
}

int
relay_seen (relay_t *self, MDB_txn *txn, const char *origin, uint64_t seq,
            relay_taken_t *taken_p, outbox_relay_t *relay)
{
    assert (self && taken_p && relay);
    *taken_p = RELAY_NEVER;
    relay->before [0] = 0;
    uint8_t key [RELAY_KEY_MAX];
    size_t key_size = store_seq_key (key, sizeof key, origin, seq);
    if (!key_size)
        return EINVAL;
    MDB_val value;
    int rc = store_get (self->store, txn, STORE_DB_DEDUP, key, key_size, &value);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc == 0)
        *taken_p = s_passed_on (&value, relay->before, sizeof relay->before)
                 ? RELAY_PASSED_ON : RELAY_APPLIED;
    return rc;
}

int
relay_record (relay_t *self, MDB_txn *txn, const char *origin, uint64_t seq,
              const outbox_relay_t *relay, int64_t now_ms)
{
    assert (self && relay);
    uint8_t key [RELAY_KEY_MAX];
    size_t key_size = store_seq_key (key, sizeof key, origin, seq);
    if (!key_size)
        return EINVAL;
    uint8_t value [RELAY_WHEN_SIZE + sizeof relay->to];
    store_be64_put (value, (uint64_t) now_ms);
    size_t to_size = strnlen (relay->to, sizeof relay->to - 1);
    memcpy (value + RELAY_WHEN_SIZE, relay->to, to_size);
    return store_put (self->store, txn, STORE_DB_DEDUP, key, key_size, value,
                      RELAY_WHEN_SIZE + to_size, 0);
}

static void
s_meta_name (char *name, size_t name_max, const char *origin)
{
    snprintf (name, name_max, "%s%s", RELAY_META_ORIGIN, origin);
}

int
relay_note_origin_seq (relay_t *self, MDB_txn *txn, const char *origin, uint64_t seq)
{
    assert (self);
    char name [RELAY_KEY_MAX];
    s_meta_name (name, sizeof name, origin);
    if (store_meta_u64 (self->store, txn, name) >= seq)
        return 0;
    return store_set_meta_u64 (self->store, txn, name, seq);
}

uint64_t
relay_origin_seq (relay_t *self, MDB_txn *txn, const char *origin)
{
    assert (self);
    char name [RELAY_KEY_MAX];
    s_meta_name (name, sizeof name, origin);
    return store_meta_u64 (self->store, txn, name);
}
