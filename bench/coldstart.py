#!/usr/bin/env python3
"""What a cold Cloudflare isolate pays, measured apart: workerd itself, the module, the model.

Every sample starts a fresh `workerd serve` (the npm `workerd` binary that wrangler runs,
without wrangler's proxy in front) on a config serving one worker, waits for its port, and
times the first request and a second one. Rows:

- a hello-world JavaScript worker: what workerd costs with no module at all;
- the Triage worker (`workers/cloudflare/build`, from `scripts/build-worker`), first
  `GET /openapi.json`, first `POST /v1/classify` and first `POST /v1/parse`, each from a
  fresh process. The worker's own `Server-Timing` splits the first request: `instance` (the
  isolate's service, which loads the compiled-in classifier) and its `load-*` steps
  (checksums, tokenizer, reading the NNEF, tract's decluttering and optimisation);
- the classify-only worker (`workers/cloudflare/build-classify-only`, from
  `scripts/build-worker --classify-only`), first `POST /v1/classify`, when it is built.

"listen" is from process start to the port accepting (workerd reads its config and
compiles the module); "first" is the first request's round trip over loopback.

With --wrangler, the same first requests under `scripts/wrangler dev` (its proxy, then
workerd), as bench/cloudflare.py measures them.

Usage: bench/coldstart.py [--n 5] [--wrangler] [--build DIR] [--classify-only DIR] [--json PATH]
Prints Markdown for bench/RESULTS.md. Needs only the Python standard library.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import time
import urllib.request
from pathlib import Path

from loopback import ROOT, free_port, server_timing

WORKERD = ROOT / "node_modules" / ".bin" / "workerd"
BUILD = ROOT / "workers" / "cloudflare" / "build"
CLASSIFY_ONLY = ROOT / "workers" / "cloudflare" / "build-classify-only"
HELLO = 'export default { async fetch() { return new Response("ok"); } };\n'
CLASSIFY = json.dumps({"text": "Win a free cruise now, click here to claim your prize"}).encode()
PARSE = json.dumps({"text": "The checkout page is down for everyone", "schema": "support-ticket"}).encode()


def wait_listening(port, proc, timeout=120):
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError("the server exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.002)
    raise RuntimeError(f"nothing listened on {port}")


def request(port, path, body=None):
    """(round trip ms, Server-Timing entries as {name: ms})."""
    headers = {"content-type": "application/json"} if body else {}
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, headers=headers)
    started = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as response:
        response.read()
        timing = response.headers.get("server-timing", "")
    return (time.perf_counter() - started) * 1000, server_timing(timing)


def capnp(port, modules):
    listed = ",\n    ".join(f'(name = "{name}", {kind} = embed "{name}")' for name, kind in modules)
    return f'''using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = .worker)],
  sockets = [(name = "http", address = "127.0.0.1:{port}", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [
    {listed}
  ],
  compatibilityDate = "2026-11-01",
);
'''


def samples(command, path, body, n, **popen):
    """n fresh servers from `command(port)`: time to listen, first and second request."""
    rows = []
    for _ in range(n):
        port = free_port()
        started = time.perf_counter()
        proc = subprocess.Popen(command(port), stdout=subprocess.DEVNULL, start_new_session=True, **popen)
        try:
            wait_listening(port, proc)
            listen = (time.perf_counter() - started) * 1000
            first, timing = request(port, path, body)
            second, _ = request(port, path, body)
            rows.append({"listen": listen, "first": first, "second": second, "timing": timing})
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return rows


def workerd_samples(workdir, modules, path, body, n):
    config = workdir / "config.capnp"

    def command(port):
        config.write_text(capnp(port, modules))
        return [str(WORKERD), "serve", str(config), "--experimental"]

    with open(workdir / "workerd.log", "a") as log:
        return samples(command, path, body, n, cwd=workdir, stderr=log)


def wrangler_samples(path, body, n, config=None, extra=()):
    """`scripts/wrangler dev` of the repository's worker (with `extra` arguments, such as
    `--env classify-only`), or of the one `config` describes."""
    def command(port):
        return [str(ROOT / "scripts" / "wrangler"), "dev", "--ip", "127.0.0.1", "--port", str(port),
                "--inspector-port", str(free_port()), "--show-interactive-dev-session=false",
                "--log-level", "warn", *(["--config", str(config)] if config else []), *extra]

    return samples(command, path, body, n, cwd=ROOT, stderr=subprocess.DEVNULL,
                   env=dict(os.environ, TRIAGE_WORKER_PREBUILT="1", CI="1"))


def median(rows, key, sub=None):
    values = [r[key].get(sub, 0.0) if sub else r[key] for r in rows]
    return statistics.median(values)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5)
    parser.add_argument("--wrangler", action="store_true")
    parser.add_argument("--json")
    parser.add_argument("--build", default=str(BUILD),
                        help="folder of the worker's index.js and index_bg.wasm "
                             "(default: scripts/build-worker's output), to compare builds")
    parser.add_argument("--classify-only", default=str(CLASSIFY_ONLY),
                        help="folder of the classify-only worker (default: the output of "
                             "scripts/build-worker --classify-only; skipped when not built)")
    args = parser.parse_args()
    build = Path(args.build)
    workdir = ROOT / "target" / "bench-coldstart"
    (workdir / "classify-only").mkdir(parents=True, exist_ok=True)
    (workdir / "hello.js").write_text(HELLO)
    for name in ("index.js", "index_bg.wasm"):
        shutil.copyfile(build / name, workdir / name)
    wasm = (build / "index_bg.wasm").stat().st_size
    triage = [("index.js", "esModule"), ("index_bg.wasm", "wasm")]
    cases = [
        ("hello-world JS worker, `GET /`", [("hello.js", "esModule")], "/", None, workdir),
        ("Triage worker, `GET /openapi.json`", triage, "/openapi.json", None, workdir),
        ("Triage worker, `POST /v1/classify`", triage, "/v1/classify", CLASSIFY, workdir),
        ("Triage worker, `POST /v1/parse` (also loads the embedding model)", triage, "/v1/parse", PARSE,
         workdir),
    ]
    classify_only = Path(args.classify_only)
    results = {"n": args.n, "wasm_bytes": wasm, "workerd": {}, "wrangler": {}}
    if (classify_only / "index_bg.wasm").exists():
        for name in ("index.js", "index_bg.wasm"):
            shutil.copyfile(classify_only / name, workdir / "classify-only" / name)
        results["classify_only_wasm_bytes"] = (classify_only / "index_bg.wasm").stat().st_size
        cases.append(("classify-only worker, `POST /v1/classify`", triage, "/v1/classify", CLASSIFY,
                      workdir / "classify-only"))
    print(f"Fresh `workerd serve` per sample, n={args.n}, medians; module {wasm:,} bytes.\n")
    print("| worker, first request | listen | first request | second request | `instance` | load-verify | load-tokenizer | load-parse | load-declutter | load-optimize |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, modules, path, body, folder in cases:
        rows = workerd_samples(folder, modules, path, body, args.n)
        results["workerd"][name] = rows
        split = " | ".join(f"{median(rows, 'timing', k):.0f} ms" if any(k in r["timing"] for r in rows) else "-"
                           for k in ("instance", "load-verify", "load-tokenizer", "load-parse", "load-declutter", "load-optimize"))
        print(f"| {name} | {median(rows, 'listen'):.0f} ms | {median(rows, 'first'):.0f} ms | "
              f"{median(rows, 'second'):.1f} ms | {split} |")
    if args.wrangler:
        print("\nUnder `scripts/wrangler dev` (its proxy, then workerd), same requests:\n")
        print("| worker, first request | listen | first request | second request |")
        print("|---|---|---|---|")
        hello = workdir / "wrangler-hello.toml"
        hello.write_text('name = "hello"\nmain = "hello.js"\ncompatibility_date = "2026-11-01"\n')
        wrangled = cases[:3] + [case for case in cases if case[0].startswith("classify-only")]
        for name, _, path, body, folder in wrangled:
            extra = ("--env", "classify-only") if folder != workdir else ()
            rows = wrangler_samples(path, body, args.n, hello if path == "/" else None, extra)
            results["wrangler"][name] = rows
            print(f"| {name} | {median(rows, 'listen'):.0f} ms | {median(rows, 'first'):.0f} ms | "
                  f"{median(rows, 'second'):.1f} ms |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
