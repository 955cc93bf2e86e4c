/*  test_outbox: per-peer queues with a real LMDB store: acknowledgement,
 *  retention of acknowledged entries, rewind for a restored peer, and the
 *  new incarnation of a restored store (docs/PROTOCOL.md 4.9), and the stubs
 *  a purged plan leaves (4.6).
 */
#include "outbox.h"
#include "zvh/zvh.h"
#include <czmq.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "test_dir.h"

#define NOW_MS        1700000000000LL
#define DAY_MS        (24LL * 3600 * 1000)
#define TEST_MAP_MB   8
#define TEST_MAX_MB   64
#define PEER          "drenthe"
#define EVENTS        5

typedef struct {
    char dir [64];
    store_t *store;
    outbox_t *outbox;
    int64_t now_ms;
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *fixture = (fixture_t *) calloc (1, sizeof (fixture_t));
    assert_true (test_dir_make (fixture->dir, sizeof fixture->dir, "outbox"));
    char path [128];
    snprintf (path, sizeof path, "%s/store", fixture->dir);
    fixture->store = store_new (path, "groningen", TEST_MAP_MB, TEST_MAX_MB);
    assert_non_null (fixture->store);
    fixture->outbox = outbox_new (fixture->store, "groningen", NULL);
    assert_int_equal (outbox_start (fixture->outbox, 0, NOW_MS), 0);
    fixture->now_ms = NOW_MS;
    *state = fixture;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    outbox_destroy (&fixture->outbox);
    store_destroy (&fixture->store);
    test_dir_remove (fixture->dir);
    free (fixture);
    return 0;
}

static int
s_push (MDB_txn *txn, void *arg)
{
    fixture_t *fixture = (fixture_t *) arg;
    Zvh__V1__TransferReject reject = ZVH__V1__TRANSFER_REJECT__INIT;
    reject.reason = "test";
    return outbox_push (fixture->outbox, txn, PEER,
                        ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_REJECT, "C-1",
                        &reject.base, fixture->now_ms);
}

typedef struct {
    fixture_t *fixture;
    uint64_t link_seq;
    uint64_t result;
} op_t;

static int
s_ack (MDB_txn *txn, void *arg)
{
    op_t *op = (op_t *) arg;
    return outbox_ack (op->fixture->outbox, txn, PEER, op->link_seq);
}

static int
s_rewind (MDB_txn *txn, void *arg)
{
    op_t *op = (op_t *) arg;
    return outbox_rewind (op->fixture->outbox, txn, PEER, op->link_seq, &op->result);
}

static int
s_prune (MDB_txn *txn, void *arg)
{
    op_t *op = (op_t *) arg;
    return outbox_prune (op->fixture->outbox, txn, PEER, op->fixture->now_ms);
}

static int
s_read_floor (MDB_txn *txn, void *arg)
{
    op_t *op = (op_t *) arg;
    op->result = outbox_floor (op->fixture->outbox, txn, PEER);
    return 0;
}

static int
s_read_seq (MDB_txn *txn, void *arg)
{
    op_t *op = (op_t *) arg;
    op->result = outbox_last_seq (op->fixture->outbox, txn);
    return 0;
}

static uint64_t
s_floor (fixture_t *fixture)
{
    op_t op = { fixture, 0, 0 };
    assert_int_equal (store_read (fixture->store, s_read_floor, &op), 0);
    return op.result;
}

static void
s_push_events (fixture_t *fixture, int count)
{
    for (int i = 0; i < count; i++)
        assert_int_equal (store_write (fixture->store, s_push, fixture), 0);
}

static void
s_do (fixture_t *fixture, store_fn *fn, uint64_t link_seq, uint64_t *result)
{
    op_t op = { fixture, link_seq, 0 };
    assert_int_equal (store_write (fixture->store, fn, &op), 0);
    if (result)
        *result = op.result;
}

//  Without retention an ack deletes at once: nothing to send again.
static void
test_ack_without_retention_deletes (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    s_push_events (fixture, EVENTS);
    assert_int_equal (s_floor (fixture), 0);
    s_do (fixture, s_ack, 3, NULL);
    assert_int_equal (s_floor (fixture), 3);
    uint64_t acked;
    s_do (fixture, s_rewind, 1, &acked);
    assert_int_equal (acked, 3);            //  1-3 are gone: cannot go back
    s_do (fixture, s_ack, EVENTS, NULL);
    assert_int_equal (s_floor (fixture), EVENTS);
}

//  With retention, acked entries stay until they are older than it, and a
//  restored peer gets them again.
static void
test_retention_keeps_acked_entries_for_a_rewind (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    outbox_set_retention (fixture->outbox, DAY_MS);
    s_push_events (fixture, EVENTS);
    s_do (fixture, s_ack, 4, NULL);
    assert_int_equal (s_floor (fixture), 0);
    s_do (fixture, s_prune, 0, NULL);       //  younger than a day: kept
    assert_int_equal (s_floor (fixture), 0);
    uint64_t acked;
    s_do (fixture, s_rewind, 1, &acked);
    assert_int_equal (acked, 1);            //  send again from 2
    s_do (fixture, s_rewind, 3, &acked);
    assert_int_equal (acked, 1);            //  a rewind never moves forward
    s_do (fixture, s_ack, 4, NULL);
    fixture->now_ms += 2 * DAY_MS;
    s_do (fixture, s_prune, 0, NULL);       //  older than a day: gone up to the ack
    assert_int_equal (s_floor (fixture), 4);
    s_do (fixture, s_rewind, 0, &acked);
    assert_int_equal (acked, 4);
}

static uint64_t
s_seq (fixture_t *fixture)
{
    op_t op = { fixture, 0, 0 };
    assert_int_equal (store_read (fixture->store, s_read_seq, &op), 0);
    return op.result;
}

//  Every start moves origin seqs past the clock (in microseconds): a copy
//  of the store started later gives no id the lost store gave. A stamped
//  backup begins a new incarnation once, above the last, without the clock.
static void
test_start_moves_seqs_past_the_clock_and_a_backup_begins_an_incarnation (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    assert_int_equal (outbox_incarnation (fixture->outbox), 0);
    s_push_events (fixture, EVENTS);
    const int64_t later_ms = NOW_MS + DAY_MS;
    assert_int_equal (outbox_start (fixture->outbox, 0, later_ms), 0);
    assert_int_equal (outbox_incarnation (fixture->outbox), 0);
    assert_int_equal (s_seq (fixture), (uint64_t) later_ms * 1000);
    //  A clock that went back moves nothing back
    assert_int_equal (outbox_start (fixture->outbox, 0, NOW_MS), 0);
    assert_int_equal (s_seq (fixture), (uint64_t) later_ms * 1000);
    const int64_t taken_ms = NOW_MS - DAY_MS;
    assert_int_equal (outbox_start (fixture->outbox, taken_ms, NOW_MS), 0);
    assert_int_equal (outbox_incarnation (fixture->outbox), 1);
    //  The same backup started again (a restart): the same incarnation
    assert_int_equal (outbox_start (fixture->outbox, taken_ms, NOW_MS + 1), 0);
    assert_int_equal (outbox_incarnation (fixture->outbox), 1);
    //  Another restore, with a clock that went back: still higher
    assert_int_equal (outbox_start (fixture->outbox, taken_ms + 1, NOW_MS - DAY_MS), 0);
    assert_int_equal (outbox_incarnation (fixture->outbox), 2);
}

//  A peer that follows a later incarnation of ours, or has event seqs we
//  never gave, shows the store is an older copy: an incarnation above its
//  report, seqs past its report. Reports beyond ours and the clock by far
//  (a hostile peer's 2^64-1) are ignored.
static void
test_a_peer_that_has_more_of_us_begins_an_incarnation (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    s_push_events (fixture, EVENTS);
    uint64_t seq = s_seq (fixture);
    assert_int_equal (outbox_overtaken (fixture->outbox, "peer", 0, 0, NOW_MS), 0);
    assert_int_equal (outbox_incarnation (fixture->outbox), 1);
    assert_int_equal (s_seq (fixture), seq);
    assert_int_equal (outbox_overtaken (fixture->outbox, "peer", 7, seq + 100, NOW_MS), 0);
    assert_int_equal (outbox_incarnation (fixture->outbox), 8);
    assert_int_equal (s_seq (fixture), seq + 100);
    assert_int_equal (outbox_overtaken (fixture->outbox, "peer", UINT64_MAX, 0, NOW_MS), 0);
    assert_int_equal (outbox_incarnation (fixture->outbox), 8);
    assert_int_equal (outbox_overtaken (fixture->outbox, "peer", 0, UINT64_MAX, NOW_MS), 0);
    assert_int_equal (s_seq (fixture), seq + 100);
    //  The state is the store's: a restart reads it back
    outbox_destroy (&fixture->outbox);
    fixture->outbox = outbox_new (fixture->store, "groningen", NULL);
    assert_int_equal (outbox_start (fixture->outbox, 0, 0), 0);
    assert_int_equal (outbox_incarnation (fixture->outbox), 8);
}

//  ---------------------------------------------------------------- purge

#define OTHER_PEER    "fryslan"
#define SECRET        "plan content of C-1"

typedef struct {
    fixture_t *fixture;
    const char **peers;
    Zvh__V1__Envelope__Type type;
    const char *case_id;
    size_t stubbed;
} push_args_t;

static int
s_push_typed (MDB_txn *txn, void *arg)
{
    push_args_t *args = (push_args_t *) arg;
    Zvh__V1__TransferReject payload = ZVH__V1__TRANSFER_REJECT__INIT;
    payload.reason = SECRET;            //  the outbox never reads a payload
    uint64_t seq;
    return outbox_push_many (args->fixture->outbox, txn, args->peers, args->type,
                             args->case_id, &payload.base, args->fixture->now_ms, &seq);
}

static void
s_push_to (fixture_t *fixture, const char **peers, Zvh__V1__Envelope__Type type,
           const char *case_id)
{
    push_args_t args = { fixture, peers, type, case_id, 0 };
    assert_int_equal (store_write (fixture->store, s_push_typed, &args), 0);
}

static int
s_purge (MDB_txn *txn, void *arg)
{
    push_args_t *args = (push_args_t *) arg;
    return outbox_purge_case (args->fixture->outbox, txn, args->case_id, &args->stubbed);
}

static size_t
s_purge_case (fixture_t *fixture, const char *case_id)
{
    push_args_t args = { fixture, NULL, 0, case_id, 0 };
    assert_int_equal (store_write (fixture->store, s_purge, &args), 0);
    return args.stubbed;
}

#define SCAN_MAX 8
typedef struct {
    fixture_t *fixture;
    const char *peer;
    size_t count;
    bool purged [SCAN_MAX];
    size_t payload [SCAN_MAX];
    size_t signature [SCAN_MAX];
    int type [SCAN_MAX];
    uint64_t seq [SCAN_MAX];
} scan_t;

static int
s_visit (uint64_t link_seq, const uint8_t *bytes, size_t size, void *arg)
{
    scan_t *scan = (scan_t *) arg;
    assert_int_equal (link_seq, scan->count + 1);
    assert_true (scan->count < SCAN_MAX);
    Zvh__V1__Envelope *envelope = WIRE_DECODE (Zvh__V1__Envelope, zvh__v1__envelope,
                                               bytes, size);
    assert_non_null (envelope);
    scan->purged [scan->count] = envelope->purged;
    scan->payload [scan->count] = envelope->payload.len;
    scan->signature [scan->count] = envelope->signature.len;
    scan->type [scan->count] = envelope->type;
    scan->seq [scan->count] = envelope->seq;
    assert_int_equal (envelope->time_ms, scan->fixture->now_ms);
    scan->count++;
    wire_free (&envelope->base);
    return 0;
}

static int
s_scan_all (MDB_txn *txn, void *arg)
{
    scan_t *scan = (scan_t *) arg;
    return outbox_scan (scan->fixture->outbox, txn, scan->peer, 0, SIZE_MAX, s_visit, scan);
}

static void
s_scan (fixture_t *fixture, const char *peer, scan_t *scan)
{
    memset (scan, 0, sizeof *scan);
    scan->fixture = fixture;
    scan->peer = peer;
    assert_int_equal (store_read (fixture->store, s_scan_all, scan), 0);
}

typedef struct {
    fixture_t *fixture;
    const char *peer;
    uint64_t link_seq;
} peer_ack_t;

static int
s_ack_peer (MDB_txn *txn, void *arg)
{
    peer_ack_t *ack = (peer_ack_t *) arg;
    return outbox_ack (ack->fixture->outbox, txn, ack->peer, ack->link_seq);
}

static int
s_prune_peer (MDB_txn *txn, void *arg)
{
    peer_ack_t *ack = (peer_ack_t *) arg;
    return outbox_prune (ack->fixture->outbox, txn, ack->peer, ack->fixture->now_ms);
}

//  Records in the event log (below).
static uint64_t
s_event_records (fixture_t *fixture);

//  A purged plan leaves no copy in the outbox: what a peer acknowledged
//  becomes a stub at once (same id, type and time, no payload, no
//  signature), what is still on its way becomes one when acknowledged.
//  Other cases' entries and other types keep their content.
static void
test_a_purged_plan_leaves_only_stubs_in_the_outbox (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    outbox_set_retention (fixture->outbox, DAY_MS);
    const char *to_peer [] = { PEER, NULL };
    const char *to_both [] = { PEER, OTHER_PEER, NULL };
    s_push_to (fixture, to_peer, ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_OFFER, "C-1");
    s_push_to (fixture, to_peer, ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_REJECT, "C-1");
    s_push_to (fixture, to_peer, ZVH__V1__ENVELOPE__TYPE__TYPE_PLAN_UPDATE, "C-10");
    s_push_to (fixture, to_both, ZVH__V1__ENVELOPE__TYPE__TYPE_PLAN_PROPOSAL, "C-1");
    s_do (fixture, s_ack, 2, NULL);
    peer_ack_t other = { fixture, OTHER_PEER, 1 };
    assert_int_equal (store_write (fixture->store, s_ack_peer, &other), 0);

    assert_int_equal (s_purge_case (fixture, "C-1"), 2);
    scan_t scan;
    s_scan (fixture, PEER, &scan);
    assert_int_equal (scan.count, 4);
    assert_true (scan.purged [0]);          //  the offer, acknowledged
    assert_int_equal (scan.payload [0], 0);
    assert_int_equal (scan.signature [0], 0);
    assert_int_equal (scan.type [0], ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_OFFER);
    assert_int_equal (scan.seq [0], 1);
    assert_false (scan.purged [1]);         //  not a plan's content
    assert_true (scan.payload [1] > 0);
    assert_false (scan.purged [2]);         //  another case ("C-10", not "C-1")
    assert_false (scan.purged [3]);         //  still on its way to PEER
    assert_true (scan.payload [3] > 0);
    s_scan (fixture, OTHER_PEER, &scan);
    assert_int_equal (scan.count, 1);
    assert_true (scan.purged [0]);
    assert_int_equal (scan.seq [0], 4);

    assert_int_equal (s_event_records (fixture), 2);   //  the proposal, still on its way
    s_do (fixture, s_ack, 4, NULL);         //  PEER has it now: a stub too
    assert_int_equal (s_event_records (fixture), 0);   //  no copy of its bytes left
    s_scan (fixture, PEER, &scan);
    assert_true (scan.purged [3]);
    assert_int_equal (scan.payload [3], 0);
    assert_int_equal (scan.type [3], ZVH__V1__ENVELOPE__TYPE__TYPE_PLAN_PROPOSAL);
    assert_int_equal (scan.seq [3], 4);
    assert_false (scan.purged [2]);
    //  A restored peer is sent the stubs again, in their places
    uint64_t acked;
    s_do (fixture, s_rewind, 0, &acked);
    assert_int_equal (acked, 0);
    s_scan (fixture, PEER, &scan);
    assert_int_equal (scan.count, 4);
    assert_true (scan.purged [0] && scan.purged [3]);
    //  Nothing is left to purge; a later purge of the other case finds its
    //  own, on its way again since the rewind: a stub once acknowledged
    assert_int_equal (s_purge_case (fixture, "C-1"), 0);
    assert_int_equal (s_purge_case (fixture, "C-10"), 0);
    s_scan (fixture, PEER, &scan);
    assert_false (scan.purged [2]);
    s_do (fixture, s_ack, 4, NULL);
    s_scan (fixture, PEER, &scan);
    assert_true (scan.purged [2]);
}

//  The longest ids (63 characters each) still mark and purge their copies.
static void
test_the_longest_ids_are_purged_too (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    outbox_set_retention (fixture->outbox, DAY_MS);
    char case_id [64], peer [64];
    memset (case_id, 'c', sizeof case_id - 1);
    case_id [sizeof case_id - 1] = 0;
    memset (peer, 'p', sizeof peer - 1);
    peer [sizeof peer - 1] = 0;
    const char *to_peer [] = { peer, NULL };
    s_push_to (fixture, to_peer, ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_OFFER, case_id);
    assert_int_equal (s_purge_case (fixture, case_id), 0);     //  on its way: marked
    scan_t scan;
    s_scan (fixture, peer, &scan);
    assert_false (scan.purged [0]);
    peer_ack_t ack = { fixture, peer, 1 };
    assert_int_equal (store_write (fixture->store, s_ack_peer, &ack), 0);
    s_scan (fixture, peer, &scan);
    assert_int_equal (scan.count, 1);
    assert_true (scan.purged [0]);
}

//  ------------------------------------------------------------ event log

#define THIRD_PEER    "utrecht"

static int
s_count_events (MDB_txn *txn, void *arg)
{
    op_t *op = (op_t *) arg;
    op->result = store_entries (op->fixture->store, txn, STORE_DB_EVENTS);
    return 0;
}

//  Two records per event held: its envelope and its count.
static uint64_t
s_event_records (fixture_t *fixture)
{
    op_t op = { fixture, 0, 0 };
    assert_int_equal (store_read (fixture->store, s_count_events, &op), 0);
    return op.result;
}

typedef struct {
    fixture_t *fixture;
    const char *peer;
    uint64_t after;
    size_t count;
    zchunk_t *bytes [SCAN_MAX];
} copies_t;

static int
s_copy_visit (uint64_t link_seq, const uint8_t *bytes, size_t size, void *arg)
{
    (void) link_seq;
    copies_t *copies = (copies_t *) arg;
    assert_true (copies->count < SCAN_MAX);
    copies->bytes [copies->count++] = zchunk_new (bytes, size);
    return 0;
}

static int
s_copy_scan (MDB_txn *txn, void *arg)
{
    copies_t *copies = (copies_t *) arg;
    return outbox_scan (copies->fixture->outbox, txn, copies->peer, copies->after,
                        SIZE_MAX, s_copy_visit, copies);
}

//  What peer is sent after link seq `after`, as bytes.
static void
s_copies (fixture_t *fixture, const char *peer, uint64_t after, copies_t *copies)
{
    memset (copies, 0, sizeof *copies);
    copies->fixture = fixture;
    copies->peer = peer;
    copies->after = after;
    assert_int_equal (store_read (fixture->store, s_copy_scan, copies), 0);
}

static bool
s_same (zchunk_t *a, zchunk_t *b)
{
    return zchunk_size (a) == zchunk_size (b)
        && memcmp (zchunk_data (a), zchunk_data (b), zchunk_size (a)) == 0;
}

static void
s_copies_free (copies_t *copies)
{
    for (size_t i = 0; i < copies->count; i++)
        zchunk_destroy (&copies->bytes [i]);
}

static void
s_ack_one (fixture_t *fixture, const char *peer, uint64_t link_seq)
{
    peer_ack_t ack = { fixture, peer, link_seq };
    assert_int_equal (store_write (fixture->store, s_ack_peer, &ack), 0);
}

//  An event for many peers is stored once; each peer is sent the same
//  signed bytes, and the copy goes with the last peer's acknowledgement.
static void
test_an_event_for_many_peers_is_stored_once (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    const char *to_all [] = { PEER, OTHER_PEER, THIRD_PEER, NULL };
    const char *to_one [] = { OTHER_PEER, NULL };
    s_push_to (fixture, to_all, ZVH__V1__ENVELOPE__TYPE__TYPE_SIGNAL_RAISE, "C-1");
    s_push_to (fixture, to_one, ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_REJECT, "C-2");
    s_push_to (fixture, to_all, ZVH__V1__ENVELOPE__TYPE__TYPE_SIGNAL_RAISE, "C-3");
    assert_int_equal (s_event_records (fixture), 4);   //  not one per peer

    copies_t first, other, third;
    s_copies (fixture, PEER, 0, &first);
    s_copies (fixture, OTHER_PEER, 0, &other);
    s_copies (fixture, THIRD_PEER, 0, &third);
    assert_int_equal (first.count, 2);
    assert_int_equal (other.count, 3);
    assert_int_equal (third.count, 2);
    assert_true (s_same (first.bytes [0], other.bytes [0]));
    assert_true (s_same (first.bytes [0], third.bytes [0]));
    assert_true (s_same (first.bytes [1], other.bytes [2]));
    assert_false (s_same (first.bytes [0], first.bytes [1]));
    Zvh__V1__Envelope *envelope = WIRE_DECODE (Zvh__V1__Envelope, zvh__v1__envelope,
                                               zchunk_data (other.bytes [1]),
                                               zchunk_size (other.bytes [1]));
    assert_non_null (envelope);             //  held in the entry itself
    assert_string_equal (envelope->case_id, "C-2");
    wire_free (&envelope->base);

    s_ack_one (fixture, PEER, 2);           //  no retention: deleted on ack
    s_ack_one (fixture, OTHER_PEER, 3);
    assert_int_equal (s_event_records (fixture), 4);   //  THIRD_PEER has neither yet
    copies_t left;
    s_copies (fixture, THIRD_PEER, 0, &left);
    assert_int_equal (left.count, 2);
    assert_true (s_same (left.bytes [1], third.bytes [1]));
    s_copies_free (&left);
    s_ack_one (fixture, THIRD_PEER, 1);
    assert_int_equal (s_event_records (fixture), 2);
    s_ack_one (fixture, THIRD_PEER, 2);
    assert_int_equal (s_event_records (fixture), 0);
    s_copies_free (&first);
    s_copies_free (&other);
    s_copies_free (&third);
}

//  With retention the shared copy stays for a restored peer, and goes when
//  the last peer's entry is pruned.
static void
test_the_shared_copy_is_kept_for_a_rewind_and_pruned_with_the_last_entry (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    outbox_set_retention (fixture->outbox, DAY_MS);
    const char *to_both [] = { PEER, OTHER_PEER, NULL };
    s_push_to (fixture, to_both, ZVH__V1__ENVELOPE__TYPE__TYPE_SIGNAL_RAISE, "C-1");
    copies_t before;
    s_copies (fixture, PEER, 0, &before);
    s_ack_one (fixture, PEER, 1);
    s_ack_one (fixture, OTHER_PEER, 1);
    s_do (fixture, s_prune, 0, NULL);
    assert_int_equal (s_event_records (fixture), 2);
    uint64_t acked;
    s_do (fixture, s_rewind, 0, &acked);    //  PEER was restored
    assert_int_equal (acked, 0);
    copies_t again;
    s_copies (fixture, PEER, 0, &again);
    assert_int_equal (again.count, 1);
    assert_true (s_same (again.bytes [0], before.bytes [0]));
    s_copies_free (&again);
    s_ack_one (fixture, PEER, 1);
    fixture->now_ms += 2 * DAY_MS;
    s_do (fixture, s_prune, 0, NULL);       //  PEER's entry goes, OTHER_PEER's stays
    assert_int_equal (s_event_records (fixture), 2);
    peer_ack_t other = { fixture, OTHER_PEER, 0 };
    assert_int_equal (store_write (fixture->store, s_prune_peer, &other), 0);
    assert_int_equal (s_event_records (fixture), 0);
    s_copies_free (&before);
}

static int
s_count_marks (MDB_txn *txn, void *arg)
{
    op_t *op = (op_t *) arg;
    MDB_cursor *cursor;
    assert_int_equal (mdb_cursor_open (txn, store_dbi (op->fixture->store, STORE_DB_META),
                                       &cursor), 0);
    const char *prefix = "pcopy:";
    MDB_val key = { strlen (prefix), (void *) prefix }, value;
    int rc = mdb_cursor_get (cursor, &key, &value, MDB_SET_RANGE);
    for (op->result = 0; rc == 0 && key.mv_size > strlen (prefix)
                         && memcmp (key.mv_data, prefix, strlen (prefix)) == 0; op->result++)
        rc = mdb_cursor_get (cursor, &key, &value, MDB_NEXT);
    mdb_cursor_close (cursor);
    return 0;
}

//  The marks a purge looks for, of every case.
static uint64_t
s_plan_marks (fixture_t *fixture)
{
    op_t op = { fixture, 0, 0 };
    assert_int_equal (store_read (fixture->store, s_count_marks, &op), 0);
    return op.result;
}

//  A case that is never purged gathers no marks: each goes with its entry,
//  at the acknowledgement or when the retention prunes it.
static void
test_plan_marks_go_with_their_entries (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    const char *to_peer [] = { PEER, NULL };
    const char *to_both [] = { PEER, OTHER_PEER, NULL };
    s_push_to (fixture, to_peer, ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_OFFER, "C-1");
    s_push_to (fixture, to_both, ZVH__V1__ENVELOPE__TYPE__TYPE_PLAN_PROPOSAL, "C-1");
    s_push_to (fixture, to_peer, ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_REJECT, "C-1");
    assert_int_equal (s_plan_marks (fixture), 3);
    s_ack_one (fixture, PEER, 3);           //  no retention: gone on ack
    assert_int_equal (s_plan_marks (fixture), 1);
    outbox_set_retention (fixture->outbox, DAY_MS);
    s_ack_one (fixture, OTHER_PEER, 1);     //  kept for the retention
    assert_int_equal (s_plan_marks (fixture), 1);
    fixture->now_ms += 2 * DAY_MS;
    peer_ack_t other = { fixture, OTHER_PEER, 0 };
    assert_int_equal (store_write (fixture->store, s_prune_peer, &other), 0);
    assert_int_equal (s_plan_marks (fixture), 0);
    assert_int_equal (s_event_records (fixture), 0);
}

int
main (void)
{
    zsys_init ();
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_ack_without_retention_deletes,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_retention_keeps_acked_entries_for_a_rewind,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (
            test_start_moves_seqs_past_the_clock_and_a_backup_begins_an_incarnation,
            s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_a_peer_that_has_more_of_us_begins_an_incarnation,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_a_purged_plan_leaves_only_stubs_in_the_outbox,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_the_longest_ids_are_purged_too,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_an_event_for_many_peers_is_stored_once,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_plan_marks_go_with_their_entries,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (
            test_the_shared_copy_is_kept_for_a_rewind_and_pruned_with_the_last_entry,
            s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
