"""zvhtest: a small harness for integration tests with real zvhd daemons.

Python 3 standard library only. Each test runs in a fresh local federation
written by scripts/make-federation.py (fresh CURVE keys, free loopback ports,
a temporary directory); daemons are real `zvhd` processes talking CURVE over
TCP, driven with the real `zvhctl`.

    import zvhtest
    from zvhtest import federation, eq, expect

    @federation(["groningen", "drenthe"], {"heartbeat_ms": 200})
    def test_something(fed):
        fed.start_all()
        case = fed.include("groningen", fed.plan_file("a plan"))
        ...

    if __name__ == "__main__":
        zvhtest.main(globals())

Paths: $ZVH_BUILD_DIR (default <source>/build) holds zvhd and zvhctl;
$ZVH_SOURCE_DIR (default: the repository this file is in) holds scripts/ and
config/. Daemons are always killed when a test ends, when the runner exits,
and (through PR_SET_PDEATHSIG) when the runner itself is killed. Spawn
daemons from the main thread only: the death signal follows the spawning
thread. A test's directory is removed when it passes and kept (its path
printed, with the tail of every daemon log) when it fails.
"""
import atexit
import ctypes
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.environ.get("ZVH_SOURCE_DIR")
                             or os.path.join(HERE, "..", ".."))
BUILD_DIR = os.path.abspath(os.environ.get("ZVH_BUILD_DIR")
                            or os.path.join(SOURCE_DIR, "build"))
ZVHD = os.path.join(BUILD_DIR, "zvhd")
ZVHCTL = os.path.join(BUILD_DIR, "zvhctl")
EXAMPLE_PLAN = os.path.join(SOURCE_DIR, "config", "example-plan.json")

OWNER_STATES = ("active", "joint_target")
CTL_TIMEOUT_S = 60              # a zvhctl that runs longer than this is a hang


def _load_make_federation():
    path = os.path.join(SOURCE_DIR, "scripts", "make-federation.py")
    spec = importlib.util.spec_from_file_location("make_federation", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_federation = _load_make_federation()
write_federation = make_federation.write_federation

# --------------------------------------------------------------------- processes

_LIVE = set()                   # every daemon Popen not yet reaped


def _kill_everything():
    for proc in list(_LIVE):
        try:
            proc.kill()
            proc.wait(timeout=10)
        except Exception:
            pass
        _LIVE.discard(proc)


atexit.register(_kill_everything)


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


try:
    signal.signal(signal.SIGTERM, _on_sigterm)
except ValueError:
    pass                        # not the main thread: leave it


def _die_with_parent():
    """preexec_fn: SIGKILL the child if the runner dies (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except Exception:
        pass


class TestFailure(AssertionError):
    pass


class Abort(TestFailure):
    """A failure that wait_until passes on at once instead of polling again."""


def expect(condition, message):
    if not condition:
        raise TestFailure(message)


def eq(actual, expected, what):
    if actual != expected:
        raise TestFailure(f"{what}: expected {expected!r}, got {actual!r}")


def wait_until(predicate, timeout=10.0, interval=0.02, what=None):
    """Poll predicate() until it returns something true; return that value.
    Exceptions from the predicate count as 'not yet'; on timeout the last one
    is named in the failure."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Abort:
            raise
        except Exception as error:          # noqa: BLE001 - polled again
            last_error = error
        if time.monotonic() >= deadline:
            name = what or getattr(predicate, "__name__", "condition")
            extra = f" (last error: {last_error!r})" if last_error else ""
            raise TestFailure(f"timed out after {timeout:g} s waiting for {name}{extra}")
        time.sleep(interval)


class Federation:
    """A local federation of real zvhd daemons in a temporary directory."""

    def __init__(self, regions, settings=None, root=None, partners=None):
        self.regions = list(regions)
        self.settings = dict(settings or {})
        self.root = root or tempfile.mkdtemp(prefix="zvh-it-")
        extra = {"partners": partners} if partners else {}
        try:
            self.info = write_federation(self.root, ZVHCTL, self.regions, self.settings,
                                         **extra)
        except Exception as error:
            detail = getattr(error, "stderr", "") or ""
            raise TestFailure(f"could not write the federation in {self.root} "
                              f"(scripts/make-federation.py, {ZVHCTL}): {error!r} "
                              f"{detail.strip()}") from error
        self.procs = {}
        self.paused = set()
        self.reaped = set()             # daemons this harness stopped or killed
        self.plan_count = 0
        with open(EXAMPLE_PLAN, encoding="utf-8") as f:
            self.example_plan = json.load(f)

    # ------------------------------------------------------------- paths

    def config(self, region):
        return self.info[region]["config"]

    def data_dir(self, region):
        return self.info[region]["data_dir"]

    def log_path(self, region):
        return os.path.join(self.root, region, "zvhd.log")

    def log(self, region):
        """Everything the region's daemon(s) wrote to stderr, all runs."""
        try:
            with open(self.log_path(region), encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    # ------------------------------------------------------------- daemons

    def spawn(self, args, log_path):
        """Start any zvhd command line, its output appended to log_path."""
        with open(log_path, "ab") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} zvhd {' '.join(args)}\n".encode())
            log.flush()
            proc = subprocess.Popen([ZVHD] + list(args), stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=log, preexec_fn=_die_with_parent)
        _LIVE.add(proc)
        return proc

    def running(self, region):
        proc = self.procs.get(region)
        return proc is not None and proc.poll() is None

    def start(self, region, wait=True, timeout=10.0):
        expect(not self.running(region), f"{region} is already running")
        proc = self.spawn(["-c", self.config(region)], self.log_path(region))
        self.procs[region] = proc
        self.paused.discard(region)
        if wait:
            self.wait_answering(region, timeout)
        return proc

    def start_all(self, wait_links=True, timeout=15.0):
        for region in self.regions:
            self.start(region, wait=False)
        for region in self.regions:
            self.wait_answering(region)
        if wait_links:
            self.wait_links_up(timeout=timeout)

    def wait_answering(self, region, timeout=10.0):
        """Poll status until the daemon answers; fail at once if it exited."""
        proc = self.procs.get(region)

        def answering():
            if proc is not None and proc.poll() is not None:
                raise Abort(f"zvhd {region} exited with {proc.returncode} at start-up:"
                            f"\n{self.log_tail(region, 8)}")
            return self.ctl(region, "status", timeout_ms=300)[0] == 0
        return wait_until(answering, timeout, what=f"{region} to answer")

    def _reap(self, region, sig, timeout):
        proc = self.procs.get(region)
        expect(proc is not None, f"{region} was never started")
        if proc.poll() is None:
            proc.send_signal(sig)
            if sig != signal.SIGKILL and region in self.paused:
                proc.send_signal(signal.SIGCONT)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise TestFailure(f"zvhd {region} did not exit within {timeout} s "
                                  f"of signal {sig}")
        _LIVE.discard(proc)
        self.paused.discard(region)
        self.reaped.add(proc.pid)
        return proc.returncode

    def stop(self, region, timeout=10.0):
        """SIGTERM and wait; a clean stop must exit 0."""
        rc = self._reap(region, signal.SIGTERM, timeout)
        eq(rc, 0, f"exit code of zvhd {region} after SIGTERM")
        return rc

    def stop_many(self, regions=None, timeout=10.0):
        """SIGTERM every given daemon at once (one signal each), then wait for
        all; every one must exit 0."""
        regions = [r for r in (regions or self.regions) if self.running(r)]
        for region in regions:
            self.procs[region].send_signal(signal.SIGTERM)
            if region in self.paused:
                self.procs[region].send_signal(signal.SIGCONT)
        for region in regions:
            proc = self.procs[region]
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                raise TestFailure(f"zvhd {region} did not exit within {timeout} s of "
                                  "SIGTERM") from None
            finally:
                _LIVE.discard(proc)
                self.paused.discard(region)
                self.reaped.add(proc.pid)
        for region in regions:
            eq(self.procs[region].returncode, 0, f"exit code of zvhd {region} after "
                                                 "SIGTERM")

    def kill(self, region):
        """SIGKILL and wait."""
        return self._reap(region, signal.SIGKILL, 10.0)

    def pause(self, region):
        self.procs[region].send_signal(signal.SIGSTOP)
        self.paused.add(region)

    def resume(self, region):
        self.procs[region].send_signal(signal.SIGCONT)
        self.paused.discard(region)

    def restart(self, region, wait=True):
        if self.running(region):
            self.stop(region)
        return self.start(region, wait=wait)

    def close(self):
        for region, proc in self.procs.items():
            if proc.poll() is None:
                proc.kill()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            _LIVE.discard(proc)

    # ------------------------------------------------------------- zvhctl

    def ctl_args(self, region, args, timeout_ms=None, use_json=True):
        cmd = [ZVHCTL, "-c", self.config(region)]
        if use_json:
            cmd.append("--json")
        if timeout_ms is not None:
            cmd += ["-t", str(int(timeout_ms))]
        return cmd + [str(a) for a in args]

    @staticmethod
    def _parse(out):
        text = out.strip()
        if not text:
            return text
        try:
            return json.loads(text)
        except ValueError:
            return text

    def ctl(self, region, *args, timeout_ms=None, use_json=True):
        """Run zvhctl against region: (exit code, parsed JSON or text, stderr)."""
        proc = subprocess.run(self.ctl_args(region, args, timeout_ms, use_json),
                              stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=CTL_TIMEOUT_S)
        return proc.returncode, self._parse(proc.stdout), proc.stderr

    def ctl_async(self, region, *args, timeout_ms=None, use_json=True):
        """Start zvhctl without waiting; finish it with ctl_finish."""
        return subprocess.Popen(self.ctl_args(region, args, timeout_ms, use_json),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def ctl_finish(self, proc):
        out, err = proc.communicate(timeout=CTL_TIMEOUT_S)
        return proc.returncode, self._parse(out), err

    def ctl_ok(self, region, *args, **kwargs):
        rc, out, err = self.ctl(region, *args, **kwargs)
        expect(rc == 0, f"zvhctl {' '.join(map(str, args))} at {region} exited {rc}: "
                        f"{err.strip()}")
        return out

    # ------------------------------------------------------------- queries

    def status(self, region):
        return self.ctl_ok(region, "status")

    def peer(self, region, other):
        for peer in self.status(region)["peers"]:
            if peer["region"] == other:
                return peer
        raise TestFailure(f"{region}'s status does not list peer {other}")

    def show(self, region, case_id, plan=False):
        """The case at region (with "plan" if asked and held), or None."""
        args = ["case", "show", case_id] + (["--plan"] if plan else [])
        rc, out, err = self.ctl(region, *args)
        if rc == 3 and "not found" in err:
            return None
        expect(rc == 0, f"case show {case_id} at {region} exited {rc}: {err.strip()}")
        return out

    def cases(self, region):
        """{case id: case} of every case region knows."""
        out = self.ctl_ok(region, "case", "list")
        expect(isinstance(out, list), f"case list at {region} is not a JSON array: {out!r}")
        return {c["id"]: c for c in out}

    def state(self, region, case_id):
        case = self.show(region, case_id)
        return case["state"] if case else None

    def wait_state(self, region, case_id, state, timeout=10.0):
        return wait_until(lambda: (self.show(region, case_id) or {}).get("state") == state
                          and self.show(region, case_id),
                          timeout, what=f"case {case_id} to be {state} at {region}")

    def include(self, region, plan_path, case_id=None):
        args = ["case", "include", plan_path] + (["--case", case_id] if case_id else [])
        case = self.ctl_ok(region, *args)
        eq(case["state"], "active", f"state of included case {case.get('id')}")
        return case

    def move(self, region, case_id, target):
        return self.ctl(region, "case", "move", case_id, "--to", target)

    def links_up(self, regions=None):
        regions = regions or [r for r in self.regions if self.running(r)]
        for region in regions:
            peers = {p["region"]: p for p in self.status(region)["peers"]}
            for other in regions:
                if other != region and not peers.get(other, {}).get("up"):
                    return False
        return True

    def wait_links_up(self, regions=None, timeout=15.0):
        return wait_until(lambda: self.links_up(regions), timeout,
                          what="every link to be up")

    def quiescent(self, regions=None):
        """No case offered, no outbox entry waiting, in every given region."""
        regions = regions or self.regions
        for region in regions:
            status = self.status(region)
            if status["cases"]["offered"]:
                return False
            if any(p["outbox_depth"] for p in status["peers"]):
                return False
        return True

    def wait_quiescent(self, regions=None, timeout=20.0):
        return wait_until(lambda: self.quiescent(regions), timeout,
                          what="the federation to be quiescent")

    def all_cases(self, regions=None):
        """{case id: {region: case}} over the given regions."""
        seen = {}
        for region in regions or self.regions:
            for case_id, case in self.cases(region).items():
                seen.setdefault(case_id, {})[region] = case
        return seen

    def owners(self, case_id, regions=None):
        found = []
        for region in regions or self.regions:
            case = self.show(region, case_id)
            if case and case["state"] in OWNER_STATES:
                found.append(region)
        return found

    # ------------------------------------------------------------- plans

    def plan_file(self, summary=None, **changes):
        """A copy of the example plan with a distinct summary; its path."""
        self.plan_count += 1
        plan = json.loads(json.dumps(self.example_plan))
        plan["summary"] = summary or f"Test plan {self.plan_count} of {self.root}."
        plan.update(changes)
        os.makedirs(os.path.join(self.root, "plans"), exist_ok=True)
        path = os.path.join(self.root, "plans", f"plan-{self.plan_count}.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(plan, f, ensure_ascii=False, indent=1)
        return path

    # ------------------------------------------------------------- failure aid

    def daemon_report(self):
        """How each daemon ended, flagging exits nobody asked for (a crash,
        or a signal from outside the test)."""
        lines = []
        for region, proc in self.procs.items():
            rc = proc.poll()
            if rc is None:
                state = "running" + (" (paused)" if region in self.paused else "")
            elif proc.pid in self.reaped:
                state = f"stopped by the test (exit {rc})"
            else:
                how = f"signal {-rc}" if rc < 0 else f"exit {rc}"
                state = f"EXITED ON ITS OWN ({how})"
            lines.append(f"{region} pid {proc.pid}: {state}")
        return lines

    def log_tail(self, region, lines=40):
        text = self.log(region).splitlines()
        return "\n".join(f"    {region}| {line}" for line in text[-lines:])


# --------------------------------------------------------------------- runner

def federation(regions, settings=None):
    """Decorator: the test gets a fresh Federation(regions, settings)."""
    def mark(fn):
        fn.zvh_regions = list(regions)
        fn.zvh_settings = dict(settings or {})
        return fn
    return mark


def _tests(namespace):
    found = [fn for name, fn in namespace.items()
             if name.startswith("test_") and callable(fn)]
    return sorted(found, key=lambda fn: fn.__code__.co_firstlineno)


def _reason(error):
    text = str(error).strip() or type(error).__name__
    first = text.splitlines()[0]
    if not isinstance(error, AssertionError):
        first = f"{type(error).__name__}: {first}"
    return first


def run_test(fn):
    """Run one test in a fresh federation; True if it passed."""
    name = fn.__name__
    started = time.monotonic()
    fed = None
    try:
        fed = Federation(getattr(fn, "zvh_regions", ["groningen", "drenthe"]),
                         getattr(fn, "zvh_settings", {}))
        fn(fed)
        ok = True
    except KeyboardInterrupt:
        raise
    except BaseException as error:          # noqa: BLE001 - reported below
        ok = False
        failure = error
        details = traceback.format_exc()
        if fed is not None:
            details += "\n".join(["daemons at the failure:"] + fed.daemon_report())
    finally:
        if fed:
            fed.close()
    elapsed = time.monotonic() - started
    if ok:
        print(f"PASS {name} ({elapsed:.1f} s)", flush=True)
        shutil.rmtree(fed.root, ignore_errors=True)
        return True
    print(f"FAIL {name}: {_reason(failure)}", flush=True)
    sys.stdout.write("  " + details.replace("\n", "\n  ") + "\n")
    if fed:
        for region in [r for r in fed.info if not r.startswith("_")]:
            if os.path.exists(fed.log_path(region)):
                print(f"  --- last lines of {region}'s log:")
                print(fed.log_tail(region))
        print(f"  kept {fed.root} ({elapsed:.1f} s)", flush=True)
    return False


def main(namespace):
    """Run the test_* functions of a module in order; exit 1 if any failed.
    Command-line arguments, if given, select tests by (part of) name."""
    for tool in (ZVHD, ZVHCTL):
        if not os.access(tool, os.X_OK):
            print(f"FAIL setup: {tool} is missing; build it or set ZVH_BUILD_DIR")
            print("0 passed, 1 failed")
            sys.exit(1)
    wanted = sys.argv[1:]
    tests = [fn for fn in _tests(namespace)
             if not wanted or any(w in fn.__name__ for w in wanted)]
    passed = failed = 0
    started = time.monotonic()
    try:
        for fn in tests:
            if run_test(fn):
                passed += 1
            else:
                failed += 1
    finally:
        _kill_everything()
    print(f"{passed} passed, {failed} failed", flush=True)
    print(f"({time.monotonic() - started:.1f} s)", file=sys.stderr)
    sys.exit(1 if failed else 0)
