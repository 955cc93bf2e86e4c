/*  zvh_bench: drives real zvhd daemons through libzvh and measures.
 *
 *  zvh_bench fanout   --control EP --case ID --subs FILE [--count K]
 *                     [--interval MS] [--warmup W] [--plan-json PATH]
 *      Includes case ID at the daemon of EP (if not there yet), connects one
 *      partner subscriber per line of FILE ("endpoint server_key cert_file"),
 *      each in its own thread, then raises K crisis signals one after another
 *      (INTERVAL ms apart) and records when each subscriber receives each
 *      one. Latency = receive time - time the raise call was made.
 *
 *  zvh_bench handover --source EP --target EP --target-region R
 *                     --listen-endpoint E --listen-key K --listen-cert C
 *                     [--count M] [--size BYTES] [--clients N] [--prefix P]
 *                     [--sequential] [--plan-json PATH]
 *      Includes M cases with BYTES-sized plans at the source, then moves them
 *      all to R: pipelined (N client threads, as fast as the source accepts
 *      the moves) or --sequential (one handover at a time, each waited for).
 *      A case has arrived when the target's partner stream (a subscriber
 *      with the key C on E) delivers its label_moved event, which the target
 *      writes in the same transaction that accepts the offer.
 *
 *  zvh_bench fill     --control EP [--count N] [--size BYTES] [--prefix P]
 *                     [--windows W] [--plan-json PATH]
 *      Includes N cases one after another; include latency per window.
 *
 *  zvh_bench ops      --control EP [--count K] [--case ID] [--move-prefix P
 *                     --move-count M --target-region R]
 *      Latency of status, case show and (optionally) M moves on a filled store.
 *
 *  Results: one JSON object on stdout. Exit 0 if everything ran and arrived.
 */
#include "bench_util.h"
#include "zvh/zvh.h"
#include "zvh/zvh_plan.h"
#include <jansson.h>
#include <pthread.h>

#define DEFAULT_PLAN_JSON "config/example-plan.json"
#define FUTURE_DATE       "2099-01-01"
#define FILLER_GOAL_MAX   4000
#define CALL_TIMEOUT_MS   60000
#define PIPE_BATCH        256     //  moves per pipelined call
#define PIPE_WINDOW       64      //  of them in flight: what zvhd serves in a turn

//  ---------------------------------------------------------------- plans

//  A valid plan of about target bytes (encoded): the example plan with its
//  review date in the future (no review_due events during a run) and extra
//  goals of filler text. target 0 = the example plan as it is.
static uint8_t *
s_make_plan (const char *json_path, size_t target, size_t *size_p)
{
    json_error_t error;
    json_t *plan = json_load_file (json_path, 0, &error);
    if (!plan) {
        fprintf (stderr, "zvh_bench: %s: %s\n", json_path, error.text);
        return NULL;
    }
    json_object_set_new (plan, "review_date", json_string (FUTURE_DATE));
    json_t *goals = json_object_get (json_array_get (json_object_get (plan, "domains"), 0),
                                     "goals");
    char *text = (char *) malloc (FILLER_GOAL_MAX + 1);
    uint8_t *bytes = NULL;
    size_t size = 0;
    json_t *last = NULL;
    for (int round = 0; round < 64; round++) {
        char *json = json_dumps (plan, JSON_COMPACT);
        char why [ZVH_PLAN_ERR_MAX];
        free (bytes);
        bytes = NULL;
        int rc = zvh_plan_from_json (json, &bytes, &size, why, sizeof why);
        free (json);
        if (rc) {
            fprintf (stderr, "zvh_bench: plan: %s\n", why);
            break;
        }
        if (target == 0 || size == target || (size > target && !last))
            break;
        if (last && size > target) {
            //  Overshot by a few length-prefix bytes: shorten the last goal
            size_t len = strlen (json_string_value (json_object_get (last, "text")));
            size_t cut = size - target;
            bench_filler (text, len > cut ? len - cut : 1, (uint32_t) round);
            json_object_set_new (last, "text", json_string (text));
            continue;
        }
        size_t missing = target - size;
        if (last && missing < 64) {
            size_t len = strlen (json_string_value (json_object_get (last, "text")));
            if (len + missing <= FILLER_GOAL_MAX) {
                bench_filler (text, len + missing, (uint32_t) round);
                json_object_set_new (last, "text", json_string (text));
                continue;
            }
        }
        size_t len = missing > FILLER_GOAL_MAX + 40 ? FILLER_GOAL_MAX
                   : missing > 40 ? missing - 40 : 1;
        bench_filler (text, len, (uint32_t) round);
        last = json_pack ("{s:s, s:s, s:s, s:s}", "term", "short", "text", text,
                          "responsible", "bench", "due", FUTURE_DATE);
        json_array_append_new (goals, last);
    }
    free (text);
    json_decref (plan);
    *size_p = size;
    return bytes;
}

//  ---------------------------------------------------------------- listeners

#define ID_MAX ZVH_EVENT_ID_MAX

//  One partner subscriber in its own thread: records each view of `type`
//  (and, if prefix is set, whose case id starts with it) with its receive
//  time. The key recorded is the event id (signals) or the case id.
typedef struct {
    zvh_subscriber_t *sub;
    const char *type;
    const char *prefix;
    int ack_every;                  //  1 = acknowledge each matched view at once
    int batch;                      //  with ack_every 1: others in batches of this
    pthread_t thread;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    volatile bool stop;
    size_t count;
    size_t cap;
    char (*ids) [ID_MAX];
    int64_t *t_us;
    uint64_t raw_bytes;
    uint64_t views;                 //  every view received, matched or not
    int errors;
} listener_t;

static void *
s_listen (void *arg)
{
    listener_t *self = (listener_t *) arg;
    zvh_subscriber_start (self->sub, 0, false, 0);
    uint64_t unacked_seq = 0;
    int unacked = 0;
    while (!self->stop) {
        zvh_signal_t signal;
        int rc = zvh_subscriber_next (self->sub, 100, &signal);
        int64_t now = bench_now_us ();
        if (rc == ZVH_E_TIMEOUT) {
            if (unacked) {
                zvh_subscriber_ack (self->sub, unacked_seq);
                unacked = 0;
            }
            continue;
        }
        if (rc != ZVH_OK) {
            self->errors++;
            continue;
        }
        bool match = signal.type && strcmp (signal.type, self->type) == 0;
        const char *key = strcmp (self->type, "signal") == 0 ? signal.event_id : signal.case_id;
        if (match && self->prefix)
            match = key && strncmp (key, self->prefix, strlen (self->prefix)) == 0;
        pthread_mutex_lock (&self->mutex);
        self->views++;
        if (match && key && self->count < self->cap) {
            snprintf (self->ids [self->count], ID_MAX, "%s", key);
            self->t_us [self->count] = now;
            self->raw_bytes += signal.raw_size;
            self->count++;
            pthread_cond_broadcast (&self->cond);
        }
        pthread_mutex_unlock (&self->mutex);
        //  What we measure is acknowledged at once; a backlog of other views
        //  (from earlier runs) is acknowledged in batches, as a partner
        //  catching up would
        unacked_seq = signal.seq;
        int every = self->ack_every == 1 && !match && self->batch ? self->batch
                                                                : self->ack_every;
        if (++unacked >= every) {
            zvh_subscriber_ack (self->sub, unacked_seq);
            unacked = 0;
        }
    }
    return NULL;
}

static listener_t *
s_listener_new (const char *endpoint, const char *key, const char *cert,
                const char *type, const char *prefix, size_t cap, int ack_every)
{
    zvh_subscriber_t *sub = zvh_subscriber_new (endpoint, key, cert);
    if (!sub) {
        fprintf (stderr, "zvh_bench: cannot create subscriber for %s (%s)\n", endpoint, cert);
        return NULL;
    }
    listener_t *self = (listener_t *) calloc (1, sizeof (listener_t));
    self->sub = sub;
    self->type = type;
    self->prefix = prefix;
    self->ack_every = ack_every < 1 ? 1 : ack_every;
    self->cap = cap;
    self->ids = calloc (cap, ID_MAX);
    self->t_us = (int64_t *) calloc (cap, sizeof (int64_t));
    pthread_mutex_init (&self->mutex, NULL);
    pthread_cond_init (&self->cond, NULL);
    return self;
}

static void
s_listener_start (listener_t *self)
{
    pthread_create (&self->thread, NULL, s_listen, self);
}

//  Wait until the listener has matched at least count views; false on timeout.
static bool
s_listener_wait (listener_t *self, size_t count, int64_t deadline_mono_us)
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

//  Receive time of key, or 0.
static int64_t
s_listener_time (listener_t *self, const char *key)
{
    int64_t t = 0;
    pthread_mutex_lock (&self->mutex);
    for (size_t i = 0; i < self->count && !t; i++)
        if (strcmp (self->ids [i], key) == 0)
            t = self->t_us [i];
    pthread_mutex_unlock (&self->mutex);
    return t;
}

static void
s_listener_destroy (listener_t **self_p)
{
    listener_t *self = *self_p;
    if (!self)
        return;
    self->stop = true;
    pthread_join (self->thread, NULL);
    zvh_subscriber_destroy (&self->sub);
    free (self->ids);
    free (self->t_us);
    free (self);
    *self_p = NULL;
}

static zvh_client_t *
s_client (const char *endpoint)
{
    zvh_client_t *client = endpoint ? zvh_client_new (endpoint) : NULL;
    if (!client)
        fprintf (stderr, "zvh_bench: no control endpoint (%s)\n", endpoint ? endpoint : "-");
    else
        zvh_client_set_timeout (client, CALL_TIMEOUT_MS);
    return client;
}

//  ---------------------------------------------------------------- fanout

static int
s_fanout (int argc, char **argv)
{
    const char *control = bench_opt (argc, argv, "--control", NULL);
    const char *case_id = bench_opt (argc, argv, "--case", "fanout-case");
    const char *subs_file = bench_opt (argc, argv, "--subs", NULL);
    const char *plan_json = bench_opt (argc, argv, "--plan-json", DEFAULT_PLAN_JSON);
    int count = (int) bench_opt_long (argc, argv, "--count", 50);
    int interval_ms = (int) bench_opt_long (argc, argv, "--interval", 100);
    int warmup = (int) bench_opt_long (argc, argv, "--warmup", 3);
    int timeout_ms = (int) bench_opt_long (argc, argv, "--timeout-ms", 20000);
    zvh_client_t *client = s_client (control);
    FILE *file = subs_file ? fopen (subs_file, "r") : NULL;
    if (!client || !file) {
        fprintf (stderr, "zvh_bench fanout: need --control and --subs\n");
        return 1;
    }
    size_t plan_size;
    uint8_t *plan = s_make_plan (plan_json, 0, &plan_size);
    zvh_case_t found;
    int rc = plan ? zvh_client_case_include (client, case_id, plan, plan_size, &found)
                  : ZVH_E_BAD_REQUEST;
    free (plan);
    if (rc && rc != ZVH_E_CONFLICT) {
        fprintf (stderr, "zvh_bench: include %s: %s\n", case_id, zvh_client_error (client));
        return 1;
    }
    //  One listener per line
    listener_t *listeners [1024];
    size_t listener_count = 0;
    char endpoint [512], key [128], cert [1024];
    size_t cap = (size_t) (count + warmup + 8);
    while (listener_count < 1024
       &&  fscanf (file, "%511s %127s %1023s", endpoint, key, cert) == 3) {
        listener_t *listener = s_listener_new (endpoint, key, cert, "signal", NULL, cap, 1);
        if (!listener)
            return 1;
        listeners [listener_count++] = listener;
    }
    fclose (file);
    for (size_t i = 0; i < listener_count; i++)
        s_listener_start (listeners [i]);
    bench_log ("fanout: %zu subscribers, %d signals (+%d warm-up), %d ms apart",
               listener_count, count, warmup, interval_ms);
    zvh_raise_t raise = { case_id, false, "incident", "immediate", "severe", "observed",
                          "benchmark signal: crisis fan-out" };
    char (*event_ids) [ZVH_EVENT_ID_MAX] = calloc ((size_t) (count + warmup), ZVH_EVENT_ID_MAX);
    int64_t *t0 = (int64_t *) calloc ((size_t) (count + warmup), sizeof (int64_t));
    samples_t raise_ms = { 0 }, delivery_ms = { 0 }, complete_ms = { 0 };
    int missing = 0, failed = 0;
    for (int k = 0; k < count + warmup; k++) {
        if (k)
            bench_sleep_ms (interval_ms);
        t0 [k] = bench_now_us ();
        rc = zvh_client_signal_raise (client, &raise, event_ids [k]);
        int64_t t_ack = bench_now_us ();
        if (rc) {
            fprintf (stderr, "zvh_bench: raise: %s\n", zvh_client_error (client));
            failed++;
            event_ids [k][0] = 0;
            continue;
        }
        //  The first warm-up waits for every link and subscription to come up
        int64_t deadline = bench_mono_us () + (int64_t) (k == 0 ? 60000 : timeout_ms) * 1000;
        for (size_t i = 0; i < listener_count; i++)
            if (!s_listener_wait (listeners [i], (size_t) (k + 1 - failed), deadline)) {
                if (k >= warmup)
                    missing++;
                else {
                    fprintf (stderr, "zvh_bench: warm-up signal %s did not reach "
                             "subscriber %zu\n", event_ids [k], i);
                    return 1;
                }
            }
        if (k >= warmup)
            samples_add (&raise_ms, (double) (t_ack - t0 [k]) / 1000.0);
    }
    uint64_t raw_bytes = 0, raw_count = 0;
    for (int k = warmup; k < count + warmup; k++) {
        if (!event_ids [k][0])
            continue;
        int64_t last = 0;
        size_t got = 0;
        for (size_t i = 0; i < listener_count; i++) {
            int64_t t = s_listener_time (listeners [i], event_ids [k]);
            if (!t)
                continue;
            got++;
            samples_add (&delivery_ms, (double) (t - t0 [k]) / 1000.0);
            if (t > last)
                last = t;
        }
        if (got == listener_count)
            samples_add (&complete_ms, (double) (last - t0 [k]) / 1000.0);
    }
    for (size_t i = 0; i < listener_count; i++) {
        raw_bytes += listeners [i]->raw_bytes;
        raw_count += listeners [i]->count;
    }
    json_begin ();
    json_num ("subscribers", (double) listener_count);
    json_num ("signals", count);
    json_num ("interval_ms", interval_ms);
    json_stats ("raise_ms", &raise_ms);
    json_stats ("delivery_ms", &delivery_ms);
    json_stats ("all_ms", &complete_ms);
    json_num ("missing", missing);
    json_num ("failed", failed);
    json_num ("view_bytes", raw_count ? (double) raw_bytes / (double) raw_count : 0);
    json_end ();
    for (size_t i = 0; i < listener_count; i++)
        s_listener_destroy (&listeners [i]);
    zvh_client_destroy (&client);
    free (event_ids);
    free (t0);
    samples_free (&raise_ms);
    samples_free (&delivery_ms);
    samples_free (&complete_ms);
    return missing || failed ? 3 : 0;
}

//  ---------------------------------------------------------------- handover

typedef struct {
    const char *endpoint;
    const char *target_region;
    const char *prefix;
    const uint8_t *plan;
    size_t plan_size;
    int index;                      //  this thread's number
    int stride;                     //  number of threads
    int count;                      //  cases in all
    bool move;                      //  false = include
    int64_t *t0;                    //  per case: call made
    samples_t call_ms;
    int failures;
    char error [256];
} worker_t;

static void
s_case_id (char *out, const char *prefix, int n)
{
    snprintf (out, ZVH_ID_MAX, "%s%07d", prefix, n);
}

//  Moves, pipelined as NATS publishes asynchronously: this thread's cases in
//  batches of PIPE_BATCH with PIPE_WINDOW requests in flight. A case's
//  "call made" is its batch's start; call_ms gets each batch's time.
static void
s_work_pipelined (worker_t *self, zvh_client_t *client)
{
    const char *ids [PIPE_BATCH];
    char names [PIPE_BATCH][ZVH_ID_MAX];
    int results [PIPE_BATCH];
    int n = self->index;
    while (n < self->count) {
        int batch = 0;
        for (; batch < PIPE_BATCH && n < self->count; batch++, n += self->stride) {
            s_case_id (names [batch], self->prefix, n);
            ids [batch] = names [batch];
        }
        int64_t t = bench_now_us ();
        int rc = zvh_client_case_move_many (client, ids, (size_t) batch, self->target_region,
                                            PIPE_WINDOW, results, NULL);
        samples_add (&self->call_ms, (double) (bench_now_us () - t) / 1000.0);
        for (int i = 0; i < batch; i++) {
            self->t0 [n - (batch - i) * self->stride] = t;
            if (results [i] && !self->failures++)
                snprintf (self->error, sizeof self->error, "move %s: %s", ids [i],
                          zvh_strerror (results [i]));
        }
        if (rc && !*self->error)
            snprintf (self->error, sizeof self->error, "%s", zvh_client_error (client));
    }
}

static void *
s_work (void *arg)
{
    worker_t *self = (worker_t *) arg;
    zvh_client_t *client = s_client (self->endpoint);
    if (client && self->move && self->t0) {
        s_work_pipelined (self, client);
        zvh_client_destroy (&client);
        return NULL;
    }
    for (int n = self->index; client && n < self->count; n += self->stride) {
        char id [ZVH_ID_MAX];
        s_case_id (id, self->prefix, n);
        zvh_case_t found;
        int64_t t = bench_now_us ();
        int rc = self->move
            ? zvh_client_case_move (client, id, self->target_region, &found)
            : zvh_client_case_include (client, id, self->plan, self->plan_size, &found);
        int64_t done = bench_now_us ();
        if (self->t0)
            self->t0 [n] = t;
        if (rc) {
            if (!self->failures++)
                snprintf (self->error, sizeof self->error, "%s %s: %s",
                          self->move ? "move" : "include", id, zvh_client_error (client));
            continue;
        }
        samples_add (&self->call_ms, (double) (done - t) / 1000.0);
    }
    zvh_client_destroy (&client);
    return NULL;
}

//  Run include or move of all cases over `clients` threads; returns wall
//  time in seconds; call latencies merged into call_ms.
static double
s_run_workers (worker_t *proto, int clients, samples_t *call_ms, int *failures)
{
    worker_t *workers = (worker_t *) calloc ((size_t) clients, sizeof (worker_t));
    pthread_t *threads = (pthread_t *) calloc ((size_t) clients, sizeof (pthread_t));
    int64_t start = bench_mono_us ();
    for (int i = 0; i < clients; i++) {
        workers [i] = *proto;
        workers [i].index = i;
        workers [i].stride = clients;
        pthread_create (&threads [i], NULL, s_work, &workers [i]);
    }
    for (int i = 0; i < clients; i++) {
        pthread_join (threads [i], NULL);
        for (size_t j = 0; j < workers [i].call_ms.count; j++)
            samples_add (call_ms, workers [i].call_ms.values [j]);
        if (workers [i].failures)
            fprintf (stderr, "zvh_bench: %d failure(s), first: %s\n",
                     workers [i].failures, workers [i].error);
        *failures += workers [i].failures;
        samples_free (&workers [i].call_ms);
    }
    double wall_s = (double) (bench_mono_us () - start) / 1e6;
    free (workers);
    free (threads);
    return wall_s;
}

static int
s_handover (int argc, char **argv)
{
    const char *source = bench_opt (argc, argv, "--source", NULL);
    const char *target = bench_opt (argc, argv, "--target", NULL);
    const char *target_region = bench_opt (argc, argv, "--target-region", NULL);
    const char *listen_endpoint = bench_opt (argc, argv, "--listen-endpoint", NULL);
    const char *listen_key = bench_opt (argc, argv, "--listen-key", NULL);
    const char *listen_cert = bench_opt (argc, argv, "--listen-cert", NULL);
    const char *prefix = bench_opt (argc, argv, "--prefix", "h-");
    const char *plan_json = bench_opt (argc, argv, "--plan-json", DEFAULT_PLAN_JSON);
    int count = (int) bench_opt_long (argc, argv, "--count", 1000);
    size_t size = (size_t) bench_opt_long (argc, argv, "--size", 16384);
    int clients = (int) bench_opt_long (argc, argv, "--clients", 1);
    int timeout_s = (int) bench_opt_long (argc, argv, "--timeout-s", 300);
    bool sequential = bench_flag (argc, argv, "--sequential");
    if (!source || !target || !target_region || !listen_endpoint || !listen_key
    ||  !listen_cert || clients < 1 || count < 1) {
        fprintf (stderr, "zvh_bench handover: missing options\n");
        return 1;
    }
    size_t plan_size;
    uint8_t *plan = s_make_plan (plan_json, size, &plan_size);
    zvh_client_t *client = s_client (source);
    if (!plan || !client)
        return 1;
    listener_t *listener = s_listener_new (listen_endpoint, listen_key, listen_cert,
                                           "label_moved", prefix, (size_t) count + 1,
                                           sequential ? 1 : 64);
    //  ack_every 1 = matched views at once, the rest in batches of 64
    listener->batch = 64;
    if (!listener)
        return 1;
    s_listener_start (listener);
    //  Warm-up: one handover end to end, so links and the stream are up
    char warm [ZVH_ID_MAX];
    snprintf (warm, sizeof warm, "%swarm", prefix);
    zvh_case_t found;
    if (zvh_client_case_include (client, warm, plan, plan_size, &found)
    ||  zvh_client_case_move (client, warm, target_region, &found)
    ||  !s_listener_wait (listener, 1, bench_mono_us () + 600 * 1000000LL)) {
        fprintf (stderr, "zvh_bench: warm-up handover failed: %s\n", zvh_client_error (client));
        return 1;
    }
    int failures = 0;
    samples_t include_ms = { 0 }, move_ms = { 0 }, e2e_ms = { 0 };
    worker_t proto = { source, target_region, prefix, plan, plan_size, 0, 1, count,
                       false, NULL, { 0 }, 0, "" };
    bench_log ("handover: including %d cases with %zu-byte plans (%d client(s))",
               count, plan_size, clients);
    double include_s = s_run_workers (&proto, clients, &include_ms, &failures);
    int64_t *t0 = (int64_t *) calloc ((size_t) count, sizeof (int64_t));
    double moves_s = 0, arrived_s = 0;
    int missing = 0;
    if (sequential) {
        bench_log ("handover: %d single handovers, one at a time", count);
        int64_t start = bench_mono_us ();
        for (int n = 0; n < count; n++) {
            char id [ZVH_ID_MAX];
            s_case_id (id, prefix, n);
            int64_t t = bench_now_us ();
            int rc = zvh_client_case_move (client, id, target_region, &found);
            int64_t t_call = bench_now_us ();
            if (rc) {
                fprintf (stderr, "zvh_bench: move %s: %s\n", id, zvh_client_error (client));
                failures++;
                continue;
            }
            samples_add (&move_ms, (double) (t_call - t) / 1000.0);
            if (!s_listener_wait (listener, (size_t) n + 2, bench_mono_us () + 30 * 1000000LL)) {
                missing++;
                continue;
            }
            samples_add (&e2e_ms, (double) (s_listener_time (listener, id) - t) / 1000.0);
        }
        moves_s = arrived_s = (double) (bench_mono_us () - start) / 1e6;
    }
    else {
        bench_log ("handover: moving %d cases to %s, pipelined (%d client(s))",
                   count, target_region, clients);
        proto.move = true;
        proto.t0 = t0;
        int64_t start = bench_now_us ();
        moves_s = s_run_workers (&proto, clients, &move_ms, &failures);
        bool all = s_listener_wait (listener, (size_t) count + 1 - (size_t) failures,
                                    bench_mono_us () + (int64_t) timeout_s * 1000000);
        int64_t last = 0;
        for (int n = 0; n < count; n++) {
            char id [ZVH_ID_MAX];
            s_case_id (id, prefix, n);
            int64_t t = s_listener_time (listener, id);
            if (!t) {
                missing++;
                continue;
            }
            if (t > last)
                last = t;
            samples_add (&e2e_ms, (double) (t - t0 [n]) / 1000.0);
        }
        arrived_s = (double) (last - start) / 1e6;
        if (!all)
            fprintf (stderr, "zvh_bench: %d case(s) did not arrive in %d s\n", missing, timeout_s);
    }
    //  The target's own count of what it owns now
    zvh_client_t *target_client = s_client (target);
    zvh_status_t status;
    double target_joint = -1;
    if (target_client && zvh_client_status (target_client, &status) == ZVH_OK) {
        target_joint = (double) status.cases [3];       //  joint_target
        zvh_status_free (&status);
    }
    zvh_client_destroy (&target_client);
    json_begin ();
    json_num ("cases", count);
    json_num ("plan_bytes", (double) plan_size);
    json_num ("clients", clients);
    json_num ("include_s", include_s);
    json_num ("include_per_s", count / include_s);
    json_stats ("include_ms", &include_ms);
    json_num ("moves_s", moves_s);
    json_num ("arrived_s", arrived_s);
    json_num ("handovers_per_s", arrived_s > 0 ? (count - missing) / arrived_s : 0);
    json_num ("mib_per_s", arrived_s > 0
              ? (count - missing) * (double) plan_size / arrived_s / 1048576.0 : 0);
    json_stats ("move_call_ms", &move_ms);
    json_stats ("e2e_ms", &e2e_ms);
    json_num ("target_joint_target", target_joint);
    json_num ("missing", missing);
    json_num ("failures", failures);
    json_end ();
    s_listener_destroy (&listener);
    zvh_client_destroy (&client);
    free (plan);
    free (t0);
    samples_free (&include_ms);
    samples_free (&move_ms);
    samples_free (&e2e_ms);
    return missing || failures ? 3 : 0;
}

//  ---------------------------------------------------------------- fill

static int
s_fill (int argc, char **argv)
{
    const char *control = bench_opt (argc, argv, "--control", NULL);
    const char *prefix = bench_opt (argc, argv, "--prefix", "f-");
    const char *plan_json = bench_opt (argc, argv, "--plan-json", DEFAULT_PLAN_JSON);
    int count = (int) bench_opt_long (argc, argv, "--count", 2000);
    int start_at = (int) bench_opt_long (argc, argv, "--start", 0);
    size_t size = (size_t) bench_opt_long (argc, argv, "--size", 0);
    int windows = (int) bench_opt_long (argc, argv, "--windows", 10);
    zvh_client_t *client = s_client (control);
    size_t plan_size;
    uint8_t *plan = s_make_plan (plan_json, size, &plan_size);
    if (!client || !plan)
        return 1;
    if (windows < 1)
        windows = 1;
    int per_window = (count + windows - 1) / windows;
    json_begin ();
    json_num ("cases", count);
    json_num ("plan_bytes", (double) plan_size);
    samples_t all = { 0 };
    int failures = 0;
    int64_t start = bench_mono_us ();
    for (int w = 0; w < windows; w++) {
        samples_t window = { 0 };
        int64_t w_start = bench_mono_us ();
        int end = (w + 1) * per_window < count ? (w + 1) * per_window : count;
        for (int n = w * per_window; n < end; n++) {
            char id [ZVH_ID_MAX];
            s_case_id (id, prefix, start_at + n);
            zvh_case_t found;
            int64_t t = bench_mono_us ();
            if (zvh_client_case_include (client, id, plan, plan_size, &found)) {
                if (!failures++)
                    fprintf (stderr, "zvh_bench: include %s: %s\n", id,
                             zvh_client_error (client));
                continue;
            }
            double ms = (double) (bench_mono_us () - t) / 1000.0;
            samples_add (&window, ms);
            samples_add (&all, ms);
        }
        double w_s = (double) (bench_mono_us () - w_start) / 1e6;
        char key [64];
        snprintf (key, sizeof key, "w%d_upto", w);
        json_num (key, start_at + end);
        snprintf (key, sizeof key, "w%d_per_s", w);
        json_num (key, window.count / (w_s > 0 ? w_s : 1e-9));
        snprintf (key, sizeof key, "w%d_ms", w);
        json_stats (key, &window);
        samples_free (&window);
        bench_log ("fill: %d cases", start_at + end);
    }
    double total_s = (double) (bench_mono_us () - start) / 1e6;
    json_num ("total_s", total_s);
    json_num ("per_s", count / total_s);
    json_stats ("include_ms", &all);
    json_num ("failures", failures);
    json_end ();
    zvh_client_destroy (&client);
    free (plan);
    samples_free (&all);
    return failures ? 3 : 0;
}

//  ---------------------------------------------------------------- ops

static int
s_ops (int argc, char **argv)
{
    const char *control = bench_opt (argc, argv, "--control", NULL);
    const char *case_id = bench_opt (argc, argv, "--case", NULL);
    const char *move_prefix = bench_opt (argc, argv, "--move-prefix", NULL);
    const char *target_region = bench_opt (argc, argv, "--target-region", NULL);
    int count = (int) bench_opt_long (argc, argv, "--count", 20);
    int move_count = (int) bench_opt_long (argc, argv, "--move-count", 0);
    int move_from = (int) bench_opt_long (argc, argv, "--move-from", 0);
    zvh_client_t *client = s_client (control);
    if (!client)
        return 1;
    samples_t status_ms = { 0 }, show_ms = { 0 }, move_ms = { 0 };
    double cases = 0;
    int failures = 0;
    for (int k = 0; k < count; k++) {
        zvh_status_t status;
        int64_t t = bench_mono_us ();
        if (zvh_client_status (client, &status) == ZVH_OK) {
            samples_add (&status_ms, (double) (bench_mono_us () - t) / 1000.0);
            cases = 0;
            for (int s = 1; s <= ZVH_CASE_STATES; s++)
                cases += (double) status.cases [s];
            zvh_status_free (&status);
        }
        else
            failures++;
        if (case_id) {
            zvh_case_t found;
            t = bench_mono_us ();
            if (zvh_client_case_show (client, case_id, &found, NULL, NULL) == ZVH_OK)
                samples_add (&show_ms, (double) (bench_mono_us () - t) / 1000.0);
            else
                failures++;
        }
    }
    for (int n = 0; move_prefix && target_region && n < move_count; n++) {
        char id [ZVH_ID_MAX];
        s_case_id (id, move_prefix, move_from + n);
        zvh_case_t found;
        int64_t t = bench_mono_us ();
        if (zvh_client_case_move (client, id, target_region, &found) == ZVH_OK)
            samples_add (&move_ms, (double) (bench_mono_us () - t) / 1000.0);
        else {
            if (!failures)
                fprintf (stderr, "zvh_bench: move %s: %s\n", id, zvh_client_error (client));
            failures++;
        }
    }
    json_begin ();
    json_num ("cases", cases);
    json_stats ("status_ms", &status_ms);
    json_stats ("show_ms", &show_ms);
    json_stats ("move_ms", &move_ms);
    json_num ("failures", failures);
    json_end ();
    zvh_client_destroy (&client);
    samples_free (&status_ms);
    samples_free (&show_ms);
    samples_free (&move_ms);
    return failures ? 3 : 0;
}

//  ---------------------------------------------------------------- plan

//  zvh_bench plan --size BYTES: print the plan's encoded size (a check).
static int
s_plan (int argc, char **argv)
{
    size_t size;
    uint8_t *plan = s_make_plan (bench_opt (argc, argv, "--plan-json", DEFAULT_PLAN_JSON),
                                 (size_t) bench_opt_long (argc, argv, "--size", 0), &size);
    if (!plan)
        return 1;
    char why [ZVH_PLAN_ERR_MAX];
    int valid = zvh_plan_validate (plan, size, why, sizeof why) == 0;
    json_begin ();
    json_num ("plan_bytes", (double) size);
    json_num ("valid", valid);
    json_end ();
    free (plan);
    return valid ? 0 : 1;
}

int
main (int argc, char **argv)
{
    const char *command = argc > 1 ? argv [1] : "";
    if (strcmp (command, "fanout") == 0)
        return s_fanout (argc, argv);
    if (strcmp (command, "handover") == 0)
        return s_handover (argc, argv);
    if (strcmp (command, "fill") == 0)
        return s_fill (argc, argv);
    if (strcmp (command, "ops") == 0)
        return s_ops (argc, argv);
    if (strcmp (command, "plan") == 0)
        return s_plan (argc, argv);
    fprintf (stderr, "usage: zvh_bench fanout|handover|fill|ops|plan [options] "
             "(see the comment at the top of bench/zvh_bench.c)\n");
    return 1;
}
