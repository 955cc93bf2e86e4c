/*  transfer: cases, plan versions and the handover protocol.
 *
 *  A case record is kept as a zvh.v1.Case in STORE_DB_CASES and worked on
 *  here as a case_rec_t with fixed buffers, so that no decoded protobuf is
 *  ever modified in place. Plans are stored as the exact bytes that travel,
 *  one key per version, which keeps them byte-identical end to end.
 */
#include "transfer.h"
#include "figures.h"
#include "log.h"
#include "authority.h"
#include "zvh/zvh.h"
#include "zvh/zvh_plan.h"
#include <czmq.h>
#include <sodium.h>

#define CASE_ID_MAX          ZVH_ID_MAX
#define CASE_INCLUSION_MAX   (16 * 1024)   //  above the plan validator's limits
#define CASE_CUSTODY_MAX     (WIRE_CUSTODY_LINKS_MAX * 512)  //  a link packs to < 500
#define PLAN_KEY_MAX         (CASE_ID_MAX + 16)
#define TRANSFER_ID_RANDOM   8           //  random bytes in a transfer id
#define CASE_ID_RANDOM       6           //  random bytes in a generated case id
#define MS_PER_S             1000
#define COUNT_META_COUNTED   "cases_counted"   //  set once the counters below are kept
#define COUNT_META_PREFIX    "cases:"          //  + state number: cases in that state
#define COUNT_META_NAME_MAX  32

typedef struct {
    char id [CASE_ID_MAX];
    int state;
    char owner [CASE_ID_MAX];
    char partner [CASE_ID_MAX];
    char transfer_id [CASE_ID_MAX];
    uint64_t plan_version;
    uint8_t plan_hash [32];
    uint8_t inclusion [CASE_INCLUSION_MAX];     //  serialised Inclusion
    size_t inclusion_size;
    int64_t joint_until_ms;
    int64_t updated_ms;
    uint8_t custody [CASE_CUSTODY_MAX];         //  serialised CustodyChain
    size_t custody_size;
} case_rec_t;

struct _transfer_t {
    store_t *store;
    outbox_t *outbox;
    figures_t *figures;                         //  counted as records change state
    const config_t *config;
    transfer_hook_fn *hook;
    void *hook_arg;
    bool signs;                                 //  false in unit tests only
    uint8_t sign_key [WIRE_SIGN_SECRET_BYTES];  //  for custody statements
    sigcache_t *verified;                       //  what it signs is remembered there
    int64_t next_expiry_ms;
    char error [TRANSFER_ERROR_MAX];
};

//  ---------------------------------------------------------------- helpers

static int
s_refuse (transfer_t *self, int code, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (self->error, sizeof self->error, format, args);
    va_end (args);
    return code;
}

const char *
transfer_state_name (int state)
{
    switch (state) {
        case ZVH__V1__CASE_STATE__CASE_ACTIVE:       return "active";
        case ZVH__V1__CASE_STATE__CASE_OFFERED:      return "offered";
        case ZVH__V1__CASE_STATE__CASE_JOINT_TARGET: return "joint_target";
        case ZVH__V1__CASE_STATE__CASE_JOINT_SOURCE: return "joint_source";
        case ZVH__V1__CASE_STATE__CASE_TOMBSTONE:    return "tombstone";
        case ZVH__V1__CASE_STATE__CASE_CLOSED:       return "closed";
        default:                                      return "unknown";
    }
}

static void
s_copy (char *dest, const char *src)
{
    snprintf (dest, CASE_ID_MAX, "%s", src ? src : "");
}

#define RANDOM_ID_BYTES_MAX  8
#define RANDOM_ID_PREFIX_MAX 40         //  leaves room for '-' and the hex

static void
s_random_id (char *out, const char *prefix, size_t random_bytes)
{
    uint8_t bytes [RANDOM_ID_BYTES_MAX];
    char hex [RANDOM_ID_BYTES_MAX * 2 + 1];
    assert (random_bytes <= RANDOM_ID_BYTES_MAX);
    randombytes_buf (bytes, random_bytes);
    sodium_bin2hex (hex, sizeof hex, bytes, random_bytes);
    snprintf (out, CASE_ID_MAX, "%.*s-%s", RANDOM_ID_PREFIX_MAX, prefix, hex);
}

//  ---------------------------------------------------------------- records

static int
s_case_load (transfer_t *self, MDB_txn *txn, const char *id, case_rec_t *rec)
{
    MDB_val value;
    int rc = store_get (self->store, txn, STORE_DB_CASES, id, strlen (id), &value);
    if (rc)
        return rc;
    Zvh__V1__Case *msg = WIRE_DECODE (Zvh__V1__Case, zvh__v1__case,
                                      value.mv_data, value.mv_size);
    if (!msg)
        return MDB_CORRUPTED;
    memset (rec, 0, sizeof *rec);
    s_copy (rec->id, msg->id);
    rec->state = msg->state;
    s_copy (rec->owner, msg->owner);
    s_copy (rec->partner, msg->partner);
    s_copy (rec->transfer_id, msg->transfer_id);
    rec->plan_version = msg->plan_version;
    if (msg->plan_hash.len == sizeof rec->plan_hash)
        memcpy (rec->plan_hash, msg->plan_hash.data, sizeof rec->plan_hash);
    if (msg->inclusion) {
        size_t size = protobuf_c_message_get_packed_size (&msg->inclusion->base);
        if (size <= CASE_INCLUSION_MAX)
            rec->inclusion_size = protobuf_c_message_pack (&msg->inclusion->base,
                                                           rec->inclusion);
    }
    rec->joint_until_ms = msg->joint_until_ms;
    rec->updated_ms = msg->updated_ms;
    if (msg->custody) {
        size_t size = protobuf_c_message_get_packed_size (&msg->custody->base);
        if (size <= CASE_CUSTODY_MAX)
            rec->custody_size = protobuf_c_message_pack (&msg->custody->base,
                                                         rec->custody);
    }
    wire_free (&msg->base);
    return 0;
}

//  The case's custody chain, decoded (NULL if it has none yet).
static Zvh__V1__CustodyChain *
s_custody (const case_rec_t *rec)
{
    return rec->custody_size
        ? WIRE_DECODE (Zvh__V1__CustodyChain, zvh__v1__custody_chain,
                       rec->custody, rec->custody_size)
        : NULL;
}

//  rec's chain becomes base's links (NULL: none) and one more link for
//  transfer_id from source to target; the oldest go beyond the maximum.
static int
s_custody_extend (case_rec_t *rec, const Zvh__V1__CustodyChain *base,
                  const char *transfer_id, const char *source, const char *target,
                  ProtobufCBinaryData offer_signature,
                  ProtobufCBinaryData accept_signature)
{
    Zvh__V1__CustodyLink link = ZVH__V1__CUSTODY_LINK__INIT;
    link.transfer_id = (char *) transfer_id;
    link.source = (char *) source;
    link.target = (char *) target;
    link.offer_signature = offer_signature;
    link.accept_signature = accept_signature;
    Zvh__V1__CustodyLink *links [WIRE_CUSTODY_LINKS_MAX];
    size_t kept = base ? base->n_links : 0, first = 0;
    if (kept >= WIRE_CUSTODY_LINKS_MAX) {
        first = kept - (WIRE_CUSTODY_LINKS_MAX - 1);
        kept = WIRE_CUSTODY_LINKS_MAX - 1;
    }
    for (size_t i = 0; i < kept; i++)
        links [i] = base->links [first + i];
    links [kept] = &link;
    Zvh__V1__CustodyChain chain = ZVH__V1__CUSTODY_CHAIN__INIT;
    chain.n_links = kept + 1;
    chain.links = links;
    if (protobuf_c_message_get_packed_size (&chain.base) > CASE_CUSTODY_MAX)
        return ZVH_E_BAD_REQUEST;
    rec->custody_size = protobuf_c_message_pack (&chain.base, rec->custody);
    return 0;
}

//  This region's signature of a custody statement (none in unit tests).
static void
s_custody_sign (transfer_t *self, wire_custody_t kind, const char *case_id,
                const char *transfer_id, const char *source, const char *target,
                uint8_t signature [WIRE_SIGNATURE_BYTES], ProtobufCBinaryData *out)
{
    out->data = signature;
    out->len = self->signs ? WIRE_SIGNATURE_BYTES : 0;
    if (!self->signs)
        return;
    wire_custody_sign (kind, case_id, transfer_id, source, target, self->sign_key, signature);
    if (self->verified) {
        uint8_t digest [WIRE_DIGEST_BYTES];
        wire_custody_digest (kind, case_id, transfer_id, source, target, digest);
        //  An Ed25519 secret key ends with its public key
        sigcache_add (self->verified, signature, digest,
                      self->sign_key + WIRE_SIGN_SECRET_BYTES - WIRE_SIGN_PUBLIC_BYTES);
    }
}

//  ---------------------------------------------------------------- state counts

//  Cases per state are counted as records change, so that status and
//  /metrics need not unseal every case record (200,000 cases: 0.3 s).
static int
s_count_add (store_t *store, MDB_txn *txn, int state, int delta)
{
    if (state <= 0 || state > ZVH_CASE_STATES || delta == 0)
        return 0;
    char name [COUNT_META_NAME_MAX];
    snprintf (name, sizeof name, "%s%d", COUNT_META_PREFIX, state);
    uint64_t count = store_meta_u64 (store, txn, name);
    if (delta < 0 && count == 0)
        return 0;
    return store_set_meta_u64 (store, txn, name, delta < 0 ? count - 1 : count + 1);
}

//  The state a case record has now in the store (0: none).
static int
s_stored_state (store_t *store, MDB_txn *txn, const char *id)
{
    MDB_val value;
    if (store_get (store, txn, STORE_DB_CASES, id, strlen (id), &value))
        return 0;
    Zvh__V1__Case *found = WIRE_DECODE (Zvh__V1__Case, zvh__v1__case,
                                        value.mv_data, value.mv_size);
    int state = found ? (int) found->state : 0;
    wire_free (found ? &found->base : NULL);
    return state;
}

//  Count by walking every record (a store from before the counters).
static int
s_count_walk (store_t *store, MDB_txn *txn, uint64_t counts [ZVH_CASE_STATES + 1])
{
    memset (counts, 0, sizeof (uint64_t) * (ZVH_CASE_STATES + 1));
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, store_dbi (store, STORE_DB_CASES), &cursor);
    if (rc)
        return rc;
    MDB_val key, value;
    for (rc = store_cursor_get (store, cursor, STORE_DB_CASES, &key, &value, MDB_FIRST);
         rc == 0;
         rc = store_cursor_get (store, cursor, STORE_DB_CASES, &key, &value, MDB_NEXT)) {
        Zvh__V1__Case *found = WIRE_DECODE (Zvh__V1__Case, zvh__v1__case,
                                            value.mv_data, value.mv_size);
        if (found && found->state > 0 && found->state <= ZVH_CASE_STATES)
            counts [found->state]++;
        wire_free (found ? &found->base : NULL);
    }
    mdb_cursor_close (cursor);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

//  Counted afresh at every start (200,000 cases: a fraction of a second), so
//  that counters a store kept under another binary (a downgrade) never stay
//  wrong.
static int
s_count_start (MDB_txn *txn, void *arg)
{
    transfer_t *self = (transfer_t *) arg;
    store_t *store = self->store;
    uint64_t counts [ZVH_CASE_STATES + 1];
    int rc = s_count_walk (store, txn, counts);
    for (int state = 1; rc == 0 && state <= ZVH_CASE_STATES; state++) {
        char name [COUNT_META_NAME_MAX];
        snprintf (name, sizeof name, "%s%d", COUNT_META_PREFIX, state);
        rc = store_set_meta_u64 (store, txn, name, counts [state]);
    }
    if (rc == 0)
        rc = store_set_meta_u64 (store, txn, COUNT_META_COUNTED, 1);
    return rc ? rc : figures_start (self->figures, txn, zclock_time ());
}

int
transfer_start (transfer_t *self)
{
    assert (self);
    return store_write (self->store, s_count_start, self);
}

int
transfer_count_states (transfer_t *self, MDB_txn *txn,
                       uint64_t counts [ZVH_CASE_STATES + 1])
{
    assert (self);
    if (!store_meta_u64 (self->store, txn, COUNT_META_COUNTED))
        return s_count_walk (self->store, txn, counts);
    counts [0] = 0;
    for (int state = 1; state <= ZVH_CASE_STATES; state++) {
        char name [COUNT_META_NAME_MAX];
        snprintf (name, sizeof name, "%s%d", COUNT_META_PREFIX, state);
        counts [state] = store_meta_u64 (self->store, txn, name);
    }
    return 0;
}

//  ---------------------------------------------------------------- saving

static int
s_case_save (transfer_t *self, MDB_txn *txn, case_rec_t *rec, int64_t now_ms)
{
    int was = s_stored_state (self->store, txn, rec->id);
    rec->updated_ms = now_ms;
    Zvh__V1__Case msg = ZVH__V1__CASE__INIT;
    msg.id = rec->id;
    msg.state = (Zvh__V1__CaseState) rec->state;
    msg.owner = rec->owner;
    msg.partner = rec->partner;
    msg.transfer_id = rec->transfer_id;
    msg.plan_version = rec->plan_version;
    msg.plan_hash.data = rec->plan_hash;
    msg.plan_hash.len = rec->plan_version ? sizeof rec->plan_hash : 0;
    msg.joint_until_ms = rec->joint_until_ms;
    msg.updated_ms = rec->updated_ms;
    Zvh__V1__Inclusion *inclusion = rec->inclusion_size
        ? WIRE_DECODE (Zvh__V1__Inclusion, zvh__v1__inclusion,
                       rec->inclusion, rec->inclusion_size)
        : NULL;
    msg.inclusion = inclusion;
    Zvh__V1__CustodyChain *custody = s_custody (rec);
    msg.custody = custody;
    size_t size;
    uint8_t *bytes = wire_encode (&msg.base, &size);
    wire_free (inclusion ? &inclusion->base : NULL);
    wire_free (custody ? &custody->base : NULL);
    if (!bytes)
        return ENOMEM;
    int rc = store_put (self->store, txn, STORE_DB_CASES, rec->id,
                        strlen (rec->id), bytes, size, 0);
    free (bytes);
    if (rc == 0 && was != rec->state)
        rc = s_count_add (self->store, txn, was, -1);
    if (rc == 0 && was != rec->state)
        rc = s_count_add (self->store, txn, rec->state, +1);
    if (rc == 0)
        rc = figures_count_change (self->figures, txn, was, rec->state, now_ms);
    if (rc == 0 && rec->state == ZVH__V1__CASE_STATE__CASE_JOINT_TARGET
    &&  rec->joint_until_ms && rec->joint_until_ms < self->next_expiry_ms)
        self->next_expiry_ms = rec->joint_until_ms;
    return rc;
}

static int
s_plan_put (transfer_t *self, MDB_txn *txn, case_rec_t *rec,
            uint64_t version, const uint8_t *plan, size_t size)
{
    uint8_t key [PLAN_KEY_MAX];
    size_t key_size = store_seq_key (key, sizeof key, rec->id, version);
    int rc = store_put (self->store, txn, STORE_DB_PLANS, key, key_size, plan, size, 0);
    if (rc == 0) {
        rec->plan_version = version;
        wire_hash (plan, size, rec->plan_hash);
    }
    return rc;
}

//  Delete every plan version of a case, and every copy of one in the outbox:
//  what a tombstone must not keep.
static int
s_plan_purge (transfer_t *self, MDB_txn *txn, case_rec_t *rec)
{
    uint8_t prefix [PLAN_KEY_MAX];
    size_t key_size = store_seq_key (prefix, sizeof prefix, rec->id, 0);
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, store_dbi (self->store, STORE_DB_PLANS), &cursor);
    if (rc)
        return rc;
    MDB_val key = { key_size, prefix }, value;
    rc = mdb_cursor_get (cursor, &key, &value, MDB_SET_RANGE);
    while (rc == 0 && key.mv_size == key_size
       &&  memcmp (key.mv_data, prefix, key_size - 8) == 0) {
        rc = mdb_cursor_del (cursor, 0);
        if (rc == 0)
            rc = mdb_cursor_get (cursor, &key, &value, MDB_GET_CURRENT);
        if (rc == MDB_NOTFOUND || rc == EINVAL) {
            //  key may point into a page the delete freed: seek from the prefix
            key.mv_size = key_size;
            key.mv_data = prefix;
            rc = mdb_cursor_get (cursor, &key, &value, MDB_SET_RANGE);
        }
    }
    mdb_cursor_close (cursor);
    rec->plan_version = 0;
    memset (rec->plan_hash, 0, sizeof rec->plan_hash);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    //  and the copies this region sent (offers, updates, proposals)
    size_t stubbed;
    rc = outbox_purge_case (self->outbox, txn, rec->id, &stubbed);
    if (rc == 0 && stubbed)
        log_info ("case %s: plan content purged from %zu sent event(s) too", rec->id, stubbed);
    return rc;
}

int
transfer_plan (transfer_t *self, MDB_txn *txn, const char *case_id, MDB_val *plan)
{
    assert (self);
    case_rec_t rec;
    int rc = s_case_load (self, txn, case_id, &rec);
    if (rc)
        return rc;
    if (rec.plan_version == 0)
        return MDB_NOTFOUND;
    uint8_t key [PLAN_KEY_MAX];
    size_t key_size = store_seq_key (key, sizeof key, rec.id, rec.plan_version);
    return store_get (self->store, txn, STORE_DB_PLANS, key, key_size, plan);
}

Zvh__V1__Case *
transfer_case (transfer_t *self, MDB_txn *txn, const char *case_id)
{
    assert (self);
    MDB_val value;
    if (store_get (self->store, txn, STORE_DB_CASES, case_id, strlen (case_id), &value))
        return NULL;
    return WIRE_DECODE (Zvh__V1__Case, zvh__v1__case, value.mv_data, value.mv_size);
}

//  Re-encode a client's plan with the version this region assigns. The
//  result is what is stored and what travels. Returns NULL (and sets the
//  error) if the plan is invalid.
static uint8_t *
s_plan_versioned (transfer_t *self, const uint8_t *plan, size_t size,
                  uint64_t version, size_t *size_p, case_rec_t *inclusion_to)
{
    char why [ZVH_PLAN_ERR_MAX];
    if (size > WIRE_MAX_PLAN_BYTES) {
        s_refuse (self, ZVH_E_BAD_REQUEST, "plan is %zu bytes; the limit is %d",
                  size, WIRE_MAX_PLAN_BYTES);
        return NULL;
    }
    if (zvh_plan_validate (plan, size, why, sizeof why)) {
        s_refuse (self, ZVH_E_BAD_REQUEST, "invalid plan: %s", why);
        return NULL;
    }
    Zvh__V1__Plan *msg = WIRE_DECODE (Zvh__V1__Plan, zvh__v1__plan, plan, size);
    if (!msg) {
        s_refuse (self, ZVH_E_BAD_REQUEST, "plan does not decode");
        return NULL;
    }
    msg->version = version;
    uint8_t *bytes = wire_encode (&msg->base, size_p);
    if (inclusion_to && msg->inclusion) {
        size_t inclusion_size = protobuf_c_message_get_packed_size (&msg->inclusion->base);
        if (inclusion_size <= CASE_INCLUSION_MAX)
            inclusion_to->inclusion_size = protobuf_c_message_pack (
                &msg->inclusion->base, inclusion_to->inclusion);
    }
    wire_free (&msg->base);
    return bytes;
}

static uint64_t
s_plan_bytes_version (const uint8_t *plan, size_t size)
{
    Zvh__V1__Plan *msg = WIRE_DECODE (Zvh__V1__Plan, zvh__v1__plan, plan, size);
    uint64_t version = msg ? msg->version : 0;
    wire_free (msg ? &msg->base : NULL);
    return version;
}

//  ---------------------------------------------------------------- lifecycle

transfer_t *
transfer_new (store_t *store, outbox_t *outbox, const config_t *config)
{
    assert (store && outbox && config);
    transfer_t *self = (transfer_t *) zmalloc (sizeof (transfer_t));
    self->store = store;
    self->outbox = outbox;
    self->figures = figures_new (store);
    self->config = config;
    self->next_expiry_ms = 0;       //  unknown: the first expire pass scans
    return self;
}

void
transfer_destroy (transfer_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        sodium_memzero ((*self_p)->sign_key, sizeof (*self_p)->sign_key);
        figures_destroy (&(*self_p)->figures);
    }
    free (*self_p);
    *self_p = NULL;
}

void
transfer_set_sign_key (transfer_t *self, const uint8_t sign_key [WIRE_SIGN_SECRET_BYTES])
{
    assert (self && sign_key);
    memcpy (self->sign_key, sign_key, sizeof self->sign_key);
    self->signs = true;
}

void
transfer_set_verified (transfer_t *self, sigcache_t *verified)
{
    assert (self);
    self->verified = verified;
}

void
transfer_set_config (transfer_t *self, const config_t *config)
{
    assert (self && config);
    self->config = config;
}

void
transfer_set_hook (transfer_t *self, transfer_hook_fn *hook, void *arg)
{
    assert (self);
    self->hook = hook;
    self->hook_arg = arg;
}

static int
s_tell (transfer_t *self, MDB_txn *txn, transfer_event_t event, const char *case_id,
        const char *previous_region, int64_t now_ms)
{
    return self->hook ? self->hook (self->hook_arg, txn, event, case_id,
                                    previous_region, now_ms)
                      : 0;
}

const char *
transfer_error (transfer_t *self)
{
    assert (self);
    return self->error;
}

int64_t
transfer_next_expiry (transfer_t *self)
{
    assert (self);
    return self->next_expiry_ms;
}

static const char *
s_region (transfer_t *self)
{
    return self->config->region;
}

static int
s_push (transfer_t *self, MDB_txn *txn, const char *peer,
        Zvh__V1__Envelope__Type type, const char *case_id,
        const ProtobufCMessage *payload, int64_t now_ms)
{
    return outbox_push (self->outbox, txn, peer, type, case_id, payload, now_ms);
}

//  ---------------------------------------------------------------- local operations

int
transfer_include (transfer_t *self, MDB_txn *txn, const char *case_id,
                  const uint8_t *plan, size_t plan_size, int64_t now_ms,
                  char *case_id_out)
{
    assert (self);
    case_rec_t rec;
    memset (&rec, 0, sizeof rec);
    if (case_id && *case_id)
        s_copy (rec.id, case_id);
    else
        s_random_id (rec.id, s_region (self), CASE_ID_RANDOM);
    if (!authority_id_valid (rec.id))
        return s_refuse (self, ZVH_E_BAD_REQUEST, "case id '%s' is not valid: use "
                         "1-63 letters, digits, '.', '_' or '-' (pseudonymous, "
                         "never a BSN or a name)", rec.id);
    case_rec_t existing;
    int rc = s_case_load (self, txn, rec.id, &existing);
    if (rc == 0)
        return s_refuse (self, ZVH_E_CONFLICT, "case %s is already known here "
                         "(state %s, owner %s)", rec.id,
                         transfer_state_name (existing.state), existing.owner);
    if (rc != MDB_NOTFOUND)
        return rc;
    size_t size;
    uint8_t *bytes = s_plan_versioned (self, plan, plan_size, 1, &size, &rec);
    if (!bytes)
        return ZVH_E_BAD_REQUEST;
    rec.state = ZVH__V1__CASE_STATE__CASE_ACTIVE;
    s_copy (rec.owner, s_region (self));
    rc = s_plan_put (self, txn, &rec, 1, bytes, size);
    free (bytes);
    if (rc == 0)
        rc = s_case_save (self, txn, &rec, now_ms);
    if (rc == 0)
        rc = s_tell (self, txn, TRANSFER_EVENT_INCLUDED, rec.id, "", now_ms);
    if (rc == 0 && case_id_out)
        s_copy (case_id_out, rec.id);
    return rc;
}

//  Load a case for a local operation, with a clear error if unknown.
static int
s_load_for (transfer_t *self, MDB_txn *txn, const char *case_id, case_rec_t *rec)
{
    if (!case_id || !authority_id_valid (case_id))
        return s_refuse (self, ZVH_E_BAD_REQUEST, "'%s' is not a valid case id",
                         case_id ? case_id : "");
    int rc = s_case_load (self, txn, case_id, rec);
    if (rc == MDB_NOTFOUND)
        return s_refuse (self, ZVH_E_NOT_FOUND, "case %s is not known in region %s",
                         case_id, s_region (self));
    return rc;
}

static int
s_send_complete (transfer_t *self, MDB_txn *txn, case_rec_t *rec, int64_t now_ms)
{
    Zvh__V1__TransferComplete msg = ZVH__V1__TRANSFER_COMPLETE__INIT;
    msg.transfer_id = rec->transfer_id;
    msg.case_id = rec->id;
    return s_push (self, txn, rec->partner, ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_COMPLETE,
                   rec->id, &msg.base, now_ms);
}

static int
s_check_target (transfer_t *self, const char *target)
{
    const config_region_t *region = config_region (self->config, target);
    if (!region)
        return s_refuse (self, ZVH_E_UNKNOWN_REGION, "region '%s' is not in the "
                         "federation directory", target);
    if (!config_region_is_federated (region))
        return s_refuse (self, ZVH_E_UNKNOWN_REGION, "region '%s' has no endpoint "
                         "or key in the federation directory yet", target);
    if (config_is_revoked (self->config, region->public_key))
        return s_refuse (self, ZVH_E_UNKNOWN_REGION, "region '%s' has a revoked key: "
                         "no link to it until its new key is in the directory", target);
    if (streq (target, s_region (self)))
        return s_refuse (self, ZVH_E_BAD_REQUEST, "the case is already in region %s",
                         target);
    return 0;
}

//  Why a case in this state cannot be moved or edited here.
static int
s_not_owner (transfer_t *self, case_rec_t *rec)
{
    if (rec->state == ZVH__V1__CASE_STATE__CASE_OFFERED)
        return s_refuse (self, ZVH_E_CONFLICT, "case %s is mid-handover to %s "
                         "(transfer %s): wait for the target to accept", rec->id,
                         rec->partner, rec->transfer_id);
    return s_refuse (self, ZVH_E_CONFLICT, "case %s is not owned here (state %s); "
                     "its owner is %s", rec->id, transfer_state_name (rec->state),
                     rec->owner);
}

int
transfer_move (transfer_t *self, MDB_txn *txn, const char *case_id,
               const char *target, int64_t now_ms)
{
    assert (self);
    case_rec_t rec;
    int rc = s_load_for (self, txn, case_id, &rec);
    if (rc == 0)
        rc = s_check_target (self, target ? target : "");
    if (rc)
        return rc;
    if (rec.state != ZVH__V1__CASE_STATE__CASE_ACTIVE
    &&  rec.state != ZVH__V1__CASE_STATE__CASE_JOINT_TARGET)
        return s_not_owner (self, &rec);
    //  A chained move ends the previous joint phase first; per-peer order
    //  guarantees the old source hears of it before anything else from us.
    if (rec.state == ZVH__V1__CASE_STATE__CASE_JOINT_TARGET
    &&  (rc = s_send_complete (self, txn, &rec, now_ms)))
        return rc;
    MDB_val plan;
    rc = transfer_plan (self, txn, rec.id, &plan);
    if (rc)
        return rc;
    s_random_id (rec.transfer_id, "t", TRANSFER_ID_RANDOM);
    s_copy (rec.partner, target);
    rec.state = ZVH__V1__CASE_STATE__CASE_OFFERED;
    Zvh__V1__TransferOffer offer = ZVH__V1__TRANSFER_OFFER__INIT;
    offer.transfer_id = rec.transfer_id;
    offer.case_id = rec.id;
    offer.source = (char *) s_region (self);
    offer.target = rec.partner;
    offer.plan.data = plan.mv_data;
    offer.plan.len = plan.mv_size;
    offer.inclusion = rec.inclusion_size
        ? WIRE_DECODE (Zvh__V1__Inclusion, zvh__v1__inclusion,
                       rec.inclusion, rec.inclusion_size)
        : NULL;
    offer.joint_until_ms = self->config->joint_phase_s
        ? now_ms + self->config->joint_phase_s * MS_PER_S : 0;
    Zvh__V1__CustodyChain *custody = s_custody (&rec);
    offer.custody = custody;
    uint8_t signature [WIRE_SIGNATURE_BYTES];
    s_custody_sign (self, WIRE_CUSTODY_OFFER, rec.id, rec.transfer_id, s_region (self),
                    target, signature, &offer.offer_signature);
    rc = s_push (self, txn, target, ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_OFFER,
                 rec.id, &offer.base, now_ms);
    wire_free (offer.inclusion ? &offer.inclusion->base : NULL);
    wire_free (custody ? &custody->base : NULL);
    if (rc == 0)
        rc = s_case_save (self, txn, &rec, now_ms);
    return rc;
}

int
transfer_complete (transfer_t *self, MDB_txn *txn, const char *case_id, int64_t now_ms)
{
    assert (self);
    case_rec_t rec;
    int rc = s_load_for (self, txn, case_id, &rec);
    if (rc)
        return rc;
    if (rec.state == ZVH__V1__CASE_STATE__CASE_JOINT_TARGET)
        rec.state = ZVH__V1__CASE_STATE__CASE_ACTIVE;
    else
    if (rec.state == ZVH__V1__CASE_STATE__CASE_JOINT_SOURCE) {
        rec.state = ZVH__V1__CASE_STATE__CASE_TOMBSTONE;
        rc = s_plan_purge (self, txn, &rec);
    }
    else
        return s_refuse (self, ZVH_E_CONFLICT, "case %s is not in a joint phase "
                         "(state %s)", rec.id, transfer_state_name (rec.state));
    rec.joint_until_ms = 0;
    if (rc == 0)
        rc = s_send_complete (self, txn, &rec, now_ms);
    if (rc == 0)
        rc = s_case_save (self, txn, &rec, now_ms);
    return rc;
}

int
transfer_close (transfer_t *self, MDB_txn *txn, const char *case_id, int64_t now_ms)
{
    assert (self);
    case_rec_t rec;
    int rc = s_load_for (self, txn, case_id, &rec);
    if (rc)
        return rc;
    if (rec.state != ZVH__V1__CASE_STATE__CASE_ACTIVE
    &&  rec.state != ZVH__V1__CASE_STATE__CASE_JOINT_TARGET)
        return s_not_owner (self, &rec);
    if (rec.state == ZVH__V1__CASE_STATE__CASE_JOINT_TARGET
    &&  (rc = s_send_complete (self, txn, &rec, now_ms)))
        return rc;
    rc = s_tell (self, txn, TRANSFER_EVENT_CLOSING, rec.id, "", now_ms);
    if (rc == 0)
        rc = s_plan_purge (self, txn, &rec);
    rec.state = ZVH__V1__CASE_STATE__CASE_CLOSED;
    rec.joint_until_ms = 0;
    log_info ("case %s: closed (outflow); plan content purged", rec.id);
    return rc ? rc : s_case_save (self, txn, &rec, now_ms);
}

static int
s_propose (transfer_t *self, MDB_txn *txn, case_rec_t *rec,
           const uint8_t *plan, size_t size, int64_t now_ms)
{
    char why [ZVH_PLAN_ERR_MAX];
    if (size > WIRE_MAX_PLAN_BYTES || zvh_plan_validate (plan, size, why, sizeof why))
        return s_refuse (self, ZVH_E_BAD_REQUEST, "invalid plan: %s",
                         size > WIRE_MAX_PLAN_BYTES ? "too large" : why);
    Zvh__V1__PlanProposal msg = ZVH__V1__PLAN_PROPOSAL__INIT;
    msg.case_id = rec->id;
    msg.base_version = rec->plan_version;
    msg.plan.data = (uint8_t *) plan;
    msg.plan.len = size;
    return s_push (self, txn, rec->owner, ZVH__V1__ENVELOPE__TYPE__TYPE_PLAN_PROPOSAL,
                   rec->id, &msg.base, now_ms);
}

//  The owner stores the next version and, in a joint phase, sends it over.
static int
s_new_version (transfer_t *self, MDB_txn *txn, case_rec_t *rec,
               const uint8_t *plan, size_t plan_size, int64_t now_ms)
{
    size_t size;
    uint8_t *bytes = s_plan_versioned (self, plan, plan_size,
                                       rec->plan_version + 1, &size, NULL);
    if (!bytes)
        return ZVH_E_BAD_REQUEST;
    int rc = s_plan_put (self, txn, rec, rec->plan_version + 1, bytes, size);
    if (rc == 0 && rec->state == ZVH__V1__CASE_STATE__CASE_JOINT_TARGET) {
        Zvh__V1__PlanUpdate msg = ZVH__V1__PLAN_UPDATE__INIT;
        msg.case_id = rec->id;
        msg.version = rec->plan_version;
        msg.plan.data = bytes;
        msg.plan.len = size;
        rc = s_push (self, txn, rec->partner, ZVH__V1__ENVELOPE__TYPE__TYPE_PLAN_UPDATE,
                     rec->id, &msg.base, now_ms);
    }
    free (bytes);
    if (rc == 0)
        rc = s_case_save (self, txn, rec, now_ms);
    return rc;
}

int
transfer_plan_update (transfer_t *self, MDB_txn *txn, const char *case_id,
                      const uint8_t *plan, size_t plan_size, int64_t now_ms)
{
    assert (self);
    case_rec_t rec;
    int rc = s_load_for (self, txn, case_id, &rec);
    if (rc)
        return rc;
    if (rec.state == ZVH__V1__CASE_STATE__CASE_JOINT_SOURCE)
        return s_propose (self, txn, &rec, plan, plan_size, now_ms);
    if (rec.state != ZVH__V1__CASE_STATE__CASE_ACTIVE
    &&  rec.state != ZVH__V1__CASE_STATE__CASE_JOINT_TARGET)
        return s_not_owner (self, &rec);
    return s_new_version (self, txn, &rec, plan, plan_size, now_ms);
}

//  ---------------------------------------------------------------- inbound events

static void
s_drop (const char *from, const Zvh__V1__Envelope *envelope, const char *why)
{
    log_warning ("event %s/%" PRIu64 " (type %d, case %s) from %s dropped: %s",
                  envelope->origin, envelope->seq, envelope->type,
                  envelope->case_id, from, why);
}

static int
s_reject (transfer_t *self, MDB_txn *txn, const char *to,
          const Zvh__V1__TransferOffer *offer, const char *reason, int64_t now_ms)
{
    log_warning ("offer %s of case %s from %s rejected: %s",
                  offer->transfer_id, offer->case_id, to, reason);
    Zvh__V1__TransferReject msg = ZVH__V1__TRANSFER_REJECT__INIT;
    msg.transfer_id = offer->transfer_id;
    msg.case_id = offer->case_id;
    msg.reason = (char *) reason;
    return s_push (self, txn, to, ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_REJECT,
                   offer->case_id, &msg.base, now_ms);
}

static int
s_on_offer (transfer_t *self, MDB_txn *txn, const char *from,
            const Zvh__V1__TransferOffer *offer, int64_t now_ms)
{
    char why [ZVH_PLAN_ERR_MAX];
    if (!authority_id_valid (offer->case_id) || !authority_id_valid (offer->transfer_id))
        return s_reject (self, txn, from, offer, "invalid case or transfer id", now_ms);
    if (!streq (offer->source, from) || !streq (offer->target, s_region (self)))
        return s_reject (self, txn, from, offer, "offer names other regions", now_ms);
    if (zvh_plan_validate (offer->plan.data, offer->plan.len, why, sizeof why))
        return s_reject (self, txn, from, offer, why, now_ms);
    case_rec_t rec;
    int rc = s_case_load (self, txn, offer->case_id, &rec);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    if (rc == 0 && rec.state != ZVH__V1__CASE_STATE__CASE_TOMBSTONE
    &&  rec.state != ZVH__V1__CASE_STATE__CASE_JOINT_SOURCE)
        return s_reject (self, txn, from, offer, "the case is owned here", now_ms);
    if (rc == 0 && (rc = s_plan_purge (self, txn, &rec)))
        return rc;
    memset (&rec, 0, sizeof rec);
    s_copy (rec.id, offer->case_id);
    s_copy (rec.owner, s_region (self));
    s_copy (rec.partner, from);
    s_copy (rec.transfer_id, offer->transfer_id);
    rec.state = ZVH__V1__CASE_STATE__CASE_JOINT_TARGET;
    rec.joint_until_ms = offer->joint_until_ms;
    Zvh__V1__TransferAccept accept = ZVH__V1__TRANSFER_ACCEPT__INIT;
    uint8_t signature [WIRE_SIGNATURE_BYTES];
    s_custody_sign (self, WIRE_CUSTODY_ACCEPT, rec.id, rec.transfer_id, from,
                    s_region (self), signature, &accept.accept_signature);
    accept.offer_signature = offer->offer_signature;
    if (s_custody_extend (&rec, offer->custody, rec.transfer_id, from, s_region (self),
                          offer->offer_signature, accept.accept_signature))
        return s_reject (self, txn, from, offer, "custody chain too long", now_ms);
    if (offer->inclusion) {
        size_t size = protobuf_c_message_get_packed_size (&offer->inclusion->base);
        if (size <= CASE_INCLUSION_MAX)
            rec.inclusion_size = protobuf_c_message_pack (&offer->inclusion->base,
                                                          rec.inclusion);
    }
    rc = s_plan_put (self, txn, &rec, s_plan_bytes_version (offer->plan.data,
                     offer->plan.len), offer->plan.data, offer->plan.len);
    if (rc == 0)
        rc = s_case_save (self, txn, &rec, now_ms);
    if (rc)
        return rc;
    accept.transfer_id = rec.transfer_id;
    accept.case_id = rec.id;
    log_info ("case %s: accepted from %s (transfer %s, plan v%" PRIu64 "); "
               "joint phase started, inclusion kept", rec.id, from,
               rec.transfer_id, rec.plan_version);
    rc = s_tell (self, txn, TRANSFER_EVENT_TAKEN_OVER, rec.id, from, now_ms);
    if (rc)
        return rc;
    return s_push (self, txn, from, ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_ACCEPT,
                   rec.id, &accept.base, now_ms);
}

//  Load the case an answer is about; 1 = drop it (logged), 0 = go on.
static int
s_answer_case (transfer_t *self, MDB_txn *txn, const char *from,
               const Zvh__V1__Envelope *envelope, const char *case_id,
               const char *transfer_id, int state, case_rec_t *rec)
{
    int rc = s_case_load (self, txn, case_id ? case_id : "", rec);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    if (rc == MDB_NOTFOUND || rec->state != state || !streq (rec->partner, from)
    ||  (transfer_id && !streq (rec->transfer_id, transfer_id))) {
        s_drop (from, envelope, "does not match the case's state here");
        return 1;
    }
    return 0;
}

//  Add the link that an accept from `from` completes to rec's chain.
static int
s_custody_chain_accepted (transfer_t *self, case_rec_t *rec, const char *from,
                          const Zvh__V1__TransferAccept *msg)
{
    Zvh__V1__CustodyChain *chain = s_custody (rec);
    int rc = s_custody_extend (rec, chain, msg->transfer_id, s_region (self), from,
                               msg->offer_signature, msg->accept_signature);
    wire_free (chain ? &chain->base : NULL);
    return rc;
}

//  A store restored from a backup has lost the offers it made after it. A
//  peer's accept of one, sent again after the restore (docs/PROTOCOL.md
//  4.9), is the proof: the peer owns the case, so follow it rather than
//  keep a second owner. Sets *taken if it applied. Returns 0 or an LMDB code.
static int
s_accept_of_lost_offer (transfer_t *self, MDB_txn *txn, const char *from,
                        const Zvh__V1__TransferAccept *msg, int64_t now_ms, bool *taken)
{
    *taken = false;
    case_rec_t rec;
    if (!outbox_incarnation (self->outbox) || !msg->case_id || !authority_id_valid (msg->transfer_id))
        return 0;
    int rc = s_case_load (self, txn, msg->case_id, &rec);
    if (rc)
        return rc == MDB_NOTFOUND ? 0 : rc;
    if (rec.state != ZVH__V1__CASE_STATE__CASE_ACTIVE || !streq (rec.owner, s_region (self)))
        return 0;
    log_warning ("case %s: %s accepted transfer %s, an offer this region made after "
                  "the backup it was restored from; %s owns the case: joint phase "
                  "(the plan here may be older until %s sends an update)", rec.id,
                  from, msg->transfer_id, from, from);
    rec.state = ZVH__V1__CASE_STATE__CASE_JOINT_SOURCE;
    s_copy (rec.owner, from);
    s_copy (rec.partner, from);
    s_copy (rec.transfer_id, msg->transfer_id);
    rec.joint_until_ms = self->config->joint_phase_s
                       ? now_ms + self->config->joint_phase_s * MS_PER_S : 0;
    rc = s_custody_chain_accepted (self, &rec, from, msg);
    if (rc)
        return rc;
    *taken = true;
    return s_case_save (self, txn, &rec, now_ms);
}

static int
s_on_accept (transfer_t *self, MDB_txn *txn, const char *from,
             const Zvh__V1__Envelope *envelope, const Zvh__V1__TransferAccept *msg,
             int64_t now_ms)
{
    bool taken;
    int rc = s_accept_of_lost_offer (self, txn, from, msg, now_ms, &taken);
    if (rc || taken)
        return rc;
    case_rec_t rec;
    rc = s_answer_case (self, txn, from, envelope, msg->case_id, msg->transfer_id,
                        ZVH__V1__CASE_STATE__CASE_OFFERED, &rec);
    if (rc)
        return rc == 1 ? 0 : rc;
    rec.state = ZVH__V1__CASE_STATE__CASE_JOINT_SOURCE;
    s_copy (rec.owner, from);
    uint8_t signature [WIRE_SIGNATURE_BYTES];
    ProtobufCBinaryData offer_signature;
    s_custody_sign (self, WIRE_CUSTODY_OFFER, rec.id, rec.transfer_id, s_region (self),
                    from, signature, &offer_signature);
    Zvh__V1__TransferAccept mine = *msg;
    mine.offer_signature = offer_signature;
    rc = s_custody_chain_accepted (self, &rec, from, &mine);
    if (rc)
        return rc;
    log_info ("case %s: %s accepted transfer %s; joint phase", rec.id, from,
               rec.transfer_id);
    return s_case_save (self, txn, &rec, now_ms);
}

static int
s_on_reject (transfer_t *self, MDB_txn *txn, const char *from,
             const Zvh__V1__Envelope *envelope, const Zvh__V1__TransferReject *msg,
             int64_t now_ms)
{
    case_rec_t rec;
    int rc = s_answer_case (self, txn, from, envelope, msg->case_id, msg->transfer_id,
                            ZVH__V1__CASE_STATE__CASE_OFFERED, &rec);
    if (rc)
        return rc == 1 ? 0 : rc;
    log_warning ("case %s: %s rejected transfer %s: %s; the case stays here",
                  rec.id, from, rec.transfer_id, msg->reason);
    rec.state = ZVH__V1__CASE_STATE__CASE_ACTIVE;
    return s_case_save (self, txn, &rec, now_ms);
}

static int
s_on_complete (transfer_t *self, MDB_txn *txn, const char *from,
               const Zvh__V1__Envelope *envelope, const Zvh__V1__TransferComplete *msg,
               int64_t now_ms)
{
    case_rec_t rec;
    int rc = s_case_load (self, txn, msg->case_id ? msg->case_id : "", &rec);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    if (rc || !streq (rec.partner, from) || !streq (rec.transfer_id, msg->transfer_id)) {
        s_drop (from, envelope, "not the current joint phase");
        return 0;
    }
    if (rec.state == ZVH__V1__CASE_STATE__CASE_JOINT_SOURCE) {
        rec.state = ZVH__V1__CASE_STATE__CASE_TOMBSTONE;
        rc = s_plan_purge (self, txn, &rec);
    }
    else
    if (rec.state == ZVH__V1__CASE_STATE__CASE_JOINT_TARGET)
        rec.state = ZVH__V1__CASE_STATE__CASE_ACTIVE;
    else
        return 0;       //  both sides completed at once: already done
    rec.joint_until_ms = 0;
    log_info ("case %s: joint phase with %s completed (%s)", rec.id, from,
               transfer_state_name (rec.state));
    return rc ? rc : s_case_save (self, txn, &rec, now_ms);
}

static int
s_on_plan_update (transfer_t *self, MDB_txn *txn, const char *from,
                  const Zvh__V1__Envelope *envelope, const Zvh__V1__PlanUpdate *msg,
                  int64_t now_ms)
{
    case_rec_t rec;
    int rc = s_answer_case (self, txn, from, envelope, msg->case_id, NULL,
                            ZVH__V1__CASE_STATE__CASE_JOINT_SOURCE, &rec);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (msg->version <= rec.plan_version
    ||  s_plan_bytes_version (msg->plan.data, msg->plan.len) != msg->version) {
        s_drop (from, envelope, "stale or inconsistent plan version");
        return 0;
    }
    rc = s_plan_put (self, txn, &rec, msg->version, msg->plan.data, msg->plan.len);
    return rc ? rc : s_case_save (self, txn, &rec, now_ms);
}

//  A proposal for a case that moved on follows it: to the target of an
//  offer in flight (which gets the offer first: links are ordered) or to the
//  owner this region knows. The envelope goes on unchanged, still signed by
//  the region that made the edit.
static int
s_forward_proposal (transfer_t *self, MDB_txn *txn, const char *from,
                    const Zvh__V1__Envelope *envelope, const case_rec_t *rec,
                    outbox_relay_t *relay)
{
    const char *to = rec->state == ZVH__V1__CASE_STATE__CASE_OFFERED ? rec->partner
                                                                       : rec->owner;
    if (rec->state == ZVH__V1__CASE_STATE__CASE_CLOSED) {
        s_drop (from, envelope, "the case is closed here");
        return 0;
    }
    if (!*to || streq (to, s_region (self))) {
        relay->unplaced = true;
        s_drop (from, envelope, "the case's owner is unknown here");
        return 0;
    }
    if (!streq (relay->before, to))
        log_info ("case %s: proposal %s/%" PRIu64 " passed on to %s, which holds the case",
                   rec->id, envelope->origin, envelope->seq, to);
    return outbox_relay (self->outbox, txn, relay, to, envelope);
}

//  Applied where the case is owned; passed on where it was; unplaced (not
//  recorded: a later copy is applied once the case is here) where unknown.
static int
s_on_plan_proposal (transfer_t *self, MDB_txn *txn, const char *from,
                    const Zvh__V1__Envelope *envelope, const Zvh__V1__PlanProposal *msg,
                    outbox_relay_t *relay, int64_t now_ms)
{
    case_rec_t rec;
    int rc = s_case_load (self, txn, msg->case_id ? msg->case_id : "", &rec);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    if (rc) {
        relay->unplaced = true;
        s_drop (from, envelope, "the case is not known here");
        return 0;
    }
    if (rec.state != ZVH__V1__CASE_STATE__CASE_JOINT_TARGET
    &&  rec.state != ZVH__V1__CASE_STATE__CASE_ACTIVE)
        return s_forward_proposal (self, txn, from, envelope, &rec, relay);
    if (msg->base_version < rec.plan_version)
        log_info ("case %s: proposal from %s based on v%" PRIu64 " applied over "
                   "v%" PRIu64 " (last write wins)", rec.id, from,
                   msg->base_version, rec.plan_version);
    rc = s_new_version (self, txn, &rec, msg->plan.data, msg->plan.len, now_ms);
    if (rc == ZVH_E_BAD_REQUEST) {
        s_drop (from, envelope, self->error);
        return 0;
    }
    return rc;
}

//  Decode the payload of an envelope as desc; NULL (logged) if it fails.
static ProtobufCMessage *
s_payload (const char *from, const Zvh__V1__Envelope *envelope,
           const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *msg = wire_decode (desc, envelope->payload.data,
                                         envelope->payload.len);
    if (!msg)
        s_drop (from, envelope, "malformed payload");
    return msg;
}

int
transfer_apply (transfer_t *self, MDB_txn *txn, const char *from,
                const Zvh__V1__Envelope *envelope, outbox_relay_t *relay, int64_t now_ms)
{
    assert (self);
    const ProtobufCMessageDescriptor *desc;
    switch (envelope->type) {
        case ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_OFFER:
            desc = &zvh__v1__transfer_offer__descriptor; break;
        case ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_ACCEPT:
            desc = &zvh__v1__transfer_accept__descriptor; break;
        case ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_REJECT:
            desc = &zvh__v1__transfer_reject__descriptor; break;
        case ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_COMPLETE:
            desc = &zvh__v1__transfer_complete__descriptor; break;
        case ZVH__V1__ENVELOPE__TYPE__TYPE_PLAN_UPDATE:
            desc = &zvh__v1__plan_update__descriptor; break;
        case ZVH__V1__ENVELOPE__TYPE__TYPE_PLAN_PROPOSAL:
            desc = &zvh__v1__plan_proposal__descriptor; break;
        default:
            s_drop (from, envelope, "unknown event type");
            return 0;
    }
    ProtobufCMessage *msg = s_payload (from, envelope, desc);
    if (!msg)
        return 0;
    int rc = 0;
    switch (envelope->type) {
        case ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_OFFER:
            rc = s_on_offer (self, txn, from, (Zvh__V1__TransferOffer *) msg, now_ms);
            break;
        case ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_ACCEPT:
            rc = s_on_accept (self, txn, from, envelope,
                              (Zvh__V1__TransferAccept *) msg, now_ms);
            break;
        case ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_REJECT:
            rc = s_on_reject (self, txn, from, envelope,
                              (Zvh__V1__TransferReject *) msg, now_ms);
            break;
        case ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_COMPLETE:
            rc = s_on_complete (self, txn, from, envelope,
                                (Zvh__V1__TransferComplete *) msg, now_ms);
            break;
        case ZVH__V1__ENVELOPE__TYPE__TYPE_PLAN_UPDATE:
            rc = s_on_plan_update (self, txn, from, envelope,
                                   (Zvh__V1__PlanUpdate *) msg, now_ms);
            break;
        default:
            rc = s_on_plan_proposal (self, txn, from, envelope,
                                     (Zvh__V1__PlanProposal *) msg, relay, now_ms);
            break;
    }
    wire_free (msg);
    return rc;
}

//  ---------------------------------------------------------------- joint phase end

int
transfer_expire (transfer_t *self, MDB_txn *txn, int64_t now_ms)
{
    assert (self);
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, store_dbi (self->store, STORE_DB_CASES), &cursor);
    if (rc)
        return rc;
    int64_t next = INT64_MAX;
    zlist_t *due = zlist_new ();
    zlist_autofree (due);
    MDB_val key, value;
    rc = store_cursor_get (self->store, cursor, STORE_DB_CASES, &key, &value, MDB_FIRST);
    for (; rc == 0; rc = store_cursor_get (self->store, cursor, STORE_DB_CASES, &key, &value, MDB_NEXT)) {
        Zvh__V1__Case *msg = WIRE_DECODE (Zvh__V1__Case, zvh__v1__case,
                                          value.mv_data, value.mv_size);
        if (msg && msg->state == ZVH__V1__CASE_STATE__CASE_JOINT_TARGET
        &&  msg->joint_until_ms) {
            if (msg->joint_until_ms <= now_ms)
                zlist_append (due, msg->id);
            else
            if (msg->joint_until_ms < next)
                next = msg->joint_until_ms;
        }
        wire_free (msg ? &msg->base : NULL);
    }
    mdb_cursor_close (cursor);
    rc = rc == MDB_NOTFOUND ? 0 : rc;
    for (char *id = (char *) zlist_first (due); id && rc == 0;
         id = (char *) zlist_next (due)) {
        log_info ("case %s: joint phase reached its configured end", id);
        rc = transfer_complete (self, txn, id, now_ms);
    }
    zlist_destroy (&due);
    self->next_expiry_ms = next;
    return rc;
}
