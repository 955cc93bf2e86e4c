/*  figure: the kinds and periods of the monitoring figures (PROTOCOL 4.10),
 *  one definition for zvhd (which counts per month) and zvhctl (which sums
 *  months into quarters and years).
 *
 *  A month is "YYYY-MM" in UTC; a period is a month, a quarter "YYYYQn" or
 *  a year "YYYY". Months are numbered year * 12 + (month - 1), so that a
 *  month back is one less and a period is a range of numbers.
 */
#ifndef ZVH_FIGURE_H
#define ZVH_FIGURE_H

#include "wire.h"
#include <stdbool.h>
#include <stdint.h>

#define FIGURE_KINDS        10      //  FIGURE_INCLUSIONS .. FIGURE_SIGNALS_OTHER
#define FIGURE_MONTHS_SENT  13      //  a summary carries this month and the 12 before
#define FIGURE_PERIOD_MAX   24      //  "2026-11" and the NUL, with room for any int year

//  The months a period covers, by number, first to last inclusive.
typedef struct {
    int first;
    int last;
} figure_period_t;

//  The column name of a figure kind ("inclusions", "moves_in", ...,
//  "signals_incident"); NULL for 0 or a kind this build does not know.
const char *
    figure_kind_name (int kind);

//  The figure kind that counts raises of signal kind (a SignalKind), or 0.
int
    figure_kind_of_signal (int signal_kind);

//  The number of the month (UTC) that time_ms falls in.
int
    figure_month_of (int64_t time_ms);

//  Write month's text ("2026-11") into text.
void
    figure_month_text (int month, char text [FIGURE_PERIOD_MAX]);

//  The number of a month's text "YYYY-MM", or -1 if text is not one.
int
    figure_month_parse (const char *text);

//  Read a period: "2026-11", "2026Q4" or "2026". Returns 0, or -1 if text
//  is none of these.
int
    figure_period_parse (const char *text, figure_period_t *period);

//  Whether month lies in period.
bool
    figure_period_covers (const figure_period_t *period, int month);

//  The quarter that month lies in, as a period and as text ("2026Q4").
void
    figure_quarter_of (int month, figure_period_t *period, char text [FIGURE_PERIOD_MAX]);

#endif
