"""A local HTTP receiver for notification tests (Slack, PagerDuty, Lambda Invoke).

Prints its port on the first line of stdout, then serves on 127.0.0.1 until killed.

- Every POST to any path except /_control is recorded and answered per the current mode.
- GET /_requests: the recorded requests (JSON list of {path, headers, body, started, sigv4}).
- GET /_stats: {"started": n, "finished": n}.
- POST /_control {"status": 500, "times": 2, "retry_after": "1", "delay": 3.0}: the next `times`
  requests (default: all) get that status / Retry-After / delay; {} resets to 200.

With `--upstream URL` it is a fault-injecting proxy: requests are forwarded to URL (e.g. a
moto_server) unless the current mode says to fail or stall them first.

For Lambda Invoke paths (/2015-03-31/functions/NAME/invocations) the request's AWS SigV4
signature is recomputed with botocore and the access key/secret "testing"/"testing"; the
result is recorded as `sigv4` ("valid" or the reason it is not).
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import urllib.error
import urllib.request

LOCK = threading.Lock()
UPSTREAM = None
REQUESTS = []
STATS = {"started": 0, "finished": 0}
MODE = {}


def check_sigv4(handler, body):
    try:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
    except ImportError as e:  # pragma: no cover
        return f"botocore missing: {e}"
    auth_header = handler.headers.get("Authorization", "")
    if not auth_header.startswith("AWS4-HMAC-SHA256 "):
        return "no AWS4-HMAC-SHA256 Authorization header"
    parts = dict(p.strip().split("=", 1) for p in auth_header[len("AWS4-HMAC-SHA256 "):].split(","))
    scope = parts["Credential"].split("/")
    if len(scope) != 5 or scope[3] != "lambda" or scope[4] != "aws4_request":
        return f"credential scope is not lambda: {parts['Credential']}"
    region = scope[2]
    signed = parts["SignedHeaders"].split(";")
    headers = {h: handler.headers.get(h) for h in signed}
    url = f"http://{handler.headers.get('Host')}{handler.path}"
    req = AWSRequest(method="POST", url=url, data=body, headers=headers)
    req.context["timestamp"] = handler.headers.get("X-Amz-Date")
    signer = SigV4Auth(Credentials("testing", "testing"), "lambda", region)
    canonical = signer.canonical_request(req)
    string_to_sign = signer.string_to_sign(req, canonical)
    expected = signer.signature(string_to_sign, req)
    return "valid" if expected == parts["Signature"] else "signature mismatch"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if UPSTREAM and not self.path.startswith("/_"):
            return self.proxied("GET", b"")
        with LOCK:
            if self.path == "/_requests":
                data = json.dumps(REQUESTS).encode()
            elif self.path == "/_stats":
                data = json.dumps(STATS).encode()
            else:
                data = None
        if data is None:
            self.reply(404)
        else:
            self.reply(200, data, [("Content-Type", "application/json")])

    def forward(self, method, body):
        req = urllib.request.Request(UPSTREAM + self.path, data=body if method not in ("GET", "HEAD") else None, method=method)
        for k, v in self.headers.items():
            if k.lower() not in ("host", "content-length", "connection", "transfer-encoding"):
                req.add_header(k, v)
        try:
            resp = urllib.request.urlopen(req, timeout=30)
            status, headers, data = resp.status, resp.getheaders(), resp.read()
        except urllib.error.HTTPError as e:
            status, headers, data = e.code, e.headers.items(), e.read()
        keep = [(k, v) for k, v in headers if k.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date")]
        self.reply(status, data if method != "HEAD" else b"", keep)

    def read_body(self):
        length = int(self.headers.get("Content-Length", "0") or 0)
        return self.rfile.read(length) if length else b""

    def proxied(self, method, body):
        with LOCK:
            STATS["started"] += 1
            mode = dict(MODE)
            if "times" in MODE:
                MODE["times"] -= 1
                if MODE["times"] <= 0:
                    MODE.clear()
            REQUESTS.append({"path": self.path, "method": method, "started": time.time(), "failed": bool(mode.get("status"))})
        if mode.get("delay"):
            time.sleep(float(mode["delay"]))
        if mode.get("status"):
            headers = [("Content-Type", "application/x-amz-json-1.0")]
            if mode.get("retry_after") is not None:
                headers.append(("Retry-After", str(mode["retry_after"])))
            self.reply(int(mode["status"]), mode.get("body", '{"__type":"ServiceUnavailable","message":"injected"}').encode(), headers)
        else:
            self.forward(method, body)
        with LOCK:
            STATS["finished"] += 1

    def do_PUT(self):
        self.proxied("PUT", self.read_body())

    def do_HEAD(self):
        self.proxied("HEAD", b"")

    def do_DELETE(self):
        self.proxied("DELETE", self.read_body())

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if UPSTREAM and self.path != "/_control":
            return self.proxied("POST", body)
        if self.path == "/_control":
            with LOCK:
                MODE.clear()
                MODE.update(json.loads(body or b"{}"))
            self.reply(200, b"ok")
            return
        with LOCK:
            STATS["started"] += 1
            mode = dict(MODE)
            if "times" in MODE:
                MODE["times"] -= 1
                if MODE["times"] <= 0:
                    MODE.clear()
        record = {
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("utf-8", "replace"),
            "started": time.time(),
        }
        if "/functions/" in self.path and self.path.endswith("/invocations"):
            record["sigv4"] = check_sigv4(self, body)
        with LOCK:
            REQUESTS.append(record)
        if mode.get("delay"):
            time.sleep(float(mode["delay"]))
        status = int(mode.get("status", 200))
        headers = [("Content-Type", "application/json")]
        if mode.get("retry_after") is not None:
            headers.append(("Retry-After", str(mode["retry_after"])))
        if status == 200 and "/invocations" in self.path:
            status = 202
        self.reply(status, b'{"status":"success","message":"Event processed"}' if status < 300 else b'{"error":"test"}', headers)
        with LOCK:
            STATS["finished"] += 1


def main():
    global UPSTREAM
    args = sys.argv[1:]
    if "--upstream" in args:
        i = args.index("--upstream")
        UPSTREAM = args[i + 1].rstrip("/")
        del args[i:i + 2]
    port = int(args[0]) if args else 0
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    # Clients that give up (timeouts in fault tests) reset connections; that is expected.
    server.handle_error = lambda request, client_address: None
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
