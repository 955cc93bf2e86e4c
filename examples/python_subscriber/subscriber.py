#!/usr/bin/env python3
"""A ZVH/1 partner subscriber, written from docs/PROTOCOL.md and proto/zvh.proto.

It connects to one region's partner endpoint over CURVE with the partner's own
key, subscribes after a log seq (or after its stored cursor), prints every
delivered view as one JSON line, acknowledges it after printing, drops
redeliveries, keeps the link alive and subscribes again when the daemon goes
silent or says it lost the stream. It does not use zvh-federation's C code:
only pyzmq, protobuf and protoc (Debian: python3-zmq, python3-protobuf,
protobuf-compiler).

    subscriber.py --endpoint tcp://host:7201 --server-key REGION_KEY \\
                  --cert partner.key_secret (--after SEQ | --from-cursor) \\
                  [--credit N] [--count N] [--idle-exit MS]

Exit codes: 0 done (count reached, idle, or interrupted); 1 usage, or an
unusable certificate, schema or library.
"""
import argparse
import atexit
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PROTO = os.path.normpath(os.path.join(HERE, "..", "..", "proto", "zvh.proto"))

# Protocol constants (docs/PROTOCOL.md, sections 3.3, 7.4 and 7.6)
MAX_FRAME_BYTES = 4 * 1024 * 1024   # ZMQ_MAXMSGSIZE on every ZVH socket
PING_IDLE_S = 1.0                   # send PING after this long without sending
SILENCE_S = 4.0                     # SUBSCRIBE again after this long without hearing
RECONNECT_MS = 100
RESUBSCRIBE_MIN_S = 1.0             # after ERROR NO_STREAM, SUBSCRIBE at most this often
CONFIRM_S = 5.0                     # wait this long for ACKED before closing
PROTOCOL = (1, 1)                   # docs/PROTOCOL.md 12.1: the version this client speaks
POLL_MAX_S = 1.0
Z85_KEY_LEN = 40

INSTALL_HINT = ("install Debian's python3-zmq, python3-protobuf and protobuf-compiler "
                "(apt-get install -y python3-zmq python3-protobuf protobuf-compiler)")

try:
    import zmq
    from zmq.utils import z85
    from zmq.utils.monitor import recv_monitor_message
except ImportError as error:          # reported when main() runs
    zmq = None
    _ZMQ_ERROR = error

try:
    from google.protobuf import descriptor as _pb_descriptor
    from google.protobuf.message import DecodeError
except ImportError as error:
    _pb_descriptor = None
    _PB_ERROR = error


class Fatal(Exception):
    """A problem the user must fix; main() prints it and exits 1."""


def log(message):
    print(f"subscriber: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------- certificate

def _zpl_value(text):
    """The value part of a ZPL `name = value` line: quoted or bare, comment cut."""
    text = text.strip()
    if text[:1] in ('"', "'"):
        end = text.find(text[0], 1)
        if end < 0:
            raise ValueError("unterminated quoted value")
        return text[1:end]
    hash_at = text.find("#")
    return (text[:hash_at] if hash_at >= 0 else text).strip()


def parse_zpl(path):
    """A ZPL file (CZMQ zconfig text) as {"section/name": value}."""
    values, stack = {}, []
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, 1):
            line = raw.rstrip("\r\n")
            stripped = line.lstrip(" ")
            if not stripped or stripped.startswith("#"):
                continue
            indent = len(line) - len(stripped)
            if indent % 4:
                raise Fatal(f"{path}:{number}: indent with multiples of 4 spaces")
            level = indent // 4
            if level > len(stack):
                raise Fatal(f"{path}:{number}: indented too far")
            del stack[level:]
            name, eq, rest = stripped.partition("=")
            name = name.strip().split("#", 1)[0].strip()
            if not name:
                raise Fatal(f"{path}:{number}: a line without a name")
            stack.append(name)
            if eq:
                try:
                    values["/".join(stack)] = _zpl_value(rest)
                except ValueError as error:
                    raise Fatal(f"{path}:{number}: {error}") from None
    return values


def load_secret_cert(path):
    """(public key, secret key) in Z85 from a CZMQ zcert secret file."""
    try:
        values = parse_zpl(path)
    except OSError as error:
        raise Fatal(f"cannot read certificate {path}: {error.strerror}") from None
    public = values.get("curve/public-key", "")
    secret = values.get("curve/secret-key", "")
    if not secret:
        raise Fatal(f"{path} has no curve/secret-key: give the partner's *secret* "
                    f"certificate (NAME.key_secret from zvhctl keygen)")
    for name, key in (("public-key", public), ("secret-key", secret)):
        if not valid_z85_key(key):
            raise Fatal(f"{path}: curve/{name} is not a 40-character Z85 key")
    return public, secret


def valid_z85_key(key):
    if len(key) != Z85_KEY_LEN:
        return False
    try:
        return len(z85.decode(key.encode("ascii"))) == 32
    except Exception:                # noqa: BLE001 - any decode failure means invalid
        return False


# --------------------------------------------------------------------- schema

def load_schema(proto_path, out_dir=None):
    """Compile proto/zvh.proto with protoc into out_dir (default: a temporary
    directory removed at exit) and import the generated zvh_pb2."""
    if not os.path.isfile(proto_path):
        raise Fatal(f"schema {proto_path} not found; give it with --proto")
    protoc = shutil.which("protoc")
    if not protoc:
        raise Fatal(f"protoc not found: {INSTALL_HINT}")
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
    else:
        out_dir = tempfile.mkdtemp(prefix="zvh-pb2-")
        atexit.register(shutil.rmtree, out_dir, True)
    proto_dir, proto_name = os.path.split(os.path.abspath(proto_path))
    result = subprocess.run([protoc, f"--proto_path={proto_dir}", f"--python_out={out_dir}",
                             proto_name], capture_output=True, text=True)
    if result.returncode != 0:
        raise Fatal(f"protoc failed on {proto_path}: {result.stderr.strip()}")
    module_name = os.path.splitext(proto_name)[0] + "_pb2"
    sys.path.insert(0, out_dir)
    try:
        importlib.invalidate_caches()
        return importlib.import_module(module_name)
    except Exception as error:       # noqa: BLE001 - reported with the hint
        raise Fatal(f"cannot import the generated {module_name}: {error} "
                    f"({INSTALL_HINT})") from None
    finally:
        sys.path.remove(out_dir)


# --------------------------------------------------------------------- views as JSON

def enum_name(enum_descriptor, number):
    """SIGNAL_SCALE_UP -> "scale_up", TYPE_LABEL_SET -> "label_set"; an enum
    value this schema does not know stays a number."""
    value = enum_descriptor.values_by_number.get(number)
    if value is None:
        return number
    prefix, _, rest = value.name.partition("_")
    return (rest or prefix).lower()


def view_json(view):
    """Only the fields present on the wire (proto3: non-default), in tag
    order; a field the role may not see is absent, not empty. The proof of
    who published the view is left out: this example does not check it."""
    out = {}
    for field, value in view.ListFields():
        if field.type == _pb_descriptor.FieldDescriptor.TYPE_MESSAGE:
            continue            # proof: who published it (PROTOCOL 8.3), not verified here
        if field.type == _pb_descriptor.FieldDescriptor.TYPE_ENUM:
            value = enum_name(field.enum_type, value)
        elif field.label == _pb_descriptor.FieldDescriptor.LABEL_REPEATED:
            value = list(value)
        out[field.name] = value
    return out


# --------------------------------------------------------------------- the link

def _monitor_names():
    """{event number: name} of the socket events this subscriber reports."""
    names = {}
    for attr in ("EVENT_HANDSHAKE_SUCCEEDED", "EVENT_HANDSHAKE_FAILED_NO_DETAIL",
                 "EVENT_HANDSHAKE_FAILED_PROTOCOL", "EVENT_HANDSHAKE_FAILED_AUTH",
                 "EVENT_DISCONNECTED", "EVENT_CONNECTED"):
        if hasattr(zmq, attr):
            names[getattr(zmq, attr)] = attr
    return names


class Subscriber:
    """The partner side of docs/PROTOCOL.md section 7."""

    def __init__(self, pb, endpoint, server_key, public_key, secret_key, credit,
                 verbose=False):
        self.pb = pb
        self.Frame = pb.SubFrame
        self.credit = credit
        self.verbose = verbose
        self.have_seq = False           # `last` is known
        self.last = 0                   # highest seq handed out
        self.from_cursor = False
        self.started = False
        now = time.monotonic()
        self.last_heard = now
        self.last_sent = now
        self.last_subscribe = 0.0
        self.stats = {"delivered": 0, "dropped": 0, "gaps": 0, "subscribes": 0,
                      "errors": 0}
        self.context = zmq.Context.instance()
        sock = self.context.socket(zmq.DEALER)
        sock.curve_publickey = public_key.encode("ascii")
        sock.curve_secretkey = secret_key.encode("ascii")
        sock.curve_serverkey = server_key.encode("ascii")
        sock.linger = 0
        sock.maxmsgsize = MAX_FRAME_BYTES
        sock.reconnect_ivl = RECONNECT_MS
        self.sock = sock
        self.monitor_names = _monitor_names()
        mask = 0
        for event in self.monitor_names:
            mask |= event
        self.monitor = sock.get_monitor_socket(mask or zmq.EVENT_ALL)
        sock.connect(endpoint)
        self.poller = zmq.Poller()
        self.poller.register(self.sock, zmq.POLLIN)
        self.poller.register(self.monitor, zmq.POLLIN)

    def close(self, linger_ms=0):
        """Close the link; linger_ms lets queued frames (the last ACK) leave."""
        try:
            self.sock.disable_monitor()
        except Exception:            # noqa: BLE001 - closing anyway
            pass
        self.monitor.close(0)
        self.sock.close(linger_ms)

    # ------------------------------------------------------------- sending

    def send(self, frame):
        """Send one SubFrame without blocking; False if ZeroMQ would block."""
        frame.version_major, frame.version_minor = PROTOCOL
        try:
            self.sock.send(frame.SerializeToString(), zmq.NOBLOCK)
        except zmq.Again:
            return False
        self.last_sent = time.monotonic()
        return True

    def start(self, after_seq, from_cursor):
        self.started = True
        self.from_cursor = from_cursor
        self.have_seq = not from_cursor
        self.last = 0 if from_cursor else after_seq
        self.subscribe()

    def subscribe(self):
        """SUBSCRIBE after `last`, or from the cursor while `last` is unknown."""
        frame = self.Frame(kind=self.Frame.KIND_SUBSCRIBE, credit=self.credit)
        if self.have_seq:
            frame.seq = self.last
        else:
            frame.from_cursor = True
        self.stats["subscribes"] += 1
        self.last_heard = self.last_subscribe = time.monotonic()   # time to answer
        if self.verbose:
            log(f"SUBSCRIBE {'after ' + str(self.last) if self.have_seq else 'from cursor'}"
                f", credit {self.credit}")
        self.send(frame)

    def ack(self, seq):
        self.send(self.Frame(kind=self.Frame.KIND_ACK, seq=seq))

    def confirm(self, seq, timeout_s=CONFIRM_S):
        """ACK seq asking for ACKED, and wait until the daemon says its stored
        cursor is at seq or beyond (7.4 rule 8); False if it did not say so."""
        self.send(self.Frame(kind=self.Frame.KIND_ACK, seq=seq, confirm=True))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for frame in self.poll(deadline - time.monotonic()):
                if frame.kind == self.Frame.KIND_ACKED and frame.seq >= seq:
                    return True
        return False

    def keep_alive(self, now):
        if self.started and now - self.last_heard > SILENCE_S:
            if self.verbose:
                log(f"daemon silent for {SILENCE_S:g} s: subscribing again")
            self.subscribe()
        elif now - self.last_sent >= PING_IDLE_S:
            self.send(self.Frame(kind=self.Frame.KIND_PING))

    def next_wakeup(self, now):
        """Seconds until keep_alive has something to do."""
        due = min(self.last_sent + PING_IDLE_S, self.last_heard + SILENCE_S)
        return max(0.0, due - now)

    # ------------------------------------------------------------- receiving

    def poll(self, timeout_s):
        """Wait up to timeout_s; return the decoded SubFrames that arrived."""
        frames = []
        events = dict(self.poller.poll(max(0, int(timeout_s * 1000))))
        if self.monitor in events:
            self._drain_monitor()
        if self.sock in events:
            while True:
                try:
                    parts = self.sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                self.last_heard = time.monotonic()
                frame = self.Frame()
                try:
                    frame.ParseFromString(parts[0])
                except DecodeError:
                    log(f"malformed frame from the daemon ({len(parts[0])} bytes), ignored")
                    continue
                frames.append(frame)
        return frames

    def _drain_monitor(self):
        while True:
            try:
                event = recv_monitor_message(self.monitor, zmq.NOBLOCK)
            except zmq.Again:
                return
            name = self.monitor_names.get(event["event"], str(event["event"]))
            endpoint = event.get("endpoint", b"")
            if isinstance(endpoint, bytes):
                endpoint = endpoint.decode("utf-8", "replace")
            if name == "EVENT_HANDSHAKE_FAILED_AUTH":
                log(f"CURVE handshake with {endpoint} refused (authentication failed): "
                    f"this key is not a partner of the region")
            elif name in ("EVENT_HANDSHAKE_FAILED_PROTOCOL",
                          "EVENT_HANDSHAKE_FAILED_NO_DETAIL"):
                log(f"CURVE handshake with {endpoint} failed (protocol error): "
                    f"is --server-key the region's public key?")
            elif name == "EVENT_HANDSHAKE_SUCCEEDED" and self.verbose:
                log(f"secure link to {endpoint} up")
            elif name == "EVENT_DISCONNECTED" and self.verbose:
                log(f"link to {endpoint} disconnected")

    def take(self, frame):
        """Act on one frame; return the view's JSON if it is new to hand out.
        Raises Fatal when the daemon says retrying cannot help."""
        kind = frame.kind
        major = frame.version_major if (frame.version_major or frame.version_minor) else 1
        if major != PROTOCOL[0]:
            raise Fatal(f"the daemon speaks protocol {major}.{frame.version_minor}, this "
                        f"client {PROTOCOL[0]}.{PROTOCOL[1]}: upgrade one of them")
        if kind == self.Frame.KIND_DELIVERY and frame.HasField("view"):
            seq = frame.view.seq or frame.seq
            if self.have_seq and seq <= self.last:
                self.stats["dropped"] += 1          # a resend of what we have
                if self.verbose:
                    log(f"dropped redelivery of seq {seq} (have up to {self.last})")
                self.ack(self.last)                 # harmless; helps the cursor along
                return None
            out = view_json(frame.view)
            out.setdefault("seq", seq)
            return out
        if kind == self.Frame.KIND_GAP:
            self.stats["gaps"] += 1
            log(json.dumps({"gap": frame.seq, "after": self.last if self.have_seq else None,
                            "message": f"signals before seq {frame.seq} were purged "
                                       f"(retention) and cannot be delivered"}))
            if frame.seq and (not self.have_seq or frame.seq - 1 > self.last):
                self.last = frame.seq - 1
            self.have_seq = True
            return None
        if kind == self.Frame.KIND_RESET and frame.seq:
            # The region's log ends before our resume point: its seqs from
            # here on are new to us, though lower than the ones we had
            self.stats["gaps"] += 1
            log(json.dumps({"reset": frame.seq, "after": self.last if self.have_seq else None,
                            "message": f"the region's log ends before our resume point; "
                                       f"taking its seqs from {frame.seq} on"}))
            self.last = frame.seq - 1
            self.have_seq = True
            return None
        if kind == self.Frame.KIND_ERROR:
            self.stats["errors"] += 1
            if frame.request_id != 0:
                log(f"daemon refused request {frame.request_id}: {frame.error}")
                return None
            code = frame.code
            no_stream = (code == self.Frame.ERROR_NO_STREAM
                         or (code == self.Frame.ERROR_UNSPECIFIED and frame.seq == 1))
            if not no_stream:
                raise Fatal(f"daemon: {frame.error} (retrying cannot help)")
            if self.started and time.monotonic() - self.last_subscribe >= RESUBSCRIBE_MIN_S:
                log(f"daemon: {frame.error}; subscribing again")
                self.subscribe()
            return None
        return None                                  # PING, RAISED, unknown: heard

    def handed_out(self, seq):
        """The application has processed seq: remember and acknowledge it."""
        self.last = seq
        self.have_seq = True
        self.stats["delivered"] += 1
        self.ack(seq)


# --------------------------------------------------------------------- main

# Options whose value may begin with '-': a Z85 key can ("-nkY.rS2..."), and
# argparse would take such a value for an option.
VALUE_OPTIONS = ("--endpoint", "--server-key", "--cert", "--proto", "--pb2-dir")


def _join_values(argv):
    """["--server-key", "-abc"] -> ["--server-key=-abc"]."""
    joined, index = [], 0
    while index < len(argv):
        if argv[index] in VALUE_OPTIONS and index + 1 < len(argv):
            joined.append(f"{argv[index]}={argv[index + 1]}")
            index += 2
        else:
            joined.append(argv[index])
            index += 1
    return joined


def parse_args(argv):
    argv = _join_values(argv)
    parser = argparse.ArgumentParser(
        description="ZVH/1 partner subscriber: one JSON line per delivered signal view.")
    parser.add_argument("--endpoint", required=True,
                        help="the region's partner endpoint, e.g. tcp://127.0.0.1:7201")
    parser.add_argument("--server-key", required=True,
                        help="the region's CURVE public key (Z85, 40 characters)")
    parser.add_argument("--cert", required=True,
                        help="the partner's secret certificate (zvhctl keygen NAME.key_secret)")
    start = parser.add_mutually_exclusive_group(required=True)
    start.add_argument("--after", type=int, metavar="SEQ",
                       help="resume after this log seq (0: from the start of the log)")
    start.add_argument("--from-cursor", action="store_true",
                       help="resume after the cursor the daemon stored for this key")
    parser.add_argument("--credit", type=int, default=0,
                        help="deliveries in flight at most (0: the daemon's credit_max)")
    parser.add_argument("--count", type=int, default=-1,
                        help="exit after this many views (default: no limit)")
    parser.add_argument("--idle-exit", type=int, default=0, metavar="MS",
                        help="exit after MS milliseconds without a new view (default: never)")
    parser.add_argument("--proto", default=os.environ.get("ZVH_PROTO", DEFAULT_PROTO),
                        help="proto/zvh.proto (default: the repository's, or $ZVH_PROTO)")
    parser.add_argument("--pb2-dir", default=os.environ.get("ZVH_PB2_DIR"),
                        help="generate zvh_pb2.py here (default: a temporary directory)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log the protocol's steps to stderr")
    args = parser.parse_args(argv)
    if args.after is not None and args.after < 0:
        parser.error("--after must be 0 or more")
    if not 0 <= args.credit <= 0xFFFFFFFF:
        parser.error("--credit must be 0 .. 4294967295")
    if not valid_z85_key(args.server_key):
        parser.error("--server-key must be a 40-character Z85 key")
    return args


def run(args):
    pb = load_schema(args.proto, args.pb2_dir)
    public, secret = load_secret_cert(args.cert)
    sub = Subscriber(pb, args.endpoint, args.server_key, public, secret, args.credit,
                     args.verbose)
    wanted = args.count
    idle_s = args.idle_exit / 1000.0
    last_new = time.monotonic()
    try:
        sub.start(args.after or 0, args.from_cursor)
        while wanted != 0:
            now = time.monotonic()
            if idle_s and now - last_new >= idle_s:
                break
            sub.keep_alive(now)
            wait = min(POLL_MAX_S, sub.next_wakeup(now))
            if idle_s:
                wait = min(wait, max(0.0, last_new + idle_s - now))
            for frame in sub.poll(max(wait, 0.005)):
                out = sub.take(frame)
                if out is None or wanted == 0:
                    continue
                # Print (and flush) before acknowledging: nothing lost on a kill
                sys.stdout.write(json.dumps(out, ensure_ascii=False, separators=(",", ":"))
                                 + "\n")
                sys.stdout.flush()
                sub.handed_out(out["seq"])
                last_new = time.monotonic()
                if wanted > 0:
                    wanted -= 1
        # The cursor is durable before we close, not hoped to be (7.4 rule 8)
        if sub.have_seq and sub.stats["delivered"] and not sub.confirm(sub.last):
            log(f"the daemon did not confirm the cursor at {sub.last}: a resume from "
                f"the cursor may repeat views")
    finally:
        if args.verbose:
            log(json.dumps({"summary": sub.stats, "last": sub.last}))
        sub.close()
    return 0


def main(argv=None):
    if zmq is None:
        print(f"subscriber: cannot import zmq ({_ZMQ_ERROR}): {INSTALL_HINT}", file=sys.stderr)
        return 1
    if _pb_descriptor is None:
        print(f"subscriber: cannot import google.protobuf ({_PB_ERROR}): {INSTALL_HINT}",
              file=sys.stderr)
        return 1
    if not zmq.has("curve"):
        print("subscriber: this libzmq has no CURVE support", file=sys.stderr)
        return 1
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return run(args)
    except Fatal as error:
        print(f"subscriber: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
