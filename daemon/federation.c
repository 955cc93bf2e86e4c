/*  federation: inbound ROUTER, batching, exactly-once apply, and the peers.
 *
 *  Inbound messages are read in batches (all that is waiting, up to a bound)
 *  and applied in one write transaction: one fsync for many events. For each
 *  link, only the event at last_applied + 1 is applied; anything at or below
 *  it is a resend (acknowledged again, not applied), anything above it is a
 *  gap (the sender will go back). Meta key "lin:<region>" is the last link
 *  seq applied from a region; relay.c keeps (origin, seq) for ever, with,
 *  for a relayable event only passed on from here, the region it went to
 *  (a copy that comes back once the case is here is applied; one that
 *  would go the same way again is not).
 *  "linc:<region>" is the sender incarnation whose numbering lin follows: a
 *  sender restored from a backup comes back in a higher one and numbers its
 *  link after `resume_after` (what we had acknowledged to its backup); what it sends
 *  again then is recognised by (origin, seq); "lres:<region>" is how far
 *  its old numbering had come (what it sends up to there is sent again, so
 *  a relayable event's "passed on" record counts as applied). PROTOCOL 4.9.
 */
#include "fault.h"
#include "federation.h"
#include "status.h"
#include "log.h"
#include "authority.h"
#include "endpoint.h"
#include "link.h"
#include "version.h"
#include "zap.h"
#include "monitor.h"
#include "relay.h"
#include "wire.h"
#include "zvh/zvh.h"
#include <sodium.h>

#define FEDERATION_BATCH_MAX           256
#define FEDERATION_META_LAST_IN        "lin:"
#define FEDERATION_META_LINK_INC       "linc:"
#define FEDERATION_META_RESENT         "lres:"  //  link seqs up to here: sent again
#define FEDERATION_META_HELD           "lheld:" //  link seq held and already recorded
#define FEDERATION_KEY_MAX             128
#define FEDERATION_Z85_KEY_LEN         40
#define FEDERATION_HELD                1    //  refused: the link waits at this event
#define FEDERATION_ACK_STORE_MS        100  //  ACKs held in memory at most this long
//  Monitor sockets are read this often instead of polled: every socket in
//  the poller costs two syscalls on every wake-up (libzmq's ZMQ_EVENTS), and
//  a link's monitor doubled that for nothing most of the time.
#define FEDERATION_MONITOR_MS          100
//  ... and this often while every link is settled (up, nothing in flight):
//  then a new connection asks for nothing and a refusal cannot be pending
#define FEDERATION_MONITOR_IDLE_MS     1000
//  The pump runs on its own timers at most this often (the old loop tick):
//  a step that keeps failing (a store error) is not retried in a busy loop
#define FEDERATION_PUMP_MIN_MS         50
#define FEDERATION_OVERTAKEN_IVL_MS    10000    //  peers begin an incarnation this often at most

_Static_assert (OUTBOX_PEER_MAX >= CONFIG_ID_MAX, "a relay target holds a region id");

typedef struct {
    const config_region_t *region;
    zframe_t *routing_id;
    Zvh__V1__LinkFrame frame;       //  the header's fields (no unknown fields kept)
    zframe_t *envelope;
    uint64_t ack;                   //  last applied on this link after the batch
    uint64_t ack_incarnation;       //  whose numbering ack is in
    uint64_t ack_origin_seq;        //  the sender's highest event seq recorded here
    bool resent;                    //  sent again by a restored sender
    const char *held;               //  why the link waits at this event, or NULL
    char held_event [CRISIS_EVENT_ID_MAX];  //  the held event's id ("" if unreadable)
} item_t;

struct _federation_t {
    const config_t *config;
    store_t *store;
    outbox_t *outbox;
    relay_t *relay;                 //  the dedup records
    sigcache_t *verified;           //  signatures that held (the daemon's), or NULL
    transfer_t *transfer;
    crisis_t *crisis;
    audit_t *audit;
    zcert_t *cert;
    zsock_t *router;
    zsock_t *monitor;
    peer_t **peers;
    size_t peer_count;
    item_t batch [FEDERATION_BATCH_MAX];
    size_t batch_size;
    int64_t now_ms;
    int64_t acks_stored_ms;         //  when peers' ACKs were last stored
    int64_t monitors_read_ms;       //  when the monitor sockets were last read
    const char *overtaken_by;       //  a sender has acks of ours this store lacks
    char overtaken_peer [CONFIG_ID_MAX];    //  a link's ACK showed the same, after
    uint64_t overtaken_incarnation;         //  the turn's commit (its own write)
    uint64_t overtaken_seq;
    status_t *status;               //  takes the peers' summaries, NULL = none
    int64_t overtaken_ms;           //  when a peer last made us begin an incarnation
    int64_t monitor_ivl_ms;         //  read them this often
    int64_t next_due_ms;            //  federation_pump has work (0 = at once)
};

static void s_store_acks_due (federation_t *self, int64_t now_ms, bool always);

static int
s_bind (federation_t *self, zcert_t *cert)
{
    self->router = endpoint_bind (cert, self->config->bind, ZAP_DOMAIN_FEDERATION, 0,
                                  &self->monitor);
    return self->router ? 0 : -1;
}

//  A link to every federated region not linked yet (keyed by region id and
//  public key, so a changed key makes a new link).
static int
s_connect_peers (federation_t *self)
{
    const config_t *config = self->config;
    for (size_t i = 0; i < config->region_count; i++) {
        const config_region_t *region = &config->regions [i];
        if (streq (region->id, config->region) || !config_region_is_federated (region)
        ||  config_is_revoked (config, region->public_key))
            continue;
        bool linked = false;
        for (size_t j = 0; j < self->peer_count && !linked; j++)
            linked = peer_matches (self->peers [j], region);
        if (linked)
            continue;
        peer_t *peer = peer_new (region, self->cert, config, self->store, self->outbox);
        if (!peer)
            return -1;
        self->peers [self->peer_count++] = peer;
    }
    return 0;
}

void
federation_reload (federation_t *self, const config_t *config, bool withdrawn)
{
    assert (self && config);
    self->config = config;
    if (withdrawn)
        endpoint_rebind (self->router, ZAP_DOMAIN_FEDERATION);
    size_t kept = 0;
    for (size_t i = 0; i < self->peer_count; i++) {
        peer_t *peer = self->peers [i];
        const config_region_t *region = config_region (self->config, peer_region (peer));
        if (region && config_region_is_federated (region) && peer_matches (peer, region)
        &&  !config_is_revoked (self->config, region->public_key)) {
            peer_set_config (peer, config);
            self->peers [kept++] = peer;
        }
        else {
            log_info ("federation: link to %s closed (left the directory, new key, "
                       "or revoked)", peer_region (peer));
            peer_destroy (&peer);
        }
    }
    self->peer_count = kept;
    self->next_due_ms = 0;          //  new links say hello at once
    if (s_connect_peers (self))
        log_error ("federation: could not open every new link after reload");
}

federation_t *
federation_new (const config_t *config, zcert_t *cert, store_t *store,
                outbox_t *outbox, transfer_t *transfer, crisis_t *crisis,
                audit_t *audit)
{
    assert (config && cert && store && outbox && transfer && crisis && audit);
    federation_t *self = (federation_t *) zmalloc (sizeof (federation_t));
    self->config = config;
    self->store = store;
    self->outbox = outbox;
    self->relay = relay_new (store);
    self->transfer = transfer;
    self->crisis = crisis;
    self->audit = audit;
    self->cert = cert;
    self->peers = (peer_t **) zmalloc (sizeof (peer_t *) * (CONFIG_REGIONS_MAX + 1));
    if (s_bind (self, cert) || s_connect_peers (self)) {
        federation_destroy (&self);
        return NULL;
    }
    return self;
}

void
federation_destroy (federation_t **self_p)
{
    assert (self_p);
    federation_t *self = *self_p;
    if (!self)
        return;
    s_store_acks_due (self, zclock_time (), true);
    for (size_t i = 0; i < self->peer_count; i++)
        peer_destroy (&self->peers [i]);
    free (self->peers);
    relay_destroy (&self->relay);
    endpoint_close (&self->router, &self->monitor);
    free (self);
    *self_p = NULL;
}

void
federation_poll_add (federation_t *self, pollset_t *pollset)
{
    assert (self);
    pollset_add_socket (pollset, self->router);
    for (size_t i = 0; i < self->peer_count; i++)
        pollset_add_counted (pollset, peer_socket (self->peers [i]),
                             peer_socket_ops (self->peers [i]));
}

size_t
federation_peer_count (federation_t *self)
{
    assert (self);
    return self->peer_count;
}

peer_t *
federation_peer (federation_t *self, size_t index)
{
    assert (self);
    return index < self->peer_count ? self->peers [index] : NULL;
}

void
federation_wake (federation_t *self)
{
    assert (self);
    for (size_t i = 0; i < self->peer_count; i++)
        peer_wake (self->peers [i]);
    self->next_due_ms = 0;
}

static void
s_wake_after (void *arg, bool committed)
{
    if (committed)
        federation_wake ((federation_t *) arg);
}

void
federation_wake_after_commit (federation_t *self)
{
    assert (self);
    store_after_commit (self->store, s_wake_after, self);
}

//  Record every peer's newest ACK in txn.
static int
s_store_acks (MDB_txn *txn, void *arg)
{
    federation_t *self = (federation_t *) arg;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < self->peer_count; i++)
        rc = peer_store_ack (self->peers [i], txn);
    return rc;
}

static void
s_acks_stored (federation_t *self, int64_t now_ms)
{
    for (size_t i = 0; i < self->peer_count; i++)
        peer_ack_stored (self->peers [i]);
    self->acks_stored_ms = now_ms;
}

//  ACKs ride along with inbound batches; held longer than this, they get
//  a transaction of their own (one for all peers).
static void
s_store_acks_due (federation_t *self, int64_t now_ms, bool always)
{
    bool pending = false;
    for (size_t i = 0; i < self->peer_count && !pending; i++)
        pending = peer_ack_pending (self->peers [i]);
    if (pending && (always || now_ms - self->acks_stored_ms >= FEDERATION_ACK_STORE_MS)
    &&  store_write (self->store, s_store_acks, self) == 0)
        s_acks_stored (self, now_ms);
}

static int64_t
s_earlier (int64_t due_ms, int64_t other_ms)
{
    return other_ms < due_ms ? other_ms : due_ms;
}

//  The first timer of any link, the monitors' and the held ACKs'; never
//  sooner than FEDERATION_PUMP_MIN_MS after now.
static int64_t
s_next_due (federation_t *self, int64_t now_ms)
{
    bool settled = true, pending = false;
    int64_t due_ms = INT64_MAX;
    for (size_t i = 0; i < self->peer_count; i++) {
        due_ms = s_earlier (due_ms, peer_next_due_ms (self->peers [i]));
        settled = settled && peer_is_settled (self->peers [i], now_ms);
        pending = pending || peer_ack_pending (self->peers [i]);
    }
    self->monitor_ivl_ms = settled ? FEDERATION_MONITOR_IDLE_MS : FEDERATION_MONITOR_MS;
    due_ms = s_earlier (due_ms, self->monitors_read_ms + self->monitor_ivl_ms);
    if (pending)
        due_ms = s_earlier (due_ms, self->acks_stored_ms + FEDERATION_ACK_STORE_MS);
    return due_ms > now_ms + FEDERATION_PUMP_MIN_MS ? due_ms
                                                    : now_ms + FEDERATION_PUMP_MIN_MS;
}

void
federation_pump (federation_t *self, int64_t now_ms)
{
    assert (self);
    if (now_ms < self->next_due_ms)
        return;
    if (now_ms - self->monitors_read_ms >= self->monitor_ivl_ms) {
        self->monitors_read_ms = now_ms;
        while (zsock_events (self->monitor) & ZMQ_POLLIN)
            monitor_recv (self->monitor, "federation", true);
        for (size_t i = 0; i < self->peer_count; i++)
            peer_recv_monitor (self->peers [i]);
    }
    for (size_t i = 0; i < self->peer_count; i++)
        peer_pump (self->peers [i], now_ms);
    s_store_acks_due (self, now_ms, false);
    self->next_due_ms = s_next_due (self, now_ms);
}

int64_t
federation_next_due_ms (federation_t *self)
{
    assert (self);
    return self->next_due_ms;
}

//  ---------------------------------------------------------------- inbound

static void
s_meta_name (char *name, const char *kind, const char *region)
{
    snprintf (name, FEDERATION_KEY_MAX, "%s%s", kind, region);
}

//  A data frame carries an envelope at a link seq after the sender's floor
//  (what it still holds starts after the floor): a floor at or past the
//  frame's own seq would make the receiver skip events that were never lost.
static bool
s_data_frame_sane (const item_t *item)
{
    const char *why = !item->envelope ? "no envelope"
                    : item->frame.link_seq == 0 ? "link seq 0"
                    : item->frame.floor >= item->frame.link_seq
                    ? "floor at or past its own link seq"
                    : NULL;
    if (why)
        log_warning ("federation: event frame from %s refused: %s (link seq %" PRIu64
                      ", floor %" PRIu64 ")", item->region->id, why,
                      item->frame.link_seq, item->frame.floor);
    return why == NULL;
}

//  Read one message into the next batch item; false if it was not usable.
//  A frame from a region speaking another major version is not handled;
//  its version is noted on our link to it, for status and the log.
static bool
s_version_ok (federation_t *self, const config_region_t *region,
              const Zvh__V1__LinkFrame *frame)
{
    for (size_t i = 0; i < self->peer_count; i++)
        if (streq (peer_region (self->peers [i]), region->id))
            return peer_version_seen (self->peers [i], frame->version_major,
                                      frame->version_minor, zclock_time ());
    return version_compatible (frame->version_major, frame->version_minor);
}

static bool
s_read_item (federation_t *self, item_t *item)
{
    zmsg_t *msg = zmsg_recv (self->router);
    if (!msg)
        return false;
    memset (item, 0, sizeof *item);
    Zvh__V1__LinkFrame none = ZVH__V1__LINK_FRAME__INIT;
    item->frame = none;
    item->routing_id = zmsg_pop (msg);
    zframe_t *header = zmsg_pop (msg);
    item->envelope = zmsg_pop (msg);
    size_t extra = zmsg_size (msg);
    zmsg_destroy (&msg);
    //  Metadata from a body frame: the routing-id frame may lack it (libzmq < 4.3.5)
    const char *key = header ? zframe_meta (header, "User-Id") : NULL;
    item->region = key && strlen (key) == FEDERATION_Z85_KEY_LEN
                 ? config_region_by_key (self->config, key) : NULL;
    Zvh__V1__LinkFrame *frame = header
        ? WIRE_DECODE (Zvh__V1__LinkFrame, zvh__v1__link_frame,
                       zframe_data (header), zframe_size (header))
        : NULL;
    bool well_formed = item->region && frame && extra == 0;
    //  Another major version is logged by the peer's link, once per interval
    bool usable = well_formed && s_version_ok (self, item->region, frame);
    //  Counted, not committed, per frame: any admitted key could otherwise
    //  make the daemon fsync once per frame it sends
    if (!item->region) {
        if (audit_note_refusal (self->audit, key, "federation",
                                "not a region key (partner key, unknown or revoked)",
                                zclock_time ()))
            log_warning ("federation: message from key %s refused: not a region in "
                          "the directory (a partner key, or revoked); its refused frames "
                          "are counted in the audit trail", key ? key : "none");
    }
    else
    if (!well_formed)
        log_warning ("federation: malformed message from %s refused", item->region->id);
    if (frame) {
        item->frame.kind = frame->kind;
        item->frame.link_seq = frame->link_seq;
        item->frame.incarnation = frame->incarnation;
        item->frame.resume_after = frame->resume_after;
        item->frame.floor = frame->floor;
        wire_free (&frame->base);
    }
    zframe_destroy (&header);
    if (usable && item->frame.kind == ZVH__V1__LINK_FRAME__KIND__KIND_DATA)
        usable = s_data_frame_sane (item);
    if (usable && item->frame.kind == ZVH__V1__LINK_FRAME__KIND__KIND_STATUS) {
        //  The sender's summary for the status page (4.10); acknowledged
        //  as a PING is, kept only if it is the sender's own and well formed
        if (self->status && item->envelope)
            status_take (self->status, item->region->id, zframe_data (item->envelope),
                         zframe_size (item->envelope), zclock_time ());
        zframe_destroy (&item->envelope);
    }
    if (!usable) {
        zframe_destroy (&item->routing_id);
        zframe_destroy (&item->envelope);
    }
    return usable;
}

static const char *
s_type_name (int type)
{
    static const char *const names [] = {
        "event", "transfer offer", "transfer accept", "transfer reject",
        "transfer complete", "plan update", "plan proposal", "signal raise",
        "signal event" };
    return type > 0 && (size_t) type < sizeof names / sizeof names [0] ? names [type]
                                                                      : names [0];
}

//  Apply an authenticated event unless (origin, seq) was applied here
//  before; a relayable event only passed on from here is looked at again.
static int
s_take (federation_t *self, MDB_txn *txn, const char *from,
        const Zvh__V1__Envelope *envelope, const audit_entry_t *entry, bool resent)
{
    outbox_relay_t relay;
    memset (&relay, 0, sizeof relay);
    relay_taken_t taken;
    int rc = relay_seen (self->relay, txn, envelope->origin, envelope->seq, &taken, &relay);
    if (rc)
        return rc;
    //  A copy sent again by a restored sender is never looked at again:
    //  only one that came back by another path may be (4.6)
    if (taken == RELAY_APPLIED || (taken == RELAY_PASSED_ON && resent)) {
        log_info ("federation: event %s/%" PRIu64 " was applied before; not again",
                   envelope->origin, envelope->seq);
        return 0;
    }
    bool signal = envelope->type == ZVH__V1__ENVELOPE__TYPE__TYPE_SIGNAL_RAISE
               || envelope->type == ZVH__V1__ENVELOPE__TYPE__TYPE_SIGNAL_EVENT;
    rc = signal ? crisis_apply (self->crisis, txn, from, envelope, &relay, self->now_ms)
                : transfer_apply (self->transfer, txn, from, envelope, &relay,
                                  self->now_ms);
    if (rc == 0 && !relay.unplaced)
        rc = relay_record (self->relay, txn, envelope->origin, envelope->seq, &relay,
                           self->now_ms);
    //  Every ACK to origin carries it, so a copy of origin's store learns
    //  which ids it gave (4.9)
    if (rc == 0)
        rc = relay_note_origin_seq (self->relay, txn, envelope->origin, envelope->seq);
    if (rc == 0)
        rc = audit_record (self->audit, txn, entry, self->now_ms);
    return rc;
}

//  What this region knows of the event's case, for the authority table.
typedef struct {
    authority_case_t view;
    Zvh__V1__Case *found;
} case_here_t;

static void
s_case_here (federation_t *self, MDB_txn *txn, const char *case_id, case_here_t *here)
{
    memset (here, 0, sizeof *here);
    here->found = *case_id ? transfer_case (self->transfer, txn, case_id) : NULL;
    if (here->found) {
        here->view.known = true;
        here->view.state = here->found->state;
        here->view.owner = here->found->owner;
        here->view.partner = here->found->partner;
        here->view.transfer_id = here->found->transfer_id;
        here->view.custody = here->found->custody;
    }
}

//  Why the table refuses the event, or NULL: facts read, case looked up.
static const char *
s_refusal (federation_t *self, MDB_txn *txn, const char *from,
           const Zvh__V1__Envelope *envelope)
{
    authority_event_t event;
    const char *why = authority_read (self->config, self->verified, envelope, from,
                                      outbox_incarnation (self->outbox) > 0, &event);
    if (why)
        return why;
    case_here_t here;
    s_case_here (self, txn, event.case_id, &here);
    why = authority_decide (&event, &here.view);
    wire_free (here.found ? &here.found->base : NULL);
    return why;
}

static void
s_audit_entry (audit_entry_t *entry, const char *from, const Zvh__V1__Envelope *envelope,
               const char *event_id, const char *refusal)
{
    audit_entry_t made = { .action = refusal ? "refuse" : "receive",
                           .outcome = refusal ? "refused" : "ok", .actor = from,
                           .actor_role = "region", .on_behalf = envelope->origin,
                           .purpose = "levensloopaanpak: federation between regions",
                           .case_id = envelope->case_id, .source = "federation",
                           .detail = refusal ? refusal : s_type_name (envelope->type),
                           .event_id = event_id };
    *entry = made;
}

//  An honest stub is of the sender's own event that carried a plan, about
//  a case with a valid id (4.6): nothing else may skip the signature check.
static bool
s_stub_honest (const Zvh__V1__Envelope *envelope, const char *from)
{
    return outbox_holds_plan (envelope->type) && streq (envelope->origin, from)
        && authority_id_valid (envelope->case_id);
}

//  The sender purged this event's content with its case's plan before it
//  could send it (again, to this restored store): nothing to apply, and no
//  dedup record, so a copy with content that comes by another path is still
//  applied. Logged and audited as lost; the link goes on (4.6 rule 3).
static int
s_take_purged (federation_t *self, MDB_txn *txn, const char *from,
               const Zvh__V1__Envelope *envelope, const char *event_id)
{
    outbox_relay_t relay;
    memset (&relay, 0, sizeof relay);
    relay_taken_t taken;
    int rc = relay_seen (self->relay, txn, envelope->origin, envelope->seq, &taken, &relay);
    if (rc || taken == RELAY_APPLIED) {
        if (rc == 0)
            log_info ("federation: stub of event %s from %s: applied here before; "
                      "nothing lost", event_id, from);
        return rc;
    }
    log_warning ("federation: event %s (%s, case %.64s) from %s comes without its "
                  "content: %s purged it with the case's plan (tombstone or close); "
                  "nothing applied", event_id, s_type_name (envelope->type),
                  envelope->case_id, from, from);
    audit_entry_t entry = { .action = "receive", .outcome = "lost", .actor = from,
                            .actor_role = "region", .on_behalf = envelope->origin,
                            .purpose = "levensloopaanpak: federation between regions",
                            .case_id = envelope->case_id, .source = "federation",
                            .detail = "purged at the sender with the case's plan",
                            .event_id = event_id };
    return audit_record (self->audit, txn, &entry, self->now_ms);
}

//  Apply one event that is next in its link's order, in its own nested
//  transaction. A refused event is recorded and its link goes on (only its
//  sender's traffic is at stake); one whose signature does not verify holds
//  its link (item->held) until the directory or the peer is fixed.
typedef struct {
    federation_t *self;
    item_t *item;
} apply_args_t;

static int
s_apply_event (MDB_txn *txn, void *arg)
{
    federation_t *self = ((apply_args_t *) arg)->self;
    item_t *item = ((apply_args_t *) arg)->item;
    const char *from = item->region->id;
    Zvh__V1__Envelope *envelope = WIRE_DECODE (
        Zvh__V1__Envelope, zvh__v1__envelope,
        zframe_data (item->envelope), zframe_size (item->envelope));
    if (!envelope) {
        item->held = "malformed event (not an Envelope)";
        return FEDERATION_HELD;
    }
    char *event_id = item->held_event;
    snprintf (event_id, sizeof item->held_event, "%.*s/%" PRIu64, CONFIG_ID_MAX - 1,
              envelope->origin, envelope->seq);
    //  What no honest daemon sends holds the sender's link (4.5): another
    //  region's name on an event that is never passed on, a bad signature
    bool relayable = envelope->type == ZVH__V1__ENVELOPE__TYPE__TYPE_SIGNAL_RAISE
                  || envelope->type == ZVH__V1__ENVELOPE__TYPE__TYPE_PLAN_PROPOSAL;
    if (!streq (envelope->origin, from) && !relayable) {
        log_warning ("federation: %s sent an event as region '%.64s': refused (a "
                      "region speaks only for itself)", from, envelope->origin);
        item->held = "a region sent an event in another region's name";
    }
    if (!item->held && envelope->purged && !s_stub_honest (envelope, from)) {
        log_warning ("federation: stub %s from %s refused: a region purges only its own "
                      "offers, plan updates and proposals", event_id, from);
        item->held = "a stub of an event its sender did not make, or of no plan";
    }
    if (!item->held && envelope->purged) {
        int rc = s_take_purged (self, txn, from, envelope, event_id);
        wire_free (&envelope->base);
        return rc;
    }
    const char *unsigned_why = item->held ? NULL
                             : authority_signature_error (self->config, self->verified,
                                                          envelope);
    if (unsigned_why) {
        log_warning ("federation: event %s from %s refused: %s", event_id, from,
                      unsigned_why);
        item->held = unsigned_why;
    }
    if (item->held) {
        wire_free (&envelope->base);
        return FEDERATION_HELD;
    }
    //  What the table refuses may be an honest race (a stale answer): the
    //  link goes on, and the refusal is recorded once, with the event
    const char *refusal = s_refusal (self, txn, from, envelope);
    audit_entry_t entry;
    s_audit_entry (&entry, from, envelope, event_id, refusal);
    int rc;
    if (refusal) {
        log_warning ("federation: event %s (%s, case %.64s) from %s refused: %s",
                      event_id, s_type_name (envelope->type), envelope->case_id, from,
                      refusal);
        rc = audit_record (self->audit, txn, &entry, self->now_ms);
    }
    else
        rc = s_take (self, txn, from, envelope, &entry, item->resent);
    wire_free (&envelope->base);
    return rc;
}

//  Store errors that are the store's, not the event's: the whole batch
//  fails and is tried again (a full map grows first).
static bool
s_store_fault (int rc)
{
    return rc == MDB_MAP_FULL || rc == MDB_TXN_FULL || rc == ENOSPC || rc == EIO
        || rc == ENOMEM || rc == ZVH_E_FULL || rc == ZVH_E_STORE;
}

//  The link waits at this event: logged and audited once per event, not on
//  every resend (a refusal that cost a commit each time would let one
//  region stall this daemon).
static int
s_hold (federation_t *self, MDB_txn *txn, item_t *item, const char *why)
{
    char name [FEDERATION_KEY_MAX], held [FEDERATION_KEY_MAX + CRISIS_EVENT_ID_MAX];
    s_meta_name (name, FEDERATION_META_HELD, item->region->id);
    int size = snprintf (held, sizeof held, "%" PRIu64 " %s", item->frame.link_seq,
                         item->held_event);
    MDB_val seen;
    int rc = store_get (self->store, txn, STORE_DB_META, name, strlen (name), &seen);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    if (rc == 0 && seen.mv_size == (size_t) size && memcmp (seen.mv_data, held, seen.mv_size) == 0)
        return 0;
    log_error ("federation: link from %s held at seq %" PRIu64 ": %s; it waits until "
                "%s sends a valid event there or the directory is fixed",
                item->region->id, item->frame.link_seq, why, item->region->id);
    audit_entry_t entry = { .action = "refuse", .outcome = "refused",
                            .actor = item->region->id, .actor_role = "region",
                            .source = "federation", .detail = why,
                            .event_id = item->held_event };
    rc = audit_record (self->audit, txn, &entry, self->now_ms);
    return rc ? rc : store_put (self->store, txn, STORE_DB_META, name, strlen (name),
                                held, (size_t) size, 0);
}

//  One event in its nested transaction: 0 (applied or refused), HELD, or a
//  store fault for the whole batch.
static int
s_apply_isolated (federation_t *self, MDB_txn *txn, item_t *item)
{
    apply_args_t args = { self, item };
    item->held = NULL;
    item->held_event [0] = 0;
    int rc = store_nested (self->store, txn, s_apply_event, &args);
    if (rc == 0 || s_store_fault (rc))
        return rc;
    if (rc != FEDERATION_HELD) {
        //  The event broke the store's rules (a bad key...): its link only
        item->held = "the event could not be stored";
        log_error ("federation: event at link seq %" PRIu64 " from %s could not be "
                    "applied: %s", item->frame.link_seq, item->region->id,
                    STORE_IS_APP_CODE (rc) ? zvh_strerror (rc) : mdb_strerror (rc));
    }
    rc = s_hold (self, txn, item, item->held);
    return rc ? rc : FEDERATION_HELD;
}

//  The sender is in a higher incarnation (restored from a backup): its link
//  goes on after resume_after; never forward of what was applied here.
static int
s_follow_incarnation (federation_t *self, MDB_txn *txn, item_t *item,
                      const link_in_t *state, const link_in_step_t *step)
{
    const char *from = item->region->id;
    char name [FEDERATION_KEY_MAX];
    log_warning ("federation: %s was restored from a backup (incarnation %" PRIu64 "); "
                  "its link continues after seq %" PRIu64 " (we had applied %" PRIu64
                  "); what it sends again is recognised by event id", from,
                  step->next.linc, step->followed_lin, state->lin);
    s_meta_name (name, FEDERATION_META_LINK_INC, from);
    int rc = store_set_meta_u64 (self->store, txn, name, step->next.linc);
    s_meta_name (name, FEDERATION_META_LAST_IN, from);
    if (rc == 0)
        rc = store_set_meta_u64 (self->store, txn, name, step->followed_lin);
    //  Up to where we had been, its link now carries what it sends again
    s_meta_name (name, FEDERATION_META_RESENT, from);
    if (rc == 0)
        rc = store_set_meta_u64 (self->store, txn, name, step->next.lres);
    return rc;
}

//  The sender no longer holds the events after lin (older than its
//  retention, after we were restored): loud, and the link goes on.
static int
s_skip_hole (federation_t *self, MDB_txn *txn, item_t *item, const link_in_step_t *step)
{
    const char *from = item->region->id;
    log_error ("federation: events at link seqs %" PRIu64 "-%" PRIu64 " from %s are "
                "gone: %s no longer holds them (this store was restored from a backup "
                "older than %s's link_retention_days); they are lost for this region",
                step->hole_from, item->frame.floor, from, from, from);
    audit_entry_t entry = { .action = "refuse", .outcome = "lost", .actor = from,
                            .actor_role = "region", .source = "federation",
                            .detail = "restored store: events older than the sender's "
                                      "retention cannot be sent again" };
    char name [FEDERATION_KEY_MAX];
    s_meta_name (name, FEDERATION_META_LAST_IN, from);
    int rc = store_set_meta_u64 (self->store, txn, name, item->frame.floor);
    if (rc == 0)
        rc = audit_record (self->audit, txn, &entry, self->now_ms);
    return rc;
}

//  The link's stored state for region.
static void
s_read_link_in (federation_t *self, MDB_txn *txn, const char *region, link_in_t *state)
{
    char name [FEDERATION_KEY_MAX];
    s_meta_name (name, FEDERATION_META_LAST_IN, region);
    state->lin = store_meta_u64 (self->store, txn, name);
    s_meta_name (name, FEDERATION_META_LINK_INC, region);
    state->linc = store_meta_u64 (self->store, txn, name);
    s_meta_name (name, FEDERATION_META_RESENT, region);
    state->lres = store_meta_u64 (self->store, txn, name);
}

//  The event link_receive said is next, applied or held; lin moves on if
//  it was applied.
static int
s_apply_next (federation_t *self, MDB_txn *txn, item_t *item, link_in_step_t *step)
{
    item->resent = step->resent;
    int rc = s_apply_isolated (self, txn, item);
    if (rc == FEDERATION_HELD)
        link_held (step, &item->frame);
    if (rc == 0) {
        char name [FEDERATION_KEY_MAX];
        s_meta_name (name, FEDERATION_META_LAST_IN, item->region->id);
        rc = store_set_meta_u64 (self->store, txn, name, step->next.lin);
    }
    return rc;
}

//  One item in link order, as link_receive decides it (PROTOCOL 4.6, 4.9):
//  follow a new incarnation, skip a hole, apply the next event. Sets the
//  item's ack. Returns 0 or an LMDB code.
static int
s_apply_item (federation_t *self, MDB_txn *txn, item_t *item)
{
    link_in_t state;
    s_read_link_in (self, txn, item->region->id, &state);
    link_in_step_t step;
    link_receive (&state, &item->frame, &step);
    int rc = step.follow ? s_follow_incarnation (self, txn, item, &state, &step) : 0;
    if (rc == 0 && step.hole)
        rc = s_skip_hole (self, txn, item, &step);
    if (rc == 0 && step.action == LINK_APPLY)
        rc = s_apply_next (self, txn, item, &step);
    if (rc != 0 && rc != FEDERATION_HELD)
        return rc;
    //  The sender has our acks for more than this store applied: the store
    //  is an older copy (4.9); a new incarnation makes the sender go back
    if (step.overtaken)
        self->overtaken_by = item->region->id;
    item->ack = step.ack_seq;
    item->ack_incarnation = step.ack_incarnation;
    item->ack_origin_seq = relay_origin_seq (self->relay, txn, item->region->id);
    return 0;
}

static int
s_apply_batch (MDB_txn *txn, void *arg)
{
    federation_t *self = (federation_t *) arg;
    self->overtaken_by = NULL;      //  the batch may run again (a map grown)
    for (size_t i = 0; i < self->batch_size; i++) {
        int rc = s_apply_item (self, txn, &self->batch [i]);
        if (rc)
            return rc;
    }
    return s_store_acks (txn, self);
}

//  One ACK per sender connection, for the last item from it.
static void
s_send_acks (federation_t *self)
{
    for (size_t i = 0; i < self->batch_size; i++) {
        item_t *item = &self->batch [i];
        bool later = false;
        for (size_t j = i + 1; j < self->batch_size && !later; j++)
            later = zframe_eq (item->routing_id, self->batch [j].routing_id);
        if (later)
            continue;
        Zvh__V1__LinkFrame ack = ZVH__V1__LINK_FRAME__INIT;
        ack.kind = ZVH__V1__LINK_FRAME__KIND__KIND_ACK;
        ack.link_seq = item->ack;
        ack.link_incarnation = item->ack_incarnation;
        ack.incarnation = outbox_incarnation (self->outbox);
        ack.origin_seq = item->ack_origin_seq;
        ack.version_major = version_major;
        ack.version_minor = version_minor;
        uint8_t bytes [WIRE_LINK_FRAME_MAX];
        size_t size = protobuf_c_message_pack (&ack.base, bytes);
        zframe_t *routing_id = zframe_dup (item->routing_id);
        //  A sender gone since is no error: it will ping and hear again
        if (zframe_send (&routing_id, self->router, ZFRAME_MORE | ZFRAME_DONTWAIT) == 0)
            zmq_send (zsock_resolve (self->router), bytes, size, ZMQ_DONTWAIT);
        zframe_destroy (&routing_id);
    }
}

//  A peer showed that this store is an older copy of this region's (a
//  snapshot, a file copy, a backup without its stamp): begin an incarnation
//  above what the peer knows, and number every link again (4.9). At most
//  once per interval: a hostile peer could otherwise make every link
//  resynchronise on every frame; an honest one shows it again.
static void
s_overtaken (federation_t *self, const char *by, uint64_t incarnation, uint64_t seq)
{
    if (self->overtaken_ms && self->now_ms - self->overtaken_ms < FEDERATION_OVERTAKEN_IVL_MS)
        return;
    self->overtaken_ms = self->now_ms;
    if (outbox_overtaken (self->outbox, by, incarnation, seq, self->now_ms))
        return;                     //  logged; the peer will show it again
    for (size_t i = 0; i < self->peer_count; i++)
        peer_restart (self->peers [i]);
    self->next_due_ms = 0;          //  every link sends again at the next pump
}

//  Beginning an incarnation renumbers every link: done in a commit of its
//  own after the turn's, so that no send reads a half-renumbered outbox.
static void
s_overtaken_after (void *arg, bool committed)
{
    (void) committed;               //  the peer's evidence stands either way
    federation_t *self = (federation_t *) arg;
    s_overtaken (self, self->overtaken_peer, self->overtaken_incarnation,
                 self->overtaken_seq);
    *self->overtaken_peer = 0;
}

static void
s_clear_batch (federation_t *self)
{
    for (size_t i = 0; i < self->batch_size; i++) {
        zframe_destroy (&self->batch [i].routing_id);
        zframe_destroy (&self->batch [i].envelope);
    }
    self->batch_size = 0;
}

//  A batch of heartbeats only (PINGs) changed nothing to send.
static bool
s_batch_has_events (federation_t *self)
{
    for (size_t i = 0; i < self->batch_size; i++)
        if (self->batch [i].frame.kind == ZVH__V1__LINK_FRAME__KIND__KIND_DATA)
            return true;
    return false;
}

//  After the turn's commit: ACK what is now on disk, and send what the
//  applied events queued. Nothing is acked if the commit failed.
static void
s_batch_done (void *arg, bool committed)
{
    federation_t *self = (federation_t *) arg;
    if (committed && s_batch_has_events (self))
        fault_point ("federation_batch");
    if (committed) {
        if (self->overtaken_by)
            s_overtaken (self, self->overtaken_by, 0, 0);
        s_send_acks (self);
        if (s_batch_has_events (self))
            federation_wake (self); //  applied events may have queued answers
    }
    else
        log_error ("federation: the turn holding %zu inbound message(s) did not commit: "
                    "nothing acked, the senders will resend", self->batch_size);
    self->overtaken_by = NULL;
    s_clear_batch (self);
}

static void
s_recv_batch (federation_t *self, int64_t now_ms)
{
    self->now_ms = now_ms;
    while (self->batch_size < FEDERATION_BATCH_MAX
       &&  (zsock_events (self->router) & ZMQ_POLLIN))
        if (s_read_item (self, &self->batch [self->batch_size]))
            self->batch_size++;
    if (self->batch_size == 0)
        return;
    int rc = store_write (self->store, s_apply_batch, self);
    if (rc) {
        //  Nothing stored, nothing acked: the senders will resend
        log_error ("federation: could not store %zu inbound message(s): %s",
                    self->batch_size, zvh_strerror (rc));
        s_clear_batch (self);
        return;
    }
    s_acks_stored (self, now_ms);   //  if the turn fails, they are only resent
    store_after_commit (self->store, s_batch_done, self);
}

void
federation_set_verified (federation_t *self, sigcache_t *verified)
{
    assert (self);
    self->verified = verified;
}

void
federation_set_status (federation_t *self, status_t *status)
{
    assert (self);
    self->status = status;
}

bool
federation_handle (federation_t *self, void *socket, int64_t now_ms)
{
    assert (self);
    if (socket == self->router) {
        s_recv_batch (self, now_ms);
        return true;
    }
    for (size_t i = 0; i < self->peer_count; i++) {
        peer_t *peer = self->peers [i];
        if (socket == peer_socket (peer)) {
            peer_recv (peer, now_ms);
            self->now_ms = now_ms;
            uint64_t incarnation, seq;
            if (peer_overtaken (peer, &incarnation, &seq) && !*self->overtaken_peer) {
                snprintf (self->overtaken_peer, sizeof self->overtaken_peer, "%s",
                          peer_region (peer));
                self->overtaken_incarnation = incarnation;
                self->overtaken_seq = seq;
                store_after_commit (self->store, s_overtaken_after, self);
            }
            //  An ACK opens the window and is held for storing: only this
            //  link's timers moved
            self->next_due_ms = s_earlier (self->next_due_ms, peer_next_due_ms (peer));
            if (peer_ack_pending (peer))
                self->next_due_ms = s_earlier (self->next_due_ms,
                                               self->acks_stored_ms + FEDERATION_ACK_STORE_MS);
            return true;
        }
    }
    return false;
}
