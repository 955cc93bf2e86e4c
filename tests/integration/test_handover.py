#!/usr/bin/env python3
"""Warm handover (verhuizen) between real daemons: groningen, drenthe, utrecht.

Covers: include + move with the plan byte-identical at the target, the joint
phase on both sides, inclusion kept (never redone), plan updates at the owner
and proposals from the joint source, completion from either side, a chained
move A->B->C during the joint phase, moving back to a region that holds a
tombstone or is still the joint source, the joint phase ending by itself,
a proposal relayed along moves back to a region that holds the case by then
(applied there, once), handovers that complete while the source's control
socket is flooded (the links are served every loop turn), many moves in one
pipelined call (each handed over once, a refused one failing alone), and every refusal the operator can meet (exit 3 with a useful message; a bad
plan file exits 1 before any daemon is asked).
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zvhtest                                      # noqa: E402
from zvhtest import eq, expect, federation, wait_until  # noqa: E402

REGIONS = ["groningen", "drenthe", "utrecht"]
TIMERS = {"heartbeat_ms": 200, "peer_timeout_ms": 1000,
          "retry_min_ms": 50, "retry_max_ms": 1000}
SETTINGS = dict(TIMERS, joint_phase_s=3600)        # joint phases end by command
SHORT_JOINT = dict(TIMERS, joint_phase_s=2)

A, B, C = REGIONS
FLOOD_CASES = 40        # listed by every request of the control flood
FLOOD_MOVES = 3         # handovers made under it
PIPELINED_MOVES = 70    # one zvhctl call: more than the 64 it keeps in flight


def handover(fed, case_id, source, target):
    """Move case_id and wait until both sides are in the joint phase."""
    rc, moved, err = fed.move(source, case_id, target)
    eq(rc, 0, f"exit code of case move {case_id} {source}->{target} ({err.strip()})")
    eq(moved["state"], "offered", "state returned by case move")
    eq(moved["partner"], target, "partner returned by case move")
    expect(moved["transfer_id"], "case move returned no transfer id")
    at_target = fed.wait_state(target, case_id, "joint_target")
    at_source = fed.wait_state(source, case_id, "joint_source")
    eq(at_target["transfer_id"], moved["transfer_id"], "transfer id at the target")
    eq(at_source["transfer_id"], moved["transfer_id"], "transfer id at the source")
    return at_source, at_target


def refused(result, code, *words):
    """Assert a zvhctl result is exit `code` with every word in its message."""
    rc, out, err = result
    eq(rc, code, f"exit code (stderr: {err.strip()!r})")
    expect(err.startswith("zvhctl: "), f"error message not in 'zvhctl: kind: why' "
                                       f"form: {err!r}")
    for word in words:
        expect(word in err, f"error message {err.strip()!r} does not mention {word!r}")
    return err


def counts(status):
    """The non-zero case counts of a status reply, after checking that every
    state of the handover is reported."""
    for state in ("active", "offered", "joint_target", "joint_source", "tombstone"):
        expect(state in status["cases"], f"status does not count state {state}")
    return {state: n for state, n in status["cases"].items() if n}


def plan_of(fed, region, case_id):
    case = fed.show(region, case_id, plan=True)
    expect(case is not None, f"case {case_id} unknown at {region}")
    expect("plan" in case, f"case {case_id} at {region} ({case['state']}) shows no plan")
    return case


def assert_tombstone(fed, region, case_id, owner):
    case = fed.show(region, case_id, plan=True)
    eq(case["state"], "tombstone", f"state of {case_id} at {region}")
    eq(case["plan_version"], 0, f"plan_version of tombstone {case_id} at {region}")
    eq(case["plan_hash"], "", f"plan_hash of tombstone {case_id} at {region}")
    expect("plan" not in case, f"tombstone {case_id} at {region} still shows plan content")
    eq(case["owner"], owner, f"owner recorded by tombstone {case_id} at {region}")


# --------------------------------------------------------------------- tests

@federation(REGIONS, SETTINGS)
def test_status_shows_peers_and_counts(fed):
    fed.start_all()
    for region in REGIONS:
        status = fed.status(region)
        eq(status["region"], region, "region in status")
        peers = {p["region"]: p for p in status["peers"]}
        eq(sorted(peers), sorted(r for r in REGIONS if r != region),
           f"peers listed by {region} (placeholders must not appear)")
        for other, peer in peers.items():
            expect(peer["up"], f"{region} sees {other} down")
            eq(peer["outbox_depth"], 0, f"outbox depth {region}->{other}")
            expect(peer["last_seen_ms"] > 0, f"{region} never heard from {other}")
        eq(counts(status), {}, f"case counts at {region}")
    for n in range(3):
        fed.include(A, fed.plan_file(), f"count-{n}")
    eq(fed.status(A)["cases"]["active"], 3, "active cases at groningen after 3 includes")
    handover(fed, "count-0", A, B)
    handover(fed, "count-1", A, C)
    fed.ctl_ok(C, "case", "complete", "count-1")
    fed.wait_state(A, "count-1", "tombstone")
    fed.wait_quiescent()
    eq(counts(fed.status(A)), {"active": 1, "joint_source": 1, "tombstone": 1},
       "case counts at groningen")
    eq(counts(fed.status(B)), {"joint_target": 1}, "case counts at drenthe")
    eq(counts(fed.status(C)), {"active": 1}, "case counts at utrecht")
    # A peer that stops is reported down, and up again when it returns
    fed.stop(C)
    wait_until(lambda: not fed.peer(A, C)["up"], 5, what="groningen to see utrecht down")
    expect(fed.peer(A, B)["up"], "groningen sees drenthe down while only utrecht stopped")
    fed.start(C)
    wait_until(lambda: fed.peer(A, C)["up"], 10, what="groningen to see utrecht up again")


@federation(REGIONS, SETTINGS)
def test_move_hands_over_plan_byte_identical(fed):
    fed.start_all()
    plan_path = fed.plan_file("Verhuizing naar Drenthe; plan moet gelijk blijven.")
    with open(plan_path, encoding="utf-8") as f:
        written = json.load(f)
    included = fed.include(A, plan_path, "zvh-move-1")
    eq(included["plan_version"], 1, "plan_version after include")
    eq(len(included["plan_hash"]), 64, "length of the plan hash (hex of 32 bytes)")
    before = plan_of(fed, A, "zvh-move-1")
    eq(before["plan"], written, "plan JSON at the source vs the file included")
    started_ms = time.time() * 1000
    at_source, at_target = handover(fed, "zvh-move-1", A, B)
    # Byte-identical at its version: same hash, same version, same JSON
    eq(at_target["plan_hash"], included["plan_hash"], "plan_hash at the target")
    eq(at_target["plan_version"], included["plan_version"], "plan_version at the target")
    target_plan = plan_of(fed, B, "zvh-move-1")["plan"]
    eq(target_plan, before["plan"], "plan JSON at the target")
    # Joint phase on both sides: one owner (the target), both hold the plan
    eq(at_target["owner"], B, "owner recorded at the target")
    eq(at_target["partner"], A, "partner recorded at the target")
    eq(at_source["owner"], B, "owner recorded at the source")
    eq(at_source["partner"], B, "partner recorded at the source")
    eq(at_source["plan_hash"], included["plan_hash"], "plan_hash kept at the joint source")
    eq(plan_of(fed, A, "zvh-move-1")["plan"], before["plan"], "plan JSON kept at the source")
    expect(at_target["joint_until_ms"] > started_ms + 3000 * 1000,
           f"joint_until_ms {at_target['joint_until_ms']} is not about "
           f"joint_phase_s=3600 after the move ({started_ms:.0f})")
    eq(fed.owners("zvh-move-1"), [B], "owners of the case")
    eq(fed.show(C, "zvh-move-1"), None, "the case at the uninvolved region utrecht")
    fed.wait_quiescent()


@federation(REGIONS, SETTINGS)
def test_inclusion_is_not_redone(fed):
    fed.start_all()
    plan_path = fed.plan_file("Inclusie in Groningen besloten; Drenthe neemt over.")
    included = fed.include(A, plan_path, "zvh-incl-1")
    inclusion = plan_of(fed, A, "zvh-incl-1")["plan"]["inclusion"]
    eq(inclusion["region"], "groningen", "inclusion region in the plan")
    handover(fed, "zvh-incl-1", A, B)
    at_target = plan_of(fed, B, "zvh-incl-1")
    eq(at_target["plan"]["inclusion"], inclusion, "inclusion at the target")
    eq(at_target["state"], "joint_target", "state at the target (not active: no new "
                                           "inclusion)")
    eq(at_target["plan_version"], included["plan_version"],
       "plan_version at the target (an inclusion would start a new plan)")
    log = fed.log(B)
    expect("accepted from groningen" in log and "inclusion kept" in log,
           "drenthe's log does not report the case accepted with its inclusion kept")
    # Including the same case at the target is refused: it is known there
    refused(fed.ctl(B, "case", "include", plan_path, "--case", "zvh-incl-1"), 3,
            "conflict", "already known")
    # A plan update at the target keeps the inclusion too
    fed.ctl_ok(B, "plan", "update", "zvh-incl-1", fed.plan_file("Eerste overleg in Drenthe."))
    eq(plan_of(fed, B, "zvh-incl-1")["plan"]["inclusion"], inclusion,
       "inclusion after a plan update at the target")


@federation(REGIONS, SETTINGS)
def test_plan_update_at_target_reaches_source(fed):
    fed.start_all()
    fed.include(A, fed.plan_file(), "zvh-upd-1")
    handover(fed, "zvh-upd-1", A, B)
    for version in (2, 3):
        summary = f"Drenthe werkt het plan bij naar versie {version}."
        updated = fed.ctl_ok(B, "plan", "update", "zvh-upd-1", fed.plan_file(summary))
        eq(updated["plan_version"], version, "plan_version returned at the owner")
        eq(updated["state"], "joint_target", "state at the owner after the update")
        at_source = wait_until(
            lambda: (lambda c: c["plan_version"] == version and c)(fed.show(A, "zvh-upd-1")),
            10, what=f"version {version} at the source")
        eq(at_source["plan_hash"], updated["plan_hash"], f"plan_hash of v{version} at the source")
        source_plan = plan_of(fed, A, "zvh-upd-1")["plan"]
        eq(source_plan, plan_of(fed, B, "zvh-upd-1")["plan"], f"plan JSON of v{version}")
        eq(source_plan["summary"], summary, "summary of the plan at the source")
        eq(source_plan["version"], version, "version inside the plan at the source")
    fed.wait_quiescent()
    eq(fed.show(A, "zvh-upd-1")["plan_version"], 3, "final plan_version at the source")


@federation(REGIONS, SETTINGS)
def test_proposal_at_source_becomes_next_version(fed):
    fed.start_all()
    fed.include(A, fed.plan_file(), "zvh-prop-1")
    handover(fed, "zvh-prop-1", A, B)
    summary = "Voorstel uit Groningen tijdens de gezamenlijke fase."
    proposed = fed.ctl_ok(A, "plan", "update", "zvh-prop-1", fed.plan_file(summary))
    eq(proposed["state"], "joint_source", "state returned for a proposal")
    eq(proposed["plan_version"], 1, "the source does not assign a version itself")
    at_owner = wait_until(
        lambda: (lambda c: c["plan_version"] == 2 and c)(fed.show(B, "zvh-prop-1")),
        10, what="the proposal to become version 2 at the owner")
    at_source = wait_until(
        lambda: (lambda c: c["plan_version"] == 2 and c)(fed.show(A, "zvh-prop-1")),
        10, what="version 2 to come back to the source")
    eq(at_source["plan_hash"], at_owner["plan_hash"], "plan_hash of v2 on both sides")
    owner_plan = plan_of(fed, B, "zvh-prop-1")["plan"]
    eq(owner_plan["summary"], summary, "summary of v2 at the owner")
    eq(owner_plan["version"], 2, "version inside v2")
    eq(plan_of(fed, A, "zvh-prop-1")["plan"], owner_plan, "plan JSON of v2 at the source")
    # Interleaved: owner v3, then a proposal -> v4, in order
    fed.ctl_ok(B, "plan", "update", "zvh-prop-1", fed.plan_file("Versie 3 uit Drenthe."))
    fed.ctl_ok(A, "plan", "update", "zvh-prop-1", fed.plan_file("Voorstel 2 uit Groningen."))
    fed.wait_quiescent()
    wait_until(lambda: fed.show(A, "zvh-prop-1")["plan_version"] == 4, 10,
               what="version 4 at the source")
    eq(fed.show(B, "zvh-prop-1")["plan_version"], 4, "plan_version at the owner")
    eq(plan_of(fed, B, "zvh-prop-1")["plan"]["summary"], "Voorstel 2 uit Groningen.",
       "summary of v4 (the last write)")
    eq(plan_of(fed, A, "zvh-prop-1")["plan"], plan_of(fed, B, "zvh-prop-1")["plan"],
       "plan JSON of v4 on both sides")


@federation(REGIONS, SETTINGS)
def test_complete_at_target(fed):
    fed.start_all()
    included = fed.include(A, fed.plan_file(), "zvh-done-t")
    handover(fed, "zvh-done-t", A, B)
    done = fed.ctl_ok(B, "case", "complete", "zvh-done-t")
    eq(done["state"], "active", "state returned by complete at the target")
    eq(done["joint_until_ms"], 0, "joint_until_ms after complete")
    fed.wait_state(A, "zvh-done-t", "tombstone")
    assert_tombstone(fed, A, "zvh-done-t", B)
    at_target = plan_of(fed, B, "zvh-done-t")
    eq(at_target["state"], "active", "state at the target")
    eq(at_target["plan_hash"], included["plan_hash"], "plan_hash at the target")
    eq(fed.owners("zvh-done-t"), [B], "owners after complete")
    # Nothing more to complete, edit or move at the tombstone
    refused(fed.ctl(B, "case", "complete", "zvh-done-t"), 3, "not in a joint phase")
    refused(fed.ctl(A, "case", "complete", "zvh-done-t"), 3, "not in a joint phase")
    refused(fed.ctl(A, "plan", "update", "zvh-done-t", fed.plan_file()), 3,
            "not owned here", "drenthe")
    refused(fed.move(A, "zvh-done-t", C), 3, "not owned here", "tombstone", "drenthe")
    fed.wait_quiescent()


@federation(REGIONS, SETTINGS)
def test_complete_at_source(fed):
    fed.start_all()
    included = fed.include(A, fed.plan_file(), "zvh-done-s")
    handover(fed, "zvh-done-s", A, B)
    done = fed.ctl_ok(A, "case", "complete", "zvh-done-s")
    eq(done["state"], "tombstone", "state returned by complete at the source")
    assert_tombstone(fed, A, "zvh-done-s", B)
    at_target = fed.wait_state(B, "zvh-done-s", "active")
    eq(at_target["plan_hash"], included["plan_hash"], "plan_hash at the target")
    eq(at_target["joint_until_ms"], 0, "joint_until_ms at the target after complete")
    fed.wait_quiescent()
    eq(fed.owners("zvh-done-s"), [B], "owners after complete")
    # The target works on alone: an update stays local (no joint partner)
    fed.ctl_ok(B, "plan", "update", "zvh-done-s", fed.plan_file())
    fed.wait_quiescent()
    assert_tombstone(fed, A, "zvh-done-s", B)


@federation(REGIONS, SETTINGS)
def test_chained_move_during_joint_phase(fed):
    fed.start_all()
    included = fed.include(A, fed.plan_file(), "zvh-chain-1")
    handover(fed, "zvh-chain-1", A, B)
    # B owns it in a joint phase with A, and moves it on to C
    at_b, at_c = handover(fed, "zvh-chain-1", B, C)
    fed.wait_state(A, "zvh-chain-1", "tombstone")
    fed.wait_quiescent()
    assert_tombstone(fed, A, "zvh-chain-1", B)
    eq(fed.show(B, "zvh-chain-1")["state"], "joint_source", "state at B")
    eq(fed.show(C, "zvh-chain-1")["state"], "joint_target", "state at C")
    eq(at_c["partner"], B, "C's joint partner")
    eq(at_c["plan_hash"], included["plan_hash"], "plan_hash at C")
    eq(at_c["plan_version"], 1, "plan_version at C")
    eq(plan_of(fed, C, "zvh-chain-1")["plan"], plan_of(fed, B, "zvh-chain-1")["plan"],
       "plan JSON at C vs B")
    eq(fed.owners("zvh-chain-1"), [C], "owners after the chained move")
    # The new joint phase works: B's proposal reaches C and comes back
    fed.ctl_ok(B, "plan", "update", "zvh-chain-1", fed.plan_file("Voorstel van B."))
    wait_until(lambda: fed.show(B, "zvh-chain-1")["plan_version"] == 2, 10,
               what="v2 back at B")
    eq(fed.show(C, "zvh-chain-1")["plan_version"], 2, "plan_version at C")
    fed.wait_quiescent()
    assert_tombstone(fed, A, "zvh-chain-1", B)


@federation(REGIONS, SETTINGS)
def test_move_back_to_tombstone_region(fed):
    fed.start_all()
    fed.include(A, fed.plan_file(), "zvh-back-1")
    handover(fed, "zvh-back-1", A, B)
    fed.ctl_ok(B, "case", "complete", "zvh-back-1")
    fed.wait_state(A, "zvh-back-1", "tombstone")
    updated = fed.ctl_ok(B, "plan", "update", "zvh-back-1", fed.plan_file("Versie 2 in B."))
    at_b, at_a = handover(fed, "zvh-back-1", B, A)
    eq(at_a["plan_version"], 2, "plan_version back at groningen")
    eq(at_a["plan_hash"], updated["plan_hash"], "plan_hash back at groningen")
    eq(at_a["partner"], B, "groningen's joint partner")
    eq(plan_of(fed, A, "zvh-back-1")["plan"], plan_of(fed, B, "zvh-back-1")["plan"],
       "plan JSON back at groningen")
    eq(fed.owners("zvh-back-1"), [A], "owners after moving back")
    fed.ctl_ok(A, "case", "complete", "zvh-back-1")
    fed.wait_state(B, "zvh-back-1", "tombstone")
    assert_tombstone(fed, B, "zvh-back-1", A)
    eq(fed.show(A, "zvh-back-1")["state"], "active", "state at groningen")
    fed.wait_quiescent()


@federation(REGIONS, SETTINGS)
def test_move_back_to_joint_source(fed):
    fed.start_all()
    included = fed.include(A, fed.plan_file(), "zvh-back-2")
    handover(fed, "zvh-back-2", A, B)
    # Straight back while A is still the joint source of the first transfer
    at_b, at_a = handover(fed, "zvh-back-2", B, A)
    fed.wait_quiescent()
    eq(fed.show(A, "zvh-back-2")["state"], "joint_target", "state at groningen")
    eq(fed.show(B, "zvh-back-2")["state"], "joint_source", "state at drenthe")
    eq(at_a["plan_hash"], included["plan_hash"], "plan_hash back at groningen")
    eq(fed.owners("zvh-back-2"), [A], "owners after moving straight back")
    fed.ctl_ok(B, "plan", "update", "zvh-back-2", fed.plan_file("Voorstel uit Drenthe."))
    wait_until(lambda: fed.show(B, "zvh-back-2")["plan_version"] == 2, 10,
               what="v2 back at drenthe")
    eq(fed.show(A, "zvh-back-2")["plan_version"], 2, "plan_version at groningen")


@federation(REGIONS, SHORT_JOINT)
def test_joint_phase_ends_by_itself(fed):
    fed.start_all()
    included = fed.include(A, fed.plan_file(), "zvh-expire-1")
    before_ms = time.time() * 1000
    rc, moved, err = fed.move(A, "zvh-expire-1", B)
    after_ms = time.time() * 1000
    eq(rc, 0, f"exit code of the move ({err.strip()})")
    at_target = fed.wait_state(B, "zvh-expire-1", "joint_target")
    until = at_target["joint_until_ms"]
    expect(before_ms + 2000 - 50 <= until <= after_ms + 2000 + 50,
           f"joint_until_ms {until} is not joint_phase_s=2 after the move "
           f"({before_ms:.0f}..{after_ms:.0f})")
    # Still joint until shortly before the end, on both sides
    while time.time() * 1000 < until - 250:
        eq(fed.state(B, "zvh-expire-1"), "joint_target", "state at the target before "
                                                         "the end")
        expect(fed.state(A, "zvh-expire-1") in ("offered", "joint_source"),
               "the source left the joint phase before its end")
        time.sleep(0.1)
    done = fed.wait_state(B, "zvh-expire-1", "active")
    expect(done["updated_ms"] >= until, f"the joint phase ended at {done['updated_ms']}, "
                                        f"before its end {until}")
    eq(done["joint_until_ms"], 0, "joint_until_ms after the end")
    fed.wait_state(A, "zvh-expire-1", "tombstone")
    assert_tombstone(fed, A, "zvh-expire-1", B)
    eq(done["plan_hash"], included["plan_hash"], "plan_hash at drenthe")
    expect("joint phase reached its configured end" in fed.log(B),
           "drenthe's log does not say the joint phase ended by itself")
    fed.wait_quiescent()
    eq(fed.owners("zvh-expire-1"), [B], "owners after the joint phase")


@federation(REGIONS, SETTINGS)
def test_move_refusals(fed):
    fed.start_all()
    plan_path = fed.plan_file()
    included = fed.include(A, plan_path, "zvh-ref-1")
    refused(fed.move(A, "no-such-case", B), 3, "not found", "no-such-case",
            "not known in region groningen")
    refused(fed.move(A, "zvh-ref-1", "atlantis"), 3, "unknown region", "atlantis",
            "not in the federation directory")
    refused(fed.move(A, "zvh-ref-1", "fryslan"), 3, "unknown region", "fryslan",
            "no endpoint")
    refused(fed.move(A, "zvh-ref-1", A), 3, "already in region groningen")
    refused(fed.move(A, "not a case id!", B), 3, "not a valid case id")
    refused(fed.ctl(A, "case", "include", plan_path, "--case", "bad id!"), 3,
            "bad request", "not valid")
    # None of those changed anything
    case = fed.show(A, "zvh-ref-1")
    eq((case["state"], case["plan_hash"]), ("active", included["plan_hash"]),
       "the case after refused moves")
    eq(fed.status(A)["cases"]["active"], 1, "active cases at groningen")
    # Not owned here: the joint source, and a region that never had it
    handover(fed, "zvh-ref-1", A, B)
    refused(fed.move(A, "zvh-ref-1", C), 3, "conflict", "not owned here",
            "joint_source", "its owner is drenthe")
    refused(fed.move(C, "zvh-ref-1", A), 3, "not found", "not known in region utrecht")
    refused(fed.ctl(A, "case", "complete", "no-such-case"), 3, "not found")
    fed.wait_quiescent()
    eq(fed.owners("zvh-ref-1"), [B], "owners after the refusals")


@federation(REGIONS, SETTINGS)
def test_move_mid_handover_refused(fed):
    fed.start_all()
    included = fed.include(A, fed.plan_file(), "zvh-mid-1")
    fed.wait_quiescent()
    fed.stop(B)                                 # the offer stays pending
    rc, moved, err = fed.move(A, "zvh-mid-1", B)
    eq(rc, 0, f"exit code of the move to a stopped region ({err.strip()})")
    eq(moved["state"], "offered", "state after the move")
    err = refused(fed.move(A, "zvh-mid-1", C), 3, "conflict", "mid-handover", "drenthe")
    expect(moved["transfer_id"] in err, "the refusal does not name the pending transfer")
    refused(fed.move(A, "zvh-mid-1", B), 3, "mid-handover")
    refused(fed.ctl(A, "plan", "update", "zvh-mid-1", fed.plan_file()), 3, "mid-handover")
    refused(fed.ctl(A, "case", "complete", "zvh-mid-1"), 3, "not in a joint phase",
            "offered")
    status = fed.status(A)
    eq(status["cases"]["offered"], 1, "offered cases at groningen")
    depth = {p["region"]: p["outbox_depth"] for p in status["peers"]}
    expect(depth[B] >= 1, "the pending offer is not in the outbox towards drenthe")
    eq(fed.owners("zvh-mid-1", [A, C]), [], "owners while the offer is pending")
    eq(fed.show(C, "zvh-mid-1"), None, "the case at utrecht")
    # When drenthe returns, the one pending offer completes the handover
    fed.start(B)
    fed.wait_state(A, "zvh-mid-1", "joint_source")
    at_b = fed.show(B, "zvh-mid-1")
    eq((at_b["state"], at_b["plan_hash"]), ("joint_target", included["plan_hash"]),
       "the case at drenthe")
    fed.wait_quiescent()
    eq(fed.owners("zvh-mid-1"), [B], "owners after drenthe returned")


@federation(REGIONS, SETTINGS)
def test_include_same_case_twice_refused(fed):
    fed.start_all()
    first = fed.include(A, fed.plan_file("Eerste inclusie."), "zvh-twice-1")
    err = refused(fed.ctl(A, "case", "include", fed.plan_file("Tweede inclusie."),
                          "--case", "zvh-twice-1"), 3, "conflict", "zvh-twice-1",
                  "already known")
    expect("active" in err and "groningen" in err,
           f"the refusal does not say where the case is: {err.strip()!r}")
    case = fed.show(A, "zvh-twice-1", plan=True)
    eq(case["plan_hash"], first["plan_hash"], "plan_hash after the refused include")
    eq(case["plan"]["summary"], "Eerste inclusie.", "summary after the refused include")
    # A generated id is fresh every time
    one = fed.include(A, fed.plan_file())
    two = fed.include(A, fed.plan_file())
    expect(one["id"] != two["id"] and one["id"] and two["id"],
           f"generated case ids {one['id']!r}, {two['id']!r} are not distinct")
    # A region that holds a tombstone of the case refuses to include it again
    handover(fed, "zvh-twice-1", A, B)
    fed.ctl_ok(A, "case", "complete", "zvh-twice-1")
    refused(fed.ctl(A, "case", "include", fed.plan_file(), "--case", "zvh-twice-1"), 3,
            "already known", "tombstone")
    refused(fed.ctl(B, "case", "include", fed.plan_file(), "--case", "zvh-twice-1"), 3,
            "already known")
    eq(fed.status(A)["cases"]["active"], 2, "active cases at groningen")


@federation(REGIONS, SETTINGS)
def test_bad_plan_file_never_reaches_daemon(fed):
    fed.start_all()
    bad = os.path.join(fed.root, "bad-plan.json")
    with open(bad, "w", encoding="utf-8") as f:
        f.write('{ "version": 1, "summary": "kapot" ')
    rc, out, err = fed.ctl(A, "case", "include", bad, "--case", "zvh-bad-1")
    eq(rc, 1, f"exit code for a plan file with invalid JSON ({err.strip()!r})")
    expect("bad-plan.json" in err, f"the message does not name the file: {err.strip()!r}")
    rc, out, err = fed.ctl(A, "case", "include", os.path.join(fed.root, "missing.json"))
    eq(rc, 1, f"exit code for a missing plan file ({err.strip()!r})")
    expect("missing.json" in err, f"the message does not name the file: {err.strip()!r}")
    # Valid JSON, but no legal basis: refused by zvhctl as well
    no_basis = os.path.join(fed.root, "no-legal-basis.json")
    with open(fed.plan_file(), encoding="utf-8") as f:
        plan = json.load(f)
    del plan["legal_basis"]
    with open(no_basis, "w", encoding="utf-8") as f:
        json.dump(plan, f)
    rc, out, err = fed.ctl(A, "case", "include", no_basis)
    eq(rc, 1, f"exit code for a plan without legal basis ({err.strip()!r})")
    expect("legal_basis" in err, f"the message does not name legal_basis: {err.strip()!r}")
    eq(fed.cases(A), {}, "cases at groningen after the bad includes")
    fed.include(A, fed.plan_file(), "zvh-bad-2")
    rc, out, err = fed.ctl(A, "plan", "update", "zvh-bad-2", bad)
    eq(rc, 1, f"exit code for plan update with invalid JSON ({err.strip()!r})")
    eq(fed.show(A, "zvh-bad-2")["plan_version"], 1, "plan_version after the bad update")
    # Not even asked: with the daemon stopped it is still exit 1, not 2 (unreachable)
    fed.stop(A)
    started = time.monotonic()
    rc, out, err = fed.ctl(A, "case", "include", bad, timeout_ms=5000)
    eq(rc, 1, f"exit code for a bad plan file with the daemon stopped ({err.strip()!r})")
    expect(time.monotonic() - started < 3, "zvhctl waited for the daemon before "
                                           "rejecting a bad plan file")
    eq(fed.ctl(A, "status", timeout_ms=300)[0], 2, "exit code of status with the "
                                                   "daemon stopped")


@federation(REGIONS, SETTINGS)
def test_close_during_joint_phase(fed):
    fed.start_all()
    fed.include(A, fed.plan_file(), "zvh-close-1")
    handover(fed, "zvh-close-1", A, B)
    refused(fed.ctl(A, "case", "close", "zvh-close-1"), 3, "not owned here", "drenthe")
    closed = fed.ctl_ok(B, "case", "close", "zvh-close-1")
    eq((closed["state"], closed["plan_version"], closed["plan_hash"]), ("closed", 0, ""),
       "the case after close at the owner")
    expect("plan" not in fed.show(B, "zvh-close-1", plan=True), "a closed case shows "
                                                               "plan content")
    # Closing ends the joint phase first: the source keeps only a tombstone
    fed.wait_state(A, "zvh-close-1", "tombstone")
    assert_tombstone(fed, A, "zvh-close-1", B)
    fed.wait_quiescent()
    eq(fed.owners("zvh-close-1"), [], "owners of a closed case")
    refused(fed.move(B, "zvh-close-1", C), 3, "not owned here", "closed")
    refused(fed.ctl(B, "plan", "update", "zvh-close-1", fed.plan_file()), 3,
            "not owned here")
    refused(fed.ctl(B, "case", "close", "zvh-close-1"), 3, "not owned here")


@federation(REGIONS, SETTINGS)
def test_offer_to_region_owning_same_id_rejected(fed):
    # Two regions include a case under the same id on their own; a move of one
    # onto the other is rejected and the source keeps its case
    fed.start_all()
    mine = fed.include(A, fed.plan_file("Groningens casus."), "zvh-same-1")
    theirs = fed.include(B, fed.plan_file("Drenthes eigen casus."), "zvh-same-1")
    expect(mine["plan_hash"] != theirs["plan_hash"], "the two plans are not distinct")
    fed.wait_links_up()
    rc, moved, err = fed.move(A, "zvh-same-1", B)
    eq(rc, 0, f"exit code of the move ({err.strip()})")
    fed.wait_state(A, "zvh-same-1", "active")
    fed.wait_quiescent()
    at_a, at_b = fed.show(A, "zvh-same-1"), fed.show(B, "zvh-same-1")
    eq((at_a["state"], at_a["plan_hash"]), ("active", mine["plan_hash"]), "groningen's case")
    eq((at_b["state"], at_b["plan_hash"]), ("active", theirs["plan_hash"]), "drenthe's case")
    expect("rejected transfer" in fed.log(A) and "the case is owned here" in fed.log(A),
           "groningen's log does not report the rejection and its reason")


@federation(REGIONS, SETTINGS)
def test_complete_at_both_sides_at_once(fed):
    fed.start_all()
    included = fed.include(A, fed.plan_file(), "zvh-both-1")
    handover(fed, "zvh-both-1", A, B)
    # Each side completes before it hears of the other's completion
    fed.stop(B)
    eq(fed.ctl_ok(A, "case", "complete", "zvh-both-1")["state"], "tombstone",
       "state after complete at the source")
    fed.pause(A)
    fed.start(B)
    eq(fed.ctl_ok(B, "case", "complete", "zvh-both-1")["state"], "active",
       "state after complete at the target")
    fed.resume(A)
    fed.wait_quiescent()
    assert_tombstone(fed, A, "zvh-both-1", B)
    at_b = fed.show(B, "zvh-both-1")
    eq((at_b["state"], at_b["plan_hash"]), ("active", included["plan_hash"]),
       "the case at drenthe")
    eq(fed.owners("zvh-both-1"), [B], "owners")


def _queue_proposal_then_freeze(fed, case_id, summary):
    """A proposes while the owner B is stopped, then A is frozen so that B
    can act before the proposal arrives. Returns the zvhctl reply."""
    fed.stop(B)
    proposed = fed.ctl_ok(A, "plan", "update", case_id, fed.plan_file(summary))
    eq(proposed["state"], "joint_source", "state returned for the proposal")
    fed.pause(A)
    fed.start(B)
    return proposed


@federation(REGIONS, SETTINGS)
def test_proposal_racing_completion_is_applied(fed):
    fed.start_all()
    fed.include(A, fed.plan_file(), "zvh-race-c")
    handover(fed, "zvh-race-c", A, B)
    _queue_proposal_then_freeze(fed, "zvh-race-c", "Voorstel onderweg bij afronding.")
    fed.ctl_ok(B, "case", "complete", "zvh-race-c")
    fed.resume(A)
    fed.wait_quiescent()
    assert_tombstone(fed, A, "zvh-race-c", B)
    at_b = plan_of(fed, B, "zvh-race-c")
    eq((at_b["state"], at_b["plan_version"], at_b["plan"]["summary"]),
       ("active", 2, "Voorstel onderweg bij afronding."),
       "the accepted proposal at the owner after the joint phase ended")


@federation(REGIONS, SETTINGS)
def test_proposal_racing_onward_move_is_not_lost(fed):
    """A proposal that zvhctl accepted (exit 0) at the joint source, arriving
    after the owner moved the case on (to C, or back to the source), follows
    the case to its new owner and is applied there (it used to be dropped:
    'the case is no longer owned here')."""
    fed.start_all()
    problems = []
    for case_id, onward in (("zvh-race-m", C), ("zvh-race-b", A)):
        fed.include(A, fed.plan_file(), case_id)
        handover(fed, case_id, A, B)
        summary = f"Voorstel onderweg tijdens verhuizing naar {onward}."
        _queue_proposal_then_freeze(fed, case_id, summary)
        rc, moved, err = fed.move(B, case_id, onward)
        eq(rc, 0, f"exit code of the onward move ({err.strip()})")
        if onward != A:         # (a move back needs groningen to answer first)
            fed.wait_state(B, case_id, "joint_source")
        fed.resume(A)
        fed.wait_quiescent()
        eq(fed.owners(case_id), [onward], f"owners of {case_id}")
        at_owner = plan_of(fed, onward, case_id)
        if at_owner["plan"]["summary"] != summary:
            dropped = [line.strip() for line in fed.log(B).splitlines()
                       if "dropped" in line and case_id in line]
            problems.append(f"{case_id}: the accepted proposal is lost: {onward} holds "
                            f"v{at_owner['plan_version']} without it; drenthe logged "
                            f"{dropped}")
    expect(not problems, "; ".join(problems))


@federation(REGIONS + ["zeeland"], SETTINGS)
def test_proposal_relayed_back_to_a_region_that_now_holds_the_case(fed):
    """A proposes as B's joint source; the proposal reaches B after B moved
    the case on to C (and C to D): B passes it to C, frozen. D moves the case
    back to B. C, resumed, passes it to D and D to B, which passed it on
    before but holds the case now: B applies it (v2), once. Before the fix B
    took the copy for a duplicate ("applied before") and the edit was lost."""
    D = "zeeland"
    fed.start_all()
    case = "zvh-relay-back"
    fed.include(A, fed.plan_file(), case)
    handover(fed, case, A, B)
    summary = "Voorstel dat de verhuizingen volgt."
    _queue_proposal_then_freeze(fed, case, summary)
    handover(fed, case, B, C)
    handover(fed, case, C, D)
    wait_until(lambda: fed.peer(B, C)["outbox_depth"] == 0, 10, what=f"{B}'s link to {C} drained")
    fed.pause(C)
    fed.resume(A)
    wait_until(lambda: fed.peer(B, C)["outbox_depth"] > 0, 10,
               what=f"{B} to pass the proposal on to the frozen {C}")
    handover(fed, case, D, B)
    fed.resume(C)
    fed.wait_quiescent()
    eq(fed.owners(case), [B], f"owners of {case}")
    at_b = plan_of(fed, B, case)
    eq((at_b["plan_version"], at_b["plan"]["summary"]), (2, summary),
       "the proposal at the owner it came back to")
    fed.ctl_ok(B, "case", "complete", case)
    fed.wait_quiescent()
    eq(plan_of(fed, B, case)["plan_version"], 2, "plan version once things settled")


def _start_control_flood(fed, region):
    """control_burst.py --flood at region: case list requests kept in flight
    so that the control socket never runs dry; returns once it is served."""
    python, tried = zvhtest.python_with("import zmq, google.protobuf")
    expect(python, f"no python3 with zmq and google.protobuf ({'; '.join(tried)}): "
                   "apt-get install python3-zmq python3-protobuf")
    proc = subprocess.Popen([python, os.path.join(zvhtest.SOURCE_DIR, "tests", "integration",
                                                  "control_burst.py"), "--flood",
                             "ipc://" + os.path.join(fed.data_dir(region), "control.sock"),
                             os.path.join(zvhtest.SOURCE_DIR, "proto", "zvh.proto")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    eq(proc.stdout.readline().strip(), "flooding", "first line of the control flood")
    return proc


@federation([A, B], SETTINGS)
def test_handovers_complete_while_control_is_flooded(fed):
    """The source's control socket is never empty (case list requests kept
    in flight, each dearer than sending it), yet every handover completes: its event loop serves every ready
    socket each turn, so the target's answers (inbound federation) and ACKs
    (the link to the target) are not starved behind control requests, as
    they were when a turn served one socket in a fixed order."""
    fed.start_all()
    plan_path = fed.plan_file("Plan tijdens een vloed van verzoeken.")
    for n in range(FLOOD_CASES):
        fed.include(A, plan_path, f"zvh-flood-{n}")
    cases = [f"zvh-flood-{n}" for n in range(FLOOD_MOVES)]
    flood = _start_control_flood(fed, A)
    try:
        for case_id in cases:
            handover(fed, case_id, A, B)
        fed.wait_quiescent()
        eq(flood.poll(), None, "the flood still running when the handovers were done")
    finally:
        out, _ = flood.communicate(timeout=zvhtest.CTL_TIMEOUT_S)
    replies = json.loads(out.splitlines()[-1])["replies"]
    expect(replies > 0, f"the flood got {replies} replies")
    eq(fed.owners(cases[0]), [B], "owners of a case moved under the flood")



@federation([A, B], SETTINGS)
def test_many_moves_in_one_pipelined_call(fed):
    """zvhctl case move with many cases sends them pipelined (up to 64 in
    flight, zvh_client_case_move_many): every one is handed over once, a
    refused one (unknown here) fails alone and sets the exit code, and the
    output lists each moved case. checks [P9.1-6]"""
    fed.start_all()
    plan_path = fed.plan_file("Plan van een van vele verhuizingen.")
    cases = [f"zvh-many-{n}" for n in range(PIPELINED_MOVES)]
    for case_id in cases:
        fed.include(A, plan_path, case_id)
    rc, out, err = fed.ctl(A, "case", "move", *cases[:40], "zvh-many-unknown", *cases[40:],
                           "--to", B)
    eq(rc, 3, f"exit code of a pipelined move with one unknown case (stderr {err.strip()!r})")
    expect("zvh-many-unknown" in err and "not found" in err,
           f"stderr does not name the refused case: {err.strip()!r}")
    expect(isinstance(out, list), f"output of a pipelined move is not a JSON array: {out!r}")
    eq(sorted(c["id"] for c in out), sorted(cases), "cases reported moved")
    expect(all(c["state"] == "offered" and c["partner"] == B for c in out),
           "a moved case not reported offered to drenthe")
    eq(len({c["transfer_id"] for c in out}), len(cases), "distinct transfer ids")

    def all_arrived():
        held = fed.cases(B)
        return all(held.get(c, {}).get("state") == "joint_target" for c in cases) and held
    held = wait_until(all_arrived, what=f"all {len(cases)} cases joint_target at drenthe")
    eq(sorted(held), sorted(cases), "cases drenthe holds (each once, no other)")
    fed.wait_quiescent()
    at_source = fed.cases(A)
    expect(all(at_source[c]["state"] == "joint_source" for c in cases),
           "a case not in its joint phase at groningen")
    eq(fed.status(B)["cases"]["joint_target"], len(cases), "joint_target count at drenthe")

if __name__ == "__main__":
    zvhtest.main(globals())
