/*  bench_util: clocks, samples and percentiles, JSON output, and filler
 *  text, shared by the benchmark programs (zvh_bench, nats_bench,
 *  ref_bench). Header only: each program is one translation unit plus this.
 *
 *  Every program prints exactly one JSON object on stdout (the results) and
 *  its progress on stderr; bench/bench.py reads the JSON.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

//  Wall clock in microseconds. All processes of a run share one machine, so
//  one process's send time and another's receive time compare directly.
static inline int64_t
bench_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t
bench_mono_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline void
bench_sleep_ms (int ms)
{
    struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };
    nanosleep (&ts, NULL);
}

static inline void
bench_log (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    fprintf (stderr, "  ");
    vfprintf (stderr, format, args);
    fprintf (stderr, "\n");
    va_end (args);
}

//  A growing set of samples (milliseconds).
typedef struct {
    double *values;
    size_t count;
    size_t size;
} samples_t;

static inline void
samples_add (samples_t *self, double value)
{
    if (self->count == self->size) {
        self->size = self->size ? self->size * 2 : 256;
        self->values = (double *) realloc (self->values, self->size * sizeof (double));
        if (!self->values)
            abort ();
    }
    self->values [self->count++] = value;
}

static int
s_double_cmp (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

//  Nearest-rank percentile (p in 0..100) of the samples; sorts them.
static inline double
samples_pct (samples_t *self, double p)
{
    if (self->count == 0)
        return NAN;
    qsort (self->values, self->count, sizeof (double), s_double_cmp);
    size_t rank = (size_t) ceil (p / 100.0 * (double) self->count);
    if (rank < 1)
        rank = 1;
    if (rank > self->count)
        rank = self->count;
    return self->values [rank - 1];
}

static inline double
samples_mean (const samples_t *self)
{
    double sum = 0;
    for (size_t i = 0; i < self->count; i++)
        sum += self->values [i];
    return self->count ? sum / (double) self->count : NAN;
}

static inline void
samples_free (samples_t *self)
{
    free (self->values);
    memset (self, 0, sizeof *self);
}

//  ---------------------------------------------------------------- JSON out

//  A flat JSON object on stdout: json_begin, json_num/json_str/json_stats,
//  json_end. Keys are plain identifiers.
static bool s_json_first = true;

static inline void
json_begin (void)
{
    printf ("{");
    s_json_first = true;
}

static inline void
json_key (const char *key)
{
    printf ("%s\"%s\": ", s_json_first ? "" : ", ", key);
    s_json_first = false;
}

static inline void
json_num (const char *key, double value)
{
    json_key (key);
    if (isnan (value) || isinf (value))
        printf ("null");
    else
        printf ("%.6g", value);
}

static inline void
json_str (const char *key, const char *value)
{
    json_key (key);
    putchar ('"');
    for (const char *c = value; *c; c++) {
        if (*c == '"' || *c == '\\')
            printf ("\\%c", *c);
        else
        if ((unsigned char) *c < 0x20)
            printf ("\\u%04x", *c);
        else
            putchar (*c);
    }
    putchar ('"');
}

//  prefix_p50, prefix_p99, prefix_max, prefix_mean, prefix_n
static inline void
json_stats (const char *prefix, samples_t *samples)
{
    char key [128];
    snprintf (key, sizeof key, "%s_p50", prefix);
    json_num (key, samples_pct (samples, 50));
    snprintf (key, sizeof key, "%s_p99", prefix);
    json_num (key, samples_pct (samples, 99));
    snprintf (key, sizeof key, "%s_max", prefix);
    json_num (key, samples_pct (samples, 100));
    snprintf (key, sizeof key, "%s_mean", prefix);
    json_num (key, samples_mean (samples));
    snprintf (key, sizeof key, "%s_n", prefix);
    json_num (key, (double) samples->count);
}

static inline void
json_end (void)
{
    printf ("}\n");
    fflush (stdout);
}

//  ---------------------------------------------------------------- filler

//  Deterministic text of exactly len bytes (words of lower-case letters),
//  so payload sizes are exact and nothing compresses unrealistically well.
static inline void
bench_filler (char *out, size_t len, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    size_t word = 0;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        if (word > 2 && x % 7 == 0) {
            out [i] = ' ';
            word = 0;
        }
        else {
            out [i] = (char) ('a' + x % 26);
            word++;
        }
    }
    out [len] = 0;
}

//  Command-line options of the form --name value.
static inline const char *
bench_opt (int argc, char **argv, const char *name, const char *fallback)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp (argv [i], name) == 0)
            return argv [i + 1];
    return fallback;
}

static inline long
bench_opt_long (int argc, char **argv, const char *name, long fallback)
{
    const char *value = bench_opt (argc, argv, name, NULL);
    return value ? strtol (value, NULL, 10) : fallback;
}

static inline bool
bench_flag (int argc, char **argv, const char *name)
{
    for (int i = 1; i < argc; i++)
        if (strcmp (argv [i], name) == 0)
            return true;
    return false;
}

#endif
