/*  nats_bench: the same work as zvh_bench, on nats-server JetStream.
 *
 *  Topology (bench/bench.py starts the servers): one nats-server per region,
 *  each with JetStream (file storage) in its own domain; region 0 is the hub
 *  and every other region is a leaf node of it. Messages stored in region
 *  0's stream reach a region's own stream through a JetStream *source*
 *  (external API "$JS.<domain0>.API"), so each hop is stored at both ends,
 *  like a zvhd event in the outbox and then in the peer's log.
 *
 *  nats_bench fanout   --urls U0,U1,.. --domains D0,D1,.. [--subs S]
 *                      [--count K] [--interval MS] [--warmup W] [--payload B]
 *      Stream SIG (subjects sig.>) at region 0; stream LOG at every other
 *      region sourcing SIG. S subscribers per region, each on its own
 *      connection with a durable push consumer (explicit acks) on its
 *      region's stream. K messages published with js_Publish (returns after
 *      the hub's PubAck); latency = receive time - publish call time.
 *
 *  nats_bench handover --src URL --dst URL --src-domain D [--count M]
 *                      [--size B] [--sequential]
 *      Stream H at src; stream HB at dst sourcing H; a durable push consumer
 *      on HB at dst. Pipelined: M messages with js_PublishAsync (up to 1024
 *      unacknowledged), until the consumer at dst has all. Sequential: one
 *      js_Publish at a time, each waited for at dst.
 *
 *  nats_bench fill     --url URL [--count N] [--size B] [--windows W]
 *      N messages of B bytes into stream F, one subject per "case"
 *      (f.<n>), each with js_Publish; latency per window.
 *
 *  Every command takes --ca CA.pem [--cert CERT.pem --key KEY.pem] to connect
 *  with TLS (the servers then require it, and verify the client's cert).
 *
 *  Results: one JSON object on stdout.
 */
#include "bench_util.h"
#include <nats/nats.h>
#include <pthread.h>

#define MAX_URLS      64
#define MAX_SUBS      1024
#define WAIT_API_MS   20000

static void
s_die (const char *what, natsStatus s, jsErrCode jerr)
{
    fprintf (stderr, "nats_bench: %s: %s (js error %d): %s\n", what, natsStatus_GetText (s),
             (int) jerr, nats_GetLastError (NULL));
    exit (1);
}

//  TLS (--ca CA --cert CERT --key KEY): mutual, like CURVE with zauth
static const char *s_tls_ca, *s_tls_cert, *s_tls_key;

static natsConnection *
s_connect (const char *url, const char *name)
{
    natsOptions *opts;
    natsConnection *nc = NULL;
    natsOptions_Create (&opts);
    natsOptions_SetURL (opts, url);
    if (s_tls_ca) {
        natsOptions_SetSecure (opts, true);
        natsStatus s = natsOptions_LoadCATrustedCertificates (opts, s_tls_ca);
        if (s == NATS_OK && s_tls_cert)
            s = natsOptions_LoadCertificatesChain (opts, s_tls_cert, s_tls_key);
        if (s != NATS_OK)
            s_die ("TLS certificates", s, 0);
    }
    natsOptions_SetName (opts, name);
    natsOptions_SetMaxPendingMsgs (opts, 1000000);
    natsOptions_SetTimeout (opts, 10000);
    natsStatus s = natsConnection_Connect (&nc, opts);
    natsOptions_Destroy (opts);
    if (s != NATS_OK)
        s_die (url, s, 0);
    return nc;
}

static jsCtx *
s_js (natsConnection *nc)
{
    jsOptions opts;
    jsOptions_Init (&opts);
    opts.Wait = WAIT_API_MS;
    opts.PublishAsync.MaxPending = 1024;
    opts.PublishAsync.StallWait = 60000;
    jsCtx *js = NULL;
    natsStatus s = natsConnection_JetStream (&js, nc, &opts);
    if (s != NATS_OK)
        s_die ("JetStream context", s, 0);
    return js;
}

//  A file-storage stream: with subject (a pattern) or sourcing `source`
//  from another domain.
static void
s_add_stream (jsCtx *js, const char *name, const char *subject, const char *source,
              const char *source_domain, const char *deliver_prefix)
{
    jsStreamConfig cfg;
    jsStreamConfig_Init (&cfg);
    cfg.Name = name;
    cfg.Storage = js_FileStorage;
    const char *subjects [1] = { subject };
    jsStreamSource src;
    jsExternalStream ext;
    jsStreamSource *sources [1] = { &src };
    char api [128];
    if (subject) {
        cfg.Subjects = subjects;
        cfg.SubjectsLen = 1;
    }
    if (source) {
        jsStreamSource_Init (&src);
        src.Name = source;
        jsExternalStream_Init (&ext);
        snprintf (api, sizeof api, "$JS.%s.API", source_domain);
        ext.APIPrefix = api;
        ext.DeliverPrefix = deliver_prefix;
        src.External = &ext;
        cfg.Sources = sources;
        cfg.SourcesLen = 1;
    }
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_AddStream (&si, js, &cfg, NULL, &jerr);
    if (s != NATS_OK)
        s_die (name, s, jerr);
    jsStreamInfo_Destroy (si);
}

//  ---------------------------------------------------------------- receivers

//  One subscriber: counts messages and records, per message index (the
//  decimal number at the start of the payload), when it arrived.
typedef struct {
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *sub;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    size_t count;
    size_t cap;
    int64_t *t_us;                  //  by message index; 0 = not yet
    int ack_every;                  //  1 = explicit ack each; N = AckAll every N
    size_t unacked;
    size_t bytes;
} receiver_t;

static void
s_on_msg (natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) nc;
    (void) sub;
    int64_t now = bench_now_us ();
    receiver_t *self = (receiver_t *) closure;
    const char *data = natsMsg_GetData (msg);
    int len = natsMsg_GetDataLength (msg);
    long index = len > 0 ? strtol (data, NULL, 10) : -1;
    pthread_mutex_lock (&self->mutex);
    if (index >= 0 && (size_t) index < self->cap && !self->t_us [index]) {
        self->t_us [index] = now;
        self->count++;
        self->bytes += (size_t) len;
        pthread_cond_broadcast (&self->cond);
    }
    bool ack = ++self->unacked >= (size_t) self->ack_every;
    if (ack)
        self->unacked = 0;
    pthread_mutex_unlock (&self->mutex);
    if (ack)
        natsMsg_Ack (msg, NULL);
    natsMsg_Destroy (msg);
}

static void
s_receiver_init (receiver_t *self, const char *url, const char *name, size_t cap,
                 int ack_every)
{
    memset (self, 0, sizeof *self);
    self->nc = s_connect (url, name);
    self->js = s_js (self->nc);
    self->cap = cap;
    self->t_us = (int64_t *) calloc (cap, sizeof (int64_t));
    self->ack_every = ack_every;
    pthread_mutex_init (&self->mutex, NULL);
    pthread_cond_init (&self->cond, NULL);
}

//  A durable push consumer on stream for subject.
static void
s_receiver_subscribe (receiver_t *self, const char *stream, const char *subject,
                      const char *durable)
{
    jsSubOptions so;
    jsSubOptions_Init (&so);
    so.Stream = stream;
    so.ManualAck = true;
    so.Config.Durable = durable;
    so.Config.AckPolicy = self->ack_every > 1 ? js_AckAll : js_AckExplicit;
    so.Config.DeliverPolicy = js_DeliverAll;
    so.Config.MaxAckPending = 65536;
    jsErrCode jerr = 0;
    natsStatus s = js_Subscribe (&self->sub, self->js, subject, s_on_msg, self, NULL,
                                 &so, &jerr);
    if (s != NATS_OK)
        s_die ("subscribe", s, jerr);
    natsSubscription_SetPendingLimits (self->sub, -1, -1);
}

static bool
s_receiver_wait (receiver_t *self, size_t count, int64_t deadline_mono_us)
{
    pthread_mutex_lock (&self->mutex);
    while (self->count < count) {
        int64_t left = deadline_mono_us - bench_mono_us ();
        if (left <= 0)
            break;
        struct timespec ts;
        clock_gettime (CLOCK_REALTIME, &ts);
        int64_t wait = left > 100000 ? 100000 : left;
        ts.tv_nsec += (long) (wait % 1000000) * 1000;
        ts.tv_sec += wait / 1000000 + ts.tv_nsec / 1000000000;
        ts.tv_nsec %= 1000000000;
        pthread_cond_timedwait (&self->cond, &self->mutex, &ts);
    }
    bool done = self->count >= count;
    pthread_mutex_unlock (&self->mutex);
    return done;
}

static int64_t
s_receiver_time (receiver_t *self, size_t index)
{
    pthread_mutex_lock (&self->mutex);
    int64_t t = index < self->cap ? self->t_us [index] : 0;
    pthread_mutex_unlock (&self->mutex);
    return t;
}

static void
s_receiver_destroy (receiver_t *self)
{
    natsSubscription_Destroy (self->sub);
    jsCtx_Destroy (self->js);
    natsConnection_Destroy (self->nc);
    free (self->t_us);
}

//  Payload of size bytes that starts with the message index.
static char *
s_payload (size_t size, long index, char *buffer)
{
    bench_filler (buffer, size, (uint32_t) index);
    char head [24];
    int n = snprintf (head, sizeof head, "%ld ", index);
    memcpy (buffer, head, (size_t) n < size ? (size_t) n : size);
    return buffer;
}

static int
s_split (char *list, char **out, int max)
{
    int n = 0;
    for (char *item = strtok (list, ","); item && n < max; item = strtok (NULL, ","))
        out [n++] = item;
    return n;
}

//  ---------------------------------------------------------------- fanout

static int
s_fanout (int argc, char **argv)
{
    char *urls_arg = strdup (bench_opt (argc, argv, "--urls", ""));
    char *domains_arg = strdup (bench_opt (argc, argv, "--domains", ""));
    int subs = (int) bench_opt_long (argc, argv, "--subs", 4);
    int count = (int) bench_opt_long (argc, argv, "--count", 50);
    int interval_ms = (int) bench_opt_long (argc, argv, "--interval", 100);
    int warmup = (int) bench_opt_long (argc, argv, "--warmup", 3);
    int timeout_ms = (int) bench_opt_long (argc, argv, "--timeout-ms", 20000);
    size_t payload = (size_t) bench_opt_long (argc, argv, "--payload", 512);
    char *urls [MAX_URLS], *domains [MAX_URLS];
    int regions = s_split (urls_arg, urls, MAX_URLS);
    if (regions < 1 || s_split (domains_arg, domains, MAX_URLS) != regions
    ||  regions * subs > MAX_SUBS) {
        fprintf (stderr, "nats_bench fanout: need --urls and --domains of equal length\n");
        return 1;
    }
    natsConnection *hub = s_connect (urls [0], "bench-publisher");
    jsCtx *js = s_js (hub);
    s_add_stream (js, "SIG", "sig.>", NULL, NULL, NULL);
    for (int r = 1; r < regions; r++) {
        natsConnection *nc = s_connect (urls [r], "bench-setup");
        jsCtx *leaf = s_js (nc);
        char deliver [64];
        snprintf (deliver, sizeof deliver, "deliver.%s", domains [r]);
        s_add_stream (leaf, "LOG", NULL, "SIG", domains [0], deliver);
        jsCtx_Destroy (leaf);
        natsConnection_Destroy (nc);
    }
    size_t total = (size_t) (count + warmup);
    int receivers_n = regions * subs;
    receiver_t *receivers = (receiver_t *) calloc ((size_t) receivers_n, sizeof (receiver_t));
    for (int r = 0; r < regions; r++)
        for (int j = 0; j < subs; j++) {
            receiver_t *rx = &receivers [r * subs + j];
            char name [64];
            snprintf (name, sizeof name, "sub-%s-%d", domains [r], j);
            s_receiver_init (rx, urls [r], name, total, 1);
            s_receiver_subscribe (rx, r == 0 ? "SIG" : "LOG", "sig.>", name);
        }
    bench_log ("fanout: %d subscribers on %d servers, %d messages (+%d warm-up)",
               receivers_n, regions, count, warmup);
    char *buffer = (char *) malloc (payload + 1);
    int64_t *t0 = (int64_t *) calloc (total, sizeof (int64_t));
    samples_t pub_ms = { 0 }, delivery_ms = { 0 }, complete_ms = { 0 };
    int missing = 0, failed = 0;
    for (size_t k = 0; k < total; k++) {
        if (k)
            bench_sleep_ms (interval_ms);
        s_payload (payload, (long) k, buffer);
        jsPubAck *ack = NULL;
        jsErrCode jerr = 0;
        t0 [k] = bench_now_us ();
        natsStatus s = js_Publish (&ack, js, "sig.r0", buffer, (int) payload, NULL, &jerr);
        int64_t t_ack = bench_now_us ();
        jsPubAck_Destroy (ack);
        if (s != NATS_OK) {
            fprintf (stderr, "nats_bench: publish: %s\n", natsStatus_GetText (s));
            failed++;
            continue;
        }
        int64_t deadline = bench_mono_us () + (int64_t) (k == 0 ? 60000 : timeout_ms) * 1000;
        for (int i = 0; i < receivers_n; i++)
            if (!s_receiver_wait (&receivers [i], k + 1 - (size_t) failed, deadline)) {
                if (k < (size_t) warmup) {
                    fprintf (stderr, "nats_bench: warm-up message did not reach "
                             "subscriber %d\n", i);
                    return 1;
                }
                missing++;
            }
        if (k >= (size_t) warmup)
            samples_add (&pub_ms, (double) (t_ack - t0 [k]) / 1000.0);
    }
    for (size_t k = (size_t) warmup; k < total; k++) {
        int64_t last = 0;
        int got = 0;
        for (int i = 0; i < receivers_n; i++) {
            int64_t t = s_receiver_time (&receivers [i], k);
            if (!t)
                continue;
            got++;
            samples_add (&delivery_ms, (double) (t - t0 [k]) / 1000.0);
            if (t > last)
                last = t;
        }
        if (got == receivers_n)
            samples_add (&complete_ms, (double) (last - t0 [k]) / 1000.0);
    }
    json_begin ();
    json_num ("subscribers", receivers_n);
    json_num ("signals", count);
    json_num ("interval_ms", interval_ms);
    json_num ("payload_bytes", (double) payload);
    json_stats ("raise_ms", &pub_ms);
    json_stats ("delivery_ms", &delivery_ms);
    json_stats ("all_ms", &complete_ms);
    json_num ("missing", missing);
    json_num ("failed", failed);
    json_end ();
    for (int i = 0; i < receivers_n; i++)
        s_receiver_destroy (&receivers [i]);
    jsCtx_Destroy (js);
    natsConnection_Destroy (hub);
    free (buffer);
    free (t0);
    free (receivers);
    free (urls_arg);
    free (domains_arg);
    samples_free (&pub_ms);
    samples_free (&delivery_ms);
    samples_free (&complete_ms);
    return missing || failed ? 3 : 0;
}

//  ---------------------------------------------------------------- handover

static int
s_handover (int argc, char **argv)
{
    const char *src = bench_opt (argc, argv, "--src", NULL);
    const char *dst = bench_opt (argc, argv, "--dst", NULL);
    const char *src_domain = bench_opt (argc, argv, "--src-domain", NULL);
    const char *stream = bench_opt (argc, argv, "--stream", "H");
    int count = (int) bench_opt_long (argc, argv, "--count", 1000);
    size_t size = (size_t) bench_opt_long (argc, argv, "--size", 16384);
    int timeout_s = (int) bench_opt_long (argc, argv, "--timeout-s", 300);
    bool sequential = bench_flag (argc, argv, "--sequential");
    if (!src || !dst || !src_domain || count < 1) {
        fprintf (stderr, "nats_bench handover: need --src --dst --src-domain\n");
        return 1;
    }
    natsConnection *nc = s_connect (src, "bench-source");
    jsCtx *js = s_js (nc);
    char subject [80], pattern [80], copy [80], deliver [96];
    snprintf (subject, sizeof subject, "%s.plan", stream);
    snprintf (pattern, sizeof pattern, "%s.>", stream);
    snprintf (copy, sizeof copy, "%sB", stream);
    snprintf (deliver, sizeof deliver, "deliver.%s", copy);
    s_add_stream (js, stream, pattern, NULL, NULL, NULL);
    {
        natsConnection *dnc = s_connect (dst, "bench-setup");
        jsCtx *djs = s_js (dnc);
        s_add_stream (djs, copy, NULL, stream, src_domain, deliver);
        jsCtx_Destroy (djs);
        natsConnection_Destroy (dnc);
    }
    //  Index 0 is the warm-up message; cases are 1..count
    receiver_t rx;
    s_receiver_init (&rx, dst, "bench-target", (size_t) count + 1, sequential ? 1 : 64);
    s_receiver_subscribe (&rx, copy, pattern, "reader");
    char *buffer = (char *) malloc (size + 1);
    jsPubAck *ack = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_Publish (&ack, js, subject, s_payload (size, 0, buffer), (int) size,
                               NULL, &jerr);
    jsPubAck_Destroy (ack);
    if (s != NATS_OK || !s_receiver_wait (&rx, 1, bench_mono_us () + 60 * 1000000LL)) {
        fprintf (stderr, "nats_bench: warm-up message did not arrive\n");
        return 1;
    }
    int64_t *t0 = (int64_t *) calloc ((size_t) count + 1, sizeof (int64_t));
    samples_t pub_ms = { 0 }, e2e_ms = { 0 };
    int missing = 0, failures = 0;
    double pubs_s = 0, arrived_s = 0;
    int64_t start = bench_now_us ();
    if (sequential) {
        for (int n = 1; n <= count; n++) {
            s_payload (size, n, buffer);
            t0 [n] = bench_now_us ();
            ack = NULL;
            s = js_Publish (&ack, js, subject, buffer, (int) size, NULL, &jerr);
            int64_t t_ack = bench_now_us ();
            jsPubAck_Destroy (ack);
            if (s != NATS_OK) {
                failures++;
                continue;
            }
            samples_add (&pub_ms, (double) (t_ack - t0 [n]) / 1000.0);
            if (!s_receiver_wait (&rx, (size_t) n + 1, bench_mono_us () + 30 * 1000000LL))
                missing++;
        }
        pubs_s = (double) (bench_now_us () - start) / 1e6;
    }
    else {
        for (int n = 1; n <= count; n++) {
            s_payload (size, n, buffer);
            t0 [n] = bench_now_us ();
            if (js_PublishAsync (js, subject, buffer, (int) size, NULL) != NATS_OK)
                failures++;
        }
        jsPubOptions po;
        jsPubOptions_Init (&po);
        po.MaxWait = (int64_t) timeout_s * 1000;
        if (js_PublishAsyncComplete (js, &po) != NATS_OK)
            failures++;
        pubs_s = (double) (bench_now_us () - start) / 1e6;
        s_receiver_wait (&rx, (size_t) count + 1, bench_mono_us () + (int64_t) timeout_s * 1000000);
    }
    int64_t last = 0;
    for (int n = 1; n <= count; n++) {
        int64_t t = s_receiver_time (&rx, (size_t) n);
        if (!t) {
            if (!sequential)
                missing++;
            continue;
        }
        if (t > last)
            last = t;
        samples_add (&e2e_ms, (double) (t - t0 [n]) / 1000.0);
    }
    arrived_s = (double) (last - start) / 1e6;
    json_begin ();
    json_num ("cases", count);
    json_num ("plan_bytes", (double) size);
    json_num ("moves_s", pubs_s);
    json_num ("arrived_s", arrived_s);
    json_num ("handovers_per_s", arrived_s > 0 ? (count - missing) / arrived_s : 0);
    json_num ("mib_per_s", arrived_s > 0
              ? (count - missing) * (double) size / arrived_s / 1048576.0 : 0);
    json_stats ("move_call_ms", &pub_ms);
    json_stats ("e2e_ms", &e2e_ms);
    json_num ("missing", missing);
    json_num ("failures", failures);
    json_end ();
    s_receiver_destroy (&rx);
    jsCtx_Destroy (js);
    natsConnection_Destroy (nc);
    free (buffer);
    free (t0);
    samples_free (&pub_ms);
    samples_free (&e2e_ms);
    return missing || failures ? 3 : 0;
}

//  ---------------------------------------------------------------- fill

static int
s_fill (int argc, char **argv)
{
    const char *url = bench_opt (argc, argv, "--url", NULL);
    int count = (int) bench_opt_long (argc, argv, "--count", 2000);
    size_t size = (size_t) bench_opt_long (argc, argv, "--size", 6000);
    int windows = (int) bench_opt_long (argc, argv, "--windows", 10);
    if (!url || count < 1)
        return 1;
    if (windows < 1)
        windows = 1;
    natsConnection *nc = s_connect (url, "bench-fill");
    jsCtx *js = s_js (nc);
    s_add_stream (js, "F", "f.>", NULL, NULL, NULL);
    char *buffer = (char *) malloc (size + 1);
    int per_window = (count + windows - 1) / windows;
    samples_t all = { 0 };
    int failures = 0;
    json_begin ();
    json_num ("cases", count);
    json_num ("plan_bytes", (double) size);
    int64_t start = bench_mono_us ();
    for (int w = 0; w < windows; w++) {
        samples_t window = { 0 };
        int64_t w_start = bench_mono_us ();
        int end = (w + 1) * per_window < count ? (w + 1) * per_window : count;
        for (int n = w * per_window; n < end; n++) {
            char subject [64];
            snprintf (subject, sizeof subject, "f.case-%07d", n);
            s_payload (size, n, buffer);
            jsPubAck *ack = NULL;
            jsErrCode jerr = 0;
            int64_t t = bench_mono_us ();
            natsStatus s = js_Publish (&ack, js, subject, buffer, (int) size, NULL, &jerr);
            jsPubAck_Destroy (ack);
            if (s != NATS_OK) {
                failures++;
                continue;
            }
            double ms = (double) (bench_mono_us () - t) / 1000.0;
            samples_add (&window, ms);
            samples_add (&all, ms);
        }
        double w_s = (double) (bench_mono_us () - w_start) / 1e6;
        char key [64];
        snprintf (key, sizeof key, "w%d_upto", w);
        json_num (key, end);
        snprintf (key, sizeof key, "w%d_per_s", w);
        json_num (key, window.count / (w_s > 0 ? w_s : 1e-9));
        snprintf (key, sizeof key, "w%d_ms", w);
        json_stats (key, &window);
        samples_free (&window);
        bench_log ("fill: %d messages", end);
    }
    double total_s = (double) (bench_mono_us () - start) / 1e6;
    json_num ("total_s", total_s);
    json_num ("per_s", count / total_s);
    json_stats ("include_ms", &all);
    json_num ("failures", failures);
    json_end ();
    jsCtx_Destroy (js);
    natsConnection_Destroy (nc);
    free (buffer);
    samples_free (&all);
    return failures ? 3 : 0;
}

int
main (int argc, char **argv)
{
    const char *command = argc > 1 ? argv [1] : "";
    s_tls_ca = bench_opt (argc, argv, "--ca", NULL);
    s_tls_cert = bench_opt (argc, argv, "--cert", NULL);
    s_tls_key = bench_opt (argc, argv, "--key", NULL);
    int rc = 1;
    if (strcmp (command, "fanout") == 0)
        rc = s_fanout (argc, argv);
    else
    if (strcmp (command, "handover") == 0)
        rc = s_handover (argc, argv);
    else
    if (strcmp (command, "fill") == 0)
        rc = s_fill (argc, argv);
    else
        fprintf (stderr, "usage: nats_bench fanout|handover|fill [options] (see the "
                 "comment at the top of bench/nats_bench.c)\n");
    nats_Close ();
    return rc;
}
