/*  figure: kinds, months and periods of the monitoring figures.
 *
 *  Only digits and the fixed separators are accepted, so a period or a
 *  month read here is safe to put on a page or in a CSV as it is.
 */
#include "figure.h"
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define FIGURE_MONTHS_PER_YEAR     12
#define FIGURE_MONTHS_PER_QUARTER  3
#define FIGURE_QUARTERS            4
#define FIGURE_YEAR_DIGITS         4
#define FIGURE_YEAR_MAX            9999     //  four digits
#define FIGURE_EPOCH_YEAR          1970
#define FIGURE_TM_YEAR_BASE        1900     //  struct tm counts years from it
#define FIGURE_MS_PER_S            1000

static const char *const s_kind_names [FIGURE_KINDS + 1] = {
    NULL, "inclusions", "moves_in", "moves_out", "joint_phases_ended", "closures",
    "signals_incident", "signals_scale_up", "signals_scale_down", "signals_out_of_view",
    "signals_other"
};

const char *
figure_kind_name (int kind)
{
    return kind > 0 && kind <= FIGURE_KINDS ? s_kind_names [kind] : NULL;
}

int
figure_kind_of_signal (int signal_kind)
{
    if (signal_kind < ZVH__V1__SIGNAL_KIND__SIGNAL_INCIDENT
    ||  signal_kind > ZVH__V1__SIGNAL_KIND__SIGNAL_OTHER)
        return 0;
    return ZVH__V1__FIGURE_KIND__FIGURE_SIGNALS_INCIDENT
         + (signal_kind - ZVH__V1__SIGNAL_KIND__SIGNAL_INCIDENT);
}

int
figure_month_of (int64_t time_ms)
{
    time_t seconds = time_ms > 0 ? (time_t) (time_ms / FIGURE_MS_PER_S) : 0;
    struct tm utc;
    if (!gmtime_r (&seconds, &utc))
        return FIGURE_EPOCH_YEAR * FIGURE_MONTHS_PER_YEAR;
    return (utc.tm_year + FIGURE_TM_YEAR_BASE) * FIGURE_MONTHS_PER_YEAR + utc.tm_mon;
}

void
figure_month_text (int month, char text [FIGURE_PERIOD_MAX])
{
    int year = month / FIGURE_MONTHS_PER_YEAR;
    if (month < 0 || year > FIGURE_YEAR_MAX)
        month = year = 0;
    snprintf (text, FIGURE_PERIOD_MAX, "%04d-%02d", year,
              month % FIGURE_MONTHS_PER_YEAR + 1);
}

//  The value of the first count characters of text if they are all digits,
//  else -1.
static int
s_digits (const char *text, size_t count)
{
    int value = 0;
    for (size_t i = 0; i < count; i++) {
        if (!isdigit ((unsigned char) text [i]))
            return -1;
        value = value * 10 + (text [i] - '0');
    }
    return value;
}

int
figure_month_parse (const char *text)
{
    if (!text || strlen (text) != FIGURE_YEAR_DIGITS + 3 || text [FIGURE_YEAR_DIGITS] != '-')
        return -1;
    int year = s_digits (text, FIGURE_YEAR_DIGITS);
    int month = s_digits (text + FIGURE_YEAR_DIGITS + 1, 2);
    if (year < 0 || month < 1 || month > FIGURE_MONTHS_PER_YEAR)
        return -1;
    return year * FIGURE_MONTHS_PER_YEAR + month - 1;
}

int
figure_period_parse (const char *text, figure_period_t *period)
{
    size_t length = text ? strlen (text) : 0;
    int year = length >= FIGURE_YEAR_DIGITS ? s_digits (text, FIGURE_YEAR_DIGITS) : -1;
    if (year < 0)
        return -1;
    int first = year * FIGURE_MONTHS_PER_YEAR;
    if (length == FIGURE_YEAR_DIGITS) {
        period->first = first;
        period->last = first + FIGURE_MONTHS_PER_YEAR - 1;
        return 0;
    }
    int quarter = length == FIGURE_YEAR_DIGITS + 2
               && (text [FIGURE_YEAR_DIGITS] == 'Q' || text [FIGURE_YEAR_DIGITS] == 'q')
                ? s_digits (text + FIGURE_YEAR_DIGITS + 1, 1) : -1;
    if (quarter >= 1 && quarter <= FIGURE_QUARTERS) {
        period->first = first + (quarter - 1) * FIGURE_MONTHS_PER_QUARTER;
        period->last = period->first + FIGURE_MONTHS_PER_QUARTER - 1;
        return 0;
    }
    int month = figure_month_parse (text);
    if (month < 0)
        return -1;
    period->first = period->last = month;
    return 0;
}

bool
figure_period_covers (const figure_period_t *period, int month)
{
    return month >= period->first && month <= period->last;
}

void
figure_quarter_of (int month, figure_period_t *period, char text [FIGURE_PERIOD_MAX])
{
    int year = month / FIGURE_MONTHS_PER_YEAR;
    int quarter = month % FIGURE_MONTHS_PER_YEAR / FIGURE_MONTHS_PER_QUARTER;
    period->first = year * FIGURE_MONTHS_PER_YEAR + quarter * FIGURE_MONTHS_PER_QUARTER;
    period->last = period->first + FIGURE_MONTHS_PER_QUARTER - 1;
    snprintf (text, FIGURE_PERIOD_MAX, "%04dQ%d", year, quarter + 1);
}
