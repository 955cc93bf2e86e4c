/*  test_relay: the dedup record format with a real LMDB store: a record
 *  round trip, a record of an event passed on, a record written before
 *  relays existed, and the per-origin highest seq (docs/PROTOCOL.md 4.6).
 */
#include "relay.h"
#include "zvh/zvh.h"
#include <czmq.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "test_dir.h"

#define NOW_MS        1700000000000LL
#define TEST_MAP_MB   8
#define TEST_MAX_MB   64
#define ORIGIN        "drenthe"
#define SEQ           42
#define WHEN_SIZE     8             //  the record's be64 ms

typedef struct {
    char dir [64];
    store_t *store;
    relay_t *relay;
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *fixture = (fixture_t *) calloc (1, sizeof (fixture_t));
    assert_true (test_dir_make (fixture->dir, sizeof fixture->dir, "relay"));
    char path [128];
    snprintf (path, sizeof path, "%s/store", fixture->dir);
    fixture->store = store_new (path, "groningen", TEST_MAP_MB, TEST_MAX_MB);
    assert_non_null (fixture->store);
    fixture->relay = relay_new (fixture->store);
    assert_non_null (fixture->relay);
    *state = fixture;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    relay_destroy (&fixture->relay);
    assert_null (fixture->relay);
    store_destroy (&fixture->store);
    test_dir_remove (fixture->dir);
    free (fixture);
    return 0;
}

typedef struct {
    fixture_t *fixture;
    uint64_t seq;
    outbox_relay_t relay;           //  record: to; seen: before
    relay_taken_t taken;
    MDB_val raw;                    //  a value to put as it is (a legacy record)
    uint8_t raw_bytes [WHEN_SIZE + OUTBOX_PEER_MAX];
} op_t;

static int
s_record (MDB_txn *txn, void *arg)
{
    op_t *op = (op_t *) arg;
    return relay_record (op->fixture->relay, txn, ORIGIN, op->seq, &op->relay, NOW_MS);
}

static int
s_seen (MDB_txn *txn, void *arg)
{
    op_t *op = (op_t *) arg;
    return relay_seen (op->fixture->relay, txn, ORIGIN, op->seq, &op->taken, &op->relay);
}

//  The stored value, copied out of the transaction.
static int
s_read_raw (MDB_txn *txn, void *arg)
{
    op_t *op = (op_t *) arg;
    uint8_t key [64];
    size_t key_size = store_seq_key (key, sizeof key, ORIGIN, op->seq);
    MDB_val value;
    int rc = store_get (op->fixture->store, txn, STORE_DB_DEDUP, key, key_size, &value);
    if (rc == 0 && value.mv_size <= sizeof op->raw_bytes) {
        memcpy (op->raw_bytes, value.mv_data, value.mv_size);
        op->raw.mv_size = value.mv_size;
    }
    return rc;
}

static int
s_put_raw (MDB_txn *txn, void *arg)
{
    op_t *op = (op_t *) arg;
    uint8_t key [64];
    size_t key_size = store_seq_key (key, sizeof key, ORIGIN, op->seq);
    return store_put (op->fixture->store, txn, STORE_DB_DEDUP, key, key_size,
                      op->raw_bytes, op->raw.mv_size, 0);
}

static relay_taken_t
s_taken (fixture_t *fixture, uint64_t seq, char *before)
{
    op_t op = { .fixture = fixture, .seq = seq };
    assert_int_equal (store_read (fixture->store, s_seen, &op), 0);
    snprintf (before, OUTBOX_PEER_MAX, "%s", op.relay.before);
    return op.taken;
}

static void
test_unknown_event_was_never_taken (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    char before [OUTBOX_PEER_MAX];
    assert_int_equal (s_taken (fixture, SEQ, before), RELAY_NEVER);
    assert_string_equal (before, "");
}

//  An applied event: 8 bytes, the big-endian time taken; found again as
//  applied
static void
test_applied_record_round_trips (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    op_t op = { .fixture = fixture, .seq = SEQ };
    assert_int_equal (store_write (fixture->store, s_record, &op), 0);
    assert_int_equal (store_read (fixture->store, s_read_raw, &op), 0);
    assert_int_equal (op.raw.mv_size, WHEN_SIZE);
    assert_int_equal (store_be64_get (op.raw_bytes), NOW_MS);
    char before [OUTBOX_PEER_MAX];
    assert_int_equal (s_taken (fixture, SEQ, before), RELAY_APPLIED);
    assert_string_equal (before, "");
    assert_int_equal (s_taken (fixture, SEQ + 1, before), RELAY_NEVER);
}

//  An event passed on: the time, then the region's id without a NUL; a
//  copy that comes again learns where the first one went
static void
test_passed_on_record_names_the_region (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    op_t op = { .fixture = fixture, .seq = SEQ };
    snprintf (op.relay.to, sizeof op.relay.to, "friesland");
    assert_int_equal (store_write (fixture->store, s_record, &op), 0);
    assert_int_equal (store_read (fixture->store, s_read_raw, &op), 0);
    assert_int_equal (op.raw.mv_size, WHEN_SIZE + strlen ("friesland"));
    assert_memory_equal (op.raw_bytes + WHEN_SIZE, "friesland", strlen ("friesland"));
    char before [OUTBOX_PEER_MAX];
    assert_int_equal (s_taken (fixture, SEQ, before), RELAY_PASSED_ON);
    assert_string_equal (before, "friesland");
}

//  A store written before relays existed holds 8-byte values: applied
static void
test_legacy_record_counts_as_applied (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    op_t op = { .fixture = fixture, .seq = SEQ };
    store_be64_put (op.raw_bytes, (uint64_t) NOW_MS);
    op.raw.mv_size = WHEN_SIZE;
    assert_int_equal (store_write (fixture->store, s_put_raw, &op), 0);
    char before [OUTBOX_PEER_MAX];
    assert_int_equal (s_taken (fixture, SEQ, before), RELAY_APPLIED);
    assert_string_equal (before, "");
}

typedef struct {
    fixture_t *fixture;
    uint64_t seq;
    uint64_t highest;
} seq_op_t;

static int
s_note (MDB_txn *txn, void *arg)
{
    seq_op_t *op = (seq_op_t *) arg;
    int rc = relay_note_origin_seq (op->fixture->relay, txn, ORIGIN, op->seq);
    op->highest = relay_origin_seq (op->fixture->relay, txn, ORIGIN);
    return rc;
}

//  [P4.6-17] the highest seq of an origin recorded here only rises
static void
test_origin_seq_only_rises (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    seq_op_t op = { fixture, SEQ, 0 };
    assert_int_equal (store_write (fixture->store, s_note, &op), 0);
    assert_int_equal (op.highest, SEQ);
    op.seq = SEQ - 1;
    assert_int_equal (store_write (fixture->store, s_note, &op), 0);
    assert_int_equal (op.highest, SEQ);
    op.seq = SEQ + 1;
    assert_int_equal (store_write (fixture->store, s_note, &op), 0);
    assert_int_equal (op.highest, SEQ + 1);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_unknown_event_was_never_taken, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_applied_record_round_trips, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_passed_on_record_names_the_region, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_legacy_record_counts_as_applied, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_origin_seq_only_rises, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
