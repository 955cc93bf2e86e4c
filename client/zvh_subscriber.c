/*  libzvh subscriber: a partner's CURVE link to a region's signal stream.
 *
 *  The library keeps the partner's side of the protocol: it remembers the
 *  highest seq handed out and never hands out a lower one again (the daemon
 *  resends what was not acknowledged in time), pings while idle, and
 *  subscribes again from that seq when the daemon has been silent too long
 *  or says it no longer knows the stream (after a restart).
 */
#include "zvh/zvh.h"
#include "proof.h"
#include "signal_names.h"
#include "wire.h"
#include <czmq.h>

#define SUB_ERROR_MAX       512
#define SUB_HEARTBEAT_MS    1000        //  ping the daemon this often when idle
#define SUB_SILENCE_MS      4000        //  daemon silent this long: subscribe again
#define SUB_RECONNECT_MS    100
#define SUB_RESUBSCRIBE_MS  1000        //  after ERROR NO_STREAM, subscribe again at most this often
#define SUB_ERROR_NO_STREAM 1           //  ERROR seq (daemons before code): subscribe again
#define SUB_MONITOR_EVENT_SIZE  6       //  libzmq monitor frame: u16 event, u32 value

#define SUB_KIND(name)  ZVH__V1__SUB_FRAME__KIND__KIND_##name
#define SUB_CODE(name)  ZVH__V1__SUB_FRAME__ERROR_CODE__ERROR_##name

struct _zvh_subscriber_t {
    zsock_t *dealer;
    zsock_t *monitor;               //  handshake outcomes (a refused key)
    bool started;
    bool from_cursor;               //  the stream was started from the cursor
    bool have_seq;                  //  last_seq is known (from a start or a view)
    uint64_t last_seq;              //  highest seq handed out
    uint64_t last_acked;            //  highest seq the application acknowledged
    uint32_t credit;
    uint64_t next_request_id;
    int64_t last_heard_ms;
    int64_t last_sent_ms;
    int64_t last_subscribe_ms;      //  when SUBSCRIBE was last sent
    zlist_t *pending;               //  frames read while waiting for a raise
    Zvh__V1__SubFrame *current;     //  the frame the last signal points into
    zframe_t *current_raw;
    char error [SUB_ERROR_MAX];
};

//  A monitor of the dealer's handshakes: a daemon that stops admitting our
//  key (revoked) closes the connection, and libzmq then dials again and
//  fails the handshake without a frame we could read (PROTOCOL 2.7).
static zsock_t *
s_monitor (zsock_t *dealer)
{
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "inproc://zvh-subscriber-%p", (void *) dealer);
    if (zmq_socket_monitor (zsock_resolve (dealer), endpoint, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH))
        return NULL;
    zsock_t *monitor = zsock_new (ZMQ_PAIR);
    if (monitor && zsock_connect (monitor, "%s", endpoint))
        zsock_destroy (&monitor);
    return monitor;
}

//  True if the daemon refused our key at a handshake.
static bool
s_key_refused (zvh_subscriber_t *self)
{
    bool refused = false;
    while (zsock_events (self->monitor) & ZMQ_POLLIN) {
        zmsg_t *msg = zmsg_recv (self->monitor);
        zframe_t *event = msg ? zmsg_first (msg) : NULL;
        uint16_t code = 0;
        if (event && zframe_size (event) == SUB_MONITOR_EVENT_SIZE)
            memcpy (&code, zframe_data (event), sizeof code);
        refused |= code == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
        zmsg_destroy (&msg);
    }
    return refused;
}

zvh_subscriber_t *
zvh_subscriber_new (const char *endpoint, const char *server_key, const char *cert_file)
{
    if (!endpoint || !server_key || !cert_file)
        return NULL;
    zcert_t *cert = zcert_load (cert_file);
    if (!cert)
        return NULL;
    zvh_subscriber_t *self = (zvh_subscriber_t *) zmalloc (sizeof (zvh_subscriber_t));
    self->next_request_id = 1;
    self->pending = zlist_new ();
    self->dealer = zsock_new (ZMQ_DEALER);
    if (self->dealer) {
        zcert_apply (cert, self->dealer);
        zsock_set_curve_serverkey (self->dealer, server_key);
        zsock_set_linger (self->dealer, 0);
        zsock_set_maxmsgsize (self->dealer, WIRE_MAX_FRAME_BYTES);
        zsock_set_reconnect_ivl (self->dealer, SUB_RECONNECT_MS);
    }
    zcert_destroy (&cert);
    if (self->dealer)
        self->monitor = s_monitor (self->dealer);
    if (!self->dealer || !self->monitor || zsock_connect (self->dealer, "%s", endpoint)) {
        zvh_subscriber_destroy (&self);
        return NULL;
    }
    return self;
}

static void
s_drop_current (zvh_subscriber_t *self)
{
    wire_free (self->current ? &self->current->base : NULL);
    self->current = NULL;
    zframe_destroy (&self->current_raw);
}

void
zvh_subscriber_destroy (zvh_subscriber_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zvh_subscriber_t *self = *self_p;
    s_drop_current (self);
    zframe_t *frame;
    while (self->pending && (frame = (zframe_t *) zlist_pop (self->pending)))
        zframe_destroy (&frame);
    zlist_destroy (&self->pending);
    if (self->monitor)
        zmq_socket_monitor (zsock_resolve (self->dealer), NULL, 0);
    zsock_destroy (&self->monitor);
    zsock_destroy (&self->dealer);
    free (self);
    *self_p = NULL;
}

const char *
zvh_subscriber_error (zvh_subscriber_t *self)
{
    assert (self);
    return self->error;
}

static int
s_fail (zvh_subscriber_t *self, int code, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (self->error, sizeof self->error, format, args);
    va_end (args);
    return code;
}

static int
s_send (zvh_subscriber_t *self, Zvh__V1__SubFrame *frame)
{
    size_t size;
    frame->version_major = WIRE_PROTOCOL_MAJOR;
    frame->version_minor = WIRE_PROTOCOL_MINOR;
    uint8_t *bytes = wire_encode (&frame->base, &size);
    int rc = bytes ? zmq_send (zsock_resolve (self->dealer), bytes, size, ZMQ_DONTWAIT) : -1;
    free (bytes);
    if (rc < 0)
        return s_fail (self, ZVH_E_UNREACHABLE, "cannot send to the daemon");
    self->last_sent_ms = zclock_mono ();
    return 0;
}

static int
s_subscribe (zvh_subscriber_t *self)
{
    Zvh__V1__SubFrame frame = ZVH__V1__SUB_FRAME__INIT;
    frame.kind = ZVH__V1__SUB_FRAME__KIND__KIND_SUBSCRIBE;
    frame.seq = self->last_seq;
    frame.from_cursor = self->from_cursor && !self->have_seq;
    frame.credit = self->credit;
    self->last_heard_ms = self->last_subscribe_ms = zclock_mono ();
    return s_send (self, &frame);
}

int
zvh_subscriber_start (zvh_subscriber_t *self, uint64_t after_seq, bool from_cursor,
                      uint32_t credit)
{
    assert (self);
    self->started = true;
    self->from_cursor = from_cursor;
    self->have_seq = !from_cursor;
    self->last_seq = from_cursor ? 0 : after_seq;
    self->last_acked = 0;
    self->credit = credit;
    return s_subscribe (self);
}

int
zvh_subscriber_ack (zvh_subscriber_t *self, uint64_t seq)
{
    assert (self);
    Zvh__V1__SubFrame frame = ZVH__V1__SUB_FRAME__INIT;
    frame.kind = ZVH__V1__SUB_FRAME__KIND__KIND_ACK;
    frame.seq = seq;
    if (seq > self->last_acked)
        self->last_acked = seq;
    return s_send (self, &frame);
}

//  Read one frame from the socket or the pending queue, waiting up to
//  wait_ms; NULL if none.
static zframe_t *
s_read (zvh_subscriber_t *self, int wait_ms)
{
    zframe_t *frame = (zframe_t *) zlist_pop (self->pending);
    if (frame)
        return frame;
    zpoller_t *poller = zpoller_new (self->dealer, NULL);
    if (zpoller_wait (poller, wait_ms))
        frame = zframe_recv (self->dealer);
    zpoller_destroy (&poller);
    if (frame)
        self->last_heard_ms = zclock_mono ();
    return frame;
}

//  Keep the link alive; subscribe again if the daemon went quiet.
static void
s_keep_alive (zvh_subscriber_t *self)
{
    int64_t now = zclock_mono ();
    if (self->started && now - self->last_heard_ms > SUB_SILENCE_MS)
        s_subscribe (self);
    else
    if (now - self->last_sent_ms >= SUB_HEARTBEAT_MS) {
        Zvh__V1__SubFrame ping = ZVH__V1__SUB_FRAME__INIT;
        ping.kind = ZVH__V1__SUB_FRAME__KIND__KIND_PING;
        s_send (self, &ping);
    }
}

//  The daemon's major protocol version (0.0: before versioning, 1.0).
static bool
s_version_ok (zvh_subscriber_t *self, const Zvh__V1__SubFrame *frame)
{
    uint32_t major = frame->version_major || frame->version_minor ? frame->version_major : 1;
    if (major == WIRE_PROTOCOL_MAJOR)
        return true;
    s_fail (self, ZVH_E_PROTOCOL, "the daemon speaks protocol %" PRIu32 ".%" PRIu32
            ", this library %d.%d: upgrade one of them", major, frame->version_minor,
            WIRE_PROTOCOL_MAJOR, WIRE_PROTOCOL_MINOR);
    return false;
}

//  An ERROR about the stream (request_id 0): subscribe again (NO_STREAM, at
//  most once a second so that nothing can make it loop), or stop.
static int
s_stream_error (zvh_subscriber_t *self, const Zvh__V1__SubFrame *frame)
{
    s_fail (self, ZVH_E_PROTOCOL, "daemon: %s", frame->error);
    bool no_stream = frame->code == SUB_CODE (NO_STREAM)
                  || (frame->code == SUB_CODE (UNSPECIFIED) && frame->seq == SUB_ERROR_NO_STREAM);
    if (!no_stream || !self->started)
        return ZVH_E_PROTOCOL;      //  refused, malformed, version: retrying cannot help
    if (zclock_mono () - self->last_subscribe_ms >= SUB_RESUBSCRIBE_MS)
        s_subscribe (self);         //  e.g. it restarted and lost our stream
    return 0;                       //  else the silence check subscribes again later
}

//  Handle one frame for next(): 1 = a signal is ready, ZVH_E_GAP, or 0.
static int
s_take (zvh_subscriber_t *self, zframe_t *raw, zvh_signal_t *signal)
{
    Zvh__V1__SubFrame *frame = WIRE_DECODE (Zvh__V1__SubFrame, zvh__v1__sub_frame,
                                            zframe_data (raw), zframe_size (raw));
    int result = 0;
    if (!frame)
        s_fail (self, ZVH_E_PROTOCOL, "malformed frame from the daemon, ignored");
    else
    if (!s_version_ok (self, frame))
        result = ZVH_E_PROTOCOL;
    else
    if (frame->kind == ZVH__V1__SUB_FRAME__KIND__KIND_DELIVERY && frame->view
    &&  (!self->have_seq || frame->view->seq > self->last_seq)) {
        self->last_seq = frame->view->seq;
        self->have_seq = true;
        s_drop_current (self);
        self->current = frame;
        self->current_raw = raw;
        zvh_signal_fill (signal, frame->view);
        signal->raw = zframe_data (raw);
        signal->raw_size = zframe_size (raw);
        return 1;
    }
    else
    if (frame->kind == ZVH__V1__SUB_FRAME__KIND__KIND_DELIVERY && frame->view
    &&  frame->view->seq <= self->last_acked)
        //  A resend of what was acknowledged: say so again, or a daemon that
        //  missed the ack keeps our credit for ever (PROTOCOL 7.4 rule 2)
        zvh_subscriber_ack (self, self->last_acked);
    else
    if ((frame->kind == SUB_KIND (GAP) || frame->kind == SUB_KIND (RESET)) && frame->seq) {
        //  The stream goes on from here: older entries were purged (GAP), or
        //  the resume point was past the end of this region's log (RESET:
        //  its seqs from here on are new to us, though lower than ours)
        bool reset = frame->kind == SUB_KIND (RESET);
        memset (signal, 0, sizeof *signal);
        signal->seq = frame->seq;
        s_fail (self, ZVH_E_GAP, "the stream resumes at seq %" PRIu64 " (after %" PRIu64
                "): %s", frame->seq, self->last_seq,
                reset ? "the resume point was past the end of this region's log (another "
                        "region's seq, or its store was restored from an older copy)"
                      : "older entries were purged (retention)");
        if (reset || frame->seq - 1 > self->last_seq || !self->have_seq)
            self->last_seq = frame->seq - 1;
        if (reset)
            self->last_acked = 0;
        self->have_seq = true;
        result = ZVH_E_GAP;
    }
    else
    if (frame->kind == SUB_KIND (ERROR) && frame->request_id == 0)
        result = s_stream_error (self, frame);
    wire_free (frame ? &frame->base : NULL);
    zframe_destroy (&raw);
    return result;
}

int
zvh_subscriber_next (zvh_subscriber_t *self, int timeout_ms, zvh_signal_t *signal)
{
    assert (self);
    int64_t deadline = zclock_mono () + timeout_ms;
    while (true) {
        int64_t left = deadline - zclock_mono ();
        if (left < 0)
            return s_fail (self, ZVH_E_TIMEOUT, "no signal within %d ms", timeout_ms);
        if (s_key_refused (self))
            return s_fail (self, ZVH_E_PROTOCOL, "the region refused this key at the "
                           "handshake (revoked, or not in its partners file): stop, and "
                           "ask the region's IT");
        s_keep_alive (self);
        zframe_t *raw = s_read (self, (int) (left < SUB_HEARTBEAT_MS ? left : SUB_HEARTBEAT_MS));
        if (!raw)
            continue;
        int result = s_take (self, raw, signal);
        if (result == 1)
            return ZVH_OK;
        if (result == ZVH_E_GAP || result == ZVH_E_PROTOCOL)
            return result;
    }
}

int
zvh_subscriber_confirm (zvh_subscriber_t *self, uint64_t seq, int timeout_ms)
{
    assert (self);
    Zvh__V1__SubFrame ack = ZVH__V1__SUB_FRAME__INIT;
    ack.kind = SUB_KIND (ACK);
    ack.seq = seq;
    ack.confirm = true;
    if (seq > self->last_acked)
        self->last_acked = seq;
    int rc = s_send (self, &ack);
    if (rc)
        return rc;
    int64_t deadline = zclock_mono () + timeout_ms;
    zpoller_t *poller = zpoller_new (self->dealer, NULL);
    rc = s_fail (self, ZVH_E_TIMEOUT, "the daemon did not confirm the cursor at %" PRIu64
                 " within %d ms", seq, timeout_ms);
    while (zclock_mono () < deadline && zpoller_wait (poller, (int) (deadline - zclock_mono ()))) {
        zframe_t *raw = zframe_recv (self->dealer);
        Zvh__V1__SubFrame *frame = raw ? WIRE_DECODE (Zvh__V1__SubFrame, zvh__v1__sub_frame,
                                                      zframe_data (raw), zframe_size (raw))
                                       : NULL;
        bool confirmed = frame && frame->kind == SUB_KIND (ACKED) && frame->seq >= seq;
        wire_free (frame ? &frame->base : NULL);
        if (confirmed) {
            zframe_destroy (&raw);
            rc = ZVH_OK;
            break;
        }
        if (raw)
            zlist_append (self->pending, raw);      //  for next()
    }
    zpoller_destroy (&poller);
    return rc;
}

//  Wait for the answer to a raise; other frames are kept for next().
static int
s_await_raised (zvh_subscriber_t *self, uint64_t request_id, char *event_id_out,
                int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    zpoller_t *poller = zpoller_new (self->dealer, NULL);
    int rc = s_fail (self, ZVH_E_UNREACHABLE, "no answer to the raise within %d ms",
                     timeout_ms);
    while (zclock_mono () < deadline) {
        if (!zpoller_wait (poller, (int) (deadline - zclock_mono ())))
            break;
        zframe_t *raw = zframe_recv (self->dealer);
        Zvh__V1__SubFrame *frame = raw ? WIRE_DECODE (Zvh__V1__SubFrame, zvh__v1__sub_frame,
                                                      zframe_data (raw), zframe_size (raw))
                                       : NULL;
        bool answer = frame && frame->request_id == request_id
                   && (frame->kind == ZVH__V1__SUB_FRAME__KIND__KIND_RAISED
                   ||  frame->kind == ZVH__V1__SUB_FRAME__KIND__KIND_ERROR);
        if (answer && frame->kind == ZVH__V1__SUB_FRAME__KIND__KIND_RAISED) {
            if (event_id_out)
                snprintf (event_id_out, ZVH_EVENT_ID_MAX, "%s", frame->event_id);
            rc = ZVH_OK;
        }
        else
        if (answer)
            rc = s_fail (self, ZVH_E_BAD_REQUEST, "daemon refused the signal: %s",
                         frame->error);
        wire_free (frame ? &frame->base : NULL);
        if (answer) {
            zframe_destroy (&raw);
            break;
        }
        if (raw)
            zlist_append (self->pending, raw);
    }
    zpoller_destroy (&poller);
    return rc;
}

int
zvh_subscriber_raise (zvh_subscriber_t *self, const zvh_raise_t *raise,
                      char *event_id_out, int timeout_ms)
{
    assert (self);
    Zvh__V1__SignalRaise message = ZVH__V1__SIGNAL_RAISE__INIT;
    char error [ZVH_SIGNAL_ERR_MAX];
    if (zvh_raise_encode (raise, &message, error, sizeof error))
        return s_fail (self, ZVH_E_BAD_REQUEST, "%s", error);
    Zvh__V1__SubFrame frame = ZVH__V1__SUB_FRAME__INIT;
    frame.kind = ZVH__V1__SUB_FRAME__KIND__KIND_RAISE;
    frame.raise = &message;
    frame.request_id = self->next_request_id++;
    int rc = s_send (self, &frame);
    return rc ? rc : s_await_raised (self, frame.request_id, event_id_out, timeout_ms);
}

//  From the frame as received, so that what is checked is what came.
int
zvh_signal_verify (const zvh_signal_t *signal, const char *sign_key)
{
    assert (signal);
    uint8_t key [WIRE_SIGN_PUBLIC_BYTES];
    size_t length = 0;
    if (!sign_key || strlen (sign_key) != ZVH_SIGN_KEY_HEX_LEN
    ||  sodium_hex2bin (key, sizeof key, sign_key, strlen (sign_key), NULL, &length, NULL)
    ||  length != sizeof key)
        return ZVH_E_BAD_REQUEST;
    Zvh__V1__SubFrame *frame = signal->raw
        ? WIRE_DECODE (Zvh__V1__SubFrame, zvh__v1__sub_frame, signal->raw, signal->raw_size)
        : NULL;
    int rc = frame && frame->view && proof_verify_view (frame->view, key) == 0
           ? ZVH_OK : ZVH_E_FORGED;
    wire_free (frame ? &frame->base : NULL);
    return rc;
}
