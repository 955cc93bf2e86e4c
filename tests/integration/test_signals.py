#!/usr/bin/env python3
"""Crisis signals end to end: real zvhd daemons, real `zvhctl subscribe`
processes as partners, real kills.

Covers: a subscriber SIGKILLed mid-burst and resumed (--after its last
printed seq, and --from-cursor) gets every signal once and in order; a
daemon SIGKILLed mid fan-out loses nothing; a stalled (SIGSTOPped) partner
does not delay another; a national signal reaches a subscriber in each of
the 31 regions once; each role receives only its view (checked on the raw
SubFrame bytes); a signal raised where the case is unknown reaches the
owner's partners, enriched; label_set / label_moved / label_removed across a
handover; a partner's raise is attributed to its key, whatever it claims; an
unknown key (or a region's key) gets nothing; review_due reaches the owner's
operators, and only them; a resume --after a seq the log never reached does
not lose the next signals silently; a raise relayed along a chain of moves
that comes back to a region it passed through, which holds the case by
then, is published (once), and the same for a plan proposal; every view a
partner gets verifies against the directory's sign_key of its publisher,
and none does against another region's key (zvhctl subscribe --directory).

Run: python3 tests/integration/test_signals.py [name-filter]
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigtest                                      # noqa: E402
from sigtest import (ALL_REGIONS, TIMERS, VIEWS, RawPartner, Raiser,  # noqa: E402
                     check_once_in_order, eq, expect, pb_decode, pb_field,
                     signal_federation, wait_until)
import zvhtest                                      # noqa: E402

A, B, C = "groningen", "drenthe", "utrecht"
ZVHCTL_PATH = zvhtest.ZVHCTL

with open(zvhtest.EXAMPLE_PLAN, encoding="utf-8") as _f:
    PLAN = json.load(_f)
REF = {r["role"]: r["reference"] for r in PLAN["partner_refs"]}
ACTIONS = {}                    # role -> {"up": [...], "down": [...]}
for _scenario in PLAN["scenarios"]:
    for _action in _scenario["actions"]:
        ACTIONS.setdefault(_action["role"], {}).setdefault(
            _scenario["direction"], []).append(_action["action"])
ALL_ACTIONS = {role: sum(by_dir.values(), []) for role, by_dir in ACTIONS.items()}
#  Plan content that no partner view may carry, whatever the role
PLAN_SECRETS = [PLAN["summary"], PLAN["legal_basis"]["reference"],
                PLAN["inclusion"]["decision"], PLAN["team"][0]["name"],
                PLAN["scenarios"][0]["signals"][0], PLAN["domains"][0]["goals"][0]["text"]]


def raw(line):
    return bytes.fromhex(line["raw_hex"])


def only(lines, event_id, what):
    found = [line for line in lines if line["event_id"] == event_id]
    eq(len(found), 1, f"number of times {what} printed {event_id}")
    return found[0]


# --------------------------------------------------------------------- 1

@signal_federation([A, B], dict(TIMERS, review_check_s=3600), partners=[("pol", "police", A)])
def test_subscriber_killed_during_burst_gets_every_signal_once_in_order(fed):
    """SIGKILL a police subscriber mid-burst, resume with --after its last
    printed seq; SIGKILL that one too and resume --from-cursor. Every signal
    once, seqs strictly increasing, in raise order."""
    burst, credit, per_phase = 240, 16, 40
    fed.start_all()
    case = "ZVH-T1-BURST"
    fed.include(A, fed.plan_file(), case)
    first = fed.subscribe(A, "pol", "first", credit=credit)
    first.wait_count(1)                             # label_set: the stream is up
    #  The last 60 raises wait for the gate, so both kills land mid-burst
    raiser = Raiser(fed, A, case, burst, gate_at=burst - 60)
    raiser.start()
    try:
        first.wait_count(per_phase, type_="signal")
        first.kill()
        lines1 = first.lines()
        after1 = lines1[-1]["seq"]
        expect(raiser.done < burst, "the burst ended before the first kill")

        second = fed.subscribe(A, "pol", "second", after=after1, credit=credit)
        wait_until(lambda: len(second.events("signal")) >= per_phase,
                   what="the resumed subscriber to print signals")
        second.kill()
        lines2 = second.lines()
        after2 = lines2[-1]["seq"]
        expect(raiser.done < burst, "the burst ended before the second kill")

        third = fed.subscribe(A, "pol", "third", from_cursor=True, credit=credit)
        third.wait_count(1)
    finally:
        raiser.finish()
    eq(raiser.failures, [], "raises that failed")
    eq(len(raiser.ids), burst, "signals raised")
    third.wait_events(raiser.ids[-1:])
    time.sleep(1.0)                                 # nothing more: a late duplicate shows now
    third.kill()
    lines3 = third.lines()

    # --after: nothing again, nothing skipped
    eq(lines2[0]["seq"], after1 + 1, "first seq after --after (every entry is covered)")
    check_once_in_order(lines1 + lines2, "first + resumed (--after) subscriber")
    # --from-cursor: the stored cursor may trail what was printed before the
    # SIGKILL (printed, then acked), so the tail after the cursor comes again;
    # it must be exactly the lines printed there, at most `credit` of them,
    # and then the stream goes on with nothing skipped.
    check_once_in_order(lines3, "subscriber resumed --from-cursor")
    cursor = lines3[0]["seq"] - 1
    expect(cursor <= after2, f"resumed from cursor {cursor}, after the last printed "
                             f"seq {after2}: printed lines would be skipped")
    expect(cursor >= after1, f"cursor {cursor} went back before seq {after1}, which the "
                             f"second subscriber never printed (acks of a stale session?)")
    again = [line for line in lines3 if line["seq"] <= after2]
    by_seq2 = {line["seq"]: line["event_id"] for line in lines1 + lines2}
    for line in again:
        eq(line["event_id"], by_seq2.get(line["seq"]),
           f"event id redelivered at seq {line['seq']}")
    expect(len(again) <= credit, f"{len(again)} views redelivered after the cursor, more "
                                 f"than the credit {credit}")
    fresh = [line for line in lines3 if line["seq"] > after2]
    expect(fresh and fresh[0]["seq"] == after2 + 1,
           f"stream after --from-cursor does not go on at seq {after2 + 1}: "
           f"{[line['seq'] for line in lines3[:5]]}")
    union = lines1 + lines2 + fresh
    check_once_in_order(union, "union of the three subscribers")
    seqs = [line["seq"] for line in union]
    eq(seqs, list(range(seqs[0], seqs[0] + len(seqs))), "seqs of the union (contiguous)")
    signals = [line["event_id"] for line in union if line["type"] == "signal"]
    eq(len(signals), burst, "signals in the union")
    eq(signals, raiser.ids, "signals in raise order (event ids)")
    for line in union:
        eq(line["event_id"].split("/")[0], A, "origin of every event")
    print(f"    (redelivered after --from-cursor: {len(again)}; "
          f"kills after seq {after1} and {after2})", flush=True)


# --------------------------------------------------------------------- 2

@signal_federation([A, B, C], partners=[("pol", "police", A)])
def test_daemon_killed_mid_fanout_loses_nothing(fed):
    """Raise a burst at A; SIGKILL B during it, then A during it, then A
    again right after the last raise returned; after the restarts every
    subscriber (at B and at C) has every acknowledged signal exactly once,
    in raise order (and a raise that failed while A was down at most once)."""
    burst = 160
    fed.start_all()
    case = "ZVH-T2-FANOUT"
    fed.include(A, fed.plan_file(), case)
    at_b = fed.subscribe(B, "pol", "pol-at-B")
    at_c = fed.subscribe(C, "pol", "pol-at-C")
    at_b.wait_count(1)
    at_c.wait_count(1)
    raiser = Raiser(fed, A, case, burst, timeout_ms=2000)
    raiser.start()
    try:
        wait_until(lambda: raiser.done >= 30, what="30 raises")
        fed.kill(B)
        wait_until(lambda: raiser.done >= 60, what="60 raises")
        fed.start(B)
        wait_until(lambda: raiser.done >= 90, what="90 raises")
        fed.kill(A)
        failed = len(raiser.failures)               # raises fail meanwhile
        wait_until(lambda: len(raiser.failures) > failed or raiser.done == burst,
                   what=f"a raise to fail while {A} is down")
        fed.start(A)
    finally:
        raiser.finish()
    fed.kill(A)                                     # right after the last raise
    fed.start(A)
    expect(len(raiser.failures) <= 10, f"{len(raiser.failures)} raises failed, though A "
                                       f"was down only briefly: {raiser.failures[:3]}")
    expect(len(raiser.ids) >= burst - 10, f"only {len(raiser.ids)} raises acknowledged")
    for sub in (at_b, at_c):
        sub.wait_events(raiser.ids)
    time.sleep(1.0)                                 # nothing more: a late duplicate shows now
    got = {}
    for sub in (at_b, at_c):
        expect(sub.running(), f"subscriber {sub.name} exited: {sub.stderr()[-300:]}")
        lines = sub.lines()
        check_once_in_order(lines, sub.name)
        signals = [line["event_id"] for line in lines if line["type"] == "signal"]
        eq([e for e in signals if e in set(raiser.ids)], raiser.ids,
           f"acknowledged signals printed by {sub.name}, in raise order")
        seqs = [int(e.split("/")[1]) for e in signals]
        eq(seqs, sorted(seqs), f"origin seqs of the signals printed by {sub.name}")
        got[sub.name] = signals
    eq(got[at_b.name], got[at_c.name], "signals at B and at C (unacknowledged ones too)")
    print(f"    ({len(raiser.ids)} acknowledged, {len(raiser.failures)} failed while A was "
          f"down, {len(got[at_b.name]) - len(raiser.ids)} of those delivered anyway)",
          flush=True)


# --------------------------------------------------------------------- 3

@signal_federation([A, B], partners=[("slow", "police", A), ("live", "police", A)])
def test_stalled_subscriber_does_not_delay_others(fed):
    """A SIGSTOPped partner (credit 4) does not delay a live one; after
    SIGCONT it gets everything too, once."""
    count = 80
    fed.start_all()
    case = "ZVH-T3-STALL"
    fed.include(A, fed.plan_file(), case)
    slow = fed.subscribe(A, "slow", "slow", credit=4)
    live = fed.subscribe(A, "live", "live", credit=4)
    slow.wait_count(1)
    live.wait_count(1)
    log_at_pause = len(fed.log(A))
    slow.pause()
    ids = [fed.raise_signal(A, case, kind="scale_up") for _ in range(count)]
    raised_at = time.monotonic()
    #  The stalled partner stays stopped until the live one has everything:
    #  a session that waited for it would never get here (no wall-clock
    #  bound, which a loaded machine could break; the lag is printed)
    live.wait_events(ids)
    lag = time.monotonic() - raised_at
    #  Stay stopped until the daemon has given up on it and paused its stream
    fed.wait_log(A, r"partner slow silent for \d+ ms: its stream is paused",
                 "the stalled partner's stream paused", since=log_at_pause)
    slow.resume()
    slow.wait_events(ids)
    time.sleep(1.0)                                 # nothing more: a late duplicate shows now
    for sub in (slow, live):
        lines = sub.lines()
        check_once_in_order(lines, sub.name)
        eq([line["event_id"] for line in lines if line["type"] == "signal"], ids,
           f"signals printed by {sub.name}")
    print(f"    (live got all {count} {lag:.2f} s after the last raise)", flush=True)


def _deliveries(link, wanted, what, timeout=120.0):
    """Read the raw partner's link until a DELIVERY at each seq in wanted has
    come (others are noted, not acknowledged); fails naming what was missing."""
    got, deadline = [], time.monotonic() + timeout
    while not set(wanted) <= set(got):
        expect(time.monotonic() < deadline,
               f"{what}: deliveries {sorted(set(wanted) - set(got))} never came in "
               f"{timeout:.0f} s (got {got})")
        frame = link.recv(500)
        fields = pb_decode(frame) if frame else {}
        if fields.get(1, [0])[0] == 4:
            got.append(fields.get(2, [0])[0])
    return got


@signal_federation([A, B], partners=[("pol", "police", A)])
def test_partner_that_acks_after_resubscribing_gets_the_rest(fed):
    """A partner resumes (SUBSCRIBE after an older seq, credit 1), then
    acknowledges views it read from its earlier stream, before the daemon
    sends them again: the ACK is beyond what the new stream sent. The daemon
    must take it (up to its log's end) and go on after it; ignoring it left
    the partner dropping resends it already had while its credit never came
    back (issue 18: a SIGSTOPped partner stalled for good after SIGCONT)."""
    fed.start_all()
    case = "ZVH-T3-ACKAHEAD"
    #  A review date ahead: a past one appends a review_due entry to the
    #  log whenever the review pass runs, at a seq no test can know
    fed.include(A, fed.plan_file(review_date="2099-01-01"), case)   # log seq 1: the label
    for _ in range(5):
        fed.raise_signal(A, case, kind="scale_up")  # log seqs 2..6
    link = RawPartner(fed.info[A]["subscribe"], fed.info[A]["public_key"],
                      fed.partners["pol"]["key"])
    subscribe = pb_field(1, 1) + pb_field(2, 0)
    try:
        link.send(subscribe + pb_field(3, 4))
        _deliveries(link, [1, 2, 3, 4], "first stream, credit 4")
        #  Resume with credit 1 and acknowledge 4 at once: whatever the
        #  daemon has sent of the new stream by then, 4 is beyond it
        link.send(subscribe + pb_field(3, 1))
        link.send(pb_field(1, 2) + pb_field(2, 4))
        got = _deliveries(link, [5], "after the resume and ACK 4")
        link.send(pb_field(1, 2) + pb_field(2, 5))
        got += _deliveries(link, [6], "after ACK 5")
        expect(max(got) == 6 and 6 not in got[:-1],
               f"deliveries after the resume: {got}")
    finally:
        link.close()
    #  The ACKs were stored: a partner resuming from the cursor starts at 6
    again = fed.subscribe(A, "pol", "from-cursor", from_cursor=True)
    first = again.wait_count(1, type_=None)[0]
    eq(first["seq"], 6, "first seq resumed from the stored cursor")


# --------------------------------------------------------------------- 4

#  31 ASan daemons pinging each other every 200 ms take most of 2 cores and
#  miss each other's pings (tests/chaos/chaos.py): heartbeats at the
#  daemon's defaults here, where they play no part
NATIONAL_TIMERS = dict(TIMERS, heartbeat_ms=1000, peer_timeout_ms=5000)


@signal_federation(ALL_REGIONS, NATIONAL_TIMERS,
                   partners=[("reclassering", "probation", "*")])
def test_national_signal_reaches_every_region_of_31(fed):
    """All 31 regions, a probation subscriber at each: one national signal
    raised at one region reaches each subscriber exactly once."""
    expect(len(fed.regions) == 31, f"regions.zpl lists {len(fed.regions)} regions, not 31")
    #  31 daemons starting at once on a busy machine: each daemon, then each
    #  region's links, gets its own wait (minutes), with no budget for all
    fed.start_all()
    subs = [fed.subscribe(region, "reclassering", f"prob-at-{region}")
            for region in fed.regions]
    #  A label from one region first: every stream is up when the signal goes
    fed.include(A, fed.plan_file(), "ZVH-T4-LABEL")
    for sub in subs:
        sub.wait_count(1)
    raiser = fed.regions[len(fed.regions) // 2]
    event_id = fed.raise_signal(raiser, national=True, kind="scale_up",
                                urgency="immediate", severity="severe")
    started = time.monotonic()
    for sub in subs:
        sub.wait_events([event_id])
    spread = time.monotonic() - started
    time.sleep(1.0)                                 # nothing more: a late duplicate shows now
    for sub in subs:
        lines = sub.lines()
        check_once_in_order(lines, sub.name)
        line = only(lines, event_id, sub.name)
        eq(line.get("national"), True, f"national flag at {sub.region}")
        eq(line.get("region"), raiser, f"region of the national signal at {sub.region}")
        eq(line.get("kind"), "scale_up", f"kind at {sub.region}")
    print(f"    (all 31 subscribers had it {spread:.1f} s after the raise)", flush=True)


# --------------------------------------------------------------------- 5

@signal_federation([A, B], partners=[("pol", "police", A), ("ggz", "crisis_service", A),
                                     ("rn", "probation", "*"), ("ops", "operator", A)])
def test_each_role_receives_only_its_view(fed):
    """Raw SubFrame bytes per role: police and probation get no case id,
    text or raiser; the crisis service gets the text but no case id; the
    operator gets case id and text; each role its own partner_ref and
    actions and never another role's; no role any other plan content."""
    fed.start_all()
    case = "ZVH-T5-CASE-7731"
    text = "T5 zus belde om 03:12, dreigende uitlatingen naar de buren"
    raiser_id = f"operator@{A}"
    fed.include(A, fed.plan_file(), case)
    event_id = fed.raise_signal(A, case, kind="scale_up", urgency="immediate",
                                severity="severe", certainty="observed", text=text)
    role_of = {"pol": "police", "ggz": "crisis_service", "rn": "probation",
               "ops": "operator"}
    got = {}
    for partner in role_of:
        sub = fed.subscribe(A, partner, f"{partner}-view")
        got[partner] = sub.wait_events([event_id])
    time.sleep(0.5)                                 # nothing more: a late view shows now
    for partner, role in role_of.items():
        lines = got[partner]
        types = {line["type"] for line in lines}
        expect({"label_set", "signal"} <= types, f"{partner} got types {types}")
        allowed = set(VIEWS[role].split(",")) | {"raw_hex"}
        for line in lines:
            extra = set(line) - allowed
            expect(not extra, f"{role} got fields outside its view in a {line['type']} "
                              f"event: {sorted(extra)}")
            data = raw(line)
            what = f"{role}'s {line['type']} frame"
            for secret in PLAN_SECRETS:
                expect(secret.encode() not in data, f"{what} holds plan content {secret[:40]!r}")
            for other, ref in REF.items():
                if other != role:
                    expect(ref.encode() not in data,
                           f"{what} holds {other}'s partner_ref {ref!r}")
            #  Operators act for their region: the plan's "region" actions are theirs
            own = {role, "region"} if role == "operator" else {role}
            for other, actions in ALL_ACTIONS.items():
                if other not in own:
                    for action in actions:
                        expect(action.encode() not in data,
                               f"{what} holds {other}'s action {action[:40]!r}")
            if role != "operator":
                expect(case.encode() not in data, f"{what} holds the case id {case}")
                expect(raiser_id.encode() not in data, f"{what} holds the raiser id")
            if role in ("police", "probation"):
                expect(text.encode() not in data, f"{what} holds the signal text")
        signal = only(lines, event_id, partner)
        data = raw(signal)
        if role in REF:
            expect(REF[role].encode() in data, f"{role}'s signal lacks its partner_ref")
            eq(signal.get("partner_ref"), REF[role], f"{role}'s partner_ref")
            eq(signal.get("actions"), ACTIONS[role]["up"], f"{role}'s actions (scale_up)")
        if role == "crisis_service":
            expect(text.encode() in data, "the crisis service's signal lacks the text")
        if role == "operator":
            expect(case.encode() in data, "the operator's signal lacks the case id")
            expect(text.encode() in data, "the operator's signal lacks the text")
            eq(signal.get("raised_by"), raiser_id, "raised_by for the operator")
            eq(signal.get("case_id"), case, "case_id for the operator")
        eq(signal.get("severity"), "severe", f"severity for {role}")
        eq(signal.get("coordinator_contact"), "coordinator@fact-noord.example",
           f"coordinator_contact for {role}")


# --------------------------------------------------------------------- 6

@signal_federation([A, B, C], partners=[("pol-a", "police", A), ("pol-b", "police", B),
                                        ("ops-a", "operator", A)])
def test_signal_about_case_not_held_by_raiser_reaches_owner(fed):
    """Raised at B, which never saw the case (owner A): partners covering A
    get it, at A and at C, enriched by the owner (police partner_ref); a
    partner covering only B gets nothing."""
    fed.start_all()
    case = "ZVH-T6-ELSEWHERE"
    fed.include(A, fed.plan_file(), case)
    eq(fed.show(B, case), None, f"case {case} at {B} before the raise")
    pol_a = fed.subscribe(A, "pol-a", "pol-a-at-A")
    pol_c = fed.subscribe(C, "pol-a", "pol-a-at-C")
    ops = fed.subscribe(A, "ops-a", "ops-at-A")
    pol_b = fed.subscribe(B, "pol-b", "pol-b-at-B")
    event_id = fed.raise_signal(B, case, kind="out_of_view", text="T6 uit beeld")
    eq(event_id.split("/")[0], B, "origin of the event id (the raising region)")
    for sub in (pol_a, pol_c):
        signal = only(sub.wait_events([event_id]), event_id, sub.name)
        eq(signal["type"], "signal", f"type at {sub.name}")
        eq(signal["region"], A, f"region (owner) at {sub.name}")
        eq(signal.get("kind"), "out_of_view", f"kind at {sub.name}")
        eq(signal.get("partner_ref"), REF["police"], f"partner_ref at {sub.name}")
        eq(signal.get("actions"), ACTIONS["police"]["up"], f"actions at {sub.name}")
    signal = only(ops.wait_events([event_id]), event_id, "ops")
    eq(signal.get("raised_by"), f"operator@{B}", "raised_by seen by the owner's operator")
    eq(signal.get("case_id"), case, "case_id seen by the owner's operator")
    time.sleep(1.0)                                 # nothing more: a stray view shows now
    eq(pol_b.lines(), [], f"what a partner covering only {B} printed")


# --------------------------------------------------------------------- 7

@signal_federation([A, B], dict(TIMERS, joint_phase_s=3600),
                   partners=[("pol-a", "police", A), ("pol-b", "police", B),
                             ("ops", "operator", "*")])
def test_label_lifecycle_across_handover(fed):
    """label_set at include (region A), label_moved when B accepts (region B,
    previous_region A), label_removed at close at B; each partner gets the
    ones for the regions it covers."""
    fed.start_all()
    case = "ZVH-T7-LABEL"
    pol_a = fed.subscribe(A, "pol-a", "pol-a")
    pol_b = fed.subscribe(B, "pol-b", "pol-b")
    ops = fed.subscribe(B, "ops", "ops-at-B")
    fed.include(A, fed.plan_file(), case)
    label_set = ops.wait_count(1, type_="label_set")[0]
    eq(label_set["region"], A, "region of label_set")
    eq(label_set["case_id"], case, "case of label_set")
    rc, moved, err = fed.move(A, case, B)
    eq(rc, 0, f"case move ({err.strip()})")
    fed.wait_state(B, case, "joint_target")
    label_moved = ops.wait_count(1, type_="label_moved")[0]
    eq((label_moved["region"], label_moved.get("previous_region")), (B, A),
       "region and previous_region of label_moved")
    fed.ctl_ok(B, "case", "complete", case)
    fed.ctl_ok(B, "case", "close", case)
    label_removed = ops.wait_count(1, type_="label_removed")[0]
    eq(label_removed["region"], B, "region of label_removed")
    ids = [label_set["event_id"], label_moved["event_id"], label_removed["event_id"]]
    eq([e.split("/")[0] for e in ids], [A, B, B], "origins of the label events")
    pb_lines = pol_b.wait_events(ids[1:])
    pol_a.wait_events(ids[:2])
    time.sleep(1.0)                                 # nothing more: a stray label shows now
    labels = ("label_set", "label_moved", "label_removed")
    eq([(line["type"], line["event_id"]) for line in ops.lines() if line["type"] in labels],
       list(zip(labels, ids)), "label events the operator (*) got, in order")
    #  A partner of the region the case left hears where it went (label_moved)
    eq([line["event_id"] for line in pol_a.lines() if line["type"] in labels], ids[:2],
       f"label events of police covering {A}")
    pb_lines = pol_b.lines()
    eq([line["event_id"] for line in pb_lines if line["type"] in labels], ids[1:],
       f"label events of police covering {B}")
    eq(pol_a.lines()[0].get("partner_ref"), REF["police"], "partner_ref in label_set")
    #  ... but only that it left (PROTOCOL 8.1): not the new owner, its
    #  contact or its actions, which police covering B get
    left = only(pol_a.lines(), ids[1], "pol-a")
    eq((left.get("previous_region"), left.get("partner_ref")), (A, REF["police"]),
       "previous_region and partner_ref of label_moved for police covering only A")
    for field in ("region", "coordinator_contact", "actions"):
        expect(field not in left, f"police covering only {A} got {field} of the new owner "
                                  f"in label_moved: {left}")
        expect(field in only(pol_b.lines(), ids[1], "pol-b"),
               f"police covering {B} did not get {field} in label_moved")
    moved_line = only(pb_lines, ids[1], "pol-b")
    eq(moved_line.get("previous_region"), A, "previous_region seen by police at B")
    eq(moved_line.get("partner_ref"), REF["police"], "partner_ref in label_moved")
    #  Police have no case id: their reference is how they know which label goes
    removed_line = only(pb_lines, ids[2], "pol-b")
    eq(removed_line.get("partner_ref"), REF["police"], "partner_ref in label_removed")
    for sub in (pol_a, pol_b, ops):
        check_once_in_order(sub.lines(), sub.name)


# --------------------------------------------------------------------- 8

@signal_federation([A, B], partners=[("ggz-noord", "crisis_service", A),
                                     ("ops", "operator", A)])
def test_partner_raises_signal_over_curve(fed):
    """A crisis service raises over its CURVE link (zvhctl, and a hand-made
    RAISE frame claiming to be this region's operator): the operator sees
    raised_by = the partner id and raised_role = its role either way."""
    fed.start_all()
    case = "ZVH-T8-PARTNER"
    fed.include(A, fed.plan_file(), case)
    rc, event_id, err = fed.partner_raise(A, "ggz-noord", case, kind="incident",
                                          text="T8 raised by the crisis service")
    eq(rc, 0, f"exit code of the partner's raise ({err.strip()})")
    #  The same partner, claiming in the frame to be the region's operator
    raise_msg = (pb_field(1, case) + pb_field(3, 1) + pb_field(7, "T8 forged claim")
                 + pb_field(8, f"operator@{A}") + pb_field(9, "operator")
                 + pb_field(10, 1))
    frame = pb_field(1, 7) + pb_field(7, raise_msg) + pb_field(9, 4242)
    link = RawPartner(fed.info[A]["subscribe"], fed.info[A]["public_key"],
                      fed.partners["ggz-noord"]["key"])
    try:
        link.send(frame)
        deadline, forged_id = time.monotonic() + 10, None
        while time.monotonic() < deadline and forged_id is None:
            reply = link.recv(500)
            if reply is None:
                continue
            fields = pb_decode(reply)
            if fields.get(9, [0])[0] == 4242:
                eq(fields.get(1, [0])[0], 8,
                   f"reply kind to the RAISE (8 = RAISED; error: {fields.get(6)})")
                forged_id = fields[8][0].decode()
    finally:
        link.close()
    expect(forged_id, "no RAISED answer to the hand-made RAISE frame")
    ops = fed.subscribe(A, "ops", "ops")
    lines = ops.wait_events([event_id, forged_id])
    for eid, what in ((event_id, "zvhctl raise"), (forged_id, "forged raise")):
        line = only(lines, eid, "ops")
        eq((line.get("raised_by"), line.get("raised_role")), ("ggz-noord", "crisis_service"),
           f"raised_by and raised_role of the {what}")
        eq(line.get("case_id"), case, f"case of the {what}")
        expect(line.get("time_ms", 0) > 1_000_000_000_000, f"time_ms of the {what}")


# --------------------------------------------------------------------- 9

@signal_federation([A, B], partners=[("pol", "police", A)])
def test_unknown_key_cannot_subscribe(fed):
    """A key not in partners.zpl gets nothing and cannot raise; the refusal
    is logged by the daemon. A region's key is no partner key either."""
    fed.start_all()
    case = "ZVH-T9-UNKNOWN"
    fed.include(A, fed.plan_file(), case)
    fed.raise_signal(A, case, kind="incident", text="T9 not for strangers")
    keydir = os.path.join(fed.root, "strangers")
    os.makedirs(keydir, exist_ok=True)
    zvhtest.make_federation.keygen(ZVHCTL_PATH, keydir, "stranger", "", "police")
    stranger_key = os.path.join(keydir, "stranger.key_secret")
    before = len(fed.log(A))
    stranger = fed.subscribe(A, "pol", "stranger", key=stranger_key, idle_exit_ms=2500)
    as_region = fed.subscribe(A, "pol", "region-key", idle_exit_ms=2500,
                              key=os.path.join(fed.root, "keys", f"{B}.key_secret"))
    #  A real partner, for contrast: it gets the label and the signal
    known = fed.subscribe(A, "pol", "known", idle_exit_ms=2500)
    known.wait_count(2, type_=None)
    for sub in (stranger, as_region):
        sub.wait_exit(30)
        eq(sub.lines(), [], f"lines printed for the {sub.name} key")
    cmd = [ZVHCTL_PATH, "--json", "-t", "2000"] + fed.raise_args(case, kind="incident")
    cmd += ["--endpoint", fed.info[A]["subscribe"], "--server-key", fed.info[A]["public_key"],
            "--key", stranger_key]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=30)
    expect(proc.returncode != 0, f"a raise with an unknown key exited 0: {proc.stdout!r}")
    log = fed.log(A)[before:]
    expect("denied" in log or "not a partner" in log,
           f"{A}'s log does not mention the refused key:\n{log[-1500:]}")



# --------------------------------------------------------------------- 10

@signal_federation([A, B], partners=[("ops", "operator", A)])
def test_review_due_reaches_owner_operators(fed):
    """review_check_s = 1: an operator of the owner region gets review_due
    for an included case whose plan's review date (2024-09-02) has passed."""
    fed.start_all()
    case = "ZVH-T10-REVIEW"
    ops = fed.subscribe(A, "ops", "ops")
    fed.include(A, fed.plan_file(), case)
    due = ops.wait_count(1, type_="review_due")[0]
    eq(due.get("case_id"), case, "case of review_due")
    eq(due.get("review_date"), PLAN["review_date"], "review_date")
    eq(due.get("region"), A, "region of review_due")
    eq(due["event_id"].split("/")[0], A, "origin of review_due")
    time.sleep(2.5)                                 # nothing more: two more checks, told once
    eq(len(ops.events("review_due")), 1, "review_due events for one plan version")


# --------------------------------------------------------------------- 11

@signal_federation([A, B], partners=[("pol", "police", A), ("ops-all", "operator", "*")])
def test_review_due_is_only_for_owner_operators(fed):
    """review_due stays in the owner region's log, for its operators: police
    covering the owner region do not get it, nor does an operator at another
    region."""
    fed.start_all()
    case = "ZVH-T11-REVIEW"
    pol = fed.subscribe(A, "pol", "pol-at-A")
    ops_a = fed.subscribe(A, "ops-all", "ops-at-A")
    ops_b = fed.subscribe(B, "ops-all", "ops-at-B")
    fed.include(A, fed.plan_file(), case)
    ops_a.wait_count(1, type_="review_due")
    label = ops_a.events("label_set")[0]["event_id"]
    pol.wait_events([label])
    ops_b.wait_events([label])
    time.sleep(2.0)                                 # nothing more: a stray review_due shows
    eq([line["event_id"] for line in ops_b.events("review_due")], [],
       f"review_due events an operator got at {B}")
    eq([line["event_id"] for line in pol.events("review_due")], [],
       "review_due events police got (they are for operators)")


# --------------------------------------------------------------------- 12

@signal_federation([A, B], dict(TIMERS, review_check_s=3600),
                   partners=[("pol", "police", A)])
def test_resume_after_seq_beyond_log_is_not_silent(fed):
    """A partner resuming --after a seq this log never reached (a seq from
    another region's log, or from before a restore) must not lose the next
    signals silently: it gets them, or it is told (stderr / exit code)."""
    fed.start_all()
    case = "ZVH-T12-BEYOND"
    fed.include(A, fed.plan_file(), case)
    log_before = len(fed.log(A))
    sub = fed.subscribe(A, "pol", "after-1000", after=1000, idle_exit_ms=3000)
    fed.wait_log(A, r"partner pol \(police\) subscribed from seq", "the partner's subscribe",
                 since=log_before)
    ids = [fed.raise_signal(A, case, kind="incident") for _ in range(3)]
    rc = sub.wait_exit()
    printed = sub.event_ids("signal")
    told = rc != 0 or sub.stderr().strip()
    expect(printed == ids or told,
           f"subscribe --after 1000 on a log of a few entries: printed "
           f"{printed} of {ids}, exit {rc}, stderr {sub.stderr().strip()!r}: the signals "
           f"were skipped silently (the daemon starts at its last seq; the library drops "
           f"every seq <= 1000)")


# --------------------------------------------------------------------- 13

D = "zeeland"


def _move(fed, case, source, target):
    rc, _, err = fed.move(source, case, target)
    eq(rc, 0, f"exit code of case move {source}->{target} ({err.strip()})")
    fed.wait_state(target, case, "joint_target")
    fed.wait_state(source, case, "joint_source")


@signal_federation([A, B, C, D], dict(TIMERS, joint_phase_s=3600),
                   partners=[("ops", "operator", "*")])
def test_raise_relayed_back_to_a_region_that_now_holds_the_case(fed):
    """The case went A -> B -> C -> D. With C frozen, A raises: A sends it to
    B (where A moved it), B passes it on to C (where B moved it), C holds it.
    Meanwhile D moves the case back to B. C, resumed, passes it to D, D to
    B, which B already saw (as a relay) but now holds: B must publish it,
    once. (The long chaos run lost 12 signals this way: B had recorded the
    raise as applied when it only passed it on.) Then the same path for a
    plan proposal: a joint source's edit relayed back to where it passed."""
    fed.start_all()
    case = "ZVH-T13-RELAY"
    fed.include(A, fed.plan_file(), case)
    for source, target in ((A, B), (B, C), (C, D)):
        _move(fed, case, source, target)
    fed.wait_quiescent()
    ops = fed.subscribe(A, "ops", "ops-at-A")
    fed.pause(C)
    event_id = fed.raise_signal(A, case, kind="incident", text="T13 onderweg")
    wait_until(lambda: fed.peer(B, C)["outbox_depth"] > 0,
               what=f"{B} to pass the raise on to the frozen {C}")
    _move(fed, case, D, B)
    fed.resume(C)
    fed.wait_quiescent()
    signal = only(ops.wait_events([event_id]), event_id, "ops at A")
    eq(signal["region"], B, "region that published the relayed raise (the holder)")
    time.sleep(1.0)                                 # nothing more: a late duplicate shows now
    eq(len([e for e in ops.event_ids("signal") if e == event_id]), 1,
       f"copies of {event_id} at A")
    eq(fed.owners(case), [B], f"owners of {case}")


# --------------------------------------------------------------------- 14

@signal_federation([A, B, C], partners=[("pol", "police", A), ("ggz", "crisis_service", A),
                                        ("ops", "operator", A)])
def test_partners_verify_who_published_every_view(fed):
    """Provenance (PROTOCOL 8.3): partners of A, each verifying with the
    directory's sign_keys, find every view they get verified and published
    by the region that made it: A's label and signal, a raise from B that A
    published, a national signal of C. With a directory in which A's
    sign_key is another region's, every view from A fails, loudly, and the
    subscriber exits 6."""
    fed.start_all()
    case = "ZVH-T14-PROVENANCE"
    directory = os.path.join(fed.root, "federation.zpl")
    fed.include(A, fed.plan_file(), case)
    own = fed.raise_signal(A, case, kind="scale_up", text="T14 eigen signaal")
    from_b = fed.raise_signal(B, case, kind="incident", text="T14 via drenthe")
    national = fed.raise_signal(C, national=True, kind="scale_down")
    publisher = {own: A, from_b: A, national: C}
    for partner in ("pol", "ggz", "ops"):
        sub = fed.subscribe(A, partner, f"{partner}-verifies", directory=directory)
        lines = sub.wait_events(list(publisher))
        for line in lines:
            what = f"{partner}'s {line['type']} {line['event_id']}"
            eq(line.get("verified"), True, f"verified for {what}")
            eq(line.get("publisher"), publisher.get(line["event_id"], A), f"publisher of {what}")
        expect("FAILED" not in sub.stderr(), f"{partner} reported a failure: {sub.stderr()!r}")
    #  A directory that gives A another region's sign_key: nothing of A verifies
    with open(directory, encoding="utf-8") as f:
        text = f.read()
    wrong = os.path.join(fed.root, "wrong-directory.zpl")
    with open(wrong, "w", encoding="utf-8") as f:
        f.write(text.replace(fed.info[A]["sign_key"], fed.info[B]["sign_key"]))
    sub = fed.subscribe(A, "pol", "pol-wrong-key", directory=wrong, idle_exit_ms=1500,
                        after=0)
    eq(sub.wait_exit(), 6, "exit code of a subscriber that got views that fail")
    by_id = {line["event_id"]: line for line in sub.lines()}
    for event_id, region in publisher.items():
        eq(by_id[event_id].get("verified"), region != A, f"verified for {event_id}")
    expect(f"({own}) FAILED verification" in sub.stderr(),
           f"no loud report of {own}: {sub.stderr()!r}")


if __name__ == "__main__":
    sigtest.main(globals())
