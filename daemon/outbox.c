/*  outbox: per-peer queues in STORE_DB_OUTBOX, counters in STORE_DB_META.
 *
 *  Meta keys: "seq" the last origin seq; "lout:<peer>" the last link seq
 *  queued for a peer; "lack:<peer>" the last link seq it acknowledged. Depth
 *  is their difference, so status never scans the queue. "inc" is this
 *  region's incarnation, "inc_from" the backup stamp it was begun for.
 *  Entries at or below "lack:<peer>" are kept only for the retention.
 *  "pcopy:<case>/<peer>" NUL be64 link seq (empty value) marks an entry that
 *  holds that case's plan, so that a purge finds it without reading the
 *  outbox (case and region ids never hold '/'); it goes with its entry (an
 *  acknowledgement or the retention deletes both). "ppurge:<peer>" NUL be64
 *  link seq marks an entry of a purged plan still on its way: it becomes a
 *  stub once the peer acknowledges it.
 *
 *  An event made for more than one peer (a signal to every region) is
 *  stored once, in STORE_DB_EVENTS under its origin seq, with the number of
 *  outbox entries that refer to it under the seq and 'n'. Each peer's entry
 *  is then a reference: OUTBOX_REF_TAG (OUTBOX_REF_PLAN_TAG if the event
 *  holds a plan) and the be64 origin seq (an envelope never begins with
 *  either byte: protobuf has no field 0). The event goes
 *  with the last entry that refers to it (acknowledged and pruned, or
 *  purged into a stub). Relayed events and events for one peer are held
 *  in the entry itself, as in store format 1.
 */
#include "outbox.h"
#include "log.h"
#include <czmq.h>
#include <sodium.h>

#define OUTBOX_META_SEQ      "seq"
#define OUTBOX_META_LAST_OUT "lout:"
#define OUTBOX_META_LAST_ACK "lack:"
#define OUTBOX_META_INC      "inc"
#define OUTBOX_META_INC_FROM "inc_from"
#define OUTBOX_META_STARTED  "started"     //  set at the first start
#define OUTBOX_META_PLAN_COPY "pcopy:"     //  "pcopy:<case>/<peer>" NUL be64 link seq
#define OUTBOX_META_PURGE_ACKED "ppurge:"  //  "ppurge:<peer>" NUL be64 link seq
#define OUTBOX_META_KEY_MAX  128
#define OUTBOX_KEY_MAX       128
#define OUTBOX_SEQ_SUFFIX    9      //  NUL and be64 after a key's text
//  A mark's key: its kind, a case id, '/', a region id, NUL, be64 (ids up to
//  OUTBOX_PEER_MAX - 1 characters each, CONFIG_ID_MAX)
#define OUTBOX_MARK_MAX      (sizeof OUTBOX_META_PURGE_ACKED + 2 * OUTBOX_PEER_MAX \
                              + OUTBOX_SEQ_SUFFIX)
#define OUTBOX_US_PER_MS     1000
#define OUTBOX_REF_TAG       0x00   //  first byte of an entry that refers to the event log
#define OUTBOX_REF_PLAN_TAG  0x01   //  the same, for an event that holds a plan (a purge mark)
#define OUTBOX_REF_SIZE      9      //  the tag and a be64 origin seq
#define OUTBOX_EVENT_KEY     8      //  be64 origin seq
#define OUTBOX_REFS_SUFFIX   'n'    //  after the seq: the count of entries referring to it
#define OUTBOX_REFS_SIZE     8      //  be64
#define OUTBOX_REPORT_SLACK  (1ULL << 40)   //  about 12 days of microseconds

struct _outbox_t {
    store_t *store;
    char *region;
    bool signs;
    uint8_t sign_key [WIRE_SIGN_SECRET_BYTES];
    uint64_t incarnation;
    bool started_before;            //  this store had run before this start
    int64_t retain_ms;
};

outbox_t *
outbox_new (store_t *store, const char *region, const uint8_t sign_key [WIRE_SIGN_SECRET_BYTES])
{
    assert (store && region);
    outbox_t *self = (outbox_t *) zmalloc (sizeof (outbox_t));
    self->store = store;
    self->region = strdup (region);
    if (sign_key) {
        memcpy (self->sign_key, sign_key, WIRE_SIGN_SECRET_BYTES);
        self->signs = true;
    }
    return self;
}

static int
s_read_incarnation (MDB_txn *txn, void *arg)
{
    outbox_t *self = (outbox_t *) arg;
    self->incarnation = store_meta_u64 (self->store, txn, OUTBOX_META_INC);
    return 0;
}

typedef struct {
    outbox_t *outbox;
    int64_t taken_ms;
    int64_t now_ms;
    uint64_t peer_incarnation;      //  outbox_overtaken: what a peer reported
    uint64_t peer_seq;
    uint64_t next;                  //  the incarnation begun, 0 = none
} start_args_t;

//  The next incarnation: above this store's and above any a peer follows.
static uint64_t
s_next_incarnation (uint64_t mine, uint64_t reported)
{
    return (reported > mine ? reported : mine) + 1;
}

//  A number a peer reports of us is believable up to this far past both
//  ours and the clock in microseconds (old incarnations were clock values):
//  a hostile report of 2^64-1 would leave no incarnation or seq after it.
static bool
s_plausible (uint64_t reported, uint64_t mine, int64_t now_ms)
{
    uint64_t clock = (uint64_t) now_ms * OUTBOX_US_PER_MS;
    uint64_t bound = (mine > clock ? mine : clock) + OUTBOX_REPORT_SLACK;
    return reported <= bound;
}

//  Begin incarnation args->next: origin seqs continue after every seq this
//  store or a peer has seen. The caller takes it into memory after commit.
static int
s_begin (MDB_txn *txn, start_args_t *args)
{
    store_t *store = args->outbox->store;
    uint64_t seq = store_meta_u64 (store, txn, OUTBOX_META_SEQ);
    if (args->peer_seq > seq)
        seq = args->peer_seq;
    int rc = store_set_meta_u64 (store, txn, OUTBOX_META_INC, args->next);
    return rc ? rc : store_set_meta_u64 (store, txn, OUTBOX_META_SEQ, seq);
}

//  Every start but the first: origin seqs jump past the clock in
//  microseconds, so that a copy of this store (a snapshot, cp, mdb_copy, a
//  backup) started later gives no event an id the lost store gave (it made
//  far fewer than a million events a second). A stamped backup also begins an incarnation
//  at once; an unstamped copy begins one when a peer shows it (4.9).
static int
s_start (MDB_txn *txn, void *arg)
{
    start_args_t *args = (start_args_t *) arg;
    outbox_t *self = args->outbox;
    store_t *store = self->store;
    args->next = 0;
    uint64_t incarnation = store_meta_u64 (store, txn, OUTBOX_META_INC);
    uint64_t clock_seq = (uint64_t) args->now_ms * OUTBOX_US_PER_MS;
    //  A store that never ran has given no ids: its seqs may start at 1
    self->started_before = store_meta_u64 (store, txn, OUTBOX_META_STARTED) != 0;
    int rc = self->started_before ? 0 : store_set_meta_u64 (store, txn, OUTBOX_META_STARTED, 1);
    if (rc == 0 && self->started_before && store_meta_u64 (store, txn, OUTBOX_META_SEQ) < clock_seq)
        rc = store_set_meta_u64 (store, txn, OUTBOX_META_SEQ, clock_seq);
    if (rc)
        return rc;
    if (!args->taken_ms
    ||  store_meta_u64 (store, txn, OUTBOX_META_INC_FROM) == (uint64_t) args->taken_ms)
        return 0;
    args->next = s_next_incarnation (incarnation, 0);
    rc = s_begin (txn, args);
    return rc ? rc : store_set_meta_u64 (store, txn, OUTBOX_META_INC_FROM,
                                        (uint64_t) args->taken_ms);
}

int
outbox_start (outbox_t *self, int64_t backup_taken_ms, int64_t now_ms)
{
    assert (self);
    start_args_t args = { self, backup_taken_ms, now_ms, 0, 0, 0 };
    int rc = store_read (self->store, s_read_incarnation, self);
    if (rc == 0)
        rc = store_write (self->store, s_start, &args);
    if (rc == 0 && args.next) {
        log_warning ("outbox: restored backup: new incarnation %" PRIu64 "; every link "
                      "resynchronises with its peer", args.next);
        self->incarnation = args.next;
    }
    return rc;
}

static int
s_overtaken (MDB_txn *txn, void *arg)
{
    start_args_t *args = (start_args_t *) arg;
    store_t *store = args->outbox->store;
    uint64_t incarnation = store_meta_u64 (store, txn, OUTBOX_META_INC);
    uint64_t seq = store_meta_u64 (store, txn, OUTBOX_META_SEQ);
    if (!s_plausible (args->peer_incarnation, incarnation, args->now_ms)
    ||  !s_plausible (args->peer_seq, seq, args->now_ms))
        return 0;
    args->next = s_next_incarnation (incarnation, args->peer_incarnation);
    return s_begin (txn, args);
}

int
outbox_overtaken (outbox_t *self, const char *peer, uint64_t peer_incarnation,
                  uint64_t peer_seq, int64_t now_ms)
{
    assert (self && peer);
    start_args_t args = { self, 0, now_ms, peer_incarnation, peer_seq, 0 };
    int rc = store_write (self->store, s_overtaken, &args);
    if (rc == 0 && args.next) {
        log_warning ("outbox: %s has more of this region than this store (it follows "
                      "incarnation %" PRIu64 ", has its events up to %" PRIu64 "): this "
                      "store is an older copy; new incarnation %" PRIu64 ", every link "
                      "resynchronises with its peer", peer, peer_incarnation, peer_seq,
                      args.next);
        self->incarnation = args.next;
    }
    else
    if (rc == 0)
        log_error ("outbox: %s reports incarnation %" PRIu64 " and event seq %" PRIu64
                    " of this region, beyond anything it can have made: ignored",
                    peer, peer_incarnation, peer_seq);
    return rc;
}

bool
outbox_started_before (outbox_t *self)
{
    assert (self);
    return self->started_before;
}

uint64_t
outbox_incarnation (outbox_t *self)
{
    assert (self);
    return self->incarnation;
}

void
outbox_set_retention (outbox_t *self, int64_t retain_ms)
{
    assert (self);
    self->retain_ms = retain_ms > 0 ? retain_ms : 0;
}

void
outbox_destroy (outbox_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        sodium_memzero ((*self_p)->sign_key, WIRE_SIGN_SECRET_BYTES);
        free ((*self_p)->region);
        free (*self_p);
        *self_p = NULL;
    }
}

static void
s_meta_name (char *name, const char *kind, const char *peer)
{
    snprintf (name, OUTBOX_META_KEY_MAX, "%s%s", kind, peer);
}

//  ---------------------------------------------------------- the event log

static void
s_event_key (uint8_t key [OUTBOX_EVENT_KEY + 1], uint64_t seq)
{
    store_be64_put (key, seq);
    key [OUTBOX_EVENT_KEY] = OUTBOX_REFS_SUFFIX;
}

static int
s_set_refs (outbox_t *self, MDB_txn *txn, const uint8_t *key, uint64_t refs)
{
    uint8_t count [OUTBOX_REFS_SIZE];
    store_be64_put (count, refs);
    return store_put (self->store, txn, STORE_DB_EVENTS, key, OUTBOX_EVENT_KEY + 1,
                      count, sizeof count, 0);
}

//  Hold an event for `refs` outbox entries. Its seq is new, so it is never
//  there already: MDB_NOOVERWRITE makes a clash an error, never a loss.
static int
s_event_put (outbox_t *self, MDB_txn *txn, uint64_t seq, const uint8_t *bytes,
             size_t size, uint64_t refs)
{
    uint8_t key [OUTBOX_EVENT_KEY + 1];
    s_event_key (key, seq);
    int rc = store_put (self->store, txn, STORE_DB_EVENTS, key, OUTBOX_EVENT_KEY,
                        bytes, size, MDB_NOOVERWRITE);
    return rc ? rc : s_set_refs (self, txn, key, refs);
}

//  One entry that referred to the event at seq is gone: the last takes it.
static int
s_event_unref (outbox_t *self, MDB_txn *txn, uint64_t seq)
{
    uint8_t key [OUTBOX_EVENT_KEY + 1];
    s_event_key (key, seq);
    MDB_val value;
    int rc = store_get (self->store, txn, STORE_DB_EVENTS, key, OUTBOX_EVENT_KEY + 1, &value);
    uint64_t refs = rc == 0 && value.mv_size == OUTBOX_REFS_SIZE
                  ? store_be64_get ((const uint8_t *) value.mv_data) : 0;
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    if (refs > 1)
        return s_set_refs (self, txn, key, refs - 1);
    rc = store_del (self->store, txn, STORE_DB_EVENTS, key, OUTBOX_EVENT_KEY + 1);
    return rc ? rc : store_del (self->store, txn, STORE_DB_EVENTS, key, OUTBOX_EVENT_KEY);
}

//  True if an entry refers to the event log; its origin seq goes to *seq_p.
static bool
s_is_ref (const MDB_val *entry, uint64_t *seq_p)
{
    const uint8_t *bytes = (const uint8_t *) entry->mv_data;
    *seq_p = 0;             //  defined on every path: gcc -O2 cannot see it is unused
    if (entry->mv_size != OUTBOX_REF_SIZE
    ||  (bytes [0] != OUTBOX_REF_TAG && bytes [0] != OUTBOX_REF_PLAN_TAG))
        return false;
    *seq_p = store_be64_get (bytes + 1);
    return true;
}

//  An entry's envelope: the entry itself, or the event it refers to.
static int
s_resolve (outbox_t *self, MDB_txn *txn, MDB_val *entry)
{
    uint64_t seq;
    if (!s_is_ref (entry, &seq))
        return 0;
    uint8_t key [OUTBOX_EVENT_KEY];
    store_be64_put (key, seq);
    int rc = store_get (self->store, txn, STORE_DB_EVENTS, key, sizeof key, entry);
    if (rc == MDB_NOTFOUND) {
        log_error ("outbox: an entry refers to event %" PRIu64 ", which the store does "
                    "not hold: the store is damaged; restore a backup", seq);
        rc = MDB_CORRUPTED;
    }
    return rc;
}

//  Read the entry at (peer, link_seq) as stored; its key goes to key (of
//  OUTBOX_KEY_MAX bytes) and *key_size_p.
static int
s_get_entry (outbox_t *self, MDB_txn *txn, const char *peer, uint64_t link_seq,
             uint8_t *key, size_t *key_size_p, MDB_val *entry)
{
    *key_size_p = store_seq_key (key, OUTBOX_KEY_MAX, peer, link_seq);
    return *key_size_p ? store_get (self->store, txn, STORE_DB_OUTBOX, key, *key_size_p, entry)
                       : EINVAL;
}

//  The mark's key prefix for case_id's entries (to peer, or to any peer if
//  peer is ""); false if the ids do not fit.
static bool
s_copy_prefix (char *prefix, const char *case_id, const char *peer)
{
    int size = snprintf (prefix, OUTBOX_MARK_MAX, "%s%s/%s", OUTBOX_META_PLAN_COPY,
                         case_id, peer);
    return size > 0 && (size_t) size + OUTBOX_SEQ_SUFFIX <= OUTBOX_MARK_MAX;
}

//  An entry that held a plan goes: so does the mark a purge would look for
//  (a case that is never purged must not gather marks for ever).
static int
s_drop_plan_mark (outbox_t *self, MDB_txn *txn, const char *peer, uint64_t link_seq,
                  const MDB_val *entry)
{
    //  A reference says whether its event holds a plan: no need to read it
    uint64_t seq;
    if (s_is_ref (entry, &seq)
    &&  ((const uint8_t *) entry->mv_data) [0] != OUTBOX_REF_PLAN_TAG)
        return 0;
    MDB_val value = *entry;
    int rc = s_resolve (self, txn, &value);
    if (rc)
        return rc;
    Zvh__V1__Envelope *envelope = WIRE_DECODE (Zvh__V1__Envelope, zvh__v1__envelope,
                                               value.mv_data, value.mv_size);
    if (!envelope || !outbox_holds_plan (envelope->type) || !*envelope->case_id) {
        wire_free (envelope ? &envelope->base : NULL);
        return 0;
    }
    char prefix [OUTBOX_MARK_MAX];
    uint8_t key [OUTBOX_MARK_MAX];
    size_t key_size = s_copy_prefix (prefix, envelope->case_id, peer)
                    ? store_seq_key (key, sizeof key, prefix, link_seq) : 0;
    wire_free (&envelope->base);
    return key_size ? store_del (self->store, txn, STORE_DB_META, key, key_size) : 0;
}

//  Delete the entry at (peer, link_seq) and its share of the event log.
static int
s_delete_entry (outbox_t *self, MDB_txn *txn, const char *peer, uint64_t link_seq)
{
    uint8_t key [OUTBOX_KEY_MAX];
    size_t key_size;
    MDB_val entry;
    int rc = s_get_entry (self, txn, peer, link_seq, key, &key_size, &entry);
    if (rc)
        return rc == MDB_NOTFOUND ? 0 : rc;
    uint64_t seq;
    bool ref = s_is_ref (&entry, &seq);
    rc = s_drop_plan_mark (self, txn, peer, link_seq, &entry);
    if (rc == 0 && ref)
        rc = s_event_unref (self, txn, seq);
    return rc ? rc : store_del (self->store, txn, STORE_DB_OUTBOX, key, key_size);
}

//  ------------------------------------------------------------ the queues

static int
s_forward (outbox_t *self, MDB_txn *txn, const char *peer,
           const uint8_t *envelope, size_t size, uint64_t *link_seq_p)
{
    char name [OUTBOX_META_KEY_MAX];
    s_meta_name (name, OUTBOX_META_LAST_OUT, peer);
    uint64_t link_seq = store_meta_u64 (self->store, txn, name) + 1;
    uint8_t key [OUTBOX_KEY_MAX];
    size_t key_size = store_seq_key (key, sizeof key, peer, link_seq);
    if (!key_size)
        return EINVAL;
    //  Keys only ever grow per peer prefix, but peers interleave: no MDB_APPEND
    int rc = store_put (self->store, txn, STORE_DB_OUTBOX, key, key_size,
                        envelope, size, 0);
    if (rc == 0)
        rc = store_set_meta_u64 (self->store, txn, name, link_seq);
    *link_seq_p = link_seq;
    return rc;
}

int
outbox_forward (outbox_t *self, MDB_txn *txn, const char *peer,
                const uint8_t *envelope, size_t size)
{
    assert (self);
    uint64_t link_seq;
    return s_forward (self, txn, peer, envelope, size, &link_seq);
}

bool
outbox_holds_plan (Zvh__V1__Envelope__Type type)
{
    return type == ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_OFFER
        || type == ZVH__V1__ENVELOPE__TYPE__TYPE_PLAN_UPDATE
        || type == ZVH__V1__ENVELOPE__TYPE__TYPE_PLAN_PROPOSAL;
}

static int
s_mark_plan_copy (outbox_t *self, MDB_txn *txn, const char *case_id, const char *peer,
                  uint64_t link_seq)
{
    char prefix [OUTBOX_MARK_MAX];
    uint8_t key [OUTBOX_MARK_MAX];
    size_t key_size = s_copy_prefix (prefix, case_id, peer)
                    ? store_seq_key (key, sizeof key, prefix, link_seq) : 0;
    return key_size ? store_put (self->store, txn, STORE_DB_META, key, key_size, "", 0, 0)
                    : EINVAL;
}

int
outbox_relay (outbox_t *self, MDB_txn *txn, outbox_relay_t *relay,
              const char *peer, const Zvh__V1__Envelope *envelope)
{
    assert (self);
    assert (relay);
    if (strlen (peer) >= sizeof relay->to)
        return EINVAL;
    snprintf (relay->to, sizeof relay->to, "%s", peer);
    if (streq (relay->before, peer)) {
        log_info ("event %s/%" PRIu64 " (case %s) was passed on to %s before; not again",
                   envelope->origin, envelope->seq, envelope->case_id, peer);
        return 0;
    }
    size_t size;
    uint8_t *bytes = wire_encode (&envelope->base, &size);
    int rc = bytes ? outbox_forward (self, txn, peer, bytes, size) : ENOMEM;
    free (bytes);
    return rc;
}

uint64_t
outbox_next_seq (outbox_t *self, MDB_txn *txn, int *rc_p)
{
    assert (self);
    uint64_t seq = store_meta_u64 (self->store, txn, OUTBOX_META_SEQ) + 1;
    *rc_p = store_set_meta_u64 (self->store, txn, OUTBOX_META_SEQ, seq);
    return seq;
}

int
outbox_push (outbox_t *self, MDB_txn *txn, const char *peer,
             Zvh__V1__Envelope__Type type, const char *case_id,
             const ProtobufCMessage *payload, int64_t now_ms)
{
    const char *peers [] = { peer, NULL };
    uint64_t seq;
    return outbox_push_many (self, txn, peers, type, case_id, payload, now_ms, &seq);
}

int
outbox_push_many (outbox_t *self, MDB_txn *txn, const char **peers,
                  Zvh__V1__Envelope__Type type, const char *case_id,
                  const ProtobufCMessage *payload, int64_t now_ms, uint64_t *seq_p)
{
    assert (self);
    int rc;
    uint64_t seq = outbox_next_seq (self, txn, &rc);
    if (rc)
        return rc;
    *seq_p = seq;
    Zvh__V1__Envelope envelope = ZVH__V1__ENVELOPE__INIT;
    envelope.origin = self->region;
    envelope.seq = seq;
    envelope.type = type;
    envelope.time_ms = now_ms;
    envelope.case_id = (char *) (case_id ? case_id : "");
    envelope.payload.data = wire_encode (payload, &envelope.payload.len);
    if (!envelope.payload.data)
        return ENOMEM;
    if (self->signs && wire_envelope_sign (&envelope, self->sign_key)) {
        free (envelope.payload.data);
        return ENOMEM;
    }
    size_t size;
    uint8_t *bytes = wire_encode (&envelope.base, &size);
    free (envelope.payload.data);
    free (self->signs ? envelope.signature.data : NULL);
    if (!bytes)
        return ENOMEM;
    bool plan = outbox_holds_plan (type) && *envelope.case_id;
    size_t count = 0;
    while (peers [count])
        count++;
    //  For more than one peer: one copy in the event log, a reference each
    uint8_t ref [OUTBOX_REF_SIZE] = { plan ? OUTBOX_REF_PLAN_TAG : OUTBOX_REF_TAG };
    store_be64_put (ref + 1, seq);
    if (count > 1)
        rc = s_event_put (self, txn, seq, bytes, size, count);
    for (size_t i = 0; rc == 0 && peers [i]; i++) {
        uint64_t link_seq;
        rc = count > 1 ? s_forward (self, txn, peers [i], ref, sizeof ref, &link_seq)
                       : s_forward (self, txn, peers [i], bytes, size, &link_seq);
        if (rc == 0 && plan)
            rc = s_mark_plan_copy (self, txn, envelope.case_id, peers [i], link_seq);
    }
    free (bytes);
    return rc;
}

uint64_t
outbox_acked (outbox_t *self, MDB_txn *txn, const char *peer)
{
    char name [OUTBOX_META_KEY_MAX];
    s_meta_name (name, OUTBOX_META_LAST_ACK, peer);
    return store_meta_u64 (self->store, txn, name);
}

//  Delete peer's entries from the oldest held up to link_seq, stopping at
//  the first one made at or after before_ms (0: no time limit).
static int
s_delete_upto (outbox_t *self, MDB_txn *txn, const char *peer, uint64_t link_seq,
               int64_t before_ms);

//  Entries of purged plans that peer now has (up to link_seq) become stubs.
static int
s_purge_acked (outbox_t *self, MDB_txn *txn, const char *peer, uint64_t link_seq);

int
outbox_ack (outbox_t *self, MDB_txn *txn, const char *peer, uint64_t link_seq)
{
    assert (self);
    char name [OUTBOX_META_KEY_MAX];
    s_meta_name (name, OUTBOX_META_LAST_OUT, peer);
    uint64_t last_out = store_meta_u64 (self->store, txn, name);
    if (link_seq > last_out)
        link_seq = last_out;    //  a confused peer: never skip ahead
    uint64_t acked = outbox_acked (self, txn, peer);
    if (link_seq <= acked)
        return 0;
    int rc = self->retain_ms ? 0 : s_delete_upto (self, txn, peer, link_seq, 0);
    if (rc == 0)
        rc = s_purge_acked (self, txn, peer, link_seq);
    if (rc)
        return rc;
    s_meta_name (name, OUTBOX_META_LAST_ACK, peer);
    return store_set_meta_u64 (self->store, txn, name, link_seq);
}

int
outbox_prune (outbox_t *self, MDB_txn *txn, const char *peer, int64_t now_ms)
{
    assert (self);
    uint64_t acked = outbox_acked (self, txn, peer);
    int64_t before_ms = self->retain_ms ? now_ms - self->retain_ms : 0;
    return acked ? s_delete_upto (self, txn, peer, acked, before_ms) : 0;
}

uint64_t
outbox_floor (outbox_t *self, MDB_txn *txn, const char *peer)
{
    assert (self);
    uint8_t key_bytes [OUTBOX_KEY_MAX];
    size_t key_size = store_seq_key (key_bytes, sizeof key_bytes, peer, 1);
    MDB_cursor *cursor;
    if (!key_size || mdb_cursor_open (txn, store_dbi (self->store, STORE_DB_OUTBOX), &cursor))
        return outbox_acked (self, txn, peer);
    MDB_val key = { key_size, key_bytes }, value;
    int rc = store_cursor_get (self->store, cursor, STORE_DB_OUTBOX, &key, &value,
                               MDB_SET_RANGE);
    uint64_t floor;
    if (rc == 0 && key.mv_size == key_size && !memcmp (key.mv_data, key_bytes, key_size - 8))
        floor = store_seq_key_n (&key) - 1;
    else {                      //  nothing held: everything queued is gone
        char name [OUTBOX_META_KEY_MAX];
        s_meta_name (name, OUTBOX_META_LAST_OUT, peer);
        floor = store_meta_u64 (self->store, txn, name);
    }
    mdb_cursor_close (cursor);
    return floor;
}

int
outbox_rewind (outbox_t *self, MDB_txn *txn, const char *peer, uint64_t link_seq,
               uint64_t *acked_p)
{
    assert (self);
    uint64_t acked = outbox_acked (self, txn, peer);
    uint64_t floor = outbox_floor (self, txn, peer);
    *acked_p = acked;
    if (link_seq >= acked)
        return 0;
    *acked_p = link_seq > floor ? link_seq : floor;
    if (*acked_p >= acked) {
        *acked_p = acked;
        return 0;
    }
    char name [OUTBOX_META_KEY_MAX];
    s_meta_name (name, OUTBOX_META_LAST_ACK, peer);
    return store_set_meta_u64 (self->store, txn, name, *acked_p);
}

int
outbox_scan (outbox_t *self, MDB_txn *txn, const char *peer, uint64_t after,
             size_t max, outbox_visit_fn *visit, void *arg)
{
    assert (self);
    uint8_t key_bytes [OUTBOX_KEY_MAX];
    size_t key_size = store_seq_key (key_bytes, sizeof key_bytes, peer, after + 1);
    size_t prefix_size = key_size - 8;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, store_dbi (self->store, STORE_DB_OUTBOX), &cursor);
    if (rc)
        return rc;
    MDB_val key = { key_size, key_bytes }, value;
    rc = store_cursor_get (self->store, cursor, STORE_DB_OUTBOX, &key, &value, MDB_SET_RANGE);
    for (size_t count = 0; rc == 0 && count < max; count++) {
        if (key.mv_size != key_size || memcmp (key.mv_data, key_bytes, prefix_size))
            break;              //  past this peer's entries
        rc = s_resolve (self, txn, &value);
        if (rc || visit (store_seq_key_n (&key), (const uint8_t *) value.mv_data,
                         value.mv_size, arg))
            break;
        rc = store_cursor_get (self->store, cursor, STORE_DB_OUTBOX, &key, &value, MDB_NEXT);
    }
    mdb_cursor_close (cursor);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int
s_oldest_time (uint64_t link_seq, const uint8_t *bytes, size_t size, void *arg)
{
    (void) link_seq;
    Zvh__V1__Envelope *envelope = WIRE_DECODE (Zvh__V1__Envelope,
                                               zvh__v1__envelope, bytes, size);
    if (envelope) {
        *(int64_t *) arg = envelope->time_ms;
        wire_free (&envelope->base);
    }
    return 1;
}

int
outbox_depth (outbox_t *self, MDB_txn *txn, const char *peer,
              uint64_t *depth_p, int64_t *oldest_ms_p)
{
    assert (self);
    char name [OUTBOX_META_KEY_MAX];
    s_meta_name (name, OUTBOX_META_LAST_OUT, peer);
    uint64_t last_out = store_meta_u64 (self->store, txn, name);
    uint64_t acked = outbox_acked (self, txn, peer);
    *depth_p = last_out > acked ? last_out - acked : 0;
    *oldest_ms_p = 0;
    if (*depth_p)
        return outbox_scan (self, txn, peer, acked, 1, s_oldest_time, oldest_ms_p);
    return 0;
}

typedef struct {
    int64_t before_ms;
    uint64_t upto;
    uint64_t last;              //  the last entry that may go
} prune_args_t;

static int
s_prunable (uint64_t link_seq, const uint8_t *bytes, size_t size, void *arg)
{
    prune_args_t *args = (prune_args_t *) arg;
    if (link_seq > args->upto)
        return 1;
    if (args->before_ms) {
        int64_t made_ms = INT64_MAX;
        s_oldest_time (link_seq, bytes, size, &made_ms);
        if (made_ms >= args->before_ms)
            return 1;
    }
    args->last = link_seq;
    return 0;
}

static int
s_delete_upto (outbox_t *self, MDB_txn *txn, const char *peer, uint64_t link_seq,
               int64_t before_ms)
{
    uint64_t floor = outbox_floor (self, txn, peer);
    prune_args_t args = { before_ms, link_seq, floor };
    int rc = before_ms
           ? outbox_scan (self, txn, peer, floor, SIZE_MAX, s_prunable, &args)
           : 0;
    if (!before_ms)
        args.last = link_seq;
    for (uint64_t n = floor + 1; rc == 0 && n <= args.last; n++)
        rc = s_delete_entry (self, txn, peer, n);
    return rc;
}

//  Replace the entry at (peer, link_seq) with its stub: the event's id,
//  type, time and case, marked purged, without payload or signature. An
//  entry the retention deleted, or already a stub, is left as it is.
static int
s_stub_entry (outbox_t *self, MDB_txn *txn, const char *peer, uint64_t link_seq,
              size_t *stubbed_p)
{
    uint8_t key [OUTBOX_KEY_MAX];
    size_t key_size;
    MDB_val value;
    int rc = s_get_entry (self, txn, peer, link_seq, key, &key_size, &value);
    if (rc)
        return rc == MDB_NOTFOUND ? 0 : rc;
    uint64_t event_seq = 0;
    bool ref = s_is_ref (&value, &event_seq);
    rc = s_resolve (self, txn, &value);
    if (rc)
        return rc;
    Zvh__V1__Envelope *envelope = WIRE_DECODE (Zvh__V1__Envelope, zvh__v1__envelope,
                                               value.mv_data, value.mv_size);
    if (!envelope || !outbox_holds_plan (envelope->type)) {
        //  Not what the mark says: left as it is (the retention takes it)
        log_error ("outbox: entry %" PRIu64 " to %s is not a plan's event; not purged",
                    link_seq, peer);
        wire_free (envelope ? &envelope->base : NULL);
        return 0;
    }
    Zvh__V1__Envelope stub = ZVH__V1__ENVELOPE__INIT;
    stub.origin = envelope->origin;
    stub.seq = envelope->seq;
    stub.type = envelope->type;
    stub.time_ms = envelope->time_ms;
    stub.case_id = envelope->case_id;
    stub.purged = 1;
    size_t size = 0;
    uint8_t *bytes = envelope->purged ? NULL : wire_encode (&stub.base, &size);
    rc = envelope->purged ? 0 : bytes ? store_put (self->store, txn, STORE_DB_OUTBOX,
                                                   key, key_size, bytes, size, 0)
                                      : ENOMEM;
    if (rc == 0 && bytes)
        (*stubbed_p)++;
    //  The stub took the reference's place: the event loses one holder
    if (rc == 0 && bytes && ref)
        rc = s_event_unref (self, txn, event_seq);
    free (bytes);
    wire_free (&envelope->base);
    return rc;
}

static int
s_mark_purge_acked (outbox_t *self, MDB_txn *txn, const char *peer, uint64_t link_seq)
{
    char prefix [OUTBOX_MARK_MAX];
    uint8_t key [OUTBOX_MARK_MAX];
    snprintf (prefix, sizeof prefix, "%s%s", OUTBOX_META_PURGE_ACKED, peer);
    size_t key_size = store_seq_key (key, sizeof key, prefix, link_seq);
    return key_size ? store_put (self->store, txn, STORE_DB_META, key, key_size, "", 0, 0)
                    : EINVAL;
}

//  peer has acknowledged up to link_seq: entries of purged plans it now
//  has become stubs.
static int
s_purge_acked (outbox_t *self, MDB_txn *txn, const char *peer, uint64_t link_seq)
{
    char prefix [OUTBOX_MARK_MAX];
    uint8_t first [OUTBOX_MARK_MAX];
    snprintf (prefix, sizeof prefix, "%s%s", OUTBOX_META_PURGE_ACKED, peer);
    size_t key_size = store_seq_key (first, sizeof first, prefix, 0);
    MDB_cursor *cursor;
    int rc = key_size ? mdb_cursor_open (txn, store_dbi (self->store, STORE_DB_META), &cursor)
                      : EINVAL;
    if (rc)
        return rc;
    size_t stubbed = 0;
    //  Each round takes the lowest mark left (the one before was deleted)
    while (rc == 0) {
        MDB_val key = { key_size, first }, value;
        rc = mdb_cursor_get (cursor, &key, &value, MDB_SET_RANGE);
        if (rc || key.mv_size != key_size || memcmp (key.mv_data, first, key_size - 8)
        ||  store_seq_key_n (&key) > link_seq)
            break;
        rc = s_stub_entry (self, txn, peer, store_seq_key_n (&key), &stubbed);
        if (rc == 0)
            rc = mdb_cursor_del (cursor, 0);
    }
    mdb_cursor_close (cursor);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

//  Take the marks of case_id's plan copies into marks (a list of keys).
static int
s_collect_marks (outbox_t *self, MDB_txn *txn, const char *prefix, zlistx_t *marks)
{
    size_t prefix_len = strlen (prefix);
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, store_dbi (self->store, STORE_DB_META), &cursor);
    if (rc)
        return rc;
    MDB_val key = { prefix_len, (void *) prefix }, value;
    rc = store_cursor_get (self->store, cursor, STORE_DB_META, &key, &value, MDB_SET_RANGE);
    while (rc == 0 && key.mv_size > prefix_len + OUTBOX_SEQ_SUFFIX
       &&  memcmp (key.mv_data, prefix, prefix_len) == 0) {
        zchunk_t *mark = zchunk_new (key.mv_data, key.mv_size);
        if (!mark || !zlistx_add_end (marks, mark)) {
            zchunk_destroy (&mark);
            rc = ENOMEM;
            break;
        }
        rc = store_cursor_get (self->store, cursor, STORE_DB_META, &key, &value, MDB_NEXT);
    }
    mdb_cursor_close (cursor);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int
outbox_purge_case (outbox_t *self, MDB_txn *txn, const char *case_id, size_t *stubbed_p)
{
    assert (self && case_id);
    *stubbed_p = 0;
    char prefix [OUTBOX_MARK_MAX];
    if (!s_copy_prefix (prefix, case_id, ""))
        return EINVAL;
    size_t prefix_len = strlen (prefix);
    zlistx_t *marks = zlistx_new ();
    if (!marks)
        return ENOMEM;
    zlistx_set_destructor (marks, (zlistx_destructor_fn *) zchunk_destroy);
    int rc = s_collect_marks (self, txn, prefix, marks);
    for (zchunk_t *mark = (zchunk_t *) zlistx_first (marks); rc == 0 && mark;
         mark = (zchunk_t *) zlistx_next (marks)) {
        //  The key: prefix, peer, NUL, be64 link seq
        const uint8_t *data = zchunk_data (mark);
        size_t size = zchunk_size (mark);
        char peer [OUTBOX_PEER_MAX];
        size_t peer_len = size - OUTBOX_SEQ_SUFFIX - prefix_len;
        MDB_val key = { size, (void *) data };
        uint64_t link_seq = store_seq_key_n (&key);
        if (peer_len < sizeof peer) {
            memcpy (peer, data + prefix_len, peer_len);
            peer [peer_len] = 0;
            //  What the peer has not acknowledged is still on its way to it
            rc = link_seq <= outbox_acked (self, txn, peer)
               ? s_stub_entry (self, txn, peer, link_seq, stubbed_p)
               : s_mark_purge_acked (self, txn, peer, link_seq);
        }
        if (rc == 0)
            rc = store_del (self->store, txn, STORE_DB_META, data, size);
    }
    zlistx_destroy (&marks);
    return rc;
}

uint64_t
outbox_last_seq (outbox_t *self, MDB_txn *txn)
{
    return store_meta_u64 (self->store, txn, OUTBOX_META_SEQ);
}

uint64_t
outbox_last_out (outbox_t *self, MDB_txn *txn, const char *peer)
{
    assert (self && peer);
    char name [OUTBOX_META_KEY_MAX];
    s_meta_name (name, OUTBOX_META_LAST_OUT, peer);
    return store_meta_u64 (self->store, txn, name);
}
