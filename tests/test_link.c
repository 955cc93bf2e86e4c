/*  test_link: the federation link's rules as a pure state machine, without
 *  sockets or a store: each test is one rule of docs/PROTOCOL.md 4.5
 *  (sender), 4.6 (receiver) or 4.9 (restore resync), cited by its id.
 */
#include "link.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define NOW_MS        1700000000000LL
#define RETRY_MIN_MS  200
#define RETRY_MAX_MS  800
#define WINDOW        4

#define KIND_DATA     ZVH__V1__LINK_FRAME__KIND__KIND_DATA
#define KIND_ACK      ZVH__V1__LINK_FRAME__KIND__KIND_ACK
#define KIND_PING     ZVH__V1__LINK_FRAME__KIND__KIND_PING

//  ---------------------------------------------------------------- receiver

static Zvh__V1__LinkFrame
s_data (uint64_t link_seq, uint64_t incarnation, uint64_t resume_after, uint64_t floor)
{
    Zvh__V1__LinkFrame frame = ZVH__V1__LINK_FRAME__INIT;
    frame.kind = KIND_DATA;
    frame.link_seq = link_seq;
    frame.incarnation = incarnation;
    frame.resume_after = resume_after;
    frame.floor = floor;
    return frame;
}

static Zvh__V1__LinkFrame
s_ping (uint64_t incarnation, uint64_t resume_after)
{
    Zvh__V1__LinkFrame frame = ZVH__V1__LINK_FRAME__INIT;
    frame.kind = KIND_PING;
    frame.incarnation = incarnation;
    frame.resume_after = resume_after;
    return frame;
}

static link_in_step_t
s_receive (uint64_t lin, uint64_t linc, uint64_t lres, Zvh__V1__LinkFrame frame)
{
    link_in_t state = { .lin = lin, .linc = linc, .lres = lres };
    link_in_step_t step;
    link_receive (&state, &frame, &step);
    return step;
}

//  [P4.6-2] the next link seq is applied and lin moves to it; [P4.6-12]
//  the ACK is cumulative, in the followed incarnation [P4.9-5]
static void
test_receiver_applies_next_in_order (void **state)
{
    (void) state;
    link_in_step_t step = s_receive (5, 2, 0, s_data (6, 2, 5, 0));
    assert_int_equal (step.action, LINK_APPLY);
    assert_false (step.resent);
    assert_false (step.follow);
    assert_false (step.hole);
    assert_false (step.overtaken);
    assert_int_equal (step.next.lin, 6);
    assert_int_equal (step.ack_seq, 6);
    assert_int_equal (step.ack_incarnation, 2);
}

//  [P4.6-3] at or below lin: a resend, not applied, acknowledged again
static void
test_receiver_skips_resend (void **state)
{
    (void) state;
    link_in_step_t step = s_receive (5, 0, 0, s_data (5, 0, 4, 0));
    assert_int_equal (step.action, LINK_RESEND);
    assert_int_equal (step.next.lin, 5);
    assert_int_equal (step.ack_seq, 5);
    step = s_receive (5, 0, 0, s_data (1, 0, 0, 0));
    assert_int_equal (step.action, LINK_RESEND);
}

//  [P4.6-4] past lin + 1: a gap, not applied; the ACK stays at lin
static void
test_receiver_refuses_gap (void **state)
{
    (void) state;
    link_in_step_t step = s_receive (5, 0, 0, s_data (7, 0, 5, 0));
    assert_int_equal (step.action, LINK_GAP);
    assert_int_equal (step.next.lin, 5);
    assert_int_equal (step.ack_seq, 5);
}

//  [P4.6-13] a PING applies nothing and is answered with the current lin
static void
test_receiver_answers_ping (void **state)
{
    (void) state;
    link_in_step_t step = s_receive (5, 1, 0, s_ping (1, 3));
    assert_int_equal (step.action, LINK_IGNORE);
    assert_int_equal (step.ack_seq, 5);
    assert_int_equal (step.ack_incarnation, 1);
    assert_false (step.overtaken);
}

//  [P4.6-6] an event refused at lin + 1 holds the link: lin and the ACK stay
static void
test_receiver_held_event_keeps_lin (void **state)
{
    (void) state;
    Zvh__V1__LinkFrame frame = s_data (6, 0, 5, 0);
    link_in_step_t step = s_receive (5, 0, 0, frame);
    link_held (&step, &frame);
    assert_int_equal (step.next.lin, 5);
    assert_int_equal (step.ack_seq, 5);
    assert_false (step.overtaken);
}

//  [P4.9-7] floor above lin: the loss lin + 1 .. floor is reported, lin
//  jumps to floor, and the frame after it is applied
static void
test_receiver_skips_hole (void **state)
{
    (void) state;
    link_in_step_t step = s_receive (1, 0, 0, s_data (5, 0, 1, 4));
    assert_true (step.hole);
    assert_int_equal (step.hole_from, 2);
    assert_int_equal (step.action, LINK_APPLY);
    assert_int_equal (step.next.lin, 5);
    //  In normal operation floor <= lin: no hole
    step = s_receive (5, 0, 0, s_data (6, 0, 5, 3));
    assert_false (step.hole);
    assert_int_equal (step.action, LINK_APPLY);
}

//  [P4.9-3] a new incarnation: linc follows it, lin = min (lin,
//  resume_after), lres keeps the old lin; then what it sends is handled
static void
test_receiver_follows_new_incarnation (void **state)
{
    (void) state;
    link_in_step_t step = s_receive (10, 0, 0, s_data (7, 1, 6, 0));
    assert_true (step.follow);
    assert_int_equal (step.followed_lin, 6);
    assert_int_equal (step.next.linc, 1);
    assert_int_equal (step.next.lres, 10);
    assert_int_equal (step.action, LINK_APPLY);
    assert_true (step.resent);      //  7 <= lres: sent again by the restored sender
    assert_int_equal (step.next.lin, 7);
    assert_int_equal (step.ack_incarnation, 1);
    //  Never forward of what was applied here
    step = s_receive (3, 0, 0, s_ping (1, 6));
    assert_true (step.follow);
    assert_int_equal (step.followed_lin, 3);
    assert_int_equal (step.next.lres, 3);
}

//  [P4.6-3] + 4.9 rule 3: past lres a restored sender's events are new
static void
test_receiver_marks_resent_only_up_to_lres (void **state)
{
    (void) state;
    link_in_step_t step = s_receive (10, 1, 10, s_data (11, 1, 10, 0));
    assert_int_equal (step.action, LINK_APPLY);
    assert_false (step.resent);
    step = s_receive (9, 1, 10, s_data (10, 1, 9, 0));
    assert_true (step.resent);
}

//  [P4.9-4] frames of an incarnation below linc are not applied, and say
//  nothing about this store
static void
test_receiver_ignores_older_incarnation (void **state)
{
    (void) state;
    link_in_step_t step = s_receive (5, 2, 0, s_data (6, 1, 50, 0));
    assert_int_equal (step.action, LINK_STALE);
    assert_false (step.follow);
    assert_false (step.overtaken);
    assert_int_equal (step.next.lin, 5);
    assert_int_equal (step.ack_incarnation, 2);
    step = s_receive (5, 2, 0, s_ping (1, 50));
    assert_false (step.overtaken);
}

//  [P4.9-10] resume_after above lin in the followed incarnation: the sender
//  holds ACKs of ours for more than this store applied
static void
test_receiver_overtaken_by_resume_after (void **state)
{
    (void) state;
    assert_true (s_receive (5, 0, 0, s_ping (0, 8)).overtaken);
    assert_true (s_receive (5, 0, 0, s_data (9, 0, 8, 0)).overtaken);
    //  Applying the next event can bring lin up to resume_after
    assert_false (s_receive (5, 0, 0, s_data (6, 0, 6, 0)).overtaken);
    //  ... unless it is held
    Zvh__V1__LinkFrame frame = s_data (6, 0, 6, 0);
    link_in_step_t step = s_receive (5, 0, 0, frame);
    link_held (&step, &frame);
    assert_true (step.overtaken);
    //  An ACK frame carries no resume_after to judge by
    Zvh__V1__LinkFrame ack = ZVH__V1__LINK_FRAME__INIT;
    ack.kind = KIND_ACK;
    ack.resume_after = 8;
    assert_false (s_receive (5, 0, 0, ack).overtaken);
}

//  ---------------------------------------------------------------- sender

static link_out_t
s_link (uint64_t acked, uint64_t sent)
{
    link_out_t link = { .acked = acked, .sent = sent, .last_out = sent,
                        .seq_seen = 100, .rto_ms = RETRY_MIN_MS,
                        .progress_ms = NOW_MS };
    return link;
}

static Zvh__V1__LinkFrame
s_ack (uint64_t link_seq, uint64_t link_incarnation, uint64_t incarnation)
{
    Zvh__V1__LinkFrame frame = ZVH__V1__LINK_FRAME__INIT;
    frame.kind = KIND_ACK;
    frame.link_seq = link_seq;
    frame.link_incarnation = link_incarnation;
    frame.incarnation = incarnation;
    return frame;
}

static link_ack_t
s_take (link_out_t *link, Zvh__V1__LinkFrame ack)
{
    return link_on_ack (link, &ack, RETRY_MIN_MS, NOW_MS + 1);
}

//  [P4.5-1] at most window entries in flight
static void
test_sender_window_limits_in_flight (void **state)
{
    (void) state;
    link_out_t link = s_link (10, 10);
    assert_int_equal (link_window_room (&link, WINDOW), WINDOW);
    link_on_sent (&link, 11, NOW_MS);
    link_on_sent (&link, 12, NOW_MS);
    assert_int_equal (link_window_room (&link, WINDOW), WINDOW - 2);
    link_on_sent (&link, 13, NOW_MS);
    link_on_sent (&link, 14, NOW_MS);
    assert_int_equal (link_window_room (&link, WINDOW), 0);
    assert_true (link_in_flight (&link));
}

//  [P4.5-4] [P4.5-5] no advancing ACK within the RTO: go back to acked and
//  double the RTO up to retry_max_ms; the timer runs from the first send
//  into an empty window
static void
test_sender_goes_back_after_timeout (void **state)
{
    (void) state;
    link_out_t link = s_link (10, 10);
    link_on_sent (&link, 11, NOW_MS + 50);
    link_on_sent (&link, 12, NOW_MS + 60);
    int rto_ms = 0;
    assert_int_equal (link_on_timeout (&link, NOW_MS + 50 + RETRY_MIN_MS - 1,
                                       RETRY_MAX_MS, &rto_ms), 0);
    assert_int_equal (link_on_timeout (&link, NOW_MS + 50 + RETRY_MIN_MS,
                                       RETRY_MAX_MS, &rto_ms), 2);
    assert_int_equal (rto_ms, RETRY_MIN_MS);
    assert_int_equal (link.sent, 10);
    assert_int_equal (link.rto_ms, 2 * RETRY_MIN_MS);
    //  Up to retry_max_ms, from the last retransmission
    for (int i = 0; i < 4; i++) {
        link_on_sent (&link, 11, link.progress_ms);
        int64_t due_ms = link.progress_ms + link.rto_ms;
        assert_int_equal (link_on_timeout (&link, due_ms, RETRY_MAX_MS, &rto_ms), 1);
    }
    assert_int_equal (link.rto_ms, RETRY_MAX_MS);
    //  Nothing in flight: nothing to time out
    assert_int_equal (link_on_timeout (&link, NOW_MS * 2, RETRY_MAX_MS, &rto_ms), 0);
}

//  [P4.5-6] a new connection sends again after acked
static void
test_sender_resends_all_on_new_connection (void **state)
{
    (void) state;
    link_out_t link = s_link (10, 14);
    link_resend_all (&link);
    assert_int_equal (link.sent, 10);
    assert_false (link_in_flight (&link));
}

//  [P4.5-10] an ACK above acked and within sent is taken; the RTO resets
static void
test_sender_takes_advancing_ack (void **state)
{
    (void) state;
    link_out_t link = s_link (10, 14);
    link.rto_ms = RETRY_MAX_MS;
    assert_int_equal (s_take (&link, s_ack (12, 0, 0)), LINK_ACK_TAKEN);
    assert_int_equal (link.acked, 12);
    assert_int_equal (link.rto_ms, RETRY_MIN_MS);
    assert_int_equal (link.progress_ms, NOW_MS + 1);
}

//  [P4.5-8] an ACK at or below acked is ignored
static void
test_sender_ignores_old_ack (void **state)
{
    (void) state;
    link_out_t link = s_link (10, 14);
    assert_int_equal (s_take (&link, s_ack (10, 0, 0)), LINK_ACK_IGNORED);
    assert_int_equal (s_take (&link, s_ack (3, 0, 0)), LINK_ACK_IGNORED);
    assert_int_equal (link.acked, 10);
}

//  [P4.5-9] above sent but not above the last queued: an ACK of sent
static void
test_sender_clamps_ack_above_sent (void **state)
{
    (void) state;
    link_out_t link = s_link (10, 12);
    link.last_out = 20;
    Zvh__V1__LinkFrame ack = s_ack (15, 0, 0);
    assert_true (link_ack_suspect (&link, &ack));
    assert_int_equal (s_take (&link, ack), LINK_ACK_TAKEN);
    assert_int_equal (link.acked, 12);
    assert_false (link.overtaken);
}

//  [P4.5-7] an ACK in an older incarnation's numbering is ignored
static void
test_sender_ignores_ack_of_older_incarnation (void **state)
{
    (void) state;
    link_out_t link = s_link (10, 14);
    link.incarnation = 2;
    assert_int_equal (s_take (&link, s_ack (13, 1, 0)), LINK_ACK_IGNORED);
    assert_int_equal (link.acked, 10);
}

//  [P4.9-9] above anything queued, a later incarnation of ours, or an
//  origin seq above ours: this store is an older copy, reported once
static void
test_sender_overtaken (void **state)
{
    (void) state;
    link_out_t link = s_link (10, 14);
    Zvh__V1__LinkFrame ack = s_ack (14, 0, 0);
    assert_false (link_ack_suspect (&link, &ack));
    assert_int_equal (s_take (&link, s_ack (15, 0, 0)), LINK_ACK_OVERTAKEN);
    assert_int_equal (link.acked, 10);
    uint64_t incarnation = 9, seq = 9;
    assert_true (link_overtaken (&link, &incarnation, &seq));
    assert_int_equal (incarnation, 0);
    assert_false (link_overtaken (&link, &incarnation, &seq));

    ack = s_ack (12, 0, 0);
    ack.origin_seq = 101;           //  above seq_seen
    assert_true (link_ack_suspect (&link, &ack));
    assert_int_equal (s_take (&link, ack), LINK_ACK_OVERTAKEN);
    assert_true (link_overtaken (&link, &incarnation, &seq));
    assert_int_equal (seq, 101);

    //  A later incarnation of ours needs no store to tell
    ack = s_ack (3, 4, 0);
    assert_false (link_ack_suspect (&link, &ack));
    assert_int_equal (s_take (&link, ack), LINK_ACK_OVERTAKEN);
    //  While the report waits, ACKs in our numbering are not taken
    assert_int_equal (s_take (&link, s_ack (12, 0, 0)), LINK_ACK_IGNORED);
    assert_true (link_overtaken (&link, &incarnation, &seq));
    assert_int_equal (incarnation, 4);
    assert_int_equal (s_take (&link, s_ack (12, 0, 0)), LINK_ACK_TAKEN);
}

//  [P4.9-6] a peer in a new incarnation with less than acked: go back to
//  what it has, or to the oldest entry held, reporting what is lost
static void
test_sender_rewinds_for_restored_peer (void **state)
{
    (void) state;
    link_out_t link = s_link (10, 14);
    assert_int_equal (s_take (&link, s_ack (6, 0, 1)), LINK_ACK_RESTORED);
    link_restore_t restore;
    link_on_restore (&link, 1, 6, 6, NOW_MS + 2, &restore);
    assert_false (restore.complete);
    assert_int_equal (restore.had_acked, 10);
    assert_int_equal (restore.lost_to, 0);
    assert_int_equal (restore.resend_from, 7);
    assert_int_equal (link.acked, 6);
    assert_int_equal (link.sent, 6);
    assert_int_equal (link.peer_incarnation, 1);
    //  Seen once: the next ACK from incarnation 1 is a plain one
    assert_int_equal (s_take (&link, s_ack (6, 0, 1)), LINK_ACK_IGNORED);

    //  Entries 3..8 are no longer held: it will not get them
    link = s_link (10, 10);
    link_on_restore (&link, 1, 2, 8, NOW_MS, &restore);
    assert_int_equal (restore.lost_to, 8);
    assert_int_equal (restore.resend_from, 9);
    assert_int_equal (link.acked, 8);

    //  It has everything acknowledged: nothing to send again
    link = s_link (10, 10);
    link_on_restore (&link, 2, 10, 10, NOW_MS, &restore);
    assert_true (restore.complete);
    assert_int_equal (link.acked, 10);
    assert_int_equal (link.peer_incarnation, 2);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_receiver_applies_next_in_order),
        cmocka_unit_test (test_receiver_skips_resend),
        cmocka_unit_test (test_receiver_refuses_gap),
        cmocka_unit_test (test_receiver_answers_ping),
        cmocka_unit_test (test_receiver_held_event_keeps_lin),
        cmocka_unit_test (test_receiver_skips_hole),
        cmocka_unit_test (test_receiver_follows_new_incarnation),
        cmocka_unit_test (test_receiver_marks_resent_only_up_to_lres),
        cmocka_unit_test (test_receiver_ignores_older_incarnation),
        cmocka_unit_test (test_receiver_overtaken_by_resume_after),
        cmocka_unit_test (test_sender_window_limits_in_flight),
        cmocka_unit_test (test_sender_goes_back_after_timeout),
        cmocka_unit_test (test_sender_resends_all_on_new_connection),
        cmocka_unit_test (test_sender_takes_advancing_ack),
        cmocka_unit_test (test_sender_ignores_old_ack),
        cmocka_unit_test (test_sender_clamps_ack_above_sent),
        cmocka_unit_test (test_sender_ignores_ack_of_older_incarnation),
        cmocka_unit_test (test_sender_overtaken),
        cmocka_unit_test (test_sender_rewinds_for_restored_peer),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
