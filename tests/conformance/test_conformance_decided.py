#!/usr/bin/env python3
"""The points where docs/PROTOCOL.md and the daemon disagreed (issue 14),
each decided and checked here against real daemons, frame by frame:

* a resume point past the end of the log gets RESET, and the stream goes on
  with the log's own seqs (7.3, 7.7);
* every ERROR carries a code that says what the partner does next, and a
  refused key is told once, so that nothing can make a client loop (7.9);
* a RAISE is answered under its own request id, even when it is refused as a
  whole, and a RAISE with request id 0 is refused (7.8);
* an ACK may ask for ACKED: the cursor is durable before the partner closes
  (7.4 rule 8);
* every frame announces its protocol version; a daemon of the next minor
  version works with this one, one of another major version is refused on
  both sides, and `zvhctl status` shows each peer's version (12.1).

Each test cites the requirement ids of docs/PROTOCOL.md it checks, as the
other conformance suites do; unlike them it may use the project's own
client (zvhctl) where the point is that libzvh follows the spec.

Run: python3 tests/conformance/test_conformance_decided.py [name-filter]
(needs Debian's python3-protobuf, python3-nacl, python3-zmq, protobuf-compiler).
"""
import json
import re
import os
import sys
import time

INTEGRATION = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration")
sys.path.insert(0, INTEGRATION)
import zvhtest                                          # noqa: E402
from zvhtest import eq, expect, wait_until              # noqa: E402

#  CTest may run a python3 without pyzmq, protobuf or PyNaCl: run again with
#  one that has them, as the other suites do
if __name__ == "__main__" and os.environ.get("ZVH_DECIDED_REEXEC") != "1":
    _PYTHON, _ = zvhtest.python_with("import nacl.signing, google.protobuf, zmq")
    if _PYTHON and os.path.realpath(_PYTHON) != os.path.realpath(sys.executable):
        os.environ["ZVH_DECIDED_REEXEC"] = "1"
        os.execv(_PYTHON, [_PYTHON, os.path.abspath(__file__)] + sys.argv[1:])

perm = zvhtest.load_module(os.path.join(INTEGRATION, "test_permissions.py"), "test_permissions")
pb, RawPartner = perm.pb, perm.RawPartner
A, B = perm.A, perm.B
TIMERS = perm.TIMERS


def _wire_version():
    """The version this source implements, as proto/wire.h says (a test
    that wrote it out went stale when the protocol moved on)."""
    with open(os.path.join(zvhtest.SOURCE_DIR, "proto", "wire.h"), encoding="utf-8") as f:
        text = f.read()
    return tuple(int(re.search(rf"#define WIRE_PROTOCOL_{part}\s+(\d+)", text).group(1))
                 for part in ("MAJOR", "MINOR"))


PROTOCOL = _wire_version()
THIS = f"{PROTOCOL[0]}.{PROTOCOL[1]}"           # this daemon
NEXT_MINOR_VERSION = f"{PROTOCOL[0]}.{PROTOCOL[1] + 1}"
NEXT_MAJOR_VERSION = f"{PROTOCOL[0] + 1}.0"
NEXT_MINOR = os.path.join(zvhtest.BUILD_DIR, "tests", "zvhd_next_minor")
NEXT_MAJOR = os.path.join(zvhtest.BUILD_DIR, "tests", "zvhd_next_major")
#  A negative check ("no further answer"): the daemon answers a frame in the
#  same loop turn, well under this even on a loaded machine
ANSWER_S = 2.0


def Frame(**fields):
    """A SubFrame of this client's protocol version."""
    frame = pb().SubFrame(**fields)
    if not (frame.version_major or frame.version_minor):
        frame.version_major, frame.version_minor = PROTOCOL
    return frame


def raw_partner(fed, region, partner):
    return RawPartner(fed.info[region]["subscribe"], fed.info[region]["public_key"],
                      fed.partners[partner]["key"])


def wait_frame(sub, kind, what, keep_alive=False, **match):
    """The first frame of kind (and field values match) the raw partner got;
    keep_alive: PING meanwhile, as a partner must (7.4 rule 4), or a slow
    wait ends the stream."""
    def found():
        if keep_alive:
            sub.send(Frame(kind=pb().SubFrame.KIND_PING))
        sub.drain(0.2)
        for frame in sub.frames:
            if frame is not None and frame.kind == kind and all(
                    getattr(frame, k) == v for k, v in match.items()):
                return frame
        return None
    return wait_until(found, what=what)


def started(fed, case):
    """The federation running, with case included at groningen (a label_set
    in its log)."""
    perm.need_modules()
    fed.start_all()
    fed.include(A, fed.plan_file(), case)
    return case


def kinds(sub, kind):
    return [f for f in sub.frames if f is not None and f.kind == kind]


def expect_version(frame):
    eq((frame.version_major, frame.version_minor), PROTOCOL,
       f"protocol version announced by the daemon's {frame.kind} frame")


# --------------------------------------------------------------------- 7.3, 7.7

def test_resume_past_the_log_end_gets_reset(fed):
    """SUBSCRIBE after seq 1000 of a log that ends much lower: RESET{last+1}
    first, then the next signal is delivered at that seq (before: GAP{last+1},
    and a client applying the GAP rule dropped the next live entry). libzvh
    (zvhctl subscribe --after 1000) prints that signal and says why.
    checks [P7.7-4] [P7.3-6] [P7.4-14]"""
    case = started(fed, "ZVH-PROTO-1")
    sub = raw_partner(fed, A, "pol")
    ctl = None
    try:
        sub.send(Frame(kind=pb().SubFrame.KIND_SUBSCRIBE, seq=1000))
        reset = wait_frame(sub, pb().SubFrame.KIND_RESET, "a RESET for a resume point past "
                                                          "the end of the log")
        expect(1 <= reset.seq < 1000, f"RESET seq {reset.seq}")
        expect_version(reset)
        eq(kinds(sub, pb().SubFrame.KIND_GAP), [], "GAP frames for a resume point past "
                                                   "the end")
        #  Another partner: one key has one session (7.1), taken over by the
        #  latest SUBSCRIBE
        ctl = fed.subscribe(A, "pol2", "after-1000", after=1000, count=1)
        wait_until(lambda: "past the end" in ctl.stderr(), what="zvhctl subscribe --after "
                   "1000 to report the RESET")
        event_id = fed.raise_signal(A, case, text="na de reset")
        delivery = wait_frame(sub, pb().SubFrame.KIND_DELIVERY, f"delivery of {event_id}",
                              keep_alive=True)
        eq((delivery.seq, delivery.view.event_id), (reset.seq, event_id),
           "the first delivery after RESET: at the RESET's seq, the new signal")
        expect_version(delivery)
        line = ctl.wait_event(event_id)
        eq(line["seq"], reset.seq, "seq printed by zvhctl after the RESET")
    finally:
        sub.close()


#  The raw partner pings only while it waits for a frame: a silence of a
#  minute (not 1.5 s) ends its stream, however slow the machine
PATIENT = dict(TIMERS, peer_timeout_ms=60000)

test_resume_past_the_log_end_gets_reset.setup = dict(
    regions=[A], partners=[("pol", "police", A), ("pol2", "police", A)], settings=PATIENT)


# --------------------------------------------------------------------- 7.8, 7.9

def test_every_error_carries_a_code(fed):
    """PING without a stream: NO_STREAM (request_id 0, seq 1 for older
    clients). Bytes that are no SubFrame: MALFORMED. RAISE with request_id 0:
    MALFORMED, not recorded. RAISE of 3 MiB text: answered under its own
    request id (before: 'malformed frame' with request_id 0, so the raiser
    never got an answer). RAISE without a signal: MALFORMED with its id. A
    national RAISE by the police: REFUSED with its id.
    checks [P7.9-1] [P7.3-2] [P7.8-4] [P7.8-5] [P7.8-6] [P7.8-7]"""
    case = started(fed, "ZVH-PROTO-2")
    F = pb().SubFrame
    sub = raw_partner(fed, A, "pol")
    try:
        sub.send(Frame(kind=F.KIND_PING))
        error = wait_frame(sub, F.KIND_ERROR, "an ERROR for a PING without a stream")
        eq((error.code, error.request_id, error.seq), (F.ERROR_NO_STREAM, 0, 1),
           f"code, request_id, seq of the ERROR to a PING without a stream ({error.error})")
        expect_version(error)
        sub.send(b"\xff\xff\xff")
        wait_frame(sub, F.KIND_ERROR, "an ERROR MALFORMED for bytes that are no SubFrame",
                   code=F.ERROR_MALFORMED, request_id=0)
        good = pb().SignalRaise(case_id=case, kind=pb().SIGNAL_INCIDENT, text="zonder id")
        sub.send(_raise_frame(good, 0))
        wait_until(lambda: len([f for f in sub.drain(0.2) if f is not None and
                                f.kind == F.KIND_ERROR and f.code == F.ERROR_MALFORMED]) >= 2,
                   what="an ERROR MALFORMED for a RAISE with request_id 0")
        huge = pb().SignalRaise(case_id=case, kind=pb().SIGNAL_INCIDENT,
                                text="x" * (3 * 1024 * 1024))
        sub.send(_raise_frame(huge, 7))
        big = wait_frame(sub, F.KIND_ERROR, "the answer to a 3 MiB RAISE, under its "
                                            "request id", request_id=7)
        expect(big.code in (F.ERROR_MALFORMED, F.ERROR_REFUSED),
               f"code of the answer to a 3 MiB RAISE: {big.code} ({big.error})")
        sub.send(Frame(kind=F.KIND_RAISE, request_id=8))
        wait_frame(sub, F.KIND_ERROR, "ERROR MALFORMED for a RAISE without a signal",
                   request_id=8, code=F.ERROR_MALFORMED)
        national = pb().SignalRaise(national=True, kind=pb().SIGNAL_INCIDENT, text="land")
        sub.send(_raise_frame(national, 9))
        wait_frame(sub, F.KIND_ERROR, "ERROR REFUSED for a national RAISE by the police",
                   request_id=9, code=F.ERROR_REFUSED)
    finally:
        sub.close()
    created = [e for e in perm.audit(fed, A) if e["action"] == "create"
               and e["actor"] == "pol"]
    eq(created, [], "signals recorded from the refused RAISEs")
    expect(fed.running(A), "groningen stopped")


def _raise_frame(signal, request_id):
    frame = Frame(kind=pb().SubFrame.KIND_RAISE, request_id=request_id)
    getattr(frame, "raise").CopyFrom(signal)
    return frame


test_every_error_carries_a_code.setup = dict(regions=[A], partners=[("pol", "police", A)])


def test_a_refused_key_is_cut_off_and_cannot_loop(fed):
    """The police partner streams; its key is revoked while its connection is
    live. Decided (issue 13): the reload closes that connection ([P2.7-2];
    before, it stayed open and its next frame got one ERROR KEY_REFUSED,
    [P7.9-2], which only a frame racing the reload can meet now). Its
    reconnection is denied at the handshake, the 300 SUBSCRIBEs it tries
    after get no answer at all (no loop is possible: before ERROR codes a
    client was told to SUBSCRIBE again, about 200 frames a second), and the
    denial is audited once, not per attempt.
    checks [P2.7-2] [P2.7-3]"""
    started(fed, "ZVH-PROTO-3")
    F = pb().SubFrame
    sub = RawPartner(fed.info[A]["subscribe"], fed.info[A]["public_key"],
                     fed.partners["pol"]["key"], watch=True)
    pol_key = fed.partners["pol"]["public_key"]
    try:
        sub.send(Frame(kind=F.KIND_SUBSCRIBE, seq=0))
        wait_frame(sub, F.KIND_DELIVERY, "the label_set delivery")
        perm.write_revoked(fed, A, [pol_key])
        perm.reload(fed, A)
        sub.wait_event(sub.EVENT_DISCONNECTED, "the revoked key's connection to be closed")
        sub.wait_event(sub.EVENT_HANDSHAKE_FAILED_AUTH, "its reconnection to be denied")
        for _ in range(300):
            sub.send_nowait(Frame(kind=F.KIND_SUBSCRIBE, seq=0))
        sub.drain(ANSWER_S)
        eq(kinds(sub, F.KIND_ERROR), [], "ERRORs for a key cut off at the reload")
        denials = wait_until(lambda: [e for e in perm.audit(fed, A) if e["actor"] == pol_key
                                      and "denied at the CURVE handshake" in e["detail"]],
                             what="the handshake denial audited")
        eq(len(denials), 1, "audit entries for the denied key within one interval")
    finally:
        sub.close()


test_a_refused_key_is_cut_off_and_cannot_loop.setup = dict(
    regions=[A], partners=[("pol", "police", A)], revoked={A: []}, revocable=["pol"])


# --------------------------------------------------------------------- 7.4 rule 8

def test_ack_with_confirm_is_answered_once_durable(fed):
    """ACK{seq, confirm}: ACKED{seq' >= seq} comes once the cursor is stored;
    a new connection resuming from the cursor gets nothing at or below it.
    zvhctl subscribe confirms before it exits (no warning).
    checks [P7.3-19] [P7.4-16]"""
    case = started(fed, "ZVH-PROTO-4")
    ids = [fed.raise_signal(A, case, text=f"melding {n}") for n in range(3)]
    F = pb().SubFrame
    sub = raw_partner(fed, A, "pol")
    try:
        sub.send(Frame(kind=F.KIND_SUBSCRIBE, seq=0))
        sub.wait_delivered(ids)
        last = max(f.seq for f in kinds(sub, F.KIND_DELIVERY))
        sub.send(Frame(kind=F.KIND_ACK, seq=last, confirm=True))
        acked = wait_frame(sub, F.KIND_ACKED, f"ACKED for the ACK of {last} with confirm")
        expect(acked.seq >= last, f"ACKED seq {acked.seq} below the ACK's {last}")
    finally:
        sub.close()
    again = raw_partner(fed, A, "pol")
    try:
        again.send(Frame(kind=F.KIND_SUBSCRIBE, from_cursor=True))
        later = fed.raise_signal(A, case, text="na de bevestiging")
        again.wait_delivered([later])
        eq([f.seq for f in kinds(again, F.KIND_DELIVERY) if f.seq <= last], [],
           "views at or below the confirmed cursor delivered again")
    finally:
        again.close()
    ctl = fed.subscribe(A, "pol", "confirming", from_cursor=True, count=1)
    ctl.wait_exit(zvhtest.PATIENCE_S)
    expect("warning" not in ctl.stderr(), f"zvhctl did not get its cursor confirmed: "
                                          f"{ctl.stderr().strip()}")


test_ack_with_confirm_is_answered_once_durable.setup = dict(
    regions=[A], partners=[("pol", "police", A)], settings=PATIENT)


# --------------------------------------------------------------------- 8.2

def test_operator_gets_the_region_roles_actions(fed):
    """An operator partner acts for its region: its view of a signal carries
    the actions the plan gives the role 'region' (decided for 8.2: the spec
    said none), and the police's view only the police's.
    checks [P8.2-8] [P8.2-7]"""
    case = started(fed, "ZVH-PROTO-8")
    with open(zvhtest.EXAMPLE_PLAN, encoding="utf-8") as f:
        plan = json.load(f)
    up = [sc for sc in plan["scenarios"] if sc["direction"] == "up"]

    def actions_of(role):
        return sorted(a["action"] for sc in up for a in sc["actions"] if a["role"] == role)
    expect(actions_of("region"), "the example plan gives the role 'region' no actions")
    event_id = fed.raise_signal(A, case, text="voor de operator")
    for partner, role in (("ops", "region"), ("pol", "police")):
        sub = raw_partner(fed, A, partner)
        try:
            sub.send(Frame(kind=pb().SubFrame.KIND_SUBSCRIBE, seq=0))
            sub.wait_delivered([event_id])
            view = [f.view for f in kinds(sub, pb().SubFrame.KIND_DELIVERY)
                    if f.view.event_id == event_id][0]
            eq(sorted(view.actions), actions_of(role), f"actions in {partner}'s view")
        finally:
            sub.close()


test_operator_gets_the_region_roles_actions.setup = dict(
    regions=[A], partners=[("ops", "operator", A), ("pol", "police", A)], settings=PATIENT)


# --------------------------------------------------------------------- 6.5, 7.3

def test_review_due_reaches_operators_only(fed):
    """The example plan's review date has passed: the operator partner gets a
    review_due entry; the police, streaming from the same seq, gets the
    signal raised after it but never the review_due before it (decided for
    6.5: the spec said every partner covering the region).
    checks [P8.1-7]"""
    case = started(fed, "ZVH-PROTO-9")
    F = pb().SubFrame
    review_due = pb().SignalEvent.TYPE_REVIEW_DUE
    ops = raw_partner(fed, A, "ops")
    try:
        ops.send(Frame(kind=F.KIND_SUBSCRIBE, seq=0))
        due = wait_until(lambda: [f for f in ops.drain(0.2) if f is not None
                                  and f.kind == F.KIND_DELIVERY and f.view.type == review_due],
                         what="a review_due delivery to the operator")[0]
    finally:
        ops.close()
    event_id = fed.raise_signal(A, case, text="na de herbeoordelingsdatum")
    pol = raw_partner(fed, A, "pol")
    try:
        pol.send(Frame(kind=F.KIND_SUBSCRIBE, seq=0))
        pol.wait_delivered([event_id])
        views = [f.view for f in kinds(pol, F.KIND_DELIVERY)]
        signal_seq = [v.seq for v in views if v.event_id == event_id][0]
        expect(signal_seq > due.seq, f"the signal (seq {signal_seq}) is not after the "
                                     f"review_due (seq {due.seq})")
        eq([v.seq for v in views if v.type == review_due], [], "review_due seqs the police got")
    finally:
        pol.close()


test_review_due_reaches_operators_only.setup = dict(
    regions=[A], partners=[("ops", "operator", A), ("pol", "police", A)],
    settings=dict(PATIENT, review_check_s=1))


def test_subscribe_after_a_seq_moves_the_stored_cursor(fed):
    """SUBSCRIBE{seq = N} says the partner has processed up to N: a later
    SUBSCRIBE from the cursor starts after N, without any ACK (decided for
    7.3: the spec said only ACKs move the cursor).
    checks [P7.3-4] [P7.3-9]"""
    case = started(fed, "ZVH-PROTO-10")
    ids = [fed.raise_signal(A, case, text=f"melding {n}") for n in range(3)]
    F = pb().SubFrame
    first = raw_partner(fed, A, "pol")
    try:
        first.send(Frame(kind=F.KIND_SUBSCRIBE, seq=0))
        first.wait_delivered(ids)
        seqs = {f.view.event_id: f.seq for f in kinds(first, F.KIND_DELIVERY)}
    finally:
        first.close()
    after = seqs[ids[1]]
    second = raw_partner(fed, A, "pol")
    try:
        second.send(Frame(kind=F.KIND_SUBSCRIBE, seq=after))
        second.wait_delivered([ids[2]])
    finally:
        second.close()
    third = raw_partner(fed, A, "pol")
    try:
        third.send(Frame(kind=F.KIND_SUBSCRIBE, from_cursor=True))
        third.wait_delivered([ids[2]])
        eq([f.seq for f in kinds(third, F.KIND_DELIVERY) if f.seq <= after], [],
           f"views at or below {after} after SUBSCRIBE{{seq={after}}} moved the cursor")
    finally:
        third.close()


test_subscribe_after_a_seq_moves_the_stored_cursor.setup = dict(
    regions=[A], partners=[("pol", "police", A)], settings=PATIENT)


# --------------------------------------------------------------------- 7.3, blocked sessions

def test_a_partner_gone_without_a_word_costs_no_audit_per_turn(fed):
    """The police partner acknowledges what it got and closes its connection
    without a word; its session stays live (peer_timeout_ms: a minute). The
    signals raised next are audited as disclosed to it once, when the first
    send fails, and not again on every loop turn (before: up to 256 disclose
    entries and an fsync each turn, for as long as the session lived), while
    the crisis service gets every one of them.
    checks [P7.3-16]"""
    case = started(fed, "ZVH-PROTO-13")
    F = pb().SubFrame
    pol = raw_partner(fed, A, "pol")
    try:
        pol.send(Frame(kind=F.KIND_SUBSCRIBE, seq=0))
        label = wait_frame(pol, F.KIND_DELIVERY, "the label_set delivery to the police")
        pol.send(Frame(kind=F.KIND_ACK, seq=label.seq, confirm=True))
        wait_frame(pol, F.KIND_ACKED, "ACKED for the police's ACK")
    finally:
        pol.close()
    closed_at = len(perm.audit(fed, A))        # resends before the ACK were audited too
    ggz = raw_partner(fed, A, "ggz")
    try:
        ggz.send(Frame(kind=F.KIND_SUBSCRIBE, seq=label.seq))
        first = [fed.raise_signal(A, case, text=f"eerste {n}") for n in range(3)]
        fed.wait_log(A, r"partner pol: cannot send to it", "the police's send to fail")
        #  Many loop turns and commits after the failure: each of these
        #  raises commits and pumps, and the crisis service gets them all
        later = [fed.raise_signal(A, case, text=f"later {n}") for n in range(5)]
        ggz.wait_delivered(first + later, ack=True)
    finally:
        ggz.close()
    disclosed = [e["event_id"] for e in perm.audit(fed, A)[closed_at:]
                 if e["action"] == "disclose" and e["actor"] == "pol"]
    eq(sorted(set(disclosed)), sorted(disclosed), "views audited twice as disclosed to the "
                                                  "police after it was gone")
    expect(not set(later) & set(disclosed), "signals raised after the failed send were "
                                            "audited as disclosed to the police")


test_a_partner_gone_without_a_word_costs_no_audit_per_turn.setup = dict(
    regions=[A], partners=[("pol", "police", A), ("ggz", "crisis_service", A)],
    settings=PATIENT)


# --------------------------------------------------------------------- 9.2

class RawControl:
    """A DEALER on a region's control socket (ipc, no CURVE) that sends
    ControlRequests as given and waits for the reply to each."""

    def __init__(self, fed, region):
        import zmq
        self.zmq = zmq
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.connect(f"ipc://{fed.data_dir(region)}/control.sock")

    def call(self, request):
        self.sock.send(request.SerializeToString())
        while True:
            expect(self.sock.poll(int(zvhtest.PATIENCE_S * 1000)),
                   f"no reply to control request {request.request_id}")
            reply = pb().ControlReply.FromString(self.sock.recv())
            if reply.request_id == request.request_id:
                return reply

    def close(self):
        self.sock.close(0)


def _raise_request(case, request_id, client_id=b""):
    request = pb().ControlRequest(op=pb().ControlRequest.OP_SIGNAL_RAISE,
                                  request_id=request_id, client_id=client_id)
    getattr(request, "raise").CopyFrom(pb().SignalRaise(
        case_id=case, kind=pb().SIGNAL_INCIDENT, text="eenmaal"))
    return request


def _signals_created(fed, region):
    return [e["event_id"] for e in perm.audit(fed, region)
            if e["action"] == "create" and e.get("event_id")]


def test_a_change_asked_again_is_done_once(fed):
    """A raise from (client_id, request_id) asked twice, and again after a
    SIGKILL and restart of the daemon, is recorded once and every answer
    names the first signal: the retry of a change whose reply was lost gets
    the first result. Another request id is a new signal; a request without
    client_id is not deduplicated (older clients).
    checks [P9.2-2]"""
    case = started(fed, "ZVH-PROTO-11")
    client = os.urandom(16)
    ctl = RawControl(fed, A)
    try:
        first = ctl.call(_raise_request(case, 1, client))
        eq(first.status, pb().ControlReply.STATUS_OK, f"first raise ({first.error})")
        again = ctl.call(_raise_request(case, 1, client))
        eq((again.status, again.event_id), (first.status, first.event_id),
           "the same (client, request) asked again")
    finally:
        ctl.close()
    fed.kill(A)
    fed.start(A)
    ctl = RawControl(fed, A)
    try:
        after = ctl.call(_raise_request(case, 1, client))
        eq(after.event_id, first.event_id, "the same (client, request) after kill -9")
        other = ctl.call(_raise_request(case, 2, client))
        expect(other.event_id and other.event_id != first.event_id,
               f"another request id made no new signal: {other.event_id}")
        plain = [ctl.call(_raise_request(case, 3)).event_id for _ in range(2)]
        expect(plain[0] != plain[1], "a request without client_id was deduplicated")
        #  A client_id of another length is not one: served, not deduplicated
        odd = [ctl.call(_raise_request(case, 4, b"\x00\xff\x01")) for _ in range(2)]
        expect(all(r.status == pb().ControlReply.STATUS_OK for r in odd)
               and odd[0].event_id != odd[1].event_id,
               f"raises with a 3-byte client_id: {[(r.status, r.event_id) for r in odd]}")
    finally:
        ctl.close()
    created = _signals_created(fed, A)
    eq(created.count(first.event_id), 1, "audited creations of the first signal")
    eq(len(created), 6, f"signals created: {created}")


test_a_change_asked_again_is_done_once.setup = dict(regions=[A])


def test_libzvh_resends_an_unanswered_change_with_its_id(fed):
    """zvhctl (libzvh) raises while the daemon is stopped (SIGSTOP) for longer
    than libzvh's first resend (1 s): the request is sent at least twice
    with one id; after SIGCONT the raise is recorded once and zvhctl prints
    that signal's id.
    checks [P9.2-1] [P9.2-2]"""
    case = started(fed, "ZVH-PROTO-12")
    before = _signals_created(fed, A)
    fed.pause(A)
    try:
        proc = fed.ctl_async(A, *fed.raise_args(case, text="tijdens de pauze"),
                             timeout_ms=120000)
        #  A lower bound, not a wait for a condition: libzvh sends again after
        #  1 s and 3 s without an answer; a slow machine only adds resends
        time.sleep(3.5)
    finally:
        fed.resume(A)
    rc, out, err = fed.ctl_finish(proc)
    eq(rc, 0, f"zvhctl signal raise across the pause ({err.strip()})")
    created = [e for e in _signals_created(fed, A) if e not in before]
    eq(created, [out["event_id"]], "signals created by the resent raise")


test_libzvh_resends_an_unanswered_change_with_its_id.setup = dict(regions=[A])


# --------------------------------------------------------------------- 12.1

def test_partner_of_another_major_version_is_refused(fed):
    """A SUBSCRIBE announcing protocol 2.0 is answered ERROR VERSION, naming
    both versions, and gets no stream; the same partner with 1.x streams.
    checks [P12.1-2]"""
    started(fed, "ZVH-PROTO-5")
    F = pb().SubFrame
    sub = raw_partner(fed, A, "pol")
    try:
        sub.send(Frame(kind=F.KIND_SUBSCRIBE, seq=0, version_major=2, version_minor=0))
        error = wait_frame(sub, F.KIND_ERROR, "ERROR VERSION for protocol 2.0",
                           code=F.ERROR_VERSION)
        expect(NEXT_MAJOR_VERSION in error.error and THIS in error.error,
               f"the refusal does not name both versions: {error.error}")
        sub.drain(ANSWER_S)
        eq(kinds(sub, F.KIND_DELIVERY), [], "deliveries to a partner of protocol 2.0")
        sub.send(Frame(kind=F.KIND_SUBSCRIBE, seq=0, version_major=1, version_minor=7))
        wait_frame(sub, F.KIND_DELIVERY, "a delivery to the same partner at protocol 1.7")
    finally:
        sub.close()
    fed.wait_log(A, r"partner pol: refused its frames: protocol 2\.0 is not spoken here",
                 "groningen to log the partner's version")


test_partner_of_another_major_version_is_refused.setup = dict(
    regions=[A], partners=[("pol", "police", A)])


def _start_mixed(fed, binary):
    expect(os.path.exists(binary), f"{binary} is not built (tests/CMakeLists.txt)")
    fed.start(A, wait=False)
    fed.start(B, wait=False, binary=binary)
    fed.wait_answering(A)
    fed.wait_answering(B)


def test_next_minor_version_works_with_this_one(fed):
    """groningen runs this daemon, drenthe one announcing the next minor: links come
    up, a case moves groningen -> drenthe and back into the joint phase, a
    signal raised at drenthe reaches groningen, and each one's status shows
    the other's version.
    checks [P12.1-1]"""
    _start_mixed(fed, NEXT_MINOR)
    fed.wait_links_up()
    case = "ZVH-PROTO-6"
    fed.include(A, fed.plan_file(), case)
    eq(fed.move(A, case, B)[0], 0,
       f"exit code of the move to the {NEXT_MINOR_VERSION} daemon")
    fed.wait_state(B, case, "joint_target")
    fed.wait_state(A, case, "joint_source")
    eq(fed.peer(A, B).get("version"), NEXT_MINOR_VERSION,
       "drenthe's version in groningen's status")
    eq(fed.peer(B, A).get("version"), THIS, "groningen's version in drenthe's status")
    rc, out, err = fed.ctl(A, "status", use_json=False)
    expect(rc == 0 and f"protocol {NEXT_MINOR_VERSION}" in out,
           f"zvhctl status (text) shows no peer version: {out!r}")


test_next_minor_version_works_with_this_one.setup = dict(regions=[A, B])


def test_other_major_version_is_refused_on_both_sides(fed):
    """groningen runs this daemon (1.2), drenthe one announcing 2.0: each logs
    that the other speaks another major version and refuses its frames, the
    link stays down on both sides, a move stays queued, and status shows the
    other's version.
    checks [P12.1-2]"""
    since = time.monotonic()
    _start_mixed(fed, NEXT_MAJOR)
    fed.wait_log(A, rf"peer drenthe: speaks protocol {re.escape(NEXT_MAJOR_VERSION)}, "
                    rf"this daemon {re.escape(THIS)}",
                 "groningen to refuse drenthe's version")
    fed.wait_log(B, rf"peer groningen: speaks protocol {re.escape(THIS)}, "
                    rf"this daemon {re.escape(NEXT_MAJOR_VERSION)}",
                 "drenthe to refuse groningen's version")
    case = "ZVH-PROTO-7"
    fed.include(A, fed.plan_file(), case)
    eq(fed.move(A, case, B)[0], 0, "exit code of the move (queued)")
    wait_until(lambda: fed.peer(A, B).get("version") == NEXT_MAJOR_VERSION,
               what=f"drenthe's version {NEXT_MAJOR_VERSION} in groningen's status")
    wait_until(lambda: fed.peer(B, A).get("version") == THIS,
               what=f"groningen's version {THIS} in drenthe's status")
    expect(not fed.peer(A, B)["up"] and not fed.peer(B, A)["up"],
           "a link between major versions 1 and 2 is up")
    eq(fed.state(A, case), "offered", "the case at groningen")
    eq(fed.show(B, case), None, "the case at drenthe")
    #  Said once per 10 s per peer, not once per frame (a ping every 0.2 s)
    expect("malformed message" not in fed.log(A) + fed.log(B),
           "a frame of another major version was logged as malformed")
    allowed = 2 + int((time.monotonic() - since) // 10)
    for region in (A, B):
        lines = fed.log(region).count("speaks protocol")
        expect(lines <= allowed, f"{region} logged the version refusal {lines} times "
                                 f"(at most {allowed}: one per 10 s)")


test_other_major_version_is_refused_on_both_sides.setup = dict(regions=[A, B])


# --------------------------------------------------------------------- runner: zvhtest's

if __name__ == "__main__":
    zvhtest.main(globals(), federation_of=lambda fn: perm._make_federation(fn.setup))
