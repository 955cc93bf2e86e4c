/*  control: request dispatch for the local control socket.
 *
 *  Requests are decoded under the wire budget and read in batches (all that
 *  is waiting, up to CONTROL_BATCH_MAX). The changes of a batch are written
 *  in one store transaction, each in a nested one so that a refusal undoes
 *  only its own request: one fsync for many callers (group commit). Queries
 *  run in read transactions. Every answer goes out after the commit, with
 *  the status and the operator-readable reason the state machine gave.
 */
#include "status.h"
#include "control.h"
#include "fault.h"
#include "endpoint.h"
#include "log.h"
#include "zap.h"
#include "wire.h"
#include "zvh/zvh.h"
#include <sys/stat.h>

#define CONTROL_LIST_MAX       10000    //  cases in one list reply
#define CONTROL_PRIVATE_UMASK  0077     //  the socket file: daemon's user only
#define CONTROL_BACKUP_DIR_MAX 512      //  absolute path of a backup directory
#define CONTROL_BATCH_MAX      64       //  requests read and committed together
#define CONTROL_CLIENT_ID_BYTES 16      //  ControlRequest.client_id
#define CONTROL_DEDUP_KEY_BYTES (CONTROL_CLIENT_ID_BYTES + 8)
#define CONTROL_KEY_Z85_LEN     40      //  a CURVE public key in Z85
#define CONTROL_ACTOR_MAX       (CONFIG_ID_MAX * 2 + 2)     //  id@region
#define CONTROL_DEDUP_KEEP_MS  (24 * 3600 * 1000)  //  a retry comes within seconds: a day is ample
#define CONTROL_DEDUP_PURGE_MS (3600 * 1000)       //  old records are dropped this often
#define CONTROL_BACKUP_POLL_MS 50           //  a running backup is looked at this often

struct _control_t {
    const config_t *config;
    store_t *store;
    outbox_t *outbox;
    transfer_t *transfer;
    crisis_t *crisis;
    audit_t *audit;
    federation_t *federation;
    status_t *status;               //  OP_FEDERATION_STATUS, NULL = not yet
    zsock_t *router;
    control_reload_fn *reload;
    void *reload_arg;
    zframe_t *backup_caller;        //  who waits for the running backup, or NULL
    uint64_t backup_request_id;
    int backup_rc;                  //  the ended backup's result, answered after the turn
    char backup_dir [CONTROL_BACKUP_DIR_MAX];
    char backup_actor [CONTROL_ACTOR_MAX];          //  who asked for it
    char backup_source [CONTROL_KEY_Z85_LEN + 32];  //  its audit source
    struct _slot_t *slots;          //  the batch being handled
    size_t slot_count;
    int64_t next_dedup_purge_ms;
};

typedef struct {
    control_t *self;
    const Zvh__V1__ControlRequest *request;
    Zvh__V1__ControlReply *reply;
    int64_t now_ms;
    char case_id [ZVH_ID_MAX];
    zlist_t *garbage;               //  decoded messages the reply points into
    char error [TRANSFER_ERROR_MAX];    //  a refusal found by a read
    char event_id [CRISIS_EVENT_ID_MAX];
    char actor [CONTROL_ACTOR_MAX];   //  operator@region, or id@region (tcp://)
    const char *source;             //  source_text on tcp://, NULL on ipc://
    char source_text [CONTROL_KEY_Z85_LEN + 32];    //  "tcp control, key <Z85>"
    bool deferred;                  //  answered later (a backup)
} op_t;

//  One request of a batch, with its reply.
typedef struct _slot_t {
    op_t op;
    Zvh__V1__ControlRequest *request;   //  decoded, or NULL if it did not decode
    Zvh__V1__ControlRequest empty;
    Zvh__V1__ControlReply reply;
    zframe_t *routing_id;
    Zvh__V1__StateCount counts [ZVH_CASE_STATES + 1];
    Zvh__V1__StateCount *count_ptrs [ZVH_CASE_STATES + 1];
    bool write;                     //  a change, done in the batch's transaction
    int rc;                         //  of the change
    char *claimed_by;               //  a raise's own claims, put back after
    char *claimed_role;
    uint8_t dedup_key [CONTROL_DEDUP_KEY_BYTES];    //  client id, be64 request id
    bool dedup;                     //  a change with a client id: done once
    bool denied;                    //  a change asked by a read-only operator
    bool operator_known;            //  the key is an operator's (tcp://)
    char key [CONTROL_KEY_Z85_LEN + 1]; //  the caller's CURVE key (tcp://), else ""
    uint8_t *answer;                //  the encoded reply, sent after the turn's commit
    size_t answer_size;
    uint64_t request_id;
} slot_t;

#define CONTROL_OPERATOR_ROLE  "operator"   //  who raises through this socket

//  tcp:// is a CURVE server that only admits operator keys (zap.c).
static int
s_secure (control_t *self, zcert_t *cert)
{
    zcert_apply (cert, self->router);
    zsock_set_curve_server (self->router, 1);
    if (endpoint_enforce_zap (self->router, ZAP_DOMAIN_CONTROL)) {
        log_error ("control: cannot enforce ZAP on %s: %s", self->config->control,
                    zmq_strerror (zmq_errno ()));
        return -1;
    }
    return 0;
}

control_t *
control_new (const config_t *config, zcert_t *cert, store_t *store, outbox_t *outbox,
             transfer_t *transfer, crisis_t *crisis, audit_t *audit,
             federation_t *federation)
{
    control_t *self = (control_t *) zmalloc (sizeof (control_t));
    self->config = config;
    self->store = store;
    self->outbox = outbox;
    self->transfer = transfer;
    self->crisis = crisis;
    self->audit = audit;
    self->federation = federation;
    self->slots = (slot_t *) zmalloc (sizeof (slot_t) * CONTROL_BATCH_MAX);
    self->router = zsock_new (ZMQ_ROUTER);
    zsock_set_maxmsgsize (self->router, WIRE_MAX_FRAME_BYTES);
    zsock_set_linger (self->router, 0);
    if (config_control_is_tcp (config) && (!cert || s_secure (self, cert))) {
        control_destroy (&self);
        return NULL;
    }
    mode_t old_mask = umask (CONTROL_PRIVATE_UMASK);
    int port = zsock_bind (self->router, "%s", config->control);
    umask (old_mask);
    if (port < 0) {
        log_error ("control: cannot bind %s: %s", config->control,
                    zmq_strerror (zmq_errno ()));
        control_destroy (&self);
    }
    return self;
}

void
control_destroy (control_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        zframe_destroy (&(*self_p)->backup_caller);
        zsock_destroy (&(*self_p)->router);
        free ((*self_p)->slots);
        free (*self_p);
        *self_p = NULL;
    }
}

zsock_t *
control_socket (control_t *self)
{
    assert (self);
    return self->router;
}

static Zvh__V1__ControlReply__Status
s_status_of (int rc)
{
    switch (rc) {
        case 0:                     return ZVH__V1__CONTROL_REPLY__STATUS__STATUS_OK;
        case ZVH_E_NOT_FOUND:       return ZVH__V1__CONTROL_REPLY__STATUS__STATUS_NOT_FOUND;
        case ZVH_E_CONFLICT:        return ZVH__V1__CONTROL_REPLY__STATUS__STATUS_CONFLICT;
        case ZVH_E_UNKNOWN_REGION:  return ZVH__V1__CONTROL_REPLY__STATUS__STATUS_UNKNOWN_REGION;
        case ZVH_E_BAD_REQUEST:     return ZVH__V1__CONTROL_REPLY__STATUS__STATUS_BAD_REQUEST;
        default:                    return ZVH__V1__CONTROL_REPLY__STATUS__STATUS_STORE_ERROR;
    }
}

//  ---------------------------------------------------------------- writes

static int
s_apply_op (MDB_txn *txn, op_t *op)
{
    transfer_t *transfer = op->self->transfer;
    const Zvh__V1__ControlRequest *request = op->request;
    switch (request->op) {
        case ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_INCLUDE:
            return transfer_include (transfer, txn, request->case_id,
                                     request->plan.data, request->plan.len,
                                     op->now_ms, op->case_id);
        case ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_MOVE:
            return transfer_move (transfer, txn, request->case_id,
                                  request->region, op->now_ms);
        case ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_COMPLETE:
            return transfer_complete (transfer, txn, request->case_id, op->now_ms);
        case ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_CLOSE:
            return transfer_close (transfer, txn, request->case_id, op->now_ms);
        case ZVH__V1__CONTROL_REQUEST__OP__OP_SIGNAL_RAISE:
            return crisis_raise (op->self->crisis, txn, request->raise, op->now_ms,
                                 op->event_id);
        default:
            return transfer_plan_update (transfer, txn, request->case_id,
                                         request->plan.data, request->plan.len,
                                         op->now_ms);
    }
}

//  ---------------------------------------------------------------- audit

//  The audit action and wording of each operation.
static void
s_describe (const Zvh__V1__ControlRequest *request, const char **action,
            const char **detail)
{
    switch (request->op) {
        case ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_INCLUDE:
            *action = "create"; *detail = "case included with its plan"; break;
        case ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_MOVE:
            *action = "transfer"; *detail = "warm handover offered"; break;
        case ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_COMPLETE:
            *action = "change"; *detail = "joint phase completed"; break;
        case ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_CLOSE:
            *action = "change"; *detail = "case closed (outflow), plan purged"; break;
        case ZVH__V1__CONTROL_REQUEST__OP__OP_SIGNAL_RAISE:
            *action = "create"; *detail = "crisis signal raised"; break;
        case ZVH__V1__CONTROL_REQUEST__OP__OP_PLAN_UPDATE:
            *action = "change"; *detail = "plan updated"; break;
        case ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_SHOW:
            *action = "read"; *detail = "case and plan shown"; break;
        case ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_LIST:
            *action = "read"; *detail = "case list"; break;
        case ZVH__V1__CONTROL_REQUEST__OP__OP_BACKUP:
            *action = "read"; *detail = "store backup (every case, plan and signal, "
                                        "sealed)"; break;
        default:
            *action = "read"; *detail = "status or audit"; break;
    }
}

//  The legal route named by a plan in the request, if any.
static const char *
s_route_of (const Zvh__V1__ControlRequest *request)
{
    static const char *const routes [] = {
        "", "consent", "conditional", "wvggz", "wzd", "bemoeizorg" };
    Zvh__V1__Plan *plan = request->plan.len
        ? WIRE_DECODE (Zvh__V1__Plan, zvh__v1__plan, request->plan.data, request->plan.len)
        : NULL;
    int route = plan && plan->legal_basis ? plan->legal_basis->route : 0;
    wire_free (plan ? &plan->base : NULL);
    return route > 0 && (size_t) route < sizeof routes / sizeof routes [0] ? routes [route] : "";
}

static void
s_audit_entry (op_t *op, audit_entry_t *entry, const char *outcome, const char *why)
{
    memset (entry, 0, sizeof *entry);
    s_describe (op->request, &entry->action, &entry->detail);
    entry->outcome = outcome;
    entry->actor = op->actor;
    entry->actor_role = CONTROL_OPERATOR_ROLE;
    entry->on_behalf = op->self->config->region;
    entry->purpose = "levensloopaanpak: case work by the region's operators";
    entry->legal_basis = s_route_of (op->request);
    entry->case_id = *op->case_id ? op->case_id : NULL;
    entry->source = op->source ? op->source : "local control socket (zvhctl, libzvh)";
    entry->event_id = *op->event_id ? op->event_id : NULL;
    if (why)
        entry->detail = why;
}

static int
s_write_op (MDB_txn *txn, void *arg)
{
    op_t *op = (op_t *) arg;
    int rc = s_apply_op (txn, op);
    if (rc == 0) {
        audit_entry_t entry;
        s_audit_entry (op, &entry, "ok", NULL);
        rc = audit_record (op->self->audit, txn, &entry, op->now_ms);
    }
    return rc;
}

//  ---------------------------------------------------------------- reads

static int
s_read_case (MDB_txn *txn, void *arg)
{
    op_t *op = (op_t *) arg;
    Zvh__V1__Case *found = transfer_case (op->self->transfer, txn, op->case_id);
    if (!found) {
        snprintf (op->error, sizeof op->error, "case %s is not known in region %s",
                  op->case_id, op->self->config->region);
        return ZVH_E_NOT_FOUND;
    }
    zlist_append (op->garbage, found);
    op->reply->case_ = found;
    MDB_val plan;
    if (op->request->op == ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_SHOW
    &&  transfer_plan (op->self->transfer, txn, op->case_id, &plan) == 0) {
        op->reply->plan.data = (uint8_t *) malloc (plan.mv_size ? plan.mv_size : 1);
        memcpy (op->reply->plan.data, plan.mv_data, plan.mv_size);
        op->reply->plan.len = plan.mv_size;
    }
    return 0;
}

//  Status: the kept per-state counters, without unsealing every record.
static int
s_read_counts (MDB_txn *txn, op_t *op)
{
    uint64_t counts [ZVH_CASE_STATES + 1];
    int rc = transfer_count_states (op->self->transfer, txn, counts);
    for (size_t state = 1; rc == 0 && state < op->reply->n_counts
                                   && state <= ZVH_CASE_STATES; state++)
        op->reply->counts [state]->count = counts [state];
    return rc;
}

static int
s_read_cases (MDB_txn *txn, void *arg)
{
    op_t *op = (op_t *) arg;
    bool counts_only = op->request->op == ZVH__V1__CONTROL_REQUEST__OP__OP_STATUS;
    if (counts_only)
        return s_read_counts (txn, op);
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, store_dbi (op->self->store, STORE_DB_CASES), &cursor);
    if (rc)
        return rc;
    MDB_val key, value;
    rc = store_cursor_get (op->self->store, cursor, STORE_DB_CASES, &key, &value, MDB_FIRST);
    for (; rc == 0; rc = store_cursor_get (op->self->store, cursor, STORE_DB_CASES, &key, &value, MDB_NEXT)) {
        Zvh__V1__Case *found = WIRE_DECODE (Zvh__V1__Case, zvh__v1__case,
                                            value.mv_data, value.mv_size);
        if (!found)
            continue;
        int state = found->state;
        if (state > 0 && (size_t) state < op->reply->n_counts)
            op->reply->counts [state]->count++;
        if (counts_only || op->reply->n_cases >= CONTROL_LIST_MAX)
            wire_free (&found->base);
        else {
            zlist_append (op->garbage, found);
            op->reply->cases [op->reply->n_cases++] = found;
        }
    }
    mdb_cursor_close (cursor);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int
s_read_peers (MDB_txn *txn, void *arg)
{
    op_t *op = (op_t *) arg;
    federation_t *federation = op->self->federation;
    for (size_t i = 0; i < op->reply->n_peers; i++) {
        peer_t *peer = federation_peer (federation, i);
        Zvh__V1__PeerStatus *status = op->reply->peers [i];
        status->region = (char *) peer_region (peer);
        status->up = peer_is_up (peer, op->now_ms);
        status->last_seen_ms = peer_last_seen (peer);
        status->version = (char *) peer_version (peer);
        int rc = outbox_depth (op->self->outbox, txn, status->region,
                               &status->outbox_depth, &status->oldest_ms);
        if (rc)
            return rc;
    }
    return 0;
}

static int
s_audit_verify (MDB_txn *txn, void *arg)
{
    op_t *op = (op_t *) arg;
    char why [AUDIT_WHY_MAX];
    int rc = audit_verify (op->self->audit, txn, &op->reply->audit_count, why);
    if (rc > 0 && !STORE_IS_APP_CODE (rc)) {
        op->reply->audit_intact = false;
        snprintf (op->error, sizeof op->error, "%s", why);
        return 0;
    }
    op->reply->audit_intact = rc == 0;
    return rc;
}

#define CONTROL_AUDIT_PAGE_MAX  1000    //  entries in one export reply

static int
s_collect_audit (const Zvh__V1__AuditRecord *record, void *arg)
{
    op_t *op = (op_t *) arg;
    size_t size;
    uint8_t *bytes = wire_encode (&record->base, &size);
    Zvh__V1__AuditRecord *copy = bytes
        ? WIRE_DECODE (Zvh__V1__AuditRecord, zvh__v1__audit_record, bytes, size) : NULL;
    free (bytes);
    if (!copy)
        return 1;
    zlist_append (op->garbage, copy);
    op->reply->audit [op->reply->n_audit++] = copy;
    return 0;
}

static int
s_audit_export (MDB_txn *txn, void *arg)
{
    op_t *op = (op_t *) arg;
    size_t limit = op->request->limit && op->request->limit < CONTROL_AUDIT_PAGE_MAX
                 ? op->request->limit : CONTROL_AUDIT_PAGE_MAX;
    op->reply->audit = (Zvh__V1__AuditRecord **) zmalloc (sizeof (void *) * (limit + 1));
    return audit_scan (op->self->audit, txn, op->request->after, limit,
                       s_collect_audit, op);
}

void
control_set_reload (control_t *self, control_reload_fn *reload, void *arg)
{
    assert (self);
    self->reload = reload;
    self->reload_arg = arg;
}

void
control_set_status (control_t *self, status_t *status)
{
    assert (self);
    self->status = status;
}

void
control_set_config (control_t *self, const config_t *config, bool withdrawn)
{
    assert (self && config);
    self->config = config;
    //  A withdrawn operator key's live tcp:// connection is closed, as a
    //  region's or partner's is (PROTOCOL 9.1): it must shake hands again
    if (withdrawn && config_control_is_tcp (config))
        endpoint_rebind (self->router, ZAP_DOMAIN_CONTROL);
}

//  ---------------------------------------------------------------- dispatch

//  A raise through the control socket is raised by this region's operator,
//  whatever the request claims: the socket is private to the daemon's user.
static void
s_raise_claims (slot_t *slot, char *raised_by)
{
    Zvh__V1__SignalRaise *raise = slot->request->raise;
    slot->claimed_by = raise->raised_by;
    slot->claimed_role = raise->raised_role;
    snprintf (raised_by, CONTROL_ACTOR_MAX, "%s", slot->op.actor);
    raise->raised_by = raised_by;
    raise->raised_role = (char *) CONTROL_OPERATOR_ROLE;
    raise->raised_ms = slot->op.now_ms;
}

static void
s_raise_done (slot_t *slot)
{
    Zvh__V1__SignalRaise *raise = slot->request->raise;
    raise->raised_by = slot->claimed_by;
    raise->raised_role = slot->claimed_role;
    op_t *op = &slot->op;
    if (slot->rc && STORE_IS_APP_CODE (slot->rc) && slot->rc != ZVH_E_FULL
    &&  slot->rc != ZVH_E_STORE && !*op->error)
        snprintf (op->error, sizeof op->error, "%s", crisis_error (op->self->crisis));
    if (slot->rc == 0)
        op->reply->event_id = op->event_id;
}

//  Start a backup; the reply waits for control_pump to see it end.
static int
s_backup (op_t *op)
{
    control_t *self = op->self;
    const char *dir = op->request->path ? op->request->path : "";
    if (*dir != '/' || strlen (dir) >= sizeof self->backup_dir) {
        snprintf (op->error, sizeof op->error, "backup needs an absolute directory "
                  "path of at most %d bytes, not '%.200s'", CONTROL_BACKUP_DIR_MAX - 1,
                  dir);
        return ZVH_E_BAD_REQUEST;
    }
    int rc = store_backup_start (self->store, dir);
    if (rc) {
        snprintf (op->error, sizeof op->error, "%s", store_backup_error (self->store));
        return rc;
    }
    snprintf (self->backup_dir, sizeof self->backup_dir, "%s", dir);
    snprintf (self->backup_actor, sizeof self->backup_actor, "%s", op->actor);
    snprintf (self->backup_source, sizeof self->backup_source, "%s",
              op->source ? op->source : "local control socket (zvhctl, libzvh)");
    op->deferred = true;
    return 0;
}

//  A query or an operation that is not a change of cases or signals.
static int
s_run (op_t *op)
{
    control_t *self = op->self;
    const Zvh__V1__ControlRequest *request = op->request;
    switch (request->op) {
        case ZVH__V1__CONTROL_REQUEST__OP__OP_SIGNAL_RAISE:
            snprintf (op->error, sizeof op->error, "signal raise without a signal");
            return ZVH_E_BAD_REQUEST;
        case ZVH__V1__CONTROL_REQUEST__OP__OP_AUDIT_VERIFY:
            return store_read_turn (self->store, s_audit_verify, op);
        case ZVH__V1__CONTROL_REQUEST__OP__OP_AUDIT_EXPORT:
            return store_read_turn (self->store, s_audit_export, op);
        case ZVH__V1__CONTROL_REQUEST__OP__OP_RELOAD:
            if (!self->reload || self->reload (self->reload_arg)) {
                snprintf (op->error, sizeof op->error, "reload failed: the daemon "
                          "keeps its keys; see its log for the errors in the files");
                return ZVH_E_BAD_REQUEST;
            }
            return 0;
        case ZVH__V1__CONTROL_REQUEST__OP__OP_BACKUP:
            return s_backup (op);
        case ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_SHOW:
            return store_read_turn (self->store, s_read_case, op);
        case ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_LIST:
            return store_read_turn (self->store, s_read_cases, op);
        case ZVH__V1__CONTROL_REQUEST__OP__OP_STATUS: {
            int rc = store_read_turn (self->store, s_read_cases, op);
            return rc ? rc : store_read_turn (self->store, s_read_peers, op);
        }
        case ZVH__V1__CONTROL_REQUEST__OP__OP_FEDERATION_STATUS:
        {
            char *json = self->status ? status_json (self->status, op->now_ms) : NULL;
            if (json)
                op->reply->json = json;
            return json ? 0 : ZVH_E_STORE;
        }
        default:
            snprintf (op->error, sizeof op->error, "unknown operation %d", request->op);
            return ZVH_E_BAD_REQUEST;
    }
}

static const char *
s_error_text (op_t *op, int rc)
{
    if (*op->error)
        return op->error;
    if (rc == ZVH_E_BAD_REQUEST && op->request->op == 0)
        return "unknown operation";
    if (rc == ZVH_E_FULL)
        return "the daemon's store is full (its disk, or the map at map_max_mb): nothing "
               "of this was written; see its log for which, and free space or raise the "
               "ceiling";
    if (rc == ZVH_E_STORE)
        return "the daemon could not write its store; see its log";
    return transfer_error (op->self->transfer);
}

//  Allocate the repeated fields a status or list reply fills in.
static void
s_prepare_reply (op_t *op, Zvh__V1__StateCount *counts, Zvh__V1__StateCount **count_ptrs,
                 size_t count_size)
{
    Zvh__V1__ControlReply *reply = op->reply;
    //  Into the config: the reply goes out before control_handle returns, and
    //  a reload swaps configs only between handlers (zvhd.c, s_reload)
    reply->region = (char *) op->self->config->region;
    for (size_t state = 0; state < count_size; state++) {
        zvh__v1__state_count__init (&counts [state]);
        counts [state].state = (Zvh__V1__CaseState) state;
        count_ptrs [state] = &counts [state];
    }
    reply->counts = count_ptrs;
    reply->n_counts = count_size;
    if (op->request->op == ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_LIST)
        reply->cases = (Zvh__V1__Case **) zmalloc (sizeof (void *) * CONTROL_LIST_MAX);
    if (op->request->op == ZVH__V1__CONTROL_REQUEST__OP__OP_STATUS) {
        size_t peers = federation_peer_count (op->self->federation);
        reply->peers = (Zvh__V1__PeerStatus **) zmalloc (sizeof (void *) * (peers + 1));
        for (size_t i = 0; i < peers; i++) {
            reply->peers [i] = (Zvh__V1__PeerStatus *) zmalloc (sizeof (Zvh__V1__PeerStatus));
            zvh__v1__peer_status__init (reply->peers [i]);
        }
        reply->n_peers = peers;
    }
}

static void
s_send_reply (control_t *self, zframe_t **routing_id_p, Zvh__V1__ControlReply *reply)
{
    size_t size;
    uint8_t *bytes = wire_encode (&reply->base, &size);
    if (bytes && zframe_send (routing_id_p, self->router, ZFRAME_MORE) == 0)
        zmq_send (zsock_resolve (self->router), bytes, size, ZMQ_DONTWAIT);
    zframe_destroy (routing_id_p);
    free (bytes);
}

static void
s_free_reply (op_t *op)
{
    Zvh__V1__ControlReply *reply = op->reply;
    for (size_t i = 0; i < reply->n_peers; i++)
        free (reply->peers [i]);
    free (reply->peers);
    if (reply->json != protobuf_c_empty_string)
        free (reply->json);
    free (reply->cases);
    free (reply->audit);
    free (reply->plan.data);
    for (void *msg = zlist_first (op->garbage); msg; msg = zlist_next (op->garbage))
        wire_free ((ProtobufCMessage *) msg);
    zlist_destroy (&op->garbage);
}

//  Reads and refusals are recorded here, each in its own transaction;
//  successful changes were recorded with the change itself.
static void
s_audit_outside_txn (op_t *op, int rc, const char *error)
{
    int kind = op->request->op;
    bool read = kind == ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_SHOW
             || kind == ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_LIST
             || kind == ZVH__V1__CONTROL_REQUEST__OP__OP_AUDIT_EXPORT;
    if (rc == 0 && !read)
        return;
    audit_entry_t entry;
    s_audit_entry (op, &entry, rc ? "refused" : "ok", rc ? error : NULL);
    if (rc)
        entry.action = "refuse";
    audit_record_now (op->self->audit, &entry, op->now_ms);
}

//  The changes: written in the batch's transaction.
static bool
s_is_write (const Zvh__V1__ControlRequest *request)
{
    switch (request->op) {
        case ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_INCLUDE:
        case ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_MOVE:
        case ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_COMPLETE:
        case ZVH__V1__CONTROL_REQUEST__OP__OP_PLAN_UPDATE:
        case ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_CLOSE:
            return true;
        case ZVH__V1__CONTROL_REQUEST__OP__OP_SIGNAL_RAISE:
            return request->raise != NULL;
        default:
            return false;
    }
}

//  What a read-only operator may ask: reads that change nothing.
static bool
s_is_read (const Zvh__V1__ControlRequest *request)
{
    switch (request->op) {
        case ZVH__V1__CONTROL_REQUEST__OP__OP_STATUS:
        case ZVH__V1__CONTROL_REQUEST__OP__OP_FEDERATION_STATUS:
        case ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_SHOW:
        case ZVH__V1__CONTROL_REQUEST__OP__OP_CASE_LIST:
        case ZVH__V1__CONTROL_REQUEST__OP__OP_AUDIT_VERIFY:
        case ZVH__V1__CONTROL_REQUEST__OP__OP_AUDIT_EXPORT:
            return true;
        default:
            return false;
    }
}

//  Who asks: on ipc:// the host's operator (operator@region); on tcp:// the
//  operator whose key passed the handshake, by its id, with its key as the
//  audit source; a read-only one is denied every change.
static void
s_identify (control_t *self, slot_t *slot)
{
    op_t *op = &slot->op;
    const config_operator_t *operator_ = *slot->key
        ? config_operator_by_key (self->config, slot->key) : NULL;
    if (!operator_) {
        snprintf (op->actor, sizeof op->actor, "operator@%s", self->config->region);
        slot->denied = config_control_is_tcp (self->config);   //  revoked since
        slot->operator_known = false;
        return;
    }
    snprintf (op->actor, sizeof op->actor, "%s@%s", operator_->id, self->config->region);
    snprintf (op->source_text, sizeof op->source_text, "tcp control, key %s", slot->key);
    op->source = op->source_text;
    slot->operator_known = true;
    slot->denied = !operator_->read_write && !s_is_read (op->request);
}

//  Read one waiting request into slot; false if nothing was there.
static bool
s_read_slot (control_t *self, slot_t *slot, int64_t now_ms)
{
    zmsg_t *msg = zmsg_recv (self->router);
    if (!msg)
        return false;
    memset (slot, 0, sizeof *slot);
    slot->routing_id = zmsg_pop (msg);
    zframe_t *body = zmsg_pop (msg);
    zmsg_destroy (&msg);
    const char *key = body ? zframe_meta (body, "User-Id") : NULL;
    snprintf (slot->key, sizeof slot->key, "%s", key ? key : "");
    slot->request = body
        ? WIRE_DECODE (Zvh__V1__ControlRequest, zvh__v1__control_request,
                       zframe_data (body), zframe_size (body))
        : NULL;
    zframe_destroy (&body);
    zvh__v1__control_request__init (&slot->empty);
    zvh__v1__control_reply__init (&slot->reply);
    op_t *op = &slot->op;
    op->self = self;
    op->request = slot->request ? slot->request : &slot->empty;
    op->reply = &slot->reply;
    op->now_ms = now_ms;
    op->garbage = zlist_new ();
    s_identify (self, slot);
    snprintf (op->case_id, sizeof op->case_id, "%s",
              op->request->case_id ? op->request->case_id : "");
    s_prepare_reply (op, slot->counts, slot->count_ptrs, ZVH_CASE_STATES + 1);
    slot->write = slot->request && s_is_write (slot->request) && !slot->denied;
    slot->dedup = slot->write && slot->request->client_id.len == CONTROL_CLIENT_ID_BYTES;
    if (slot->dedup) {
        memcpy (slot->dedup_key, slot->request->client_id.data, CONTROL_CLIENT_ID_BYTES);
        for (size_t i = 0; i < sizeof (uint64_t); i++)
            slot->dedup_key [CONTROL_CLIENT_ID_BYTES + i] =
                (uint8_t) (slot->request->request_id >> (8 * (sizeof (uint64_t) - 1 - i)));
    }
    return true;
}

//  The first result of a change asked again: its case and event ids.
static void
s_replay (op_t *op, const MDB_val *found)
{
    const char *ids = (const char *) found->mv_data + sizeof (uint64_t);
    size_t size = found->mv_size - sizeof (uint64_t);
    size_t case_size = strnlen (ids, size);
    snprintf (op->case_id, sizeof op->case_id, "%.*s", (int) case_size, ids);
    if (case_size < size)
        snprintf (op->event_id, sizeof op->event_id, "%.*s", (int) (size - case_size - 1),
                  ids + case_size + 1);
}

//  Kept with the change, in its transaction: a retry after a crash between
//  the commit and the reply finds it (PROTOCOL 9.2).
static int
s_record_request (MDB_txn *txn, slot_t *slot)
{
    op_t *op = &slot->op;
    size_t case_size = strlen (op->case_id), event_size = strlen (op->event_id);
    uint8_t value [sizeof (uint64_t) + ZVH_ID_MAX + CRISIS_EVENT_ID_MAX];
    uint64_t when = (uint64_t) op->now_ms;
    for (size_t i = 0; i < sizeof when; i++)
        value [i] = (uint8_t) (when >> (8 * (sizeof when - 1 - i)));
    memcpy (value + sizeof when, op->case_id, case_size + 1);
    memcpy (value + sizeof when + case_size + 1, op->event_id, event_size);
    return store_put (op->self->store, txn, STORE_DB_REQUESTS, slot->dedup_key,
                      sizeof slot->dedup_key, value,
                      sizeof when + case_size + 1 + event_size, 0);
}

static int
s_write_slot (MDB_txn *txn, void *arg)
{
    slot_t *slot = (slot_t *) arg;
    if (slot->dedup) {
        MDB_val found;
        int rc = store_get (slot->op.self->store, txn, STORE_DB_REQUESTS, slot->dedup_key,
                            sizeof slot->dedup_key, &found);
        if (rc == 0 && found.mv_size > sizeof (uint64_t)) {
            s_replay (&slot->op, &found);
            return 0;                   //  done before: nothing changes now
        }
        if (rc && rc != MDB_NOTFOUND)
            return rc;
    }
    int rc = s_write_op (txn, &slot->op);
    return rc == 0 && slot->dedup ? s_record_request (txn, slot) : rc;
}

//  Every change of the batch, each in its own nested transaction. A store
//  error (or a full map, which store_write grows and retries) ends the
//  whole batch; a refusal only its own request.
static int
s_write_batch (MDB_txn *txn, void *arg)
{
    control_t *self = (control_t *) arg;
    for (size_t i = 0; i < self->slot_count; i++) {
        slot_t *slot = &self->slots [i];
        if (!slot->write)
            continue;
        slot->op.error [0] = 0;
        slot->rc = store_nested (self->store, txn, s_write_slot, slot);
        if (slot->rc && !STORE_IS_APP_CODE (slot->rc))
            return slot->rc;
        if (slot->rc && !*slot->op.error)   //  the state machine's reason, now
            snprintf (slot->op.error, sizeof slot->op.error, "%s",
                      slot->request->op == ZVH__V1__CONTROL_REQUEST__OP__OP_SIGNAL_RAISE
                      ? crisis_error (self->crisis) : transfer_error (self->transfer));
    }
    return 0;
}

//  Commit the batch's changes; every change gets the batch's outcome if the
//  commit failed.
static void
s_commit_writes (control_t *self)
{
    char raised_by [CONTROL_BATCH_MAX][CONTROL_ACTOR_MAX];
    bool any = false;
    for (size_t i = 0; i < self->slot_count; i++) {
        slot_t *slot = &self->slots [i];
        if (slot->write && slot->request->op == ZVH__V1__CONTROL_REQUEST__OP__OP_SIGNAL_RAISE)
            s_raise_claims (slot, raised_by [i]);
        any = any || slot->write;
    }
    if (!any)
        return;
    int rc = store_write (self->store, s_write_batch, self);
    for (size_t i = 0; i < self->slot_count; i++) {
        slot_t *slot = &self->slots [i];
        if (!slot->write)
            continue;
        if (rc) {
            slot->rc = rc;
            slot->op.error [0] = 0;
        }
        if (slot->request->op == ZVH__V1__CONTROL_REQUEST__OP__OP_SIGNAL_RAISE)
            s_raise_done (slot);
    }
    if (rc == 0)
        federation_wake_after_commit (self->federation);
}

//  Run what is not a change, fill the reply of a change, answer, free.
static void
s_finish_slot (control_t *self, slot_t *slot)
{
    op_t *op = &slot->op;
    Zvh__V1__ControlReply *reply = &slot->reply;
    int rc;
    if (!slot->request)
        rc = ZVH_E_BAD_REQUEST;
    else
    if (slot->denied && !slot->operator_known) {
        snprintf (op->error, sizeof op->error, "key %s is no longer an operator key of "
                  "region %s (revoked, or gone from the operators file): nothing is "
                  "answered to it", slot->key, self->config->region);
        rc = ZVH_E_BAD_REQUEST;
    }
    else
    if (slot->denied) {
        snprintf (op->error, sizeof op->error, "%s may only read (access = read-only in "
                  "the operators file); ask the region's IT for read-write access",
                  op->actor);
        rc = ZVH_E_BAD_REQUEST;
    }
    else
    if (!slot->write)
        rc = s_run (op);
    else {
        rc = slot->rc;
        if (rc == 0 && op->request->op != ZVH__V1__CONTROL_REQUEST__OP__OP_SIGNAL_RAISE)
            rc = store_read_turn (self->store, s_read_case, op);
    }
    reply->status = s_status_of (rc);
    reply->request_id = op->request->request_id;
    if (rc)
        reply->error = (char *) (slot->request ? s_error_text (op, rc)
                                               : "the request is not a ControlRequest");
    else
    if (*op->error)
        reply->error = op->error;   //  e.g. where a broken audit chain breaks
    s_audit_outside_txn (op, rc, reply->error);
    if (op->deferred) {
        self->backup_caller = slot->routing_id;
        slot->routing_id = NULL;
        self->backup_request_id = reply->request_id;
    }
    else {
        slot->answer = wire_encode (&reply->base, &slot->answer_size);
        slot->request_id = reply->request_id;
    }
    s_free_reply (op);
    wire_free (slot->request ? &slot->request->base : NULL);
}

//  After the turn's commit: every answer of the batch, or, if the commit
//  failed, the store's error (a change is not done, a read not audited).
static void
s_batch_done (void *arg, bool committed)
{
    control_t *self = (control_t *) arg;
    bool changed = false;
    for (size_t i = 0; i < self->slot_count; i++)
        changed = changed || (self->slots [i].write && self->slots [i].rc == 0);
    if (committed && changed)
        fault_point ("control_write");
    for (size_t i = 0; i < self->slot_count; i++) {
        slot_t *slot = &self->slots [i];
        if (!slot->routing_id)
            continue;               //  a backup: answered when it ends
        if (committed && slot->answer) {
            if (zframe_send (&slot->routing_id, self->router, ZFRAME_MORE) == 0)
                zmq_send (zsock_resolve (self->router), slot->answer, slot->answer_size,
                          ZMQ_DONTWAIT);
        }
        else {
            Zvh__V1__ControlReply reply = ZVH__V1__CONTROL_REPLY__INIT;
            reply.status = s_status_of (ZVH_E_STORE);
            reply.request_id = slot->request_id;
            reply.error = (char *) "the daemon could not commit this request's turn to "
                          "its store (see its log: disk full or failing?); nothing of it "
                          "was done: send it again";
            s_send_reply (self, &slot->routing_id, &reply);
        }
        zframe_destroy (&slot->routing_id);
        free (slot->answer);
        slot->answer = NULL;
    }
    self->slot_count = 0;
}

void
control_handle (control_t *self, int64_t now_ms)
{
    assert (self);
    self->slot_count = 0;
    while (self->slot_count < CONTROL_BATCH_MAX
       &&  (self->slot_count == 0 || (zsock_events (self->router) & ZMQ_POLLIN))
       &&  s_read_slot (self, &self->slots [self->slot_count], now_ms))
        self->slot_count++;
    s_commit_writes (self);
    for (size_t i = 0; i < self->slot_count; i++)
        s_finish_slot (self, &self->slots [i]);
    store_after_commit (self->store, s_batch_done, self);
}

//  Drop the records of changes older than a day: no client retries so late.
static int
s_purge_requests (MDB_txn *txn, void *arg)
{
    control_t *self = (control_t *) arg;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, store_dbi (self->store, STORE_DB_REQUESTS), &cursor);
    if (rc)
        return rc;
    uint64_t oldest = (uint64_t) (zclock_time () - CONTROL_DEDUP_KEEP_MS);
    MDB_val key, value;
    for (rc = mdb_cursor_get (cursor, &key, &value, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get (cursor, &key, &value, MDB_NEXT)) {
        uint64_t when = 0;
        for (size_t i = 0; i < sizeof when && i < value.mv_size; i++)
            when = (when << 8) | ((const uint8_t *) value.mv_data) [i];
        if (when < oldest && (rc = mdb_cursor_del (cursor, 0)) != 0)
            break;
    }
    mdb_cursor_close (cursor);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

//  The backup's answer, once the turn holding its audit entry committed.
static void
s_backup_answer (void *arg, bool committed)
{
    control_t *self = (control_t *) arg;
    Zvh__V1__ControlReply reply = ZVH__V1__CONTROL_REPLY__INIT;
    int rc = committed ? self->backup_rc : ZVH_E_STORE;
    reply.status = s_status_of (rc);
    reply.request_id = self->backup_request_id;
    reply.region = (char *) self->config->region;
    if (!committed)
        reply.error = (char *) "the backup was written, but its audit entry could not be "
                      "stored (see the daemon's log); take the backup again";
    else
    if (rc)
        reply.error = (char *) store_backup_error (self->store);
    s_send_reply (self, &self->backup_caller, &reply);
}

void
control_pump (control_t *self, int64_t now_ms)
{
    assert (self);
    if (now_ms >= self->next_dedup_purge_ms) {
        self->next_dedup_purge_ms = now_ms + CONTROL_DEDUP_PURGE_MS;
        if (store_write (self->store, s_purge_requests, self))
            log_warning ("control: could not drop old request records; tried again in "
                          "an hour");
    }
    int rc;
    if (!store_backup_done (self->store, &rc))
        return;
    char detail [CONTROL_BACKUP_DIR_MAX + 96];
    snprintf (detail, sizeof detail, "store backup (every case, plan and signal, "
              "sealed) written to %s", self->backup_dir);
    audit_entry_t entry = {
        .action = "read", .outcome = rc ? "failed" : "ok", .actor = self->backup_actor,
        .actor_role = CONTROL_OPERATOR_ROLE, .on_behalf = self->config->region,
        .purpose = "levensloopaanpak: continuity of the region's records",
        .source = self->backup_source,
        .detail = rc ? store_backup_error (self->store) : detail };
    audit_record_now (self->audit, &entry, now_ms);
    self->backup_rc = rc;
    if (self->backup_caller)
        store_after_commit (self->store, s_backup_answer, self);
}

int64_t
control_next_due_ms (control_t *self, int64_t now_ms)
{
    assert (self);
    store_stats_t stats;
    store_stats (self->store, &stats);
    int64_t due_ms = self->next_dedup_purge_ms;
    if (stats.backup_running && now_ms + CONTROL_BACKUP_POLL_MS < due_ms)
        due_ms = now_ms + CONTROL_BACKUP_POLL_MS;
    return due_ms;
}
