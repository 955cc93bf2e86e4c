/*  log: the daemon's log lines, one shape for every module and thread.
 *
 *  Text (default): "2026-12-03T05:22:26.123Z W groningen: message": an
 *  ISO-8601 UTC time, the level (E, W, I, D) and the region, so lines from
 *  31 regions in one log shipper sort and filter. JSON (log_format = json):
 *  one object a line, {"time", "level", "region", "message"}. Lines go to
 *  stderr (the journal under systemd), each in one write.
 */
#ifndef ZVH_LOG_H
#define ZVH_LOG_H

#include <stdbool.h>

#if defined (__GNUC__)
#   define LOG_PRINTF(n) __attribute__ ((format (printf, n, n + 1)))
#else
#   define LOG_PRINTF(n)
#endif

//  Set the region and the format; call once, before any thread starts (the
//  only process-wide setting: every thread logs, none may pass a handle).
void
    log_setup (const char *region, bool json);

//  A failure the operator must act on.
void
    log_error (const char *format, ...) LOG_PRINTF (1);

//  Something went wrong that the daemon copes with (a peer down, a refusal).
void
    log_warning (const char *format, ...) LOG_PRINTF (1);

//  What the daemon does (links up, cases moved, signals published).
void
    log_info (const char *format, ...) LOG_PRINTF (1);

#endif
