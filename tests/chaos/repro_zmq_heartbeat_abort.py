#!/usr/bin/python3
"""Minimal reproduction (found by tests/chaos/chaos.py, seed 12): zvhd aborts in
libzmq 4.3.4 (Debian 12) with

    Assertion failed: !_io_error (src/stream_engine_base.cpp:331)

when the peer of one of its federation DEALERs dies while that DEALER's
inbound pipe is full. daemon/peer.c configures every peer DEALER with ZMTP
heartbeats (zsock_set_heartbeat_ivl 1000, heartbeat_timeout 5000) and
rcvhwm = 2 * window + 1 = 129. When the pipe is full, libzmq stops reading;
the peer's death then only sets _io_error (the engine waits to drain the
pipe), and the next heartbeat timer calls out_event(), which asserts
!_io_error and aborts the whole daemon. Upstream: zeromq/libzmq#4364 (same
assertion, same line, 4.3.4, heartbeats), fix proposal zeromq/libzmq#4377.

In the chaos run the DEALER's pipe filled with ACKs from a peer while zvhd's
main thread was busy (go-back-N resends to 30 peers), and the killer then
SIGKILLed that peer. The log of the daemon that died ends with:

    I: (parkstad) ... federation: link to tcp://127.0.0.1:55505 disconnected
    Assertion failed: !_io_error (src/stream_engine_base.cpp:331)

This script needs only Debian's python3-zmq (the system libzmq): a DEALER set
up as peer.c does, a ROUTER in a child process that fills its pipe, then the
child is SIGKILLed. With heartbeats the parent aborts (exit 134) within a
second; with --no-heartbeat it survives. Exit 0 = no abort. It tests libzmq
itself, not zvhd: since 345ad9d daemon/peer.c sets no ZMTP heartbeats (the
link PINGs find dead peers), which is the --no-heartbeat case.
"""
import os
import signal
import subprocess
import sys
import time


def victim(heartbeat):
    import zmq
    port_r, port_w = os.pipe()
    pid = os.fork()
    if pid == 0:                                    # the peer: floods, then dies
        os.close(port_r)
        ctx = zmq.Context()
        router = ctx.socket(zmq.ROUTER)
        port = router.bind_to_random_port("tcp://127.0.0.1")
        os.write(port_w, str(port).encode())
        ident, _ = router.recv_multipart()
        for _ in range(20000):
            try:
                router.send_multipart([ident, b"ack" * 8], flags=zmq.NOBLOCK)
            except zmq.Again:
                pass
        time.sleep(60)
        os._exit(0)
    os.close(port_w)
    port = int(os.read(port_r, 16))
    ctx = zmq.Context()
    dealer = ctx.socket(zmq.DEALER)                 # as daemon/peer.c s_configure
    if heartbeat:
        dealer.setsockopt(zmq.HEARTBEAT_IVL, 1000)
        dealer.setsockopt(zmq.HEARTBEAT_TIMEOUT, 5000)
    dealer.setsockopt(zmq.RCVHWM, 129)
    dealer.setsockopt(zmq.SNDHWM, 129)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.setsockopt(zmq.IMMEDIATE, 1)
    dealer.connect(f"tcp://127.0.0.1:{port}")
    time.sleep(0.3)
    dealer.send(b"hello")
    time.sleep(1.0)                 # the app reads nothing: the pipe fills up
    os.kill(pid, signal.SIGKILL)    # the peer dies (the chaos killer)
    os.waitpid(pid, 0)
    time.sleep(3.0)                 # heartbeat timer: out_event with _io_error set
    os._exit(0)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--victim":
        victim(heartbeat=sys.argv[2] == "1")
    try:
        import zmq
    except ImportError:
        print("needs python3-zmq (apt-get install python3-zmq)")
        return 2
    heartbeat = "--no-heartbeat" not in sys.argv
    print(f"libzmq {zmq.zmq_version()}, ZMTP heartbeats {'on' if heartbeat else 'off'}")
    proc = subprocess.run([sys.executable, __file__, "--victim", "1" if heartbeat else "0"],
                          capture_output=True, text=True, timeout=60)
    print(proc.stderr.strip() or "(no output)")
    if proc.returncode != 0:
        print(f"FAIL: the process with the DEALER died (exit {proc.returncode}, "
              f"signal {-proc.returncode if proc.returncode < 0 else '-'})")
        return 1
    print("PASS: the DEALER's process survived its peer's death")
    return 0


if __name__ == "__main__":
    sys.exit(main())
