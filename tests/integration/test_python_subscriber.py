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
import ctypes
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.environ.get("ZVH_SOURCE_DIR")
                             or os.path.join(HERE, "..", ".."))
BUILD_DIR = os.path.abspath(os.environ.get("ZVH_BUILD_DIR")
                            or os.path.join(SOURCE_DIR, "build"))
ZVHD = os.path.join(BUILD_DIR, "zvhd")
ZVHCTL = os.path.join(BUILD_DIR, "zvhctl")
SUBSCRIBER = os.path.join(SOURCE_DIR, "examples", "python_subscriber", "subscriber.py")
PROTO = os.path.join(SOURCE_DIR, "proto", "zvh.proto")
EXAMPLE_PLAN = os.path.join(SOURCE_DIR, "config", "example-plan.json")
DEBIAN_PACKAGES = "python3-zmq python3-protobuf protobuf-compiler"

REGIONS = ["groningen", "drenthe"]
PARTNERS = [("politie-noord", "police", "groningen"),
            ("ggz-crisis", "crisis_service", "*"),
            ("ops-groningen", "operator", "groningen")]
SETTINGS = {"heartbeat_ms": 200}
CASE = "c1"

# What each role's view lets through (scripts/make-federation.py VIEWS)
NEVER_FOR_POLICE = {"case_id", "text", "raised_by", "raised_role", "review_date"}


class TestFailure(AssertionError):
    pass


def expect(condition, message):
    if not condition:
        raise TestFailure(message)


def eq(actual, expected, what):
    if actual != expected:
        raise TestFailure(f"{what}: expected {expected!r}, got {actual!r}")


def wait_until(predicate, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as error:          # noqa: BLE001 - polled again
            last_error = error
        if time.monotonic() >= deadline:
            extra = f" (last error: {last_error!r})" if last_error else ""
            raise TestFailure(f"timed out after {timeout:g} s waiting for {what}{extra}")
        time.sleep(interval)


def _die_with_parent():
    """preexec_fn: SIGKILL the child if this runner dies (Linux)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except Exception:                       # noqa: BLE001 - best effort
        pass


def _load_make_federation():
    path = os.path.join(SOURCE_DIR, "scripts", "make-federation.py")
    spec = importlib.util.spec_from_file_location("make_federation", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------- requirements

def find_python():
    """An interpreter that can run the example (pyzmq with CURVE, protobuf),
    and protoc; or a message saying what is missing."""
    problems = [] if shutil.which("protoc") else ["protoc is not on PATH"]
    probe = "import zmq, google.protobuf; assert zmq.has('curve'), 'libzmq without CURVE'"
    tried = []
    # The interpreter running this test, or Debian's (where python3-zmq lives)
    for python in dict.fromkeys([sys.executable, "/usr/bin/python3"]):
        if not os.access(python, os.X_OK):
            continue
        result = subprocess.run([python, "-c", probe], capture_output=True, text=True)
        if result.returncode == 0:
            return python, problems
        last = (result.stderr.strip().splitlines() or ["?"])[-1]
        tried.append(f"{python} cannot import zmq and google.protobuf ({last})")
    return None, problems + tried


# --------------------------------------------------------------------- the federation

class Federation:
    """Real zvhd daemons for REGIONS, with partners, in a temporary directory."""

    def __init__(self, python):
        self.python = python
        self.root = tempfile.mkdtemp(prefix="zvh-pysub-")
        mf = _load_make_federation()
        self.info = mf.write_federation(self.root, ZVHCTL, REGIONS, SETTINGS,
                                        partners=PARTNERS)
        self.procs = {}
        self.subscribers = []

    # ------------------------------------------------------------- daemons

    def config(self, region):
        return self.info[region]["config"]

    def log_path(self, region):
        return os.path.join(self.root, region, "zvhd.log")

    def log(self, region):
        try:
            with open(self.log_path(region), encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def start(self, region):
        with open(self.log_path(region), "ab") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} start\n".encode())
            log.flush()
            self.procs[region] = subprocess.Popen(
                [ZVHD, "-c", self.config(region)], stdin=subprocess.DEVNULL,
                stdout=log, stderr=log, preexec_fn=_die_with_parent)
        proc = self.procs[region]

        def answering():
            if proc.poll() is not None:
                raise TestFailure(f"zvhd {region} exited with {proc.returncode}:\n"
                                  f"{self.log(region)[-2000:]}")
            return self.ctl(region, "-t", "300", "status")[0] == 0
        wait_until(answering, 10, what=f"{region} to answer")

    def start_all(self):
        for region in REGIONS:
            self.start(region)
        wait_until(self.links_up, 15, what="every link to be up")

    def stop(self, region):
        proc = self.procs[region]
        proc.send_signal(signal.SIGTERM)
        try:
            eq(proc.wait(timeout=10), 0, f"exit code of zvhd {region} after SIGTERM")
        except subprocess.TimeoutExpired:
            proc.kill()
            raise TestFailure(f"zvhd {region} did not stop within 10 s of SIGTERM")

    def close(self):
        for proc in self.subscribers + list(self.procs.values()):
            if proc.poll() is None:
                proc.kill()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    # ------------------------------------------------------------- zvhctl

    def ctl(self, region, *args):
        result = subprocess.run([ZVHCTL, "-c", self.config(region)] + list(args),
                                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=60)
        return result.returncode, result.stdout, result.stderr

    def ctl_ok(self, region, *args):
        rc, out, err = self.ctl(region, *args)
        expect(rc == 0, f"zvhctl {' '.join(args)} at {region} exited {rc}: {err.strip()}")
        return out

    def links_up(self):
        for region in REGIONS:
            status = json.loads(self.ctl_ok(region, "--json", "status"))
            if not all(peer["up"] for peer in status["peers"]):
                return False
        return True

    def include(self, region=REGIONS[0], case=CASE):
        out = self.ctl_ok(region, "case", "include", EXAMPLE_PLAN, "--case", case)
        expect(f"case {case}: active" in out, f"case include printed {out!r}")

    def raise_signal(self, region, text, kind="incident", case=CASE):
        out = self.ctl_ok(region, "--json", "signal", "raise", case, "--kind", kind,
                          "--urgency", "immediate", "--severity", "severe",
                          "--certainty", "observed", "--text", text)
        return json.loads(out)["event_id"]

    # ------------------------------------------------------------- partners

    def partner_key(self, partner):
        return self.info["_partners"][partner]["key"]

    def sub_args(self, partner=None, region=REGIONS[0], cert=None, server_key=None,
                 after=None, extra=()):
        args = [self.python, SUBSCRIBER, "--proto", PROTO,
                "--endpoint", self.info[region]["subscribe"],
                "--server-key", server_key or self.info[region]["public_key"],
                "--cert", cert or self.partner_key(partner)]
        args += ["--after", str(after)] if after is not None else ["--from-cursor"]
        return args + list(extra)

    def subscribe(self, *args, timeout=60, **kwargs):
        """Run the Python subscriber to its end: (exit code, [views], stderr)."""
        result = subprocess.run(self.sub_args(*args, **kwargs), stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=timeout)
        return result.returncode, parse_lines(result.stdout), result.stderr

    def subscribe_async(self, *args, **kwargs):
        """Start the Python subscriber; its lines arrive in .lines as it prints."""
        proc = subprocess.Popen(self.sub_args(*args, **kwargs), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=_die_with_parent)
        self.subscribers.append(proc)
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


def finish(proc, timeout=30):
    """Wait for an async subscriber; (exit code, [views], stderr)."""
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
    raised = [fed.raise_signal("groningen", "Dreigende uitlatingen naar buren"),
              fed.raise_signal("drenthe", "Gezien in Assen, verward", kind="scale_up")]
    rc, police, err = fed.subscribe("politie-noord", after=0, extra=["--count", "3",
                                                                     "--idle-exit", "10000"])
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
    rc, crisis, err = fed.subscribe("ggz-crisis", after=0, extra=["--count", "3"])
    eq(seqs(crisis), [1, 2, 3], f"seqs received by the crisis service ({err.strip()})")
    expect("case_id" not in crisis[1] and "raised_by" not in crisis[1],
           f"crisis service view leaks: {crisis[1]}")
    eq(crisis[1].get("text"), "Dreigende uitlatingen naar buren", "crisis service text")
    rc, ops, err = fed.subscribe("ops-groningen", after=0, extra=["--count", "3"])
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
        fed.raise_signal("groningen", f"signaal {n}")
    first = fed.subscribe_async("politie-noord", after=0, extra=["--credit", "1"])
    wait_until(lambda: len(first.lines) >= 6, 20, what="the first 6 views")
    # Stopped, it cannot acknowledge what comes next: the daemon sends one
    # view (credit 1) that is in flight when the kill comes
    first.send_signal(signal.SIGSTOP)
    for n in range(5, 12):
        fed.raise_signal("groningen", f"signaal {n}")
    total = 13
    time.sleep(0.5)
    first.send_signal(signal.SIGKILL)
    rc, before, _ = finish(first)
    eq(rc, -signal.SIGKILL, "the first subscriber was killed")
    expect_once_in_order(before, "before the kill")
    last = before[-1]["seq"]
    eq(seqs(before), list(range(1, last + 1)), "seqs before the kill")
    expect(last < total, f"the kill came too late to test a resume ({last} of {total})")
    second = fed.subscribe_async("politie-noord", after=last,
                                 extra=["--idle-exit", "4000", "-v"])
    wait_until(lambda: len(second.lines) >= total - last, 20,
               what=f"the {total - last} views after seq {last}")
    live = [fed.raise_signal("groningen", "live 1"), fed.raise_signal("groningen", "live 2")]
    rc, after, err = finish(second)
    eq(rc, 0, f"exit code of the resumed subscriber ({err.strip()})")
    expect_once_in_order(after, "after the resume")
    eq(seqs(after), list(range(last + 1, total + 3)), "seqs after the resume")
    eq([v["event_id"] for v in after[-2:]], live, "the live signals")
    eq(seqs(before) + seqs(after), list(range(1, total + 3)), "every seq exactly once")
    # The cursor holds what was acknowledged: at most what was printed
    rc, rest, err = fed.subscribe("politie-noord", extra=["--idle-exit", "1500"])
    eq(rest, [], f"from the cursor after everything was acknowledged ({err.strip()})")


def test_acknowledgements_move_the_cursor(fed):
    """ACKs move the durable cursor: after the Python subscriber took
    everything, neither the C client nor the Python one resuming from the
    cursor gets anything already acknowledged; a new signal comes alone."""
    fed.start_all()
    fed.include()
    for n in range(3):
        fed.raise_signal("groningen", f"signaal {n}")
    rc, got, err = fed.subscribe("politie-noord", extra=["--idle-exit", "1500"])
    eq(seqs(got), [1, 2, 3, 4], f"seqs from the cursor at first ({err.strip()})")
    eq(fed.c_subscribe("politie-noord"), [], "C client from the cursor after the acks")
    rc, again, err = fed.subscribe("politie-noord", extra=["--idle-exit", "1500"])
    eq(again, [], f"Python subscriber from the cursor after the acks ({err.strip()})")
    event_id = fed.raise_signal("groningen", "nieuw")
    rc, fresh, err = fed.subscribe("politie-noord", extra=["--idle-exit", "1500"])
    eq([(v["seq"], v["event_id"]) for v in fresh], [(5, event_id)],
       f"the one new signal from the cursor ({err.strip()})")
    eq(fed.c_subscribe("politie-noord"), [], "C client after the last ack")


def test_redeliveries_are_dropped(fed):
    """A subscriber that does not acknowledge in time (SIGSTOP) gets views
    again; it hands each seq out once."""
    fed.start_all()
    fed.include()
    sub = fed.subscribe_async("politie-noord", after=0, extra=["--idle-exit", "3000", "-v"])
    wait_until(lambda: len(sub.lines) >= 1, 20, what="the label view")
    sub.send_signal(signal.SIGSTOP)
    try:
        for n in range(4):
            fed.raise_signal("groningen", f"signaal {n}")
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
    fed.raise_signal("groningen", "voor de herstart")
    sub = fed.subscribe_async("politie-noord", after=0, extra=["--idle-exit", "8000", "-v"])
    wait_until(lambda: len(sub.lines) >= 2, 20, what="the views before the restart")
    fed.stop("groningen")
    fed.start("groningen")
    event_id = fed.raise_signal("groningen", "na de herstart")
    wait_until(lambda: any(event_id in line for line in sub.lines), 20,
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
    fed.raise_signal("groningen", "geheim")
    quiet = ["--idle-exit", "2500", "-v"]
    rc, views, err = fed.subscribe("politie-noord", after=0, extra=quiet,
                                   server_key=fed.info["drenthe"]["public_key"])
    eq(views, [], "views with a wrong server key")
    expect("handshake" in err and "failed" in err, f"no handshake failure reported: {err}")
    stranger = os.path.join(fed.root, "keys", "stranger")
    subprocess.run([ZVHCTL, "keygen", "stranger", "--dir", os.path.dirname(stranger),
                    "--role", "police"], check=True, capture_output=True)
    rc, views, err = fed.subscribe(after=0, cert=stranger + ".key_secret", extra=quiet)
    eq(views, [], "views with an unknown partner key")
    expect("refused" in err, f"the refused handshake was not reported: {err}")
    expect("denied" in fed.log("groningen"), "zauth did not log the denied key")
    region_cert = os.path.join(fed.root, "keys", "drenthe.key_secret")
    rc, views, err = fed.subscribe(after=0, cert=region_cert, extra=quiet)
    eq(views, [], "views with a region key as partner key")
    expect("not a partner" in fed.log("groningen"),
           "the daemon did not log the refused region key")
    rc, views, err = fed.subscribe("politie-noord", after=0, extra=["--count", "2"])
    eq(seqs(views), [1, 2], f"the partner's own key afterwards ({err.strip()})")


# --------------------------------------------------------------------- runner

def run_test(fn, python):
    started = time.monotonic()
    fed = None
    try:
        fed = Federation(python)
        fn(fed)
        ok, details = True, ""
    except KeyboardInterrupt:
        if fed:
            fed.close()
        raise
    except BaseException as error:          # noqa: BLE001 - reported below
        ok, details = False, traceback.format_exc()
        reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
    finally:
        if fed:
            fed.close()
    elapsed = time.monotonic() - started
    if ok:
        print(f"PASS {fn.__name__} ({elapsed:.1f} s)", flush=True)
        shutil.rmtree(fed.root, ignore_errors=True)
        return True
    print(f"FAIL {fn.__name__}: {reason}", flush=True)
    sys.stdout.write("  " + details.replace("\n", "\n  ") + "\n")
    if fed:
        for region in REGIONS:
            tail = fed.log(region).splitlines()[-25:]
            print(f"  --- last lines of {region}'s log:")
            print("\n".join(f"    {region}| {line}" for line in tail))
        print(f"  kept {fed.root} ({elapsed:.1f} s)", flush=True)
    return False


def main():
    for tool in (ZVHD, ZVHCTL):
        if not os.access(tool, os.X_OK):
            print(f"FAIL setup: {tool} is missing; build it (cd build && make zvhd zvhctl) "
                  f"or set ZVH_BUILD_DIR")
            print("0 passed, 1 failed")
            return 1
    python, problems = find_python()
    if not python or problems:
        print("FAIL setup: the Python subscriber cannot run: " + "; ".join(problems))
        print(f"  install Debian's {DEBIAN_PACKAGES} (scripts/install-deps.sh does)")
        print("0 passed, 1 failed")
        return 1
    wanted = sys.argv[1:]
    tests = [fn for name, fn in globals().items()
             if name.startswith("test_") and callable(fn)
             and (not wanted or any(w in name for w in wanted))]
    tests.sort(key=lambda fn: fn.__code__.co_firstlineno)
    passed = failed = 0
    for fn in tests:
        if run_test(fn, python):
            passed += 1
        else:
            failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not tests else 0


if __name__ == "__main__":
    sys.exit(main())
