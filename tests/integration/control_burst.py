#!/usr/bin/env python3
"""Send a burst of OP_CASE_MOVE requests on one DEALER to a daemon's control
socket before reading any reply, then print every reply as one JSON line
(request_id, status, error, state). Used by test_operations.py to check
group commit; needs pyzmq and protobuf (Debian: python3-zmq,
python3-protobuf) and protoc.

    control_burst.py ENDPOINT PROTO CASE:REGION:REQUEST_ID ...
"""
import importlib.util
import json
import os
import sys

import zmq


def main(endpoint, proto, moves):
    here = os.path.dirname(os.path.abspath(__file__))
    example = os.path.join(here, "..", "..", "examples", "python_subscriber", "subscriber.py")
    spec = importlib.util.spec_from_file_location("python_subscriber", example)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pb = module.load_schema(proto)
    context = zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 30000)
    sock.connect(endpoint)
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
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
