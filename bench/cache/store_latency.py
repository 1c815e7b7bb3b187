"""Times a served Triage's answers by where they come from (bench/RESULTS.md, "semantic
cache"): `local` (a text the edge model is sure of), `remote` (a new text it is not sure
of, escalated to an origin this script serves on loopback, which answers at once) and
`cache` (that unsure text again: the kept answer). Under Spin every request gets a fresh
instance, so each `cache` answer is read from the key-value store.

    python bench/cache/store_latency.py --base http://127.0.0.1:3000 --origin-port 3301

The server must escalate to http://127.0.0.1:<origin-port>/escalate with the cache on,
e.g. for `spin up` (with "http://127.0.0.1:3301" in the component's
allowed_outbound_hosts):

    SPIN_VARIABLE_ESCALATION_URL=http://127.0.0.1:3301/escalate \\
    SPIN_VARIABLE_ESCALATION_THRESHOLD=0.9 SPIN_VARIABLE_CACHE_TTL_S=600 spin up

Times are client-side, one request at a time on a new connection each; the origin's own
time (about 1 ms of Python) is part of `remote`.
"""

import argparse
import http.client
import http.server
import json
import statistics
import threading
import time
import urllib.parse

# Runic script, which spam-mini cannot read: always escalated.
UNSURE = "ᚠᚢᚦᚨᚱᚲ ᚷᚹᚺᚾ ᛁᛃ ᛇᛈᛉ"
SURE = "Hey, are we still meeting for lunch tomorrow at noon? Let me know."


class Origin(http.server.BaseHTTPRequestHandler):
    """An escalation endpoint that answers every text `spam` at once."""

    calls = 0

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        Origin.calls += 1
        body = json.dumps({"label": "spam", "score": 0.97}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def classify(base, text):
    """(source, milliseconds) of one classify request."""
    url = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=30)
    body = json.dumps({"text": text})
    started = time.perf_counter()
    connection.request("POST", "/v1/classify", body, {"content-type": "application/json"})
    reply = connection.getresponse()
    answer = json.loads(reply.read())
    elapsed = (time.perf_counter() - started) * 1000
    connection.close()
    if reply.status != 200:
        raise SystemExit(f"{reply.status}: {answer}")
    return answer["source"], elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="http://127.0.0.1:3000")
    parser.add_argument("--origin-port", type=int, default=3301)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    origin = http.server.ThreadingHTTPServer(("127.0.0.1", args.origin_port), Origin)
    threading.Thread(target=origin.serve_forever, daemon=True).start()

    run = f"{time.time():.0f}"  # new texts on every run: the first ask is remote
    times = {"local": [], "remote": [], "cache": []}
    for i in range(args.rounds):
        for text in (f"{SURE} {i}", f"{UNSURE} [{run}-{i}]", f"{UNSURE} [{run}-{i}]"):
            source, elapsed = classify(args.base, text)
            times.setdefault(source, []).append(elapsed)
    print(f"{args.rounds} rounds against {args.base}; {Origin.calls} escalations reached the origin")
    print("| source | answers | median | p90 |")
    print("|---|---|---|---|")
    for source, values in times.items():
        if values:
            p90 = sorted(values)[max(0, int(len(values) * 0.9) - 1)]
            print(f"| {source} | {len(values)} | {statistics.median(values):.2f} ms | {p90:.2f} ms |")


if __name__ == "__main__":
    main()
