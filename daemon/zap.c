/*  zap: a ZAP handler with one key set per domain.
 *
 *  Requests (RFC 27): version "1.0", request id, domain, address, identity,
 *  mechanism, then for CURVE the client's 32-byte public key. The reply is
 *  version, request id, status code, status text, user id (the Z85 key, as
 *  zauth gives it: the daemon reads it as "User-Id") and empty metadata.
 *  Anything but an admitted CURVE key of the request's domain is 400.
 */
#include "zap.h"
#include "log.h"

#define ZAP_ENDPOINT        "inproc://zeromq.zap.01"
#define ZAP_VERSION         "1.0"
#define ZAP_KEY_BYTES       32
#define ZAP_Z85_KEY_LEN     40
#define ZAP_REQUEST_FRAMES  7       //  with one credentials frame (CURVE)
//  A refused key retries about five times a second for ever: its denial is
//  logged once per interval, with the count of the ones not logged.
#define ZAP_DENIAL_LOG_MS   10000
#define ZAP_DENIALS_MAX     1024    //  keys remembered; beyond, the oldest go
#define ZAP_DENIED          "DENIED"    //  actor -> main: domain, key

struct _zap_t {
    zactor_t *actor;
};

typedef struct {
    zsock_t *pipe;
    zsock_t *handler;
    zhashx_t *domains;              //  domain -> zhashx_t of Z85 keys
    zhashx_t *denials;              //  "domain key" -> denial_t
} state_t;

typedef struct {
    int64_t logged_ms;              //  when this key's denial was last logged
    size_t unlogged;                //  denials since, not logged
} denial_t;

static void
s_denial_destroy (void **item)
{
    free (*item);
    *item = NULL;
}

static void
s_keys_destroy (void **item)
{
    zhashx_destroy ((zhashx_t **) item);
}

//  "KEYS" domain key...: replace the domain's set, then signal.
static void
s_set_keys (state_t *state, zmsg_t *msg)
{
    char *domain = zmsg_popstr (msg);
    zhashx_t *keys = zhashx_new ();
    char *key;
    while ((key = zmsg_popstr (msg))) {
        zhashx_insert (keys, key, (void *) 1);
        zstr_free (&key);
    }
    zhashx_update (state->domains, domain ? domain : "", keys);
    zstr_free (&domain);
    zsock_signal (state->pipe, 0);
}

static bool
s_pipe (state_t *state)
{
    zmsg_t *msg = zmsg_recv (state->pipe);
    char *command = msg ? zmsg_popstr (msg) : NULL;
    bool go_on = command && !streq (command, "$TERM");
    if (go_on && streq (command, "KEYS"))
        s_set_keys (state, msg);
    zstr_free (&command);
    zmsg_destroy (&msg);
    return go_on;
}

//  The Z85 key of a well-formed CURVE request of a known domain, else NULL.
static bool
s_admitted (state_t *state, zmsg_t *request, char *domain, size_t domain_size,
            char *key_z85)
{
    *key_z85 = 0;
    zframe_t *frames [ZAP_REQUEST_FRAMES] = { NULL };
    size_t count = 0;
    for (zframe_t *frame = zmsg_first (request); frame && count < ZAP_REQUEST_FRAMES;
         frame = zmsg_next (request))
        frames [count++] = frame;
    if (count != ZAP_REQUEST_FRAMES || zmsg_size (request) != ZAP_REQUEST_FRAMES
    ||  !zframe_streq (frames [0], ZAP_VERSION) || !zframe_streq (frames [5], "CURVE")
    ||  zframe_size (frames [6]) != ZAP_KEY_BYTES)
        return false;
    snprintf (domain, domain_size, "%.*s", (int) zframe_size (frames [2]),
              (const char *) zframe_data (frames [2]));
    zmq_z85_encode (key_z85, zframe_data (frames [6]), ZAP_KEY_BYTES);
    zhashx_t *keys = (zhashx_t *) zhashx_lookup (state->domains, domain);
    return keys && zhashx_lookup (keys, key_z85);
}

//  Log a denial at once for the first of an interval per key; count the rest.
static void
s_log_denial (state_t *state, const char *domain, const char *key)
{
    char name [128];
    snprintf (name, sizeof name, "%s %s", domain, key);
    int64_t now = zclock_mono ();
    denial_t *denial = (denial_t *) zhashx_lookup (state->denials, name);
    if (denial && now - denial->logged_ms < ZAP_DENIAL_LOG_MS) {
        denial->unlogged++;
        return;
    }
    size_t unlogged = denial ? denial->unlogged : 0;
    if (!denial) {
        if (zhashx_size (state->denials) >= ZAP_DENIALS_MAX)
            zhashx_purge (state->denials);
        denial = (denial_t *) zmalloc (sizeof (denial_t));
        zhashx_insert (state->denials, name, denial);
    }
    denial->logged_ms = now;
    denial->unlogged = 0;
    //  Told to the main thread to be audited; never waits for it
    zmsg_t *report = zmsg_new ();
    zmsg_addstr (report, ZAP_DENIED);
    zmsg_addstr (report, domain);
    zmsg_addstr (report, key);
    zsock_set_sndtimeo (state->pipe, 0);
    if (zmsg_send (&report, state->pipe))
        zmsg_destroy (&report);
    zsock_set_sndtimeo (state->pipe, -1);
    if (unlogged)
        log_warning ("zap: %s: denied (CURVE) client_key=%s (and %zu more time(s) in the "
                      "last %d s)", domain, key, unlogged, ZAP_DENIAL_LOG_MS / 1000);
    else
        log_warning ("zap: %s: denied (CURVE) client_key=%s", domain, key);
}

static void
s_request (state_t *state)
{
    zmsg_t *request = zmsg_recv (state->handler);
    if (!request)
        return;
    char domain [64] = "", key [ZAP_Z85_KEY_LEN + 1];
    bool admitted = s_admitted (state, request, domain, sizeof domain, key);
    zframe_t *first = zmsg_first (request);
    zframe_t *request_id = first ? zmsg_next (request) : NULL;
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, ZAP_VERSION);
    zframe_t *id = request_id ? zframe_dup (request_id) : zframe_new_empty ();
    zmsg_append (reply, &id);
    zmsg_addstr (reply, admitted ? "200" : "400");
    zmsg_addstr (reply, admitted ? "OK" : "not a key of this endpoint");
    zmsg_addstr (reply, admitted ? key : "");
    zmsg_addmem (reply, "", 0);
    zmsg_send (&reply, state->handler);
    if (admitted)
        log_info ("zap: %s: allowed (CURVE) client_key=%s", domain, key);
    else
        s_log_denial (state, *domain ? domain : "(no domain)", *key ? key : "(none)");
    zmsg_destroy (&request);
}

static void
s_actor (zsock_t *pipe, void *args)
{
    (void) args;
    state_t state = { pipe, zsock_new (ZMQ_REP), zhashx_new (), zhashx_new () };
    zhashx_set_destructor (state.domains, s_keys_destroy);
    zhashx_set_destructor (state.denials, s_denial_destroy);
    int rc = state.handler ? zsock_bind (state.handler, ZAP_ENDPOINT) : -1;
    zsock_signal (pipe, 0);
    //  The status of the bind answers the first command ("START")
    char *start = zstr_recv (pipe);
    zstr_free (&start);
    zsock_signal (pipe, rc == 0 ? 0 : 1);
    zpoller_t *poller = rc == 0 ? zpoller_new (pipe, state.handler, NULL) : NULL;
    //  A SIGTERM may land on this thread: it must not end the actor (the
    //  daemon would then block for ever on its next command to it); the
    //  daemon's loop takes the signal and ends the actor with $TERM
    if (poller)
        zpoller_set_nonstop (poller, true);
    bool running = rc == 0;
    while (running) {
        void *which = zpoller_wait (poller, -1);
        if (which == state.handler)
            s_request (&state);
        else
        if (which == pipe)
            running = s_pipe (&state);
        else
            //  NULL: a signal interrupted the wait (wait again), or the
            //  context is ending (stop: waiting again would spin)
            running = zmq_errno () != ETERM;
    }
    //  After a failed start, wait for $TERM as every actor must
    while (rc != 0 && s_pipe (&state))
        ;
    zpoller_destroy (&poller);
    zsock_destroy (&state.handler);
    zhashx_destroy (&state.domains);
    zhashx_destroy (&state.denials);
}

zap_t *
zap_new (void)
{
    zap_t *self = (zap_t *) zmalloc (sizeof (zap_t));
    self->actor = zactor_new (s_actor, NULL);
    if (self->actor) {
        zstr_send (self->actor, "START");
        if (zsock_wait (self->actor) == 0)
            return self;
    }
    log_error ("cannot start the ZAP handler on %s: %s (another ZAP handler in this "
                "process?)", ZAP_ENDPOINT, zmq_strerror (zmq_errno ()));
    zap_destroy (&self);
    return NULL;
}

void
zap_destroy (zap_t **self_p)
{
    assert (self_p);
    zap_t *self = *self_p;
    if (!self)
        return;
    zactor_destroy (&self->actor);
    free (self);
    *self_p = NULL;
}

zsock_t *
zap_socket (zap_t *self)
{
    assert (self);
    return (zsock_t *) self->actor;
}

bool
zap_denial (zap_t *self, char *domain, char *key)
{
    assert (self && domain && key);
    zmsg_t *msg = zmsg_recv (self->actor);
    char *kind = msg ? zmsg_popstr (msg) : NULL;
    char *from_domain = kind ? zmsg_popstr (msg) : NULL;
    char *from_key = from_domain ? zmsg_popstr (msg) : NULL;
    bool denial = from_key && streq (kind, ZAP_DENIED);
    if (denial) {
        snprintf (domain, ZAP_DOMAIN_MAX, "%s", from_domain);
        snprintf (key, ZAP_KEY_MAX, "%s", from_key);
    }
    zstr_free (&kind);
    zstr_free (&from_domain);
    zstr_free (&from_key);
    zmsg_destroy (&msg);
    return denial;
}

int
zap_set_keys (zap_t *self, const char *domain, zlist_t *keys)
{
    assert (self && domain && keys);
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "KEYS");
    zmsg_addstr (msg, domain);
    for (const char *key = (const char *) zlist_first (keys); key;
         key = (const char *) zlist_next (keys))
        zmsg_addstr (msg, key);
    if (zmsg_send (&msg, self->actor))
        return -1;
    return zsock_wait (self->actor) == 0 ? 0 : -1;
}
