/*  forward: a partner's views, POSTed one by one as CAP 1.2 alerts to the
 *  partner's HTTPS receiver (zvhctl forward, docs/PARTNERS.md (c)).
 *
 *  Invariant: a view is acknowledged to the daemon only after the receiver
 *  answered its POST with 2xx, and the next view is not taken before that.
 *  The daemon keeps the partner's cursor durably, so a forwarder started
 *  --from-cursor after a crash resumes at the first view not acknowledged:
 *  nothing is lost, and a view POSTed but not yet acknowledged when the
 *  forwarder died is POSTed again (at least once; the receiver drops
 *  repeats by the CAP identifier). A failed POST is retried, the same view,
 *  with exponential back-off, for ever: no view is skipped.
 *
 *  The stream runs with credit 1 and the forwarder holds at most one view:
 *  libzvh resubscribes after the last view it handed out, and a SUBSCRIBE
 *  after a seq stores that seq as the cursor (PROTOCOL 7.3 step 1), so no
 *  view may be handed out before the one before it is delivered. Nor is
 *  zvh_subscriber_next called while a view waits for its POST.
 */
#include "forward.h"
#include <czmq.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <sodium.h>

#define FORWARD_CREDIT              1       //  one view in flight: see above
#define FORWARD_WAIT_MS             1000    //  zvh_subscriber_next: check SIGTERM this often
#define FORWARD_BACKOFF_MIN_MS      500     //  first wait after a failed POST
#define FORWARD_BACKOFF_MAX_MS      60000   //  waits double up to this
#define FORWARD_SLEEP_SLICE_MS      100     //  a back-off notices SIGTERM this fast
#define FORWARD_CONNECT_TIMEOUT_MS  10000
#define FORWARD_POST_TIMEOUT_MS     30000   //  a whole POST, answer included
#define FORWARD_TOKEN_MAX           4096
#define FORWARD_HEADER_MAX          (FORWARD_TOKEN_MAX + 64)
#define FORWARD_ERROR_MAX           (CURL_ERROR_SIZE + 128)
#define FORWARD_HTTP_OK_MIN         200
#define FORWARD_HTTP_OK_MAX         299
#define FORWARD_CONFIRM_TIMEOUT_MS  5000    //  at exit: wait this long for ACKED
#define FORWARD_CONTENT_TYPE        "application/cap+xml"

struct _forward_t {
    CURL *curl;
    char authorization [FORWARD_HEADER_MAX];    //  "" without a token
    char content_type [FORWARD_HEADER_MAX];
    char curl_error [CURL_ERROR_SIZE];
    char error [FORWARD_ERROR_MAX];
};

//  The token in path, whitespace at its ends dropped, into token (size
//  FORWARD_TOKEN_MAX); -1 if unreadable, empty, too long, or holding a line
//  end or control character (it goes into a header line).
static int
s_read_token (const char *path, char *token)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    size_t size = fread (token, 1, FORWARD_TOKEN_MAX - 1, file);
    bool too_long = size == FORWARD_TOKEN_MAX - 1 && fgetc (file) != EOF;
    fclose (file);
    token [size] = 0;
    while (size && isspace ((unsigned char) token [size - 1]))
        token [--size] = 0;
    size_t start = strspn (token, " \t\r\n");
    memmove (token, token + start, size - start + 1);
    for (const char *c = token; *c; c++)
        if (iscntrl ((unsigned char) *c))
            return -1;
    return too_long || !*token ? -1 : 0;
}

//  The receiver's answer body is not used: read and dropped.
static size_t
s_drop_body (char *data, size_t size, size_t count, void *unused)
{
    (void) data, (void) unused;
    return size * count;
}

//  A POST in progress ends at once on SIGTERM (nonzero aborts it).
static int
s_interrupted (void *unused, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
               curl_off_t ulnow)
{
    (void) unused, (void) dltotal, (void) dlnow, (void) ultotal, (void) ulnow;
    return zsys_interrupted;
}

static void
s_set_transfer_options (forward_t *self, const forward_config_t *config)
{
    CURL *curl = self->curl;
    curl_easy_setopt (curl, CURLOPT_URL, config->url);
    //  HTTPS only, also after a redirect (which is not followed anyway)
    curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt (curl, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt (curl, CURLOPT_POST, 1L);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT_MS, (long) FORWARD_CONNECT_TIMEOUT_MS);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, (long) FORWARD_POST_TIMEOUT_MS);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_drop_body);
    curl_easy_setopt (curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt (curl, CURLOPT_XFERINFOFUNCTION, s_interrupted);
    curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, self->curl_error);
    if (config->ca_file)
        curl_easy_setopt (curl, CURLOPT_CAINFO, config->ca_file);
    if (config->cert_file)
        curl_easy_setopt (curl, CURLOPT_SSLCERT, config->cert_file);
    if (config->key_file)
        curl_easy_setopt (curl, CURLOPT_SSLKEY, config->key_file);
}

forward_t *
forward_new (const forward_config_t *config, const char **error_p)
{
    assert (config);
    assert (error_p);
    if (!config->url || strncasecmp (config->url, "https://", strlen ("https://"))) {
        *error_p = "forward needs an https:// --url";
        return NULL;
    }
    forward_t *self = (forward_t *) zmalloc (sizeof (forward_t));
    if (config->token_file) {
        char token [FORWARD_TOKEN_MAX];
        if (s_read_token (config->token_file, token)) {
            *error_p = "the --token-file cannot be read, is empty, too long, or holds "
                       "control characters";
            free (self);
            return NULL;
        }
        snprintf (self->authorization, sizeof self->authorization,
                  "Authorization: Bearer %s", token);
        sodium_memzero (token, sizeof token);
    }
    snprintf (self->content_type, sizeof self->content_type, "Content-Type: %s",
              config->content_type ? config->content_type : FORWARD_CONTENT_TYPE);
    curl_global_init (CURL_GLOBAL_DEFAULT);
    self->curl = curl_easy_init ();
    if (!self->curl) {
        *error_p = "libcurl could not start";
        forward_destroy (&self);
        return NULL;
    }
    s_set_transfer_options (self, config);
    return self;
}

void
forward_destroy (forward_t **self_p)
{
    assert (self_p);
    forward_t *self = *self_p;
    if (!self)
        return;
    if (self->curl)
        curl_easy_cleanup (self->curl);
    sodium_memzero (self->authorization, sizeof self->authorization);
    free (self);
    *self_p = NULL;
}

const char *
forward_error (forward_t *self)
{
    assert (self);
    return self->error;
}

//  The header lines of one POST; NULL if out of memory.
static struct curl_slist *
s_headers (forward_t *self, uint64_t seq, const char *event_id)
{
    char seq_line [64], event_line [ZVH_EVENT_ID_MAX + 32];
    snprintf (seq_line, sizeof seq_line, "Zvh-Seq: %" PRIu64, seq);
    snprintf (event_line, sizeof event_line, "Zvh-Event-Id: %s", event_id ? event_id : "");
    //  An event id is the daemon's text: no line end may split the header
    for (char *c = event_line; *c; c++)
        if (iscntrl ((unsigned char) *c))
            *c = '?';
    struct curl_slist *headers = curl_slist_append (NULL, self->content_type);
    const char *lines [] = { seq_line, event_line, "Expect:",   //  no 100-continue wait
                             *self->authorization ? self->authorization : NULL };
    for (size_t i = 0; headers && i < sizeof lines / sizeof lines [0] && lines [i]; i++) {
        struct curl_slist *longer = curl_slist_append (headers, lines [i]);
        if (!longer)
            curl_slist_free_all (headers);
        headers = longer;
    }
    return headers;
}

int
forward_post (forward_t *self, uint64_t seq, const char *event_id, const char *xml)
{
    assert (self);
    assert (xml);
    struct curl_slist *headers = s_headers (self, seq, event_id);
    if (!headers) {
        snprintf (self->error, sizeof self->error, "out of memory");
        return -1;
    }
    *self->curl_error = 0;
    curl_easy_setopt (self->curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (self->curl, CURLOPT_POSTFIELDS, xml);
    curl_easy_setopt (self->curl, CURLOPT_POSTFIELDSIZE, (long) strlen (xml));
    CURLcode code = curl_easy_perform (self->curl);
    long status = 0;
    curl_easy_getinfo (self->curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_setopt (self->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all (headers);
    if (code != CURLE_OK)
        snprintf (self->error, sizeof self->error, "%s",
                  *self->curl_error ? self->curl_error : curl_easy_strerror (code));
    else
    if (status < FORWARD_HTTP_OK_MIN || status > FORWARD_HTTP_OK_MAX)
        snprintf (self->error, sizeof self->error, "the receiver answered HTTP %ld", status);
    else
        return 0;
    return -1;
}

//  Sleep up to wait_ms, in slices; false if interrupted meanwhile.
static bool
s_sleep (int wait_ms)
{
    for (int slept_ms = 0; slept_ms < wait_ms && !zsys_interrupted;
         slept_ms += FORWARD_SLEEP_SLICE_MS)
        zclock_sleep (FORWARD_SLEEP_SLICE_MS);
    return !zsys_interrupted;
}

//  POST the view until the receiver takes it: 0, or -1 if interrupted
//  first. Every failure is said on stderr with the wait before the retry.
static int
s_deliver (forward_t *self, uint64_t seq, const char *event_id, const char *xml)
{
    int backoff_ms = FORWARD_BACKOFF_MIN_MS;
    while (!zsys_interrupted) {
        if (forward_post (self, seq, event_id, xml) == 0)
            return 0;
        if (zsys_interrupted)
            break;
        fprintf (stderr, "zvhctl forward: seq %" PRIu64 " (%s) not delivered: %s; "
                 "again in %d ms\n", seq, event_id, self->error, backoff_ms);
        if (!s_sleep (backoff_ms))
            break;
        backoff_ms = backoff_ms * 2 > FORWARD_BACKOFF_MAX_MS ? FORWARD_BACKOFF_MAX_MS
                                                             : backoff_ms * 2;
    }
    return -1;
}

//  Render one view and deliver it: 0 delivered, 1 interrupted (not
//  delivered), ZVH_E_PROTOCOL if it cannot be written as CAP.
static int
s_forward_one (forward_t *self, const zvh_signal_t *signal, const char *role)
{
    char *xml = NULL;
    if (zvh_signal_cap (signal, role, &xml)) {
        fprintf (stderr, "zvhctl forward: seq %" PRIu64 " (%s) cannot be written as CAP: "
                 "type %s unknown to this zvhctl; stopped before it\n", signal->seq,
                 signal->event_id ? signal->event_id : "no event id",
                 signal->type ? signal->type : "absent");
        return ZVH_E_PROTOCOL;
    }
    int rc = s_deliver (self, signal->seq, signal->event_id, xml) ? 1 : 0;
    free (xml);
    return rc;
}

//  Acknowledge a delivered view. A failed send is no loss: the view comes
//  again and is POSTed twice (at least once), so it is said, not fatal.
static void
s_acknowledge (zvh_subscriber_t *partner, const zvh_signal_t *signal)
{
    if (zvh_subscriber_ack (partner, signal->seq))
        fprintf (stderr, "zvhctl forward: warning: seq %" PRIu64 " delivered but not "
                 "acknowledged: %s\n", signal->seq, zvh_subscriber_error (partner));
    printf ("delivered seq %" PRIu64 " %s\n", signal->seq,
            signal->event_id ? signal->event_id : "");
    fflush (stdout);
}

int
forward_run (forward_t *self, zvh_subscriber_t *partner, const char *role)
{
    assert (self);
    assert (partner);
    assert (role);
    int rc = zvh_subscriber_start (partner, 0, true, FORWARD_CREDIT);
    uint64_t acked = 0;
    while (rc == 0 && !zsys_interrupted) {
        zvh_signal_t signal;
        rc = zvh_subscriber_next (partner, FORWARD_WAIT_MS, &signal);
        if (rc == ZVH_E_GAP)
            fprintf (stderr, "zvhctl forward: %s\n", zvh_subscriber_error (partner));
        if (rc == ZVH_E_TIMEOUT || rc == ZVH_E_GAP) {
            rc = 0;
            continue;
        }
        if (rc == 0)
            rc = s_forward_one (self, &signal, role);
        if (rc == 0) {
            s_acknowledge (partner, &signal);
            acked = signal.seq;
        }
    }
    //  Before closing: the cursor is stored, so a restart does not POST the
    //  last views again (not confirmed only means it may)
    if (acked && zvh_subscriber_confirm (partner, acked, FORWARD_CONFIRM_TIMEOUT_MS))
        fprintf (stderr, "zvhctl forward: warning: %s; a restart may POST views up to seq "
                 "%" PRIu64 " again\n", zvh_subscriber_error (partner), acked);
    return rc == 1 ? 0 : rc;
}
