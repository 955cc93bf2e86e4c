/*  peer: go-back-N delivery of one peer's outbox over a CURVE DEALER.
 *
 *  In memory: `acked` (the peer's last cumulative ack, also durable in the
 *  outbox) and `sent` (the last link seq handed to ZeroMQ). Sends use
 *  ZMQ_IMMEDIATE, so while the link is down nothing queues inside ZeroMQ:
 *  the outbox on disk is the only queue, and it survives kill -9.
 *
 *  Restore resync (docs/PROTOCOL.md 4.9): every frame carries this region's
 *  incarnation; an ACK counts only if it is in this incarnation's numbering.
 *  An ACK from a peer in a higher incarnation than seen before, for less
 *  than it had acknowledged, means the peer was restored: go back and send
 *  again what is still held. Meta "rinc:<peer>" is the peer's incarnation.
 *  An ACK that follows a later incarnation of ours, or acknowledges a link
 *  seq or event seq this store never made, shows this store is an older
 *  copy (peer_overtaken): the federation begins a new incarnation.
 */
#include "peer.h"
#include "log.h"
#include "endpoint.h"
#include "link.h"
#include "monitor.h"
#include "version.h"
#include "wire.h"
#include "zvh/zvh.h"

#define PEER_NAME_MAX          (CONFIG_ID_MAX + 8)
#define PEER_META_INC          "rinc:"
#define PEER_META_KEY_MAX      (CONFIG_ID_MAX + 8)
#define PEER_PRUNE_IVL_MS      (60 * 1000)  //  acked entries past retention go this often
#define PEER_RECV_BATCH        256          //  frames read per call
#define PEER_RECONNECT_IVL_MS  100
#define PEER_RECONNECT_MAX_MS  2000
#define PEER_VERSION_LOG_MS    10000        //  a version mismatch is logged this often
#define PEER_VERSION_MAX       24           //  "4294967295.4294967295"

struct _peer_t {
    const config_t *config;
    store_t *store;
    outbox_t *outbox;
    char region [CONFIG_ID_MAX];
    char endpoint [CONFIG_ENDPOINT_MAX];
    char public_key [CONFIG_KEY_Z85_LEN + 1];
    char name [PEER_NAME_MAX];      //  for log lines
    zsock_t *dealer;
    uint64_t dealer_ops;            //  sends, receives, redials on it (pollset_add_counted)
    zsock_t *monitor;
    link_out_t link;                //  acked, sent, timeout: the link's rules decide
    uint64_t floor;                 //  entries after this are still held
    bool acked_known;               //  acked read from the store yet
    bool ack_pending;               //  acked is ahead of the store
    int64_t next_prune_ms;
    int64_t last_send_ms;
    int64_t last_seen_ms;
    bool wake;                      //  outbox may have grown
    int64_t redial_ms;              //  after a refused handshake: connect again then
    char version [PEER_VERSION_MAX];    //  the peer's protocol version, "" = not heard
    int64_t up_since_ms;            //  first frame after it was last down
    int64_t version_logged_ms;      //  last "speaks another major version" line
};

#define PEER_REDIAL_MS  1000        //  wait before dialling again after a refusal

static int
s_configure (peer_t *self, const config_region_t *region, zcert_t *cert)
{
    zsock_t *sock = self->dealer;
    zcert_apply (cert, sock);
    zsock_set_curve_serverkey (sock, region->public_key);
    zsock_set_immediate (sock, 1);
    zsock_set_linger (sock, 0);
    zsock_set_maxmsgsize (sock, WIRE_MAX_FRAME_BYTES);
    zsock_set_sndhwm (sock, self->config->window * 2 + 1);
    zsock_set_rcvhwm (sock, self->config->window * 2 + 1);
    zsock_set_reconnect_ivl (sock, PEER_RECONNECT_IVL_MS);
    zsock_set_reconnect_ivl_max (sock, PEER_RECONNECT_MAX_MS);
    //  No ZMTP heartbeats: with a full inbound pipe, libzmq 4.3.4 aborts on
    //  a heartbeat after the peer died (libzmq#4364; tests/chaos has the
    //  reproduction). The link's own PING/ACK detects dead peers instead.
    self->monitor = monitor_attach (sock, self->name);
    if (!self->monitor)
        return -1;
    return zsock_connect (sock, "%s", region->endpoint);
}

peer_t *
peer_new (const config_region_t *region, zcert_t *cert, const config_t *config,
          store_t *store, outbox_t *outbox)
{
    assert (region && cert && config && store && outbox);
    peer_t *self = (peer_t *) zmalloc (sizeof (peer_t));
    self->config = config;
    self->store = store;
    self->outbox = outbox;
    snprintf (self->region, sizeof self->region, "%s", region->id);
    snprintf (self->endpoint, sizeof self->endpoint, "%s", region->endpoint);
    snprintf (self->public_key, sizeof self->public_key, "%s", region->public_key);
    snprintf (self->name, sizeof self->name, "peer %s", region->id);
    self->link.rto_ms = config->retry_min_ms;
    self->wake = true;
    self->dealer = zsock_new (ZMQ_DEALER);
    if (!self->dealer || s_configure (self, region, cert)) {
        log_error ("%s: cannot connect to %s: %s", self->name, region->endpoint,
                    zmq_strerror (zmq_errno ()));
        peer_destroy (&self);
    }
    return self;
}

void
peer_destroy (peer_t **self_p)
{
    assert (self_p);
    peer_t *self = *self_p;
    if (!self)
        return;
    endpoint_close (&self->dealer, &self->monitor);
    free (self);
    *self_p = NULL;
}

zsock_t *
peer_socket (peer_t *self)
{
    assert (self);
    return self->dealer;
}

const uint64_t *
peer_socket_ops (peer_t *self)
{
    assert (self);
    return &self->dealer_ops;
}

bool
peer_matches (peer_t *self, const config_region_t *region)
{
    assert (self);
    return streq (self->region, region->id) && streq (self->endpoint, region->endpoint)
        && streq (self->public_key, region->public_key);
}

void
peer_set_config (peer_t *self, const config_t *config)
{
    assert (self && config);
    self->config = config;
}

const char *
peer_region (peer_t *self)
{
    assert (self);
    return self->region;
}

bool
peer_version_seen (peer_t *self, uint32_t major, uint32_t minor, int64_t now_ms)
{
    assert (self);
    major = version_major_of (major, minor);
    snprintf (self->version, sizeof self->version, "%" PRIu32 ".%" PRIu32, major, minor);
    if (version_compatible (major, minor))
        return true;
    if (!self->version_logged_ms || now_ms - self->version_logged_ms >= PEER_VERSION_LOG_MS) {
        self->version_logged_ms = now_ms;
        log_error ("%s: speaks protocol %s, this daemon %" PRIu32 ".%" PRIu32 ": its frames "
                    "are refused and the link stays down until both run the same major "
                    "version (PROTOCOL 12.1)", self->name, self->version, version_major,
                    version_minor);
    }
    return false;
}

const char *
peer_version (peer_t *self)
{
    assert (self);
    return self->version;
}

void
peer_wake (peer_t *self)
{
    assert (self);
    self->wake = true;
}

bool
peer_is_up (peer_t *self, int64_t now_ms)
{
    assert (self);
    return self->last_seen_ms
        && now_ms - self->last_seen_ms < self->config->peer_timeout_ms;
}

int64_t
peer_last_seen (peer_t *self)
{
    assert (self);
    return self->last_seen_ms;
}

//  Send a LinkFrame header and, for DATA, the envelope behind it. Returns 0,
//  or -1 if ZeroMQ would block (the link is down or full).
static int
s_send (peer_t *self, Zvh__V1__LinkFrame__Kind kind, uint64_t link_seq,
        const uint8_t *envelope, size_t envelope_size)
{
    Zvh__V1__LinkFrame header = ZVH__V1__LINK_FRAME__INIT;
    header.kind = kind;
    header.link_seq = link_seq;
    header.incarnation = outbox_incarnation (self->outbox);
    header.resume_after = self->link.acked;  //  fixed until the peer acks this incarnation
    header.floor = envelope ? self->floor : 0;
    header.version_major = version_major;
    header.version_minor = version_minor;
    uint8_t bytes [WIRE_LINK_FRAME_MAX];
    size_t size = protobuf_c_message_pack (&header.base, bytes);
    void *handle = zsock_resolve (self->dealer);
    int more = envelope ? ZMQ_SNDMORE : 0;
    self->dealer_ops++;
    if (zmq_send (handle, bytes, size, ZMQ_DONTWAIT | more) < 0)
        return -1;
    //  ZeroMQ queues multipart messages atomically: the second part cannot block
    if (envelope && zmq_send (handle, envelope, envelope_size, ZMQ_DONTWAIT) < 0)
        return -1;
    return 0;
}

typedef struct {
    peer_t *peer;
    int64_t now_ms;
} pump_args_t;

static int
s_send_entry (uint64_t link_seq, const uint8_t *envelope, size_t size, void *arg)
{
    pump_args_t *args = (pump_args_t *) arg;
    peer_t *self = args->peer;
    if (s_send (self, ZVH__V1__LINK_FRAME__KIND__KIND_DATA, link_seq, envelope, size))
        return 1;                   //  would block: try again on the next pump
    link_on_sent (&self->link, link_seq, args->now_ms);
    self->last_send_ms = args->now_ms;
    return 0;
}

static int
s_send_window (MDB_txn *txn, void *arg)
{
    pump_args_t *args = (pump_args_t *) arg;
    peer_t *self = args->peer;
    if (!self->acked_known) {
        self->link.acked = self->link.sent = outbox_acked (self->outbox, txn, self->region);
        char name [PEER_META_KEY_MAX];
        snprintf (name, sizeof name, "%s%s", PEER_META_INC, self->region);
        self->link.peer_incarnation = store_meta_u64 (self->store, txn, name);
        self->acked_known = true;
    }
    self->floor = outbox_floor (self->outbox, txn, self->region);
    uint64_t room = link_window_room (&self->link, self->config->window);
    if (room == 0)
        return 0;
    return outbox_scan (self->outbox, txn, self->region, self->link.sent, room,
                        s_send_entry, args);
}

static int
s_prune (MDB_txn *txn, void *arg)
{
    pump_args_t *args = (pump_args_t *) arg;
    return outbox_prune (args->peer->outbox, txn, args->peer->region, args->now_ms);
}

//  An idle link pings at the first multiple of heartbeat_ms of the clock
//  after its last send: never later than heartbeat_ms after it (4.5 rule 6),
//  and every link of every region in step, so that a daemon wakes once per
//  heartbeat for its peers' pings and its own, not once per link.
static int64_t
s_ping_due_ms (peer_t *self)
{
    int64_t heartbeat_ms = self->config->heartbeat_ms;
    return (self->last_send_ms / heartbeat_ms + 1) * heartbeat_ms;
}

int
peer_pump (peer_t *self, int64_t now_ms)
{
    assert (self);
    //  No ack in time: send everything unacknowledged again (go-back-N)
    int rto_ms;
    uint64_t resend = link_on_timeout (&self->link, now_ms, self->config->retry_max_ms,
                                       &rto_ms);
    if (resend) {
        log_info ("%s: no ack for %" PRIu64 " event(s) in %d ms, resending",
                    self->name, resend, rto_ms);
        self->wake = true;
    }
    if (self->redial_ms && now_ms >= self->redial_ms) {
        self->redial_ms = 0;
        self->dealer_ops++;
        zsock_disconnect (self->dealer, "%s", self->endpoint);
        zsock_connect (self->dealer, "%s", self->endpoint);
    }
    if (self->acked_known && now_ms >= self->next_prune_ms) {
        self->next_prune_ms = now_ms + PEER_PRUNE_IVL_MS;
        pump_args_t args = { self, now_ms };
        int rc = store_write (self->store, s_prune, &args);
        if (rc)
            return rc;
    }
    if (self->wake) {
        self->wake = false;
        pump_args_t args = { self, now_ms };
        int rc = store_read (self->store, s_send_window, &args);
        if (rc)
            return rc;
    }
    if (now_ms >= s_ping_due_ms (self)) {
        s_send (self, ZVH__V1__LINK_FRAME__KIND__KIND_PING, 0, NULL, 0);
        self->last_send_ms = now_ms;
    }
    return 0;
}

static int64_t
s_earlier (int64_t due_ms, int64_t other_ms)
{
    return other_ms < due_ms ? other_ms : due_ms;
}

int64_t
peer_next_due_ms (peer_t *self)
{
    assert (self);
    if (self->wake)
        return 0;
    int64_t due_ms = s_ping_due_ms (self);
    if (link_in_flight (&self->link))
        due_ms = s_earlier (due_ms, self->link.progress_ms + self->link.rto_ms);
    if (self->redial_ms)
        due_ms = s_earlier (due_ms, self->redial_ms);
    if (self->acked_known)
        due_ms = s_earlier (due_ms, self->next_prune_ms);
    return due_ms;
}

bool
peer_is_settled (peer_t *self, int64_t now_ms)
{
    assert (self);
    return peer_is_up (self, now_ms) && !link_in_flight (&self->link) && !self->redial_ms;
}

typedef struct {
    peer_t *peer;
    uint64_t link_seq;
    uint64_t peer_incarnation;
    uint64_t acked;                 //  after a rewind
} ack_args_t;

int
peer_store_ack (peer_t *self, MDB_txn *txn)
{
    assert (self);
    return self->ack_pending ? outbox_ack (self->outbox, txn, self->region, self->link.acked)
                             : 0;
}

void
peer_ack_stored (peer_t *self)
{
    assert (self);
    self->ack_pending = false;
}

bool
peer_ack_pending (peer_t *self)
{
    assert (self);
    return self->ack_pending;
}

//  The peer is in a new incarnation: remember it and, if it has less than
//  it had acknowledged, go back to what it has (or the oldest entry held).
static int
s_apply_peer_restore (MDB_txn *txn, void *arg)
{
    ack_args_t *args = (ack_args_t *) arg;
    peer_t *self = args->peer;
    char name [PEER_META_KEY_MAX];
    snprintf (name, sizeof name, "%s%s", PEER_META_INC, self->region);
    int rc = peer_store_ack (self, txn);
    if (rc == 0)
        rc = store_set_meta_u64 (self->store, txn, name, args->peer_incarnation);
    if (rc == 0)
        rc = outbox_rewind (self->outbox, txn, self->region, args->link_seq, &args->acked);
    return rc;
}

static int
s_on_peer_restore (peer_t *self, uint64_t peer_incarnation, uint64_t link_seq,
                   int64_t now_ms)
{
    ack_args_t args = { self, link_seq, peer_incarnation, self->link.acked };
    int rc = store_write (self->store, s_apply_peer_restore, &args);
    if (rc)
        return rc;
    self->ack_pending = false;
    link_restore_t restore;
    link_on_restore (&self->link, peer_incarnation, link_seq, args.acked, now_ms, &restore);
    if (restore.complete) {
        log_info ("%s: the peer runs a restored store (incarnation %" PRIu64 "); "
                   "it has all this link sent", self->name, peer_incarnation);
        return 0;
    }
    log_warning ("%s: the peer was restored from a backup (incarnation %" PRIu64 "): "
                  "it has this link up to %" PRIu64 ", we had %" PRIu64 " acknowledged",
                  self->name, peer_incarnation, link_seq, restore.had_acked);
    if (restore.lost_to)
        log_error ("%s: link seqs %" PRIu64 "-%" PRIu64 " are no longer held (older "
                    "than link_retention_days): the restored peer will not get them",
                    self->name, link_seq + 1, restore.lost_to);
    if (restore.resend_from) {
        log_warning ("%s: sending again from link seq %" PRIu64, self->name,
                      restore.resend_from);
        self->wake = true;
    }
    return 0;
}

//  What an ACK that may show this store is an older copy is checked
//  against: the last link seq queued and the last origin seq given.
static int
s_read_ahead (MDB_txn *txn, void *arg)
{
    peer_t *self = (peer_t *) arg;
    self->link.seq_seen = outbox_last_seq (self->outbox, txn);
    self->link.last_out = outbox_last_out (self->outbox, txn, self->region);
    return 0;
}

static int
s_on_ack (peer_t *self, const Zvh__V1__LinkFrame *frame, int64_t now_ms)
{
    if (!self->acked_known)
        return 0;
    self->link.incarnation = outbox_incarnation (self->outbox);
    if (link_ack_suspect (&self->link, frame)) {
        int rc = store_read (self->store, s_read_ahead, self);
        if (rc)
            return rc;
    }
    link_ack_t taken = link_on_ack (&self->link, frame, self->config->retry_min_ms, now_ms);
    if (taken == LINK_ACK_RESTORED)
        return s_on_peer_restore (self, frame->incarnation, frame->link_seq, now_ms);
    if (taken == LINK_ACK_TAKEN) {
        self->ack_pending = true;
        self->wake = true;          //  the window has room again
    }
    return 0;
}

bool
peer_overtaken (peer_t *self, uint64_t *incarnation_p, uint64_t *seq_p)
{
    assert (self);
    return link_overtaken (&self->link, incarnation_p, seq_p);
}

int64_t
peer_since (peer_t *self, int64_t now_ms)
{
    assert (self);
    return peer_is_up (self, now_ms) ? self->up_since_ms : self->last_seen_ms;
}

void
peer_send_status (peer_t *self, const uint8_t *bytes, size_t size)
{
    assert (self && bytes);
    s_send (self, ZVH__V1__LINK_FRAME__KIND__KIND_STATUS, 0, bytes, size);
}

void
peer_restart (peer_t *self)
{
    assert (self);
    link_resend_all (&self->link);  //  the new incarnation numbers after acked
    self->wake = true;
}

//  Receive one frame's header; NULL if nothing came or it did not decode
//  (*got says whether a frame came at all).
static Zvh__V1__LinkFrame *
s_recv_header (peer_t *self, bool *got)
{
    self->dealer_ops++;
    zframe_t *frame = zframe_recv (self->dealer);
    *got = frame != NULL;
    if (!frame)
        return NULL;
    Zvh__V1__LinkFrame *header = WIRE_DECODE (Zvh__V1__LinkFrame, zvh__v1__link_frame,
                                              zframe_data (frame), zframe_size (frame));
    bool more = zframe_more (frame);
    zframe_destroy (&frame);
    while (more) {                  //  nothing else is expected: discard
        frame = zframe_recv (self->dealer);
        more = frame && zframe_more (frame);
        zframe_destroy (&frame);
    }
    if (!header)
        log_warning ("%s: malformed frame on the link, ignored", self->name);
    return header;
}

//  Of two ACKs in one read, the one that counts: the later numbering of
//  the link first (an ACK in the old numbering after a new incarnation is
//  ignored, and must not hide one in the new numbering at the same seq),
//  then the higher link seq.
static bool
s_ack_later (const Zvh__V1__LinkFrame *ack, const Zvh__V1__LinkFrame *than)
{
    if (ack->link_incarnation != than->link_incarnation)
        return ack->link_incarnation > than->link_incarnation;
    return ack->link_seq > than->link_seq;
}

//  Read every frame waiting (up to a bound) and record only the highest
//  plain ACK among them: one commit for many acks. An ACK that says the
//  peer was restored is handled on its own, and drops what came before it.
int
peer_recv (peer_t *self, int64_t now_ms)
{
    assert (self);
    Zvh__V1__LinkFrame best = ZVH__V1__LINK_FRAME__INIT;
    bool have_best = false, got = true;
    int rc = 0;
    for (int n = 0; rc == 0 && got && n < PEER_RECV_BATCH
                 && (n == 0 || (zsock_events (self->dealer) & ZMQ_POLLIN)); n++) {
        Zvh__V1__LinkFrame *header = s_recv_header (self, &got);
        if (header && !peer_version_seen (self, header->version_major,
                                          header->version_minor, now_ms)) {
            wire_free (&header->base);
            continue;               //  not heard: the link stays down
        }
        if (!header)
            continue;
        if (!peer_is_up (self, now_ms))
            self->up_since_ms = now_ms;
        self->last_seen_ms = now_ms;
        if (header->kind == ZVH__V1__LINK_FRAME__KIND__KIND_ACK) {
            if (header->incarnation > self->link.peer_incarnation) {
                have_best = false;
                rc = s_on_ack (self, header, now_ms);
            }
            else
            if (!have_best || s_ack_later (header, &best)) {
                best.kind = header->kind;
                best.link_seq = header->link_seq;
                best.incarnation = header->incarnation;
                best.link_incarnation = header->link_incarnation;
                best.origin_seq = header->origin_seq;
                have_best = true;
            }
        }
        wire_free (&header->base);
    }
    if (rc == 0 && have_best)
        rc = s_on_ack (self, &best, now_ms);
    return rc;
}

static void
s_on_monitor_event (peer_t *self, int event)
{
    //  libzmq does not reconnect after a failed handshake (ZAP denial, wrong
    //  key): dial again later, the peer may have fixed its directory
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
    ||  event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
    ||  event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        self->redial_ms = zclock_time () + PEER_REDIAL_MS;
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        //  A new connection: what was in flight on the old one may be lost
        link_resend_all (&self->link);
        self->wake = true;
    }
}

void
peer_recv_monitor (peer_t *self)
{
    assert (self);
    while (zsock_events (self->monitor) & ZMQ_POLLIN)
        s_on_monitor_event (self, monitor_recv (self->monitor, self->name, false));
}
