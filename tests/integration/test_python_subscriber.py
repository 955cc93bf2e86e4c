#!/usr/bin/env python3
"""Integration test: an independent subscriber (examples/python_subscriber,
written from docs/PROTOCOL.md with pyzmq and protobuf, no C code) against
real zvhd daemons over CURVE on loopback.

It checks that the protocol as documented is enough to implement a partner:
CURVE and ZAP admit the partner's key, the label and the signals arrive with
the role's view (the same fields the C client prints), a subscriber killed
with SIGKILL resumes after its last seq and gets exactly the rest once,
acknowledgements move the durable cursor (checked with the C client and with
the Python one), redeliveries are dropped, a daemon restart is survived by
resubscribing, and a wrong server key, an unknown key or a region key gets
nothing.

Python 3 standard library only; the example itself needs Debian's
python3-zmq, python3-protobuf and protobuf-compiler. If they are missing the
test FAILS (it does not skip and installs nothing).

    python3 tests/integration/test_python_subscriber.py [name-filter]

$ZVH_BUILD_DIR (default <source>/build) holds zvhd and zvhctl.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigtest                                      # noqa: E402
import zvhtest                                      # noqa: E402
from zvhtest import (ZVHCTL, SOURCE_DIR, PROTO, TestFailure, eq,  # noqa: E402
                     expect, wait_until)

SUBSCRIBER = os.path.join(SOURCE_DIR, "examples", "python_subscriber", "subscriber.py")
DEBIAN_PACKAGES = "python3-zmq python3-protobuf protobuf-compiler"

REGIONS = ["groningen", "drenthe"]
PARTNERS = [("politie-noord", "police", "groningen"),
            ("ggz-crisis", "crisis_service", "*"),
            ("ops-groningen", "operator", "groningen")]
SETTINGS = {"heartbeat_ms": 200}
CASE = "c1"

# What each role's view lets through (scripts/make-federation.py VIEWS)
NEVER_FOR_POLICE = {"case_id", "text", "raised_by", "raised_role", "review_date"}


# --------------------------------------------------------------------- requirements

def find_python():
    """An interpreter that can run the example (pyzmq with CURVE, protobuf),
    and protoc; or a message saying what is missing."""
    problems = [] if shutil.which("protoc") else ["protoc is not on PATH"]
    python, tried = zvhtest.python_with(
        "import zmq, google.protobuf; assert zmq.has('curve'), 'libzmq without CURVE'")
    return python, problems + [f"cannot import zmq and google.protobuf with {t}"
                               for t in tried if not python]


# --------------------------------------------------------------------- the federation

class Federation(sigtest.SignalFederation):
    """Real zvhd daemons for REGIONS, with partners (zvhtest and sigtest do
    the daemons), and the independent Python subscriber as a partner."""

    def __init__(self, python):
        super().__init__(REGIONS, SETTINGS, PARTNERS, tempfile.mkdtemp(prefix="zvh-pysub-"))
        self.python = python
        self.python_subscribers = []

    def close(self):
        for proc in self.python_subscribers:
            zvhtest.end_process(proc)
        super().close()

    def include(self, region=REGIONS[0], plan_path=zvhtest.EXAMPLE_PLAN, case_id=CASE):
        return super().include(region, plan_path, case_id)

    def raise_on_case(self, region, text, kind="incident"):
        """Raise a signal about CASE at region as its operator; the event id."""
        return self.raise_signal(region, CASE, kind=kind, urgency="immediate",
                                 severity="severe", certainty="observed", text=text)

    # ------------------------------------------------------------- partners

    def partner_key(self, partner):
        return self.partners[partner]["key"]

    def sub_args(self, partner=None, region=REGIONS[0], cert=None, server_key=None,
                 after=None, extra=()):
        args = [self.python, SUBSCRIBER, "--proto", PROTO,
                "--endpoint", self.info[region]["subscribe"],
                "--server-key", server_key or self.info[region]["public_key"],
                "--cert", cert or self.partner_key(partner)]
        args += ["--after", str(after)] if after is not None else ["--from-cursor"]
        return args + list(extra)

    def py_subscribe(self, *args, timeout=60, **kwargs):
        """Run the Python subscriber to its end: (exit code, [views], stderr)."""
        result = subprocess.run(self.sub_args(*args, **kwargs), stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=timeout)
        return result.returncode, parse_lines(result.stdout), result.stderr

    def py_subscribe_async(self, *args, **kwargs):
        """Start the Python subscriber; its lines arrive in .lines as it prints."""
        proc = zvhtest.start_process(self.sub_args(*args, **kwargs),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.python_subscribers.append(proc)
        proc.lines = []
        proc.err_text = []

        def pump(stream, into):
            for line in stream:
                into.append(line)
        proc.readers = [threading.Thread(target=pump, args=(proc.stdout, proc.lines),
                                         daemon=True),
                        threading.Thread(target=pump, args=(proc.stderr, proc.err_text),
                                         daemon=True)]
        for reader in proc.readers:
            reader.start()
        return proc

    def c_subscribe(self, partner, region=REGIONS[0], after=None, idle_ms=1500):
        """The C client (zvhctl subscribe) with the same key: [views]."""
        args = [ZVHCTL, "subscribe", "--endpoint", self.info[region]["subscribe"],
                "--server-key", self.info[region]["public_key"],
                "--key", self.partner_key(partner), "--idle-exit", str(idle_ms)]
        args += ["--after", str(after)] if after is not None else ["--from-cursor"]
        result = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True,
                                text=True, timeout=60)
        expect(result.returncode == 0, f"zvhctl subscribe exited {result.returncode}: "
                                       f"{result.stderr.strip()}")
        return parse_lines(result.stdout)


def parse_lines(text):
    views = []
    for line in text.splitlines() if isinstance(text, str) else text:
        line = line.strip()
        if line:
            try:
                views.append(json.loads(line))
            except ValueError:
                raise TestFailure(f"subscriber printed a line that is not JSON: {line!r}")
    return views


def finish(proc, timeout=None):
    """Wait for an async subscriber; (exit code, [views], stderr)."""
    timeout = zvhtest.PATIENCE_S if timeout is None else timeout
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise TestFailure(f"the subscriber did not exit within {timeout} s")
    for reader in proc.readers:
        reader.join(timeout=5)
    return proc.returncode, parse_lines(proc.lines), "".join(proc.err_text)


def seqs(views):
    return [view["seq"] for view in views]


def expect_once_in_order(views, what):
    numbers = seqs(views)
    expect(len(numbers) == len(set(numbers)), f"{what}: a seq was handed out twice: {numbers}")
    expect(numbers == sorted(numbers), f"{what}: seqs out of order: {numbers}")


# --------------------------------------------------------------------- tests

def test_curve_label_and_signals_with_role_views(fed):
    """CURVE + ZAP admit the partner; label_set and signals (one relayed from
    another region) arrive as the role's view, field for field what the C
    client sees."""
    fed.start_all()
    fed.include()
    raised = [fed.raise_on_case("groningen", "Dreigende uitlatingen naar buren"),
              fed.raise_on_case("drenthe", "Gezien in Assen, verward", kind="scale_up")]
    rc, police, err = fed.py_subscribe("politie-noord", after=0,
                                       extra=["--count", "3", "--idle-exit", "10000"])
    eq(rc, 0, f"exit code of the Python subscriber (stderr: {err.strip()})")
    eq(seqs(police), [1, 2, 3], "seqs received by police")
    eq([v["type"] for v in police], ["label_set", "signal", "signal"], "types")
    eq(police[0]["event_id"], "groningen/1", "event id of label_set")
    eq(sorted(v["event_id"] for v in police[1:]), sorted(raised), "signal event ids")
    for view in police:
        eq(view["region"], "groningen", f"region of seq {view['seq']}")
        leaked = NEVER_FOR_POLICE & set(view)
        expect(not leaked, f"police view of seq {view['seq']} carries {sorted(leaked)}")
        expect(view.get("partner_ref", "").startswith("Abonnement politiesysteem"),
               f"police partner_ref missing in seq {view['seq']}: {view}")
        expect(view.get("actions"), f"police actions missing in seq {view['seq']}")
    eq(police[2]["kind"], "scale_up", "kind of the relayed signal")
    eq(police[2]["urgency"], "immediate", "urgency")
    # The C client, same key, same stream: the same fields and values
    c_police = fed.c_subscribe("politie-noord", after=0)
    for view in c_police:
        view.pop("raw_hex", None)
    eq(c_police, police, "views of the C client (zvhctl subscribe) vs the Python one")
    # Other roles: what their views add
    rc, crisis, err = fed.py_subscribe("ggz-crisis", after=0, extra=["--count", "3"])
    eq(seqs(crisis), [1, 2, 3], f"seqs received by the crisis service ({err.strip()})")
    expect("case_id" not in crisis[1] and "raised_by" not in crisis[1],
           f"crisis service view leaks: {crisis[1]}")
    eq(crisis[1].get("text"), "Dreigende uitlatingen naar buren", "crisis service text")
    rc, ops, err = fed.py_subscribe("ops-groningen", after=0, extra=["--count", "3"])
    eq([v.get("case_id") for v in ops], [CASE] * 3, f"operator case ids ({err.strip()})")
    eq(ops[1].get("raised_by"), "operator@groningen", "raised_by in the operator view")
    eq(ops[2].get("raised_by"), "operator@drenthe", "raised_by of the relayed raise")


def test_resume_after_sigkill_gets_exactly_the_rest(fed):
    """A subscriber killed with SIGKILL mid-stream (a delivery in flight,
    unacknowledged) resumes after the last seq it printed and receives every
    later entry exactly once, old and live."""
    fed.start_all()
    fed.include()
    for n in range(5):
        fed.raise_on_case("groningen", f"signaal {n}")
    first = fed.py_subscribe_async("politie-noord", after=0, extra=["--credit", "1"])
    wait_until(lambda: len(first.lines) >= 6, what="the first 6 views")
    # Stopped, it cannot acknowledge what comes next: the daemon sends one
    # view (credit 1) that is in flight when the kill comes
    first.send_signal(signal.SIGSTOP)
    for n in range(5, 12):
        fed.raise_on_case("groningen", f"signaal {n}")
    total = 13
    time.sleep(0.5)             # not a wait: the daemon sends the view in flight
    first.send_signal(signal.SIGKILL)
    rc, before, _ = finish(first)
    eq(rc, -signal.SIGKILL, "the first subscriber was killed")
    expect_once_in_order(before, "before the kill")
    last = before[-1]["seq"]
    eq(seqs(before), list(range(1, last + 1)), "seqs before the kill")
    expect(last < total, f"the kill came too late to test a resume ({last} of {total})")
    second = fed.py_subscribe_async("politie-noord", after=last,
                                    extra=["--idle-exit", "4000", "-v"])
    wait_until(lambda: len(second.lines) >= total - last,
               what=f"the {total - last} views after seq {last}")
    live = [fed.raise_on_case("groningen", "live 1"), fed.raise_on_case("groningen", "live 2")]
    rc, after, err = finish(second)
    eq(rc, 0, f"exit code of the resumed subscriber ({err.strip()})")
    expect_once_in_order(after, "after the resume")
    eq(seqs(after), list(range(last + 1, total + 3)), "seqs after the resume")
    eq([v["event_id"] for v in after[-2:]], live, "the live signals")
    eq(seqs(before) + seqs(after), list(range(1, total + 3)), "every seq exactly once")
    # The cursor holds what was acknowledged: at most what was printed
    rc, rest, err = fed.py_subscribe("politie-noord", extra=["--idle-exit", "1500"])
    eq(rest, [], f"from the cursor after everything was acknowledged ({err.strip()})")


def test_acknowledgements_move_the_cursor(fed):
    """ACKs move the durable cursor: after the Python subscriber took
    everything, neither the C client nor the Python one resuming from the
    cursor gets anything already acknowledged; a new signal comes alone."""
    fed.start_all()
    fed.include()
    for n in range(3):
        fed.raise_on_case("groningen", f"signaal {n}")
    rc, got, err = fed.py_subscribe("politie-noord", extra=["--idle-exit", "1500"])
    eq(seqs(got), [1, 2, 3, 4], f"seqs from the cursor at first ({err.strip()})")
    eq(fed.c_subscribe("politie-noord"), [], "C client from the cursor after the acks")
    rc, again, err = fed.py_subscribe("politie-noord", extra=["--idle-exit", "1500"])
    eq(again, [], f"Python subscriber from the cursor after the acks ({err.strip()})")
    event_id = fed.raise_on_case("groningen", "nieuw")
    rc, fresh, err = fed.py_subscribe("politie-noord", extra=["--idle-exit", "1500"])
    eq([(v["seq"], v["event_id"]) for v in fresh], [(5, event_id)],
       f"the one new signal from the cursor ({err.strip()})")
    eq(fed.c_subscribe("politie-noord"), [], "C client after the last ack")


def test_redeliveries_are_dropped(fed):
    """A subscriber that does not acknowledge in time (SIGSTOP) gets views
    again; it hands each seq out once."""
    fed.start_all()
    fed.include()
    sub = fed.py_subscribe_async("politie-noord", after=0, extra=["--idle-exit", "3000", "-v"])
    wait_until(lambda: len(sub.lines) >= 1, what="the label view")
    sub.send_signal(signal.SIGSTOP)
    try:
        for n in range(4):
            fed.raise_on_case("groningen", f"signaal {n}")
        time.sleep(1.5)             # resend timeout 200 ms, 400 ms, 800 ms: resends queue up
    finally:
        sub.send_signal(signal.SIGCONT)
    rc, views, err = finish(sub)
    eq(rc, 0, f"exit code ({err.strip()})")
    eq(seqs(views), [1, 2, 3, 4, 5], "each seq once")
    summary = [json.loads(line.split("subscriber: ", 1)[1])["summary"]
               for line in err.splitlines() if '"summary"' in line]
    expect(summary and summary[0]["dropped"] > 0,
           f"no redelivery was dropped; the daemon did not resend? ({err.strip()})")


def test_daemon_restart_is_survived(fed):
    """The daemon restarts under a live subscriber: the subscriber is told
    (ERROR without request_id, or silence) and subscribes again after its last
    seq; it gets the new signal once and nothing twice."""
    fed.start_all()
    fed.include()
    fed.raise_on_case("groningen", "voor de herstart")
    sub = fed.py_subscribe_async("politie-noord", after=0, extra=["--idle-exit", "8000", "-v"])
    wait_until(lambda: len(sub.lines) >= 2, what="the views before the restart")
    fed.stop("groningen")
    fed.start("groningen")
    event_id = fed.raise_on_case("groningen", "na de herstart")
    wait_until(lambda: any(event_id in line for line in sub.lines),
               what="the signal after the restart")
    sub.send_signal(signal.SIGTERM)
    rc, views, err = finish(sub)
    # The restart also checks review dates: the example plan's has passed, so
    # a review_due entry may come before the new signal
    expect_once_in_order(views, "across the restart")
    #  review_due entries (the example plan's review date has passed) are in
    #  the log but only operators see them: police seqs may skip them
    eq(len(views), 3, "views across the restart")
    eq(views[-1]["event_id"], event_id, "the last view is the signal after the restart")
    expect("no stream" in err or "subscribing again" in err,
           f"the subscriber did not resubscribe: {err.strip()}")


def test_wrong_keys_get_nothing(fed):
    """A wrong server key, a key the region does not know, and a region key
    used as a partner key get nothing; the right key still does."""
    fed.start_all()
    fed.include()
    fed.raise_on_case("groningen", "geheim")
    quiet = ["--idle-exit", "2500", "-v"]
    rc, views, err = fed.py_subscribe("politie-noord", after=0, extra=quiet,
                                      server_key=fed.info["drenthe"]["public_key"])
    eq(views, [], "views with a wrong server key")
    expect("handshake" in err and "failed" in err, f"no handshake failure reported: {err}")
    stranger = os.path.join(fed.root, "keys", "stranger")
    subprocess.run([ZVHCTL, "keygen", "stranger", "--dir", os.path.dirname(stranger),
                    "--role", "police"], check=True, capture_output=True)
    rc, views, err = fed.py_subscribe(after=0, cert=stranger + ".key_secret", extra=quiet)
    eq(views, [], "views with an unknown partner key")
    expect("refused" in err, f"the refused handshake was not reported: {err}")
    expect("zap: partners: denied" in fed.log("groningen"),
           "the ZAP handler did not log the denied key")
    region_cert = os.path.join(fed.root, "keys", "drenthe.key_secret")
    rc, views, err = fed.py_subscribe(after=0, cert=region_cert, extra=quiet)
    eq(views, [], "views with a region key as partner key")
    expect(f"zap: partners: denied (CURVE) client_key={fed.info['drenthe']['public_key']}"
           in fed.log("groningen"),
           "the partner endpoint did not deny the region key at the handshake")
    rc, views, err = fed.py_subscribe("politie-noord", after=0, extra=["--count", "2"])
    eq(seqs(views), [1, 2], f"the partner's own key afterwards ({err.strip()})")


# --------------------------------------------------------------------- runner: zvhtest's

def main():
    python, problems = find_python()
    if not python or problems:
        print("FAIL setup: the Python subscriber cannot run: " + "; ".join(problems))
        print(f"  install Debian's {DEBIAN_PACKAGES} (scripts/install-deps.sh does)")
        print("0 passed, 1 failed")
        return 1
    zvhtest.main(globals(), federation_of=lambda fn: Federation(python))


if __name__ == "__main__":
    sys.exit(main())
