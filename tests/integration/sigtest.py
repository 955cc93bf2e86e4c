"""sigtest: crisis-signal helpers on top of zvhtest (Python 3 stdlib only).

zvhtest.Federation writes a federation without partners; SignalFederation
writes one with partners (scripts/make-federation.py, partners=...) and adds
what signal tests need: raising signals (as operator over the control socket
or as a partner over CURVE), real `zvhctl subscribe` processes whose JSON
lines go to a file (so a SIGKILLed subscriber's printed lines stay readable),
and a tiny CURVE client (ctypes over the system libzmq) that sends a SubFrame
built by hand, for claims zvhctl cannot make.

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
import atexit
import ctypes
import ctypes.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zvhtest                                      # noqa: E402
from zvhtest import (ZVHCTL, ZVHD, TestFailure, eq, expect,  # noqa: E402,F401
                     wait_until)

VIEWS = zvhtest.make_federation.VIEWS
ALL_REGIONS = [r for r, _ in zvhtest.make_federation.all_regions()]

#  Short timers for every signal test (review_check_s: review dates are seen
#  within a second).
TIMERS = {"heartbeat_ms": 200, "peer_timeout_ms": 1500, "retry_min_ms": 50,
          "retry_max_ms": 1000, "review_check_s": 1}

# --------------------------------------------------------------------- processes

_SUBS = set()                   # every subscriber Popen not yet reaped


def _kill_subscribers():
    for proc in list(_SUBS):
        try:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
        except Exception:
            pass
        _SUBS.discard(proc)


atexit.register(_kill_subscribers)


def _die_with_parent():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except Exception:
        pass


class Subscriber:
    """One real `zvhctl subscribe` process; its stdout (one JSON line per
    view, printed and flushed before it is acknowledged) goes to a file."""

    def __init__(self, fed, region, partner, name, after=None, from_cursor=False,
                 credit=None, count=None, idle_exit_ms=None, key=None, server_key=None):
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
        self.cmd = cmd
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, preexec_fn=_die_with_parent)
        _SUBS.add(self.proc)
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

    def wait_events(self, event_ids, timeout=15.0, type_=None):
        """Wait until every id in event_ids has been printed; the lines."""
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

    def wait_event(self, event_id, timeout=15.0):
        self.wait_events([event_id], timeout)
        return [e for e in self.lines() if e["event_id"] == event_id][0]

    def wait_count(self, count, timeout=15.0, type_=None):
        return wait_until(lambda: len(self.events(type_)) >= count and self.events(type_),
                          timeout, interval=0.02,
                          what=f"subscriber {self.name} to print {count} line(s)")

    # ------------------------------------------------------------- process

    def running(self):
        return self.proc.poll() is None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        _SUBS.discard(self.proc)
        return self.proc.returncode

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)
        self.stopped = True

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)
        self.stopped = False

    def wait_exit(self, timeout=30.0):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure(f"subscriber {self.name} did not exit within {timeout:g} s")
        _SUBS.discard(self.proc)
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

    def __init__(self, regions, settings=None, partners=(), root=None):
        # Federation.__init__ writes a federation without partners: let it
        # do everything else, with write_federation given the partners.
        original = zvhtest.write_federation

        def with_partners(root_, zvhctl, chosen, settings_=None, *args, **kwargs):
            kwargs["partners"] = list(partners)
            return original(root_, zvhctl, chosen, settings_, *args, **kwargs)
        zvhtest.write_federation = with_partners
        try:
            super().__init__(regions, settings,
                             root or tempfile.mkdtemp(prefix="zvh-sig-"))
        finally:
            zvhtest.write_federation = original
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


# --------------------------------------------------------------------- raw CURVE client

def _varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def pb_field(number, value):
    """One protobuf field: int -> varint, str/bytes -> length-delimited."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    if isinstance(value, str):
        value = value.encode("utf-8")
    return _varint((number << 3) | 2) + _varint(len(value)) + value


def pb_decode(data):
    """{field number: [values]} of one message level (ints or bytes)."""
    fields, i = {}, 0

    def varint():
        nonlocal i
        result = shift = 0
        while True:
            byte = data[i]
            i += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return result
    while i < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            value = varint()
        elif wire == 2:
            size = varint()
            value = bytes(data[i:i + size])
            i += size
        elif wire == 1:
            value = bytes(data[i:i + 8])
            i += 8
        elif wire == 5:
            value = bytes(data[i:i + 4])
            i += 4
        else:
            raise ValueError(f"wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


def read_cert(path):
    """(public, secret) Z85 keys of a CZMQ secret certificate file."""
    text = open(path, encoding="utf-8").read()
    public = re.search(r'public-key = "([^"]{40})"', text).group(1)
    secret = re.search(r'secret-key = "([^"]{40})"', text).group(1)
    return public, secret


class RawPartner:
    """A DEALER with a partner's CURVE key, speaking SubFrame bytes built
    here: for frames zvhctl would never send. Uses the system libzmq."""

    ZMQ_DEALER, ZMQ_LINGER, ZMQ_RCVTIMEO = 5, 17, 27
    ZMQ_CURVE_PUBLICKEY, ZMQ_CURVE_SECRETKEY, ZMQ_CURVE_SERVERKEY = 48, 49, 50

    def __init__(self, endpoint, server_key, cert_file):
        name = ctypes.util.find_library("zmq") or "libzmq.so.5"
        self.zmq = zmq = ctypes.CDLL(name, use_errno=True)
        zmq.zmq_ctx_new.restype = ctypes.c_void_p
        zmq.zmq_socket.restype = ctypes.c_void_p
        zmq.zmq_socket.argtypes = [ctypes.c_void_p, ctypes.c_int]
        zmq.zmq_setsockopt.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                       ctypes.c_size_t]
        zmq.zmq_connect.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        zmq.zmq_send.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                 ctypes.c_int]
        zmq.zmq_recv.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                 ctypes.c_int]
        zmq.zmq_close.argtypes = [ctypes.c_void_p]
        zmq.zmq_ctx_term.argtypes = [ctypes.c_void_p]
        self.ctx = zmq.zmq_ctx_new()
        self.sock = zmq.zmq_socket(self.ctx, self.ZMQ_DEALER)
        public, secret = read_cert(cert_file)
        for option, value in ((self.ZMQ_CURVE_SERVERKEY, server_key),
                              (self.ZMQ_CURVE_PUBLICKEY, public),
                              (self.ZMQ_CURVE_SECRETKEY, secret)):
            raw = value.encode("ascii")
            self._check(zmq.zmq_setsockopt(self.sock, option, raw, 40), "setsockopt")
        self._setint(self.ZMQ_LINGER, 0)
        self._check(zmq.zmq_connect(self.sock, endpoint.encode()), "connect")

    def _check(self, rc, what):
        if rc != 0:
            raise TestFailure(f"libzmq {what} failed: errno {ctypes.get_errno()}")

    def _setint(self, option, value):
        v = ctypes.c_int(value)
        self._check(self.zmq.zmq_setsockopt(self.sock, option, ctypes.byref(v), 4),
                    "setsockopt")

    def send(self, frame):
        rc = self.zmq.zmq_send(self.sock, frame, len(frame), 0)
        expect(rc == len(frame), f"zmq_send returned {rc}")

    def recv(self, timeout_ms):
        """One frame (bytes) or None after timeout_ms."""
        self._setint(self.ZMQ_RCVTIMEO, int(timeout_ms))
        buf = ctypes.create_string_buffer(1 << 20)
        size = self.zmq.zmq_recv(self.sock, buf, len(buf), 0)
        return None if size < 0 else buf.raw[:size]

    def close(self):
        if self.sock:
            self.zmq.zmq_close(self.sock)
            self.sock = None
        if self.ctx:
            self.zmq.zmq_ctx_term(self.ctx)
            self.ctx = None


# --------------------------------------------------------------------- runner

def signal_federation(regions, settings=None, partners=()):
    """Decorator: the test gets a fresh SignalFederation."""
    def mark(fn):
        fn.sig_regions = list(regions)
        fn.sig_settings = dict(TIMERS if settings is None else settings)
        fn.sig_partners = list(partners)
        return fn
    return mark


def run_test(fn):
    name = fn.__name__
    started = time.monotonic()
    fed = None
    ok = False
    try:
        fed = SignalFederation(fn.sig_regions, fn.sig_settings, fn.sig_partners)
        fn(fed)
        ok = True
    except KeyboardInterrupt:
        raise
    except BaseException as error:          # noqa: BLE001 - reported below
        failure = error
        details = traceback.format_exc()
    finally:
        if fed:
            fed.close()
    elapsed = time.monotonic() - started
    if ok:
        print(f"PASS {name} ({elapsed:.1f} s)", flush=True)
        shutil.rmtree(fed.root, ignore_errors=True)
        return True
    text = str(failure).strip() or type(failure).__name__
    reason = text.splitlines()[0]
    if not isinstance(failure, AssertionError):
        reason = f"{type(failure).__name__}: {reason}"
    print(f"FAIL {name}: {reason}", flush=True)
    sys.stdout.write("  " + details.replace("\n", "\n  ") + "\n")
    if fed:
        for region in fed.regions:
            if os.path.exists(fed.log_path(region)) and len(fed.regions) <= 4:
                print(f"  --- last lines of {region}'s log:")
                print(fed.log_tail(region, 25))
        print(f"  kept {fed.root} ({elapsed:.1f} s)", flush=True)
    return False


def main(namespace):
    """Run the test_* functions of a module in file order; the last line is
    "N passed, M failed"; exit 1 if any failed. Arguments select tests by
    (part of) name."""
    for tool in (ZVHD, ZVHCTL):
        if not os.access(tool, os.X_OK):
            print(f"FAIL setup: {tool} is missing; build it or set ZVH_BUILD_DIR")
            print("0 passed, 1 failed")
            sys.exit(1)
    wanted = sys.argv[1:]
    tests = sorted((fn for n, fn in namespace.items()
                    if n.startswith("test_") and callable(fn)),
                   key=lambda fn: fn.__code__.co_firstlineno)
    tests = [fn for fn in tests if not wanted or any(w in fn.__name__ for w in wanted)]
    passed = failed = 0
    started = time.monotonic()
    try:
        for fn in tests:
            if run_test(fn):
                passed += 1
            else:
                failed += 1
    finally:
        _kill_subscribers()
        zvhtest._kill_everything()
    print(f"({time.monotonic() - started:.1f} s)", file=sys.stderr, flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)


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

    def run(self):
        try:
            for i in range(self.count):
                if self.gate_at is not None and i == self.gate_at:
                    self.gate.wait(120)
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

    def finish(self, timeout=120):
        self.gate.set()
        self.join(timeout)
        expect(not self.is_alive(), f"raising {self.count} signals took over {timeout} s")
        if self.error:
            raise self.error
