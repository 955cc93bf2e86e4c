/*  libzvh client: request/reply with the local zvhd over its control socket.
 *
 *  One DEALER per client. Each request carries an id and a reply that does
 *  not match it (a late answer to a request that timed out) is discarded,
 *  so a slow daemon can never make a call return another call's result.
 *  A request not answered is sent again, with the same client and request
 *  id, until the call's timeout: the daemon does a change once per id, so a
 *  daemon killed between its commit and its reply, and restarted, answers
 *  the retry with the first result (PROTOCOL 9.2).
 */
#include "zvh/zvh.h"
#include "wire.h"
#include "signal_names.h"
#include <czmq.h>
#include <jansson.h>
#include <sodium.h>

#define CLIENT_ERROR_MAX  512
#define CLIENT_AUDIT_PAGE 500     //  audit entries per export request
#define CLIENT_ID_BYTES   16      //  ControlRequest.client_id
#define CLIENT_RESEND_MS  1000    //  first resend of an unanswered request; doubles

struct _zvh_client_t {
    zsock_t *dealer;
    int timeout_ms;
    uint64_t next_request_id;
    uint8_t client_id [CLIENT_ID_BYTES];    //  random: names this client's changes
    char error [CLIENT_ERROR_MAX];
};

static const char *s_state_names [ZVH_CASE_STATES + 1] = {
    "unknown", "active", "offered", "joint_target", "joint_source", "tombstone", "closed"
};

const char *
zvh_strerror (int code)
{
    switch (code) {
        case ZVH_OK:                return "ok";
        case ZVH_E_BAD_REQUEST:     return "bad request";
        case ZVH_E_NOT_FOUND:       return "not found";
        case ZVH_E_CONFLICT:        return "conflict";
        case ZVH_E_UNKNOWN_REGION:  return "unknown region";
        case ZVH_E_STORE:           return "store error";
        case ZVH_E_UNREACHABLE:     return "daemon unreachable";
        case ZVH_E_PROTOCOL:        return "protocol error";
        case ZVH_E_FULL:            return "disk or store full";
        case ZVH_E_TIMEOUT:         return "timed out";
        case ZVH_E_GAP:             return "gap in the signal log";
        case ZVH_E_FORGED:          return "signal proof does not verify";
        default:                    return "unknown error";
    }
}

zvh_client_t *
zvh_client_new (const char *endpoint)
{
    return zvh_client_new_curve (endpoint, NULL, NULL);
}

zvh_client_t *
zvh_client_new_curve (const char *endpoint, const char *server_key, const char *cert_file)
{
    zcert_t *cert = cert_file ? zcert_load (cert_file) : NULL;
    if (!endpoint || (cert_file && !cert) || (!server_key != !cert_file)) {
        zcert_destroy (&cert);
        return NULL;
    }
    zvh_client_t *self = (zvh_client_t *) zmalloc (sizeof (zvh_client_t));
    self->timeout_ms = ZVH_DEFAULT_TIMEOUT_MS;
    self->next_request_id = 1;
    if (sodium_init () < 0) {
        zcert_destroy (&cert);
        free (self);
        return NULL;
    }
    randombytes_buf (self->client_id, sizeof self->client_id);
    self->dealer = zsock_new (ZMQ_DEALER);
    if (self->dealer) {
        zsock_set_linger (self->dealer, 0);
        zsock_set_maxmsgsize (self->dealer, WIRE_MAX_FRAME_BYTES);
    }
    if (self->dealer && cert) {
        zcert_apply (cert, self->dealer);
        zsock_set_curve_serverkey (self->dealer, server_key);
    }
    zcert_destroy (&cert);
    if (!self->dealer || zsock_connect (self->dealer, "%s", endpoint)) {
        zsock_destroy (&self->dealer);
        free (self);
        return NULL;
    }
    return self;
}

void
zvh_client_destroy (zvh_client_t **self_p)
{
    if (self_p && *self_p) {
        zsock_destroy (&(*self_p)->dealer);
        free (*self_p);
        *self_p = NULL;
    }
}

void
zvh_client_set_timeout (zvh_client_t *self, int timeout_ms)
{
    assert (self);
    self->timeout_ms = timeout_ms;
}

const char *
zvh_client_error (zvh_client_t *self)
{
    assert (self);
    return self->error;
}

static int
s_fail (zvh_client_t *self, int code, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (self->error, sizeof self->error, format, args);
    va_end (args);
    return code;
}

static int
s_code_of (Zvh__V1__ControlReply__Status status)
{
    switch (status) {
        case ZVH__V1__CONTROL_REPLY__STATUS__STATUS_OK:             return ZVH_OK;
        case ZVH__V1__CONTROL_REPLY__STATUS__STATUS_BAD_REQUEST:    return ZVH_E_BAD_REQUEST;
        case ZVH__V1__CONTROL_REPLY__STATUS__STATUS_NOT_FOUND:      return ZVH_E_NOT_FOUND;
        case ZVH__V1__CONTROL_REPLY__STATUS__STATUS_CONFLICT:       return ZVH_E_CONFLICT;
        case ZVH__V1__CONTROL_REPLY__STATUS__STATUS_UNKNOWN_REGION: return ZVH_E_UNKNOWN_REGION;
        default:                                                    return ZVH_E_STORE;
    }
}

//  Wait for the reply to request_id until the deadline; NULL on timeout.
static Zvh__V1__ControlReply *
s_await (zvh_client_t *self, uint64_t request_id, int64_t deadline)
{
    zpoller_t *poller = zpoller_new (self->dealer, NULL);
    Zvh__V1__ControlReply *reply = NULL;
    while (!reply) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0 || !zpoller_wait (poller, (int) left))
            break;
        zframe_t *frame = zframe_recv (self->dealer);
        if (!frame)
            break;
        reply = WIRE_DECODE (Zvh__V1__ControlReply, zvh__v1__control_reply,
                             zframe_data (frame), zframe_size (frame));
        zframe_destroy (&frame);
        if (reply && reply->request_id != request_id) {
            wire_free (&reply->base);       //  a late answer to an earlier call
            reply = NULL;
        }
    }
    zpoller_destroy (&poller);
    return reply;
}

//  The request as sent: this client's id and request_id, encoded (the
//  caller frees it); NULL on no memory.
static uint8_t *
s_encode (zvh_client_t *self, Zvh__V1__ControlRequest *request, uint64_t request_id,
          size_t *size_p)
{
    request->request_id = request_id;
    request->client_id.data = self->client_id;
    request->client_id.len = sizeof self->client_id;
    return wire_encode (&request->base, size_p);
}

//  One frame to the daemon, not waiting: a send the socket refuses now (its
//  queue full, no daemon) is made again by the caller's resend.
static bool
s_transmit (zvh_client_t *self, const uint8_t *bytes, size_t size)
{
    zframe_t *frame = zframe_new (bytes, size);
    bool sent = zframe_send (&frame, self->dealer, ZFRAME_DONTWAIT) == 0;
    zframe_destroy (&frame);
    return sent;
}

//  Send a request and wait for its reply. On success *reply_p must be
//  freed with wire_free.
static int
s_call (zvh_client_t *self, Zvh__V1__ControlRequest *request,
        Zvh__V1__ControlReply **reply_p)
{
    self->error [0] = 0;
    size_t size;
    uint8_t *bytes = s_encode (self, request, self->next_request_id++, &size);
    if (!bytes)
        return s_fail (self, ZVH_E_BAD_REQUEST, "out of memory");
    int64_t deadline = zclock_mono () + self->timeout_ms;
    //  A backup answers when it is written, and a second one asked meanwhile
    //  is refused: those two are sent once
    bool once = request->op == ZVH__V1__CONTROL_REQUEST__OP__OP_BACKUP
             || request->op == ZVH__V1__CONTROL_REQUEST__OP__OP_RELOAD;
    int64_t resend_ms = once ? self->timeout_ms : CLIENT_RESEND_MS;
    Zvh__V1__ControlReply *reply = NULL;
    bool sent = false;
    while (!reply && zclock_mono () < deadline) {
        sent |= s_transmit (self, bytes, size);
        int64_t until = zclock_mono () + resend_ms;
        reply = s_await (self, request->request_id, until < deadline ? until : deadline);
        resend_ms *= 2;
    }
    free (bytes);
    if (!sent)
        return s_fail (self, ZVH_E_UNREACHABLE, "cannot send to zvhd");
    if (!reply)
        return s_fail (self, ZVH_E_UNREACHABLE, "no answer from zvhd within %d ms: "
                       "is it running, and is this its control endpoint?",
                       self->timeout_ms);
    int rc = s_code_of (reply->status);
    if (rc) {
        s_fail (self, rc, "%s", reply->error && *reply->error
                                ? reply->error : zvh_strerror (rc));
        wire_free (&reply->base);
        return rc;
    }
    *reply_p = reply;
    return 0;
}

static void
s_copy_case (zvh_case_t *out, const Zvh__V1__Case *in)
{
    memset (out, 0, sizeof *out);
    snprintf (out->id, sizeof out->id, "%s", in->id);
    int state = in->state >= 0 && in->state <= ZVH_CASE_STATES ? in->state : 0;
    snprintf (out->state, sizeof out->state, "%s", s_state_names [state]);
    snprintf (out->owner, sizeof out->owner, "%s", in->owner);
    snprintf (out->partner, sizeof out->partner, "%s", in->partner);
    snprintf (out->transfer_id, sizeof out->transfer_id, "%s", in->transfer_id);
    out->plan_version = in->plan_version;
    if (in->plan_hash.len * 2 < sizeof out->plan_hash)
        for (size_t i = 0; i < in->plan_hash.len; i++)
            snprintf (out->plan_hash + 2 * i, 3, "%02x", in->plan_hash.data [i]);
    out->joint_until_ms = in->joint_until_ms;
    out->updated_ms = in->updated_ms;
}

//  A call about one case that answers with the case record.
static int
s_case_call (zvh_client_t *self, Zvh__V1__ControlRequest *request,
             zvh_case_t *case_out, uint8_t **plan_p, size_t *plan_size_p)
{
    Zvh__V1__ControlReply *reply;
    int rc = s_call (self, request, &reply);
    if (rc)
        return rc;
    if (!reply->case_) {
        wire_free (&reply->base);
        return s_fail (self, ZVH_E_PROTOCOL, "zvhd answered without the case");
    }
    if (case_out)
        s_copy_case (case_out, reply->case_);
    if (plan_p) {
        *plan_p = NULL;
        *plan_size_p = reply->plan.len;
        if (reply->plan.len) {
            *plan_p = (uint8_t *) malloc (reply->plan.len);
            memcpy (*plan_p, reply->plan.data, reply->plan.len);
        }
    }
    wire_free (&reply->base);
    return 0;
}

int
zvh_client_case_include (zvh_client_t *self, const char *case_id,
                         const uint8_t *plan, size_t plan_size, zvh_case_t *case_out)
{
    assert (self);
    Zvh__V1__ControlRequest request = ZVH__V1__CONTROL_REQUEST__INIT;
    request.op = ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_INCLUDE;
    request.case_id = (char *) (case_id ? case_id : "");
    request.plan.data = (uint8_t *) plan;
    request.plan.len = plan_size;
    return s_case_call (self, &request, case_out, NULL, NULL);
}

int
zvh_client_case_move (zvh_client_t *self, const char *case_id, const char *region,
                      zvh_case_t *case_out)
{
    assert (self);
    Zvh__V1__ControlRequest request = ZVH__V1__CONTROL_REQUEST__INIT;
    request.op = ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_MOVE;
    request.case_id = (char *) (case_id ? case_id : "");
    request.region = (char *) (region ? region : "");
    return s_case_call (self, &request, case_out, NULL, NULL);
}

//  ---------------------------------------------------------- pipelined moves
//  One DEALER carries many requests at once; the daemon answers them in the
//  order sent (PROTOCOL 9.1), but a resend's answer may come after later
//  ones, so answers are matched by request id: case i is request base + i.

typedef struct {
    uint8_t *bytes;                 //  the encoded request until it is answered
    size_t size;
    int64_t resend_at;
    int64_t resend_ms;
} pipe_slot_t;

typedef struct {
    zvh_client_t *client;
    const char *const *case_ids;
    const char *region;
    size_t count;
    uint64_t base;                  //  request id of case 0
    pipe_slot_t *slots;
    size_t sent;                    //  cases below this were sent at least once
    size_t lowest;                  //  no case below this is still open
    size_t open;                    //  sent and not answered
    size_t done;                    //  answered (or failed here)
    int *results;
    zvh_case_t *cases_out;
    int rc;                         //  the first failure's code
} pipe_t;

static void
s_pipe_result (pipe_t *self, size_t index, int rc, const char *why)
{
    if (self->results)
        self->results [index] = rc;
    if (rc && !self->rc) {
        self->rc = rc;
        s_fail (self->client, rc, "case %s: %s", self->case_ids [index], why);
    }
    self->done++;
}

static void
s_pipe_send (pipe_t *self, size_t index, int64_t now)
{
    Zvh__V1__ControlRequest request = ZVH__V1__CONTROL_REQUEST__INIT;
    request.op = ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_MOVE;
    request.case_id = (char *) (self->case_ids [index] ? self->case_ids [index] : "");
    request.region = (char *) self->region;
    pipe_slot_t *slot = &self->slots [index];
    slot->bytes = s_encode (self->client, &request, self->base + index, &slot->size);
    if (!slot->bytes) {
        s_pipe_result (self, index, ZVH_E_BAD_REQUEST, "out of memory");
        return;
    }
    s_transmit (self->client, slot->bytes, slot->size);
    slot->resend_ms = CLIENT_RESEND_MS;
    slot->resend_at = now + slot->resend_ms;
    self->open++;
}

//  Send again what is due; returns when the next resend is due.
static int64_t
s_pipe_resend (pipe_t *self, int64_t now, int64_t until)
{
    while (self->lowest < self->sent && !self->slots [self->lowest].bytes)
        self->lowest++;
    for (size_t index = self->lowest; index < self->sent; index++) {
        pipe_slot_t *slot = &self->slots [index];
        if (!slot->bytes)
            continue;
        if (slot->resend_at <= now) {
            s_transmit (self->client, slot->bytes, slot->size);
            slot->resend_ms *= 2;
            slot->resend_at = now + slot->resend_ms;
        }
        if (slot->resend_at < until)
            until = slot->resend_at;
    }
    return until;
}

//  Take one answer; false if it is not one of this call's open requests.
static bool
s_pipe_take (pipe_t *self, const Zvh__V1__ControlReply *reply)
{
    if (reply->request_id < self->base || reply->request_id - self->base >= self->sent)
        return false;
    size_t index = (size_t) (reply->request_id - self->base);
    pipe_slot_t *slot = &self->slots [index];
    if (!slot->bytes)
        return false;                   //  a second answer to a resend
    free (slot->bytes);
    slot->bytes = NULL;
    self->open--;
    int rc = s_code_of (reply->status);
    if (!rc && !reply->case_)
        s_pipe_result (self, index, ZVH_E_PROTOCOL, "zvhd answered without the case");
    else {
        if (!rc && self->cases_out)
            s_copy_case (&self->cases_out [index], reply->case_);
        s_pipe_result (self, index, rc, reply->error && *reply->error
                                        ? reply->error : zvh_strerror (rc));
    }
    return true;
}

//  Read every answer waiting; true if any was this call's.
static bool
s_pipe_drain (pipe_t *self)
{
    bool progress = false;
    while (zsock_events (self->client->dealer) & ZMQ_POLLIN) {
        zframe_t *frame = zframe_recv (self->client->dealer);
        if (!frame)
            break;
        Zvh__V1__ControlReply *reply = WIRE_DECODE (Zvh__V1__ControlReply,
                                                    zvh__v1__control_reply,
                                                    zframe_data (frame), zframe_size (frame));
        zframe_destroy (&frame);
        if (reply)
            progress |= s_pipe_take (self, reply);
        wire_free (reply ? &reply->base : NULL);
    }
    return progress;
}

int
zvh_client_case_move_many (zvh_client_t *self, const char *const *case_ids, size_t count,
                           const char *region, size_t window, int *results,
                           zvh_case_t *cases_out)
{
    assert (self);
    self->error [0] = 0;
    if (count && (!case_ids || !region))
        return s_fail (self, ZVH_E_BAD_REQUEST, "case ids and a region are needed");
    window = window < 1 ? 1 : window > ZVH_WINDOW_MAX ? ZVH_WINDOW_MAX : window;
    pipe_t pipe = { self, case_ids, region, count, self->next_request_id,
                    (pipe_slot_t *) calloc (count ? count : 1, sizeof (pipe_slot_t)),
                    0, 0, 0, 0, results, cases_out, 0 };
    if (!pipe.slots)
        return s_fail (self, ZVH_E_BAD_REQUEST, "out of memory");
    self->next_request_id += count;
    zpoller_t *poller = zpoller_new (self->dealer, NULL);
    int64_t deadline = zclock_mono () + self->timeout_ms;
    while (pipe.done < count && zclock_mono () < deadline) {
        int64_t now = zclock_mono ();
        while (pipe.sent < count && pipe.open < window)
            s_pipe_send (&pipe, pipe.sent++, now);
        int64_t until = s_pipe_resend (&pipe, now, deadline);
        if (pipe.done < count && until > now)
            zpoller_wait (poller, (int) (until - now));
        if (s_pipe_drain (&pipe))
            deadline = zclock_mono () + self->timeout_ms;
    }
    zpoller_destroy (&poller);
    for (size_t index = 0; index < count; index++) {
        bool open = index < pipe.sent && pipe.slots [index].bytes;
        if (open || index >= pipe.sent)
            s_pipe_result (&pipe, index, ZVH_E_UNREACHABLE, "no answer from zvhd in time");
        free (pipe.slots [index].bytes);
    }
    free (pipe.slots);
    return pipe.rc;
}

int
zvh_client_case_complete (zvh_client_t *self, const char *case_id, zvh_case_t *case_out)
{
    assert (self);
    Zvh__V1__ControlRequest request = ZVH__V1__CONTROL_REQUEST__INIT;
    request.op = ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_COMPLETE;
    request.case_id = (char *) (case_id ? case_id : "");
    return s_case_call (self, &request, case_out, NULL, NULL);
}

int
zvh_client_plan_update (zvh_client_t *self, const char *case_id,
                        const uint8_t *plan, size_t plan_size, zvh_case_t *case_out)
{
    assert (self);
    Zvh__V1__ControlRequest request = ZVH__V1__CONTROL_REQUEST__INIT;
    request.op = ZVH__V1__CONTROL_REQUEST__OP__OP_PLAN_UPDATE;
    request.case_id = (char *) (case_id ? case_id : "");
    request.plan.data = (uint8_t *) plan;
    request.plan.len = plan_size;
    return s_case_call (self, &request, case_out, NULL, NULL);
}

int
zvh_client_case_show (zvh_client_t *self, const char *case_id, zvh_case_t *case_out,
                      uint8_t **plan_p, size_t *plan_size_p)
{
    assert (self);
    Zvh__V1__ControlRequest request = ZVH__V1__CONTROL_REQUEST__INIT;
    request.op = ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_SHOW;
    request.case_id = (char *) (case_id ? case_id : "");
    return s_case_call (self, &request, case_out, plan_p, plan_size_p);
}

int
zvh_client_case_custody (zvh_client_t *self, const char *case_id,
                         zvh_custody_link_t **links_p, size_t *count_p)
{
    assert (self);
    Zvh__V1__ControlRequest request = ZVH__V1__CONTROL_REQUEST__INIT;
    request.op = ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_SHOW;
    request.case_id = (char *) (case_id ? case_id : "");
    Zvh__V1__ControlReply *reply;
    int rc = s_call (self, &request, &reply);
    if (rc)
        return rc;
    const Zvh__V1__CustodyChain *chain = reply->case_ ? reply->case_->custody : NULL;
    *count_p = chain ? chain->n_links : 0;
    *links_p = *count_p ? (zvh_custody_link_t *) calloc (*count_p, sizeof **links_p) : NULL;
    for (size_t i = 0; i < *count_p; i++) {
        const Zvh__V1__CustodyLink *link = chain->links [i];
        snprintf ((*links_p) [i].transfer_id, ZVH_ID_MAX, "%s", link->transfer_id);
        snprintf ((*links_p) [i].source, ZVH_ID_MAX, "%s", link->source);
        snprintf ((*links_p) [i].target, ZVH_ID_MAX, "%s", link->target);
    }
    wire_free (&reply->base);
    return 0;
}

int
zvh_client_case_list (zvh_client_t *self, zvh_case_t **cases_p, size_t *count_p)
{
    assert (self);
    Zvh__V1__ControlRequest request = ZVH__V1__CONTROL_REQUEST__INIT;
    request.op = ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_LIST;
    Zvh__V1__ControlReply *reply;
    int rc = s_call (self, &request, &reply);
    if (rc)
        return rc;
    *count_p = reply->n_cases;
    *cases_p = (zvh_case_t *) calloc (reply->n_cases + 1, sizeof (zvh_case_t));
    for (size_t i = 0; i < reply->n_cases; i++)
        s_copy_case (&(*cases_p) [i], reply->cases [i]);
    wire_free (&reply->base);
    return 0;
}

int
zvh_client_case_close (zvh_client_t *self, const char *case_id, zvh_case_t *case_out)
{
    assert (self);
    Zvh__V1__ControlRequest request = ZVH__V1__CONTROL_REQUEST__INIT;
    request.op = ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_CLOSE;
    request.case_id = (char *) (case_id ? case_id : "");
    return s_case_call (self, &request, case_out, NULL, NULL);
}

int
zvh_client_signal_raise (zvh_client_t *self, const zvh_raise_t *raise, char *event_id_out)
{
    assert (self);
    Zvh__V1__SignalRaise message = ZVH__V1__SIGNAL_RAISE__INIT;
    char error [ZVH_SIGNAL_ERR_MAX];
    if (zvh_raise_encode (raise, &message, error, sizeof error))
        return s_fail (self, ZVH_E_BAD_REQUEST, "%s", error);
    Zvh__V1__ControlRequest request = ZVH__V1__CONTROL_REQUEST__INIT;
    request.op = ZVH__V1__CONTROL_REQUEST__OP__OP_SIGNAL_RAISE;
    request.raise = &message;
    Zvh__V1__ControlReply *reply;
    int rc = s_call (self, &request, &reply);
    if (rc)
        return rc;
    if (event_id_out)
        snprintf (event_id_out, ZVH_EVENT_ID_MAX, "%s", reply->event_id);
    wire_free (&reply->base);
    return 0;
}

int
zvh_client_reload (zvh_client_t *self)
{
    assert (self);
    Zvh__V1__ControlRequest request = ZVH__V1__CONTROL_REQUEST__INIT;
    request.op = ZVH__V1__CONTROL_REQUEST__OP__OP_RELOAD;
    Zvh__V1__ControlReply *reply;
    int rc = s_call (self, &request, &reply);
    if (rc == 0)
        wire_free (&reply->base);
    return rc;
}

int
zvh_client_backup (zvh_client_t *self, const char *dir)
{
    assert (self);
    Zvh__V1__ControlRequest request = ZVH__V1__CONTROL_REQUEST__INIT;
    request.op = ZVH__V1__CONTROL_REQUEST__OP__OP_BACKUP;
    request.path = (char *) (dir ? dir : "");
    Zvh__V1__ControlReply *reply;
    int rc = s_call (self, &request, &reply);
    if (rc == 0)
        wire_free (&reply->base);
    return rc;
}

int
zvh_client_audit_verify (zvh_client_t *self, bool *intact, uint64_t *count)
{
    assert (self);
    Zvh__V1__ControlRequest request = ZVH__V1__CONTROL_REQUEST__INIT;
    request.op = ZVH__V1__CONTROL_REQUEST__OP__OP_AUDIT_VERIFY;
    Zvh__V1__ControlReply *reply;
    int rc = s_call (self, &request, &reply);
    if (rc)
        return rc;
    *intact = reply->audit_intact;
    *count = reply->audit_count;
    if (!reply->audit_intact)
        s_fail (self, 0, "%s", reply->error);
    wire_free (&reply->base);
    return 0;
}

//  One audit entry as a JSON object (the NEN 7513 fields and the chain).
static char *
s_audit_json (const Zvh__V1__AuditRecord *record)
{
    char prev [65] = "", hash [65] = "";
    for (size_t i = 0; i < record->prev_hash.len && i < 32; i++)
        snprintf (prev + 2 * i, 3, "%02x", record->prev_hash.data [i]);
    for (size_t i = 0; i < record->hash.len && i < 32; i++)
        snprintf (hash + 2 * i, 3, "%02x", record->hash.data [i]);
    json_t *json = json_pack ("{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, "
                              "s:s, s:s, s:s, s:s}",
        "seq", (json_int_t) record->seq, "time_ms", (json_int_t) record->time_ms,
        "action", record->action, "outcome", record->outcome, "actor", record->actor,
        "actor_role", record->actor_role, "on_behalf", record->on_behalf,
        "purpose", record->purpose, "legal_basis", record->legal_basis,
        "case_id", record->case_id, "event_id", record->event_id,
        "source", record->source, "detail", record->detail,
        "prev_hash", prev, "hash", hash);
    char *text = json ? json_dumps (json, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref (json);
    return text;
}

int
zvh_client_audit_export (zvh_client_t *self, uint64_t after, zvh_audit_visit_fn *visit,
                         void *arg)
{
    assert (self);
    int visited = 0;
    while (true) {
        Zvh__V1__ControlRequest request = ZVH__V1__CONTROL_REQUEST__INIT;
        request.op = ZVH__V1__CONTROL_REQUEST__OP__OP_AUDIT_EXPORT;
        request.after = after;
        request.limit = CLIENT_AUDIT_PAGE;
        Zvh__V1__ControlReply *reply;
        int rc = s_call (self, &request, &reply);
        if (rc)
            return rc;
        size_t count = reply->n_audit;
        for (size_t i = 0; i < count; i++) {
            char *text = s_audit_json (reply->audit [i]);
            if (text)
                visit (text, arg);
            free (text);
            after = reply->audit [i]->seq;
            visited++;
        }
        wire_free (&reply->base);
        //  A short page is the end: each export is itself audited, so the
        //  trail grows while it is read and "until empty" would never end
        if (count < CLIENT_AUDIT_PAGE)
            return visited;
    }
}

int
zvh_client_status (zvh_client_t *self, zvh_status_t *status)
{
    assert (self);
    memset (status, 0, sizeof *status);
    Zvh__V1__ControlRequest request = ZVH__V1__CONTROL_REQUEST__INIT;
    request.op = ZVH__V1__CONTROL_REQUEST__OP__OP_STATUS;
    Zvh__V1__ControlReply *reply;
    int rc = s_call (self, &request, &reply);
    if (rc)
        return rc;
    snprintf (status->region, sizeof status->region, "%s", reply->region);
    status->peer_count = reply->n_peers;
    status->peers = (zvh_peer_t *) calloc (reply->n_peers + 1, sizeof (zvh_peer_t));
    for (size_t i = 0; i < reply->n_peers; i++) {
        zvh_peer_t *peer = &status->peers [i];
        snprintf (peer->region, sizeof peer->region, "%s", reply->peers [i]->region);
        peer->up = reply->peers [i]->up;
        peer->outbox_depth = reply->peers [i]->outbox_depth;
        peer->last_seen_ms = reply->peers [i]->last_seen_ms;
        peer->oldest_ms = reply->peers [i]->oldest_ms;
        snprintf (peer->version, sizeof peer->version, "%s", reply->peers [i]->version);
    }
    for (size_t i = 0; i < reply->n_counts; i++) {
        int state = reply->counts [i]->state;
        if (state >= 0 && state <= ZVH_CASE_STATES)
            status->cases [state] = reply->counts [i]->count;
    }
    wire_free (&reply->base);
    return 0;
}

int
zvh_client_federation_status (zvh_client_t *self, char **json_p)
{
    assert (self && json_p);
    *json_p = NULL;
    Zvh__V1__ControlRequest request = ZVH__V1__CONTROL_REQUEST__INIT;
    request.op = ZVH__V1__CONTROL_REQUEST__OP__OP_FEDERATION_STATUS;
    Zvh__V1__ControlReply *reply;
    int rc = s_call (self, &request, &reply);
    if (rc)
        return rc;
    *json_p = strdup (reply->json ? reply->json : "");
    wire_free (&reply->base);
    return *json_p ? 0 : ZVH_E_PROTOCOL;
}

void
zvh_status_free (zvh_status_t *status)
{
    if (status) {
        free (status->peers);
        status->peers = NULL;
        status->peer_count = 0;
    }
}
