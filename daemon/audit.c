/*  audit: STORE_DB_AUDIT keyed by be64 seq; meta "audit_last" and
 *  "audit_head" (the newest hash) anchor the end of the chain, so that
 *  cutting off the newest entries is detected too.
 */
#include "audit.h"
#include "log.h"
#include <czmq.h>
#include <sodium.h>

#define AUDIT_HASH_BYTES   32
#define AUDIT_META_LAST    "audit_last"
#define AUDIT_META_HEAD    "audit_head"
#define AUDIT_CONTEXT      "zvh.v1.audit"

#define AUDIT_REFUSAL_KEYS_MAX  1024   //  distinct keys counted per interval
#define AUDIT_DETAIL_MAX        256

//  Refused frames of one key on one endpoint since the last flush.
typedef struct {
    char key [64];
    char source [32];
    char detail [AUDIT_DETAIL_MAX];
    uint64_t count;
} refusal_t;

struct _audit_t {
    store_t *store;
    zhashx_t *refusals;         //  "source key" -> refusal_t
    uint64_t refusals_dropped;  //  beyond AUDIT_REFUSAL_KEYS_MAX keys
    int64_t flushed_ms;
};

audit_t *
audit_new (store_t *store)
{
    assert (store);
    audit_t *self = (audit_t *) zmalloc (sizeof (audit_t));
    self->store = store;
    self->refusals = zhashx_new ();
    zhashx_set_destructor (self->refusals, (zhashx_destructor_fn *) zstr_free);
    return self;
}

void
audit_destroy (audit_t **self_p)
{
    assert (self_p);
    audit_t *self = *self_p;
    if (!self)
        return;
    audit_flush_refusals (self, 0, true);
    zhashx_destroy (&self->refusals);
    free (self);
    *self_p = NULL;
}

static void
s_hash_text (crypto_generichash_state *state, const char *text)
{
    text = text ? text : "";
    uint8_t length [8];
    store_be64_put (length, strlen (text));
    crypto_generichash_update (state, length, sizeof length);
    crypto_generichash_update (state, (const uint8_t *) text, strlen (text));
}

//  hash = BLAKE2b-256 (context, prev_hash, seq, time, every text field)
static void
s_hash (const Zvh__V1__AuditRecord *record, uint8_t hash [AUDIT_HASH_BYTES])
{
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, AUDIT_HASH_BYTES);
    s_hash_text (&state, AUDIT_CONTEXT);
    crypto_generichash_update (&state, record->prev_hash.data, record->prev_hash.len);
    uint8_t number [8];
    store_be64_put (number, record->seq);
    crypto_generichash_update (&state, number, sizeof number);
    store_be64_put (number, (uint64_t) record->time_ms);
    crypto_generichash_update (&state, number, sizeof number);
    const char *fields [] = { record->action, record->outcome, record->actor,
                              record->actor_role, record->on_behalf, record->purpose,
                              record->legal_basis, record->case_id, record->source,
                              record->detail, record->event_id };
    for (size_t i = 0; i < sizeof fields / sizeof fields [0]; i++)
        s_hash_text (&state, fields [i]);
    crypto_generichash_final (&state, hash, AUDIT_HASH_BYTES);
}

static char *
s_text (const char *text)
{
    return (char *) (text ? text : "");
}

int
audit_record (audit_t *self, MDB_txn *txn, const audit_entry_t *entry, int64_t now_ms)
{
    assert (self);
    uint8_t prev [AUDIT_HASH_BYTES] = { 0 }, hash [AUDIT_HASH_BYTES];
    MDB_val head;
    if (store_get (self->store, txn, STORE_DB_META, AUDIT_META_HEAD,
                   strlen (AUDIT_META_HEAD), &head) == 0 && head.mv_size == sizeof prev)
        memcpy (prev, head.mv_data, sizeof prev);
    Zvh__V1__AuditRecord record = ZVH__V1__AUDIT_RECORD__INIT;
    record.seq = store_meta_u64 (self->store, txn, AUDIT_META_LAST) + 1;
    record.time_ms = now_ms;
    record.action = s_text (entry->action);
    record.outcome = s_text (entry->outcome);
    record.actor = s_text (entry->actor);
    record.actor_role = s_text (entry->actor_role);
    record.on_behalf = s_text (entry->on_behalf);
    record.purpose = s_text (entry->purpose);
    record.legal_basis = s_text (entry->legal_basis);
    record.case_id = s_text (entry->case_id);
    record.source = s_text (entry->source);
    record.detail = s_text (entry->detail);
    record.event_id = s_text (entry->event_id);
    record.prev_hash.data = prev;
    record.prev_hash.len = sizeof prev;
    s_hash (&record, hash);
    record.hash.data = hash;
    record.hash.len = sizeof hash;
    size_t size;
    uint8_t *bytes = wire_encode (&record.base, &size);
    if (!bytes)
        return ENOMEM;
    uint8_t key [8];
    store_be64_put (key, record.seq);
    int rc = store_put (self->store, txn, STORE_DB_AUDIT, key, sizeof key, bytes, size,
                        MDB_APPEND);
    free (bytes);
    if (rc == 0)
        rc = store_set_meta_u64 (self->store, txn, AUDIT_META_LAST, record.seq);
    if (rc == 0)
        rc = store_put (self->store, txn, STORE_DB_META, AUDIT_META_HEAD,
                        strlen (AUDIT_META_HEAD), hash, sizeof hash, 0);
    return rc;
}

typedef struct {
    audit_t *self;
    const audit_entry_t *entry;
    int64_t now_ms;
} now_args_t;

static int
s_record_fn (MDB_txn *txn, void *arg)
{
    now_args_t *args = (now_args_t *) arg;
    return audit_record (args->self, txn, args->entry, args->now_ms);
}

void
audit_record_now (audit_t *self, const audit_entry_t *entry, int64_t now_ms)
{
    assert (self);
    now_args_t args = { self, entry, now_ms };
    if (store_write (self->store, s_record_fn, &args))
        log_error ("audit: could not record '%s' (%s) for %s: see the store error above",
                    entry->action, entry->detail ? entry->detail : "", entry->actor);
}

bool
audit_note_refusal (audit_t *self, const char *key, const char *source, const char *detail,
                    int64_t now_ms)
{
    assert (self);
    char name [sizeof ((refusal_t *) 0)->key + sizeof ((refusal_t *) 0)->source + 2];
    snprintf (name, sizeof name, "%.31s %.63s", source, key ? key : "unknown");
    refusal_t *refusal = (refusal_t *) zhashx_lookup (self->refusals, name);
    if (refusal) {
        refusal->count++;
        return false;
    }
    if (zhashx_size (self->refusals) >= AUDIT_REFUSAL_KEYS_MAX) {
        self->refusals_dropped++;
        return false;
    }
    refusal = (refusal_t *) zmalloc (sizeof (refusal_t));
    snprintf (refusal->key, sizeof refusal->key, "%s", key ? key : "unknown");
    snprintf (refusal->source, sizeof refusal->source, "%s", source);
    snprintf (refusal->detail, sizeof refusal->detail, "%s", detail);
    zhashx_insert (self->refusals, name, refusal);
    //  The first of an interval at once; the rest as a count at the flush
    audit_entry_t entry = { .action = "refuse", .outcome = "refused", .actor = refusal->key,
                            .source = source, .detail = detail };
    audit_record_now (self, &entry, now_ms);
    return true;
}

typedef struct {
    audit_t *self;
    int64_t now_ms;
} flush_args_t;

static int
s_flush_fn (MDB_txn *txn, void *arg)
{
    flush_args_t *args = (flush_args_t *) arg;
    audit_t *self = args->self;
    int rc = 0;
    for (refusal_t *refusal = (refusal_t *) zhashx_first (self->refusals);
         refusal && rc == 0; refusal = (refusal_t *) zhashx_next (self->refusals)) {
        if (refusal->count == 0)
            continue;
        char detail [AUDIT_DETAIL_MAX + 64];
        snprintf (detail, sizeof detail, "%s (%" PRIu64 " more frame(s) after the entry "
                  "before)", refusal->detail, refusal->count);
        audit_entry_t entry = { .action = "refuse", .outcome = "refused",
                                .actor = refusal->key, .source = refusal->source,
                                .detail = detail };
        rc = audit_record (self, txn, &entry, args->now_ms);
    }
    return rc;
}

void
audit_flush_refusals (audit_t *self, int64_t now_ms, bool always)
{
    assert (self);
    if (!always && now_ms - self->flushed_ms < AUDIT_REFUSAL_INTERVAL_MS)
        return;
    self->flushed_ms = now_ms;
    uint64_t counted = 0;
    for (refusal_t *refusal = (refusal_t *) zhashx_first (self->refusals); refusal;
         refusal = (refusal_t *) zhashx_next (self->refusals))
        counted += refusal->count;
    if (counted == 0 && !self->refusals_dropped) {
        zhashx_purge (self->refusals);
        return;
    }
    if (self->refusals_dropped)
        log_warning ("audit: refused frames of %" PRIu64 " more key(s) were counted in "
                      "no entry (more than %d keys in one interval)",
                      self->refusals_dropped, AUDIT_REFUSAL_KEYS_MAX);
    flush_args_t args = { self, now_ms ? now_ms : zclock_time () };
    if (store_write (self->store, s_flush_fn, &args))
        log_error ("audit: could not record %zu refusal count(s): see the store error above",
                    zhashx_size (self->refusals));
    zhashx_purge (self->refusals);
    self->refusals_dropped = 0;
}

int64_t
audit_next_flush_ms (audit_t *self)
{
    assert (self);
    bool noted = zhashx_size (self->refusals) || self->refusals_dropped;
    return noted ? self->flushed_ms + AUDIT_REFUSAL_INTERVAL_MS : INT64_MAX;
}

int
audit_scan (audit_t *self, MDB_txn *txn, uint64_t after, size_t max,
            audit_visit_fn *visit, void *arg)
{
    assert (self);
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, store_dbi (self->store, STORE_DB_AUDIT), &cursor);
    if (rc)
        return rc;
    uint8_t start [8];
    store_be64_put (start, after + 1);
    MDB_val key = { sizeof start, start }, value;
    rc = store_cursor_get (self->store, cursor, STORE_DB_AUDIT, &key, &value, MDB_SET_RANGE);
    for (size_t count = 0; rc == 0 && count < max; count++) {
        Zvh__V1__AuditRecord *record = WIRE_DECODE (Zvh__V1__AuditRecord,
                                                    zvh__v1__audit_record,
                                                    value.mv_data, value.mv_size);
        int stop = record ? visit (record, arg) : 1;
        wire_free (record ? &record->base : NULL);
        if (stop)
            break;
        rc = store_cursor_get (self->store, cursor, STORE_DB_AUDIT, &key, &value, MDB_NEXT);
    }
    mdb_cursor_close (cursor);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

typedef struct {
    uint64_t count;
    uint8_t prev [AUDIT_HASH_BYTES];
    char *why;
    int broken;
} verify_t;

static int
s_check_one (const Zvh__V1__AuditRecord *record, void *arg)
{
    verify_t *verify = (verify_t *) arg;
    uint8_t hash [AUDIT_HASH_BYTES];
    s_hash (record, hash);
    const char *problem = NULL;
    if (record->seq != verify->count + 1)
        problem = "entries are missing before it (deleted)";
    else
    if (record->prev_hash.len != AUDIT_HASH_BYTES
    ||  memcmp (record->prev_hash.data, verify->prev, AUDIT_HASH_BYTES))
        problem = "it does not follow the entry before it (deleted or replaced)";
    else
    if (record->hash.len != AUDIT_HASH_BYTES || memcmp (record->hash.data, hash, AUDIT_HASH_BYTES))
        problem = "its content does not match its hash (altered)";
    if (problem) {
        snprintf (verify->why, AUDIT_WHY_MAX, "entry %" PRIu64 ": %s", record->seq, problem);
        verify->broken = 1;
        return 1;
    }
    memcpy (verify->prev, hash, AUDIT_HASH_BYTES);
    verify->count++;
    return 0;
}

int
audit_verify (audit_t *self, MDB_txn *txn, uint64_t *count_p, char *why)
{
    assert (self);
    verify_t verify = { 0, { 0 }, why, 0 };
    *why = 0;
    int rc = audit_scan (self, txn, 0, SIZE_MAX, s_check_one, &verify);
    *count_p = verify.count;
    if (rc == MDB_CORRUPTED) {
        snprintf (why, AUDIT_WHY_MAX, "entry %" PRIu64 " fails authentication "
                  "(altered on disk)", verify.count + 1);
        return 1;
    }
    if (rc || verify.broken)
        return rc ? rc : 1;
    uint64_t last = store_meta_u64 (self->store, txn, AUDIT_META_LAST);
    MDB_val head;
    bool head_ok = last == 0
                || (store_get (self->store, txn, STORE_DB_META, AUDIT_META_HEAD,
                               strlen (AUDIT_META_HEAD), &head) == 0
                    && head.mv_size == AUDIT_HASH_BYTES
                    && memcmp (head.mv_data, verify.prev, AUDIT_HASH_BYTES) == 0);
    if (verify.count != last || !head_ok) {
        snprintf (why, AUDIT_WHY_MAX, "the trail ends at entry %" PRIu64 " but %" PRIu64
                  " were written (the newest were deleted)", verify.count, last);
        return 1;
    }
    return 0;
}
