/*  test_audit: the audit trail's hash chain holds, and a deleted, altered or
 *  cut-off entry is detected; entries are sealed at rest.
 */
#include "audit.h"
#include "zvh/zvh.h"
#include <czmq.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "test_dir.h"

#define TEST_MAP_MB   8
#define TEST_MAX_MB   64
#define ENTRIES       10

typedef struct {
    char dir [64];
    store_t *store;
    audit_t *audit;
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *fixture = (fixture_t *) calloc (1, sizeof (fixture_t));
    assert_true (test_dir_make (fixture->dir, sizeof fixture->dir, "audit"));
    fixture->store = store_new (fixture->dir, "groningen", TEST_MAP_MB, TEST_MAX_MB);
    uint8_t key [STORE_KEY_BYTES];
    memset (key, 7, sizeof key);
    assert_int_equal (store_set_key (fixture->store, key), 0);
    fixture->audit = audit_new (fixture->store);
    for (int i = 0; i < ENTRIES; i++) {
        audit_entry_t entry = { .action = "disclose", .outcome = "ok", .actor = "politie-noord",
                                .actor_role = "police", .case_id = "SECRET-CASE-REF",
                                .detail = "view" };
        audit_record_now (fixture->audit, &entry, 1000 + i);
    }
    *state = fixture;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    audit_destroy (&fixture->audit);
    store_destroy (&fixture->store);
    test_dir_remove (fixture->dir);
    free (fixture);
    return 0;
}

typedef struct {
    fixture_t *fixture;
    uint64_t count;
    char why [AUDIT_WHY_MAX];
    int result;
    uint64_t seq;
} args_t;

static int
s_verify_fn (MDB_txn *txn, void *arg)
{
    args_t *args = (args_t *) arg;
    args->result = audit_verify (args->fixture->audit, txn, &args->count, args->why);
    return 0;
}

static args_t
s_verify (fixture_t *fixture)
{
    args_t args = { fixture, 0, "", 0, 0 };
    assert_int_equal (store_read (fixture->store, s_verify_fn, &args), 0);
    return args;
}

static int
s_delete_fn (MDB_txn *txn, void *arg)
{
    args_t *args = (args_t *) arg;
    uint8_t key [8];
    store_be64_put (key, args->seq);
    return store_del (args->fixture->store, txn, STORE_DB_AUDIT, key, sizeof key);
}

//  Rewrite an entry with other content but valid sealing: only the chain
//  can tell.
static int
s_alter_fn (MDB_txn *txn, void *arg)
{
    args_t *args = (args_t *) arg;
    uint8_t key [8];
    store_be64_put (key, args->seq);
    MDB_val value;
    int rc = store_get (args->fixture->store, txn, STORE_DB_AUDIT, key, sizeof key, &value);
    if (rc)
        return rc;
    Zvh__V1__AuditRecord *record = WIRE_DECODE (Zvh__V1__AuditRecord, zvh__v1__audit_record,
                                                value.mv_data, value.mv_size);
    assert_non_null (record);
    char *original = record->actor;
    record->actor = "someone-else";
    size_t size;
    uint8_t *bytes = wire_encode (&record->base, &size);
    record->actor = original;
    wire_free (&record->base);
    rc = store_put (args->fixture->store, txn, STORE_DB_AUDIT, key, sizeof key, bytes, size, 0);
    free (bytes);
    return rc;
}

static void
test_untouched_trail_verifies (void **state)
{
    args_t result = s_verify ((fixture_t *) *state);
    assert_int_equal (result.result, 0);
    assert_int_equal (result.count, ENTRIES);
}

static void
test_deleted_entry_is_detected (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    args_t del = { fixture, 0, "", 0, 4 };
    assert_int_equal (store_write (fixture->store, s_delete_fn, &del), 0);
    args_t result = s_verify (fixture);
    assert_int_equal (result.result, 1);
    assert_non_null (strstr (result.why, "entry 5"));
    assert_non_null (strstr (result.why, "deleted"));
}

static void
test_altered_entry_is_detected (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    args_t alter = { fixture, 0, "", 0, 6 };
    assert_int_equal (store_write (fixture->store, s_alter_fn, &alter), 0);
    args_t result = s_verify (fixture);
    assert_int_equal (result.result, 1);
    assert_non_null (strstr (result.why, "entry 6"));
    assert_non_null (strstr (result.why, "altered"));
}

static void
test_cut_off_newest_entries_are_detected (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    args_t del = { fixture, 0, "", 0, ENTRIES };
    assert_int_equal (store_write (fixture->store, s_delete_fn, &del), 0);
    args_t result = s_verify (fixture);
    assert_int_equal (result.result, 1);
    assert_non_null (strstr (result.why, "newest were deleted"));
}

static void
test_entries_are_sealed_at_rest (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    char path [128];
    snprintf (path, sizeof path, "%s/data.mdb", fixture->dir);
    zchunk_t *chunk = zchunk_slurp (path, 0);
    assert_non_null (chunk);
    const char *secret = "SECRET-CASE-REF";
    assert_null (memmem (zchunk_data (chunk), zchunk_size (chunk), secret, strlen (secret)));
    zchunk_destroy (&chunk);
}

#define T(name) cmocka_unit_test_setup_teardown (name, s_setup, s_teardown)

int
main (void)
{
    zsys_init ();
    const struct CMUnitTest tests [] = {
        T (test_untouched_trail_verifies),
        T (test_deleted_entry_is_detected),
        T (test_altered_entry_is_detected),
        T (test_cut_off_newest_entries_are_detected),
        T (test_entries_are_sealed_at_rest),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
