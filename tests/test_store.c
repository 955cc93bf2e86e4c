/*  test_store: the LMDB store commits all or nothing, grows its map, refuses
 *  stores it must not open, and survives a full disk with its last commit;
 *  the loop's turn commits once and runs its effects after (or tells them
 *  it failed).
 */
#include "store.h"
#include "zvh/zvh.h"
#include <czmq.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "test_dir.h"
#include <sys/resource.h>

#define TEST_VALUE_BYTES   (64 * 1024)
#define TEST_MAP_MB        1
#define TEST_MAX_MB        1024
#define TEST_ROOMY_MAP_MB  64           //  no growth: the disk fills first
#define TEST_SMALL_MAX_MB  2
#define TEST_GROW_VALUES   128          //  8 MiB through a 1 MiB map
#define TEST_FILL_LIMIT    4096
#define TEST_FSIZE_HEADROOM (256 * 1024)

typedef struct {
    char dir [64];
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *fixture = (fixture_t *) calloc (1, sizeof (fixture_t));
    assert_true (test_dir_make (fixture->dir, sizeof fixture->dir, "store"));
    *state = fixture;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    //  Empties and removes the whole directory tree
    test_dir_remove (fixture->dir);
    free (fixture);
    return 0;
}

static store_t *
s_open (fixture_t *fixture, const char *region, uint64_t map_mb, uint64_t max_mb)
{
    char path [128];
    snprintf (path, sizeof path, "%s/store", fixture->dir);
    return store_new (path, region, map_mb, max_mb);
}

typedef struct {
    store_t *store;
    uint64_t key;
    size_t value_size;
    uint8_t fill;
    int refuse;                 //  return this instead of committing
} put_args_t;

static int
s_put (MDB_txn *txn, void *arg)
{
    put_args_t *args = (put_args_t *) arg;
    uint8_t key [32];
    size_t key_size = store_seq_key (key, sizeof key, "k", args->key);
    uint8_t *value = (uint8_t *) malloc (args->value_size);
    memset (value, args->fill, args->value_size);
    int rc = store_put (args->store, txn, STORE_DB_CASES, key, key_size,
                        value, args->value_size, 0);
    free (value);
    return rc ? rc : args->refuse;
}

typedef struct {
    store_t *store;
    uint64_t key;
    size_t size;
    uint8_t first;
} get_args_t;

static int
s_get (MDB_txn *txn, void *arg)
{
    get_args_t *args = (get_args_t *) arg;
    uint8_t key [32];
    size_t key_size = store_seq_key (key, sizeof key, "k", args->key);
    MDB_val value;
    int rc = store_get (args->store, txn, STORE_DB_CASES, key, key_size, &value);
    if (rc == MDB_NOTFOUND)
        return ZVH_E_NOT_FOUND;
    if (rc == 0) {
        args->size = value.mv_size;
        args->first = ((uint8_t *) value.mv_data) [0];
    }
    return rc;
}

static int
s_read_value (store_t *store, uint64_t key, get_args_t *args)
{
    memset (args, 0, sizeof *args);
    args->store = store;
    args->key = key;
    return store_read (store, s_get, args);
}

static void
test_committed_value_survives_reopen (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    store_t *store = s_open (fixture, "groningen", TEST_MAP_MB, TEST_MAX_MB);
    assert_non_null (store);
    put_args_t put = { store, 1, 100, 0xAB, 0 };
    assert_int_equal (store_write (store, s_put, &put), 0);
    store_destroy (&store);
    assert_null (store);
    store = s_open (fixture, "groningen", TEST_MAP_MB, TEST_MAX_MB);
    get_args_t got;
    assert_int_equal (s_read_value (store, 1, &got), 0);
    assert_int_equal (got.size, 100);
    assert_int_equal (got.first, 0xAB);
    store_destroy (&store);
}

static void
test_refused_write_commits_nothing (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    store_t *store = s_open (fixture, "groningen", TEST_MAP_MB, TEST_MAX_MB);
    put_args_t put = { store, 2, 10, 1, ZVH_E_CONFLICT };
    assert_int_equal (store_write (store, s_put, &put), ZVH_E_CONFLICT);
    get_args_t got;
    assert_int_equal (s_read_value (store, 2, &got), ZVH_E_NOT_FOUND);
    store_destroy (&store);
}

static int
s_stamp_format (MDB_txn *txn, void *arg)
{
    return store_set_meta_u64 ((store_t *) arg, txn, "format_version",
                               STORE_FORMAT_VERSION + 1);
}

static void
test_newer_format_is_refused (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    store_t *store = s_open (fixture, "groningen", TEST_MAP_MB, TEST_MAX_MB);
    assert_int_equal (store_write (store, s_stamp_format, store), 0);
    store_destroy (&store);
    assert_null (s_open (fixture, "groningen", TEST_MAP_MB, TEST_MAX_MB));
}

static int
s_stamp_format_1 (MDB_txn *txn, void *arg)
{
    return store_set_meta_u64 ((store_t *) arg, txn, "format_version", 1);
}

typedef struct {
    store_t *store;
    uint64_t format;
} format_args_t;

static int
s_read_format (MDB_txn *txn, void *arg)
{
    format_args_t *args = (format_args_t *) arg;
    args->format = store_meta_u64 (args->store, txn, "format_version");
    return 0;
}

//  A store of format 1 (no event log) opens and is marked with this
//  format, so that an older zvhd no longer opens it.
static void
test_an_older_format_is_read_and_marked_with_this_one (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    store_t *store = s_open (fixture, "groningen", TEST_MAP_MB, TEST_MAX_MB);
    assert_int_equal (store_write (store, s_stamp_format_1, store), 0);
    store_destroy (&store);
    store = s_open (fixture, "groningen", TEST_MAP_MB, TEST_MAX_MB);
    assert_non_null (store);
    format_args_t got = { store, 0 };
    assert_int_equal (store_read (store, s_read_format, &got), 0);
    assert_int_equal (got.format, STORE_FORMAT_VERSION);
    assert_int_equal (STORE_FORMAT_VERSION, 2);
    store_destroy (&store);
}

static void
test_store_of_another_region_is_refused (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    store_t *store = s_open (fixture, "groningen", TEST_MAP_MB, TEST_MAX_MB);
    assert_non_null (store);
    store_destroy (&store);
    assert_null (s_open (fixture, "drenthe", TEST_MAP_MB, TEST_MAX_MB));
}

static void
test_full_map_grows_and_retries (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    store_t *store = s_open (fixture, "groningen", TEST_MAP_MB, TEST_MAX_MB);
    for (uint64_t key = 0; key < TEST_GROW_VALUES; key++) {
        put_args_t put = { store, key, TEST_VALUE_BYTES, (uint8_t) key, 0 };
        assert_int_equal (store_write (store, s_put, &put), 0);
    }
    store_info_t info;
    assert_int_equal (store_info (store, &info), 0);
    assert_true (info.map_bytes > TEST_MAP_MB * 1024 * 1024);
    get_args_t got;
    assert_int_equal (s_read_value (store, TEST_GROW_VALUES - 1, &got), 0);
    assert_int_equal (got.first, (uint8_t) (TEST_GROW_VALUES - 1));
    store_destroy (&store);
}

//  Write until the store says it is full; returns the number that fit.
static uint64_t
s_fill_until_full (store_t *store, int *rc_p)
{
    uint64_t key = 0;
    for (; key < TEST_FILL_LIMIT; key++) {
        put_args_t put = { store, key, TEST_VALUE_BYTES, (uint8_t) key, 0 };
        *rc_p = store_write (store, s_put, &put);
        if (*rc_p)
            break;
    }
    return key;
}

static void
test_map_ceiling_is_a_clear_error_and_keeps_data (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    store_t *store = s_open (fixture, "groningen", TEST_MAP_MB, TEST_SMALL_MAX_MB);
    int rc = 0;
    uint64_t written = s_fill_until_full (store, &rc);
    assert_int_equal (rc, ZVH_E_FULL);
    assert_true (written > 0);
    store_destroy (&store);
    store = s_open (fixture, "groningen", TEST_MAP_MB, TEST_SMALL_MAX_MB);
    assert_non_null (store);
    get_args_t got;
    assert_int_equal (s_read_value (store, written - 1, &got), 0);
    assert_int_equal (got.first, (uint8_t) (written - 1));
    assert_int_equal (s_read_value (store, written, &got), ZVH_E_NOT_FOUND);
    store_destroy (&store);
}

//  Let the store's file grow by TEST_FSIZE_HEADROOM at most (RLIMIT_FSIZE);
//  *old_limit is what to put back.
static void
s_limit_file_size (fixture_t *fixture, struct rlimit *old_limit)
{
    char path [128];
    snprintf (path, sizeof path, "%s/store/data.mdb", fixture->dir);
    getrlimit (RLIMIT_FSIZE, old_limit);
    struct rlimit limit = *old_limit;
    limit.rlim_cur = (rlim_t) zsys_file_size (path) + TEST_FSIZE_HEADROOM;
    signal (SIGXFSZ, SIG_IGN);
    assert_int_equal (setrlimit (RLIMIT_FSIZE, &limit), 0);
}

//  A full disk, simulated with RLIMIT_FSIZE: writes past the limit fail with
//  EFBIG just as they fail with ENOSPC on a full volume.
static void
test_full_disk_is_a_clear_error_and_keeps_last_commit (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    store_t *store = s_open (fixture, "groningen", TEST_MAP_MB, TEST_MAX_MB);
    put_args_t first = { store, 0, TEST_VALUE_BYTES, 0x5A, 0 };
    assert_int_equal (store_write (store, s_put, &first), 0);
    struct rlimit old_limit;
    s_limit_file_size (fixture, &old_limit);
    int rc = 0;
    uint64_t written = s_fill_until_full (store, &rc);
    setrlimit (RLIMIT_FSIZE, &old_limit);
    assert_int_equal (rc, ZVH_E_FULL);
    assert_true (written < TEST_FILL_LIMIT);
    store_destroy (&store);
    store = s_open (fixture, "groningen", TEST_MAP_MB, TEST_MAX_MB);
    assert_non_null (store);
    get_args_t got;
    assert_int_equal (s_read_value (store, 0, &got), 0);
    assert_int_equal (got.first, (uint8_t) 0);      //  key 0 was rewritten by the fill
    //  And the store takes writes again once there is room
    put_args_t after = { store, TEST_FILL_LIMIT, 10, 0x11, 0 };
    assert_int_equal (store_write (store, s_put, &after), 0);
    store_destroy (&store);
}

static void
test_sequence_keys_sort_numerically (void **state)
{
    (void) state;
    uint8_t small [32], large [32];
    size_t size = store_seq_key (small, sizeof small, "peer", 255);
    assert_int_equal (store_seq_key (large, sizeof large, "peer", 256), size);
    assert_true (memcmp (small, large, size) < 0);
    MDB_val key = { size, large };
    assert_int_equal (store_seq_key_n (&key), 256);
    assert_int_equal (store_seq_key (small, 8, "too-long-prefix", 1), 0);
}

//  ---------------------------------------------------------------- the turn

typedef struct {
    int runs;
    int committed;              //  how many runs were told the commit held
    uint64_t commits_seen;      //  the store's commit count when it ran
    store_t *store;
} effect_t;

static void
s_effect (void *arg, bool committed)
{
    effect_t *effect = (effect_t *) arg;
    effect->runs++;
    effect->committed += committed;
    store_stats_t stats;
    store_stats (effect->store, &stats);
    effect->commits_seen = stats.commits;
}

static uint64_t
s_commits (store_t *store)
{
    store_stats_t stats;
    store_stats (store, &stats);
    return stats.commits;
}

//  Three writes (one refused) and an effect: one commit, the refused write
//  alone undone, the effect after the commit; store_read saw none of it
//  before, store_read_turn did.
static void
test_turn_commits_once_and_effects_follow (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    store_t *store = s_open (fixture, "groningen", TEST_MAP_MB, TEST_MAX_MB);
    uint64_t before = s_commits (store);
    effect_t effect = { 0, 0, 0, store };
    store_turn_begin (store);
    assert_true (store_in_turn (store));
    put_args_t first = { store, 1, 100, 0x01, 0 };
    put_args_t refused = { store, 2, 100, 0x02, ZVH_E_CONFLICT };
    put_args_t third = { store, 3, 100, 0x03, 0 };
    assert_int_equal (store_write (store, s_put, &first), 0);
    assert_int_equal (store_write (store, s_put, &refused), ZVH_E_CONFLICT);
    assert_int_equal (store_write (store, s_put, &third), 0);
    store_after_commit (store, s_effect, &effect);
    get_args_t got;
    assert_int_equal (s_read_value (store, 1, &got), ZVH_E_NOT_FOUND);     //  not durable yet
    get_args_t in_turn = { store, 3, 0, 0 };
    assert_int_equal (store_read_turn (store, s_get, &in_turn), 0);       //  the turn's view
    assert_int_equal (in_turn.first, 0x03);
    assert_int_equal (effect.runs, 0);
    assert_int_equal (s_commits (store), before);
    assert_int_equal (store_turn_end (store), 0);
    assert_false (store_in_turn (store));
    assert_int_equal (effect.runs, 1);
    assert_int_equal (effect.committed, 1);
    assert_int_equal (effect.commits_seen, before + 1);     //  ran after the one commit
    assert_int_equal (s_commits (store), before + 1);
    assert_int_equal (s_read_value (store, 1, &got), 0);
    assert_int_equal (s_read_value (store, 2, &got), ZVH_E_NOT_FOUND);
    assert_int_equal (s_read_value (store, 3, &got), 0);
    assert_int_equal (got.first, 0x03);
    //  A turn that only read commits nothing; an effect outside a turn runs at once
    store_turn_begin (store);
    store_after_commit (store, s_effect, &effect);
    assert_int_equal (store_turn_end (store), 0);
    assert_int_equal (s_commits (store), before + 1);
    store_after_commit (store, s_effect, &effect);
    assert_int_equal (effect.runs, 3);
    assert_int_equal (effect.committed, 3);
    store_destroy (&store);
}

//  A map that fills in a turn: what the turn had is committed, the map
//  grows, the write runs again; every effect still runs, told it held.
static void
test_turn_grows_a_full_map (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    store_t *store = s_open (fixture, "groningen", TEST_MAP_MB, TEST_MAX_MB);
    effect_t effect = { 0, 0, 0, store };
    store_turn_begin (store);
    for (uint64_t key = 0; key < TEST_GROW_VALUES; key++) {
        put_args_t put = { store, key, TEST_VALUE_BYTES, (uint8_t) key, 0 };
        assert_int_equal (store_write (store, s_put, &put), 0);
        store_after_commit (store, s_effect, &effect);
    }
    assert_int_equal (store_turn_end (store), 0);
    assert_int_equal (effect.runs, TEST_GROW_VALUES);
    assert_int_equal (effect.committed, TEST_GROW_VALUES);
    store_info_t info;
    assert_int_equal (store_info (store, &info), 0);
    assert_true (info.map_bytes > TEST_MAP_MB * 1024 * 1024);
    for (uint64_t key = 0; key < TEST_GROW_VALUES; key++) {
        get_args_t got;
        assert_int_equal (s_read_value (store, key, &got), 0);
        assert_int_equal (got.first, (uint8_t) key);
    }
    store_destroy (&store);
}

//  A turn that leaves the map more than 3/4 used grows it at its end, so
//  that the next turn does not fill it (a commit that fills the map loses
//  its turn): one commit, no early one, a bigger map after it.
#define TEST_HEADROOM_VALUES 12         //  about 816 KiB of a 1 MiB map
static void
test_turn_end_keeps_headroom_in_the_map (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    store_t *store = s_open (fixture, "groningen", TEST_MAP_MB, TEST_MAX_MB);
    uint64_t before = s_commits (store);
    store_turn_begin (store);
    for (uint64_t key = 0; key < TEST_HEADROOM_VALUES; key++) {
        put_args_t put = { store, key, TEST_VALUE_BYTES, (uint8_t) key, 0 };
        assert_int_equal (store_write (store, s_put, &put), 0);
    }
    assert_int_equal (store_turn_end (store), 0);
    assert_int_equal (s_commits (store), before + 1);
    store_info_t info;
    assert_int_equal (store_info (store, &info), 0);
    assert_true (info.used_bytes * 4 > (uint64_t) TEST_MAP_MB * 1024 * 1024 * 3);
    assert_int_equal (info.map_bytes, 2 * (uint64_t) TEST_MAP_MB * 1024 * 1024);
    //  A turn that writes nothing leaves it as it is
    store_turn_begin (store);
    assert_int_equal (store_turn_end (store), 0);
    assert_int_equal (store_info (store, &info), 0);
    assert_int_equal (info.map_bytes, 2 * (uint64_t) TEST_MAP_MB * 1024 * 1024);
    store_destroy (&store);
}

//  The disk fills under a turn: its commit fails, every effect hears so,
//  and the store keeps its last commit and takes writes again later.
static void
test_turn_on_a_full_disk_tells_its_effects (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    store_t *store = s_open (fixture, "groningen", TEST_ROOMY_MAP_MB, TEST_MAX_MB);
    put_args_t first = { store, 0, TEST_VALUE_BYTES, 0x5A, 0 };
    assert_int_equal (store_write (store, s_put, &first), 0);
    effect_t effect = { 0, 0, 0, store };
    struct rlimit old_limit;
    s_limit_file_size (fixture, &old_limit);
    store_turn_begin (store);
    for (uint64_t key = 1; key < 16; key++) {
        put_args_t put = { store, key, TEST_VALUE_BYTES, (uint8_t) key, 0 };
        store_write (store, s_put, &put);
        store_after_commit (store, s_effect, &effect);
    }
    int rc = store_turn_end (store);
    setrlimit (RLIMIT_FSIZE, &old_limit);
    assert_int_equal (rc, ZVH_E_FULL);
    assert_int_equal (effect.runs, 15);
    assert_int_equal (effect.committed, 0);
    get_args_t got;
    assert_int_equal (s_read_value (store, 0, &got), 0);
    assert_int_equal (got.first, 0x5A);
    assert_int_equal (s_read_value (store, 1, &got), ZVH_E_NOT_FOUND);
    store_turn_begin (store);
    put_args_t after = { store, 1, 10, 0x11, 0 };
    assert_int_equal (store_write (store, s_put, &after), 0);
    assert_int_equal (store_turn_end (store), 0);
    assert_int_equal (s_read_value (store, 1, &got), 0);
    store_destroy (&store);
}

int
main (void)
{
    zsys_init ();
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_committed_value_survives_reopen, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_refused_write_commits_nothing, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_newer_format_is_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_an_older_format_is_read_and_marked_with_this_one,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_store_of_another_region_is_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_full_map_grows_and_retries, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_map_ceiling_is_a_clear_error_and_keeps_data, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_full_disk_is_a_clear_error_and_keeps_last_commit, s_setup, s_teardown),
        cmocka_unit_test (test_sequence_keys_sort_numerically),
        cmocka_unit_test_setup_teardown (test_turn_commits_once_and_effects_follow, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_turn_grows_a_full_map, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_turn_end_keeps_headroom_in_the_map, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_turn_on_a_full_disk_tells_its_effects, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
