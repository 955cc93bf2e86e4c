/*  test_zvh_subscriber: libzvh's partner side of the stream (PROTOCOL 7.4)
 *  against a real CURVE ROUTER that plays the daemon frame by frame: a
 *  resend of what the application acknowledged is acknowledged again (or a
 *  daemon that missed the ACK holds the partner's credit for ever), and a
 *  resend of what was handed out but not yet acknowledged is not. A
 *  delivered view verifies against its publisher's sign_key only as it was
 *  signed (PROTOCOL 8.3).
 */
#include "zvh/zvh.h"
#include "proof.h"
#include "wire.h"
#include <czmq.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "test_dir.h"

#define WAIT_MS         60000   //  a frame that has not come by then never will
#define DROP_WAIT_MS    300     //  next() on a resend returns after this
#define CREDIT          4

typedef struct {
    char dir [64];
    zsock_t *router;            //  the daemon's side
    zframe_t *routing_id;       //  the subscriber's connection
    zvh_subscriber_t *sub;
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *fixture = (fixture_t *) calloc (1, sizeof (fixture_t));
    assert_true (test_dir_make (fixture->dir, sizeof fixture->dir, "zvhsub"));
    zcert_t *server = zcert_new ();
    zcert_t *client = zcert_new ();
    char key_file [128];
    snprintf (key_file, sizeof key_file, "%s/partner.key", fixture->dir);
    assert_int_equal (zcert_save (client, key_file), 0);
    fixture->router = zsock_new (ZMQ_ROUTER);
    zcert_apply (server, fixture->router);
    zsock_set_curve_server (fixture->router, 1);
    int port = zsock_bind (fixture->router, "tcp://127.0.0.1:*");
    assert_true (port > 0);
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    fixture->sub = zvh_subscriber_new (endpoint, zcert_public_txt (server), key_file);
    assert_non_null (fixture->sub);
    zcert_destroy (&server);
    zcert_destroy (&client);
    *state = fixture;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    zvh_subscriber_destroy (&fixture->sub);
    zframe_destroy (&fixture->routing_id);
    zsock_destroy (&fixture->router);
    test_dir_remove (fixture->dir);
    free (fixture);
    return 0;
}

//  The next frame from the subscriber that is not a PING; fails after WAIT_MS.
static Zvh__V1__SubFrame *
s_expect_frame (fixture_t *fixture)
{
    zpoller_t *poller = zpoller_new (fixture->router, NULL);
    int64_t deadline = zclock_mono () + WAIT_MS;
    Zvh__V1__SubFrame *frame = NULL;
    while (!frame && zclock_mono () < deadline) {
        if (!zpoller_wait (poller, (int) (deadline - zclock_mono ())))
            break;
        zmsg_t *msg = zmsg_recv (fixture->router);
        assert_non_null (msg);
        zframe_destroy (&fixture->routing_id);
        fixture->routing_id = zmsg_pop (msg);
        zframe_t *body = zmsg_pop (msg);
        frame = WIRE_DECODE (Zvh__V1__SubFrame, zvh__v1__sub_frame,
                             zframe_data (body), zframe_size (body));
        assert_non_null (frame);
        if (frame->kind == ZVH__V1__SUB_FRAME__KIND__KIND_PING) {
            wire_free (&frame->base);
            frame = NULL;
        }
        zframe_destroy (&body);
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    if (!frame)
        fail_msg ("no frame but PINGs from the subscriber within %d ms", WAIT_MS);
    return frame;
}

static void
s_expect_kind (fixture_t *fixture, Zvh__V1__SubFrame__Kind kind, uint64_t seq)
{
    Zvh__V1__SubFrame *frame = s_expect_frame (fixture);
    assert_int_equal (frame->kind, kind);
    assert_int_equal (frame->seq, seq);
    wire_free (&frame->base);
}

static void
s_deliver_view (fixture_t *fixture, Zvh__V1__SignalView *view)
{
    Zvh__V1__SubFrame frame = ZVH__V1__SUB_FRAME__INIT;
    frame.kind = ZVH__V1__SUB_FRAME__KIND__KIND_DELIVERY;
    frame.seq = view->seq;
    frame.view = view;
    size_t size;
    uint8_t *bytes = wire_encode (&frame.base, &size);
    assert_non_null (bytes);
    zframe_t *routing_id = zframe_dup (fixture->routing_id);
    assert_int_equal (zframe_send (&routing_id, fixture->router, ZFRAME_MORE), 0);
    assert_true (zmq_send (zsock_resolve (fixture->router), bytes, size, 0) >= 0);
    free (bytes);
}

static void
s_deliver (fixture_t *fixture, uint64_t seq)
{
    Zvh__V1__SignalView view = ZVH__V1__SIGNAL_VIEW__INIT;
    view.seq = seq;
    view.event_id = "groningen/1";
    s_deliver_view (fixture, &view);
}

static void
s_expect_signal (fixture_t *fixture, uint64_t seq)
{
    zvh_signal_t signal;
    assert_int_equal (zvh_subscriber_next (fixture->sub, WAIT_MS, &signal), ZVH_OK);
    assert_int_equal (signal.seq, seq);
}

static void
s_expect_dropped (fixture_t *fixture)
{
    zvh_signal_t signal;
    assert_int_equal (zvh_subscriber_next (fixture->sub, DROP_WAIT_MS, &signal),
                      ZVH_E_TIMEOUT);
}

static void
test_resend_of_acknowledged_view_is_acknowledged_again (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    assert_int_equal (zvh_subscriber_start (fixture->sub, 0, false, CREDIT), 0);
    s_expect_kind (fixture, ZVH__V1__SUB_FRAME__KIND__KIND_SUBSCRIBE, 0);
    s_deliver (fixture, 1);
    s_expect_signal (fixture, 1);
    assert_int_equal (zvh_subscriber_ack (fixture->sub, 1), 0);
    s_expect_kind (fixture, ZVH__V1__SUB_FRAME__KIND__KIND_ACK, 1);
    //  The daemon missed that ACK and sends 1 again: dropped, acked again
    s_deliver (fixture, 1);
    s_expect_dropped (fixture);
    s_expect_kind (fixture, ZVH__V1__SUB_FRAME__KIND__KIND_ACK, 1);
}

static void
test_resend_of_unacknowledged_view_is_not_acknowledged (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    assert_int_equal (zvh_subscriber_start (fixture->sub, 0, false, CREDIT), 0);
    s_expect_kind (fixture, ZVH__V1__SUB_FRAME__KIND__KIND_SUBSCRIBE, 0);
    s_deliver (fixture, 1);
    s_expect_signal (fixture, 1);
    assert_int_equal (zvh_subscriber_ack (fixture->sub, 1), 0);
    s_expect_kind (fixture, ZVH__V1__SUB_FRAME__KIND__KIND_ACK, 1);
    //  2 is handed out, the application has not processed it yet: its
    //  resend is dropped without an ACK of 2; a resend of 1 after it is
    //  acknowledged as 1, so the first ACK the daemon sees says 1, not 2
    s_deliver (fixture, 2);
    s_expect_signal (fixture, 2);
    s_deliver (fixture, 2);
    s_expect_dropped (fixture);
    s_deliver (fixture, 1);
    s_expect_dropped (fixture);
    s_expect_kind (fixture, ZVH__V1__SUB_FRAME__KIND__KIND_ACK, 1);
}

//  A view at seq of groningen's label event, as a police partner sees it
//  (no case id), with groningen's proof signed by secret_key and region as
//  its region (another than groningen: a view changed after signing).
static void
s_deliver_signed (fixture_t *fixture, uint64_t seq,
                  const uint8_t secret_key [WIRE_SIGN_SECRET_BYTES], const char *region)
{
    char *actions [] = { "aanhouden" };
    Zvh__V1__RoleView police = ZVH__V1__ROLE_VIEW__INIT;
    police.role = "police";
    police.partner_ref = "PL-7";
    police.actions = actions;
    police.n_actions = 1;
    Zvh__V1__RoleView *roles [] = { &police };
    Zvh__V1__SignalEvent event = ZVH__V1__SIGNAL_EVENT__INIT;
    event.type = ZVH__V1__SIGNAL_EVENT__TYPE__TYPE_LABEL_SET;
    event.event_id = "groningen/3";
    event.case_id = "c1";
    event.region = "groningen";
    event.roles = roles;
    event.n_roles = 1;
    Zvh__V1__SignalView values;
    proof_values (&values, &event);
    proof_storage_t signed_storage, view_storage;
    Zvh__V1__SignalProof *proof = proof_sign (&signed_storage, "groningen", &values, roles,
                                              1, secret_key);
    assert_non_null (proof);
    proof_shown_t shown = PROOF_SHOWN (2) | PROOF_SHOWN (3) | PROOF_SHOWN (5)
                        | PROOF_SHOWN (PROOF_TAG_PARTNER_REF) | PROOF_SHOWN (PROOF_TAG_ACTIONS);
    Zvh__V1__SignalView view = values;
    view.seq = seq;
    view.case_id = NULL;                            //  hidden from police
    view.region = (char *) region;
    view.partner_ref = police.partner_ref;
    view.actions = police.actions;
    view.n_actions = police.n_actions;
    view.proof = proof_open (&view_storage, proof, &values, roles, 1, shown, "police");
    assert_non_null (view.proof);
    s_deliver_view (fixture, &view);
}

static void
test_delivered_view_is_verified_against_its_publishers_sign_key (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    uint8_t public_key [WIRE_SIGN_PUBLIC_BYTES], secret_key [WIRE_SIGN_SECRET_BYTES];
    uint8_t other_public [WIRE_SIGN_PUBLIC_BYTES], other_secret [WIRE_SIGN_SECRET_BYTES];
    crypto_sign_keypair (public_key, secret_key);
    crypto_sign_keypair (other_public, other_secret);
    char hex [ZVH_SIGN_KEY_HEX_LEN + 1], other_hex [ZVH_SIGN_KEY_HEX_LEN + 1];
    sodium_bin2hex (hex, sizeof hex, public_key, sizeof public_key);
    sodium_bin2hex (other_hex, sizeof other_hex, other_public, sizeof other_public);
    assert_int_equal (zvh_subscriber_start (fixture->sub, 0, false, CREDIT), 0);
    s_expect_kind (fixture, ZVH__V1__SUB_FRAME__KIND__KIND_SUBSCRIBE, 0);
    zvh_signal_t signal;
    s_deliver_signed (fixture, 1, secret_key, "groningen");
    assert_int_equal (zvh_subscriber_next (fixture->sub, WAIT_MS, &signal), ZVH_OK);
    assert_string_equal (signal.publisher, "groningen");
    assert_null (signal.case_id);
    assert_int_equal (zvh_signal_verify (&signal, hex), ZVH_OK);
    assert_int_equal (zvh_signal_verify (&signal, other_hex), ZVH_E_FORGED);
    assert_int_equal (zvh_signal_verify (&signal, "not hex"), ZVH_E_BAD_REQUEST);
    //  Signed by another key than groningen's, or changed after signing
    s_deliver_signed (fixture, 2, other_secret, "groningen");
    assert_int_equal (zvh_subscriber_next (fixture->sub, WAIT_MS, &signal), ZVH_OK);
    assert_int_equal (zvh_signal_verify (&signal, hex), ZVH_E_FORGED);
    s_deliver_signed (fixture, 3, secret_key, "drenthe");
    assert_int_equal (zvh_subscriber_next (fixture->sub, WAIT_MS, &signal), ZVH_OK);
    assert_int_equal (zvh_signal_verify (&signal, hex), ZVH_E_FORGED);
    //  No proof at all
    s_deliver (fixture, 4);
    assert_int_equal (zvh_subscriber_next (fixture->sub, WAIT_MS, &signal), ZVH_OK);
    assert_null (signal.publisher);
    assert_int_equal (zvh_signal_verify (&signal, hex), ZVH_E_FORGED);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_resend_of_acknowledged_view_is_acknowledged_again,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_resend_of_unacknowledged_view_is_not_acknowledged,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (
            test_delivered_view_is_verified_against_its_publishers_sign_key, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
