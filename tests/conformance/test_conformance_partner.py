#!/usr/bin/env python3
"""Conformance of the partner (subscriber) link, docs/PROTOCOL.md sections 7
and 8, checked on the wire against a real zvhd.

A raw partner (a CURVE DEALER with a partner key from the generated
partners file) sends SubFrames built here from proto/zvh.proto and checks
what the daemon sends back, frame by frame; every daemon frame is also
checked to carry only the fields 7.2 lists for its kind ([P7.2-2]). Log
entries are made with the harness (zvhctl as the region's operator);
nothing of the project's client code is used for the checks. Each test
names the requirement ids it checks; tests/conformance/coverage.py lists
the MUST ids no test names.

    python3 tests/conformance/test_conformance_partner.py [name-filter]

Negative checks ("nothing comes") receive for a bounded time, each saying
why that bound suffices.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conformance                                  # noqa: E402

if __name__ == "__main__":
    conformance.reexec_if_needed(__file__)

import sigtest                                      # noqa: E402
from conformance import (Partner, RawLink, audit, envelope, pb,  # noqa: E402
                         view_bytes, wire_fields)
from zvhtest import eq, expect, wait_until          # noqa: E402

A, B = "groningen", "drenthe"
#  Short timers: a PING every 200 ms, a silent partner IDLE after 1.5 s, a
#  resend after 300 ms without progress (long enough that a partner that
#  acknowledges at once is rarely sent a view twice)
TIMERS = {"heartbeat_ms": 200, "peer_timeout_ms": 1500, "retry_min_ms": 300,
          "retry_max_ms": 1000, "review_check_s": 3600}
#  How long a bounded receive waits for something that must not come: more
#  than three resend timeouts (retry_max_ms) and many passes of the main
#  loop (50 ms), so a daemon that would send it has had every chance to
KEEP_QUIET_S = 3.5
FUTURE = "2099-01-01"           # a review date that never passes during a test

# --------------------------------------------------------------------- helpers


def kinds():
    return pb().SubFrame


def include(fed, region, case_id):
    return fed.include(region, fed.plan_file(review_date=FUTURE), case_id)


def signals(fed, region, case_id, count, text="signaal"):
    """count signals raised at region by its operator: their event ids."""
    return [fed.raise_signal(region, case_id, kind="incident", text=f"{text} {n}")
            for n in range(count)]


def partner(fed, name, region=A, key=None, watch=False):
    p = Partner(fed, region, name, key=key, watch=watch)
    fed.conf_sockets.append(p)
    return p


def seqs(frames):
    return [f.seq for _, f in frames if f.kind == kinds().KIND_DELIVERY]


def none_of_kind(frames, kind):
    return [f for _, f in frames if f.kind == kind]


# --------------------------------------------------------------------- SUBSCRIBE


def test_subscribe_after_n_streams_the_entries_after_n_in_order(fed):
    """SUBSCRIBE{seq = 2} on a log of 1..5: the stream starts without an
    answer of its own and delivers 3, 4, 5 in order, each with its view.
    checks [P7.3-4] [P7.3-7] [P7.3-8] [P7.3-11] [P7.3-12] [P7.2-2]"""
    fed.start_all()
    include(fed, A, "CONF-P1")                          # log 1: label_set
    ids = signals(fed, A, "CONF-P1", 4)                 # log 2..5
    sub = partner(fed, "ops")
    sub.subscribe(seq=2)
    #  PINGs may come at any time (heartbeat); the first other frame is the
    #  stream's first DELIVERY: nothing answers the SUBSCRIBE as such
    first = sub.wait_for(lambda r, f: f.kind != kinds().KIND_PING,
                         "a frame other than PING after SUBSCRIBE{seq=2}")
    eq(first[1].kind, kinds().KIND_DELIVERY, "kind of the first frame after SUBSCRIBE "
                                             "(a SUBSCRIBE is not answered as such)")
    got = [first[1]]
    while len(got) < 3:
        item = sub.next(conformance.PATIENCE_S)
        expect(item is not None, f"only {len(got)} deliveries after SUBSCRIBE{{seq=2}}")
        if item[1].kind == kinds().KIND_DELIVERY:
            got.append(item[1])
    eq([f.seq for f in got], [3, 4, 5], "log seqs delivered after SUBSCRIBE{seq=2}")
    eq([f.view.event_id for f in got], ids[1:], "event ids delivered")
    for f in got:
        eq(f.view.seq, f.seq, "view.seq of a DELIVERY")


test_subscribe_after_n_streams_the_entries_after_n_in_order.setup = dict()


def test_from_cursor_resumes_after_the_last_ack_and_subscribe_moves_no_cursor(fed):
    """ACK{3} with confirm stores the cursor and is answered ACKED{3}: a new
    connection with from_cursor starts at 4. A SUBSCRIBE{seq=0} does not move
    the cursor back: from_cursor afterwards still starts at 4. A
    SUBSCRIBE{seq=5} moves it forward: from_cursor then starts at 6.
    checks [P7.3-4] [P7.3-17] [P7.3-9] [P7.3-19]"""
    fed.start_all()
    include(fed, A, "CONF-P2")
    signals(fed, A, "CONF-P2", 5)                       # log 1..6
    first = partner(fed, "ops")
    first.subscribe(seq=0)
    first.wait_delivery(seq=3)
    first.ack(3, confirm=True)
    raw, frame = first.wait_for(lambda r, f: f.kind == kinds().KIND_ACKED,
                                "ACKED answering ACK{3, confirm}")
    eq(frame.seq, 3, "seq of ACKED (the stored cursor)")

    def cursor_start():
        sub = partner(fed, "ops")
        sub.subscribe(from_cursor=True)
        item = sub.wait_for(lambda r, f: f.kind == kinds().KIND_DELIVERY,
                            "a delivery after SUBSCRIBE{from_cursor}")
        return item[1].seq
    eq(cursor_start(), 4, "first delivery from the cursor after ACKED{3}")
    third = partner(fed, "ops")
    third.subscribe(seq=0)
    eq(third.wait_delivery()[1].seq, 1, "first delivery of SUBSCRIBE{seq=0}")
    eq(cursor_start(), 4, "from_cursor after a SUBSCRIBE{seq=0} (the cursor never moves back)")
    fifth = partner(fed, "ops")
    fifth.subscribe(seq=5)
    eq(fifth.wait_delivery()[1].seq, 6, "first delivery of SUBSCRIBE{seq=5}")
    wait_until(lambda: cursor_start() == 6, what="from_cursor to start at 6 after "
                                                 "SUBSCRIBE{seq=5}")


test_from_cursor_resumes_after_the_last_ack_and_subscribe_moves_no_cursor.setup = dict()


def test_resume_point_beyond_the_log_is_clamped_to_its_newest_seq(fed):
    """SUBSCRIBE{seq = 1000} on a log of 1..3: the daemon answers
    RESET{4} before anything else and, start = min(after, last) = 3, the
    next entry appended (4) is delivered, and nothing before it.
    checks [P7.3-5] [P7.3-6] [P7.7-4]"""
    fed.start_all()
    include(fed, A, "CONF-P3")
    signals(fed, A, "CONF-P3", 2)
    sub = partner(fed, "ops")
    sub.subscribe(seq=1000)
    raw, frame = sub.wait_for(lambda r, f: f.kind != kinds().KIND_PING,
                              "the first frame after SUBSCRIBE{seq=1000}")
    eq((frame.kind, frame.seq), (kinds().KIND_RESET, 4), "first frame after SUBSCRIBE{1000}")
    new = signals(fed, A, "CONF-P3", 1, "nieuw")[0]
    raw, frame = sub.wait_delivery(event_id=new)
    eq(frame.seq, 4, "seq of the entry appended after SUBSCRIBE{seq=1000}")
    eq(seqs(sub.received), [4], "deliveries after SUBSCRIBE{seq=1000}")


test_resume_point_beyond_the_log_is_clamped_to_its_newest_seq.setup = dict()


# --------------------------------------------------------------------- credit, ACK, resend


def test_credit_bounds_the_deliveries_in_flight(fed):
    """credit 2 on a log of 6 and no ACK: only seqs 1 and 2 come (sent again
    after the resend timeout, never a third); ACK{2} lets 3 and 4 come, and
    still not 5.
    checks [P7.5-1] [P7.5-2] [P7.3-11] [P7.3-21]"""
    fed.start_all()
    include(fed, A, "CONF-P4")
    signals(fed, A, "CONF-P4", 5)
    sub = partner(fed, "ops")
    sub.subscribe(seq=0, credit=2)
    #  KEEP_QUIET_S covers several resend timeouts: a daemon that ignored the
    #  credit would send seq 3 in the first pass (50 ms)
    frames = sub.frames_for(KEEP_QUIET_S)
    eq(set(seqs(frames)), {1, 2}, "seqs delivered with credit 2 and no ACK")
    expect(seqs(frames).count(1) >= 2, f"seq 1 was not sent again after the resend "
                                       f"timeout: {seqs(frames)}")
    sub.ack(2)
    frames = sub.frames_for(KEEP_QUIET_S)
    eq(set(seqs(frames)) - {1, 2}, {3, 4}, "seqs delivered after ACK{2} with credit 2")


test_credit_bounds_the_deliveries_in_flight.setup = dict()


def test_unacknowledged_deliveries_are_resent_and_stop_after_the_ack(fed):
    """A delivery not acknowledged is sent again after the resend timeout
    (the partner drops it); after ACK of it, it is never sent again.
    checks [P7.3-21] [P7.3-17]"""
    fed.start_all()
    include(fed, A, "CONF-P5")
    sub = partner(fed, "ops")
    sub.subscribe(seq=0)
    sub.wait_delivery(seq=1)
    sub.wait_delivery(seq=1)                            # the resend
    sub.ack(1)
    #  Drain what was already on its way, then: no seq 1 for KEEP_QUIET_S,
    #  several resend timeouts
    sub.wait_for(lambda r, f: f.kind == kinds().KIND_PING, "a PING after the ACK")
    frames = sub.frames_for(KEEP_QUIET_S)
    eq(seqs(frames), [], "deliveries after ACK{1} of the only entry")


test_unacknowledged_deliveries_are_resent_and_stop_after_the_ack.setup = dict()


def test_an_ack_above_sent_moves_the_stream_past_it(fed):
    """credit 1 on a log of 5: seq 1 is in flight; ACK{3} (above sent, at or
    below the log's newest) moves the stream: the next delivery is 4.
    checks [P7.3-17]"""
    fed.start_all()
    include(fed, A, "CONF-P6")
    signals(fed, A, "CONF-P6", 4)
    sub = partner(fed, "ops")
    sub.subscribe(seq=0, credit=1)
    sub.wait_delivery(seq=1)
    sub.ack(3)
    raw, frame = sub.wait_for(lambda r, f: f.kind == kinds().KIND_DELIVERY and f.seq != 1,
                              "a delivery other than seq 1 after ACK{3}")
    eq(frame.seq, 4, "next delivery after ACK{3} with seq 1 in flight")
    other = partner(fed, "ops")
    other.subscribe(from_cursor=True)
    eq(other.wait_delivery()[1].seq, 4, "from_cursor after ACK{3}")


test_an_ack_above_sent_moves_the_stream_past_it.setup = dict()


def test_other_acks_are_ignored_without_an_answer(fed):
    """On a LIVE session, ACK{0} and an ACK above the log's newest seq get
    no answer and move nothing: from_cursor still starts after the last
    real ACK.
    checks [P7.3-18]"""
    fed.start_all()
    include(fed, A, "CONF-P7")
    signals(fed, A, "CONF-P7", 2)
    sub = partner(fed, "ops")
    sub.subscribe(seq=0)
    for seq in (1, 2, 3):
        sub.wait_delivery(seq=seq)
    sub.ack(1)
    sub.ack(0)
    sub.ack(99)
    #  The bound: many heartbeats; an ERROR would come at once
    frames = sub.frames_for(KEEP_QUIET_S)
    eq(none_of_kind(frames, kinds().KIND_ERROR), [], "ERRORs after ACK{0} and ACK{99}")
    other = partner(fed, "ops")
    other.subscribe(from_cursor=True)
    eq(other.wait_delivery()[1].seq, 2, "from_cursor after ACK{1}, ACK{0}, ACK{99}")


test_other_acks_are_ignored_without_an_answer.setup = dict()


# --------------------------------------------------------------------- GAP


def test_gap_for_a_resume_point_before_the_oldest_entry(fed):
    """Log entries 1 and 2 are 40 days old (national signals that drenthe's
    key publishes over a raw link with such a time; drenthe's daemon is not
    running), 3 is new. groningen restarts and purges 1 and 2
    (retention_days 30, checked at start). SUBSCRIBE{seq=0} gets GAP{3}
    first, then DELIVERY 3; SUBSCRIBE{seq=1} the same; SUBSCRIBE{seq=2} no
    GAP (nothing it asked for is gone).
    checks [P7.3-6] [P7.7-1] [P7.7-3]"""
    fed.start(A)
    p = pb()
    old_ms = int(time.time() * 1000) - 40 * 86400 * 1000
    link = RawLink(fed, A, B)
    fed.conf_sockets.append(link)
    position = link.position()
    for n, when in enumerate((old_ms, old_ms + 1, None)):
        seq = 10 ** 9 + n
        event = p.SignalEvent(type=p.SignalEvent.TYPE_SIGNAL, event_id=f"{B}/{seq}",
                              national=True, region=B,
                              time_ms=when or int(time.time() * 1000),
                              signal=p.SignalRaise(national=True, kind=p.SIGNAL_INCIDENT))
        env = envelope(fed, B, seq, p.Envelope.TYPE_SIGNAL_EVENT, event.SerializeToString(),
                       time_ms=when)
        link.data(position + 1 + n, env)
    wait_until(lambda: link.position() == position + 3, what="groningen to apply 3 events")
    new_id = f"{B}/{10 ** 9 + 2}"
    fed.restart(A)
    fed.wait_log(A, r"signal log: 2 event\(s\) past the retention of \d+ days purged",
                 "the purge of the two old entries")
    for after, gap in ((0, True), (1, True), (2, False)):
        sub = partner(fed, "ops")
        sub.subscribe(seq=after)
        raw, frame = sub.wait_for(lambda r, f: f.kind in (kinds().KIND_GAP,
                                                          kinds().KIND_DELIVERY),
                                  f"a GAP or DELIVERY after SUBSCRIBE{{seq={after}}}")
        if gap:
            eq((frame.kind, frame.seq), (kinds().KIND_GAP, 3),
               f"first frame after SUBSCRIBE{{seq={after}}} (oldest retained is 3)")
            raw, frame = sub.wait_delivery()
        eq((frame.kind, frame.seq, frame.view.event_id), (kinds().KIND_DELIVERY, 3, new_id),
           f"first delivery after SUBSCRIBE{{seq={after}}}")


test_gap_for_a_resume_point_before_the_oldest_entry.setup = dict(regions=[A, B])


# --------------------------------------------------------------------- heartbeats, IDLE


def test_daemon_pings_a_live_session_and_idles_a_silent_one(fed):
    """A LIVE session that is sent nothing gets PINGs (heartbeat_ms 200); a
    partner silent for more than peer_timeout_ms (1500) is made IDLE: its
    PING and its ACK are answered ERROR_NO_STREAM "no stream: send
    SUBSCRIBE" with request_id 0, and a new entry is not delivered to it.
    The ACK, though answered with an ERROR, is stored: from the cursor the
    stream starts after it.
    checks [P7.3-23] [P7.3-24] [P7.3-2] [P7.3-10] [P7.9-1]"""
    fed.start_all()
    include(fed, A, "CONF-P9")
    sub = partner(fed, "ops")
    sub.subscribe(seq=0)
    sub.wait_delivery(seq=1)
    sub.ack(1)
    sub.wait_for(lambda r, f: f.kind == kinds().KIND_PING, "a PING from the daemon")
    sub.keepalive = False                               # silent from here on
    fed.wait_log(A, r"stream is paused until it subscribes again",
                 "the silent partner's session made IDLE")
    sub.received.clear()
    new = signals(fed, A, "CONF-P9", 1)[0]
    for send in (sub.ping, lambda: sub.ack(2)):
        send()
        raw, frame = sub.wait_for(lambda r, f: f.kind == kinds().KIND_ERROR,
                                  "an ERROR for a frame on an IDLE session")
        eq((frame.code, frame.error, frame.request_id),
           (pb().SubFrame.ERROR_NO_STREAM, "no stream: send SUBSCRIBE", 0),
           "ERROR for a PING or ACK on an IDLE session")
    eq([f.view.event_id for f in sub.deliveries()], [],
       f"deliveries to an IDLE session (the new entry {new})")
    after = signals(fed, A, "CONF-P9", 1, "daarna")[0]
    other = partner(fed, "ops")
    other.subscribe(from_cursor=True)
    raw, frame = other.wait_delivery()
    eq((frame.seq, frame.view.event_id), (3, after),
       "first delivery from the cursor after ACK{2} on the IDLE session")


test_daemon_pings_a_live_session_and_idles_a_silent_one.setup = dict()


def test_sessions_are_idle_after_a_daemon_restart(fed):
    """A LIVE session does not survive a restart: after it, the partner's
    PING (on the same DEALER, reconnected by libzmq) is answered ERROR
    "no stream: send SUBSCRIBE", request_id 0.
    checks [P7.3-1] [P7.3-2]"""
    fed.start_all()
    include(fed, A, "CONF-P10")
    sub = partner(fed, "ops")
    sub.subscribe(seq=0)
    sub.wait_delivery(seq=1)
    sub.ack(1)
    fed.restart(A)

    def error_to_ping():
        sub.ping()
        item = sub.next(0.5)
        return item and item[1].kind == kinds().KIND_ERROR and item[1]
    frame = wait_until(error_to_ping, what="an ERROR answering a PING after the restart")
    eq((frame.code, frame.error, frame.request_id),
       (pb().SubFrame.ERROR_NO_STREAM, "no stream: send SUBSCRIBE", 0),
       "answer to a PING after the restart")


test_sessions_are_idle_after_a_daemon_restart.setup = dict()


# --------------------------------------------------------------------- RAISE


def test_raise_is_answered_with_its_request_id(fed):
    """Without any SUBSCRIBE (an IDLE session): RAISE{request_id 7, a valid
    raise naming another raiser} is answered RAISED{7, event id}; the
    signal's view (operator role) names the partner as raiser. A RAISE
    without a signal is answered ERROR{9, MALFORMED, "RAISE without a
    signal"}, an invalid raise (case and national) ERROR with its
    request_id, a RAISE with request_id 0 ERROR_MALFORMED with request_id 0;
    none of these is recorded.
    checks [P7.8-2] [P7.8-3] [P7.8-4] [P7.8-5] [P7.3-3] [P7.9-1]"""
    fed.start_all()
    include(fed, A, "CONF-P11")
    p = pb()
    sub = partner(fed, "ops")
    sub.raise_(7, p.SignalRaise(case_id="CONF-P11", kind=p.SIGNAL_INCIDENT, text="brand",
                                raised_by="iemand-anders", raised_role="region"))
    raw, frame = sub.wait_for(lambda r, f: f.kind in (kinds().KIND_RAISED,
                                                      kinds().KIND_ERROR),
                              "the answer to RAISE 7")
    eq((frame.kind, frame.request_id), (kinds().KIND_RAISED, 7), "answer to RAISE 7")
    expect(frame.event_id.startswith(f"{A}/"), f"event id of the raise: {frame.event_id!r}")
    event_id = frame.event_id
    sub.raise_(9)
    raw, frame = sub.wait_for(lambda r, f: f.kind in (kinds().KIND_RAISED,
                                                      kinds().KIND_ERROR),
                              "the answer to RAISE 9 (no signal)")
    eq((frame.kind, frame.request_id, frame.code, frame.error),
       (kinds().KIND_ERROR, 9, pb().SubFrame.ERROR_MALFORMED, "RAISE without a signal"),
       "answer to a RAISE without signal")
    sub.raise_(11, p.SignalRaise(case_id="CONF-P11", national=True, kind=p.SIGNAL_INCIDENT))
    raw, frame = sub.wait_for(lambda r, f: f.kind in (kinds().KIND_RAISED,
                                                      kinds().KIND_ERROR),
                              "the answer to RAISE 11 (invalid)")
    eq((frame.kind, frame.request_id), (kinds().KIND_ERROR, 11),
       "answer to a raise naming a case and national scope")
    expect(frame.error and frame.code, f"ERROR without a text or code: {frame}")
    sub.raise_(0, p.SignalRaise(case_id="CONF-P11", kind=p.SIGNAL_INCIDENT, text="nul"))
    raw, frame = sub.wait_for(lambda r, f: f.kind in (kinds().KIND_RAISED,
                                                      kinds().KIND_ERROR),
                              "the answer to a RAISE with request_id 0")
    eq((frame.kind, frame.request_id, frame.code),
       (kinds().KIND_ERROR, 0, pb().SubFrame.ERROR_MALFORMED), "answer to RAISE 0")
    sub.subscribe(seq=1)
    raw, frame = sub.wait_delivery(event_id=event_id)
    eq((frame.view.raised_by, frame.view.raised_role), ("ops", "operator"),
       "raised_by and raised_role of a partner's raise (overwritten by the daemon)")
    #  The bound: the recorded raise was delivered; another recorded one
    #  would follow within a pass
    sub.frames_for(1.0)
    eq({f.view.event_id for f in sub.deliveries()}, {event_id},
       "signals recorded (only RAISE 7's)")


test_raise_is_answered_with_its_request_id.setup = dict()


# --------------------------------------------------------------------- views and coverage


def test_views_hide_unlisted_fields_on_the_wire(fed):
    """One signal with a text, as the police role and as the operator role
    see it. On the wire the police view carries none of the fields its view
    leaves out (case_id, text, raised_by, raised_role, review_date), not
    even empty; the operator view carries case_id and text. Each role gets
    its own partner_ref from the plan, and no plan content leaves the
    daemon.
    checks [P8.2-2] [P8.2-5] [P8.2-6] [P8.2-7]"""
    fed.start_all()
    plan = fed.plan_file(review_date=FUTURE)
    fed.include(A, plan, "CONF-P12")
    event_id = fed.raise_signal(A, "CONF-P12", kind="incident", text="geheime tekst")
    views = {}
    for name in ("pol", "ops"):
        sub = partner(fed, name)
        sub.subscribe(seq=0)
        views[name] = sub.wait_delivery(event_id=event_id)
    police_raw, police = views["pol"]
    ops_raw, ops = views["ops"]
    police_tags = wire_fields(view_bytes(police_raw))
    eq(police_tags & {4, 11, 12, 13, 19}, set(),
       "fields outside the police view present on the wire")
    expect({1, 2, 3, 5, 7, 14} <= police_tags, f"police view tags {sorted(police_tags)}")
    expect({4, 11} <= wire_fields(view_bytes(ops_raw)), "case_id and text in the operator view")
    eq((ops.view.case_id, ops.view.text), ("CONF-P12", "geheime tekst"), "operator view")
    refs = {r["role"]: r["reference"] for r in fed.example_plan["partner_refs"]}
    eq(police.view.partner_ref, refs["police"], "police view partner_ref")
    eq(ops.view.partner_ref, "", "operator view partner_ref (the plan names none)")
    expect("geheime tekst".encode() not in police_raw, "the signal's text reached police")
    for secret in (fed.example_plan["inclusion"]["decision"],
                   fed.example_plan["team"][0]["name"], refs["crisis_service"]):
        for raw in (police_raw, ops_raw):
            expect(secret.encode() not in raw, f"plan content {secret!r} left the daemon")


test_views_hide_unlisted_fields_on_the_wire.setup = dict()


def test_every_view_proves_its_publisher(fed):
    """groningen's case CONF-PV with a signal (text), drenthe's case CONF-PW
    with a signal, and a national signal of drenthe; at groningen, pol
    (police), ggz (crisis service, covers drenthe) and ops (operator). Each
    view carries a proof (tag 20) that verifies as 8.3 says (implemented
    here, with the directory's sign_key of its publisher): the publisher is
    the region that made the event; a field the view shows is opened by its
    salt, every other by a commitment only; of the role parts only the
    view's own is opened.
    checks [P8.3-3] [P8.3-4] [P8.2-3]"""
    fed.start_all()
    include(fed, A, "CONF-PV")
    include(fed, B, "CONF-PW")
    own = fed.raise_signal(A, "CONF-PV", kind="scale_up", text="herkomst")
    theirs = fed.raise_signal(B, "CONF-PW", kind="incident", text="elders")
    national = fed.raise_signal(B, national=True, kind="scale_down")
    publisher = {own: A, theirs: B, national: B}
    police_hidden = {4, 11, 12, 13, 19}             # case_id, text, raised_by/role, review_date
    wanted = {"pol": [own, national], "ggz": [theirs, national],
              "ops": [own, theirs, national]}
    for name, event_ids in wanted.items():
        sub = partner(fed, name)
        sub.subscribe(seq=0)
        for event_id in event_ids:
            raw, frame = sub.wait_delivery(event_id=event_id)
            view = frame.view
            what = f"{name}'s view of {event_id}"
            expect(20 in wire_fields(view_bytes(raw)), f"{what} carries no proof")
            eq(view.proof.publisher, publisher[event_id], f"publisher in {what}")
            opened = conformance.check_view_proof(fed, view, view_bytes(raw))
            if name == "pol":
                eq(opened & police_hidden, set(), f"fields opened in {what} beyond the view")
                expect({2, 3, 5, 7, 14} <= opened, f"fields opened in {what}: {opened}")
            if name == "ops":
                expect({4, 11, 12, 13} <= opened, f"fields opened in {what}: {opened}")
            parts = [part.role for part in view.proof.roles
                     if any(f.salt for f in part.fields)]
            own_part = {"pol": {"police"}, "ggz": {"crisis_service"},
                        "ops": {"operator", "region"}}[name]
            expect(set(parts) <= own_part, f"role parts opened in {what}: {parts}")
        sub.close()


test_every_view_proves_its_publisher.setup = dict(regions=[A, B])


def test_coverage_by_region_case_and_national(fed):
    """At groningen: pol covers region groningen, ggz region drenthe, prob
    only case CONF-PX (regions: utrecht, not running), ops everything.
    groningen's case CONF-PG and CONF-PX, drenthe's case CONF-PD (published
    by drenthe: region drenthe) and a national signal from drenthe. Each
    partner gets exactly the entries its subscription covers, whichever
    region it subscribes at (groningen).
    checks [P8.1-1] [P8.1-2] [P8.1-3] [P8.1-4] [P8.1-5] [P8.1-6] [P7.3-13]"""
    fed.start_all()
    include(fed, A, "CONF-PG")
    include(fed, B, "CONF-PD")
    include(fed, A, "CONF-PX")
    ids = {
        "g": fed.raise_signal(A, "CONF-PG", kind="incident"),
        "x": fed.raise_signal(A, "CONF-PX", kind="incident"),
        "d": fed.raise_signal(B, "CONF-PD", kind="incident"),
        "n": fed.raise_signal(B, national=True, kind="incident"),
    }
    expected = {"pol": {"g", "x", "n"}, "ggz": {"d", "n"}, "prob": {"x", "n"},
                "ops": {"g", "x", "d", "n"}}
    subs = {}
    for name in expected:
        subs[name] = partner(fed, name)
        subs[name].subscribe(seq=0)
    #  Every partner covers the national signal, raised last: once it has
    #  come (deliveries are in log order), everything before it has too
    last_seq = {}
    for name, sub in subs.items():
        last_seq[name] = sub.wait_delivery(event_id=ids["n"], ack=True)[1].seq
    signal_type = pb().SignalEvent.TYPE_SIGNAL
    for name, sub in subs.items():
        got = {f.view.event_id for f in sub.deliveries() if f.view.type == signal_type}
        want = {ids[k] for k in expected[name]}
        eq(got, want, f"signals delivered to {name}")
        #  label_set events, one per distinct log seq: (region) of each
        labels = sorted({f.seq: f.view.region for f in sub.deliveries()
                         if f.view.type == pb().SignalEvent.TYPE_LABEL_SET}.values())
        want_labels = sorted({"pol": [A, A], "ggz": [B], "prob": [A], "ops": [A, A, B]}[name])
        eq(labels, want_labels, f"regions of the label_set events delivered to {name} "
                                f"(CONF-PG: {A}, CONF-PX: {A}, CONF-PD: {B})")


test_coverage_by_region_case_and_national.setup = dict(regions=[A, B])


def test_partner_key_is_served_only_by_its_own_region(fed):
    """drenthe's partners file lists only ops: pol's key is refused at
    drenthe's handshake and gets no answer at all (not to SUBSCRIBE, PING
    or RAISE), while groningen, which lists pol, serves it. A region key on
    groningen's partner endpoint and pol's key on its federation endpoint
    get no answer either.
    checks [P7.1-1] [P7.1-3] [P2.4-1] [P2.4-2]"""
    fed.start_all()
    include(fed, A, "CONF-P14")
    p = pb()
    stranger = partner(fed, "pol", region=B)
    stranger.keepalive = False
    for frame in (p.SubFrame(kind=p.SubFrame.KIND_SUBSCRIBE),
                  p.SubFrame(kind=p.SubFrame.KIND_PING),
                  p.SubFrame(kind=p.SubFrame.KIND_RAISE, request_id=1)):
        stranger.send_nowait(frame)
    #  A region key on groningen's partner endpoint, and a partner key on
    #  its federation endpoint (a PING there is answered with an ACK to any
    #  region), get nothing either
    region = partner(fed, "pol", key=os.path.join(fed.root, "keys", B + ".key_secret"))
    region.keepalive = False
    region.send_nowait(p.SubFrame(kind=p.SubFrame.KIND_SUBSCRIBE))
    on_link = conformance.zvhtest.CurveDealer(fed.info[A]["endpoint"], fed.info[A]["public_key"],
                                              fed.partners["pol"]["key"])
    fed.conf_sockets.append(on_link)
    conformance.dealer_send_nowait(on_link, p.LinkFrame(kind=p.LinkFrame.KIND_PING))
    eq(stranger.frames_for(KEEP_QUIET_S), [], "frames to pol at drenthe")
    eq(region.frames_for(0.5), [], "frames to drenthe's key on groningen's partner endpoint")
    eq(on_link.recv(500), None, "answer to a PING with pol's key on the federation endpoint")
    home = partner(fed, "pol")
    home.subscribe(seq=0)
    home.wait_delivery(seq=1)


test_partner_key_is_served_only_by_its_own_region.setup = dict(
    regions=[A, B], own_partners={B: ["ops"]})


def test_a_new_connection_takes_the_session_over(fed):
    """Two connections with the same key: after the second SUBSCRIBE, a new
    entry goes to the second only, and the first gets nothing more.
    checks [P7.1-2]"""
    fed.start_all()
    include(fed, A, "CONF-P15")
    old = partner(fed, "ops")
    old.subscribe(seq=0)
    old.wait_delivery(seq=1, ack=True)
    new = partner(fed, "ops")
    new.subscribe(seq=1)
    new.wait_for(lambda r, f: f.kind == kinds().KIND_PING, "a PING on the new connection")
    old.received.clear()
    event_id = signals(fed, A, "CONF-P15", 1)[0]
    new.wait_delivery(event_id=event_id, ack=True)
    #  The bound: the new connection got it already; resends to the old one
    #  would come within retry_max_ms
    old.frames_for(KEEP_QUIET_S)
    eq(old.received, [], "frames to the old connection after the takeover")


test_a_new_connection_takes_the_session_over.setup = dict()


def test_unknown_kind_is_ignored(fed):
    """A SubFrame of kind 42 gets no answer and does not disturb the
    stream: the next entry is still delivered.
    checks [P7.2-3]"""
    fed.start_all()
    include(fed, A, "CONF-P16")
    sub = partner(fed, "ops")
    sub.subscribe(seq=0)
    sub.wait_delivery(seq=1, ack=True)
    sub.send(zvh_kind(42))
    event_id = signals(fed, A, "CONF-P16", 1)[0]
    sub.wait_delivery(event_id=event_id, ack=True)
    eq(none_of_kind(sub.received, kinds().KIND_ERROR), [], "ERRORs after a frame of kind 42")


def zvh_kind(kind):
    """A SubFrame of a kind the schema does not have (raw: field 1)."""
    from zvhtest import pb_field
    return pb_field(1, kind)


test_unknown_kind_is_ignored.setup = dict()


def test_every_view_is_audited_before_it_is_sent(fed):
    """For each view a partner received, groningen's audit trail holds a
    'disclose' entry naming the partner and the event. (That the entry is
    committed before the view is sent is not observable from outside; what
    is checked is that no view goes out unrecorded.)
    checks [P7.3-14]"""
    fed.start_all()
    include(fed, A, "CONF-P17")
    ids = signals(fed, A, "CONF-P17", 3)
    sub = partner(fed, "pol")
    sub.subscribe(seq=0)
    sub.wait_delivery(event_id=ids[-1], ack=True)
    received = {f.view.event_id for f in sub.deliveries()}
    disclosed = {e.get("event_id") for e in audit(fed, A)
                 if e["action"] == "disclose" and e["actor"] == "pol"}
    expect(received <= disclosed, f"views sent but not audited: {received - disclosed}")


test_every_view_is_audited_before_it_is_sent.setup = dict()


def test_a_stalled_session_does_not_delay_another(fed):
    """pol subscribes with credit 1 and never acknowledges; ops gets all 20
    entries meanwhile.
    checks [P7.3-26]"""
    fed.start_all()
    include(fed, A, "CONF-P18")
    ids = signals(fed, A, "CONF-P18", 19)
    stalled = partner(fed, "pol")
    stalled.subscribe(seq=0, credit=1)
    stalled.wait_delivery(seq=1)
    sub = partner(fed, "ops")
    sub.subscribe(seq=0)
    sub.wait_delivery(event_id=ids[-1], ack=True)
    eq(sorted({f.seq for f in sub.deliveries()}), list(range(1, 21)), "seqs delivered to ops")
    stalled.frames_for(0.5)
    eq({f.seq for f in stalled.deliveries()}, {1}, "seqs delivered to the stalled partner")


test_a_stalled_session_does_not_delay_another.setup = dict()


def test_acks_are_stored_before_a_frame_that_follows_them(fed):
    """credit 3 and a resend timeout of 5 s: 1..3 are in flight and stay so.
    ACK{3} and SUBSCRIBE{from_cursor} sent back to back: the SUBSCRIBE is
    handled after the ACK is stored, so the next delivery is 4 (from a
    cursor still at 0 it would be 1).
    checks [P7.3-20] [P7.3-17]"""
    fed.start_all()
    include(fed, A, "CONF-P19")
    signals(fed, A, "CONF-P19", 4)
    sub = partner(fed, "ops")
    sub.subscribe(seq=0, credit=3)
    sub.wait_delivery(seq=3)
    sub.received.clear()
    sub.ack(3)
    sub.subscribe(from_cursor=True)
    raw, frame = sub.wait_delivery()
    eq(frame.seq, 4, "first delivery after ACK{3} then SUBSCRIBE{from_cursor}")


test_acks_are_stored_before_a_frame_that_follows_them.setup = dict(
    settings=dict(TIMERS, retry_min_ms=5000, retry_max_ms=10000))


def test_a_partners_ping_is_not_answered_with_a_ping(fed):
    """heartbeat_ms 1000: right after a PING of the daemon, the partner
    PINGs every 0.05 s for 0.3 s and gets no PING back (the daemon's next
    own PING is due 1 s after its last; 0.3 s leaves 0.7 s for the first
    PING's way here, and a PING answering a PING would come at once).
    checks [P7.3-25]"""
    fed.start_all()
    include(fed, A, "CONF-P20")
    sub = partner(fed, "ops")
    sub.subscribe(seq=0)
    sub.wait_delivery(seq=1, ack=True)
    sub.wait_for(lambda r, f: f.kind == kinds().KIND_PING, "a PING of the daemon")
    started = time.monotonic()
    got = []
    while time.monotonic() - started < 0.3:
        sub.ping()
        item = sub.next(0.05)
        if item and time.monotonic() - started < 0.3:
            got.append(item)
    eq(none_of_kind(got, kinds().KIND_PING), [], "PINGs answering the partner's PINGs")


test_a_partners_ping_is_not_answered_with_a_ping.setup = dict(
    settings=dict(TIMERS, heartbeat_ms=1000, peer_timeout_ms=5000))


def test_raises_beyond_the_rate_are_refused_with_their_request_id(fed):
    """raise_per_min 2: the third RAISE in a row is answered ERROR "rate
    limited: ..." with its request_id and is not recorded.
    checks [P7.8-8] [P7.8-3] [P7.9-1]"""
    fed.start_all()
    include(fed, A, "CONF-P21")
    p = pb()
    sub = partner(fed, "ops")
    answers = {}
    for rid in (1, 2, 3):
        sub.raise_(rid, p.SignalRaise(case_id="CONF-P21", kind=p.SIGNAL_INCIDENT))
        raw, frame = sub.wait_for(lambda r, f: f.kind in (kinds().KIND_RAISED,
                                                          kinds().KIND_ERROR),
                                  f"the answer to RAISE {rid}")
        answers[frame.request_id] = frame
    eq(sorted(answers), [1, 2, 3], "request ids answered")
    eq([answers[r].kind for r in (1, 2)], [kinds().KIND_RAISED] * 2, "RAISE 1 and 2")
    eq(answers[3].kind, kinds().KIND_ERROR, "RAISE 3 (over the rate)")
    expect(answers[3].error.startswith("rate limited"), f"error: {answers[3].error!r}")
    eq(answers[3].code, pb().SubFrame.ERROR_RATE_LIMITED, "code of the rate-limit ERROR")
    sub.subscribe(seq=1)
    sub.wait_delivery(event_id=answers[2].event_id, ack=True)
    #  The bound: both recorded signals came; a third would follow at once
    sub.frames_for(1.0)
    eq(len(sub.deliveries()), 2, "signals recorded")


test_raises_beyond_the_rate_are_refused_with_their_request_id.setup = dict(
    settings=dict(TIMERS, raise_per_min=2))


def test_config_loader_refuses_a_view_without_seq_type_or_event_id(fed):
    """A partners file whose police view lacks event_id is refused by
    zvhd --check-config, naming the view.
    checks [P8.2-1]"""
    import subprocess
    path = os.path.join(fed.root, "partners.zpl")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    expect('police = "seq,type,event_id,' in text, "the police view of the partners file")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace('police = "seq,type,event_id,', 'police = "seq,type,'))
    proc = subprocess.run([conformance.zvhtest.ZVHD, "--check-config", fed.config(A)],
                          capture_output=True, text=True, timeout=60)
    expect(proc.returncode != 0, f"--check-config accepted a view without event_id: "
                                 f"{proc.stdout}{proc.stderr}")
    expect("event_id" in proc.stderr + proc.stdout, f"the refusal does not name event_id: "
                                                    f"{proc.stderr.strip()}")


test_config_loader_refuses_a_view_without_seq_type_or_event_id.setup = dict()


def test_departure_view_review_due_and_operator_actions(fed):
    """A case moves drenthe -> groningen. At groningen, ggz (covers only
    drenthe, the region the case left) receives label_moved as a departure
    view: previous_region and its own partner_ref, but region,
    coordinator_contact and actions absent on the wire; ops receives the
    full view with the plan's 'region' actions (an operator acts for its
    region). A case whose review date has passed gets review_due at
    groningen: ops receives it, pol (covering groningen) does not.
    checks [P8.1-8] [P8.1-7] [P8.2-8] [P8.2-2]"""
    fed.start_all()
    include(fed, B, "CONF-P23")
    eq(fed.move(B, "CONF-P23", A)[0], 0, "exit code of the move")
    fed.wait_state(A, "CONF-P23", "joint_target")
    fed.include(A, fed.plan_file(review_date="2020-01-01"), "CONF-P23-R")
    moved_type = pb().SignalEvent.TYPE_LABEL_MOVED
    review_type = pb().SignalEvent.TYPE_REVIEW_DUE
    ggz = partner(fed, "ggz")
    ggz.subscribe(seq=0)
    raw, departure = ggz.wait_for(lambda r, f: f.kind == kinds().KIND_DELIVERY
                                  and f.view.type == moved_type, "label_moved at ggz", ack=True)
    tags = wire_fields(view_bytes(raw))
    eq(tags & {5, 16, 17}, set(), "region, actions, coordinator_contact in a departure view")
    refs = {r["role"]: r["reference"] for r in fed.example_plan["partner_refs"]}
    eq((departure.view.previous_region, departure.view.partner_ref), (B, refs["crisis_service"]),
       "previous_region and partner_ref of the departure view")
    ops = partner(fed, "ops")
    ops.subscribe(seq=0)
    raw, full = ops.wait_for(lambda r, f: f.kind == kinds().KIND_DELIVERY
                             and f.view.type == moved_type, "label_moved at ops", ack=True)
    region_actions = [a["action"] for sc in fed.example_plan["scenarios"]
                      if sc.get("direction") == "up"
                      for a in sc.get("actions", []) if a.get("role") == "region"]
    expect(region_actions, "the example plan has no UP action of role 'region'")
    eq((full.view.region, list(full.view.actions)), (A, region_actions),
       "region and actions of ops' label_moved view (the plan's 'region' actions)")
    ops.wait_for(lambda r, f: f.kind == kinds().KIND_DELIVERY and f.view.type == review_type,
                 "review_due at ops", ack=True)
    pol = partner(fed, "pol")
    pol.subscribe(seq=0)
    last = max(f.seq for f in ops.deliveries())
    #  pol covers groningen: it gets CONF-P23-R's label_set, logged before
    #  or after the review_due; once it has every entry up to ops' last
    #  but the review_due, a review_due would have come with them
    pol.wait_for(lambda r, f: f.kind == kinds().KIND_DELIVERY
                 and f.view.type == pb().SignalEvent.TYPE_LABEL_SET
                 and f.seq >= last - 1, "pol's label_set of CONF-P23-R", ack=True)
    pol.frames_for(1.0)
    eq([f.seq for f in pol.deliveries() if f.view.type == review_type], [],
       "review_due deliveries to pol (police)")


test_departure_view_review_due_and_operator_actions.setup = dict(
    regions=[A, B], settings=dict(TIMERS, review_check_s=1))


def test_national_raise_only_from_operators_and_undecodable_raise_answered(fed):
    """A national RAISE from pol (police) is answered ERROR_REFUSED with its
    request_id; from ops (operator) RAISED. A RAISE whose signal does not
    decode (a truncated field) is answered under its request_id.
    checks [P7.8-7] [P7.8-6] [P7.8-3]"""
    from zvhtest import pb_field
    fed.start_all()
    p = pb()
    national = p.SignalRaise(national=True, kind=p.SIGNAL_INCIDENT, text="landelijk")
    answers = {}
    for name, rid in (("pol", 21), ("ops", 22)):
        sub = partner(fed, name)
        sub.raise_(rid, national)
        raw, frame = sub.wait_for(lambda r, f: f.kind in (kinds().KIND_RAISED,
                                                          kinds().KIND_ERROR),
                                  f"the answer to {name}'s national RAISE")
        answers[name] = frame
    eq((answers["pol"].kind, answers["pol"].request_id, answers["pol"].code),
       (kinds().KIND_ERROR, 21, p.SubFrame.ERROR_REFUSED), "answer to police's national raise")
    eq((answers["ops"].kind, answers["ops"].request_id), (kinds().KIND_RAISED, 22),
       "answer to the operator's national raise")
    sub = partner(fed, "ops")
    #  kind RAISE, request_id 23, then field 7 (raise) claiming 50 bytes but
    #  holding 3: the frame does not decode
    broken = pb_field(1, 7) + pb_field(9, 23) + bytes([(7 << 3) | 2, 50]) + b"abc"
    sub.send(broken)
    raw, frame = sub.wait_for(lambda r, f: f.kind in (kinds().KIND_RAISED,
                                                      kinds().KIND_ERROR),
                              "the answer to an undecodable RAISE")
    eq((frame.kind, frame.request_id), (kinds().KIND_ERROR, 23),
       "answer to an undecodable RAISE")


test_national_raise_only_from_operators_and_undecodable_raise_answered.setup = dict()


def test_revoked_key_on_a_live_connection_is_cut_off(fed):
    """pol streams at groningen; its key is revoked and groningen reloads.
    Decided (issue 13): the reload closes pol's live connection ([P2.7-2];
    before, it stayed open and its frames got one ERROR_KEY_REFUSED per
    10 s, [P7.9-2], which now only a race between a reload and a frame can
    meet); pol's reconnection is denied at the handshake, and five frames
    after it get no answer and no delivery.
    checks [P2.7-2] [P7.9-1]"""
    fed.start_all()
    include(fed, A, "CONF-P24")
    sub = partner(fed, "pol", watch=True)
    sub.subscribe(seq=0)
    sub.wait_delivery(seq=1, ack=True)
    with open(os.path.join(fed.root, f"revoked-{A}.txt"), "w", encoding="utf-8") as f:
        f.write(f'"{fed.partners["pol"]["public_key"]}"\n')
    fed.ctl_ok(A, "reload", use_json=False)
    sub.keepalive = False
    sub.received.clear()
    sub.wait_event(sub.EVENT_DISCONNECTED, "pol's live connection to be closed")
    sub.wait_event(sub.EVENT_HANDSHAKE_FAILED_AUTH, "pol's reconnection to be denied")
    for _ in range(5):
        sub.send_nowait(pb().SubFrame(kind=kinds().KIND_PING))
    signals(fed, A, "CONF-P24", 1)
    frames = sub.frames_for(2.0)
    eq(none_of_kind(frames, kinds().KIND_ERROR), [], "answers to a revoked key")
    eq(seqs(frames), [], "deliveries to a revoked key")


test_revoked_key_on_a_live_connection_is_cut_off.setup = dict(revoked=True)


def test_silent_partner_is_idle_after_peer_timeout(fed):
    """peer_timeout_ms 1000: a partner that stops sending finds its session
    IDLE once it has been silent longer than peer_timeout_ms and at least 3 s
    (decided for [P7.3-24]: a short timeout must not cut off a partner that
    pings every second). Checked as a lower bound (a slow machine only makes
    it later) and by the daemon saying so.
    checks [P7.3-24]"""
    fed.start_all()
    include(fed, A, "CONF-P25")
    sub = partner(fed, "ops")
    sub.subscribe(seq=0)
    sub.wait_delivery(seq=1, ack=True)
    sub.keepalive = False
    silent_since = sub.last_send
    fed.wait_log(A, r"stream is paused until it subscribes again", "the session made IDLE")
    silence = time.monotonic() - silent_since
    expect(silence >= 3.0, f"the session became IDLE after {silence:.1f} s of silence, "
                           f"before the 3 s floor (peer_timeout_ms 1000)")


test_silent_partner_is_idle_after_peer_timeout.setup = dict(
    settings=dict(TIMERS, peer_timeout_ms=1000))


# --------------------------------------------------------------------- runner

PARTNERS = [("pol", "police", A), ("ggz", "crisis_service", B),
            ("prob", "probation", "utrecht"), ("ops", "operator", "*")]
CASES = {"prob": "CONF-PX"}


def make_federation(fn):
    setup = getattr(fn, "setup", {})
    fed = sigtest.SignalFederation(setup.get("regions", [A]), setup.get("settings", TIMERS),
                                   PARTNERS)
    fed.conf_sockets = []
    path = os.path.join(fed.root, "partners.zpl")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for pid, cases in CASES.items():
        marker = f'    {pid}\n'
        at = text.index(marker)
        end = text.index("regions = ", at)
        end = text.index("\n", end) + 1
        text = text[:end] + f'        cases = "{cases}"\n' + text[end:]
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    if setup.get("revoked"):
        with open(os.path.join(fed.root, f"revoked-{A}.txt"), "w", encoding="utf-8") as f:
            f.write("# revoked keys\n")
        with open(fed.config(A), "a", encoding="utf-8") as f:
            f.write(f"    revoked = ../revoked-{A}.txt\n")
    for region, ids in setup.get("own_partners", {}).items():
        #  A partners file of region's own with only ids (views kept)
        lines, keep = text.split("\n"), True
        out = []
        for line in lines:
            if line.startswith("    ") and not line.startswith("        ") and \
                    not line.startswith("views") and "=" not in line:
                keep = line.strip() in ids
            if line == "views":
                keep = True
            if keep:
                out.append(line)
        own = os.path.join(fed.root, f"partners-{region}.zpl")
        with open(own, "w", encoding="utf-8") as f:
            f.write("\n".join(out))
        with open(fed.config(region), encoding="utf-8") as f:
            cfg = f.read()
        with open(fed.config(region), "w", encoding="utf-8") as f:
            f.write(cfg.replace("partners = ../partners.zpl",
                                f"partners = ../partners-{region}.zpl"))
    close = fed.close

    def close_all():
        for sock in fed.conf_sockets:
            try:
                sock.close()
            except Exception:                       # noqa: BLE001
                pass
        close()
    fed.close = close_all
    return fed


if __name__ == "__main__":
    conformance.main(globals(), make_federation)
