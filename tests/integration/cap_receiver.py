#!/usr/bin/env python3
"""A test HTTPS receiver of CAP alerts, as a partner's control room would
run one, for test_forward.py (Python 3 standard library only).

    cap_receiver.py PORT CERT.pem KEY.pem RECORD.jsonl FAIL_FLAG TOKEN_FILE

Each POST with the right bearer token is appended to RECORD.jsonl as one
JSON line {"seq", "event_id", "content_type", "body"} and fsynced BEFORE
it is answered 200: an alert answered 2xx is on disk, so a test may kill
this process at any moment and trust the file. While the file FAIL_FLAG
exists every POST is answered 503 and not recorded; a wrong token, 401.
"""
import http.server
import json
import os
import ssl
import sys

HTTP_OK, HTTP_UNAUTHORIZED, HTTP_UNAVAILABLE = 200, 401, 503


def handler(record_path, fail_flag, token):
    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Authorization") != "Bearer " + token:
                return self.answer(HTTP_UNAUTHORIZED)
            if os.path.exists(fail_flag):
                return self.answer(HTTP_UNAVAILABLE)
            line = json.dumps({"seq": int(self.headers.get("Zvh-Seq") or -1),
                               "event_id": self.headers.get("Zvh-Event-Id"),
                               "content_type": self.headers.get("Content-Type"),
                               "body": body.decode("utf-8")})
            with open(record_path, "a", encoding="utf-8") as record:
                record.write(line + "\n")
                record.flush()
                os.fsync(record.fileno())
            self.answer(HTTP_OK)

        def answer(self, status):
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass
    return Receiver


def main():
    port, cert, key, record_path, fail_flag, token_file = sys.argv[1:7]
    with open(token_file, encoding="utf-8") as f:
        token = f.read().strip()
    server = http.server.HTTPServer(("127.0.0.1", int(port)),
                                    handler(record_path, fail_flag, token))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
