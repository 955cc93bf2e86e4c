/*  crisis: raise, route, enrich and publish signals and label events.
 *
 *  "Publish" is one step: append to this region's log (once per event id)
 *  and, if the event is new here and meant for everyone, queue one envelope
 *  for every federated peer in the same transaction. A partner view never
 *  holds the plan itself: only the per-role parts listed in RoleView.
 */
#include "crisis.h"
#include "figures.h"
#include "log.h"
#include "proof.h"
#include "zvh/zvh.h"
#include <czmq.h>
#include <time.h>

#define CRISIS_ROLES_MAX     16
#define CRISIS_ACTIONS_MAX   32
#define CRISIS_ERROR_MAX     256
#define CRISIS_META_KEY_MAX  (CONFIG_ID_MAX + 16)
#define CRISIS_META_REVIEW   "rev:"
#define CRISIS_META_REVIEW_AT "review_pass_at"  //  case id the review pass goes on after
#define CRISIS_REVIEW_SLICE  128             //  case records per review step
#define CRISIS_COORDINATOR   "coordinator"   //  team role that partners call
#define CRISIS_DATE_LEN      10              //  YYYY-MM-DD
#define MS_PER_DAY           (24LL * 3600 * 1000)

struct _crisis_t {
    store_t *store;
    outbox_t *outbox;
    signal_log_t *log;
    transfer_t *transfer;
    figures_t *figures;                             //  signals raised here, by kind
    const config_t *config;
    const char *peers [CONFIG_REGIONS_MAX + 1];     //  NULL-terminated; ids in config
    char error [CRISIS_ERROR_MAX];
    bool signs;                                     //  sign_key was given
    uint8_t sign_key [WIRE_SIGN_SECRET_BYTES];      //  for the proofs of events made here
};

//  The per-role parts of a plan, pointing into the decoded plan.
typedef struct {
    Zvh__V1__Plan *plan;
    size_t role_count;
    Zvh__V1__RoleView roles [CRISIS_ROLES_MAX];
    Zvh__V1__RoleView *role_ptrs [CRISIS_ROLES_MAX];
    char *actions [CRISIS_ROLES_MAX][CRISIS_ACTIONS_MAX];
} enrich_t;

static int s_on_case_event (void *arg, MDB_txn *txn, transfer_event_t event,
                            const char *case_id, const char *previous_region,
                            int64_t now_ms);

crisis_t *
crisis_new (store_t *store, outbox_t *outbox, signal_log_t *log,
            transfer_t *transfer, const config_t *config)
{
    crisis_t *self = (crisis_t *) zmalloc (sizeof (crisis_t));
    self->store = store;
    self->outbox = outbox;
    self->log = log;
    self->transfer = transfer;
    self->figures = figures_new (store);
    crisis_reload (self, config);
    transfer_set_hook (transfer, s_on_case_event, self);
    return self;
}

void
crisis_reload (crisis_t *self, const config_t *config)
{
    assert (self && config);
    self->config = config;
    size_t count = 0;
    for (size_t i = 0; i < config->region_count; i++) {
        const config_region_t *region = &config->regions [i];
        if (!streq (region->id, config->region) && config_region_is_federated (region)
        &&  !config_is_revoked (config, region->public_key))
            self->peers [count++] = region->id;
    }
    self->peers [count] = NULL;
}

void
crisis_destroy (crisis_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        transfer_set_hook ((*self_p)->transfer, NULL, NULL);
        sodium_memzero ((*self_p)->sign_key, sizeof (*self_p)->sign_key);
        figures_destroy (&(*self_p)->figures);
    }
    free (*self_p);
    *self_p = NULL;
}

void
crisis_set_sign_key (crisis_t *self, const uint8_t sign_key [WIRE_SIGN_SECRET_BYTES])
{
    assert (self && sign_key);
    memcpy (self->sign_key, sign_key, sizeof self->sign_key);
    self->signs = true;
}

const char *
crisis_error (crisis_t *self)
{
    assert (self);
    return self->error;
}

static int
s_refuse (crisis_t *self, int code, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (self->error, sizeof self->error, format, args);
    va_end (args);
    return code;
}

static void
s_event_id (char *out, const char *origin, uint64_t seq)
{
    snprintf (out, CRISIS_EVENT_ID_MAX, "%s/%" PRIu64, origin, seq);
}

//  ---------------------------------------------------------------- enrichment

static Zvh__V1__RoleView *
s_role (enrich_t *enrich, const char *role)
{
    for (size_t i = 0; i < enrich->role_count; i++)
        if (streq (enrich->roles [i].role, role))
            return &enrich->roles [i];
    if (enrich->role_count == CRISIS_ROLES_MAX)
        return NULL;
    size_t index = enrich->role_count++;
    Zvh__V1__RoleView *view = &enrich->roles [index];
    zvh__v1__role_view__init (view);
    view->role = (char *) role;
    view->actions = enrich->actions [index];
    enrich->role_ptrs [index] = view;
    return view;
}

static void
s_add_scenarios (enrich_t *enrich, Zvh__V1__Scenario__Direction direction)
{
    Zvh__V1__Plan *plan = enrich->plan;
    for (size_t i = 0; i < plan->n_scenarios; i++) {
        Zvh__V1__Scenario *scenario = plan->scenarios [i];
        if (scenario->direction != direction)
            continue;
        for (size_t j = 0; j < scenario->n_actions; j++) {
            Zvh__V1__RoleView *view = s_role (enrich, scenario->actions [j]->role);
            if (view && view->n_actions < CRISIS_ACTIONS_MAX)
                view->actions [view->n_actions++] = scenario->actions [j]->action;
        }
    }
}

//  Fill event->roles and the coordinator from the case's current plan, if
//  this region holds it. The event points into enrich until s_enrich_free.
static void
s_enrich (crisis_t *self, MDB_txn *txn, const char *case_id,
          Zvh__V1__Scenario__Direction direction, enrich_t *enrich,
          Zvh__V1__SignalEvent *event)
{
    memset (enrich, 0, sizeof *enrich);
    MDB_val plan;
    if (transfer_plan (self->transfer, txn, case_id, &plan))
        return;
    enrich->plan = WIRE_DECODE (Zvh__V1__Plan, zvh__v1__plan, plan.mv_data, plan.mv_size);
    if (!enrich->plan)
        return;
    for (size_t i = 0; i < enrich->plan->n_partner_refs; i++) {
        Zvh__V1__PartnerReference *ref = enrich->plan->partner_refs [i];
        Zvh__V1__RoleView *view = s_role (enrich, ref->role);
        if (view)
            view->partner_ref = ref->reference;
    }
    s_add_scenarios (enrich, direction);
    for (size_t i = 0; i < enrich->plan->n_team; i++)
        if (strstr (enrich->plan->team [i]->role, CRISIS_COORDINATOR)) {
            event->coordinator_contact = enrich->plan->team [i]->contact;
            break;
        }
    event->roles = enrich->role_ptrs;
    event->n_roles = enrich->role_count;
}

static void
s_enrich_free (enrich_t *enrich)
{
    wire_free (enrich->plan ? &enrich->plan->base : NULL);
    enrich->plan = NULL;
}

//  ---------------------------------------------------------------- publishing

//  Append to this region's log and, if new here and flood is set, send it
//  to every peer under one envelope id.
static int
s_publish (crisis_t *self, MDB_txn *txn, const Zvh__V1__SignalEvent *event,
           bool flood, int64_t now_ms)
{
    uint64_t seq;
    int rc = signal_log_append (self->log, txn, event, &seq);
    if (rc || seq == 0 || !flood || !self->peers [0])
        return rc;
    uint64_t envelope_seq;
    return outbox_push_many (self->outbox, txn, self->peers,
                             ZVH__V1__ENVELOPE__TYPE__TYPE_SIGNAL_EVENT,
                             event->case_id, &event->base, now_ms, &envelope_seq);
}

//  Publish an event made here, with the proof of who published it
//  (PROTOCOL 8.3): every partner's view of it can then be checked.
static int
s_publish_own (crisis_t *self, MDB_txn *txn, Zvh__V1__SignalEvent *event, bool flood,
               int64_t now_ms)
{
    proof_storage_t storage;
    Zvh__V1__SignalView values;
    if (self->signs) {
        proof_values (&values, event);
        event->proof = proof_sign (&storage, self->config->region, &values, event->roles,
                                   event->n_roles, self->sign_key);
        if (!event->proof)
            log_warning ("event %s: its roles cannot be signed (unnamed or named twice); "
                          "published without a proof", event->event_id);
    }
    int rc = s_publish (self, txn, event, flood, now_ms);
    event->proof = NULL;
    return rc;
}

//  The holder of the plan turns a raise into the event partners see. A raise
//  from another region (raised, its envelope) travels with the event as that
//  region signed it: only it may mint ids in its namespace (PROTOCOL 2.8).
static int
s_publish_signal (crisis_t *self, MDB_txn *txn, const Zvh__V1__SignalRaise *raise,
                  const Zvh__V1__Envelope *raised, const char *event_id, int64_t now_ms)
{
    Zvh__V1__SignalEvent event = ZVH__V1__SIGNAL_EVENT__INIT;
    uint8_t *raised_bytes = raised
        ? (uint8_t *) malloc (protobuf_c_message_get_packed_size (&raised->base)) : NULL;
    if (raised && !raised_bytes)
        return ENOMEM;
    if (raised) {
        event.raise_envelope.len = protobuf_c_message_pack (&raised->base, raised_bytes);
        event.raise_envelope.data = raised_bytes;
    }
    event.type = ZVH__V1__SIGNAL_EVENT__TYPE__TYPE_SIGNAL;
    event.event_id = (char *) event_id;
    event.case_id = raise->case_id;
    event.region = (char *) self->config->region;
    event.national = raise->national;
    event.signal = (Zvh__V1__SignalRaise *) raise;
    event.time_ms = now_ms;
    enrich_t enrich;
    memset (&enrich, 0, sizeof enrich);
    if (!raise->national)
        s_enrich (self, txn, raise->case_id,
                  raise->kind == ZVH__V1__SIGNAL_KIND__SIGNAL_SCALE_DOWN
                  ? ZVH__V1__SCENARIO__DIRECTION__DIRECTION_DOWN
                  : ZVH__V1__SCENARIO__DIRECTION__DIRECTION_UP, &enrich, &event);
    int rc = s_publish_own (self, txn, &event, true, now_ms);
    s_enrich_free (&enrich);
    free (raised_bytes);
    if (rc == 0)
        log_info ("signal %s (case %s) published to every region",
                   event_id, raise->national ? "national" : raise->case_id);
    return rc;
}

//  ---------------------------------------------------------------- routing

//  Where a case stands here: 1 = this region holds its plan, 0 = it does
//  not; owner gets the owner this region knows ("" if none).
static int
s_holds (crisis_t *self, MDB_txn *txn, const char *case_id, char *owner, int *state_p)
{
    *owner = 0;
    *state_p = 0;
    Zvh__V1__Case *found = transfer_case (self->transfer, txn, case_id);
    if (!found)
        return 0;
    *state_p = found->state;
    snprintf (owner, CONFIG_ID_MAX, "%s", found->owner);
    wire_free (&found->base);
    return *state_p == ZVH__V1__CASE_STATE__CASE_ACTIVE
        || *state_p == ZVH__V1__CASE_STATE__CASE_OFFERED
        || *state_p == ZVH__V1__CASE_STATE__CASE_JOINT_TARGET;
}

static bool
s_valid_raise (crisis_t *self, const Zvh__V1__SignalRaise *raise)
{
    const char *case_id = raise->case_id ? raise->case_id : "";
    if (raise->national == (*case_id != 0)) {
        s_refuse (self, ZVH_E_BAD_REQUEST, "a signal names either a case or national "
                  "scope, not both and not neither");
        return false;
    }
    if (strlen (case_id) >= ZVH_ID_MAX) {
        s_refuse (self, ZVH_E_BAD_REQUEST, "case id is too long");
        return false;
    }
    if (raise->kind <= ZVH__V1__SIGNAL_KIND__SIGNAL_KIND_UNSPECIFIED
    ||  raise->kind > ZVH__V1__SIGNAL_KIND__SIGNAL_OTHER) {
        s_refuse (self, ZVH_E_BAD_REQUEST, "signal kind must be incident, scale_up, "
                  "scale_down, out_of_view or other");
        return false;
    }
    if (raise->text && strlen (raise->text) > CRISIS_TEXT_MAX) {
        s_refuse (self, ZVH_E_BAD_REQUEST, "signal text is %zu bytes; keep it under %d "
                  "and put details in the case system", strlen (raise->text),
                  CRISIS_TEXT_MAX);
        return false;
    }
    return true;
}

//  Publish a valid raise made here, or send it towards the case's holder.
static int
s_route_raise (crisis_t *self, MDB_txn *txn, const Zvh__V1__SignalRaise *raise,
               int64_t now_ms, char *event_id_out)
{
    char owner [CONFIG_ID_MAX];
    int state, rc = 0;
    bool holds = !raise->national && s_holds (self, txn, raise->case_id, owner, &state);
    if (raise->national || holds) {
        uint64_t seq = outbox_next_seq (self->outbox, txn, &rc);
        s_event_id (event_id_out, self->config->region, seq);
        return rc ? rc : s_publish_signal (self, txn, raise, NULL, event_id_out, now_ms);
    }
    if (state == ZVH__V1__CASE_STATE__CASE_CLOSED)
        return s_refuse (self, ZVH_E_CONFLICT, "case %s is closed here", raise->case_id);
    //  Known elsewhere: to the owner we know; unknown: to every region
    const char *one [] = { owner, NULL };
    const char **to = *owner ? one : self->peers;
    if (!to [0])
        return s_refuse (self, ZVH_E_NOT_FOUND, "case %s is not known here and no "
                         "other region is federated", raise->case_id);
    uint64_t seq;
    rc = outbox_push_many (self->outbox, txn, to, ZVH__V1__ENVELOPE__TYPE__TYPE_SIGNAL_RAISE,
                           raise->case_id, &raise->base, now_ms, &seq);
    s_event_id (event_id_out, self->config->region, seq);
    if (rc == 0)
        log_info ("signal %s for case %s sent to %s", event_id_out, raise->case_id,
                   *owner ? owner : "every region (owner unknown here)");
    return rc;
}

int
crisis_raise (crisis_t *self, MDB_txn *txn, const Zvh__V1__SignalRaise *raise,
              int64_t now_ms, char *event_id_out)
{
    assert (self);
    if (!s_valid_raise (self, raise))
        return ZVH_E_BAD_REQUEST;
    int rc = s_route_raise (self, txn, raise, now_ms, event_id_out);
    //  Counted where raised (once in the federation), whoever publishes it
    return rc ? rc : figures_count (self->figures, txn, figure_kind_of_signal (raise->kind),
                                    now_ms);
}

//  The holder publishes; a region that passed the case on relays the raise
//  to the owner it knows; a region that never had it leaves it to the copy
//  that reaches the holder (unplaced: not recorded, so if the case arrives
//  here later, a copy relayed back here is still published).
static int
s_on_raise (crisis_t *self, MDB_txn *txn, const char *from,
            const Zvh__V1__Envelope *envelope, outbox_relay_t *relay, int64_t now_ms)
{
    Zvh__V1__SignalRaise *raise = WIRE_DECODE (Zvh__V1__SignalRaise, zvh__v1__signal_raise,
                                               envelope->payload.data, envelope->payload.len);
    if (!raise || !s_valid_raise (self, raise) || raise->national) {
        log_warning ("signal raise %s/%" PRIu64 " from %s is malformed: dropped",
                      envelope->origin, envelope->seq, from);
        wire_free (raise ? &raise->base : NULL);
        return 0;
    }
    char event_id [CRISIS_EVENT_ID_MAX], owner [CONFIG_ID_MAX];
    s_event_id (event_id, envelope->origin, envelope->seq);
    int state, rc = 0;
    if (s_holds (self, txn, raise->case_id, owner, &state))
        rc = s_publish_signal (self, txn, raise, envelope, event_id, now_ms);
    else
    if (state == ZVH__V1__CASE_STATE__CASE_CLOSED)
        log_warning ("signal %s for case %s from %s dropped: the case is closed here",
                      event_id, raise->case_id, from);
    else
    if (*owner && !streq (owner, self->config->region))
        rc = outbox_relay (self->outbox, txn, relay, owner, envelope);
    else
        relay->unplaced = true;
    wire_free (&raise->base);
    return rc;
}

static int
s_on_event (crisis_t *self, MDB_txn *txn, const char *from,
            const Zvh__V1__Envelope *envelope, int64_t now_ms)
{
    Zvh__V1__SignalEvent *event = WIRE_DECODE (Zvh__V1__SignalEvent, zvh__v1__signal_event,
                                               envelope->payload.data, envelope->payload.len);
    if (!event || !event->event_id || !*event->event_id) {
        log_warning ("signal event %s/%" PRIu64 " from %s is malformed: dropped",
                      envelope->origin, envelope->seq, from);
        wire_free (event ? &event->base : NULL);
        return 0;
    }
    int rc = s_publish (self, txn, event, false, now_ms);
    wire_free (&event->base);
    return rc;
}

int
crisis_apply (crisis_t *self, MDB_txn *txn, const char *from,
              const Zvh__V1__Envelope *envelope, outbox_relay_t *relay, int64_t now_ms)
{
    assert (self);
    if (envelope->type == ZVH__V1__ENVELOPE__TYPE__TYPE_SIGNAL_RAISE)
        return s_on_raise (self, txn, from, envelope, relay, now_ms);
    return s_on_event (self, txn, from, envelope, now_ms);
}

//  ---------------------------------------------------------------- labels

static int
s_on_case_event (void *arg, MDB_txn *txn, transfer_event_t what, const char *case_id,
                 const char *previous_region, int64_t now_ms)
{
    crisis_t *self = (crisis_t *) arg;
    Zvh__V1__SignalEvent event = ZVH__V1__SIGNAL_EVENT__INIT;
    event.type = what == TRANSFER_EVENT_INCLUDED ? ZVH__V1__SIGNAL_EVENT__TYPE__TYPE_LABEL_SET
               : what == TRANSFER_EVENT_TAKEN_OVER ? ZVH__V1__SIGNAL_EVENT__TYPE__TYPE_LABEL_MOVED
               : ZVH__V1__SIGNAL_EVENT__TYPE__TYPE_LABEL_REMOVED;
    int rc;
    uint64_t seq = outbox_next_seq (self->outbox, txn, &rc);
    if (rc)
        return rc;
    char event_id [CRISIS_EVENT_ID_MAX];
    s_event_id (event_id, self->config->region, seq);
    event.event_id = event_id;
    event.case_id = (char *) case_id;
    event.region = (char *) self->config->region;
    event.previous_region = (char *) previous_region;
    event.time_ms = now_ms;
    //  A move is reported with its proof: the case's newest link of custody
    Zvh__V1__Case *found = what == TRANSFER_EVENT_TAKEN_OVER
                         ? transfer_case (self->transfer, txn, case_id) : NULL;
    if (found && found->custody && found->custody->n_links)
        event.moved_by = found->custody->links [found->custody->n_links - 1];
    enrich_t enrich;
    s_enrich (self, txn, case_id, ZVH__V1__SCENARIO__DIRECTION__DIRECTION_UP, &enrich, &event);
    rc = s_publish_own (self, txn, &event, true, now_ms);
    s_enrich_free (&enrich);
    wire_free (found ? &found->base : NULL);
    return rc;
}

//  ---------------------------------------------------------------- reviews

//  Days since the epoch of an ISO date, or -1.
static int64_t
s_day_of (const char *date)
{
    struct tm tm = { 0 };
    if (!date || strlen (date) != CRISIS_DATE_LEN
    ||  sscanf (date, "%4d-%2d-%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t) timegm (&tm) / (24 * 3600);
}

static int
s_review_due (crisis_t *self, MDB_txn *txn, const Zvh__V1__Case *found, int64_t now_ms)
{
    MDB_val bytes;
    if (transfer_plan (self->transfer, txn, found->id, &bytes))
        return 0;
    char name [CRISIS_META_KEY_MAX];
    snprintf (name, sizeof name, "%s%s", CRISIS_META_REVIEW, found->id);
    if (store_meta_u64 (self->store, txn, name) == found->plan_version)
        return 0;               //  told already for this version
    Zvh__V1__Plan *plan = WIRE_DECODE (Zvh__V1__Plan, zvh__v1__plan, bytes.mv_data,
                                       bytes.mv_size);
    int64_t day = plan ? s_day_of (plan->review_date) : -1;
    int rc = 0;
    if (day >= 0 && day < now_ms / MS_PER_DAY) {
        int seq_rc;
        uint64_t seq = outbox_next_seq (self->outbox, txn, &seq_rc);
        char event_id [CRISIS_EVENT_ID_MAX];
        s_event_id (event_id, self->config->region, seq);
        Zvh__V1__SignalEvent event = ZVH__V1__SIGNAL_EVENT__INIT;
        event.type = ZVH__V1__SIGNAL_EVENT__TYPE__TYPE_REVIEW_DUE;
        event.event_id = event_id;
        event.case_id = found->id;
        event.region = (char *) self->config->region;
        event.review_date = plan->review_date;
        event.time_ms = now_ms;
        rc = seq_rc ? seq_rc : s_publish_own (self, txn, &event, false, now_ms);
        if (rc == 0)
            rc = store_set_meta_u64 (self->store, txn, name, found->plan_version);
        log_info ("case %s: review was due on %s", found->id, plan->review_date);
    }
    wire_free (plan ? &plan->base : NULL);
    return rc;
}

//  Where the review pass goes on: after the case id kept in meta, or from
//  the first case. Kept in the store, not in memory: a write may run again.
static int
s_review_resume (crisis_t *self, MDB_txn *txn, MDB_cursor *cursor,
                 MDB_val *key, MDB_val *value)
{
    MDB_val at = { 0, NULL };
    int rc = store_get (self->store, txn, STORE_DB_META, CRISIS_META_REVIEW_AT,
                        strlen (CRISIS_META_REVIEW_AT), &at);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    char after [ZVH_ID_MAX];
    if (rc == MDB_NOTFOUND || at.mv_size == 0 || at.mv_size >= sizeof after)
        return store_cursor_get (self->store, cursor, STORE_DB_CASES, key, value, MDB_FIRST);
    memcpy (after, at.mv_data, at.mv_size);
    *key = (MDB_val) { at.mv_size, after };
    rc = store_cursor_get (self->store, cursor, STORE_DB_CASES, key, value, MDB_SET_RANGE);
    if (rc == 0 && key->mv_size == at.mv_size && memcmp (key->mv_data, after, at.mv_size) == 0)
        rc = store_cursor_get (self->store, cursor, STORE_DB_CASES, key, value, MDB_NEXT);
    return rc;
}

int
crisis_check_reviews (crisis_t *self, MDB_txn *txn, int64_t now_ms, bool *done_p)
{
    assert (self);
    assert (done_p);
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, store_dbi (self->store, STORE_DB_CASES), &cursor);
    if (rc)
        return rc;
    zlist_t *owned = zlist_new ();
    char last [ZVH_ID_MAX] = "";
    MDB_val key, value;
    size_t seen = 0;
    for (rc = s_review_resume (self, txn, cursor, &key, &value);
         rc == 0 && seen < CRISIS_REVIEW_SLICE;
         rc = store_cursor_get (self->store, cursor, STORE_DB_CASES, &key, &value, MDB_NEXT)) {
        seen++;
        if (key.mv_size < sizeof last) {
            memcpy (last, key.mv_data, key.mv_size);
            last [key.mv_size] = 0;
        }
        Zvh__V1__Case *found = WIRE_DECODE (Zvh__V1__Case, zvh__v1__case,
                                            value.mv_data, value.mv_size);
        if (found && (found->state == ZVH__V1__CASE_STATE__CASE_ACTIVE
                  ||  found->state == ZVH__V1__CASE_STATE__CASE_JOINT_TARGET))
            zlist_append (owned, found);
        else
            wire_free (found ? &found->base : NULL);
    }
    mdb_cursor_close (cursor);
    *done_p = rc == MDB_NOTFOUND;
    rc = rc == MDB_NOTFOUND ? 0 : rc;
    //  Writes after the cursor is closed: puts would disturb its position
    Zvh__V1__Case *found;
    while ((found = (Zvh__V1__Case *) zlist_pop (owned))) {
        if (rc == 0)
            rc = s_review_due (self, txn, found, now_ms);
        wire_free (&found->base);
    }
    zlist_destroy (&owned);
    const char *at = *done_p ? "" : last;
    return rc ? rc : store_put (self->store, txn, STORE_DB_META, CRISIS_META_REVIEW_AT,
                                strlen (CRISIS_META_REVIEW_AT), at, strlen (at), 0);
}

int
crisis_purge (crisis_t *self, MDB_txn *txn, int64_t now_ms)
{
    assert (self);
    size_t purged;
    int rc = signal_log_purge (self->log, txn,
                               now_ms - self->config->retention_days * MS_PER_DAY, &purged);
    if (rc == 0 && purged)
        log_info ("signal log: %zu event(s) past the retention of %" PRId64 " days purged",
                   purged, self->config->retention_days);
    return rc;
}
