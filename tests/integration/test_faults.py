#!/usr/bin/env python3
"""Fault tests: kill -9 at random moments of handovers and plan traffic,
peers stopped for a while (queueing), and a clean restart of everything.

The random choices come from one seed, printed first; set ZVH_SEED to repeat
a run, ZVH_FAULT_ITERATIONS to change the length of the kill loop (>= 50).

Invariants checked after every disturbance, once the federation is quiescent
(no case offered, every outbox empty):
  * every case has exactly one owner (state active or joint_target);
  * the owner holds the plan byte-identical at its version (plan_hash and
    plan_version as at the source; plan JSON equal), a joint source holds
    the same version, a tombstone holds no plan content;
  * a move that zvhctl reported done (exit 0) ended at the target; one that
    was cut off ended at the source or the target, never nowhere or both;
  * plan versions count every accepted update exactly once: more would be a
    duplicate apply, fewer a loss (updates whose zvhctl was cut off by the
    kill may count or not).
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zvhtest                                      # noqa: E402
from zvhtest import OWNER_STATES, eq, expect, federation, wait_until  # noqa: E402

SEED = int(os.environ.get("ZVH_SEED") or 20240603)
ITERATIONS = max(50, int(os.environ.get("ZVH_FAULT_ITERATIONS") or 60))
FAST = {"heartbeat_ms": 100, "peer_timeout_ms": 600,
        "retry_min_ms": 30, "retry_max_ms": 300}
CALL_MS = 2000          # zvhctl -t for calls that a kill may cut off
BURST_CALL_MS = 10000   # zvhctl -t for a burst that a stop cuts off (a busy
                        # machine may take seconds to answer the first)
QUIET_S = 30            # how long the federation may take to settle after a fault
PIPELINED_KILL_MOVES = 70   # one pipelined call: more than one turn's 64

A, B, C = "groningen", "drenthe", "utrecht"


def rng_for(name):
    return random.Random(f"{SEED}/{name}")


def kill_delay(rng):
    """When to strike after starting zvhctl: zvhctl needs ~10 ms to get its
    answer and a handover ~25 ms, so this lands before, during and after."""
    roll = rng.random()
    if roll < 0.35:
        return rng.uniform(0.0, 0.010)
    if roll < 0.85:
        return rng.uniform(0.005, 0.040)
    return rng.uniform(0.040, 0.150)


def strike(fed, victim, proc, delay):
    """Wait delay seconds, SIGKILL victim, restart it at once. Returns True if
    the zvhctl call proc was still running when the kill landed."""
    time.sleep(delay)
    in_flight = proc.poll() is None
    fed.kill(victim)
    fed.start(victim, wait=False)
    return in_flight


def stop_after_first_success(fed, calls, what):
    """Stop every daemon as soon as one zvhctl call of calls has succeeded,
    so the stop lands while the others are under way. (A fixed 20 ms pause
    here assumed an idle machine: under load no call had finished by then
    and the test failed with 'no move of the burst got through'.)"""
    def first_done():
        codes = [proc.poll() for proc in calls]
        return 0 in codes or None not in codes
    wait_until(first_done, timeout=300, what=f"the first {what} of the burst to succeed")
    fed.stop_many()


def settle(fed, timeout=QUIET_S):
    for region in fed.regions:
        fed.wait_answering(region)
    fed.wait_quiescent(timeout=timeout)


def check_book(fed, book):
    """Check every case in book against all regions, then record where each
    one ended: book[id] = {"hash", "version", "plan", "allowed": {regions}}."""
    seen = fed.all_cases()
    unknown = sorted(set(seen) - set(book))
    expect(not unknown, f"cases nobody included: {unknown}")
    for case_id, want in book.items():
        at = seen.get(case_id, {})
        owners = sorted(r for r, c in at.items() if c["state"] in OWNER_STATES)
        expect(owners, f"case {case_id} is lost: no owner anywhere "
                       f"({ {r: c['state'] for r, c in at.items()} })")
        expect(len(owners) == 1, f"case {case_id} has {len(owners)} owners: {owners}")
        owner = owners[0]
        expect(owner in want["allowed"], f"case {case_id} ended at {owner}, expected "
                                         f"{sorted(want['allowed'])}")
        mine = at[owner]
        eq(mine["owner"], owner, f"owner field of {case_id} at its owner")
        eq(mine["plan_version"], want["version"], f"plan_version of {case_id} at {owner}")
        eq(mine["plan_hash"], want["hash"], f"plan_hash of {case_id} at {owner}")
        for region, case in at.items():
            if region == owner:
                continue
            state = case["state"]
            expect(state in ("joint_source", "tombstone"),
                   f"case {case_id} is {state} at {region} while {owner} owns it")
            if state == "joint_source":
                eq(case["owner"], owner, f"owner of {case_id} known at joint source {region}")
                eq((case["plan_version"], case["plan_hash"]),
                   (want["version"], want["hash"]), f"plan of {case_id} at joint source "
                                                    f"{region}")
            else:
                eq((case["plan_version"], case["plan_hash"]), (0, ""),
                   f"plan of tombstone {case_id} at {region}")
        want["allowed"] = {owner}
        want["owner"] = owner
    return seen


def check_plan_json(fed, case_id, region, expected_plan):
    shown = fed.show(region, case_id, plan=True)
    expect(shown and "plan" in shown, f"{region} shows no plan for {case_id}")
    eq(shown["plan"], expected_plan, f"plan JSON of {case_id} at {region}")


def check_logs_clean(fed):
    """A duplicate offer would be rejected ('the case is owned here'); a
    duplicate answer dropped. Neither happens in these scenarios."""
    for region in fed.regions:
        bad = [line for line in fed.log(region).splitlines()
               if " rejected: " in line or " dropped: " in line]
        expect(not bad, f"{region} rejected or dropped events:\n" + "\n".join(bad[:10]))


# --------------------------------------------------------------------- kill loop

@federation([A, B, C], dict(FAST, joint_phase_s=1))
def test_kill9_during_handover(fed):
    """>= 50 rounds: one move (or a burst of 2-4 concurrent moves, new cases
    and cases moved on or back), SIGKILL of the source, the target or the
    third region at a random moment (sometimes again while it recovers),
    restart, settle, check every case so far."""
    rng = rng_for("kill9_handover")
    fed.start_all()
    regions = fed.regions
    book = {}
    stats = {"rounds": 0, "moves": 0, "victim_source": 0, "victim_target": 0,
             "victim_bystander": 0, "in_flight": 0, "move_ok": 0, "move_cut": 0,
             "re_moves": 0, "bursts": 0, "double_kills": 0}
    for i in range(ITERATIONS):
        count = 1 if rng.random() < 0.7 else rng.randint(2, 4)
        stats["bursts"] += count > 1
        moves = []                              # (case_id, source, target)
        for m in range(count):
            busy = {cid for cid, _, _ in moves}
            movable = [cid for cid, want in book.items()
                       if want.get("owner") and cid not in busy]
            if movable and rng.random() < 0.3:
                case_id = rng.choice(movable)
                source = book[case_id]["owner"]
                stats["re_moves"] += 1
            else:
                source = rng.choice(regions)
                case_id = f"kill-{i:03d}-{m}"
                plan_path = fed.plan_file(f"Fault run {SEED}, case {i}/{m}: "
                                          f"{rng.getrandbits(64):016x}.")
                included = fed.include(source, plan_path, case_id)
                book[case_id] = {"hash": included["plan_hash"], "version": 1,
                                 "plan": fed.show(source, case_id, plan=True)["plan"]}
            target = rng.choice([r for r in regions if r != source])
            moves.append((case_id, source, target))
        first_source, first_target = moves[0][1], moves[0][2]
        roll = rng.random()     # the bystander may be a chained move's old source
        victim = (first_source if roll < 0.45 else first_target if roll < 0.9
                  else [r for r in regions if r not in (first_source, first_target)][0])
        delay = kill_delay(rng)
        procs = [fed.ctl_async(source, "case", "move", case_id, "--to", target,
                               timeout_ms=CALL_MS) for case_id, source, target in moves]
        in_flight = strike(fed, victim, procs[-1], delay)
        if rng.random() < 0.1:                  # and again while it recovers
            stats["double_kills"] += 1
            time.sleep(rng.uniform(0.0, 0.15))
            fed.kill(victim)
            fed.start(victim, wait=False)
        stats["rounds"] += 1
        stats["in_flight"] += in_flight
        involved = {r for _, s_, t_ in moves for r in (s_, t_)}
        stats["victim_source" if victim == first_source else "victim_target"
              if victim == first_target else "victim_bystander"] += 1
        results = []
        for (case_id, source, target), proc in zip(moves, procs):
            rc, out, err = fed.ctl_finish(proc)
            results.append(rc)
            stats["moves"] += 1
            expect(rc in (0, 2), f"round {i}: move {case_id} {source}->{target} "
                                 f"exited {rc}: {err.strip()}")
            if rc == 0:
                stats["move_ok"] += 1
                book[case_id]["allowed"] = {target}
            else:
                expect(victim == source, f"round {i}: move {case_id} {source}->{target} "
                                         f"failed ({err.strip()}) but {victim} was killed")
                stats["move_cut"] += 1
                book[case_id]["allowed"] = {source, target}
        try:
            settle(fed)
            check_book(fed, book)
            for case_id, _, _ in moves:
                check_plan_json(fed, case_id, book[case_id]["owner"],
                                book[case_id]["plan"])
        except AssertionError as failure:
            raise zvhtest.TestFailure(
                f"round {i} (seed {SEED}): moves {moves}, killed {victim} "
                f"({'involved' if victim in involved else 'bystander'}) after "
                f"{delay * 1000:.1f} ms (zvhctl {'running' if in_flight else 'done'}; "
                f"exits {results}): {failure}") from None
    check_logs_clean(fed)
    print(f"  kill loop: {stats}", flush=True)
    expect(stats["in_flight"] > 0, "no kill landed while zvhctl was running")


# --------------------------------------------------------------------- joint phase end

@federation([A, B], dict(FAST, joint_phase_s=1))
def test_joint_phase_ends_while_down(fed):
    """The joint phase's end passes while the owner or the source is down,
    or the owner is killed right around it: it still ends exactly once."""
    rng = rng_for("joint_end_down")
    fed.start_all()
    book = {}

    def joint(case_id):
        included = fed.include(A, fed.plan_file(), case_id)
        book[case_id] = {"hash": included["plan_hash"], "version": 1, "allowed": {B}}
        fed.ctl_ok(A, "case", "move", case_id, "--to", B)
        return fed.wait_state(B, case_id, "joint_target")

    # Owner down when the phase ends: it completes the case when it starts again
    until = joint("end-owner-down")["joint_until_ms"]
    fed.stop(B)
    wait_until(lambda: time.time() * 1000 > until + 300, 5, what="the end to pass")
    eq(fed.state(A, "end-owner-down"), "joint_source", "state at the source meanwhile")
    fed.start(B)
    fed.wait_state(A, "end-owner-down", "tombstone")
    eq(fed.state(B, "end-owner-down"), "active", "state at the owner")
    # Source down when the phase ends: the completion waits in the outbox
    joint("end-source-down")
    fed.stop(A)
    fed.wait_state(B, "end-source-down", "active")
    peer = wait_until(lambda: (lambda p: not p["up"] and p["outbox_depth"] and p)(
        fed.peer(B, A)), what="drenthe to queue the completion")
    expect(peer["outbox_depth"] >= 1, "queued completion towards groningen")
    fed.start(A)
    fed.wait_state(A, "end-source-down", "tombstone")
    # Owner killed around the end, several times
    for n in range(4):
        case_id = f"end-kill-{n}"
        until = joint(case_id)["joint_until_ms"]
        strike_at = until / 1000 + rng.uniform(-0.06, 0.06)
        time.sleep(max(0.0, strike_at - time.time()))
        fed.kill(rng.choice([A, B]))
        for region in (A, B):
            if not fed.running(region):
                fed.start(region, wait=False)
        settle(fed)
        fed.wait_state(A, case_id, "tombstone")
    settle(fed)
    check_book(fed, book)
    for case_id in book:
        eq(fed.state(B, case_id), "active", f"state of {case_id} at the owner")
        eq(fed.state(A, case_id), "tombstone", f"state of {case_id} at the source")
    check_logs_clean(fed)


# --------------------------------------------------------------------- proposals

@federation([A, B], dict(FAST, joint_phase_s=0))
def test_kill9_during_plan_proposals(fed):
    """Proposals from the joint source (and some owner updates) while the
    owner or the source is killed: each accepted one applied exactly once."""
    rng = rng_for("kill9_proposals")
    fed.start_all()
    cases, per_case = 4, 14
    stats = {"calls": 0, "accepted": 0, "cut": 0, "kills": 0}
    for n in range(cases):
        case_id = f"prop-{n}"
        initial_summary = f"Seed {SEED}, {case_id}, as included."
        fed.include(A, fed.plan_file(initial_summary), case_id)
        fed.ctl_ok(A, "case", "move", case_id, "--to", B)
        fed.wait_state(A, case_id, "joint_source")
        accepted, cut = 0, 0
        history = []            # (summary, "ok" | "cut") in issue order
        for k in range(per_case):
            at_owner = rng.random() < 0.25          # else a proposal from A
            caller = B if at_owner else A
            summary = f"Seed {SEED}, {case_id}, update {k} from {caller}."
            plan_path = fed.plan_file(summary)
            proc = fed.ctl_async(caller, "plan", "update", case_id, plan_path,
                                 timeout_ms=CALL_MS)
            victim = None
            if rng.random() < 0.6:
                victim = rng.choice([A, B])
                strike(fed, victim, proc, kill_delay(rng))
                stats["kills"] += 1
            rc, out, err = fed.ctl_finish(proc)
            stats["calls"] += 1
            if rc == 0:
                accepted += 1
                history.append((summary, "ok", caller))
                expected_state = "joint_target" if at_owner else "joint_source"
                eq(out["state"], expected_state, f"state returned by {caller}'s update")
            else:
                expect(rc == 2 and victim == caller,
                       f"{case_id} update {k} at {caller} exited {rc} ({err.strip()}); "
                       f"killed: {victim}")
                cut += 1
                history.append((summary, "cut", caller))
            if victim:
                fed.wait_answering(victim)
        stats["accepted"] += accepted
        stats["cut"] += cut
        settle(fed)
        owner = fed.show(B, case_id, plan=True)
        source = fed.show(A, case_id, plan=True)
        eq(owner["state"], "joint_target", f"state of {case_id} at the owner")
        eq(source["state"], "joint_source", f"state of {case_id} at the source")
        applied = owner["plan_version"] - 1
        expect(applied >= accepted, f"{case_id}: plan_version {owner['plan_version']} "
                                    f"but {accepted} updates were accepted: an update "
                                    f"was lost")
        expect(applied <= accepted + cut,
               f"{case_id}: plan_version {owner['plan_version']} but only {accepted} "
               f"updates were accepted (+{cut} cut off): something was applied twice")
        eq((source["plan_version"], source["plan_hash"]),
           (owner["plan_version"], owner["plan_hash"]), f"plan of {case_id} at the source")
        eq(source["plan"], owner["plan"], f"plan JSON of {case_id} at the source")
        eq(owner["plan"]["version"], owner["plan_version"], "version inside the plan")
        # Last write wins in the order the owner applies them: each writer's
        # updates in its own order (the owner's at once, the source's over the
        # ordered link), so the final plan is the last accepted update of one
        # of the two writers, or an update of that writer cut off after it
        allowed = [] if accepted else [initial_summary]
        for writer in (A, B):
            mine = [(s_, how) for s_, how, who in history if who == writer]
            last_ok = max((i for i, (_, how) in enumerate(mine) if how == "ok"),
                          default=0)
            allowed += [s_ for s_, _ in mine[last_ok:]]
        expect(owner["plan"]["summary"] in allowed,
               f"{case_id}: final plan {owner['plan']['summary']!r} is not the last "
               f"update of either writer (allowed: {allowed})")
    fed.wait_quiescent()
    check_logs_clean(fed)
    print(f"  proposals: {stats}", flush=True)


# --------------------------------------------------------------------- queueing

def pending_towards(fed, region, other):
    peer = fed.peer(region, other)
    return peer if (not peer["up"] and peer["outbox_depth"] > 0) else None


@federation([A, B], dict(FAST, joint_phase_s=0))
def test_queueing_while_peer_stopped(fed):
    fed.start_all()
    book = {}
    # 1. Target frozen (SIGSTOP): offers queue at the source
    fed.pause(B)
    for n in range(5):
        case_id = f"queue-{n}"
        included = fed.include(A, fed.plan_file(), case_id)
        book[case_id] = {"hash": included["plan_hash"], "version": 1}
        rc, moved, err = fed.move(A, case_id, B)
        eq(rc, 0, f"exit code of move {case_id} to a frozen region ({err.strip()})")
    # (the depth counts events, and other events, such as label fan-out, may
    # share the queue: at least one per handover)
    peer = wait_until(lambda: pending_towards(fed, A, B), 5,
                      what="groningen to report drenthe down with a queue")
    depth = peer["outbox_depth"]
    expect(depth >= 5, f"outbox depth {depth} towards the frozen drenthe, 5 offers queued")
    expect(peer["oldest_ms"] > 0, "oldest_ms of a non-empty outbox")
    eq(fed.status(A)["cases"]["offered"], 5, "offered cases while drenthe is frozen")
    time.sleep(2.0)                             # frozen "for a while": resends pile up
    eq(fed.peer(A, B)["outbox_depth"], depth, "outbox depth after 2 s")
    fed.resume(B)
    settle(fed)
    for case_id, want in book.items():
        want["allowed"] = {B}
    check_book(fed, book)
    eq(fed.status(B)["cases"]["joint_target"], 5, "joint_target cases at drenthe")
    log = fed.log(B)
    for case_id in book:
        eq(log.count(f"case {case_id}: accepted from groningen"), 1,
           f"times drenthe accepted {case_id}")
    # 2. Source frozen: the owner's plan updates queue towards it
    fed.pause(A)
    for case_id, want in book.items():
        updated = fed.ctl_ok(B, "plan", "update", case_id, fed.plan_file())
        want["hash"], want["version"] = updated["plan_hash"], 2
    peer = wait_until(lambda: pending_towards(fed, B, A), 5,
                      what="drenthe to report groningen down with a queue")
    expect(peer["outbox_depth"] >= 5, f"outbox depth {peer['outbox_depth']} towards the "
                                      "frozen groningen, 5 plan updates queued")
    time.sleep(1.0)
    fed.resume(A)
    settle(fed)
    check_book(fed, book)
    # 3. Target stopped cleanly: new offers and proposals wait on disk
    fed.stop(B)
    for n in range(5, 8):
        case_id = f"queue-{n}"
        included = fed.include(A, fed.plan_file(), case_id)
        book[case_id] = {"hash": included["plan_hash"], "version": 1, "allowed": {B}}
        eq(fed.move(A, case_id, B)[0], 0, f"exit code of move {case_id}")
    for n in range(5):
        fed.ctl_ok(A, "plan", "update", f"queue-{n}", fed.plan_file())
        book[f"queue-{n}"]["version"] = 3
    peer = wait_until(lambda: pending_towards(fed, A, B), 5,
                      what="groningen to report the stopped drenthe down")
    expect(peer["outbox_depth"] >= 8, f"outbox depth {peer['outbox_depth']} towards the "
                                      "stopped drenthe, 3 offers and 5 proposals queued")
    time.sleep(1.0)
    fed.start(B)
    settle(fed)
    seen = fed.all_cases()
    for n in range(5):
        want = book[f"queue-{n}"]
        want["hash"] = seen[f"queue-{n}"][B]["plan_hash"]
    check_book(fed, book)
    for n in range(5):
        eq(seen[f"queue-{n}"][A]["plan_version"], 3, f"plan_version of queue-{n} at "
                                                     "groningen")
    for case_id in book:
        eq(fed.log(B).count(f"case {case_id}: accepted from groningen"), 1,
           f"times drenthe accepted {case_id}")
    check_logs_clean(fed)


# --------------------------------------------------------------- rekey, backup

KILL_ROUNDS = 6             # SIGKILLs into a running --rekey and a running backup


def _data_key_path(fed, region):
    """The data_key file region's config names (relative to the config)."""
    config = fed.config(region)
    with open(config, encoding="utf-8") as f:
        for line in f:
            key, _, value = line.strip().partition("=")
            if key.strip() == "data_key":
                return os.path.join(os.path.dirname(config), value.strip())
    raise zvhtest.TestFailure(f"{config} names no data_key")


def _starts(fed, region):
    """Start region; True if it serves, False if it exits at start-up (a
    store it cannot open with the key it was given)."""
    proc = fed.start(region, wait=False)
    try:
        wait_until(lambda: proc.poll() is not None
                   or fed.ctl(region, "status", timeout_ms=300)[0] == 0, 30,
                   what=f"{region} to answer or exit")
    except zvhtest.TestFailure:
        fed.kill(region)
        raise
    return proc.poll() is None


def _check_cases(fed, region, book, when):
    cases = fed.cases(region)
    for case_id, plan_hash in book.items():
        expect(case_id in cases, f"{case_id} missing at {region} {when}")
        eq(fed.show(region, case_id)["plan_hash"], plan_hash,
           f"plan hash of {case_id} at {region} {when}")


def _check_cut_backup(backup_dir):
    """A backup killed half-way leaves no data.mdb (the copy is renamed to
    it only once complete and stamped); one that finished is stamped."""
    copy = os.path.join(backup_dir, "data.mdb")
    if not os.path.exists(copy):
        return
    dump = subprocess.run(["mdb_dump", "-p", "-n", "-s", "meta", copy],
                          capture_output=True, text=True, check=False)
    eq(dump.returncode, 0, f"mdb_dump of {copy} ({dump.stderr.strip()})")
    expect("backup_taken_ms" in dump.stdout, f"{copy} is there but has no backup stamp: "
                                             "a cut copy that could be restored by mistake")


@federation([A, B], dict(FAST))
def test_kill9_during_backup_and_rekey(fed):
    """A backup only reads the store and --rekey re-encrypts it in one
    transaction: SIGKILLed in the middle of either, the daemon starts again
    with every case whole, under exactly one of the two keys."""
    rng = rng_for("rekey_backup")
    fed.start_all()
    book = {}
    for n in range(40):
        case_id = f"rekey-{n:02d}"
        book[case_id] = fed.include(A, fed.plan_file(), case_id)["plan_hash"]
    for n in range(KILL_ROUNDS):
        proc = fed.ctl_async(A, "backup", os.path.join(fed.root, f"cut-backup-{n}"),
                             timeout_ms=CALL_MS)
        time.sleep(rng.uniform(0.0, 0.03))
        fed.kill(A)
        fed.ctl_finish(proc)
        _check_cut_backup(os.path.join(fed.root, f"cut-backup-{n}"))
        expect(_starts(fed, A), f"{A} starts after a SIGKILL during a backup")
        _check_cases(fed, A, book, f"after a SIGKILL during backup {n}")
    fed.ctl_ok(A, "backup", os.path.join(fed.root, "whole-backup"))
    fed.stop(A)

    key_path = _data_key_path(fed, A)
    for n in range(KILL_ROUNDS):
        fresh = os.path.join(fed.root, f"new-{n}.data_key")
        subprocess.run([zvhtest.ZVHCTL, "datakey", fresh], check=True, capture_output=True)
        proc = fed.spawn(["-c", fed.config(A), "--rekey", fresh], fed.log_path(A))
        time.sleep(rng.uniform(0.0, 0.12))     # before, during or after its transaction
        proc.kill()
        proc.wait()
        with open(key_path, encoding="utf-8") as f:
            old_key = f.read()
        opens_old = _starts(fed, A)
        if opens_old:
            fed.stop(A)
        shutil.copyfile(fresh, key_path)
        opens_new = _starts(fed, A)
        if opens_new:
            fed.stop(A)
        expect(opens_old != opens_new, f"round {n}: the store opens under exactly one "
                                       f"key (old: {opens_old}, new: {opens_new})")
        if opens_old:
            with open(key_path, "w", encoding="utf-8") as f:
                f.write(old_key)
    expect(_starts(fed, A), f"{A} starts under its key after the rekey rounds")
    _check_cases(fed, A, book, "after the rekey rounds")


# --------------------------------------------------------------------- restart

@federation([A, B, C], dict(FAST, joint_phase_s=0))
def test_clean_restart_mid_traffic(fed):
    rng = rng_for("clean_restart")
    fed.start_all()
    book = {}
    for n in range(12):
        source = fed.regions[n % 3]
        case_id = f"restart-{n:02d}"
        included = fed.include(source, fed.plan_file(), case_id)
        book[case_id] = {"hash": included["plan_hash"], "version": 1,
                         "owner": source, "allowed": {source}}
    # Round 1: a burst of moves, everything stopped while they are under way
    calls = []
    for case_id, want in book.items():
        target = rng.choice([r for r in fed.regions if r != want["owner"]])
        calls.append((case_id, want["owner"], target,
                      fed.ctl_async(want["owner"], "case", "move", case_id, "--to",
                                    target, timeout_ms=BURST_CALL_MS)))
    stop_after_first_success(fed, [call[3] for call in calls], "move")
    done = 0
    for case_id, source, target, proc in calls:
        rc, out, err = fed.ctl_finish(proc)
        expect(rc in (0, 2), f"move {case_id} exited {rc}: {err.strip()}")
        book[case_id]["allowed"] = {target} if rc == 0 else {source, target}
        done += rc == 0
    expect(done > 0, "no move of the burst got through before the stop")
    fed.start_all()
    settle(fed)
    check_book(fed, book)
    # Round 2: a burst of plan updates at owners and proposals at joint sources
    seen = fed.all_cases()
    calls = []
    for case_id, want in book.items():
        sources = [r for r, c in seen[case_id].items() if c["state"] == "joint_source"]
        caller = rng.choice(sources + [want["owner"]])
        calls.append((case_id, fed.ctl_async(caller, "plan", "update", case_id,
                                             fed.plan_file(), timeout_ms=BURST_CALL_MS)))
    stop_after_first_success(fed, [call[1] for call in calls], "plan update")
    results = {}
    for case_id, proc in calls:
        rc, out, err = fed.ctl_finish(proc)
        expect(rc in (0, 2), f"plan update {case_id} exited {rc}: {err.strip()}")
        results[case_id] = rc
    fed.start_all()
    settle(fed)
    seen = fed.all_cases()
    for case_id, want in book.items():
        version = seen[case_id][want["owner"]]["plan_version"]
        if results[case_id] == 0:
            eq(version, 2, f"plan_version of {case_id} after an accepted update")
        else:
            expect(version in (1, 2), f"plan_version of {case_id} is {version}")
        want["version"] = version
        want["hash"] = seen[case_id][want["owner"]]["plan_hash"]
    check_book(fed, book)
    check_logs_clean(fed)


# --------------------------------------------------------------------- the turn's commit

def _month():
    return time.strftime("%Y-%m", time.gmtime())


def _figures(fed, region):
    """region's own row of zvhctl monitor for this month: {column: count}."""
    out = fed.ctl_ok(region, "monitor", "--period", _month(), use_json=False)
    lines = out.strip().splitlines()
    header = lines[0].split(",")
    for line in lines[1:]:
        cells = line.split(",")
        if cells[0] == region:
            return {name: int(cell) for name, cell in zip(header[2:], cells[2:]) if cell}
    raise zvhtest.TestFailure(f"no row of {region} in its own monitor CSV:\n{out}")


def _start_with_fault(fed, region, point):
    """Restart region with the fault point armed: it SIGKILLs itself right
    after the turn that reaches point has committed, before its effects."""
    version = subprocess.run([zvhtest.ZVHD, "--version"], capture_output=True, text=True,
                             timeout=30).stdout
    expect("fault points" in version, "this zvhd has no test fault points: build with "
                                      f"-DZVH_FAULT_POINTS=ON (scripts/test.sh does); {version}")
    if fed.running(region):
        fed.stop(region)
    fed.start(region, env={"ZVH_FAULT_KILL": point})


def _wait_fault(fed, region, point):
    proc = fed.procs[region]
    wait_until(lambda: proc.poll() is not None, what=f"{region} to stop at fault point {point}")
    eq(proc.returncode, -signal.SIGKILL, f"how {region} ended at fault point {point}")
    expect(f"fault point {point} reached" in fed.log(region),
           f"{region} died, but not at fault point {point}:\n{fed.log_tail(region, 8)}")
    fed.kill(region)                # reap it


def _check_handed_over_once(fed, case_id):
    """case_id went from A to B exactly once: joint phase at both ends, one
    move counted out at A and one in at B, nothing rejected or dropped."""
    fed.wait_state(B, case_id, "joint_target")
    settle(fed)
    eq(fed.state(A, case_id), "joint_source", f"state of {case_id} at {A}")
    eq(_figures(fed, A).get("moves_out"), 1, f"moves out counted at {A}")
    eq(_figures(fed, B).get("moves_in"), 1, f"moves in counted at {B}")
    check_logs_clean(fed)


@federation([A, B], dict(FAST))
def test_kill_between_the_turns_commit_and_the_answer(fed):
    """The source dies after the turn holding a move has committed and before
    zvhctl has its answer. The same zvhctl call, retried by libzvh with the
    same request id against the restarted daemon, gets the first result (not
    'already offered'), and the case is handed over exactly once."""
    fed.start_all()
    case = fed.include(A, fed.plan_file("moved across a kill"), "TURN-1")
    _start_with_fault(fed, A, "control_write")
    fed.wait_links_up()
    call = fed.ctl_async(A, "case", "move", case["id"], "--to", B, timeout_ms=120000)
    _wait_fault(fed, A, "control_write")
    fed.start(A)
    rc, out, err = fed.ctl_finish(call)
    eq(rc, 0, f"the move retried across the kill ({err.strip()})")
    eq(out["state"], "joint_source", "the move's answer, given after the restart")
    _check_handed_over_once(fed, case["id"])


@federation([A, B], dict(FAST))
def test_kill_between_the_turns_commit_and_the_answers_of_a_pipelined_move(fed):
    """The same for many moves in one pipelined call (zvh_client_case_move_many,
    64 in flight): the source dies after the turn that committed the first
    batch of them and before any answer. libzvh sends every unanswered
    request again with its own id: the restarted daemon answers the
    committed ones with their first result and does the others, so every
    case is handed over exactly once and the call succeeds."""
    fed.start_all()
    plan_path = fed.plan_file("many moved across a kill")
    cases = [f"TURN-P-{n}" for n in range(PIPELINED_KILL_MOVES)]
    for case_id in cases:
        fed.include(A, plan_path, case_id)
    _start_with_fault(fed, A, "control_write")
    fed.wait_links_up()
    call = fed.ctl_async(A, "case", "move", *cases, "--to", B, timeout_ms=120000)
    _wait_fault(fed, A, "control_write")
    fed.start(A)
    rc, out, err = fed.ctl_finish(call)
    eq(rc, 0, f"the pipelined move retried across the kill ({err.strip()})")
    eq(sorted(c["id"] for c in out), sorted(cases), "cases answered")
    expect(all(c["state"] in ("offered", "joint_source") for c in out),
           f"a case answered in another state: {[c['state'] for c in out]}")
    for case_id in cases:
        fed.wait_state(B, case_id, "joint_target")
    settle(fed)
    held = fed.cases(A)
    expect(all(held[c]["state"] == "joint_source" for c in cases),
           "a case not in its joint phase at the source")
    eq(_figures(fed, A).get("moves_out"), len(cases), f"moves out counted at {A}")
    eq(_figures(fed, B).get("moves_in"), len(cases), f"moves in counted at {B}")
    check_logs_clean(fed)


@federation([A, B], dict(FAST))
def test_kill_between_the_turns_commit_and_the_ack(fed):
    """The target dies after the turn that applied an offer has committed and
    before its ACK went out. The source resends; the restarted target knows
    the event (dedup, in the same commit) and acknowledges it without
    applying it again: one hand-over, counted once, the outboxes empty."""
    fed.start_all()
    case = fed.include(A, fed.plan_file("applied across a kill"), "TURN-2")
    settle(fed)
    _start_with_fault(fed, B, "federation_batch")
    fed.wait_links_up()
    rc, out, err = fed.move(A, case["id"], B)
    eq(rc, 0, f"move {case['id']} to {B} ({err.strip()})")
    _wait_fault(fed, B, "federation_batch")
    fed.start(B)
    _check_handed_over_once(fed, case["id"])


@federation([A, B], dict(FAST, map_size_mb=1, map_max_mb=2))
def test_full_map_is_a_clear_error_and_the_daemon_goes_on(fed):
    """A store at its map ceiling (map_max_mb 2): includes of 100 KB plans
    are refused with exit 4 and a message that says so, once the map has
    grown from 1 to 2 MiB; the daemon keeps running and serving what it has
    (the turn that hit the ceiling committed what fitted and undid only the
    change that did not); raised to 64 MiB, it takes changes again."""
    fed.start_all()
    goal = dict(fed.example_plan["domains"][0]["goals"][0], text="x" * 2000)
    domains = json.loads(json.dumps(fed.example_plan["domains"]))
    domains[0]["goals"] = [goal] * 50                       # about 100 KB encoded
    big = "a plan of about 100 KB"
    included, rc, err = [], 0, ""
    while rc == 0:
        expect(len(included) < 64, "64 includes of 100 KB plans fitted in a 2 MiB map")
        case_id = f"FULL-{len(included) + 1}"
        rc, _, err = fed.ctl(A, "case", "include", fed.plan_file(big, domains=domains),
                             "--case", case_id)
        if rc == 0:
            included.append(case_id)
    eq(rc, 4, f"exit code of an include into a full store ({err.strip()})")
    expect("full" in err, f"zvhctl says the store is full: {err.strip()}")
    expect(len(included) >= 2, f"only {len(included)} include(s) before the store was full")
    expect(fed.running(A), f"{A} stopped at a full map:\n{fed.log_tail(A, 8)}")
    expect("map is at its ceiling of 2 MiB; raise map_max_mb" in fed.log(A),
           f"{A}'s log names the ceiling and the setting:\n{fed.log_tail(A, 8)}")
    for case_id in included:
        eq(fed.state(A, case_id), "active", f"state of {case_id} after the store filled")
    fed.stop(A)
    config = fed.config(A)
    with open(config, encoding="utf-8") as f:
        text = f.read()
    expect("map_max_mb = 2" in text, f"{config} has map_max_mb = 2")
    with open(config, "w", encoding="utf-8") as f:
        f.write(text.replace("map_max_mb = 2", "map_max_mb = 64"))
    fed.start(A)
    fed.include(A, fed.plan_file(big, domains=domains), "FULL-AFTER")
    for case_id in included:
        eq(fed.state(A, case_id), "active", f"state of {case_id} after the restart")


if __name__ == "__main__":
    print(f"seed {SEED} (set ZVH_SEED to repeat), {ITERATIONS} kill iterations",
          flush=True)
    zvhtest.main(globals())
