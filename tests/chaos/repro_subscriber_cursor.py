#!/usr/bin/env python3
"""Minimal reproduction (found by tests/chaos/chaos.py): acknowledgements
that reach zvhd while it holds the partner's stream as paused are dropped,
so the durable cursor stays behind what the partner has acknowledged, and a
partner resuming with --from-cursor receives those signals a second time.

One region, one partner (probation, regions "*"), no kill of the daemon:

  1. subscriber A (`zvhctl subscribe --from-cursor`) reads seq 1-3; cursor 3
  2. A is frozen (SIGSTOP) and 5 national signals are raised: the daemon
     delivers seq 4-8 into A's socket
  3. after peer_timeout_ms the daemon pauses A's stream ("silent")
  4. A is thawed (SIGCONT): it prints 4-8 and acknowledges each; the daemon
     answers "no stream: send SUBSCRIBE" and drops the acks; A subscribes
     again after seq 8 (its own position), which moves no cursor
  5. A stops cleanly (SIGTERM), after it has been idle for a second
  6. subscriber B (`--from-cursor`) gets seq 4-8 again: duplicates

Exit 0 if B receives nothing (the fix), 1 if it receives duplicates: 1 up to
f4806d4 (B printed [4, 5, 6, 7, 8]), 0 from 345ad9d on ("partner cursors keep
acks and resume points that arrive while a stream is paused").
The same thing happens when the daemon is SIGSTOPped or restarted instead
(chaos.py sees both: a cut or kill of the daemon, then a kill of the partner).
"""
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.environ.get("ZVH_SOURCE_DIR")
                             or os.path.join(HERE, "..", ".."))
BUILD_DIR = os.path.abspath(os.environ.get("ZVH_BUILD_DIR")
                            or os.path.join(SOURCE_DIR, "build"))
ZVHD = os.path.join(BUILD_DIR, "zvhd")
ZVHCTL = os.path.join(BUILD_DIR, "zvhctl")


def main():
    spec = importlib.util.spec_from_file_location(
        "make_federation", os.path.join(SOURCE_DIR, "scripts", "make-federation.py"))
    mf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mf)
    root = tempfile.mkdtemp(prefix="zvh-repro-cursor-")
    region = "groningen"
    info = mf.write_federation(root, ZVHCTL, [region],
                               {"heartbeat_ms": 200, "peer_timeout_ms": 1500,
                                "retry_min_ms": 50, "retry_max_ms": 1000},
                               [("probation-nl", "probation", "*")])
    r, key = info[region], info["_partners"]["probation-nl"]["key"]
    daemon_log = os.path.join(root, "zvhd.log")
    daemon = subprocess.Popen([ZVHD, "-c", r["config"]], stdout=open(daemon_log, "wb"),
                              stderr=subprocess.STDOUT)
    procs = [daemon]

    def ctl(*args):
        return subprocess.run([ZVHCTL, "-c", r["config"], "--json"] + list(args),
                              capture_output=True, text=True)

    def subscriber(path, *extra):
        proc = subprocess.Popen([ZVHCTL, "subscribe", "--endpoint", r["subscribe"],
                                 "--server-key", r["public_key"], "--key", key,
                                 "--from-cursor"] + list(extra),
                                stdout=open(path, "wb"), stderr=subprocess.DEVNULL)
        procs.append(proc)
        return proc

    def seqs(path):
        with open(path, "rb") as f:
            return [json.loads(line)["seq"] for line in f if line.endswith(b"\n")]

    def wait_for(cond, what, timeout=15):
        deadline = time.time() + timeout
        while not cond():
            if time.time() > deadline:
                raise SystemExit(f"timed out waiting for {what}")
            time.sleep(0.05)

    def raise_national(n):
        for _ in range(n):
            assert ctl("signal", "raise", "--national", "--kind", "other").returncode == 0

    try:
        wait_for(lambda: ctl("status").returncode == 0, "zvhd")
        a_out, b_out = os.path.join(root, "a.jsonl"), os.path.join(root, "b.jsonl")
        a = subscriber(a_out)
        raise_national(3)
        wait_for(lambda: seqs(a_out)[-1:] == [3], "A to print seq 3")
        time.sleep(0.5)
        print("1. A printed", seqs(a_out))
        a.send_signal(signal.SIGSTOP)
        raise_national(5)
        time.sleep(2.5)                                 # > peer_timeout_ms
        print("2-3. A frozen while seq 4-8 were raised and delivered; 2.5 s later thawed")
        a.send_signal(signal.SIGCONT)
        wait_for(lambda: seqs(a_out)[-1:] == [8], "A to print seq 8")
        time.sleep(1.0)
        print("4. A printed", seqs(a_out))
        a.send_signal(signal.SIGTERM)
        a.wait()
        print("5. A stopped cleanly (exit %d)" % a.returncode)
        b = subscriber(b_out, "--idle-exit", "2000")
        b.wait()
        again = seqs(b_out)
        print("6. B (--from-cursor) printed", again)
        with open(daemon_log, encoding="utf-8", errors="replace") as f:
            lines = [line.rstrip() for line in f if "partner" in line]
        print("daemon log (partner lines):")
        for line in lines:
            print("   ", line)
        if again:
            print(f"FAIL: {len(again)} signal(s) delivered twice to probation-nl; kept {root}")
            return 1
        print("PASS")
        shutil.rmtree(root, ignore_errors=True)
        return 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    sys.exit(main())
