#!/usr/bin/env python3
"""zvhctl forward (issue 17 item 2, docs/PARTNERS.md (c)): a partner's views
POSTed as CAP 1.2 alerts to an HTTPS receiver survive SIGKILL of the
forwarder and of the receiver mid-stream, and a receiver answering 503 for
a while: every view arrives, in the daemon's order, each valid CAP, with
repeats only around a kill (at least once), and none is acknowledged to
the daemon before its POST succeeded.

The receiver is tests/integration/cap_receiver.py (http.server + ssl, a
self-signed certificate made here with `openssl req -x509`); it fsyncs each
alert before answering 200, so its record is what the partner got. The
daemon's order is what a second partner of the same role and regions gets
from `zvhctl subscribe --after 0`. xmllint and the schema as in test_cap.py.

Run: python3 tests/integration/test_forward.py [name-filter]
"""
import json
import os
import signal
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigtest                                      # noqa: E402
from sigtest import Raiser, eq, expect, signal_federation, wait_until  # noqa: E402
import test_cap                                     # noqa: E402
import zvhtest                                      # noqa: E402

A = "groningen"
PARTNERS = [("pol", "police", A), ("ref", "police", A)]
RECEIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cap_receiver.py")
SIGNALS = 30
RAISE_PAUSE_S = 0.05
WAIT_S = 90                         # any one condition below; ASan builds are slow
FAILED_POSTS_FOR_503 = 2            # 503s the forwarder must have met before it ends
REF_IDLE_EXIT_MS = 2000
TOKEN = "s3cret-token-for-the-test"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    """cap_receiver.py as a process that can be SIGKILLed and started again
    on the same port, its record kept."""

    def __init__(self, root):
        self.dir = os.path.join(root, "receiver")
        os.makedirs(self.dir, exist_ok=True)
        self.cert, self.key = (os.path.join(self.dir, n) for n in ("cert.pem", "key.pem"))
        proc = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                               "-keyout", self.key, "-out", self.cert, "-days", "1",
                               "-subj", "/CN=localhost",
                               "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                              capture_output=True, text=True, timeout=zvhtest.CTL_TIMEOUT_S)
        eq(proc.returncode, 0, f"openssl req -x509 ({proc.stderr})")
        self.token_file = os.path.join(self.dir, "token")
        with open(self.token_file, "w", encoding="utf-8") as f:
            f.write(TOKEN + "\n")
        self.record = os.path.join(self.dir, "record.jsonl")
        self.fail_flag = os.path.join(self.dir, "answer-503")
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}/cap"
        self.proc = None

    def start(self):
        self.proc = zvhtest.start_process([sys.executable, RECEIVER, str(self.port), self.cert,
                                           self.key, self.record, self.fail_flag,
                                           self.token_file], stdin=subprocess.DEVNULL)

        def listening():
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        wait_until(listening, WAIT_S, what=f"the receiver to listen on {self.port}")

    def kill(self):
        zvhtest.end_process(self.proc)

    def alerts(self):
        """Every recorded POST, in arrival order (a line cut by a kill was
        never answered 200, so it is not one)."""
        try:
            with open(self.record, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in data.decode("utf-8").splitlines(True)
                if line.endswith("\n")]

    def seqs(self):
        return [a["seq"] for a in self.alerts()]


class Forwarder:
    """`zvhctl forward` for partner pol, restartable; stderr kept across runs."""

    def __init__(self, fed, receiver):
        self.fed, self.receiver, self.proc, self.runs = fed, receiver, None, 0
        self.err_path = os.path.join(fed.root, "forward.err")
        self.out_path = os.path.join(fed.root, "forward.out")
        self.cmd = [zvhtest.ZVHCTL, "forward", "--endpoint", fed.info[A]["subscribe"],
                    "--server-key", fed.info[A]["public_key"],
                    "--key", fed.partners["pol"]["key"], "--role", "police",
                    "--url", receiver.url, "--ca", receiver.cert,
                    "--token-file", receiver.token_file]

    def start(self):
        self.runs += 1
        with open(self.out_path, "ab") as out, open(self.err_path, "ab") as err:
            self.proc = zvhtest.start_process(self.cmd, stdin=subprocess.DEVNULL, stdout=out,
                                              stderr=err)

    def kill(self):
        expect(self.proc.poll() is None, f"the forwarder died by itself: {self.stderr()[-500:]}")
        zvhtest.end_process(self.proc)

    def stderr(self):
        with open(self.err_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def failures(self, text=" not delivered: "):
        return [line for line in self.stderr().splitlines() if text in line]


def daemon_order(fed):
    """(seq, event_id) of every view of a police partner of A, in log order."""
    ref = fed.subscribe(A, "ref", after=0, idle_exit_ms=REF_IDLE_EXIT_MS)
    eq(ref.wait_exit(WAIT_S), 0, f"reference subscriber ({ref.stderr()})")
    return [(line["seq"], line["event_id"]) for line in ref.lines()]


def check_at_least_once_in_order(alerts, order, kills):
    """First arrivals are exactly the daemon's order; after that a view may
    come again only at a kill: the same view right after itself (the
    receiver died before its 200), or a step back to a view not yet
    acknowledged when the forwarder died (at most one per forwarder kill)."""
    position = {seq: i for i, (seq, _) in enumerate(order)}
    seqs = [a["seq"] for a in alerts]
    expect(all(s in position for s in seqs), "a POSTed seq the daemon never gave")
    first = list(dict.fromkeys(seqs))
    eq(first, [seq for seq, _ in order], "views in the order of first arrival")
    steps_back = sum(1 for a, b in zip(seqs, seqs[1:]) if position[b] < position[a])
    expect(steps_back <= kills["forwarder"],
           f"{steps_back} step(s) back in {seqs} with {kills['forwarder']} forwarder kill(s)")
    repeats = len(seqs) - len(first)
    expect(repeats <= 2 * (kills["forwarder"] + kills["receiver"]),
           f"{repeats} repeats for {kills} kills: more than the views around them")
    ids = dict(order)
    for alert in alerts:
        eq(alert["event_id"], ids[alert["seq"]], f"Zvh-Event-Id of seq {alert['seq']}")
        identifier = ET.fromstring(alert["body"]).findtext(test_cap.CAP + "identifier")
        eq(identifier, ids[alert["seq"]], f"CAP identifier of seq {alert['seq']}")
        eq(alert["content_type"], "application/cap+xml", "Content-Type")


def wait_received(receiver, count, why):
    wait_until(lambda: len(set(receiver.seqs())) >= count, WAIT_S,
               what=lambda: f"{count} distinct alerts at the receiver {why} "
                            f"(has {len(set(receiver.seqs()))})")


def wait_new_failure(forwarder, before, text, why):
    wait_until(lambda: len(forwarder.failures(text)) > before, WAIT_S,
               what=f"the forwarder to report a failed POST ({text.strip()}) {why}")
    return forwarder.failures(text)[-1]


@signal_federation([A], partners=PARTNERS)
def test_forward_survives_kills_of_itself_and_the_receiver(fed):
    fed.start_all()
    case = "ZVH-FWD-1"
    fed.include(A, fed.plan_file(), case)           # its label_set is a view too
    receiver, kills = Receiver(fed.root), {"forwarder": 0, "receiver": 0}
    receiver.start()
    forwarder = Forwarder(fed, receiver)
    forwarder.start()
    raiser = Raiser(fed, A, case, SIGNALS, pause_s=RAISE_PAUSE_S)
    raiser.start()
    try:
        #  1. SIGKILL the forwarder mid-stream; it resumes from the cursor
        wait_received(receiver, 5, "before the forwarder is killed")
        forwarder.kill()
        kills["forwarder"] += 1
        forwarder.start()
        #  2. SIGKILL the receiver mid-stream: POSTs fail until it is back
        wait_received(receiver, 10, "before the receiver is killed")
        failed = len(forwarder.failures())
        receiver.kill()
        kills["receiver"] += 1
        wait_new_failure(forwarder, failed, " not delivered: ", "while the receiver is dead")
        receiver.start()
        #  3. The receiver answers 503 for a while: retried, not skipped
        wait_received(receiver, 15, "before it answers 503")
        with open(receiver.fail_flag, "w"):
            pass
        unavailable = len(forwarder.failures("HTTP 503"))
        wait_until(lambda: len(forwarder.failures("HTTP 503"))
                   >= unavailable + FAILED_POSTS_FOR_503, WAIT_S,
                   what=f"{FAILED_POSTS_FOR_503} POSTs answered 503")
        os.unlink(receiver.fail_flag)
    finally:
        raiser.finish()
    eq(raiser.failures, [], "signals raised")
    #  4. Not acknowledged before delivery: a view whose POST failed (the
    #  receiver is dead) survives a SIGKILL of the forwarder. Had it been
    #  acknowledged, the restarted forwarder would resume after it.
    wait_received(receiver, SIGNALS + 1, "(every signal and the label_set)")
    receiver.kill()
    kills["receiver"] += 1
    failed = len(forwarder.failures())
    last = fed.raise_signal(A, case, kind="scale_up")
    line = wait_new_failure(forwarder, failed, " not delivered: ", f"for {last}")
    pending = int(line.split(" seq ", 1)[1].split()[0])
    expect(pending not in receiver.seqs(), f"seq {pending} recorded though its POST failed")
    forwarder.kill()
    kills["forwarder"] += 1
    receiver.start()
    forwarder.start()
    wait_until(lambda: pending in receiver.seqs(), WAIT_S,
               what=f"seq {pending}, never delivered when the forwarder was killed, to "
                    f"arrive after its restart")
    order = daemon_order(fed)
    eq(len(order), SIGNALS + 2, "views of the police partner (label_set, signals)")
    wait_received(receiver, len(order), "(all of them)")
    alerts = receiver.alerts()
    check_at_least_once_in_order(alerts, order, kills)
    test_cap.validate([a["body"] for a in alerts], os.path.join(fed.root, "cap"))
    #  SIGTERM: a clean stop (exit 0) that confirms the cursor
    forwarder.proc.send_signal(signal.SIGTERM)
    eq(forwarder.proc.wait(WAIT_S), 0, f"forwarder exit on SIGTERM ({forwarder.stderr()[-300:]})")
    zvhtest.forget(forwarder.proc)
    receiver.kill()


if __name__ == "__main__":
    sigtest.main(globals())
