"""sigtest: crisis-signal helpers on top of zvhtest (Python 3 stdlib only).

SignalFederation is a zvhtest.Federation with partners
(scripts/make-federation.py, partners=...) and what signal tests need:
raising signals (as operator over the control socket or as a partner over
CURVE) and real `zvhctl subscribe` processes whose JSON lines go to a file
(so a SIGKILLed subscriber's printed lines stay readable). For claims zvhctl
cannot make, RawPartner (zvhtest.CurveDealer) sends a SubFrame built by hand
(zvhtest.pb_field). Tests run with zvhtest's runner (sigtest.main is
zvhtest.main).

    @signal_federation(["groningen", "drenthe"], TIMERS,
                       partners=[("pol", "police", "groningen")])
    def test_x(fed):
        fed.start_all()
        case = fed.include("groningen", fed.plan_file(), "ZVH-X-1")
        sub = fed.subscribe("groningen", "pol")
        event_id = fed.raise_signal("groningen", "ZVH-X-1", kind="incident")
        sub.wait_event(event_id)

    if __name__ == "__main__":
        sigtest.main(globals())

Every subscriber is killed when its test ends and when the runner exits (and,
through PR_SET_PDEATHSIG, when the runner is killed).
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zvhtest                                      # noqa: E402
#  What signal tests import from here, though zvhtest holds it
from zvhtest import (ZVHCTL, PATIENCE_S, TestFailure, eq, expect,  # noqa: E402,F401
                     main, pb_decode, pb_field, read_cert, wait_until)
from zvhtest import CurveDealer as RawPartner      # noqa: E402,F401 - a partner's key

VIEWS = zvhtest.make_federation.VIEWS
ALL_REGIONS = [r for r, _ in zvhtest.make_federation.all_regions()]

#  Short timers for every signal test (review_check_s: review dates are seen
#  within a second).
TIMERS = {"heartbeat_ms": 200, "peer_timeout_ms": 1500, "retry_min_ms": 50,
          "retry_max_ms": 1000, "review_check_s": 1}

# --------------------------------------------------------------------- subscribers

class Subscriber:
    """One real `zvhctl subscribe` process; its stdout (one JSON line per
    view, printed and flushed before it is acknowledged) goes to a file."""

    def __init__(self, fed, region, partner, name, after=None, from_cursor=False,
                 credit=None, count=None, idle_exit_ms=None, key=None, server_key=None,
                 directory=None):
        self.fed, self.region, self.partner, self.name = fed, region, partner, name
        subdir = os.path.join(fed.root, "subscribers")
        os.makedirs(subdir, exist_ok=True)
        self.out_path = os.path.join(subdir, name + ".out")
        self.err_path = os.path.join(subdir, name + ".err")
        cmd = [ZVHCTL, "subscribe", "--endpoint", fed.info[region]["subscribe"],
               "--server-key", server_key or fed.info[region]["public_key"],
               "--key", key or fed.partners[partner]["key"]]
        if after is not None:
            cmd += ["--after", str(after)]
        if from_cursor:
            cmd.append("--from-cursor")
        if credit is not None:
            cmd += ["--credit", str(credit)]
        if count is not None:
            cmd += ["--count", str(count)]
        if idle_exit_ms is not None:
            cmd += ["--idle-exit", str(idle_exit_ms)]
        if directory is not None:
            cmd += ["--directory", directory]       # verify who published each view
        self.cmd = cmd
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = zvhtest.start_process(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                              stderr=err)
        self.started = time.monotonic()
        self.stopped = False

    # ------------------------------------------------------------- output

    def lines(self):
        """Every complete JSON line printed so far (a line cut by a kill is
        not complete: it was never acknowledged either)."""
        with open(self.out_path, "rb") as f:
            data = f.read()
        complete = data[: data.rfind(b"\n") + 1] if b"\n" in data else b""
        return [json.loads(line) for line in complete.decode("utf-8").splitlines()
                if line.strip()]

    def events(self, type_=None):
        return [e for e in self.lines() if type_ is None or e.get("type") == type_]

    def event_ids(self, type_=None):
        return [e["event_id"] for e in self.events(type_)]

    def last_seq(self):
        lines = self.lines()
        return lines[-1]["seq"] if lines else None

    def stderr(self):
        try:
            with open(self.err_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_events(self, event_ids, timeout=None, type_=None):
        """Wait until every id in event_ids has been printed; the lines."""
        timeout = PATIENCE_S if timeout is None else timeout
        wanted = set(event_ids)

        def have_all():
            got = set(self.event_ids(type_))
            return wanted <= got
        try:
            wait_until(have_all, timeout, interval=0.05,
                       what=f"subscriber {self.name} to print {len(wanted)} event(s)")
        except TestFailure:
            missing = sorted(wanted - set(self.event_ids(type_)))
            raise TestFailure(f"subscriber {self.name} at {self.region}: {len(missing)} of "
                              f"{len(wanted)} event(s) missing after {timeout:g} s, e.g. "
                              f"{missing[:5]}; stderr: {self.stderr().strip()[-300:]!r}")
        return self.lines()

    def wait_event(self, event_id, timeout=None):
        self.wait_events([event_id], timeout)
        return [e for e in self.lines() if e["event_id"] == event_id][0]

    def wait_count(self, count, timeout=None, type_=None):
        return wait_until(lambda: len(self.events(type_)) >= count and self.events(type_),
                          timeout, interval=0.02,
                          what=f"subscriber {self.name} to print {count} line(s)")

    # ------------------------------------------------------------- process

    def running(self):
        return self.proc.poll() is None

    def kill(self):
        return zvhtest.end_process(self.proc)

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)
        self.stopped = True

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)
        self.stopped = False

    def wait_exit(self, timeout=None):
        timeout = PATIENCE_S if timeout is None else timeout
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure(f"subscriber {self.name} did not exit within {timeout:g} s")
        zvhtest.forget(self.proc)
        return rc


def check_once_in_order(lines, what):
    """seqs strictly increasing and every event id at most once."""
    seqs = [line["seq"] for line in lines]
    for before, after in zip(seqs, seqs[1:]):
        expect(after > before, f"{what}: seq {after} printed after {before} "
                               f"(seqs must increase strictly)")
    ids = [line["event_id"] for line in lines]
    dups = sorted({i for i in ids if ids.count(i) > 1})
    expect(not dups, f"{what}: event id(s) printed more than once: {dups[:10]}")


# --------------------------------------------------------------------- federation

class SignalFederation(zvhtest.Federation):
    """zvhtest.Federation with partners: info[region]["subscribe"] is each
    region's partner endpoint, self.partners[id] the partner's key file."""

    def __init__(self, regions, settings=None, partners=(), root=None, writer=None):
        super().__init__(regions, settings, root or tempfile.mkdtemp(prefix="zvh-sig-"),
                         partners, writer)
        self.partners = self.info.get("_partners", {})
        self.subscribers = []

    def subscribe(self, region, partner, name=None, **options):
        """Start `zvhctl subscribe` for partner at region's endpoint."""
        name = name or f"{partner}@{region}-{len(self.subscribers) + 1}"
        sub = Subscriber(self, region, partner, name, **options)
        self.subscribers.append(sub)
        return sub

    def raise_args(self, case_id=None, kind="incident", urgency=None, severity=None,
                   certainty=None, text=None, national=False):
        args = ["signal", "raise"]
        args += ["--national"] if national else [case_id]
        args += ["--kind", kind]
        for option, value in (("--urgency", urgency), ("--severity", severity),
                              ("--certainty", certainty), ("--text", text)):
            if value is not None:
                args += [option, value]
        return args

    def raise_signal(self, region, case_id=None, **fields):
        """Raise as region's operator; the event id (exit 0 required)."""
        out = self.ctl_ok(region, *self.raise_args(case_id, **fields))
        expect(isinstance(out, dict) and out.get("event_id"),
               f"signal raise at {region} printed no event id: {out!r}")
        return out["event_id"]

    def partner_raise(self, region, partner, case_id=None, timeout_ms=5000, **fields):
        """Raise as partner over CURVE at region: (exit code, event id or None, stderr)."""
        cmd = [ZVHCTL, "--json", "-t", str(timeout_ms)] + self.raise_args(case_id, **fields)
        cmd += ["--endpoint", self.info[region]["subscribe"],
                "--server-key", self.info[region]["public_key"],
                "--key", self.partners[partner]["key"]]
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=zvhtest.CTL_TIMEOUT_S)
        event_id = None
        if proc.returncode == 0:
            event_id = json.loads(proc.stdout)["event_id"]
        return proc.returncode, event_id, proc.stderr

    def close(self):
        for sub in self.subscribers:
            try:
                sub.kill()
            except Exception:
                pass
        super().close()


# --------------------------------------------------------------------- runner

def signal_federation(regions, settings=None, partners=()):
    """Decorator: the test gets a fresh SignalFederation (settings: TIMERS
    unless given)."""
    def mark(fn):
        fn.zvh_federation = lambda: SignalFederation(
            regions, TIMERS if settings is None else settings, partners)
        return fn
    return mark


class Raiser(threading.Thread):
    """Raise signals one after another in a thread (zvhctl processes only;
    daemons are spawned from the main thread). ids: event ids of the raises
    that exited 0, in raise order; failures: (index, rc, stderr)."""

    def __init__(self, fed, region, case_id, count, gate_at=None, text_prefix=None,
                 pause_s=0.0, timeout_ms=None):
        super().__init__(daemon=True)
        self.fed, self.region, self.case_id, self.count = fed, region, case_id, count
        self.gate_at = gate_at            # wait for self.gate before this raise
        self.gate = threading.Event()
        self.text_prefix = text_prefix
        self.pause_s = pause_s
        self.timeout_ms = timeout_ms
        self.ids, self.failures = [], []
        self.done = 0
        self.error = None
        self.stopped = threading.Event()

    def run(self):
        try:
            for i in range(self.count):
                if self.stopped.is_set():
                    break
                if self.gate_at is not None and i == self.gate_at:
                    self.gate.wait(PATIENCE_S)
                text = f"{self.text_prefix} {i}" if self.text_prefix else None
                rc, out, err = self.fed.ctl(self.region,
                                            *self.fed.raise_args(self.case_id,
                                                                 kind="incident",
                                                                 text=text),
                                            timeout_ms=self.timeout_ms)
                if rc == 0:
                    self.ids.append(out["event_id"])
                else:
                    self.failures.append((i, rc, err.strip()))
                self.done = i + 1
                if self.pause_s:
                    time.sleep(self.pause_s)
        except Exception as error:          # noqa: BLE001 - checked by the test
            self.error = error

    def stop(self):
        """Raise no more after the current one (a test that failed does not
        wait for the rest at a daemon that may be gone)."""
        self.stopped.set()

    def finish(self, timeout=None):
        timeout = PATIENCE_S if timeout is None else timeout
        self.gate.set()
        self.join(timeout)
        expect(not self.is_alive(), f"raising {self.count} signals took over {timeout} s")
        if self.error:
            raise self.error
