/*  test_transfer: the handover state machine, region by region, with real
 *  LMDB stores and the events carried between them by hand (no sockets:
 *  the links are tested by the integration tests).
 */
#include "transfer.h"
#include "zvh/zvh.h"
#include <czmq.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "test_dir.h"
#include "test_plan.h"

#define NODES        3
#define NOW_MS       1700000000000LL
#define JOINT_S      60
#define TEST_MAP_MB  8
#define TEST_MAX_MB  64

static const char *s_names [NODES] = { "groningen", "drenthe", "utrecht" };

typedef struct {
    config_t *config;
    store_t *store;
    outbox_t *outbox;
    transfer_t *transfer;
} node_t;

typedef struct {
    char dir [64];
    node_t nodes [NODES];
} world_t;

static void
s_fill_directory (config_t *config)
{
    const char *all [] = { "groningen", "drenthe", "utrecht", "fryslan" };
    for (size_t i = 0; i < 4; i++) {
        config_region_t *region = &config->regions [i];
        snprintf (region->id, sizeof region->id, "%s", all [i]);
        if (i < NODES) {       //  fryslan stays a placeholder
            snprintf (region->endpoint, sizeof region->endpoint, "tcp://127.0.0.1:%zu", 9000 + i);
            memset (region->public_key, 'a' + (int) i, CONFIG_KEY_Z85_LEN);
        }
    }
    config->region_count = 4;
}

static int
s_setup (void **state)
{
    world_t *world = (world_t *) calloc (1, sizeof (world_t));
    assert_true (test_dir_make (world->dir, sizeof world->dir, "transfer"));
    for (size_t i = 0; i < NODES; i++) {
        node_t *node = &world->nodes [i];
        node->config = (config_t *) calloc (1, sizeof (config_t));
        snprintf (node->config->region, sizeof node->config->region, "%s", s_names [i]);
        node->config->joint_phase_s = JOINT_S;
        s_fill_directory (node->config);
        char path [128];
        snprintf (path, sizeof path, "%s/%s", world->dir, s_names [i]);
        node->store = store_new (path, s_names [i], TEST_MAP_MB, TEST_MAX_MB);
        assert_non_null (node->store);
        node->outbox = outbox_new (node->store, s_names [i], NULL);
        node->transfer = transfer_new (node->store, node->outbox, node->config);
    }
    *state = world;
    return 0;
}

static int
s_teardown (void **state)
{
    world_t *world = (world_t *) *state;
    for (size_t i = 0; i < NODES; i++) {
        node_t *node = &world->nodes [i];
        transfer_destroy (&node->transfer);
        outbox_destroy (&node->outbox);
        store_destroy (&node->store);
        free (node->config);
    }
    test_dir_remove (world->dir);
    free (world);
    return 0;
}

//  ---------------------------------------------------------------- plans


//  ---------------------------------------------------------------- operations

typedef struct {
    node_t *node;
    const char *case_id;
    const char *target;
    const uint8_t *plan;
    size_t plan_size;
    int64_t now_ms;
    char out [ZVH_ID_MAX];
    int which;
} op_t;

enum { OP_INCLUDE, OP_MOVE, OP_COMPLETE, OP_UPDATE, OP_CLOSE, OP_EXPIRE };

static int
s_op_fn (MDB_txn *txn, void *arg)
{
    op_t *op = (op_t *) arg;
    transfer_t *transfer = op->node->transfer;
    switch (op->which) {
        case OP_INCLUDE:
            return transfer_include (transfer, txn, op->case_id, op->plan,
                                     op->plan_size, op->now_ms, op->out);
        case OP_MOVE:
            return transfer_move (transfer, txn, op->case_id, op->target, op->now_ms);
        case OP_COMPLETE:
            return transfer_complete (transfer, txn, op->case_id, op->now_ms);
        case OP_UPDATE:
            return transfer_plan_update (transfer, txn, op->case_id, op->plan,
                                         op->plan_size, op->now_ms);
        case OP_CLOSE:
            return transfer_close (transfer, txn, op->case_id, op->now_ms);
        default:
            return transfer_expire (transfer, txn, op->now_ms);
    }
}

static int
s_run (node_t *node, int which, const char *case_id, const char *target,
       const uint8_t *plan, size_t plan_size)
{
    op_t op = { node, case_id, target, plan, plan_size, NOW_MS, "", which };
    return store_write (node->store, s_op_fn, &op);
}

static int
s_include (node_t *node, const char *case_id, const char *summary)
{
    size_t size;
    uint8_t *plan = test_plan (summary, ZVH__V1__LEGAL_BASIS__ROUTE__ROUTE_CONSENT, &size);
    int rc = s_run (node, OP_INCLUDE, case_id, NULL, plan, size);
    free (plan);
    return rc;
}

static int
s_update (node_t *node, const char *case_id, const char *summary)
{
    size_t size;
    uint8_t *plan = test_plan (summary, ZVH__V1__LEGAL_BASIS__ROUTE__ROUTE_CONSENT, &size);
    int rc = s_run (node, OP_UPDATE, case_id, NULL, plan, size);
    free (plan);
    return rc;
}

//  ---------------------------------------------------------------- carrying events

typedef struct {
    zlist_t *frames;
    uint64_t last;
} collect_t;

static int
s_collect (uint64_t link_seq, const uint8_t *envelope, size_t size, void *arg)
{
    collect_t *collect = (collect_t *) arg;
    zlist_append (collect->frames, zframe_new (envelope, size));
    collect->last = link_seq;
    return 0;
}

typedef struct {
    node_t *from;
    node_t *to;
    collect_t collect;
} carry_t;

static int
s_scan_fn (MDB_txn *txn, void *arg)
{
    carry_t *carry = (carry_t *) arg;
    return outbox_scan (carry->from->outbox, txn, carry->to->config->region,
                        outbox_acked (carry->from->outbox, txn, carry->to->config->region),
                        SIZE_MAX, s_collect, &carry->collect);
}

static int
s_apply_fn (MDB_txn *txn, void *arg)
{
    carry_t *carry = (carry_t *) arg;
    for (zframe_t *frame = (zframe_t *) zlist_first (carry->collect.frames); frame;
         frame = (zframe_t *) zlist_next (carry->collect.frames)) {
        Zvh__V1__Envelope *envelope = WIRE_DECODE (Zvh__V1__Envelope, zvh__v1__envelope,
                                                   zframe_data (frame), zframe_size (frame));
        assert_non_null (envelope);
        outbox_relay_t relay;
        memset (&relay, 0, sizeof relay);
        int rc = transfer_apply (carry->to->transfer, txn, carry->from->config->region,
                                 envelope, &relay, NOW_MS);
        wire_free (&envelope->base);
        if (rc)
            return rc;
    }
    return 0;
}

static int
s_ack_fn (MDB_txn *txn, void *arg)
{
    carry_t *carry = (carry_t *) arg;
    return outbox_ack (carry->from->outbox, txn, carry->to->config->region,
                       carry->collect.last);
}

//  Deliver everything queued at from for to; returns the number of events.
static size_t
s_carry (node_t *from, node_t *to)
{
    carry_t carry = { from, to, { zlist_new (), 0 } };
    assert_int_equal (store_read (from->store, s_scan_fn, &carry), 0);
    size_t count = zlist_size (carry.collect.frames);
    if (count) {
        assert_int_equal (store_write (to->store, s_apply_fn, &carry), 0);
        assert_int_equal (store_write (from->store, s_ack_fn, &carry), 0);
    }
    zframe_t *frame;
    while ((frame = (zframe_t *) zlist_pop (carry.collect.frames)))
        zframe_destroy (&frame);
    zlist_destroy (&carry.collect.frames);
    return count;
}

//  Carry events between every pair until nothing moves.
static void
s_settle (world_t *world)
{
    size_t moved;
    do {
        moved = 0;
        for (size_t a = 0; a < NODES; a++)
            for (size_t b = 0; b < NODES; b++)
                if (a != b)
                    moved += s_carry (&world->nodes [a], &world->nodes [b]);
    } while (moved);
}

//  ---------------------------------------------------------------- inspection

typedef struct {
    node_t *node;
    const char *case_id;
    int state;
    char owner [ZVH_ID_MAX];
    uint64_t version;
    uint8_t hash [32];
    bool has_plan;
} look_t;

static int
s_look_fn (MDB_txn *txn, void *arg)
{
    look_t *look = (look_t *) arg;
    Zvh__V1__Case *found = transfer_case (look->node->transfer, txn, look->case_id);
    if (!found)
        return 0;
    look->state = found->state;
    snprintf (look->owner, sizeof look->owner, "%s", found->owner);
    look->version = found->plan_version;
    MDB_val plan;
    look->has_plan = transfer_plan (look->node->transfer, txn, look->case_id, &plan) == 0;
    if (look->has_plan)
        wire_hash (plan.mv_data, plan.mv_size, look->hash);
    wire_free (&found->base);
    return 0;
}

static look_t
s_look (node_t *node, const char *case_id)
{
    look_t look = { node, case_id, 0, "", 0, { 0 }, false };
    assert_int_equal (store_read (node->store, s_look_fn, &look), 0);
    return look;
}

#define STATE(n) ZVH__V1__CASE_STATE__CASE_##n

//  ---------------------------------------------------------------- tests

static void
test_include_makes_an_active_case_at_version_one (void **state)
{
    world_t *world = (world_t *) *state;
    node_t *groningen = &world->nodes [0];
    assert_int_equal (s_include (groningen, "c-1", "plan"), 0);
    look_t look = s_look (groningen, "c-1");
    assert_int_equal (look.state, STATE (ACTIVE));
    assert_string_equal (look.owner, "groningen");
    assert_int_equal (look.version, 1);
    assert_true (look.has_plan);
}

static void
test_include_refuses_bad_input (void **state)
{
    world_t *world = (world_t *) *state;
    node_t *groningen = &world->nodes [0];
    assert_int_equal (s_include (groningen, "has space", "p"), ZVH_E_BAD_REQUEST);
    assert_int_equal (s_include (groningen, "c-1", "p"), 0);
    assert_int_equal (s_include (groningen, "c-1", "p"), ZVH_E_CONFLICT);
    size_t size;
    uint8_t *plan = test_plan ("no route", ZVH__V1__LEGAL_BASIS__ROUTE__ROUTE_UNSPECIFIED, &size);
    assert_int_equal (s_run (groningen, OP_INCLUDE, "c-2", NULL, plan, size),
                      ZVH_E_BAD_REQUEST);
    free (plan);
    uint8_t garbage [] = { 0xff, 0xff, 0xff };
    assert_int_equal (s_run (groningen, OP_INCLUDE, "c-3", NULL, garbage, sizeof garbage),
                      ZVH_E_BAD_REQUEST);
}

static void
test_generated_case_id_is_pseudonymous_and_unique (void **state)
{
    world_t *world = (world_t *) *state;
    node_t *groningen = &world->nodes [0];
    size_t size;
    uint8_t *plan = test_plan ("p", ZVH__V1__LEGAL_BASIS__ROUTE__ROUTE_CONSENT, &size);
    op_t first = { groningen, "", NULL, plan, size, NOW_MS, "", OP_INCLUDE };
    op_t second = first;
    assert_int_equal (store_write (groningen->store, s_op_fn, &first), 0);
    assert_int_equal (store_write (groningen->store, s_op_fn, &second), 0);
    assert_true (strncmp (first.out, "groningen-", 10) == 0);
    assert_string_not_equal (first.out, second.out);
    free (plan);
}

static void
test_handover_delivers_plan_byte_identical_and_starts_joint_phase (void **state)
{
    world_t *world = (world_t *) *state;
    node_t *groningen = &world->nodes [0], *drenthe = &world->nodes [1];
    assert_int_equal (s_include (groningen, "c-1", "plan"), 0);
    look_t before = s_look (groningen, "c-1");
    assert_int_equal (s_run (groningen, OP_MOVE, "c-1", "drenthe", NULL, 0), 0);
    assert_int_equal (s_look (groningen, "c-1").state, STATE (OFFERED));
    assert_int_equal (s_carry (groningen, drenthe), 1);
    look_t target = s_look (drenthe, "c-1");
    assert_int_equal (target.state, STATE (JOINT_TARGET));
    assert_string_equal (target.owner, "drenthe");
    assert_int_equal (target.version, before.version);
    assert_memory_equal (target.hash, before.hash, 32);
    assert_int_equal (s_carry (drenthe, groningen), 1);        //  the accept
    look_t source = s_look (groningen, "c-1");
    assert_int_equal (source.state, STATE (JOINT_SOURCE));
    assert_string_equal (source.owner, "drenthe");
    assert_true (source.has_plan);
}

static void
test_move_refusals_say_why (void **state)
{
    world_t *world = (world_t *) *state;
    node_t *groningen = &world->nodes [0], *drenthe = &world->nodes [1];
    assert_int_equal (s_run (groningen, OP_MOVE, "nope", "drenthe", NULL, 0), ZVH_E_NOT_FOUND);
    assert_int_equal (s_include (groningen, "c-1", "plan"), 0);
    assert_int_equal (s_run (groningen, OP_MOVE, "c-1", "atlantis", NULL, 0),
                      ZVH_E_UNKNOWN_REGION);
    assert_int_equal (s_run (groningen, OP_MOVE, "c-1", "fryslan", NULL, 0),
                      ZVH_E_UNKNOWN_REGION);
    assert_non_null (strstr (transfer_error (groningen->transfer), "no endpoint"));
    assert_int_equal (s_run (groningen, OP_MOVE, "c-1", "groningen", NULL, 0),
                      ZVH_E_BAD_REQUEST);
    assert_int_equal (s_run (groningen, OP_MOVE, "c-1", "drenthe", NULL, 0), 0);
    assert_int_equal (s_run (groningen, OP_MOVE, "c-1", "utrecht", NULL, 0), ZVH_E_CONFLICT);
    assert_non_null (strstr (transfer_error (groningen->transfer), "mid-handover"));
    s_settle (world);
    assert_int_equal (s_run (groningen, OP_MOVE, "c-1", "utrecht", NULL, 0), ZVH_E_CONFLICT);
    assert_non_null (strstr (transfer_error (groningen->transfer), "owner is drenthe"));
    (void) drenthe;
}

static void
test_offer_for_a_case_owned_by_the_target_is_rejected (void **state)
{
    world_t *world = (world_t *) *state;
    node_t *groningen = &world->nodes [0], *drenthe = &world->nodes [1];
    assert_int_equal (s_include (groningen, "c-1", "g"), 0);
    assert_int_equal (s_include (drenthe, "c-1", "d"), 0);
    assert_int_equal (s_run (groningen, OP_MOVE, "c-1", "drenthe", NULL, 0), 0);
    s_settle (world);
    assert_int_equal (s_look (groningen, "c-1").state, STATE (ACTIVE));
    assert_int_equal (s_look (drenthe, "c-1").state, STATE (ACTIVE));
}

static void
test_plan_update_at_owner_reaches_the_source (void **state)
{
    world_t *world = (world_t *) *state;
    node_t *groningen = &world->nodes [0], *drenthe = &world->nodes [1];
    assert_int_equal (s_include (groningen, "c-1", "v1"), 0);
    assert_int_equal (s_run (groningen, OP_MOVE, "c-1", "drenthe", NULL, 0), 0);
    s_settle (world);
    assert_int_equal (s_update (drenthe, "c-1", "v2"), 0);
    s_settle (world);
    look_t owner = s_look (drenthe, "c-1"), source = s_look (groningen, "c-1");
    assert_int_equal (owner.version, 2);
    assert_int_equal (source.version, 2);
    assert_memory_equal (owner.hash, source.hash, 32);
}

static void
test_edit_at_source_becomes_next_version_at_owner_exactly_once (void **state)
{
    world_t *world = (world_t *) *state;
    node_t *groningen = &world->nodes [0], *drenthe = &world->nodes [1];
    assert_int_equal (s_include (groningen, "c-1", "v1"), 0);
    assert_int_equal (s_run (groningen, OP_MOVE, "c-1", "drenthe", NULL, 0), 0);
    s_settle (world);
    assert_int_equal (s_update (groningen, "c-1", "from source a"), 0);
    assert_int_equal (s_update (groningen, "c-1", "from source b"), 0);
    assert_int_equal (s_update (drenthe, "c-1", "from owner"), 0);
    s_settle (world);
    look_t owner = s_look (drenthe, "c-1"), source = s_look (groningen, "c-1");
    assert_int_equal (owner.version, 4);
    assert_int_equal (source.version, 4);
    assert_memory_equal (owner.hash, source.hash, 32);
}

static void
test_complete_leaves_a_tombstone_without_plan_at_source (void **state)
{
    world_t *world = (world_t *) *state;
    node_t *groningen = &world->nodes [0], *drenthe = &world->nodes [1];
    assert_int_equal (s_include (groningen, "c-1", "v1"), 0);
    assert_int_equal (s_run (groningen, OP_MOVE, "c-1", "drenthe", NULL, 0), 0);
    s_settle (world);
    assert_int_equal (s_run (drenthe, OP_COMPLETE, "c-1", NULL, NULL, 0), 0);
    s_settle (world);
    look_t source = s_look (groningen, "c-1");
    assert_int_equal (source.state, STATE (TOMBSTONE));
    assert_false (source.has_plan);
    assert_int_equal (s_look (drenthe, "c-1").state, STATE (ACTIVE));
    assert_int_equal (s_run (drenthe, OP_COMPLETE, "c-1", NULL, NULL, 0), ZVH_E_CONFLICT);
}

static void
test_complete_from_the_source_side_works_too (void **state)
{
    world_t *world = (world_t *) *state;
    node_t *groningen = &world->nodes [0], *drenthe = &world->nodes [1];
    assert_int_equal (s_include (groningen, "c-1", "v1"), 0);
    assert_int_equal (s_run (groningen, OP_MOVE, "c-1", "drenthe", NULL, 0), 0);
    s_settle (world);
    assert_int_equal (s_run (groningen, OP_COMPLETE, "c-1", NULL, NULL, 0), 0);
    assert_int_equal (s_run (drenthe, OP_COMPLETE, "c-1", NULL, NULL, 0), 0);   //  at once
    s_settle (world);
    assert_int_equal (s_look (groningen, "c-1").state, STATE (TOMBSTONE));
    assert_int_equal (s_look (drenthe, "c-1").state, STATE (ACTIVE));
}

static void
test_chained_move_during_joint_phase_ends_the_first_one (void **state)
{
    world_t *world = (world_t *) *state;
    node_t *groningen = &world->nodes [0], *drenthe = &world->nodes [1];
    node_t *utrecht = &world->nodes [2];
    assert_int_equal (s_include (groningen, "c-1", "v1"), 0);
    look_t original = s_look (groningen, "c-1");
    assert_int_equal (s_run (groningen, OP_MOVE, "c-1", "drenthe", NULL, 0), 0);
    s_settle (world);
    assert_int_equal (s_run (drenthe, OP_MOVE, "c-1", "utrecht", NULL, 0), 0);
    s_settle (world);
    assert_int_equal (s_look (groningen, "c-1").state, STATE (TOMBSTONE));
    assert_int_equal (s_look (drenthe, "c-1").state, STATE (JOINT_SOURCE));
    look_t owner = s_look (utrecht, "c-1");
    assert_int_equal (owner.state, STATE (JOINT_TARGET));
    assert_memory_equal (owner.hash, original.hash, 32);
    //  And back to the first region, which holds only a tombstone
    assert_int_equal (s_run (utrecht, OP_MOVE, "c-1", "groningen", NULL, 0), 0);
    s_settle (world);
    assert_int_equal (s_look (groningen, "c-1").state, STATE (JOINT_TARGET));
    assert_int_equal (s_look (drenthe, "c-1").state, STATE (TOMBSTONE));
    assert_int_equal (s_look (utrecht, "c-1").state, STATE (JOINT_SOURCE));
}

static void
test_joint_phase_ends_by_itself_when_due (void **state)
{
    world_t *world = (world_t *) *state;
    node_t *groningen = &world->nodes [0], *drenthe = &world->nodes [1];
    assert_int_equal (s_include (groningen, "c-1", "v1"), 0);
    assert_int_equal (s_run (groningen, OP_MOVE, "c-1", "drenthe", NULL, 0), 0);
    s_settle (world);
    op_t early = { drenthe, NULL, NULL, NULL, 0, NOW_MS + 1000, "", OP_EXPIRE };
    assert_int_equal (store_write (drenthe->store, s_op_fn, &early), 0);
    assert_int_equal (s_look (drenthe, "c-1").state, STATE (JOINT_TARGET));
    assert_int_equal (transfer_next_expiry (drenthe->transfer), NOW_MS + JOINT_S * 1000);
    op_t due = { drenthe, NULL, NULL, NULL, 0, NOW_MS + JOINT_S * 1000, "", OP_EXPIRE };
    assert_int_equal (store_write (drenthe->store, s_op_fn, &due), 0);
    s_settle (world);
    assert_int_equal (s_look (drenthe, "c-1").state, STATE (ACTIVE));
    assert_int_equal (s_look (groningen, "c-1").state, STATE (TOMBSTONE));
}

static void
test_edits_are_refused_where_the_case_is_not_owned (void **state)
{
    world_t *world = (world_t *) *state;
    node_t *groningen = &world->nodes [0];
    assert_int_equal (s_include (groningen, "c-1", "v1"), 0);
    assert_int_equal (s_run (groningen, OP_MOVE, "c-1", "drenthe", NULL, 0), 0);
    assert_int_equal (s_update (groningen, "c-1", "frozen"), ZVH_E_CONFLICT);
    s_settle (world);
    assert_int_equal (s_run (groningen, OP_COMPLETE, "c-1", NULL, NULL, 0), 0);
    s_settle (world);
    assert_int_equal (s_update (groningen, "c-1", "tombstone"), ZVH_E_CONFLICT);
}

//  An event sent again (the link resends after a lost ack) must not apply
//  twice; the federation layer dedups by id, and the state machine itself
//  drops answers that no longer match.
static void
test_stale_answers_are_dropped (void **state)
{
    world_t *world = (world_t *) *state;
    node_t *groningen = &world->nodes [0], *drenthe = &world->nodes [1];
    assert_int_equal (s_include (groningen, "c-1", "v1"), 0);
    assert_int_equal (s_run (groningen, OP_MOVE, "c-1", "drenthe", NULL, 0), 0);
    s_settle (world);
    Zvh__V1__TransferAccept accept = ZVH__V1__TRANSFER_ACCEPT__INIT;
    accept.transfer_id = "t-bogus";
    accept.case_id = "c-1";
    Zvh__V1__Envelope envelope = ZVH__V1__ENVELOPE__INIT;
    envelope.origin = "drenthe";
    envelope.seq = 999;
    envelope.type = ZVH__V1__ENVELOPE__TYPE__TYPE_TRANSFER_ACCEPT;
    envelope.case_id = "c-1";
    envelope.payload.data = wire_encode (&accept.base, &envelope.payload.len);
    carry_t carry = { drenthe, groningen, { zlist_new (), 0 } };
    size_t size;
    uint8_t *bytes = wire_encode (&envelope.base, &size);
    zlist_append (carry.collect.frames, zframe_new (bytes, size));
    look_t before = s_look (groningen, "c-1");
    assert_int_equal (store_write (groningen->store, s_apply_fn, &carry), 0);
    look_t after = s_look (groningen, "c-1");
    assert_int_equal (after.state, before.state);
    zframe_t *frame = (zframe_t *) zlist_pop (carry.collect.frames);
    zframe_destroy (&frame);
    zlist_destroy (&carry.collect.frames);
    free (bytes);
    free (envelope.payload.data);
}

//  The kept counters against the states of the given cases, at every node.
typedef struct {
    node_t *node;
    uint64_t counts [ZVH_CASE_STATES + 1];
} counts_t;

static int
s_counts_fn (MDB_txn *txn, void *arg)
{
    counts_t *counts = (counts_t *) arg;
    return transfer_count_states (counts->node->transfer, txn, counts->counts);
}

static void
s_assert_counts (world_t *world, const char **case_ids)
{
    for (size_t i = 0; i < NODES; i++) {
        uint64_t want [ZVH_CASE_STATES + 1] = { 0 };
        for (const char **id = case_ids; *id; id++) {
            int state = s_look (&world->nodes [i], *id).state;
            if (state)
                want [state]++;
        }
        counts_t got = { &world->nodes [i], { 0 } };
        assert_int_equal (store_read (world->nodes [i].store, s_counts_fn, &got), 0);
        for (int state = 1; state <= ZVH_CASE_STATES; state++)
            assert_int_equal (got.counts [state], want [state]);
    }
}

//  A store from before the counters: no "cases_counted", stale numbers.
static int
s_forget_counts_fn (MDB_txn *txn, void *arg)
{
    node_t *node = (node_t *) arg;
    int rc = store_set_meta_u64 (node->store, txn, "cases_counted", 0);
    return rc ? rc : store_set_meta_u64 (node->store, txn, "cases:1", 999);
}

static int
s_drift_counts_fn (MDB_txn *txn, void *arg)
{
    node_t *node = (node_t *) arg;
    return store_set_meta_u64 (node->store, txn, "cases:5", 777);
}

static void
test_state_counts_follow_every_change (void **state)
{
    world_t *world = (world_t *) *state;
    node_t *groningen = &world->nodes [0], *drenthe = &world->nodes [1];
    node_t *utrecht = &world->nodes [2];
    const char *ids [] = { "c-1", "c-2", "c-3", NULL };
    for (size_t i = 0; i < NODES; i++)
        assert_int_equal (transfer_start (world->nodes [i].transfer), 0);
    assert_int_equal (s_include (groningen, "c-1", "v1"), 0);
    assert_int_equal (s_include (drenthe, "c-2", "v1"), 0);
    assert_int_equal (s_include (groningen, "c-3", "v1"), 0);
    s_assert_counts (world, ids);
    assert_int_equal (s_run (groningen, OP_MOVE, "c-1", "drenthe", NULL, 0), 0);
    s_assert_counts (world, ids);           //  offered, before the target hears
    s_settle (world);
    s_assert_counts (world, ids);
    assert_int_equal (s_run (drenthe, OP_MOVE, "c-1", "utrecht", NULL, 0), 0);
    s_settle (world);
    assert_int_equal (s_run (utrecht, OP_MOVE, "c-1", "groningen", NULL, 0), 0);
    s_settle (world);
    s_assert_counts (world, ids);
    assert_int_equal (s_run (groningen, OP_COMPLETE, "c-1", NULL, NULL, 0), 0);
    assert_int_equal (s_run (drenthe, OP_CLOSE, "c-2", NULL, NULL, 0), 0);
    s_settle (world);
    s_assert_counts (world, ids);
    assert_int_equal (s_look (drenthe, "c-2").state, STATE (CLOSED));
    //  Without the counters the states are counted by walking, and the
    //  start counts them afresh and keeps them from then on
    assert_int_equal (store_write (groningen->store, s_forget_counts_fn, groningen), 0);
    s_assert_counts (world, ids);
    assert_int_equal (transfer_start (groningen->transfer), 0);
    s_assert_counts (world, ids);
    //  Counters that drifted (kept by another binary) are right after a start
    assert_int_equal (store_write (groningen->store, s_drift_counts_fn, groningen), 0);
    assert_int_equal (transfer_start (groningen->transfer), 0);
    s_assert_counts (world, ids);
    assert_int_equal (s_run (groningen, OP_MOVE, "c-3", "utrecht", NULL, 0), 0);
    s_settle (world);
    s_assert_counts (world, ids);
}

//  A change refused after it saved a case (as a control batch undoes one
//  request in its nested transaction) leaves the counters as they were,
//  while the batch's other changes count.
typedef struct {
    op_t first;         //  undone: its nested transaction is aborted
    op_t second;        //  kept
} nested_pair_t;

static int
s_then_refuse_fn (MDB_txn *txn, void *arg)
{
    int rc = s_op_fn (txn, arg);
    return rc ? rc : ZVH_E_CONFLICT;
}

static int
s_nested_pair_fn (MDB_txn *txn, void *arg)
{
    nested_pair_t *pair = (nested_pair_t *) arg;
    store_t *store = pair->first.node->store;
    int rc = store_nested (store, txn, s_then_refuse_fn, &pair->first);
    if (rc != ZVH_E_CONFLICT)
        return rc ? rc : ZVH_E_STORE;
    return store_nested (store, txn, s_op_fn, &pair->second);
}

static void
test_state_counts_undone_with_a_refused_nested_change (void **state)
{
    world_t *world = (world_t *) *state;
    node_t *groningen = &world->nodes [0];
    const char *ids [] = { "c-1", "c-2", "c-3", NULL };
    for (size_t i = 0; i < NODES; i++)
        assert_int_equal (transfer_start (world->nodes [i].transfer), 0);
    assert_int_equal (s_include (groningen, "c-1", "v1"), 0);
    size_t size;
    uint8_t *plan = test_plan ("v1", ZVH__V1__LEGAL_BASIS__ROUTE__ROUTE_CONSENT, &size);
    nested_pair_t pair = {
        { groningen, "c-2", NULL, plan, size, NOW_MS, "", OP_INCLUDE },
        { groningen, "c-3", NULL, plan, size, NOW_MS, "", OP_INCLUDE } };
    assert_int_equal (store_write (groningen->store, s_nested_pair_fn, &pair), 0);
    free (plan);
    assert_int_equal (s_look (groningen, "c-2").state, 0);
    assert_int_equal (s_look (groningen, "c-3").state, STATE (ACTIVE));
    s_assert_counts (world, ids);
    //  A move undone the same way leaves c-1 counted as active
    nested_pair_t moves = {
        { groningen, "c-1", "drenthe", NULL, 0, NOW_MS, "", OP_MOVE },
        { groningen, "c-3", "utrecht", NULL, 0, NOW_MS, "", OP_MOVE } };
    assert_int_equal (store_write (groningen->store, s_nested_pair_fn, &moves), 0);
    assert_int_equal (s_look (groningen, "c-1").state, STATE (ACTIVE));
    s_assert_counts (world, ids);
    s_settle (world);
    s_assert_counts (world, ids);
}

#define T(name) cmocka_unit_test_setup_teardown (name, s_setup, s_teardown)

int
main (void)
{
    zsys_init ();
    const struct CMUnitTest tests [] = {
        T (test_include_makes_an_active_case_at_version_one),
        T (test_include_refuses_bad_input),
        T (test_generated_case_id_is_pseudonymous_and_unique),
        T (test_handover_delivers_plan_byte_identical_and_starts_joint_phase),
        T (test_move_refusals_say_why),
        T (test_offer_for_a_case_owned_by_the_target_is_rejected),
        T (test_plan_update_at_owner_reaches_the_source),
        T (test_edit_at_source_becomes_next_version_at_owner_exactly_once),
        T (test_complete_leaves_a_tombstone_without_plan_at_source),
        T (test_complete_from_the_source_side_works_too),
        T (test_chained_move_during_joint_phase_ends_the_first_one),
        T (test_joint_phase_ends_by_itself_when_due),
        T (test_edits_are_refused_where_the_case_is_not_owned),
        T (test_stale_answers_are_dropped),
        T (test_state_counts_follow_every_change),
        T (test_state_counts_undone_with_a_refused_nested_change),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
