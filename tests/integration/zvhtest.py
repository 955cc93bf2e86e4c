"""zvhtest: the one harness for integration tests with real zvhd daemons.

Python 3 standard library only. Each test runs in a fresh local federation
written by scripts/make-federation.py (fresh CURVE keys, free loopback ports,
a temporary directory); daemons are real `zvhd` processes talking CURVE over
TCP, driven with the real `zvhctl`. Every suite runs its tests through
main() here (try, report, keep the directory on failure, clean up) and waits
with wait_until() here, so a fix to how tests wait is made once. sigtest
adds partners and subscribers on top. For frames no daemon or zvhctl would
send there is one CURVE client (CurveDealer, over the system libzmq) and a
minimal protobuf encoder and decoder (pb_field, pb_decode).

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
config/. Daemons and every other child a test starts are killed when the
test ends, when the runner exits, and (through PR_SET_PDEATHSIG) when the
runner itself is killed. Spawn them from the main thread only: the death
signal follows the spawning thread. A test's directory is removed when it
passes and kept (its path printed, with the tail of the daemon logs) when it
fails.

Waiting: a test waits on a condition it can observe (a daemon answering, a
link up, a log line, a subscriber's output), never a fixed time for
something to happen. A wait gives up only after PATIENCE_S, minutes (31 ASan
daemons on 2 cores are slow, and a wait whose condition holds returns at
once: patience costs only a failing test its time), and then says what it
waited for. The fixed sleeps left in tests give something that must NOT
come (a duplicate, a view for a partner that gets nothing) time to show;
each says so in a comment.
"""
import atexit
import ctypes
import ctypes.util
import http.client
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import struct
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
PROTO = os.path.join(SOURCE_DIR, "proto", "zvh.proto")

OWNER_STATES = ("active", "joint_target")
CTL_TIMEOUT_S = 60              # a zvhctl that runs longer than this is a hang
HTTP_TIMEOUT_S = 10             # an HTTP request to a metrics listener, the same
#  How long any wait may last before it fails: a last resort, in minutes.
#  $ZVH_PATIENCE_S changes it (say, shorter while writing a test).
PATIENCE_S = float(os.environ.get("ZVH_PATIENCE_S") or 300)
#  zvhctl -t of a readiness probe: it returns as soon as the daemon answers,
#  so a long one costs nothing, and a short one never succeeds on a machine
#  where one answer takes longer than it
PROBE_MS = 5000
#  Daemon logs shown when a test fails: every region's if this many or
#  fewer, else only those of daemons that exited on their own
LOG_TAIL_REGIONS = 4
LOG_TAIL_LINES = 30


def load_module(path, name):
    """A Python file that is not a package module (scripts/*.py...)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_federation = load_module(os.path.join(SOURCE_DIR, "scripts", "make-federation.py"),
                              "make_federation")
write_federation = make_federation.write_federation

# --------------------------------------------------------------------- processes

_LIVE = set()                   # every child Popen (daemon, subscriber) not yet reaped


def _kill_everything():
    for proc in list(_LIVE):
        try:
            end_process(proc)
        except Exception:
            _LIVE.discard(proc)


atexit.register(_kill_everything)


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


try:
    signal.signal(signal.SIGTERM, _on_sigterm)
except ValueError:
    pass                        # not the main thread: leave it


def die_with_parent():
    """preexec_fn: SIGKILL the child if the runner dies (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except Exception:
        pass


def start_process(cmd, **popen_args):
    """Popen(cmd) that dies with the runner and is killed when main() ends
    (forget() it once reaped). Main thread only (see the module comment)."""
    proc = subprocess.Popen(cmd, preexec_fn=die_with_parent, **popen_args)
    _LIVE.add(proc)
    return proc


def forget(proc):
    """proc is reaped: main() need not kill it."""
    _LIVE.discard(proc)


def end_process(proc):
    """SIGKILL proc if it still runs, reap it and forget it; its exit code."""
    if proc.poll() is None:
        proc.kill()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    forget(proc)
    return proc.returncode


def python_with(probe):
    """An interpreter that runs probe (Python source) without error: this one,
    or Debian's /usr/bin/python3, where python3-zmq and friends are (CTest
    may run another python3). (path, []) or (None, [why each one failed])."""
    tried = []
    for python in dict.fromkeys([sys.executable, "/usr/bin/python3"]):
        if not os.access(python, os.X_OK):
            continue
        result = subprocess.run([python, "-c", probe], capture_output=True, text=True)
        if result.returncode == 0:
            return python, []
        last = (result.stderr.strip().splitlines() or ["?"])[-1]
        tried.append(f"{python}: {last}")
    return None, tried


# --------------------------------------------------------------------- checks and waits

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


_WAITING = {}                   # the main thread's wait in progress: what, since


def _waiting_for():
    """What the main thread is waiting for, if it is waiting, and how long."""
    if not _WAITING:
        return "nothing (it was not in a wait)"
    what = _WAITING["what"]
    return (f"{what() if callable(what) else what} "
            f"(for {time.monotonic() - _WAITING['since']:.0f} s)")


def wait_until(predicate, timeout=None, interval=0.02, *, what):
    """Poll predicate() until it returns something true; return that value.
    Exceptions from the predicate count as 'not yet' (Abort fails at once);
    after timeout seconds (default PATIENCE_S) it fails naming what it
    waited for (what: a string, or a function giving one, called then) and
    the last exception."""
    timeout = PATIENCE_S if timeout is None else timeout
    deadline = time.monotonic() + timeout
    main = threading.current_thread() is threading.main_thread()
    outer = dict(_WAITING)              # a wait inside a wait's predicate
    if main:
        _WAITING.update(what=what, since=time.monotonic())
    try:
        value = _poll(predicate, deadline, timeout, interval, what)
    except KeyboardInterrupt:
        raise                           # _WAITING stays: the runner reports it
    except BaseException:
        if main:
            _WAITING.clear()
            _WAITING.update(outer)
        raise
    if main:
        _WAITING.clear()
        _WAITING.update(outer)
    return value


def _poll(predicate, deadline, timeout, interval, what):
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
            extra = f" (last error: {last_error!r})" if last_error else ""
            name = what() if callable(what) else what
            raise TestFailure(f"timed out after {timeout:g} s waiting for {name}{extra}")
        time.sleep(interval)


# --------------------------------------------------------------------- raw frames

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
    with open(path, encoding="utf-8") as f:
        text = f.read()
    public = re.search(r'public-key = "([^"]{40})"', text).group(1)
    secret = re.search(r'secret-key = "([^"]{40})"', text).group(1)
    return public, secret


Z85_ALPHABET = ("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                ".-:+=^!/*?&<>()[]{}@%$#")


def z85_decode(text):
    """The bytes of a Z85 string (ZeroMQ RFC 32; length a multiple of 5)."""
    out = bytearray()
    for start in range(0, len(text), 5):
        value = 0
        for char in text[start:start + 5]:
            value = value * 85 + Z85_ALPHABET.index(char)
        out += value.to_bytes(4, "big")
    return bytes(out)


class CurveDealer:
    """A ZeroMQ DEALER with whatever CURVE key the test gives it (a partner's,
    a region's, a stranger's), connected to a daemon's endpoint: for frames
    no daemon or zvhctl would send. The system libzmq through ctypes, so no
    pyzmq is needed; one context per dealer. send() takes bytes or protobuf
    messages (one frame each); recv() and recv_multipart() return None when
    nothing came within timeout_ms."""

    ZMQ_DEALER, ZMQ_SNDMORE, ZMQ_DONTWAIT = 5, 2, 1
    ZMQ_RCVMORE, ZMQ_LINGER, ZMQ_RCVTIMEO, ZMQ_MAXMSGSIZE = 13, 17, 27, 22
    ZMQ_CURVE_PUBLICKEY, ZMQ_CURVE_SECRETKEY, ZMQ_CURVE_SERVERKEY = 48, 49, 50
    MAX_FRAME_BYTES = 4 * 1024 * 1024       # as the daemon's ZMQ_MAXMSGSIZE

    ZMQ_RECONNECT_IVL, ZMQ_SNDTIMEO = 18, 28
    #  A DEALER whose handshake was refused has no pipe: a blocking send on it
    #  waits for ever. Bound it, so a test that sends where it should not
    #  fails with a message instead of hanging until ctest's timeout.
    SEND_TIMEOUT_MS = 30000

    def __init__(self, endpoint, server_key, cert_file, reconnect_ivl_ms=None, watch=False):
        """watch: monitor the connection from the start (wait_event);
        reconnect_ivl_ms: how soon libzmq tries again after a refusal."""
        name = ctypes.util.find_library("zmq") or "libzmq.so.5"
        self.zmq = zmq = ctypes.CDLL(name, use_errno=True)
        zmq.zmq_ctx_new.restype = ctypes.c_void_p
        zmq.zmq_socket.restype = ctypes.c_void_p
        zmq.zmq_socket.argtypes = [ctypes.c_void_p, ctypes.c_int]
        zmq.zmq_setsockopt.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                       ctypes.c_size_t]
        zmq.zmq_getsockopt.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                       ctypes.POINTER(ctypes.c_size_t)]
        zmq.zmq_connect.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        zmq.zmq_send.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                 ctypes.c_int]
        zmq.zmq_recv.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                 ctypes.c_int]
        zmq.zmq_close.argtypes = [ctypes.c_void_p]
        zmq.zmq_ctx_term.argtypes = [ctypes.c_void_p]
        self.ctx = zmq.zmq_ctx_new()
        self.sock = zmq.zmq_socket(self.ctx, self.ZMQ_DEALER)
        self.buffer = ctypes.create_string_buffer(self.MAX_FRAME_BYTES)
        public, secret = read_cert(cert_file)
        for option, value in ((self.ZMQ_CURVE_SERVERKEY, server_key),
                              (self.ZMQ_CURVE_PUBLICKEY, public),
                              (self.ZMQ_CURVE_SECRETKEY, secret)):
            raw = value.encode("ascii")
            self._check(zmq.zmq_setsockopt(self.sock, option, raw, 40), "setsockopt")
        self._setopt(self.ZMQ_LINGER, ctypes.c_int(0))
        self._setopt(self.ZMQ_MAXMSGSIZE, ctypes.c_int64(self.MAX_FRAME_BYTES))
        self._setopt(self.ZMQ_SNDTIMEO, ctypes.c_int(self.SEND_TIMEOUT_MS))
        if reconnect_ivl_ms is not None:
            self._setopt(self.ZMQ_RECONNECT_IVL, ctypes.c_int(reconnect_ivl_ms))
        if watch:
            self.watch()
        self._check(zmq.zmq_connect(self.sock, endpoint.encode()), "connect")

    def _check(self, rc, what):
        if rc != 0:
            raise TestFailure(f"libzmq {what} failed: errno {self.zmq.zmq_errno()}")

    def _setopt(self, option, value):
        self._check(self.zmq.zmq_setsockopt(self.sock, option, ctypes.byref(value),
                                            ctypes.sizeof(value)), "setsockopt")

    def send(self, *frames):
        """One message of these frames (bytes, or protobuf messages)."""
        for n, frame in enumerate(frames):
            if not isinstance(frame, (bytes, bytearray)):
                frame = frame.SerializeToString()
            flags = self.ZMQ_SNDMORE if n < len(frames) - 1 else 0
            rc = self.zmq.zmq_send(self.sock, bytes(frame), len(frame), flags)
            expect(rc == len(frame), f"zmq_send returned {rc} (errno {self.zmq.zmq_errno()}; "
                                     f"a refused handshake leaves no pipe to send on: "
                                     f"send_nowait is for a key that may be refused)")

    def send_nowait(self, *frames):
        """One message of these frames without blocking (ZMQ_DONTWAIT): for a
        connection that may be gone or refused. True if libzmq took it."""
        for n, frame in enumerate(frames):
            if not isinstance(frame, (bytes, bytearray)):
                frame = frame.SerializeToString()
            flags = self.ZMQ_DONTWAIT | (self.ZMQ_SNDMORE if n < len(frames) - 1 else 0)
            if self.zmq.zmq_send(self.sock, bytes(frame), len(frame), flags) != len(frame):
                return False
        return True

    def recv_multipart(self, timeout_ms):
        """The frames of one message, or None if none came within timeout_ms."""
        self._setopt(self.ZMQ_RCVTIMEO, ctypes.c_int(max(0, int(timeout_ms))))
        frames = []
        while True:
            size = self.zmq.zmq_recv(self.sock, self.buffer, len(self.buffer), 0)
            if size < 0:
                expect(not frames, f"zmq_recv failed inside a message "
                                   f"(errno {self.zmq.zmq_errno()})")
                return None
            expect(size <= len(self.buffer), f"a frame of {size} bytes, more than "
                                             f"{len(self.buffer)}")
            frames.append(self.buffer.raw[:size])
            more, length = ctypes.c_int(0), ctypes.c_size_t(ctypes.sizeof(ctypes.c_int))
            self._check(self.zmq.zmq_getsockopt(self.sock, self.ZMQ_RCVMORE,
                                                ctypes.byref(more), ctypes.byref(length)),
                        "getsockopt")
            if not more.value:
                return frames

    def recv(self, timeout_ms):
        """The last frame of one message (bytes), or None after timeout_ms."""
        frames = self.recv_multipart(timeout_ms)
        return frames[-1] if frames else None

    ZMQ_PAIR, ZMQ_EVENT_ALL = 0, 0xFFFF
    EVENT_DISCONNECTED, EVENT_HANDSHAKE_SUCCEEDED = 0x0200, 0x1000
    EVENT_HANDSHAKE_FAILED_AUTH = 0x4000

    def watch(self):
        """Monitor this socket's connection (zmq_socket_monitor): wait_event
        then waits for what happens to it (closed by the peer, refused)."""
        zmq = self.zmq
        zmq.zmq_socket_monitor.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        address = f"inproc://watch-{id(self)}".encode()
        self._check(zmq.zmq_socket_monitor(self.sock, address, self.ZMQ_EVENT_ALL),
                    "socket_monitor")
        self.monitor = zmq.zmq_socket(self.ctx, self.ZMQ_PAIR)
        self._check(zmq.zmq_connect(self.monitor, address), "connect to the monitor")

    def wait_event(self, event, what, timeout_s=PATIENCE_S, count=1):
        """Wait until the monitor reports event (EVENT_*) count times; the
        events seen."""
        seen, deadline = [], time.monotonic() + timeout_s
        timeout = ctypes.c_int(200)
        self.zmq.zmq_setsockopt(self.monitor, self.ZMQ_RCVTIMEO, ctypes.byref(timeout),
                                ctypes.sizeof(timeout))
        while time.monotonic() < deadline:
            size = self.zmq.zmq_recv(self.monitor, self.buffer, 64, 0)
            if size < 0:
                continue
            frame = self.buffer.raw[:size]
            self.zmq.zmq_recv(self.monitor, self.buffer, 1024, 0)     # the address
            seen.append(struct.unpack("<H", frame[:2])[0])
            if seen.count(event) >= count:
                return seen
        raise TestFailure(f"timed out after {timeout_s} s waiting for {what} (monitor "
                          f"events seen: {[hex(e) for e in seen]})")

    def close(self):
        if getattr(self, "monitor", None):
            self.zmq.zmq_close(self.monitor)
            self.monitor = None
        if self.sock:
            self.zmq.zmq_close(self.sock)
            self.sock = None
        if self.ctx:
            self.zmq.zmq_ctx_term(self.ctx)
            self.ctx = None


# --------------------------------------------------------------------- federation

class Federation:
    """A local federation of real zvhd daemons in a temporary directory.
    writer (default: make-federation's write_federation) writes its files
    and returns what info holds: each region's config, data_dir, endpoints
    and keys, and "_partners". metrics: a metrics listener per region
    (info[region]["metrics"] is its port; http() asks it)."""

    def __init__(self, regions, settings=None, root=None, partners=None, writer=None,
                 metrics=False):
        self.regions = list(regions)
        self.settings = dict(settings or {})
        self.root = root or tempfile.mkdtemp(prefix="zvh-it-")
        extra = {"partners": list(partners)} if partners else {}
        if metrics:
            extra["metrics"] = True
        try:
            self.info = (writer or write_federation)(self.root, ZVHCTL, self.regions,
                                                     self.settings, **extra)
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

    def wait_log(self, region, pattern, what, since=0, timeout=None):
        """Wait until the region's log, from character since on (a len(log)
        taken earlier), matches the regular expression pattern; the match."""
        return wait_until(lambda: re.search(pattern, self.log(region)[since:]), timeout,
                          interval=0.05, what=f"{region}'s log to show {what} (/{pattern}/)")

    # ------------------------------------------------------------- daemons

    def spawn(self, args, log_path, binary=None, env=None):
        """Start any zvhd command line (binary: another zvhd build, e.g. one
        announcing another protocol version; env: variables added to this
        process's, e.g. a fault point), its output appended to log_path."""
        binary = binary or ZVHD
        with open(log_path, "ab") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} {os.path.basename(binary)} "
                      f"{' '.join(args)}\n".encode())
            log.flush()
            return start_process([binary] + list(args), stdin=subprocess.DEVNULL,
                                 stdout=log, stderr=log,
                                 env=dict(os.environ, **env) if env else None)

    def running(self, region):
        proc = self.procs.get(region)
        return proc is not None and proc.poll() is None

    def start(self, region, wait=True, timeout=None, binary=None, env=None):
        expect(not self.running(region), f"{region} is already running")
        proc = self.spawn(["-c", self.config(region)], self.log_path(region), binary, env)
        self.procs[region] = proc
        self.paused.discard(region)
        if wait:
            self.wait_answering(region, timeout)
        return proc

    def start_all(self, wait_links=True, timeout=None):
        """Start every daemon at once, then wait for each in turn to answer
        (each wait with its own patience: there is no budget for all of
        them together), then, with wait_links, for each link to come up."""
        for region in self.regions:
            self.start(region, wait=False)
        for region in self.regions:
            self.wait_answering(region, timeout)
        if wait_links:
            self.wait_links_up(timeout=timeout)

    def wait_answering(self, region, timeout=None):
        """Poll status until the daemon answers; fail at once if it exited."""
        proc = self.procs.get(region)

        def answering():
            if proc is not None and proc.poll() is not None:
                raise Abort(f"zvhd {region} exited with {proc.returncode} at start-up:"
                            f"\n{self.log_tail(region, 8)}")
            return self.ctl(region, "status", timeout_ms=PROBE_MS)[0] == 0
        return wait_until(answering, timeout, what=f"zvhd {region} to answer status")

    def _reap(self, region, sig, timeout=None):
        proc = self.procs.get(region)
        expect(proc is not None, f"{region} was never started")
        timeout = PATIENCE_S if timeout is None else timeout
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
        forget(proc)
        self.paused.discard(region)
        self.reaped.add(proc.pid)
        return proc.returncode

    def stop(self, region, timeout=None):
        """SIGTERM and wait; a clean stop must exit 0."""
        rc = self._reap(region, signal.SIGTERM, timeout)
        eq(rc, 0, f"exit code of zvhd {region} after SIGTERM")
        return rc

    def stop_many(self, regions=None, timeout=None):
        """SIGTERM every given daemon at once (one signal each), then wait for
        all; every one must exit 0."""
        timeout = PATIENCE_S if timeout is None else timeout
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
                forget(proc)
                self.paused.discard(region)
                self.reaped.add(proc.pid)
        for region in regions:
            eq(self.procs[region].returncode, 0, f"exit code of zvhd {region} after "
                                                 "SIGTERM")

    def kill(self, region):
        """SIGKILL and wait."""
        return self._reap(region, signal.SIGKILL)

    def restore(self, region, backup_dir):
        """kill -9 region, put the backup (zvhctl backup) in place of its
        store, start it."""
        self.kill(region)
        data_dir = self.data_dir(region)
        shutil.move(data_dir, data_dir + ".lost")
        os.makedirs(os.path.join(data_dir, "store"), mode=0o700)
        shutil.copy2(os.path.join(backup_dir, "data.mdb"),
                     os.path.join(data_dir, "store", "data.mdb"))
        self.start(region)

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
        for proc in self.procs.values():
            end_process(proc)

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

    # ------------------------------------------------------------- HTTP

    def http(self, region, path, method="GET"):
        """(status, body) of one request to region's metrics listener."""
        connection = http.client.HTTPConnection("127.0.0.1", self.info[region]["metrics"],
                                                timeout=HTTP_TIMEOUT_S)
        try:
            connection.request(method, path)
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8")
        finally:
            connection.close()

    def federation_status(self, region):
        """{region id: its entry} of region's GET /status (PROTOCOL 4.10)."""
        status, body = self.http(region, "/status")
        eq(status, 200, f"GET /status at {region}")
        return {r["region"]: r for r in json.loads(body)["regions"]}

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

    def wait_state(self, region, case_id, state, timeout=None):
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

    def links_down(self, region, regions=None):
        """The regions among regions (default: the running ones) that region's
        status does not show as up."""
        regions = regions or [r for r in self.regions if self.running(r)]
        peers = {p["region"]: p for p in self.status(region)["peers"]}
        return [other for other in regions
                if other != region and not peers.get(other, {}).get("up")]

    def links_up(self, regions=None):
        regions = regions or [r for r in self.regions if self.running(r)]
        return not any(self.links_down(region, regions) for region in regions)

    def wait_links_up(self, regions=None, timeout=None):
        """Wait for each region in turn to show its links to the others up,
        each wait with its own patience. A link seen up is not waited for
        again if it drops while later regions are checked: on a loaded
        machine links come and go, and what a test needs is that each has
        come up (what is sent meanwhile waits in an outbox)."""
        regions = regions or [r for r in self.regions if self.running(r)]
        for region in regions:
            down = []

            def all_up(region=region, down=down):
                down[:] = self.links_down(region, regions)
                return not down
            wait_until(all_up, timeout, interval=0.1,
                       what=lambda region=region, down=down:
                       f"{region}'s links to be up (still down: {down})")

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

    def wait_quiescent(self, regions=None, timeout=None):
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

def federation(regions, settings=None, **options):
    """Decorator: the test gets a fresh Federation(regions, settings, **options).
    Other decorators (sigtest.signal_federation...) set fn.zvh_federation
    the same way: a function that makes the test's federation."""
    def mark(fn):
        fn.zvh_federation = lambda: Federation(regions, settings, **options)
        return fn
    return mark


DEFAULT_REGIONS = ["groningen", "drenthe"]      # an undecorated test's federation


def _federation_of(fn):
    make = getattr(fn, "zvh_federation", None)
    return make() if make else Federation(DEFAULT_REGIONS)


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


def _report_logs(fed):
    """The tails of the daemon logs: every region's in a small federation,
    else those whose daemon exited on its own (the rest are in fed.root)."""
    regions = [r for r in fed.regions if os.path.exists(fed.log_path(r))]
    if len(regions) > LOG_TAIL_REGIONS:
        crashed = [r for r in regions if r in fed.procs
                   and fed.procs[r].poll() is not None and fed.procs[r].pid not in fed.reaped]
        print(f"  ({len(regions)} daemon logs in {fed.root}; shown: those that exited "
              f"on their own: {crashed or 'none'})")
        regions = crashed
    for region in regions:
        print(f"  --- last lines of {region}'s log:")
        print(fed.log_tail(region, LOG_TAIL_LINES))


def run_test(fn, federation_of=_federation_of, check=None):
    """Run one test in a fresh federation (federation_of(fn) makes it), then
    check(fed) if given (a check every test of a suite must pass); True if
    both passed. A passing test's directory is removed, a failing one's kept."""
    name = fn.__name__
    started = time.monotonic()
    fed = None
    ok = False
    try:
        fed = federation_of(fn)
        fn(fed)
        if check:
            check(fed)
        ok = True
    except KeyboardInterrupt as error:
        #  A SIGTERM (CTest's timeout) or ^C: say where the test was
        print(f"INTERRUPTED {name} ({error or 'interrupt'}) after "
              f"{time.monotonic() - started:.1f} s, waiting for {_waiting_for()}", flush=True)
        if fed is not None:
            print("\n  ".join(["  daemons at the interruption:"] + fed.daemon_report()))
            _report_logs(fed)
            print(f"  kept {fed.root}", flush=True)
        raise
    except BaseException as error:          # noqa: BLE001 - reported below
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
    print(f"FAIL {name}: {_reason(failure)} ({elapsed:.1f} s)", flush=True)
    sys.stdout.write("  " + details.replace("\n", "\n  ") + "\n")
    if fed:
        _report_logs(fed)
        print(f"  kept {fed.root}", flush=True)
    return False


def main(namespace, federation_of=_federation_of, check=None):
    """Run the test_* functions of a module in file order (run_test with
    federation_of and check); the last line is "N passed, M failed"; exit 1
    if any failed or none was selected. Command-line arguments, if given,
    select tests by (part of) name."""
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
            if run_test(fn, federation_of, check):
                passed += 1
            else:
                failed += 1
    finally:
        _kill_everything()
    if not tests:
        print(f"no test matches {wanted}")
    print(f"({time.monotonic() - started:.1f} s)", file=sys.stderr, flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed or not tests else 0)
