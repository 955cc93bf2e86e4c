/*  test_signal_log: the signal log keeps each event once, in order, purges
 *  only from the front, and keeps subscriber cursors; views disclose only
 *  what a role's view lists.
 */
#include "signal_log.h"
#include "view.h"
#include <czmq.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "test_dir.h"

#define TEST_MAP_MB  8
#define TEST_MAX_MB  64
#define DAY_MS       (24LL * 3600 * 1000)

typedef struct {
    char dir [64];
    store_t *store;
    signal_log_t *log;
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *fixture = (fixture_t *) calloc (1, sizeof (fixture_t));
    assert_true (test_dir_make (fixture->dir, sizeof fixture->dir, "slog"));
    fixture->store = store_new (fixture->dir, "groningen", TEST_MAP_MB, TEST_MAX_MB);
    assert_non_null (fixture->store);
    fixture->log = signal_log_new (fixture->store);
    *state = fixture;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    signal_log_destroy (&fixture->log);
    store_destroy (&fixture->store);
    test_dir_remove (fixture->dir);
    free (fixture);
    return 0;
}

typedef struct {
    fixture_t *fixture;
    const char *event_id;
    int64_t time_ms;
    uint64_t seq;
    uint64_t value;
    const char *name;
} args_t;

static int
s_append_fn (MDB_txn *txn, void *arg)
{
    args_t *args = (args_t *) arg;
    Zvh__V1__SignalEvent event = ZVH__V1__SIGNAL_EVENT__INIT;
    event.type = ZVH__V1__SIGNAL_EVENT__TYPE__TYPE_SIGNAL;
    event.event_id = (char *) args->event_id;
    event.time_ms = args->time_ms;
    return signal_log_append (args->fixture->log, txn, &event, &args->seq);
}

static uint64_t
s_append (fixture_t *fixture, const char *event_id, int64_t time_ms)
{
    args_t args = { fixture, event_id, time_ms, 0, 0, NULL };
    assert_int_equal (store_write (fixture->store, s_append_fn, &args), 0);
    return args.seq;
}

static int
s_bounds_fn (MDB_txn *txn, void *arg)
{
    args_t *args = (args_t *) arg;
    args->seq = signal_log_first (args->fixture->log, txn);
    args->value = signal_log_last (args->fixture->log, txn);
    return 0;
}

static void
test_each_event_id_is_logged_once_in_order (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    assert_int_equal (s_append (fixture, "groningen/1", 1), 1);
    assert_int_equal (s_append (fixture, "drenthe/7", 2), 2);
    assert_int_equal (s_append (fixture, "groningen/1", 3), 0);    //  a second copy
    assert_int_equal (s_append (fixture, "utrecht/2", 4), 3);
    args_t bounds = { fixture, NULL, 0, 0, 0, NULL };
    assert_int_equal (store_read (fixture->store, s_bounds_fn, &bounds), 0);
    assert_int_equal (bounds.seq, 1);
    assert_int_equal (bounds.value, 3);
}

static int
s_purge_fn (MDB_txn *txn, void *arg)
{
    args_t *args = (args_t *) arg;
    size_t purged;
    int rc = signal_log_purge (args->fixture->log, txn, args->time_ms, &purged);
    args->value = purged;
    return rc;
}

static void
test_purge_removes_only_old_entries_and_never_reuses_seqs (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    s_append (fixture, "a/1", 1 * DAY_MS);
    s_append (fixture, "a/2", 2 * DAY_MS);
    s_append (fixture, "a/3", 40 * DAY_MS);
    args_t purge = { fixture, NULL, 31 * DAY_MS, 0, 0, NULL };
    assert_int_equal (store_write (fixture->store, s_purge_fn, &purge), 0);
    assert_int_equal (purge.value, 2);
    args_t bounds = { fixture, NULL, 0, 0, 0, NULL };
    assert_int_equal (store_read (fixture->store, s_bounds_fn, &bounds), 0);
    assert_int_equal (bounds.seq, 3);
    assert_int_equal (bounds.value, 3);
    purge.time_ms = 50 * DAY_MS;
    assert_int_equal (store_write (fixture->store, s_purge_fn, &purge), 0);
    assert_int_equal (s_append (fixture, "a/4", 51 * DAY_MS), 4);
    //  A purged id stays known: a late copy is not logged again
    assert_int_equal (s_append (fixture, "a/1", 52 * DAY_MS), 0);
}

static int
s_skip_fn (MDB_txn *txn, void *arg)
{
    args_t *args = (args_t *) arg;
    int rc = signal_log_skip_to (args->fixture->log, txn, args->seq);
    args->value = signal_log_purged (args->fixture->log, txn);
    return rc;
}

static uint64_t
s_purged (fixture_t *fixture, uint64_t skip_to)
{
    args_t args = { fixture, NULL, 0, skip_to, 0, NULL };
    assert_int_equal (store_write (fixture->store, s_skip_fn, &args), 0);
    return args.value;
}

//  A start moves the log past the clock: the seqs skipped are a hole, not
//  purged entries, so a partner that resumes in it is told of no gap. Only
//  entries really purged count (docs/PROTOCOL.md 7.7).
static void
test_seqs_skipped_at_a_start_are_no_purge (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    assert_int_equal (s_append (fixture, "a/1", 1 * DAY_MS), 1);
    assert_int_equal (s_append (fixture, "a/2", 2 * DAY_MS), 2);
    assert_int_equal (s_purged (fixture, 1000), 0);
    assert_int_equal (s_append (fixture, "a/3", 40 * DAY_MS), 1001);
    assert_int_equal (s_purged (fixture, 0), 0);        //  a skip to below: nothing
    args_t purge = { fixture, NULL, 31 * DAY_MS, 0, 0, NULL };
    assert_int_equal (store_write (fixture->store, s_purge_fn, &purge), 0);
    assert_int_equal (purge.value, 2);
    assert_int_equal (s_purged (fixture, 0), 2);        //  not 1000: 3..1000 never were
    args_t bounds = { fixture, NULL, 0, 0, 0, NULL };
    assert_int_equal (store_read (fixture->store, s_bounds_fn, &bounds), 0);
    assert_int_equal (bounds.seq, 1001);
}

static int
s_cursor_fn (MDB_txn *txn, void *arg)
{
    args_t *args = (args_t *) arg;
    if (args->seq)
        return signal_log_set_cursor (args->fixture->log, txn, args->name, args->seq);
    args->value = signal_log_cursor (args->fixture->log, txn, args->name);
    return 0;
}

static void
test_cursors_are_kept_per_subscriber (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    args_t set = { fixture, NULL, 0, 42, 0, "politie-noord" };
    assert_int_equal (store_write (fixture->store, s_cursor_fn, &set), 0);
    args_t get = { fixture, NULL, 0, 0, 0, "politie-noord" };
    assert_int_equal (store_read (fixture->store, s_cursor_fn, &get), 0);
    assert_int_equal (get.value, 42);
    args_t other = { fixture, NULL, 0, 0, 0, "reclassering" };
    assert_int_equal (store_read (fixture->store, s_cursor_fn, &other), 0);
    assert_int_equal (other.value, 0);
}

//  ---------------------------------------------------------------- views

static void
s_view (config_t *config, const char *role, const char *fields)
{
    config_view_t *view = &config->views [config->view_count++];
    snprintf (view->role, sizeof view->role, "%s", role);
    char copy [512];
    snprintf (copy, sizeof copy, "%s", fields);
    for (char *field = strtok (copy, ","); field; field = strtok (NULL, ","))
        snprintf (view->fields [view->field_count++], CONFIG_FIELD_MAX, "%s", field);
}

static void
test_view_holds_only_the_fields_and_role_part_it_may (void **state)
{
    (void) state;
    config_t *config = (config_t *) calloc (1, sizeof (config_t));
    s_view (config, "police", "seq,type,event_id,region,kind,partner_ref,actions");
    config_partner_t police = { .id = "politie-noord", .role = "police", .all_regions = true };
    Zvh__V1__SignalRaise raise = ZVH__V1__SIGNAL_RAISE__INIT;
    raise.kind = ZVH__V1__SIGNAL_KIND__SIGNAL_INCIDENT;
    raise.text = "SECRET-TEXT";
    raise.raised_by = "SECRET-RAISER";
    Zvh__V1__RoleView police_part = ZVH__V1__ROLE_VIEW__INIT, crisis_part = ZVH__V1__ROLE_VIEW__INIT;
    char *police_actions [] = { "trace and bring to the crisis service" };
    char *crisis_actions [] = { "SECRET-CRISIS-ACTION" };
    police_part.role = "police";
    police_part.partner_ref = "POL-123";
    police_part.actions = police_actions;
    police_part.n_actions = 1;
    crisis_part.role = "crisis_service";
    crisis_part.partner_ref = "SECRET-GGZ-REF";
    crisis_part.actions = crisis_actions;
    crisis_part.n_actions = 1;
    Zvh__V1__RoleView *parts [] = { &crisis_part, &police_part };
    Zvh__V1__SignalEvent event = ZVH__V1__SIGNAL_EVENT__INIT;
    event.type = ZVH__V1__SIGNAL_EVENT__TYPE__TYPE_SIGNAL;
    event.event_id = "groningen/9";
    event.case_id = "SECRET-CASE";
    event.region = "groningen";
    event.signal = &raise;
    event.roles = parts;
    event.n_roles = 2;
    event.coordinator_contact = "SECRET-CONTACT";
    size_t size;
    uint8_t *bytes = view_encode (config, &police, &event, 17, &size);
    assert_non_null (bytes);
    const char *secrets [] = { "SECRET-TEXT", "SECRET-RAISER", "SECRET-GGZ-REF",
                               "SECRET-CRISIS-ACTION", "SECRET-CASE", "SECRET-CONTACT" };
    for (size_t i = 0; i < sizeof secrets / sizeof secrets [0]; i++)
        assert_null (memmem (bytes, size, secrets [i], strlen (secrets [i])));
    Zvh__V1__SignalView *view = WIRE_DECODE (Zvh__V1__SignalView, zvh__v1__signal_view,
                                             bytes, size);
    assert_non_null (view);
    assert_int_equal (view->seq, 17);
    assert_string_equal (view->partner_ref, "POL-123");
    assert_int_equal (view->n_actions, 1);
    assert_int_equal (view->kind, ZVH__V1__SIGNAL_KIND__SIGNAL_INCIDENT);
    assert_string_equal (view->region, "groningen");
    wire_free (&view->base);
    free (bytes);
    config_partner_t nobody = { .id = "x", .role = "probation", .all_regions = true };
    assert_null (view_encode (config, &nobody, &event, 17, &size));     //  no view: nothing
    free (config);
}

static void
test_coverage_by_region_case_and_national (void **state)
{
    (void) state;
    config_partner_t partner = { .id = "ggz", .role = "crisis_service", .region_count = 2,
                                 .regions = { "groningen", "drenthe" }, .case_count = 1,
                                 .cases = { "c-far" } };
    Zvh__V1__SignalEvent event = ZVH__V1__SIGNAL_EVENT__INIT;
    event.region = "drenthe";
    event.case_id = "c-1";
    assert_true (view_covers (&partner, &event));
    event.region = "utrecht";
    assert_false (view_covers (&partner, &event));
    event.case_id = "c-far";
    assert_true (view_covers (&partner, &event));
    event.case_id = "c-2";
    event.national = true;
    assert_true (view_covers (&partner, &event));
}

int
main (void)
{
    zsys_init ();
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_each_event_id_is_logged_once_in_order, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_seqs_skipped_at_a_start_are_no_purge,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_purge_removes_only_old_entries_and_never_reuses_seqs, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_cursors_are_kept_per_subscriber, s_setup, s_teardown),
        cmocka_unit_test (test_view_holds_only_the_fields_and_role_part_it_may),
        cmocka_unit_test (test_coverage_by_region_case_and_national),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
