/*  metrics: libmicrohttpd in "external select" mode, driven by metrics_run
 *  from the daemon's loop; every answer is computed on the spot from the
 *  store and the live objects.
 *
 *  Counters that the store keeps for ever (events applied, events made,
 *  signal log appends) are read from it, so they survive restarts; the
 *  others (commits, refusals seen in the audit trail, backups) count from
 *  the daemon's start, as Prometheus counters may.
 */
#include "metrics.h"
#include "status.h"
#include "log.h"
#include "wire.h"
#include "zvh/zvh.h"
#include <arpa/inet.h>
#include <microhttpd.h>
#include <sodium.h>
#include <netinet/in.h>
#include <stdarg.h>

#define METRICS_CONNECTIONS_MAX  16     //  scrapers at once
#define METRICS_TIMEOUT_S        10     //  idle connection timeout
#define METRICS_AUDIT_SCAN_MAX   200000 //  audit entries read per scrape
#define METRICS_WHY_MAX          512
#define METRICS_CONTENT_TYPE     "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_HEALTH_META      "health_check_ms"
#define METRICS_VERSION          "0.1.0"
#define METRICS_POLL_MS          50     //  without an epoll descriptor: run this often
#define METRICS_SECRET_MAX       (64 * 1024)    //  a PEM file or token file at most
#define METRICS_BEARER           "Bearer "

//  Where refusals recorded in the audit trail come from.
typedef enum {
    SOURCE_FEDERATION, SOURCE_PARTNER, SOURCE_CONTROL, SOURCE_OTHER, SOURCE_COUNT
} source_t;

static const char *s_source_names [SOURCE_COUNT] = {
    "federation", "partner", "control", "other"
};

static const char *s_state_names [ZVH_CASE_STATES + 1] = {
    "unknown", "active", "offered", "joint_target", "joint_source", "tombstone", "closed"
};

struct _metrics_t {
    const config_t *config;
    store_t *store;
    outbox_t *outbox;
    transfer_t *transfer;
    signal_log_t *log;
    audit_t *audit;
    federation_t *federation;
    subscriber_t *subscriber;
    struct MHD_Daemon *httpd;
    int64_t started_ms;
    uint64_t audit_after;               //  audit entries up to here are counted
    uint64_t refusals [SOURCE_COUNT];
    int64_t restored_from_ms;           //  the store's backup stamp, 0 = none
    char *tls_cert;                     //  PEM, NULL = plain HTTP
    char *tls_key;
    char *token;                        //  /metrics needs "Bearer <token>", NULL = open
    status_t *status;                   //  the federation's page, NULL = not yet
};

//  ---------------------------------------------------------------- reading

typedef struct {
    metrics_t *self;
    int64_t now_ms;
    uint64_t cases [ZVH_CASE_STATES + 1];
    uint64_t applied;                   //  dedup records: events applied, ever
    uint64_t originated;                //  origin seqs given: events made here
    uint64_t log_entries;
    uint64_t log_last;
    size_t peer_count;
    uint64_t *depth;                    //  per peer
    int64_t *oldest_ms;                 //  per peer
} snapshot_t;

static int
s_read_snapshot (MDB_txn *txn, void *arg)
{
    snapshot_t *snap = (snapshot_t *) arg;
    metrics_t *self = snap->self;
    int rc = transfer_count_states (self->transfer, txn, snap->cases);
    snap->applied = store_entries (self->store, txn, STORE_DB_DEDUP);
    snap->log_entries = store_entries (self->store, txn, STORE_DB_SIGNALS);
    snap->log_last = signal_log_last (self->log, txn);
    snap->originated = outbox_last_seq (self->outbox, txn);
    for (size_t i = 0; rc == 0 && i < snap->peer_count; i++) {
        peer_t *peer = federation_peer (self->federation, i);
        rc = outbox_depth (self->outbox, txn, peer_region (peer), &snap->depth [i],
                           &snap->oldest_ms [i]);
    }
    return rc;
}

static source_t
s_source_of (const char *source)
{
    if (!source)
        return SOURCE_OTHER;
    if (streq (source, "federation"))
        return SOURCE_FEDERATION;
    if (strncmp (source, "partner", strlen ("partner")) == 0)
        return SOURCE_PARTNER;
    if (strncmp (source, "local control", strlen ("local control")) == 0
    ||  strncmp (source, "tcp control", strlen ("tcp control")) == 0)
        return SOURCE_CONTROL;
    return SOURCE_OTHER;
}

static int
s_count_refusal (const Zvh__V1__AuditRecord *record, void *arg)
{
    metrics_t *self = (metrics_t *) arg;
    self->audit_after = record->seq;
    if (record->outcome && streq (record->outcome, "refused"))
        self->refusals [s_source_of (record->source)]++;
    return 0;
}

//  Count the refusals the audit trail gained since the last scrape.
static int
s_scan_audit (MDB_txn *txn, void *arg)
{
    metrics_t *self = (metrics_t *) arg;
    return audit_scan (self->audit, txn, self->audit_after, METRICS_AUDIT_SCAN_MAX,
                       s_count_refusal, self);
}

//  The newest audit seq: refusals are counted from the daemon's start.
static int
s_audit_end (MDB_txn *txn, void *arg)
{
    metrics_t *self = (metrics_t *) arg;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, store_dbi (self->store, STORE_DB_AUDIT), &cursor);
    if (rc)
        return rc;
    MDB_val key, value;
    rc = mdb_cursor_get (cursor, &key, &value, MDB_LAST);
    if (rc == 0 && key.mv_size == 8)
        self->audit_after = store_be64_get ((const uint8_t *) key.mv_data);
    mdb_cursor_close (cursor);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

//  ---------------------------------------------------------------- rendering

static void
s_header (FILE *out, const char *name, const char *type, const char *help)
{
    fprintf (out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

//  Ids are [a-z0-9-] by config, but a label value is escaped all the same.
static void
s_label (FILE *out, const char *value)
{
    for (; *value; value++) {
        if (*value == '\\' || *value == '"')
            fprintf (out, "\\%c", *value);
        else
        if (*value == '\n')
            fputs ("\\n", out);
        else
            fputc (*value, out);
    }
}

static void
s_peer_gauge (FILE *out, const char *name, const char *peer, double value)
{
    fprintf (out, "%s{peer=\"", name);
    s_label (out, peer);
    fprintf (out, "\"} %.15g\n", value);
}

static void
s_render_peers (metrics_t *self, FILE *out, const snapshot_t *snap)
{
    s_header (out, "zvh_peer_up", "gauge", "1 if the peer region answered within "
              "peer_timeout_ms");
    for (size_t i = 0; i < snap->peer_count; i++) {
        peer_t *peer = federation_peer (self->federation, i);
        s_peer_gauge (out, "zvh_peer_up", peer_region (peer),
                      peer_is_up (peer, snap->now_ms) ? 1 : 0);
    }
    s_header (out, "zvh_peer_last_seen_timestamp_seconds", "gauge",
              "When the peer last answered (0 = never)");
    for (size_t i = 0; i < snap->peer_count; i++) {
        peer_t *peer = federation_peer (self->federation, i);
        s_peer_gauge (out, "zvh_peer_last_seen_timestamp_seconds", peer_region (peer),
                      (double) peer_last_seen (peer) / 1000.0);
    }
    s_header (out, "zvh_outbox_depth", "gauge", "Events queued for the peer and "
              "not yet acknowledged");
    for (size_t i = 0; i < snap->peer_count; i++)
        s_peer_gauge (out, "zvh_outbox_depth",
                      peer_region (federation_peer (self->federation, i)),
                      (double) snap->depth [i]);
    s_header (out, "zvh_outbox_oldest_age_seconds", "gauge", "Age of the oldest "
              "unacknowledged event for the peer (0 = none queued)");
    for (size_t i = 0; i < snap->peer_count; i++) {
        int64_t age_ms = snap->oldest_ms [i] ? snap->now_ms - snap->oldest_ms [i] : 0;
        s_peer_gauge (out, "zvh_outbox_oldest_age_seconds",
                      peer_region (federation_peer (self->federation, i)),
                      age_ms > 0 ? (double) age_ms / 1000.0 : 0.0);
    }
}

static void
s_render_cases_and_events (metrics_t *self, FILE *out, const snapshot_t *snap)
{
    s_header (out, "zvh_cases", "gauge", "Cases this region knows, by handover state");
    for (int state = 1; state <= ZVH_CASE_STATES; state++)
        fprintf (out, "zvh_cases{state=\"%s\"} %" PRIu64 "\n", s_state_names [state],
                 snap->cases [state]);
    s_header (out, "zvh_events_applied_total", "counter", "Events from other regions "
              "taken here, exactly once each: applied, or relayed towards the region "
              "holding the case (the permanent dedup records)");
    fprintf (out, "zvh_events_applied_total %" PRIu64 "\n", snap->applied);
    s_header (out, "zvh_events_originated_total", "counter", "Events this region made "
              "(its origin sequence)");
    fprintf (out, "zvh_events_originated_total %" PRIu64 "\n", snap->originated);
    s_header (out, "zvh_refusals_total", "counter", "Refusals recorded in the audit "
              "trail since the daemon started, by where the request came from");
    for (int source = 0; source < SOURCE_COUNT; source++)
        fprintf (out, "zvh_refusals_total{source=\"%s\"} %" PRIu64 "\n",
                 s_source_names [source], self->refusals [source]);
    s_header (out, "zvh_signal_log_entries", "gauge", "Signal and label events "
              "retained in this region's log");
    fprintf (out, "zvh_signal_log_entries %" PRIu64 "\n", snap->log_entries);
    s_header (out, "zvh_signal_log_appended_total", "counter", "Events ever appended "
              "to the signal log (its last seq)");
    fprintf (out, "zvh_signal_log_appended_total %" PRIu64 "\n", snap->log_last);
}

static void
s_render_subscribers (metrics_t *self, FILE *out)
{
    size_t count = self->subscriber ? subscriber_count (self->subscriber) : 0;
    s_header (out, "zvh_subscriber_sessions", "gauge", "Partner sessions known");
    fprintf (out, "zvh_subscriber_sessions %zu\n", count);
    s_header (out, "zvh_subscriber_live", "gauge", "1 if the partner's session is live");
    for (size_t i = 0; i < count; i++) {
        bool live;
        uint64_t lag;
        const char *partner = subscriber_info (self->subscriber, i, &live, &lag);
        fputs ("zvh_subscriber_live{partner=\"", out);
        s_label (out, partner);
        fprintf (out, "\"} %d\n", live ? 1 : 0);
    }
    s_header (out, "zvh_subscriber_lag", "gauge", "Log entries the partner has not "
              "acknowledged yet");
    for (size_t i = 0; i < count; i++) {
        bool live;
        uint64_t lag;
        const char *partner = subscriber_info (self->subscriber, i, &live, &lag);
        fputs ("zvh_subscriber_lag{partner=\"", out);
        s_label (out, partner);
        fprintf (out, "\"} %" PRIu64 "\n", lag);
    }
}

static void
s_render_store (metrics_t *self, FILE *out)
{
    store_stats_t stats;
    store_stats (self->store, &stats);
    static const int64_t bounds_us [STORE_LATENCY_BUCKETS - 1] = { STORE_LATENCY_BOUNDS_US };
    s_header (out, "zvh_store_commit_seconds", "histogram", "Time of one committed "
              "write transaction (a loop turn, or a write outside one), from its "
              "first write to its synchronous commit");
    uint64_t cumulative = 0;
    for (size_t bucket = 0; bucket < STORE_LATENCY_BUCKETS; bucket++) {
        cumulative += stats.latency_count [bucket];
        if (bucket < STORE_LATENCY_BUCKETS - 1)
            fprintf (out, "zvh_store_commit_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                     (double) bounds_us [bucket] / 1e6, cumulative);
        else
            fprintf (out, "zvh_store_commit_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n",
                     cumulative);
    }
    fprintf (out, "zvh_store_commit_seconds_sum %.6f\n",
             (double) stats.latency_sum_us / 1e6);
    fprintf (out, "zvh_store_commit_seconds_count %" PRIu64 "\n", stats.commits);
    s_header (out, "zvh_store_write_refusals_total", "counter", "Store writes the "
              "state machine refused (wrong state, unknown case, ...)");
    fprintf (out, "zvh_store_write_refusals_total %" PRIu64 "\n", stats.refusals);
    s_header (out, "zvh_store_write_failures_total", "counter", "Store writes that "
              "failed: disk or map full, or a store error");
    fprintf (out, "zvh_store_write_failures_total %" PRIu64 "\n", stats.failures);
    store_info_t info;
    if (store_info (self->store, &info) == 0) {
        s_header (out, "zvh_store_map_bytes", "gauge", "Current LMDB map size");
        fprintf (out, "zvh_store_map_bytes %" PRIu64 "\n", info.map_bytes);
        s_header (out, "zvh_store_used_bytes", "gauge", "LMDB pages in use (the data "
                  "file's high-water mark)");
        fprintf (out, "zvh_store_used_bytes %" PRIu64 "\n", info.used_bytes);
        s_header (out, "zvh_store_map_max_bytes", "gauge", "Ceiling of map growth "
                  "(map_max_mb)");
        fprintf (out, "zvh_store_map_max_bytes %" PRIu64 "\n", info.max_bytes);
    }
    s_header (out, "zvh_backups_total", "counter", "Backups completed");
    fprintf (out, "zvh_backups_total %" PRIu64 "\n", stats.backups);
    s_header (out, "zvh_backup_failures_total", "counter", "Backups that failed");
    fprintf (out, "zvh_backup_failures_total %" PRIu64 "\n", stats.backup_failures);
    s_header (out, "zvh_backup_running", "gauge", "1 while a backup is being written");
    fprintf (out, "zvh_backup_running %d\n", stats.backup_running ? 1 : 0);
    s_header (out, "zvh_backup_last_success_timestamp_seconds", "gauge", "End of the "
              "last good backup of this store, kept across restarts (0 = none)");
    fprintf (out, "zvh_backup_last_success_timestamp_seconds %.3f\n",
             (double) stats.last_backup_ms / 1000.0);
    s_header (out, "zvh_backup_last_duration_seconds", "gauge", "How long the last "
              "good backup took");
    fprintf (out, "zvh_backup_last_duration_seconds %.3f\n",
             (double) stats.last_backup_duration_ms / 1000.0);
    s_header (out, "zvh_store_restored_backup_timestamp_seconds", "gauge", "When "
              "the backup this store was restored from was taken (0 = not restored)");
    fprintf (out, "zvh_store_restored_backup_timestamp_seconds %.3f\n",
             (double) self->restored_from_ms / 1000.0);
}

char *
metrics_render (metrics_t *self, int64_t now_ms)
{
    assert (self);
    snapshot_t snap = { .self = self, .now_ms = now_ms };
    snap.peer_count = federation_peer_count (self->federation);
    snap.depth = (uint64_t *) calloc (snap.peer_count + 1, sizeof (uint64_t));
    snap.oldest_ms = (int64_t *) calloc (snap.peer_count + 1, sizeof (int64_t));
    int rc = snap.depth && snap.oldest_ms ? store_read (self->store, s_read_snapshot, &snap)
                                          : ZVH_E_STORE;
    if (rc == 0)
        rc = store_read (self->store, s_scan_audit, self);
    char *text = NULL;
    size_t size = 0;
    FILE *out = rc == 0 ? open_memstream (&text, &size) : NULL;
    if (out) {
        s_header (out, "zvh_info", "gauge", "This daemon's region and version");
        fputs ("zvh_info{region=\"", out);
        s_label (out, self->config->region);
        fprintf (out, "\",version=\"%s\"} 1\n", METRICS_VERSION);
        s_header (out, "zvh_start_time_seconds", "gauge", "When the daemon started");
        fprintf (out, "zvh_start_time_seconds %.3f\n", (double) self->started_ms / 1000.0);
        s_render_peers (self, out, &snap);
        s_render_cases_and_events (self, out, &snap);
        s_render_subscribers (self, out);
        s_render_store (self, out);
        if (fclose (out)) {
            free (text);
            text = NULL;
        }
    }
    free (snap.depth);
    free (snap.oldest_ms);
    return text;
}

//  ---------------------------------------------------------------- health

static int
s_stamp_health (MDB_txn *txn, void *arg)
{
    metrics_t *self = (metrics_t *) arg;
    return store_set_meta_u64 (self->store, txn, METRICS_HEALTH_META,
                               (uint64_t) zclock_time ());
}

int
metrics_health (metrics_t *self, int64_t now_ms, char *why, size_t why_size)
{
    assert (self);
    int rc = store_write (self->store, s_stamp_health, self);
    if (rc) {
        snprintf (why, why_size, "store write failed: %s; see the daemon's log",
                  zvh_strerror (rc));
        return -1;
    }
    size_t peers = federation_peer_count (self->federation);
    if (peers == 0) {
        snprintf (why, why_size, "ok: store writable; no peers configured");
        return 0;
    }
    const char *latest = NULL;
    int64_t latest_ms = 0;
    for (size_t i = 0; i < peers; i++) {
        peer_t *peer = federation_peer (self->federation, i);
        if (peer_last_seen (peer) > latest_ms) {
            latest_ms = peer_last_seen (peer);
            latest = peer_region (peer);
        }
    }
    int64_t limit_ms = (int64_t) self->config->health_peer_s * 1000;
    if (latest && now_ms - latest_ms <= limit_ms) {
        snprintf (why, why_size, "ok: store writable; peer %s seen %.1f s ago",
                  latest, (double) (now_ms - latest_ms) / 1000.0);
        return 0;
    }
    if (now_ms - self->started_ms <= limit_ms) {
        snprintf (why, why_size, "ok: store writable; started %.1f s ago and no peer "
                  "seen yet (health_peer_s = %d)",
                  (double) (now_ms - self->started_ms) / 1000.0, self->config->health_peer_s);
        return 0;
    }
    if (latest)
        snprintf (why, why_size, "no peer seen for %.1f s, more than health_peer_s "
                  "(%d); the last was %s: check the network and the peers' daemons",
                  (double) (now_ms - latest_ms) / 1000.0, self->config->health_peer_s,
                  latest);
    else
        snprintf (why, why_size, "no peer seen since the start %.1f s ago (more than "
                  "health_peer_s, %d): check the network, the directory's endpoints "
                  "and keys", (double) (now_ms - self->started_ms) / 1000.0,
                  self->config->health_peer_s);
    return -1;
}

//  ---------------------------------------------------------------- HTTP

static enum MHD_Result
s_respond (struct MHD_Connection *connection, unsigned status, char *body,
           const char *content_type)
{
    if (!body)
        return MHD_NO;                  //  out of memory: MHD drops the connection
    struct MHD_Response *response = MHD_create_response_from_buffer (
        strlen (body), body, MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free (body);
        return MHD_NO;
    }
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header (response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result result = MHD_queue_response (connection, status, response);
    MHD_destroy_response (response);
    return result;
}

//  The bearer token, compared in constant time (as hashes: the lengths may
//  differ, and a length must not leak either).
static bool
s_authorized (metrics_t *self, struct MHD_Connection *connection)
{
    if (!self->token)
        return true;
    const char *header = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_AUTHORIZATION);
    if (!header || strncmp (header, METRICS_BEARER, strlen (METRICS_BEARER)) != 0)
        return false;
    const char *given = header + strlen (METRICS_BEARER);
    uint8_t want [crypto_generichash_BYTES], got [crypto_generichash_BYTES];
    crypto_generichash (want, sizeof want, (const uint8_t *) self->token,
                        strlen (self->token), NULL, 0);
    crypto_generichash (got, sizeof got, (const uint8_t *) given, strlen (given), NULL, 0);
    return sodium_memcmp (want, got, sizeof want) == 0;
}

static enum MHD_Result
s_unauthorized (struct MHD_Connection *connection)
{
    char *body = strdup ("401: /metrics, /status and / need Authorization: Bearer <token> "
                         "(the daemon's metrics_token)\n");
    if (!body)
        return MHD_NO;
    struct MHD_Response *response = MHD_create_response_from_buffer (
        strlen (body), body, MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free (body);
        return MHD_NO;
    }
    MHD_add_response_header (response, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE,
                             "text/plain; charset=utf-8");
    enum MHD_Result result = MHD_queue_response (connection, MHD_HTTP_UNAUTHORIZED, response);
    MHD_destroy_response (response);
    return result;
}

static enum MHD_Result
s_answer (void *cls, struct MHD_Connection *connection, const char *url,
          const char *method, const char *version, const char *upload_data,
          size_t *upload_data_size, void **request_state)
{
    metrics_t *self = (metrics_t *) cls;
    (void) version, (void) upload_data, (void) request_state;
    if (*upload_data_size)
        return MHD_NO;                  //  nothing here takes a body
    if (!streq (method, MHD_HTTP_METHOD_GET) && !streq (method, MHD_HTTP_METHOD_HEAD))
        return s_respond (connection, MHD_HTTP_METHOD_NOT_ALLOWED,
                          strdup ("only GET and HEAD\n"), "text/plain; charset=utf-8");
    int64_t now_ms = zclock_time ();
    bool guarded = streq (url, "/metrics") || streq (url, "/status") || streq (url, "/");
    if (guarded && !s_authorized (self, connection))
        return s_unauthorized (connection);
    if (self->status && (streq (url, "/status") || streq (url, "/"))) {
        bool page = streq (url, "/");
        char *body = page ? status_html (self->status, now_ms)
                          : status_json (self->status, now_ms);
        if (body)
            return s_respond (connection, MHD_HTTP_OK, body, page
                              ? "text/html; charset=utf-8" : "application/json");
        return s_respond (connection, MHD_HTTP_INTERNAL_SERVER_ERROR,
                          strdup ("could not read the store; see the daemon's log\n"),
                          "text/plain; charset=utf-8");
    }
    if (streq (url, "/metrics")) {
        char *text = metrics_render (self, now_ms);
        if (text)
            return s_respond (connection, MHD_HTTP_OK, text, METRICS_CONTENT_TYPE);
        return s_respond (connection, MHD_HTTP_INTERNAL_SERVER_ERROR,
                          strdup ("could not read the store; see the daemon's log\n"),
                          "text/plain; charset=utf-8");
    }
    if (streq (url, "/livez"))
        //  Served by the event loop itself: an answer is the proof
        return s_respond (connection, MHD_HTTP_OK, strdup ("the event loop answers\n"),
                          "text/plain; charset=utf-8");
    if (streq (url, "/readyz") || streq (url, "/healthz")) {
        char why [METRICS_WHY_MAX];
        int healthy = metrics_health (self, now_ms, why, sizeof why) == 0;
        if (!healthy)
            log_warning ("metrics: %s: %s", url, why);
        char *body = zsys_sprintf ("%s\n", why);
        return s_respond (connection, healthy ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                          body, "text/plain; charset=utf-8");
    }
    return s_respond (connection, MHD_HTTP_NOT_FOUND,
                      strdup ("not found: try /, /status, /metrics, /livez or /readyz\n"),
                      "text/plain; charset=utf-8");
}

static void
s_log (void *cls, const char *format, va_list args)
{
    (void) cls;
    char line [METRICS_WHY_MAX];
    vsnprintf (line, sizeof line, format, args);
    line [strcspn (line, "\n")] = 0;
    log_warning ("metrics: %s", line);
}

//  host:port or [v6]:port, numeric only: a name could resolve anywhere.
static int
s_parse_bind (const char *bind, struct sockaddr_storage *addr, bool *ipv6)
{
    char host [CONFIG_ENDPOINT_MAX];
    const char *colon = strrchr (bind, ':');
    if (!colon || colon == bind || (size_t) (colon - bind) >= sizeof host)
        return -1;
    memcpy (host, bind, (size_t) (colon - bind));
    host [colon - bind] = 0;
    int port = atoi (colon + 1);
    if (port <= 0 || port > 65535)
        return -1;
    memset (addr, 0, sizeof *addr);
    size_t length = strlen (host);
    *ipv6 = length > 2 && host [0] == '[' && host [length - 1] == ']';
    if (*ipv6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) addr;
        host [length - 1] = 0;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons ((uint16_t) port);
        return inet_pton (AF_INET6, host + 1, &in6->sin6_addr) == 1 ? 0 : -1;
    }
    struct sockaddr_in *in4 = (struct sockaddr_in *) addr;
    in4->sin_family = AF_INET;
    in4->sin_port = htons ((uint16_t) port);
    return inet_pton (AF_INET, host, &in4->sin_addr) == 1 ? 0 : -1;
}

//  A whole secret file, NUL-terminated; NULL (logged) if it cannot be read.
static char *
s_read_secret (const char *path, const char *what)
{
    FILE *file = fopen (path, "rb");
    char *text = file ? (char *) zmalloc (METRICS_SECRET_MAX + 1) : NULL;
    size_t size = text ? fread (text, 1, METRICS_SECRET_MAX + 1, file) : 0;
    if (file)
        fclose (file);
    if (text && size > 0 && size <= METRICS_SECRET_MAX)
        return text;
    log_error ("metrics: cannot read %s %s (missing, empty or over %d bytes)", what, path,
                METRICS_SECRET_MAX);
    if (text)
        sodium_memzero (text, METRICS_SECRET_MAX + 1);
    free (text);
    return NULL;
}

//  The token is the file's first line; too short a token is refused.
static int
s_load_secrets (metrics_t *self, const config_t *config)
{
    if (*config->metrics_tls_cert) {
        if (MHD_is_feature_supported (MHD_FEATURE_TLS) != MHD_YES) {
            log_error ("metrics: this libmicrohttpd has no TLS: unset metrics_tls_cert "
                        "and metrics_tls_key, or install one built with GnuTLS");
            return -1;
        }
        self->tls_cert = s_read_secret (config->metrics_tls_cert, "metrics_tls_cert");
        self->tls_key = s_read_secret (config->metrics_tls_key, "metrics_tls_key");
        if (!self->tls_cert || !self->tls_key)
            return -1;
    }
    if (*config->metrics_token) {
        self->token = s_read_secret (config->metrics_token, "metrics_token");
        if (!self->token)
            return -1;
        self->token [strcspn (self->token, "\r\n")] = 0;     //  length: config.c
    }
    return 0;
}

static void
s_free_secret (char **secret_p)
{
    if (*secret_p) {
        sodium_memzero (*secret_p, strlen (*secret_p));
        free (*secret_p);
        *secret_p = NULL;
    }
}

metrics_t *
metrics_new (const config_t *config, store_t *store, outbox_t *outbox,
             transfer_t *transfer, signal_log_t *log, audit_t *audit,
             federation_t *federation, subscriber_t *subscriber)
{
    assert (config && store && outbox && transfer && log && audit && federation);
    struct sockaddr_storage addr;
    bool ipv6;
    if (s_parse_bind (config->metrics_bind, &addr, &ipv6)) {
        log_error ("metrics: metrics_bind '%s' is not host:port with a numeric "
                    "address (e.g. 127.0.0.1:9101)", config->metrics_bind);
        return NULL;
    }
    metrics_t *self = (metrics_t *) zmalloc (sizeof (metrics_t));
    self->config = config;
    self->store = store;
    self->outbox = outbox;
    self->transfer = transfer;
    self->log = log;
    self->audit = audit;
    self->federation = federation;
    self->subscriber = subscriber;
    self->started_ms = zclock_time ();
    self->restored_from_ms = store_backup_taken_ms (store);
    if (store_read (store, s_audit_end, self) || s_load_secrets (self, config)) {
        metrics_destroy (&self);
        return NULL;
    }
    unsigned flags = MHD_USE_ERROR_LOG | (ipv6 ? MHD_USE_IPv6 : 0)
                   | (self->tls_cert ? MHD_USE_TLS : 0);
    if (MHD_is_feature_supported (MHD_FEATURE_EPOLL) == MHD_YES)
        flags |= MHD_USE_EPOLL;         //  select() would refuse fds over FD_SETSIZE
    uint16_t port = ntohs (ipv6 ? ((struct sockaddr_in6 *) &addr)->sin6_port
                                : ((struct sockaddr_in *) &addr)->sin_port);
    self->httpd = MHD_start_daemon (flags, port, NULL, NULL, s_answer, self,
        MHD_OPTION_EXTERNAL_LOGGER, s_log, self,        //  first, or MHD warns
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned) METRICS_CONNECTIONS_MAX,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) METRICS_TIMEOUT_S,
        //  Without TLS these two end the list (a NULL option value is not read)
        self->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, self->tls_cert,
        MHD_OPTION_HTTPS_MEM_KEY, self->tls_key,
        MHD_OPTION_END);
    if (!self->httpd) {
        log_error ("metrics: cannot listen on %s (in use, or not an address of "
                    "this host)", config->metrics_bind);
        metrics_destroy (&self);
        return NULL;
    }
    log_info ("metrics: serving /metrics%s, /livez and /readyz (and /healthz, the same as "
               "/readyz) on %s://%s", self->token ? " (bearer token)" : "",
               self->tls_cert ? "https" : "http", config->metrics_bind);
    return self;
}

void
metrics_destroy (metrics_t **self_p)
{
    assert (self_p);
    metrics_t *self = *self_p;
    if (!self)
        return;
    if (self->httpd)
        MHD_stop_daemon (self->httpd);
    s_free_secret (&self->tls_cert);
    s_free_secret (&self->tls_key);
    s_free_secret (&self->token);
    free (self);
    *self_p = NULL;
}

void
metrics_set_status (metrics_t *self, status_t *status)
{
    assert (self);
    self->status = status;
}

void
metrics_set_config (metrics_t *self, const config_t *config)
{
    assert (self && config);
    self->config = config;
}

void
metrics_run (metrics_t *self)
{
    assert (self);
    MHD_run (self->httpd);
}

int
metrics_fd (metrics_t *self)
{
    assert (self);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (self->httpd,
                                                            MHD_DAEMON_INFO_EPOLL_FD);
    return info ? info->epoll_fd : -1;
}

int64_t
metrics_next_due_ms (metrics_t *self, int64_t now_ms)
{
    assert (self);
    if (metrics_fd (self) < 0)
        return now_ms + METRICS_POLL_MS;
    MHD_UNSIGNED_LONG_LONG timeout_ms;
    if (MHD_get_timeout (self->httpd, &timeout_ms) != MHD_YES)
        return INT64_MAX;
    return timeout_ms < (MHD_UNSIGNED_LONG_LONG) (INT64_MAX - now_ms)
         ? now_ms + (int64_t) timeout_ms : INT64_MAX;
}
