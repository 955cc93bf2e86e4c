/*  test_figures: the monitoring figures (PROTOCOL 4.10): months and periods
 *  in UTC, which change of a case's state counts as what, and counters that
 *  are kept only with the transaction they belong to and survive a reopen.
 */
#include "figures.h"
#include "zvh/zvh.h"
#include <czmq.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "test_dir.h"

#define TEST_MAP_MB    8
#define TEST_MAX_MB    64
#define NOV_2026_END   1796083199999LL  //  2026-11-30T23:59:59.999Z
#define DEC_2026_START 1796083200000LL  //  2026-12-01T00:00:00.000Z
#define TEST_ABORT     ZVH_E_CONFLICT   //  any ZVH_E_* code rolls a write back

#define KIND(name)   ZVH__V1__FIGURE_KIND__FIGURE_ ## name
#define BIT(name)    ((figures_mask_t) 1 << KIND (name))
#define STATE(name)  ZVH__V1__CASE_STATE__CASE_ ## name

static int
s_month (const char *text)
{
    int month = figure_month_parse (text);
    assert_true (month >= 0);
    return month;
}

static void
s_assert_month_text (int month, const char *expected)
{
    char text [FIGURE_PERIOD_MAX];
    figure_month_text (month, text);
    assert_string_equal (text, expected);
}

static void
test_months_are_utc_and_go_back_across_years (void **state)
{
    (void) state;
    s_assert_month_text (figure_month_of (NOV_2026_END), "2026-11");
    s_assert_month_text (figure_month_of (DEC_2026_START), "2026-12");
    s_assert_month_text (s_month ("2026-01") - 1, "2025-12");
    s_assert_month_text (s_month ("2026-11") - (FIGURE_MONTHS_SENT - 1), "2025-11");
    assert_int_equal (figure_month_parse ("2026-13"), -1);
    assert_int_equal (figure_month_parse ("2026-00"), -1);
    assert_int_equal (figure_month_parse ("2026-1"), -1);
    assert_int_equal (figure_month_parse ("2026-11<"), -1);
    assert_int_equal (figure_month_parse ("<b>-11"), -1);
    assert_int_equal (figure_month_parse (NULL), -1);
}

static void
s_assert_period (const char *text, const char *first, const char *last)
{
    figure_period_t period;
    assert_int_equal (figure_period_parse (text, &period), 0);
    assert_int_equal (period.first, s_month (first));
    assert_int_equal (period.last, s_month (last));
    assert_true (figure_period_covers (&period, s_month (first)));
    assert_true (figure_period_covers (&period, s_month (last)));
    assert_false (figure_period_covers (&period, s_month (first) - 1));
    assert_false (figure_period_covers (&period, s_month (last) + 1));
}

static void
test_periods_are_months_quarters_and_years (void **state)
{
    (void) state;
    s_assert_period ("2026-11", "2026-11", "2026-11");
    s_assert_period ("2026Q1", "2026-01", "2026-03");
    s_assert_period ("2026Q4", "2026-10", "2026-12");
    s_assert_period ("2026q2", "2026-04", "2026-06");
    s_assert_period ("2026", "2026-01", "2026-12");
    figure_period_t period;
    const char *bad [] = { "", "2026Q0", "2026Q5", "2026Q", "20261", "26", "2026-1",
                           "2026-11-01", "Q4", "2026 ", NULL };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++)
        assert_int_equal (figure_period_parse (bad [i], &period), -1);
    char text [FIGURE_PERIOD_MAX];
    figure_quarter_of (s_month ("2026-11"), &period, text);
    assert_string_equal (text, "2026Q4");
    assert_int_equal (period.first, s_month ("2026-10"));
    assert_int_equal (period.last, s_month ("2026-12"));
}

static void
test_kinds_have_their_column_names (void **state)
{
    (void) state;
    assert_string_equal (figure_kind_name (KIND (INCLUSIONS)), "inclusions");
    assert_string_equal (figure_kind_name (KIND (JOINT_PHASES_ENDED)), "joint_phases_ended");
    assert_string_equal (figure_kind_name (KIND (SIGNALS_OUT_OF_VIEW)), "signals_out_of_view");
    assert_null (figure_kind_name (0));
    assert_null (figure_kind_name (FIGURE_KINDS + 1));
    assert_int_equal (figure_kind_of_signal (ZVH__V1__SIGNAL_KIND__SIGNAL_INCIDENT),
                      KIND (SIGNALS_INCIDENT));
    assert_int_equal (figure_kind_of_signal (ZVH__V1__SIGNAL_KIND__SIGNAL_SCALE_DOWN),
                      KIND (SIGNALS_SCALE_DOWN));
    assert_int_equal (figure_kind_of_signal (ZVH__V1__SIGNAL_KIND__SIGNAL_OTHER),
                      KIND (SIGNALS_OTHER));
    assert_int_equal (figure_kind_of_signal (0), 0);
}

//  Every transition of PROTOCOL 5.3 and what it counts where it happens.
static void
test_each_change_of_state_counts_once_in_the_federation (void **state)
{
    (void) state;
    assert_int_equal (figures_of_change (0, STATE (ACTIVE)), BIT (INCLUSIONS));
    assert_int_equal (figures_of_change (STATE (ACTIVE), STATE (OFFERED)), 0);
    assert_int_equal (figures_of_change (0, STATE (JOINT_TARGET)), BIT (MOVES_IN));
    assert_int_equal (figures_of_change (STATE (TOMBSTONE), STATE (JOINT_TARGET)),
                      BIT (MOVES_IN));
    assert_int_equal (figures_of_change (STATE (JOINT_SOURCE), STATE (JOINT_TARGET)),
                      BIT (MOVES_IN));
    assert_int_equal (figures_of_change (STATE (OFFERED), STATE (JOINT_SOURCE)),
                      BIT (MOVES_OUT));
    assert_int_equal (figures_of_change (STATE (ACTIVE), STATE (JOINT_SOURCE)),
                      BIT (MOVES_OUT));              //  an accept of an offer lost in a restore
    assert_int_equal (figures_of_change (STATE (OFFERED), STATE (ACTIVE)), 0);    //  rejected
    assert_int_equal (figures_of_change (STATE (JOINT_TARGET), STATE (ACTIVE)),
                      BIT (JOINT_PHASES_ENDED));
    assert_int_equal (figures_of_change (STATE (JOINT_TARGET), STATE (OFFERED)),
                      BIT (JOINT_PHASES_ENDED));     //  a chained move
    assert_int_equal (figures_of_change (STATE (JOINT_SOURCE), STATE (TOMBSTONE)), 0);
    assert_int_equal (figures_of_change (STATE (ACTIVE), STATE (CLOSED)), BIT (CLOSURES));
    assert_int_equal (figures_of_change (STATE (JOINT_TARGET), STATE (CLOSED)),
                      BIT (JOINT_PHASES_ENDED) | BIT (CLOSURES));
    assert_int_equal (figures_of_change (STATE (ACTIVE), STATE (ACTIVE)), 0);
}

//  ---------------------------------------------------------------- the store

typedef struct {
    figures_t *figures;
    int kind;
    int64_t time_ms;
    int result;         //  what the write returns after counting
} count_t;

static int
s_count_fn (MDB_txn *txn, void *arg)
{
    count_t *count = (count_t *) arg;
    int rc = figures_start (count->figures, txn, count->time_ms);
    if (rc == 0)
        rc = figures_count (count->figures, txn, count->kind, count->time_ms);
    return rc ? rc : count->result;
}

typedef struct {
    figures_t *figures;
    int month;
    int kind;
    uint64_t count;
    int64_t since_ms;
} read_t;

static int
s_read_fn (MDB_txn *txn, void *arg)
{
    read_t *read = (read_t *) arg;
    read->count = figures_read (read->figures, txn, read->month, read->kind);
    read->since_ms = figures_since (read->figures, txn);
    return 0;
}

static read_t
s_read (store_t *store, figures_t *figures, const char *month, int kind)
{
    read_t read = { .figures = figures, .month = s_month (month), .kind = kind };
    assert_int_equal (store_read (store, s_read_fn, &read), 0);
    return read;
}

static void
test_counts_go_with_their_transaction_and_survive_a_reopen (void **state)
{
    (void) state;
    char dir [64], path [96];
    assert_true (test_dir_make (dir, sizeof dir, "figures"));
    snprintf (path, sizeof path, "%s/store", dir);
    store_t *store = store_new (path, "groningen", TEST_MAP_MB, TEST_MAX_MB);
    assert_non_null (store);
    figures_t *figures = figures_new (store);
    count_t count = { figures, KIND (CLOSURES), NOV_2026_END, 0 };
    assert_int_equal (store_write (store, s_count_fn, &count), 0);
    assert_int_equal (store_write (store, s_count_fn, &count), 0);
    count.time_ms = DEC_2026_START;
    assert_int_equal (store_write (store, s_count_fn, &count), 0);
    count.result = TEST_ABORT;              //  the change failed: nothing counted
    assert_int_equal (store_write (store, s_count_fn, &count), TEST_ABORT);
    figures_destroy (&figures);
    assert_null (figures);
    store_destroy (&store);

    store = store_new (path, "groningen", TEST_MAP_MB, TEST_MAX_MB);
    assert_non_null (store);
    figures = figures_new (store);
    read_t nov = s_read (store, figures, "2026-11", KIND (CLOSURES));
    assert_int_equal (nov.count, 2);
    assert_int_equal (nov.since_ms, NOV_2026_END);  //  the first start, kept
    assert_int_equal (s_read (store, figures, "2026-12", KIND (CLOSURES)).count, 1);
    assert_int_equal (s_read (store, figures, "2026-11", KIND (INCLUSIONS)).count, 0);
    assert_int_equal (s_read (store, figures, "2026-10", KIND (CLOSURES)).count, 0);
    figures_destroy (&figures);
    store_destroy (&store);
    test_dir_remove (dir);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_months_are_utc_and_go_back_across_years),
        cmocka_unit_test (test_periods_are_months_quarters_and_years),
        cmocka_unit_test (test_kinds_have_their_column_names),
        cmocka_unit_test (test_each_change_of_state_counts_once_in_the_federation),
        cmocka_unit_test (test_counts_go_with_their_transaction_and_survive_a_reopen),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
