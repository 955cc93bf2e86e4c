#!/usr/bin/env python3
"""Send a burst of OP_CASE_MOVE requests on one DEALER to a daemon's control
socket before reading any reply, then print every reply as one JSON line
(request_id, status, error, state). Used by test_operations.py to check
group commit; needs pyzmq and protobuf (Debian: python3-zmq,
python3-protobuf) and protoc.

    control_burst.py ENDPOINT PROTO CASE:REGION:REQUEST_ID ...
    control_burst.py --flood ENDPOINT PROTO

--flood keeps FLOOD_DEPTH OP_CASE_LIST requests in flight (a new one for
each reply): with some cases in the store each costs the daemon more than
this script, so that the control socket never runs dry; it prints "flooding" after
the first reply and, once stdin closes, {"replies": N} (used by
test_handover.py: the links must be served while control is flooded).
"""
import importlib.util
import json
import os
import select
import sys

import zmq

FLOOD_DEPTH = 256       # requests in flight: four times what zvhd reads per turn
FLOOD_CHECK = 64        # replies between two looks at stdin
RECV_TIMEOUT_MS = 30000


def _schema(proto):
    here = os.path.dirname(os.path.abspath(__file__))
    example = os.path.join(here, "..", "..", "examples", "python_subscriber", "subscriber.py")
    spec = importlib.util.spec_from_file_location("python_subscriber", example)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.load_schema(proto)


def _dealer(context, endpoint):
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, RECV_TIMEOUT_MS)
    sock.connect(endpoint)
    return sock


def _stdin_closed():
    readable, _, _ = select.select([sys.stdin], [], [], 0)
    return bool(readable) and not sys.stdin.read(1)


def flood(endpoint, proto):
    pb = _schema(proto)
    context = zmq.Context()
    sock = _dealer(context, endpoint)
    request = pb.ControlRequest(op=pb.ControlRequest.OP_CASE_LIST).SerializeToString()
    for _ in range(FLOOD_DEPTH):
        sock.send(request)
    replies = 0
    while replies % FLOOD_CHECK or not _stdin_closed():
        sock.recv()
        replies += 1
        if replies == 1:
            print("flooding", flush=True)
        sock.send(request)
    for _ in range(FLOOD_DEPTH):
        sock.recv()
        replies += 1
    print(json.dumps({"replies": replies}), flush=True)
    sock.close()
    context.term()


def main(endpoint, proto, moves):
    pb = _schema(proto)
    context = zmq.Context()
    sock = _dealer(context, endpoint)
    for move in moves:
        case_id, region, request_id = move.split(":")
        sock.send(pb.ControlRequest(op=pb.ControlRequest.OP_CASE_MOVE, case_id=case_id,
                                    region=region,
                                    request_id=int(request_id)).SerializeToString())
    for _ in moves:
        reply = pb.ControlReply()
        reply.ParseFromString(sock.recv())
        print(json.dumps({"request_id": reply.request_id, "status": reply.status,
                          "error": reply.error,
                          "state": pb.CaseState.Name(reply.case.state)}), flush=True)
    sock.close()
    context.term()


if __name__ == "__main__":
    if sys.argv[1] == "--flood":
        flood(sys.argv[2], sys.argv[3])
    else:
        main(sys.argv[1], sys.argv[2], sys.argv[3:])
