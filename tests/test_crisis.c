/*  test_crisis: the review pass, on a real LMDB store. Raises, routing and
 *  partner views are tested by the integration tests (real daemons).
 */
#include "crisis.h"
#include "zvh/zvh.h"
#include <czmq.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "test_dir.h"
#include "test_plan.h"

#define NOW_MS        1720000000000LL   //  2024-07-03: the plans' review date is later
#define LATER_MS      1800000000000LL   //  2027-01-15: past the review date
#define TEST_MAP_MB   8
#define TEST_MAX_MB   64
#define CASES         300               //  more than two review steps
#define STEPS_MAX     (CASES + 10)      //  a pass that never ends fails the test

typedef struct {
    char dir [64];
    config_t *config;
    store_t *store;
    outbox_t *outbox;
    signal_log_t *log;
    transfer_t *transfer;
    crisis_t *crisis;
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *fx = (fixture_t *) calloc (1, sizeof (fixture_t));
    assert_true (test_dir_make (fx->dir, sizeof fx->dir, "crisis"));
    fx->config = (config_t *) calloc (1, sizeof (config_t));
    snprintf (fx->config->region, sizeof fx->config->region, "groningen");
    snprintf (fx->config->regions [0].id, sizeof fx->config->regions [0].id, "groningen");
    fx->config->region_count = 1;
    fx->config->joint_phase_s = 60;
    fx->store = store_new (fx->dir, "groningen", TEST_MAP_MB, TEST_MAX_MB);
    assert_non_null (fx->store);
    fx->outbox = outbox_new (fx->store, "groningen", NULL);
    fx->log = signal_log_new (fx->store);
    fx->transfer = transfer_new (fx->store, fx->outbox, fx->config);
    fx->crisis = crisis_new (fx->store, fx->outbox, fx->log, fx->transfer, fx->config);
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    crisis_destroy (&fx->crisis);
    transfer_destroy (&fx->transfer);
    signal_log_destroy (&fx->log);
    outbox_destroy (&fx->outbox);
    store_destroy (&fx->store);
    free (fx->config);
    test_dir_remove (fx->dir);
    free (fx);
    return 0;
}

//  ---------------------------------------------------------------- helpers

typedef struct {
    fixture_t *fx;
    const char *case_id;
    const uint8_t *plan;
    size_t plan_size;
    char out [ZVH_ID_MAX];
} include_t;

static int
s_include_fn (MDB_txn *txn, void *arg)
{
    include_t *inc = (include_t *) arg;
    return transfer_include (inc->fx->transfer, txn, inc->case_id, inc->plan,
                             inc->plan_size, NOW_MS, inc->out);
}

static void
s_include_many (fixture_t *fx, size_t count)
{
    size_t size;
    uint8_t *bytes = test_plan ("review test", ZVH__V1__LEGAL_BASIS__ROUTE__ROUTE_CONSENT, &size);
    for (size_t i = 0; i < count; i++) {
        char id [ZVH_ID_MAX];
        snprintf (id, sizeof id, "c-%04zu", i);
        include_t inc = { fx, id, bytes, size, "" };
        assert_int_equal (store_write (fx->store, s_include_fn, &inc), 0);
    }
    free (bytes);
}

typedef struct {
    fixture_t *fx;
    int64_t now_ms;
    bool done;
} step_t;

static int
s_step_fn (MDB_txn *txn, void *arg)
{
    step_t *step = (step_t *) arg;
    return crisis_check_reviews (step->fx->crisis, txn, step->now_ms, &step->done);
}

//  Run review steps until one ends the pass; returns how many it took.
static size_t
s_review_pass (fixture_t *fx, int64_t now_ms)
{
    step_t step = { fx, now_ms, false };
    size_t steps = 0;
    while (!step.done) {
        assert_true (steps < STEPS_MAX);
        assert_int_equal (store_write (fx->store, s_step_fn, &step), 0);
        steps++;
    }
    return steps;
}

typedef struct {
    fixture_t *fx;
    zhash_t *seen;          //  case id -> count of review_due entries
    size_t total;
} tally_t;

static int
s_tally_visit (uint64_t seq, const uint8_t *data, size_t size, void *arg)
{
    (void) seq;
    tally_t *tally = (tally_t *) arg;
    Zvh__V1__SignalEvent *event = WIRE_DECODE (Zvh__V1__SignalEvent, zvh__v1__signal_event,
                                               data, size);
    assert_non_null (event);
    if (event->type == ZVH__V1__SIGNAL_EVENT__TYPE__TYPE_REVIEW_DUE) {
        size_t count = (size_t) (uintptr_t) zhash_lookup (tally->seen, event->case_id);
        zhash_update (tally->seen, event->case_id, (void *) (uintptr_t) (count + 1));
        tally->total++;
    }
    wire_free (&event->base);
    return 0;
}

static int
s_tally_fn (MDB_txn *txn, void *arg)
{
    tally_t *tally = (tally_t *) arg;
    return signal_log_scan (tally->fx->log, txn, 0, SIZE_MAX, s_tally_visit, tally);
}

//  Cases with a review-due entry in the log; fails if one has two.
static size_t
s_review_entries (fixture_t *fx)
{
    tally_t tally = { fx, zhash_new (), 0 };
    assert_int_equal (store_read (fx->store, s_tally_fn, &tally), 0);
    for (void *count = zhash_first (tally.seen); count; count = zhash_next (tally.seen))
        assert_int_equal ((uintptr_t) count, 1);
    size_t cases = zhash_size (tally.seen);
    assert_int_equal (cases, tally.total);
    zhash_destroy (&tally.seen);
    return cases;
}

//  ---------------------------------------------------------------- tests

static void
test_review_pass_goes_in_steps_and_tells_each_case_once (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_include_many (fx, CASES);
    //  Before the review date: a whole pass in several steps, nothing due
    size_t steps = s_review_pass (fx, NOW_MS);
    assert_true (steps > 1);
    assert_true (steps < CASES);
    assert_int_equal (s_review_entries (fx), 0);
    //  Past it: every case once, the first step of the new pass included
    s_review_pass (fx, LATER_MS);
    assert_int_equal (s_review_entries (fx), CASES);
    //  Another pass tells nobody again
    assert_int_equal (s_review_pass (fx, LATER_MS), steps);
    assert_int_equal (s_review_entries (fx), CASES);
}

static void
test_review_pass_ends_on_an_empty_store (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_int_equal (s_review_pass (fx, LATER_MS), 1);
    assert_int_equal (s_review_entries (fx), 0);
}

#define T(name) cmocka_unit_test_setup_teardown (name, s_setup, s_teardown)

int
main (void)
{
    zsys_init ();
    const struct CMUnitTest tests [] = {
        T (test_review_pass_goes_in_steps_and_tells_each_case_once),
        T (test_review_pass_ends_on_an_empty_store),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
