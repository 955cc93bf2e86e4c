/*  status: summaries of every region, sent, kept and shown.
 *
 *  What a peer sends is checked before it is kept: its own region's id,
 *  link names that are regions of the directory, versions and releases of
 *  digits and dots, known case states. So the page and the JSON carry only
 *  directory ids, numbers and such short strings: nothing to escape, and
 *  no peer can put markup or personal data on another region's page.
 */
#include "status.h"
#include "figures.h"
#include "log.h"
#include "peer.h"
#include "version.h"
#include "zvh/zvh.h"
#include <jansson.h>

#define STATUS_TEXT_MAX      24         //  a release or a version, "0.1.0", "1.3"
#define STATUS_STALE_FACTOR  3          //  a summary older than this many intervals is stale
#define STATUS_MS_PER_S      1000
//  Figures a summary may carry: a newer daemon may count more kinds (shown
//  only once this one knows them), but never an unbounded list
//  No count a region can honestly report comes near this; a larger one
//  would wrap the national sums (and JSON's signed integers)
#define STATUS_COUNT_MAX     1000000000ULL
#define STATUS_FIGURES_MAX   (FIGURE_MONTHS_SENT * 4 * FIGURE_KINDS)
#define STATUS_FIGURES_OWN   (FIGURE_MONTHS_SENT * FIGURE_KINDS)

typedef struct {
    uint8_t *bytes;                     //  the packed RegionStatus as it came
    size_t size;
    int64_t heard_ms;
} heard_t;

struct _status_t {
    const config_t *config;
    store_t *store;
    outbox_t *outbox;
    transfer_t *transfer;
    federation_t *federation;
    figures_t *figures;
    int64_t started_ms;
    int64_t next_ms;                    //  the next summary is due
    zhashx_t *heard;                    //  region id -> heard_t
    uint64_t refused;                   //  summaries refused since start
};

static const char *s_state_names [ZVH_CASE_STATES + 1] = {
    "unknown", "active", "offered", "joint_target", "joint_source", "tombstone", "closed"
};

static void
s_heard_destroy (void **item)
{
    heard_t *heard = (heard_t *) *item;
    if (heard) {
        free (heard->bytes);
        free (heard);
        *item = NULL;
    }
}

status_t *
status_new (const config_t *config, store_t *store, outbox_t *outbox,
            transfer_t *transfer, federation_t *federation)
{
    assert (config && store && outbox && transfer && federation);
    status_t *self = (status_t *) zmalloc (sizeof (status_t));
    self->config = config;
    self->store = store;
    self->outbox = outbox;
    self->transfer = transfer;
    self->federation = federation;
    self->figures = figures_new (store);
    self->started_ms = zclock_time ();
    self->heard = zhashx_new ();
    zhashx_set_destructor (self->heard, s_heard_destroy);
    return self;
}

void
status_destroy (status_t **self_p)
{
    assert (self_p);
    status_t *self = *self_p;
    if (self) {
        zhashx_destroy (&self->heard);
        figures_destroy (&self->figures);
        free (self);
        *self_p = NULL;
    }
}

void
status_set_config (status_t *self, const config_t *config)
{
    assert (self && config);
    self->config = config;
}

//  ---------------------------------------------------------------- own

typedef struct {
    status_t *self;
    int64_t now_ms;
    Zvh__V1__RegionStatus *status;
    Zvh__V1__PeerStatus *links;
    Zvh__V1__PeerStatus **link_ptrs;
    Zvh__V1__StateCount counts [ZVH_CASE_STATES];
    Zvh__V1__StateCount *count_ptrs [ZVH_CASE_STATES];
    Zvh__V1__FigureCount figures [STATUS_FIGURES_OWN];
    Zvh__V1__FigureCount *figure_ptrs [STATUS_FIGURES_OWN];
    char months [FIGURE_MONTHS_SENT][FIGURE_PERIOD_MAX];
    char version [STATUS_TEXT_MAX];
} own_t;

//  This month's and the months before's figures, non-zero ones only.
static void
s_read_figures (own_t *own, MDB_txn *txn)
{
    Zvh__V1__RegionStatus *status = own->status;
    int now = figure_month_of (own->now_ms);
    status->n_figures = 0;
    for (int back = 0; back < FIGURE_MONTHS_SENT; back++) {
        figure_month_text (now - back, own->months [back]);
        for (int kind = 1; kind <= FIGURE_KINDS; kind++) {
            uint64_t count = figures_read (own->self->figures, txn, now - back, kind);
            if (count == 0)
                continue;
            Zvh__V1__FigureCount *figure = &own->figures [status->n_figures];
            zvh__v1__figure_count__init (figure);
            figure->period = own->months [back];
            figure->kind = (Zvh__V1__FigureKind) kind;
            figure->count = count;
            own->figure_ptrs [status->n_figures++] = figure;
        }
    }
    status->figures = own->figure_ptrs;
    status->figures_since_ms = figures_since (own->self->figures, txn);
}

static int
s_read_own (MDB_txn *txn, void *arg)
{
    own_t *own = (own_t *) arg;
    status_t *self = own->self;
    uint64_t cases [ZVH_CASE_STATES + 1] = { 0 };
    int rc = transfer_count_states (self->transfer, txn, cases);
    for (int state = 1; rc == 0 && state <= ZVH_CASE_STATES; state++) {
        zvh__v1__state_count__init (&own->counts [state - 1]);
        own->counts [state - 1].state = (Zvh__V1__CaseState) state;
        own->counts [state - 1].count = cases [state];
        own->count_ptrs [state - 1] = &own->counts [state - 1];
    }
    if (rc == 0)
        s_read_figures (own, txn);
    size_t peers = federation_peer_count (self->federation);
    for (size_t i = 0; rc == 0 && i < peers; i++) {
        peer_t *peer = federation_peer (self->federation, i);
        Zvh__V1__PeerStatus *link = &own->links [i];
        zvh__v1__peer_status__init (link);
        link->region = (char *) peer_region (peer);
        link->up = peer_is_up (peer, own->now_ms);
        link->last_seen_ms = peer_last_seen (peer);
        link->since_ms = peer_since (peer, own->now_ms);
        link->version = (char *) peer_version (peer);
        rc = outbox_depth (self->outbox, txn, link->region, &link->outbox_depth,
                           &link->oldest_ms);
        own->link_ptrs [i] = link;
    }
    return rc;
}

//  This region's summary, packed (caller frees), or NULL on a store error.
static uint8_t *
s_own (status_t *self, int64_t now_ms, size_t *size_p)
{
    size_t peers = federation_peer_count (self->federation);
    Zvh__V1__RegionStatus status = ZVH__V1__REGION_STATUS__INIT;
    own_t own = { .self = self, .now_ms = now_ms, .status = &status };
    own.links = (Zvh__V1__PeerStatus *) zmalloc ((peers + 1) * sizeof *own.links);
    own.link_ptrs = (Zvh__V1__PeerStatus **) zmalloc ((peers + 1) * sizeof *own.link_ptrs);
    int rc = store_read (self->store, s_read_own, &own);
    uint8_t *bytes = NULL;
    if (rc == 0) {
        store_info_t info = { 0 };
        store_info (self->store, &info);
        snprintf (own.version, sizeof own.version, "%d.%d", VERSION_PROTOCOL_MAJOR,
                  VERSION_PROTOCOL_MINOR);
        status.region = (char *) self->config->region;
        status.time_ms = now_ms;
        status.release = (char *) ZVH_RELEASE;
        status.version = own.version;
        status.n_links = peers;
        status.links = own.link_ptrs;
        status.store_used_bytes = info.used_bytes;
        status.store_map_bytes = info.map_bytes;
        status.n_counts = ZVH_CASE_STATES;
        status.counts = own.count_ptrs;
        status.started_ms = self->started_ms;
        bytes = wire_encode (&status.base, size_p);
    }
    free (own.links);
    free (own.link_ptrs);
    return bytes;
}

int64_t
status_pump (status_t *self, int64_t now_ms)
{
    assert (self);
    if (now_ms < self->next_ms)
        return self->next_ms;
    self->next_ms = now_ms + (int64_t) self->config->status_interval_s * STATUS_MS_PER_S;
    size_t size;
    uint8_t *bytes = s_own (self, now_ms, &size);
    size_t peers = federation_peer_count (self->federation);
    for (size_t i = 0; bytes && i < peers; i++)
        peer_send_status (federation_peer (self->federation, i), bytes, size);
    free (bytes);
    return self->next_ms;
}

//  ---------------------------------------------------------------- heard

//  Digits and dots only, short: a version or a release.
static bool
s_version_text (const char *text)
{
    size_t length = text ? strlen (text) : 0;
    return length < STATUS_TEXT_MAX && strspn (text ? text : "", "0123456789.") == length;
}

static bool
s_acceptable (status_t *self, const char *from, const Zvh__V1__RegionStatus *status)
{
    if (!status->region || !streq (status->region, from)
    ||  !s_version_text (status->release) || !s_version_text (status->version))
        return false;
    for (size_t i = 0; i < status->n_links; i++) {
        const Zvh__V1__PeerStatus *link = status->links [i];
        if (!link->region || !config_region (self->config, link->region)
        ||  !s_version_text (link->version))
            return false;
    }
    for (size_t i = 0; i < status->n_counts; i++)
        if (status->counts [i]->state < 1 || status->counts [i]->state > ZVH_CASE_STATES
        ||  status->counts [i]->count > STATUS_COUNT_MAX)
            return false;
    if (status->n_figures > STATUS_FIGURES_MAX)
        return false;
    for (size_t i = 0; i < status->n_figures; i++)
        if (figure_month_parse (status->figures [i]->period) < 0
        ||  status->figures [i]->count > STATUS_COUNT_MAX)
            return false;
    return true;
}

int
status_take (status_t *self, const char *from, const uint8_t *bytes, size_t size,
             int64_t now_ms)
{
    assert (self && from);
    Zvh__V1__RegionStatus *status = bytes
        ? WIRE_DECODE (Zvh__V1__RegionStatus, zvh__v1__region_status, bytes, size) : NULL;
    bool good = status && s_acceptable (self, from, status);
    wire_free (status ? &status->base : NULL);
    if (!good) {
        self->refused++;
        return -1;
    }
    heard_t *heard = (heard_t *) zmalloc (sizeof (heard_t));
    heard->bytes = (uint8_t *) malloc (size);
    memcpy (heard->bytes, bytes, size);
    heard->size = size;
    heard->heard_ms = now_ms;
    zhashx_update (self->heard, from, heard);
    return 0;
}

//  ---------------------------------------------------------------- views

static Zvh__V1__RegionStatus *
s_decode (const uint8_t *bytes, size_t size)
{
    return WIRE_DECODE (Zvh__V1__RegionStatus, zvh__v1__region_status, bytes, size);
}

//  A region known only by its id (a placeholder, or not heard yet).
static Zvh__V1__RegionStatus *
s_id_only (const char *region)
{
    Zvh__V1__RegionStatus unheard = ZVH__V1__REGION_STATUS__INIT;
    unheard.region = (char *) region;
    size_t size;
    uint8_t *bytes = wire_encode (&unheard.base, &size);
    Zvh__V1__RegionStatus *status = bytes ? s_decode (bytes, size) : NULL;
    free (bytes);
    return status;
}

int
status_regions (status_t *self, int64_t now_ms, Zvh__V1__RegionStatus ***regions_p,
                size_t *count_p)
{
    assert (self && regions_p && count_p);
    const config_t *config = self->config;
    Zvh__V1__RegionStatus **regions = (Zvh__V1__RegionStatus **) zmalloc (
        (config->region_count + 1) * sizeof *regions);
    size_t count = 0, size;
    uint8_t *own = s_own (self, now_ms, &size);
    regions [count] = own ? s_decode (own, size) : NULL;
    free (own);
    int rc = regions [count] ? 0 : ZVH_E_STORE;
    count += rc == 0;
    for (size_t i = 0; rc == 0 && i < config->region_count; i++) {
        const char *id = config->regions [i].id;
        if (streq (id, config->region))
            continue;
        heard_t *heard = (heard_t *) zhashx_lookup (self->heard, id);
        regions [count] = heard ? s_decode (heard->bytes, heard->size) : s_id_only (id);
        if (!regions [count]) {
            rc = ENOMEM;
            break;
        }
        regions [count++]->heard_ms = heard ? heard->heard_ms : 0;
    }
    if (rc)
        status_regions_free (&regions, count);
    *regions_p = regions;
    *count_p = rc ? 0 : count;
    return rc;
}

void
status_regions_free (Zvh__V1__RegionStatus ***regions_p, size_t count)
{
    assert (regions_p);
    Zvh__V1__RegionStatus **regions = *regions_p;
    for (size_t i = 0; regions && i < count; i++)
        wire_free (&regions [i]->base);
    free (regions);
    *regions_p = NULL;
}

//  How this region's own link to region stands, or NULL (no link: a
//  placeholder, or this region).
static const Zvh__V1__PeerStatus *
s_link_to (const Zvh__V1__RegionStatus *from, const char *region)
{
    for (size_t i = 0; from && i < from->n_links; i++)
        if (streq (from->links [i]->region, region))
            return from->links [i];
    return NULL;
}

//  "this region", "up", "down", "not federated" or "not heard" / "stale".
static const char *
s_condition (status_t *self, const Zvh__V1__RegionStatus *own,
             const Zvh__V1__RegionStatus *status)
{
    const config_region_t *region = config_region (self->config, status->region);
    if (streq (status->region, self->config->region))
        return "this region";
    if (!region || !config_region_is_federated (region))
        return "not federated";
    const Zvh__V1__PeerStatus *link = s_link_to (own, status->region);
    return link && link->up ? "up" : "down";
}

static bool
s_stale (status_t *self, const Zvh__V1__RegionStatus *status, int64_t now_ms)
{
    int64_t limit = (int64_t) self->config->status_interval_s * STATUS_MS_PER_S
                  * STATUS_STALE_FACTOR;
    return status->heard_ms && now_ms - status->heard_ms > limit;
}

static json_t *
s_link_json (const Zvh__V1__PeerStatus *link)
{
    return json_pack ("{s:s, s:b, s:I, s:I, s:I, s:I, s:s}", "peer", link->region,
                      "up", link->up, "since_ms", (json_int_t) link->since_ms,
                      "last_seen_ms", (json_int_t) link->last_seen_ms,
                      "outbox_depth", (json_int_t) link->outbox_depth,
                      "oldest_ms", (json_int_t) link->oldest_ms,
                      "version", link->version ? link->version : "");
}

//  Whether a region's figures are known: heard, from a daemon that counts.
static bool
s_has_figures (const Zvh__V1__RegionStatus *status)
{
    return status->time_ms && status->figures_since_ms;
}

//  A region's figures by month and kind, {"2026-11": {"inclusions": 2, ...}};
//  null if not known. Kinds this build does not know are left out.
static json_t *
s_figures_json (const Zvh__V1__RegionStatus *status)
{
    if (!s_has_figures (status))
        return json_null ();
    json_t *months = json_object ();
    for (size_t i = 0; i < status->n_figures; i++) {
        const Zvh__V1__FigureCount *figure = status->figures [i];
        const char *kind = figure_kind_name (figure->kind);
        if (!kind)
            continue;
        json_t *month = json_object_get (months, figure->period);
        if (!month) {
            month = json_object ();
            json_object_set_new (months, figure->period, month);
        }
        json_int_t count = json_integer_value (json_object_get (month, kind));
        json_object_set_new (month, kind, json_integer (count + (json_int_t) figure->count));
    }
    return months;
}

static json_t *
s_region_json (status_t *self, const Zvh__V1__RegionStatus *own,
               const Zvh__V1__RegionStatus *status, int64_t now_ms)
{
    json_t *cases = json_object (), *links = json_array ();
    for (size_t i = 0; i < status->n_counts; i++)
        json_object_set_new (cases, s_state_names [status->counts [i]->state],
                             json_integer ((json_int_t) status->counts [i]->count));
    for (size_t i = 0; i < status->n_links; i++)
        json_array_append_new (links, s_link_json (status->links [i]));
    const Zvh__V1__PeerStatus *here = s_link_to (own, status->region);
    return json_pack ("{s:s, s:s, s:b, s:I, s:I, s:s, s:s, s:I, s:I, s:I, s:o, s:o, s:o, "
                      "s:o, s:I}",
                      "region", status->region,
                      "condition", s_condition (self, own, status),
                      "stale", s_stale (self, status, now_ms),
                      "time_ms", (json_int_t) status->time_ms,
                      "heard_ms", (json_int_t) status->heard_ms,
                      "release", status->release ? status->release : "",
                      "version", status->version ? status->version : "",
                      "started_ms", (json_int_t) status->started_ms,
                      "store_used_bytes", (json_int_t) status->store_used_bytes,
                      "store_map_bytes", (json_int_t) status->store_map_bytes,
                      "cases", cases, "links", links,
                      "link_from_here", here ? s_link_json (here) : json_null (),
                      "figures", s_figures_json (status),
                      "figures_since_ms", (json_int_t) status->figures_since_ms);
}

char *
status_json (status_t *self, int64_t now_ms)
{
    assert (self);
    Zvh__V1__RegionStatus **regions;
    size_t count;
    if (status_regions (self, now_ms, &regions, &count))
        return NULL;
    json_t *list = json_array ();
    for (size_t i = 0; i < count; i++)
        json_array_append_new (list, s_region_json (self, regions [0], regions [i], now_ms));
    json_t *root = json_pack ("{s:s, s:I, s:I, s:o}", "shown_by", self->config->region,
                              "time_ms", (json_int_t) now_ms,
                              "status_interval_s", (json_int_t) self->config->status_interval_s,
                              "regions", list);
    char *text = json_dumps (root, JSON_INDENT (1));
    json_decref (root);
    status_regions_free (&regions, count);
    return text;
}

//  ---------------------------------------------------------------- page

#define STATUS_PAGE_HEAD \
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n" \
    "<title>zvh-federation status</title>\n<style>\n" \
    "body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;margin-bottom:1.5em}" \
    "td,th{border:1px solid #bbb;padding:2px 6px;text-align:left}" \
    "td.n{text-align:right}.up{background:#dfd}.down{background:#fcc}" \
    ".stale{background:#ffd}.self{background:#ddf}.placeholder{color:#777}\n" \
    "</style></head><body>\n"

static void
s_age (FILE *out, int64_t now_ms, int64_t then_ms)
{
    if (then_ms <= 0)
        fprintf (out, "-");
    else
        fprintf (out, "%" PRId64 " s ago", (now_ms - then_ms) / STATUS_MS_PER_S);
}

static const char *
s_row_class (const char *condition, bool stale)
{
    if (streq (condition, "this region"))
        return "self";
    if (streq (condition, "not federated"))
        return "placeholder";
    if (streq (condition, "down"))
        return "down";
    return stale ? "stale" : "up";
}

static void
s_region_row (FILE *out, status_t *self, const Zvh__V1__RegionStatus *own,
              const Zvh__V1__RegionStatus *status, int64_t now_ms)
{
    const char *condition = s_condition (self, own, status);
    bool stale = s_stale (self, status, now_ms);
    const Zvh__V1__PeerStatus *here = s_link_to (own, status->region);
    fprintf (out, "<tr id=\"region-%s\" class=\"%s\" data-condition=\"%s\"><td>%s</td>"
             "<td>%s", status->region, s_row_class (condition, stale), condition,
             status->region, condition);
    if (here) {
        fprintf (out, " since ");
        s_age (out, now_ms, here->since_ms);
    }
    fprintf (out, "%s</td><td>%s</td><td>%s</td><td>", stale ? " (summary stale)" : "",
             status->version ? status->version : "", status->release ? status->release : "");
    s_age (out, now_ms, status->heard_ms ? status->heard_ms : status->time_ms);
    fprintf (out, "</td><td class=\"n backlog\">%" PRIu64 "</td><td>",
             here ? here->outbox_depth : 0);
    if (here && here->outbox_depth)
        s_age (out, now_ms, here->oldest_ms);
    fprintf (out, "</td>");
    for (int state = 1; state <= ZVH_CASE_STATES; state++) {
        uint64_t count = 0;
        for (size_t i = 0; i < status->n_counts; i++)
            if ((int) status->counts [i]->state == state)
                count = status->counts [i]->count;
        fprintf (out, "<td class=\"n\">%" PRIu64 "</td>", count);
    }
    fprintf (out, "<td class=\"n\">%" PRIu64 " / %" PRIu64 " MiB</td></tr>\n",
             status->store_used_bytes >> 20, status->store_map_bytes >> 20);
}

static void
s_link_rows (FILE *out, const Zvh__V1__RegionStatus *status)
{
    for (size_t i = 0; i < status->n_links; i++) {
        const Zvh__V1__PeerStatus *link = status->links [i];
        fprintf (out, "<tr class=\"%s\"><td>%s</td><td>%s</td><td>%s since ",
                 link->up ? "up" : "down", status->region, link->region,
                 link->up ? "up" : "down");
        s_age (out, status->time_ms, link->since_ms);
        fprintf (out, "</td><td class=\"n\">%" PRIu64 "</td><td>", link->outbox_depth);
        if (link->outbox_depth)
            s_age (out, status->time_ms, link->oldest_ms);
        fprintf (out, "</td><td>%s</td></tr>\n", link->version ? link->version : "");
    }
}

//  The count of kind over the months of period in a region's summary.
static uint64_t
s_figure_sum (const Zvh__V1__RegionStatus *status, const figure_period_t *period, int kind)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < status->n_figures; i++)
        if ((int) status->figures [i]->kind == kind
        &&  figure_period_covers (period, figure_month_parse (status->figures [i]->period)))
            sum += status->figures [i]->count;
    return sum;
}

static void
s_figures_head (FILE *out, const char *id, const char *first)
{
    fprintf (out, "<table id=\"%s\"><tr><th>%s</th>", id, first);
    for (int kind = 1; kind <= FIGURE_KINDS; kind++)
        fprintf (out, "<th>%s</th>", figure_kind_name (kind));
    fprintf (out, "</tr>\n");
}

//  One row of figures: over period, of one region or (region NULL) of all.
static void
s_figures_row (FILE *out, const char *id, const char *label,
               Zvh__V1__RegionStatus **regions, size_t count, const figure_period_t *period)
{
    fprintf (out, "<tr id=\"%s\"><td>%s</td>", id, label);
    for (int kind = 1; kind <= FIGURE_KINDS; kind++) {
        uint64_t sum = 0;
        for (size_t i = 0; i < count; i++)
            sum += s_figure_sum (regions [i], period, kind);
        fprintf (out, "<td class=\"n\">%" PRIu64 "</td>", sum);
    }
    fprintf (out, "</tr>\n");
}

//  This quarter per region and nationally, then the nation per month.
static void
s_figures_tables (FILE *out, Zvh__V1__RegionStatus **regions, size_t count, int64_t now_ms)
{
    figure_period_t quarter;
    char text [FIGURE_PERIOD_MAX], id [FIGURE_PERIOD_MAX + CONFIG_ID_MAX];
    int month = figure_month_of (now_ms);
    figure_quarter_of (month, &quarter, text);
    fprintf (out, "<h2>Monitoring figures, %s</h2>\n", text);
    s_figures_head (out, "figures", "region");
    for (size_t i = 0; i < count; i++) {
        snprintf (id, sizeof id, "figures-%s", regions [i]->region);
        if (s_has_figures (regions [i]))
            s_figures_row (out, id, regions [i]->region, &regions [i], 1, &quarter);
        else
            fprintf (out, "<tr id=\"%s\" class=\"placeholder\"><td>%s</td>"
                     "<td colspan=\"%d\">no figures</td></tr>\n", id, regions [i]->region,
                     FIGURE_KINDS);
    }
    s_figures_row (out, "figures-national", "national", regions, count, &quarter);
    fprintf (out, "</table>\n<h2>National figures per month</h2>\n");
    s_figures_head (out, "figures-months", "month");
    for (int back = 0; back < FIGURE_MONTHS_SENT; back++) {
        figure_period_t one = { month - back, month - back };
        figure_month_text (month - back, text);
        snprintf (id, sizeof id, "figures-%s", text);
        s_figures_row (out, id, text, regions, count, &one);
    }
    fprintf (out, "</table>\n<p>Figures count what happened in each region, once in the "
             "federation: inclusions and closures at the owner, a move in at the target "
             "and out at the source when the target accepts, a joint phase's end at its "
             "owner, a signal where it was raised. Months in UTC. <code>zvhctl monitor "
             "--period</code> gives them as CSV.</p>\n");
}

char *
status_html (status_t *self, int64_t now_ms)
{
    assert (self);
    Zvh__V1__RegionStatus **regions;
    size_t count;
    if (status_regions (self, now_ms, &regions, &count))
        return NULL;
    char *page = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&page, &size);
    if (out) {
        fprintf (out, STATUS_PAGE_HEAD "<h1>zvh-federation: %zu regions, shown by %s</h1>\n"
                 "<table id=\"regions\"><tr><th>region</th><th>link from here</th>"
                 "<th>protocol</th><th>release</th><th>last summary</th>"
                 "<th>backlog from here</th><th>oldest</th>", count, self->config->region);
        for (int state = 1; state <= ZVH_CASE_STATES; state++)
            fprintf (out, "<th>%s</th>", s_state_names [state]);
        fprintf (out, "<th>store used / map</th></tr>\n");
        for (size_t i = 0; i < count; i++)
            s_region_row (out, self, regions [0], regions [i], now_ms);
        fprintf (out, "</table>\n<h2>Links, as each region last reported them</h2>\n"
                 "<table id=\"links\"><tr><th>from</th><th>to</th><th>state</th>"
                 "<th>backlog</th><th>oldest</th><th>peer's protocol</th></tr>\n");
        for (size_t i = 0; i < count; i++)
            s_link_rows (out, regions [i]);
        fprintf (out, "</table>\n");
        s_figures_tables (out, regions, count, now_ms);
        fprintf (out, "<p>Counts and states only; no case ids. Summaries come "
                 "every %d s on each region's own links (docs/PROTOCOL.md 4.10).</p>\n"
                 "</body></html>\n", self->config->status_interval_s);
        fclose (out);
    }
    status_regions_free (&regions, count);
    return page;
}
