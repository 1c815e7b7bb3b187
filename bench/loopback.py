"""HTTP helpers shared by the benchmark scripts: requests over loopback, timed on the client,
with the server's own Server-Timing, and servers started in their own process group."""

import json
import os
import signal
import socket
import statistics
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SENTENCE = "please review the attached quarterly report before friday "


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_timing(header):
    """{name: ms} from a Server-Timing header."""
    entries = {}
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        for param in params.split(";"):
            if param.startswith("dur="):
                entries[name] = float(param[4:])
    return entries


def post(base, payload):
    """Client-side milliseconds, the body, and the server's Server-Timing as {name: ms}."""
    request = urllib.request.Request(
        base + "/v1/classify",
        data=json.dumps(payload, separators=(",", ":")).encode(),
        headers={"content-type": "application/json"},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        body = json.loads(response.read())
        timing = response.headers.get("server-timing", "")
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed, body, server_timing(timing)


def get_json(base, path):
    with urllib.request.urlopen(base + path, timeout=60) as response:
        return json.loads(response.read())


def text_of(words):
    """A text of `words` words (about 1.1 tokens each with spam-mini's tokenizer)."""
    return " ".join((SENTENCE * (words // 8 + 1)).split()[:words])


def largest_request(base):
    """Sends the largest request the budgets allow (as the contract test does) and returns
    (client ms, linear memory bytes afterwards)."""
    budgets = get_json(base, "/v1/models")["budgets"]
    per_text = min((budgets["max_body_bytes"] - 16) // budgets["max_batch"] - 3,
                   budgets["max_text_bytes"])
    text = (SENTENCE * (per_text // len(SENTENCE) + 1))[:per_text]
    payload = {"texts": [text] * budgets["max_batch"]}
    elapsed = post(base, payload)[0]
    return elapsed, get_json(base, "/v1/models")["memory"]["current_bytes"]


def native_serve(name="native", env=None, args=()):
    """The native server (target/release/triage serve, then `args`) on a free loopback port."""
    port = free_port()
    return Server(name, [str(ROOT / "target/release/triage"), "serve", "--addr",
                         f"127.0.0.1:{port}", *args], port, env=env)


def peak_rss_bytes(pid):
    """The peak resident memory of process `pid` so far (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def floor_ms(base, n=200):
    """Median client-side time of GET /healthz: the runtime and the client, no model."""
    times = []
    for _ in range(n):
        started = time.perf_counter()
        get_json(base, "/healthz")
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def p99(values):
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.99) - 1)]


def summary(xs):
    return f"median {statistics.median(xs):.1f} ms, min {min(xs):.1f}, max {max(xs):.1f}"


class Server:
    """A server command in its own process group, logging to target/bench-<name>-<port>.log."""

    def __init__(self, name, command, port, env=None):
        self.port = port
        self.log = open(ROOT / "target" / f"bench-{name}-{port}.log", "w")
        self.proc = subprocess.Popen(
            command, cwd=ROOT, env=dict(os.environ, **(env or {})),
            stdout=self.log, stderr=self.log, start_new_session=True)
        self.base = f"http://127.0.0.1:{port}"

    def wait_listening(self, timeout=300):
        """Waits for the port to accept connections, without sending a request."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited; see {self.log.name}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"nothing listened on {self.port}; see {self.log.name}")

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def inference_ms(timing):
    """The server's own tokenize + inference time (its Server-Timing), in ms."""
    return timing.get("tokenize", 0.0) + timing.get("inference", 0.0)


def first_answer_ms(start):
    """Starts a server with `start()` and times start-up to its first answer to
    POST /v1/classify, in ms; then stops it."""
    started = time.perf_counter()
    server = start()
    server.wait_listening()
    post(server.base, {"text": text_of(10)})
    elapsed = (time.perf_counter() - started) * 1000
    server.stop()
    return elapsed


def interleaved_rows(servers, lengths, rounds):
    """Waits for every server in `servers` (name to Server) and warms it with one request,
    then, for each text length in `lengths` (words), sends `rounds` rounds of one
    POST /v1/classify to each server in turn, so they share the machine's noise. Returns
    one (tokens, client, inside, start) per length: the model's token count, and per
    server the client-side times, the server's own inference times (inference_ms) and its
    `instance` Server-Timing entries, in ms."""
    for server in servers.values():
        server.wait_listening()
        post(server.base, {"text": text_of(10)})  # compiled; the model loaded where kept
    rows = []
    for words in lengths:
        payload = {"text": text_of(words)}
        client = {name: [] for name in servers}
        inside = {name: [] for name in servers}
        start = {name: [] for name in servers}
        tokens = None
        for _ in range(rounds):
            for name, server in servers.items():
                elapsed, body, timing = post(server.base, payload)
                client[name].append(elapsed)
                inside[name].append(inference_ms(timing))
                start[name].append(timing.get("instance", 0.0))
                tokens = body["tokens"]
        rows.append((tokens, client, inside, start))
    return rows
