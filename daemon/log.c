/*  log: ISO-8601 UTC text or JSON lines on stderr.
 *
 *  The setting is written once by log_setup before threads start and only
 *  read afterwards, so no lock is needed; a line is formatted whole and
 *  written with one fputs, which stdio locks, so threads never interleave.
 */
#include "log.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define LOG_REGION_MAX   64
#define LOG_MESSAGE_MAX  2048
#define LOG_TIME_MAX     32
#define LOG_LINE_MAX     ((LOG_MESSAGE_MAX + LOG_REGION_MAX) * 6 + 128)  //  JSON escapes at most 6x

static struct {
    char region [LOG_REGION_MAX];
    bool json;
} s_setting = { "zvhd", false };

void
log_setup (const char *region, bool json)
{
    snprintf (s_setting.region, sizeof s_setting.region, "%s", region ? region : "zvhd");
    s_setting.json = json;
}

static void
s_time (char *out, size_t size)
{
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    struct tm utc;
    gmtime_r (&now.tv_sec, &utc);
    size_t length = strftime (out, size, "%Y-%m-%dT%H:%M:%S", &utc);
    snprintf (out + length, size - length, ".%03ldZ", now.tv_nsec / 1000000);
}

//  text as a JSON string body: quotes, backslashes and control characters escaped
static void
s_json_escape (char *out, size_t size, const char *text)
{
    size_t used = 0;
    for (const unsigned char *c = (const unsigned char *) text; *c && used + 7 < size; c++) {
        if (*c == '"' || *c == '\\')
            used += (size_t) snprintf (out + used, size - used, "\\%c", *c);
        else
        if (*c < 0x20)
            used += (size_t) snprintf (out + used, size - used, "\\u%04x", *c);
        else
            out [used++] = (char) *c;
    }
    out [used] = 0;
}

static void
s_log (char level, const char *level_name, const char *format, va_list args)
{
    char message [LOG_MESSAGE_MAX], when [LOG_TIME_MAX], line [LOG_LINE_MAX];
    vsnprintf (message, sizeof message, format, args);
    s_time (when, sizeof when);
    if (s_setting.json) {
        char escaped [LOG_MESSAGE_MAX * 6], region [LOG_REGION_MAX * 6];
        s_json_escape (escaped, sizeof escaped, message);
        s_json_escape (region, sizeof region, s_setting.region);
        snprintf (line, sizeof line, "{\"time\":\"%s\",\"level\":\"%s\",\"region\":\"%s\","
                  "\"message\":\"%s\"}\n", when, level_name, region, escaped);
    }
    else
        snprintf (line, sizeof line, "%s %c %s: %s\n", when, level, s_setting.region, message);
    fputs (line, stderr);
    fflush (stderr);
}

void
log_error (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    s_log ('E', "error", format, args);
    va_end (args);
}

void
log_warning (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    s_log ('W', "warning", format, args);
    va_end (args);
}

void
log_info (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    s_log ('I', "info", format, args);
    va_end (args);
}
