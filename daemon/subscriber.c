/*  subscriber: sessions, credit, resend and cursors for partner links.
 *
 *  Per session: `sent` is the last log seq looked at (delivered or not
 *  covered), `delivered` the seqs of views awaiting acknowledgement (at most
 *  credit). No acknowledgement within the resend timeout sends again from
 *  the oldest unacknowledged view.
 */
#include "subscriber.h"
#include "log.h"
#include "endpoint.h"
#include "zap.h"
#include "monitor.h"
#include "version.h"
#include "view.h"
#include "wire.h"
#include "zvh/zvh.h"

#define SUBSCRIBER_Z85_KEY_LEN  40
#define SUBSCRIBER_SCAN_MAX     256     //  log entries looked at per pump per session
#define SUBSCRIBER_RECV_BATCH   256     //  frames read per wake-up; their ACKs commit once
#define SUBSCRIBER_MS_PER_MIN   60000.0
#define SUBSCRIBER_LOG_IVL_MS   10000   //  a repeated complaint is logged this often
#define SUBSCRIBER_REQUEST_ID_FIELD 9   //  SubFrame.request_id, read from bad frames

typedef struct {
    const config_partner_t *partner;    //  in the subscriber's config; NULL = no partner
    char id [CONFIG_ID_MAX];        //  the partner's id, kept across reloads
    char key [CONFIG_KEY_Z85_LEN + 1];  //  the key the stream was opened with
    zframe_t *routing_id;
    bool live;
    uint32_t credit;
    uint64_t sent;
    uint64_t acked;
    uint64_t ack_pending;       //  highest ack read, not yet stored (0: none)
    zlistx_t *delivered;        //  seqs (as pointers) awaiting an ack
    int rto_ms;
    int64_t last_seen_ms;
    int64_t last_send_ms;
    int64_t last_progress_ms;
    double raise_tokens;        //  raises this partner may make now (raise_per_min)
    int64_t raise_refill_ms;    //  when raise_tokens was last refilled
    zframe_t *confirm_to;       //  an ACK asked for ACKED: answer here after the commit
    bool blocked;               //  a send failed: nothing is collected (nor audited)
                                //  for it until the partner speaks again
    int64_t version_logged_ms;  //  last "speaks another major version" line
} session_t;

struct _subscriber_t {
    const config_t *config;
    store_t *store;
    signal_log_t *log;
    crisis_t *crisis;
    audit_t *audit;
    zsock_t *router;
    zsock_t *monitor;
    session_t *sessions;        //  one per partner, by index in config->partners
    uint64_t log_last;          //  as of the last pump
    int64_t next_due_ms;        //  a session's timer (0 = at once)
    uint64_t writes_seen;       //  the store's writes as of the last pump
    bool confirms_queued;       //  ACKED answers wait for the turn's commit
    bool confirms_failed;       //  a cursor of this turn could not be stored
};

//  Views collected (and audited) in one transaction, sent after it.
typedef struct _pump_args_t {
    subscriber_t *self;
    int64_t now_ms;
    zlist_t *pending;
    uint64_t scanned [CONFIG_PARTNERS_MAX];
} pump_args_t;

static int
s_bind (subscriber_t *self, zcert_t *cert)
{
    self->router = endpoint_bind (cert, self->config->subscribe_bind, ZAP_DOMAIN_PARTNERS,
                                  self->config->credit_max * 2 + 16, &self->monitor);
    return self->router ? 0 : -1;
}

subscriber_t *
subscriber_new (const config_t *config, zcert_t *cert, store_t *store,
                signal_log_t *log, crisis_t *crisis, audit_t *audit)
{
    subscriber_t *self = (subscriber_t *) zmalloc (sizeof (subscriber_t));
    self->config = config;
    self->store = store;
    self->log = log;
    self->crisis = crisis;
    self->audit = audit;
    self->sessions = (session_t *) zmalloc (sizeof (session_t) * (CONFIG_PARTNERS_MAX + 1));
    for (size_t i = 0; i < CONFIG_PARTNERS_MAX; i++)
        self->sessions [i].delivered = zlistx_new ();
    for (size_t i = 0; i < config->partner_count; i++)
        self->sessions [i].partner = &config->partners [i];
    if (s_bind (self, cert))
        subscriber_destroy (&self);
    return self;
}

void
subscriber_destroy (subscriber_t **self_p)
{
    assert (self_p);
    subscriber_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < CONFIG_PARTNERS_MAX; i++) {
        zframe_destroy (&self->sessions [i].routing_id);
        zframe_destroy (&self->sessions [i].confirm_to);
        zlistx_destroy (&self->sessions [i].delivered);
    }
    free (self->sessions);
    endpoint_close (&self->router, &self->monitor);
    free (self);
    *self_p = NULL;
}

void
subscriber_poll_add (subscriber_t *self, pollset_t *pollset)
{
    assert (self);
    pollset_add_socket (pollset, self->router);
    pollset_add_socket (pollset, self->monitor);
}

size_t
subscriber_count (subscriber_t *self)
{
    assert (self);
    return self->config->partner_count;
}

const char *
subscriber_info (subscriber_t *self, size_t index, bool *live_p, uint64_t *lag_p)
{
    assert (self);
    session_t *session = &self->sessions [index];
    *live_p = session->live;
    *lag_p = self->log_last > session->acked ? self->log_last - session->acked : 0;
    return session->partner->id;
}

//  ---------------------------------------------------------------- sending

static int
s_send_bytes (subscriber_t *self, session_t *session, const uint8_t *bytes, size_t size,
              int64_t now_ms)
{
    zframe_t *routing_id = zframe_dup (session->routing_id);
    int rc = -1;
    if (routing_id && zframe_send (&routing_id, self->router, ZFRAME_MORE | ZFRAME_DONTWAIT) == 0)
        rc = zmq_send (zsock_resolve (self->router), bytes, size, ZMQ_DONTWAIT) < 0 ? -1 : 0;
    zframe_destroy (&routing_id);
    if (rc == 0)
        session->last_send_ms = now_ms;
    return rc;
}

static int
s_send (subscriber_t *self, session_t *session, Zvh__V1__SubFrame *frame, int64_t now_ms)
{
    size_t size;
    frame->version_major = version_major;
    frame->version_minor = version_minor;
    uint8_t *bytes = wire_encode (&frame->base, &size);
    int rc = bytes ? s_send_bytes (self, session, bytes, size, now_ms) : -1;
    free (bytes);
    return rc;
}

//  A reply to a frame from a routing id that may have no session yet.
static void
s_reply (subscriber_t *self, zframe_t *routing_id, Zvh__V1__SubFrame *frame)
{
    size_t size;
    frame->version_major = version_major;
    frame->version_minor = version_minor;
    uint8_t *bytes = wire_encode (&frame->base, &size);
    zframe_t *copy = zframe_dup (routing_id);
    if (bytes && zframe_send (&copy, self->router, ZFRAME_MORE | ZFRAME_DONTWAIT) == 0)
        zmq_send (zsock_resolve (self->router), bytes, size, ZMQ_DONTWAIT);
    zframe_destroy (&copy);
    free (bytes);
}

//  ERROR frames say in code what the partner does next; seq mirrors it for
//  clients older than code (1: subscribe again, 2: the same cannot succeed).
#define SUBSCRIBER_ERROR_SEQ_NO_STREAM  1
#define SUBSCRIBER_ERROR_SEQ_REFUSED    2

typedef Zvh__V1__SubFrame__ErrorCode error_code_t;
#define ERROR_CODE(name) ZVH__V1__SUB_FRAME__ERROR_CODE__ERROR_##name

static void
s_reply_error (subscriber_t *self, zframe_t *routing_id, uint64_t request_id,
               error_code_t code, const char *error)
{
    Zvh__V1__SubFrame frame = ZVH__V1__SUB_FRAME__INIT;
    frame.kind = ZVH__V1__SUB_FRAME__KIND__KIND_ERROR;
    frame.error = (char *) error;
    frame.request_id = request_id;
    frame.code = code;
    frame.seq = code == ERROR_CODE (NO_STREAM) ? SUBSCRIBER_ERROR_SEQ_NO_STREAM
                                              : SUBSCRIBER_ERROR_SEQ_REFUSED;
    s_reply (self, routing_id, &frame);
}

//  A view on its way: audited in the pump's transaction, sent after commit.
typedef struct {
    session_t *session;
    uint64_t seq;
    uint8_t *frame;
    size_t size;
} pending_t;

typedef struct {
    subscriber_t *self;
    session_t *session;
    MDB_txn *txn;
    int64_t now_ms;
    zlist_t *pending;
    size_t room;                //  views this session may still receive
    uint64_t scanned;           //  last seq looked at
    int rc;
} deliver_args_t;

//  The SubFrame DELIVERY of event at seq for the session's partner; NULL if
//  the partner has no view.
static uint8_t *
s_delivery (subscriber_t *self, session_t *session, const Zvh__V1__SignalEvent *event,
            uint64_t seq, size_t *size_p)
{
    size_t view_size;
    uint8_t *view_bytes = view_encode (self->config, session->partner, event, seq, &view_size);
    Zvh__V1__SignalView *view = view_bytes
        ? WIRE_DECODE (Zvh__V1__SignalView, zvh__v1__signal_view, view_bytes, view_size)
        : NULL;
    free (view_bytes);
    if (!view)
        return NULL;
    Zvh__V1__SubFrame frame = ZVH__V1__SUB_FRAME__INIT;
    frame.kind = ZVH__V1__SUB_FRAME__KIND__KIND_DELIVERY;
    frame.seq = seq;
    frame.view = view;
    frame.version_major = version_major;
    frame.version_minor = version_minor;
    uint8_t *bytes = wire_encode (&frame.base, size_p);
    wire_free (&view->base);
    return bytes;
}

static int
s_audit_disclosure (deliver_args_t *args, const Zvh__V1__SignalEvent *event)
{
    const config_partner_t *partner = args->session->partner;
    audit_entry_t entry = { .action = "disclose", .outcome = "ok", .actor = partner->id,
                            .actor_role = partner->role, .on_behalf = partner->id,
                            .purpose = "levensloopaanpak: crisis signal and label to a "
                                       "subscribed partner",
                            .case_id = event->case_id, .source = "partner endpoint",
                            .detail = "the role's view of the event, queued for delivery",
                            .event_id = event->event_id };
    return audit_record (args->self->audit, args->txn, &entry, args->now_ms);
}

static int
s_collect_one (uint64_t seq, const uint8_t *bytes, size_t size, void *arg)
{
    deliver_args_t *args = (deliver_args_t *) arg;
    if (args->room == 0)
        return 1;
    Zvh__V1__SignalEvent *event = WIRE_DECODE (Zvh__V1__SignalEvent, zvh__v1__signal_event,
                                               bytes, size);
    if (event && view_covers (args->session->partner, event)) {
        pending_t *item = (pending_t *) zmalloc (sizeof (pending_t));
        item->session = args->session;
        item->seq = seq;
        item->frame = s_delivery (args->self, args->session, event, seq, &item->size);
        if (item->frame) {
            zlist_append (args->pending, item);
            args->room--;
            args->rc = s_audit_disclosure (args, event);
        }
        else
            free (item);
    }
    wire_free (event ? &event->base : NULL);
    args->scanned = seq;
    return args->rc;
}

static void
s_pending_clear (zlist_t *pending)
{
    pending_t *item;
    while ((item = (pending_t *) zlist_pop (pending))) {
        free (item->frame);
        free (item);
    }
}

//  Collect what each session may receive now and audit it; nothing is sent
//  here, and nothing outside the transaction changes (it may run again).
static int
s_collect_sessions (MDB_txn *txn, void *arg)
{
    pump_args_t *args = (pump_args_t *) arg;
    subscriber_t *self = args->self;
    s_pending_clear (args->pending);
    self->log_last = signal_log_last (self->log, txn);
    for (size_t i = 0; i < self->config->partner_count; i++) {
        session_t *session = &self->sessions [i];
        args->scanned [i] = session->sent;
        size_t in_flight = zlistx_size (session->delivered);
        if (!session->live || session->blocked || session->sent >= self->log_last
        ||  in_flight >= session->credit)
            continue;
        deliver_args_t deliver = { self, session, txn, args->now_ms, args->pending,
                                   session->credit - in_flight, session->sent, 0 };
        int rc = signal_log_scan (self->log, txn, session->sent, SUBSCRIBER_SCAN_MAX,
                                  s_collect_one, &deliver);
        if (rc || deliver.rc)
            return rc ? rc : deliver.rc;
        args->scanned [i] = deliver.scanned;
    }
    return 0;
}

//  After the commit: send, in order; a session whose send would block stops
//  there and is scanned again from its last sent view on the next pump.
static void
s_send_pending (subscriber_t *self, pump_args_t *args)
{
    bool blocked [CONFIG_PARTNERS_MAX] = { false };
    pending_t *item;
    while ((item = (pending_t *) zlist_pop (args->pending))) {
        session_t *session = item->session;
        size_t index = (size_t) (session - self->sessions);
        if (!blocked [index] && s_send_bytes (self, session, item->frame, item->size,
                                              args->now_ms) == 0) {
            if (zlistx_size (session->delivered) == 0)
                session->last_progress_ms = args->now_ms;
            zlistx_add_end (session->delivered, (void *) (uintptr_t) item->seq);
            session->sent = item->seq;
        }
        else
        if (!blocked [index]) {
            blocked [index] = true;
            //  Its pipe is full or its connection gone (a stale routing id):
            //  trying every turn cost a commit of disclosures each time
            session->blocked = true;
            log_warning ("partner %s: cannot send to it (%s); its stream waits until it "
                          "speaks again", session->partner->id, zmq_strerror (zmq_errno ()));
        }
        free (item->frame);
        free (item);
    }
    for (size_t i = 0; i < self->config->partner_count; i++)
        if (!blocked [i] && self->sessions [i].live && args->scanned [i] > self->sessions [i].sent)
            self->sessions [i].sent = args->scanned [i];
}

//  Partners ping every ZVH_SUB_HEARTBEAT_MS (libzvh: 1 s) and resubscribe
//  after 4 s of silence: the daemon must ping more often than that and must
//  not give up on a partner sooner than three of its pings.
#define SUBSCRIBER_PING_MAX_MS      1000
#define SUBSCRIBER_SILENCE_MIN_MS   3000
//  The pump runs on its own timers at most this often (the old loop tick):
//  a send that keeps failing is not retried in a busy loop
#define SUBSCRIBER_PUMP_MIN_MS      50

static int
s_silence_ms (subscriber_t *self)
{
    return self->config->peer_timeout_ms > SUBSCRIBER_SILENCE_MIN_MS
         ? self->config->peer_timeout_ms : SUBSCRIBER_SILENCE_MIN_MS;
}

static int
s_ping_ms (subscriber_t *self)
{
    return self->config->heartbeat_ms < SUBSCRIBER_PING_MAX_MS
         ? self->config->heartbeat_ms : SUBSCRIBER_PING_MAX_MS;
}

static void
s_keep_alive (subscriber_t *self, session_t *session, int64_t now_ms)
{
    int silence_ms = s_silence_ms (self);
    int ping_ms = s_ping_ms (self);
    if (now_ms - session->last_seen_ms > silence_ms) {
        log_info ("partner %s silent for %d ms: its stream is paused until it "
                   "subscribes again", session->partner->id, silence_ms);
        session->live = false;
        return;
    }
    if (zlistx_size (session->delivered)
    &&  now_ms - session->last_progress_ms >= session->rto_ms) {
        //  Not acknowledged in time: from the oldest unacknowledged view again
        session->sent = (uint64_t) (uintptr_t) zlistx_first (session->delivered) - 1;
        zlistx_purge (session->delivered);
        session->last_progress_ms = now_ms;
        session->rto_ms = session->rto_ms * 2 > self->config->retry_max_ms
                        ? self->config->retry_max_ms : session->rto_ms * 2;
    }
    if (now_ms - session->last_send_ms >= ping_ms) {
        Zvh__V1__SubFrame ping = ZVH__V1__SUB_FRAME__INIT;
        ping.kind = ZVH__V1__SUB_FRAME__KIND__KIND_PING;
        s_send (self, session, &ping, now_ms);
    }
}

static int
s_read_last (MDB_txn *txn, void *arg)
{
    subscriber_t *self = (subscriber_t *) arg;
    self->log_last = signal_log_last (self->log, txn);
    return 0;
}

static bool
s_anything_due (subscriber_t *self)
{
    for (size_t i = 0; i < self->config->partner_count; i++) {
        session_t *session = &self->sessions [i];
        if (session->live && !session->blocked && session->sent < self->log_last
        &&  zlistx_size (session->delivered) < session->credit)
            return true;
    }
    return false;
}

//  After the turn's commit: send what was collected, or forget it if the
//  commit failed (the next pump collects it again).
static void
s_pump_done (void *arg, bool committed)
{
    pump_args_t *args = (pump_args_t *) arg;
    subscriber_t *self = args->self;
    if (committed)
        s_send_pending (self, args);
    else
        self->next_due_ms = 0;
    s_pending_clear (args->pending);
    zlist_destroy (&args->pending);
    free (args);
}

static void
s_pump (subscriber_t *self, int64_t now_ms)
{
    for (size_t i = 0; i < self->config->partner_count; i++)
        if (self->sessions [i].live)
            s_keep_alive (self, &self->sessions [i], now_ms);
    //  A cheap read first (of what the turn wrote too): most pumps find
    //  nothing new
    if (store_read_turn (self->store, s_read_last, self) || !s_anything_due (self))
        return;
    pump_args_t *args = (pump_args_t *) zmalloc (sizeof (pump_args_t));
    args->self = self;
    args->now_ms = now_ms;
    args->pending = zlist_new ();
    //  Views are audited in the turn that made them visible, and sent once
    //  it has committed
    if (store_write (self->store, s_collect_sessions, args) == 0)
        store_after_commit (self->store, s_pump_done, args);
    else
        s_pump_done (args, false);
}

static int64_t
s_earlier (int64_t due_ms, int64_t other_ms)
{
    return other_ms < due_ms ? other_ms : due_ms;
}

//  The first keep-alive, silence or resend timer of a live session; never
//  sooner than SUBSCRIBER_PUMP_MIN_MS after now.
static int64_t
s_next_due (subscriber_t *self, int64_t now_ms)
{
    int64_t due_ms = INT64_MAX;
    for (size_t i = 0; i < self->config->partner_count; i++) {
        session_t *session = &self->sessions [i];
        if (!session->live)
            continue;
        due_ms = s_earlier (due_ms, session->last_seen_ms + s_silence_ms (self) + 1);
        due_ms = s_earlier (due_ms, session->last_send_ms + s_ping_ms (self));
        if (zlistx_size (session->delivered))
            due_ms = s_earlier (due_ms, session->last_progress_ms + session->rto_ms);
    }
    return due_ms > now_ms + SUBSCRIBER_PUMP_MIN_MS ? due_ms
                                                    : now_ms + SUBSCRIBER_PUMP_MIN_MS;
}

void
subscriber_pump (subscriber_t *self, int64_t now_ms)
{
    assert (self);
    //  Any write of the turn (or since the last pump) may have appended to
    //  the log: this pump, last in the turn, collects what it made visible
    store_stats_t stats;
    store_stats (self->store, &stats);
    if (now_ms < self->next_due_ms && stats.writes == self->writes_seen)
        return;
    s_pump (self, now_ms);
    store_stats (self->store, &stats);
    self->writes_seen = stats.writes;
    self->next_due_ms = s_next_due (self, now_ms);
}

int64_t
subscriber_next_due_ms (subscriber_t *self)
{
    assert (self);
    return self->next_due_ms;
}

//  ---------------------------------------------------------------- receiving

typedef struct {
    subscriber_t *self;
    session_t *session;
    uint64_t seq;
    const Zvh__V1__SubFrame *frame;
    char event_id [CRISIS_EVENT_ID_MAX];
    uint64_t first;
    uint64_t last;
    uint64_t purged;                //  the last seq purged: resuming below it is a gap
} op_args_t;

static int
s_read_positions (MDB_txn *txn, void *arg)
{
    op_args_t *args = (op_args_t *) arg;
    args->first = signal_log_first (args->self->log, txn);
    args->purged = signal_log_purged (args->self->log, txn);
    args->last = signal_log_last (args->self->log, txn);
    if (args->frame->from_cursor)
        args->seq = signal_log_cursor (args->self->log, txn, args->session->partner->id);
    return 0;
}

static void
s_on_subscribe (subscriber_t *self, session_t *session, const Zvh__V1__SubFrame *frame,
                int64_t now_ms)
{
    op_args_t args = { self, session, frame->seq, frame, "", 0, 0, 0 };
    //  As the turn left them: an ACK read just before is in its cursor
    if (store_read_turn (self->store, s_read_positions, &args))
        return;
    if (args.last > self->log_last)
        self->log_last = args.last;
    uint64_t start = args.seq > args.last ? args.last : args.seq;
    if (args.seq > args.last) {
        //  A seq this log never gave (another region's, or a store restored
        //  from an older copy): the stream goes on after the log's end, and
        //  RESET tells the partner to take the seqs from there as new ones
        Zvh__V1__SubFrame reset = ZVH__V1__SUB_FRAME__INIT;
        reset.kind = ZVH__V1__SUB_FRAME__KIND__KIND_RESET;
        reset.seq = args.last + 1;
        s_send (self, session, &reset, now_ms);
        log_warning ("partner %s resumes after %" PRIu64 " but this log ends at %"
                      PRIu64 ": told to take the seqs from %" PRIu64 " on (RESET)",
                      session->partner->id, args.seq, args.last, args.last + 1);
    }
    else
    if (start < args.purged) {
        //  Entries were purged: say so, never skip silently
        Zvh__V1__SubFrame gap = ZVH__V1__SUB_FRAME__INIT;
        gap.kind = ZVH__V1__SUB_FRAME__KIND__KIND_GAP;
        gap.seq = args.first;
        s_send (self, session, &gap, now_ms);
        log_warning ("partner %s resumes after %" PRIu64 " but the log starts at %"
                      PRIu64 " (retention): told of the gap", session->partner->id,
                      start, args.first);
        start = args.first - 1;
    }
    session->live = true;
    session->sent = session->acked = start;
    zlistx_purge (session->delivered);
    uint32_t max = (uint32_t) self->config->credit_max;
    session->credit = frame->credit == 0 || frame->credit > max ? max : frame->credit;
    session->rto_ms = self->config->retry_min_ms;
    log_info ("partner %s (%s) subscribed from seq %" PRIu64 " with credit %u",
               session->partner->id, session->partner->role, start, session->credit);
}

//  Move the stored cursor forward to seq (never back, never past the log).
static int
s_advance_cursor (MDB_txn *txn, void *arg)
{
    op_args_t *args = (op_args_t *) arg;
    signal_log_t *log = args->self->log;
    const char *id = args->session->partner->id;
    if (args->seq <= signal_log_cursor (log, txn, id) || args->seq > signal_log_last (log, txn))
        return 0;
    return signal_log_set_cursor (log, txn, id, args->seq);
}

//  What a partner acknowledges or resumes after, it has processed: keep
//  that even when its stream is paused, so --from-cursor never repeats it.
static void
s_remember_position (subscriber_t *self, session_t *session, uint64_t seq)
{
    op_args_t args = { self, session, seq, NULL, "", 0, 0, 0 };
    if (seq)
        store_write (self->store, s_advance_cursor, &args);
}

//  Note an ack; s_store_acks makes every noted ack durable in one commit
//  (a partner acks each view: one commit each would bound the stream).
//  An ack beyond `sent` is taken up to the log's end: it acknowledges views
//  of an earlier stream that the partner read after it subscribed again.
//  Ignoring it stalled a resumed partner for good: it drops the resends of
//  what it already has, so its credit never came back.
static void
s_on_ack (subscriber_t *self, session_t *session, uint64_t seq)
{
    if (session->live && seq > session->acked && seq <= self->log_last
    &&  seq > session->ack_pending)
        session->ack_pending = seq;
}

static int
s_store_cursors (MDB_txn *txn, void *arg)
{
    subscriber_t *self = (subscriber_t *) arg;
    for (size_t i = 0; i < self->config->partner_count; i++) {
        session_t *session = &self->sessions [i];
        int rc = session->ack_pending
               ? signal_log_set_cursor (self->log, txn, session->partner->id,
                                        session->ack_pending)
               : 0;
        if (rc)
            return rc;
    }
    return 0;
}

//  ACKED for every ACK that asked for it, once its commit is done: the seq
//  is the session's durable cursor (at or above what was asked, unless the
//  commit failed, when nothing is confirmed and the partner asks again).
static void
s_send_confirms (subscriber_t *self, bool failed)
{
    for (size_t i = 0; i < self->config->partner_count; i++) {
        session_t *session = &self->sessions [i];
        if (!session->confirm_to)
            continue;
        if (!failed) {
            Zvh__V1__SubFrame acked = ZVH__V1__SUB_FRAME__INIT;
            acked.kind = ZVH__V1__SUB_FRAME__KIND__KIND_ACKED;
            acked.seq = session->acked;
            s_reply (self, session->confirm_to, &acked);
        }
        zframe_destroy (&session->confirm_to);
    }
}

//  ACKED only once the cursors are on disk: after the turn's commit.
static void
s_confirms_done (void *arg, bool committed)
{
    subscriber_t *self = (subscriber_t *) arg;
    s_send_confirms (self, self->confirms_failed || !committed);
    self->confirms_failed = false;
    self->confirms_queued = false;
}

static void
s_store_acks (subscriber_t *self, int64_t now_ms)
{
    bool any = false;
    for (size_t i = 0; i < self->config->partner_count; i++)
        any |= self->sessions [i].ack_pending != 0;
    //  Not durable: forget them, the partners will ack again
    bool stored = any && store_write (self->store, s_store_cursors, self) == 0;
    for (size_t i = 0; any && i < self->config->partner_count; i++) {
        session_t *session = &self->sessions [i];
        uint64_t seq = session->ack_pending;
        session->ack_pending = 0;
        if (!stored || !seq || seq <= session->acked)
            continue;
        session->acked = seq;
        if (seq > session->sent)
            session->sent = seq;
        while (zlistx_size (session->delivered)
           &&  (uint64_t) (uintptr_t) zlistx_first (session->delivered) <= seq)
            zlistx_detach (session->delivered, NULL);
        session->rto_ms = self->config->retry_min_ms;
        session->last_progress_ms = now_ms;
    }
    self->confirms_failed = self->confirms_failed || (any && !stored);
    if (!self->confirms_queued) {
        self->confirms_queued = true;
        store_after_commit (self->store, s_confirms_done, self);
    }
}

static int
s_raise_fn (MDB_txn *txn, void *arg)
{
    op_args_t *args = (op_args_t *) arg;
    int64_t now_ms = zclock_time ();
    int rc = crisis_raise (args->self->crisis, txn, args->frame->raise, now_ms,
                           args->event_id);
    const config_partner_t *partner = args->session->partner;
    audit_entry_t entry = { .action = "create", .outcome = "ok", .actor = partner->id,
                            .actor_role = partner->role, .on_behalf = partner->id,
                            .purpose = "levensloopaanpak: crisis signal from a partner",
                            .case_id = args->frame->raise->case_id,
                            .source = "partner endpoint", .detail = "crisis signal raised",
                            .event_id = args->event_id };
    return rc ? rc : audit_record (args->self->audit, txn, &entry, now_ms);
}

//  Token bucket per partner: raise_per_min a minute, as a burst at most:
//  a compromised partner key cannot flood every region with signals.
static bool
s_may_raise (subscriber_t *self, session_t *session, int64_t now_ms)
{
    double per_min = self->config->raise_per_min;
    if (session->raise_refill_ms == 0)
        session->raise_tokens = per_min;
    else
    if (now_ms > session->raise_refill_ms)
        session->raise_tokens += per_min * (double) (now_ms - session->raise_refill_ms)
                               / SUBSCRIBER_MS_PER_MIN;
    if (session->raise_tokens > per_min)
        session->raise_tokens = per_min;
    session->raise_refill_ms = now_ms;
    if (session->raise_tokens < 1)
        return false;
    session->raise_tokens -= 1;
    return true;
}

//  A partner's raise, answered once the turn that stored it has committed.
typedef struct {
    subscriber_t *self;
    zframe_t *routing_id;
    uint64_t request_id;
    char event_id [CRISIS_EVENT_ID_MAX];
} raised_t;

static void
s_raised_done (void *arg, bool committed)
{
    raised_t *raised = (raised_t *) arg;
    if (committed) {
        Zvh__V1__SubFrame frame = ZVH__V1__SUB_FRAME__INIT;
        frame.kind = ZVH__V1__SUB_FRAME__KIND__KIND_RAISED;
        frame.event_id = raised->event_id;
        frame.request_id = raised->request_id;
        s_reply (raised->self, raised->routing_id, &frame);
    }
    else
        s_reply_error (raised->self, raised->routing_id, raised->request_id,
                       ERROR_CODE (UNAVAILABLE),
                       "the daemon could not store the signal; raise it again later");
    zframe_destroy (&raised->routing_id);
    free (raised);
}

static void
s_on_raise (subscriber_t *self, session_t *session, zframe_t *routing_id,
            Zvh__V1__SubFrame *frame)
{
    if (!s_may_raise (self, session, zclock_time ())) {
        char error [128];
        snprintf (error, sizeof error, "rate limited: at most %d raises a minute per "
                  "partner (raise_per_min); try again shortly", self->config->raise_per_min);
        s_reply_error (self, routing_id, frame->request_id, ERROR_CODE (RATE_LIMITED), error);
        if (audit_note_refusal (self->audit, session->partner->id, "partner endpoint",
                                "raise over the partner's rate limit", zclock_time ()))
            log_warning ("partner %s: raises over its limit of %d a minute refused",
                          session->partner->id, self->config->raise_per_min);
        return;
    }
    if (frame->request_id == 0) {
        s_reply_error (self, routing_id, 0, ERROR_CODE (MALFORMED), "RAISE without a "
                       "request_id: it must be 1 or more, so that its answer can be told "
                       "from an error about the stream");
        return;
    }
    if (!frame->raise) {
        s_reply_error (self, routing_id, frame->request_id, ERROR_CODE (MALFORMED),
                       "RAISE without a signal");
        return;
    }
    if (frame->raise->national && !streq (session->partner->role, "operator")) {
        s_reply_error (self, routing_id, frame->request_id, ERROR_CODE (REFUSED),
                       "only operators raise national signals; raise it about a case");
        audit_note_refusal (self->audit, session->partner->id, "partner endpoint",
                            "national signal from a non-operator", zclock_time ());
        return;
    }
    //  Who raised it is the key's partner, whatever the frame claims
    frame->raise->raised_by = (char *) session->partner->id;
    frame->raise->raised_role = (char *) session->partner->role;
    frame->raise->raised_ms = zclock_time ();
    op_args_t args = { self, session, 0, frame, "", 0, 0, 0 };
    int rc = store_write (self->store, s_raise_fn, &args);
    frame->raise->raised_by = frame->raise->raised_role = NULL;
    if (rc) {
        bool refused = rc == ZVH_E_BAD_REQUEST || rc == ZVH_E_CONFLICT
                    || rc == ZVH_E_NOT_FOUND;
        s_reply_error (self, routing_id, frame->request_id,
                       refused ? ERROR_CODE (REFUSED) : ERROR_CODE (UNAVAILABLE),
                       refused ? crisis_error (self->crisis)
                               : "the daemon could not store the signal; raise it again later");
        return;
    }
    raised_t *raised = (raised_t *) zmalloc (sizeof (raised_t));
    raised->self = self;
    raised->routing_id = zframe_dup (routing_id);
    raised->request_id = frame->request_id;
    snprintf (raised->event_id, sizeof raised->event_id, "%s", args.event_id);
    store_after_commit (self->store, s_raised_done, raised);
}

//  The session of the partner whose key sent frame; NULL (logged) if none.
//  *answer_p: the refusal is the first of its interval for that key, so it
//  is answered (KEY_REFUSED tells a conforming partner to stop; the rest of
//  the interval gets no answer, so nothing can make it loop).
static session_t *
s_session_of (subscriber_t *self, zframe_t *body, bool *answer_p)
{
    const char *key = zframe_meta (body, "User-Id");
    const config_partner_t *partner = key && strlen (key) == SUBSCRIBER_Z85_KEY_LEN
                                    ? config_partner_by_key (self->config, key) : NULL;
    *answer_p = false;
    if (!partner) {
        *answer_p = audit_note_refusal (self->audit, key, "partner endpoint",
                                        "key is not a partner of this region (unknown or "
                                        "revoked)", zclock_time ());
        if (*answer_p)
            log_warning ("partners: refused a frame from key %s: not a partner of this "
                          "region (unknown or revoked; see the partners file); its refused "
                          "frames are counted in the audit trail", key ? key : "(none)");
        return NULL;
    }
    return &self->sessions [partner - self->config->partners];
}

//  The request id of a frame that may not decode (read without decoding
//  it): a RAISE refused as a whole is still answered under its own id.
static uint64_t
s_request_id_of (zframe_t *body)
{
    uint64_t request_id = 0;
    wire_peek_varint (zframe_data (body), zframe_size (body), SUBSCRIBER_REQUEST_ID_FIELD,
                      &request_id);
    return request_id;
}

//  A frame of another major protocol version is answered ERROR VERSION and
//  not handled; logged once per interval per partner.
static bool
s_version_ok (subscriber_t *self, session_t *session, zframe_t *routing_id,
              const Zvh__V1__SubFrame *frame, int64_t now_ms)
{
    if (version_compatible (frame->version_major, frame->version_minor))
        return true;
    char error [160];
    uint32_t major = version_major_of (frame->version_major, frame->version_minor);
    snprintf (error, sizeof error, "protocol %" PRIu32 ".%" PRIu32 " is not spoken here: "
              "this daemon speaks %" PRIu32 ".%" PRIu32 " (PROTOCOL 12.1)", major,
              frame->version_minor, version_major, version_minor);
    s_reply_error (self, routing_id, frame->request_id, ERROR_CODE (VERSION), error);
    if (!session->version_logged_ms || now_ms - session->version_logged_ms
                                       >= SUBSCRIBER_LOG_IVL_MS) {
        session->version_logged_ms = now_ms;
        log_error ("partner %s: refused its frames: %s", session->partner->id, error);
    }
    return false;
}

static void
s_recv (subscriber_t *self, int64_t now_ms)
{
    zmsg_t *msg = zmsg_recv (self->router);
    if (!msg)
        return;
    zframe_t *routing_id = zmsg_pop (msg);
    zframe_t *body = zmsg_pop (msg);
    zmsg_destroy (&msg);
    bool answer = false;
    session_t *session = body ? s_session_of (self, body, &answer) : NULL;
    if (body && !session && answer)
        s_reply_error (self, routing_id, s_request_id_of (body), ERROR_CODE (KEY_REFUSED),
                       "refused: this key is not a partner of this region (unknown or "
                       "revoked); stop and ask the region");
    Zvh__V1__SubFrame *frame = session
        ? WIRE_DECODE (Zvh__V1__SubFrame, zvh__v1__sub_frame, zframe_data (body),
                       zframe_size (body))
        : NULL;
    if (session && !frame)
        s_reply_error (self, routing_id, s_request_id_of (body), ERROR_CODE (MALFORMED),
                       "malformed frame: not a SubFrame, or over the decode budget");
    else
    if (session && !session->partner->role [0]) {
        s_reply_error (self, routing_id, frame->request_id, ERROR_CODE (KEY_REFUSED),
                       "key has no role");
        wire_free (&frame->base);
        frame = NULL;
    }
    else
    if (frame && !s_version_ok (self, session, routing_id, frame, now_ms)) {
        wire_free (&frame->base);
        frame = NULL;
    }
    if (frame) {
        session->last_seen_ms = now_ms;
        session->blocked = false;       //  it reads again, or has a new connection
        //  Acks read before any other frame are stored before it is handled
        if (frame->kind != ZVH__V1__SUB_FRAME__KIND__KIND_ACK
        ||  !session->live)
            s_store_acks (self, now_ms);
        if (frame->kind == ZVH__V1__SUB_FRAME__KIND__KIND_SUBSCRIBE) {
            snprintf (session->id, sizeof session->id, "%s", session->partner->id);
            const char *key = zframe_meta (body, "User-Id");
            snprintf (session->key, sizeof session->key, "%s", key ? key : "");
            zframe_destroy (&session->routing_id);
            session->routing_id = zframe_dup (routing_id);
            if (!frame->from_cursor)
                s_remember_position (self, session, frame->seq);
            s_on_subscribe (self, session, frame, now_ms);
        }
        else
        if (!session->live && (frame->kind == ZVH__V1__SUB_FRAME__KIND__KIND_ACK
                           ||  frame->kind == ZVH__V1__SUB_FRAME__KIND__KIND_PING)) {
            //  E.g. this daemon restarted: the partner must subscribe again
            if (frame->kind == ZVH__V1__SUB_FRAME__KIND__KIND_ACK)
                s_remember_position (self, session, frame->seq);
            s_reply_error (self, routing_id, 0, ERROR_CODE (NO_STREAM),
                           "no stream: send SUBSCRIBE");
        }
        else
        if (frame->kind == ZVH__V1__SUB_FRAME__KIND__KIND_ACK) {
            s_on_ack (self, session, frame->seq);
            if (frame->confirm) {
                zframe_destroy (&session->confirm_to);
                session->confirm_to = zframe_dup (routing_id);
            }
        }
        else
        if (frame->kind == ZVH__V1__SUB_FRAME__KIND__KIND_RAISE)
            s_on_raise (self, session, routing_id, frame);
        wire_free (&frame->base);
    }
    zframe_destroy (&body);
    zframe_destroy (&routing_id);
}

void
subscriber_reload (subscriber_t *self, const config_t *config, bool withdrawn)
{
    assert (self && config);
    self->config = config;
    if (withdrawn)
        endpoint_rebind (self->router, ZAP_DOMAIN_PARTNERS);
    //  Sessions follow their partner by id; a partner gone (or revoked) loses
    //  its stream at once, the others keep theirs
    session_t *old = self->sessions;
    self->sessions = (session_t *) zmalloc (sizeof (session_t) * (CONFIG_PARTNERS_MAX + 1));
    for (size_t i = 0; i < CONFIG_PARTNERS_MAX; i++)
        self->sessions [i].delivered = zlistx_new ();
    for (size_t i = 0; i < self->config->partner_count; i++) {
        const config_partner_t *partner = &self->config->partners [i];
        self->sessions [i].partner = partner;
        for (size_t j = 0; j < CONFIG_PARTNERS_MAX; j++)
            //  A stream opened with a key now revoked ends here
            if (old [j].partner && old [j].live && streq (old [j].id, partner->id)
            &&  !config_is_revoked (self->config, old [j].key)) {
                zlistx_destroy (&self->sessions [i].delivered);
                self->sessions [i] = old [j];
                self->sessions [i].partner = partner;
                old [j].routing_id = NULL;
                old [j].confirm_to = NULL;
                old [j].delivered = NULL;
                break;
            }
    }
    for (size_t j = 0; j < CONFIG_PARTNERS_MAX; j++) {
        if (old [j].routing_id)
            log_info ("partners: stream of %s ended (removed or revoked)", old [j].id);
        zframe_destroy (&old [j].routing_id);
        zframe_destroy (&old [j].confirm_to);
        zlistx_destroy (&old [j].delivered);
    }
    free (old);
    self->next_due_ms = 0;
}

bool
subscriber_handle (subscriber_t *self, void *socket, int64_t now_ms)
{
    assert (self);
    if (socket == self->router) {
        //  All that is waiting (bounded), so that its acks commit together
        for (int i = 0; i < SUBSCRIBER_RECV_BATCH; i++) {
            if (i && !(zsock_events (self->router) & ZMQ_POLLIN))
                break;
            s_recv (self, now_ms);
        }
        s_store_acks (self, now_ms);
        self->next_due_ms = 0;      //  acks, subscriptions: sessions moved
        return true;
    }
    if (socket == self->monitor) {
        monitor_recv (self->monitor, "partners", true);
        return true;
    }
    return false;
}
