#!/usr/bin/env python3
"""Cold and warm latency of the Cloudflare worker on workerd (`wrangler dev`), over loopback.

Cold: wrangler dev is started afresh for every sample, and the first POST /v1/classify is
timed; it includes loading the model into the isolate. Warm: later requests to the same
isolate, by input length, timed by the client over loopback and by the worker's own
Server-Timing (production Workers freeze timers during CPU work, so there it reads 0;
workerd locally has 1 ms resolution).

Per text: batches of 32 copies of one text, sent in turn to the worker and to the native
server, give the inference time per text in workerd against native (Server-Timing's
inference / 32, so the 1 ms resolution shrinks to about 0.03 ms), as a ratio of the two.
The default model reads a text longer than its `windows.short_tokens` in up to three
windows (three model runs); per run: the same with a copy of the default bundle whose
manifest has no `windows`, served to the worker from its local R2 bucket (`--env r2`,
`TRIAGE_MODELS`) and to the native server by `--model-dir`, so each text is one model run.

Usage: bench/cloudflare.py [--cold N] [--warm N] [--batches N] [--json PATH] [--bundle DIR]
                           [--per-run-only]
  (after scripts/build-worker and cargo build --release -p triage-native)
Prints Markdown tables for bench/RESULTS.md. Needs only the Python standard library.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from loopback import (ROOT, Server, floor_ms, free_port, get_json, largest_request,
                      native_serve, p99, post, summary, text_of)

# The R2 bucket wrangler.toml's `r2` environment binds as MODELS (tests/src/wrangler.rs).
BUCKET = "triage-models"
ONE_WINDOW = "spam-mini-one-window"


class Wrangler(Server):
    """scripts/wrangler dev serving the prebuilt worker."""

    def __init__(self, extra=()):
        port = free_port()
        super().__init__(
            "wrangler", [str(ROOT / "scripts/wrangler"), "dev", "--ip", "127.0.0.1",
                         "--port", str(port), "--inspector-port", str(free_port()),
                         "--show-interactive-dev-session=false", "--log-level", "warn",
                         *extra],
            port, env={"TRIAGE_WORKER_PREBUILT": "1", "CI": "1"})


def inside_ms(timing):
    """The worker's own tokenize + inference time."""
    return timing.get("tokenize", 0.0) + timing.get("inference", 0.0)


def per_text(wrangler, native, rounds, model=None):
    """Interleaved batches of 32 equal texts: per-text inference ms in workerd and natively
    (median and p99 over the batches), for the model named `model` (default: the default)."""
    rows = []
    for words in (12, 55, 112):  # 15, 64 and 128 tokens
        payload = {"texts": [text_of(words)] * 32} | ({"model": model} if model else {})
        worker, here, tokens = [], [], None
        for _ in range(rounds):
            _, body, timing = post(wrangler.base, payload)
            worker.append(timing.get("inference", 0.0) / 32)
            here.append(post(native.base, payload)[2].get("inference", 0.0) / 32)
            tokens = body["results"][0]["tokens"]
        rows.append({"tokens": tokens, "workerd_ms": statistics.median(worker),
                     "workerd_p99_ms": p99(worker), "native_ms": statistics.median(here),
                     "ratio": statistics.median(w / n for w, n in zip(worker, here))})
    return rows


def one_window_bundle(source, into):
    """A copy of the bundle in `source` named ONE_WINDOW, its manifest without `windows`:
    every text is one model run. Returns its directory."""
    bundle = Path(into) / ONE_WINDOW
    bundle.mkdir()
    manifest = json.loads((source / "manifest.json").read_text())
    manifest.pop("windows", None)
    manifest["name"] = ONE_WINDOW
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))
    for entry in manifest["files"].values():
        shutil.copy(source / entry["path"], bundle / entry["path"])
    return bundle


def per_run(rounds, source):
    """per_text for a one-window copy of the bundle in `source`, in the worker (fetched from
    its local R2 bucket) and natively."""
    with tempfile.TemporaryDirectory(dir=ROOT / "target") as work:
        bundle, state = one_window_bundle(source, work), Path(work) / "state"
        for file in bundle.iterdir():
            subprocess.run(
                [str(ROOT / "scripts/wrangler"), "r2", "object", "put",
                 f"{BUCKET}/models/{ONE_WINDOW}/{file.name}", "--file", str(file),
                 "--env", "r2", "--local", "--persist-to", str(state)],
                cwd=ROOT, env=dict(os.environ, CI="1", TRIAGE_WORKER_PREBUILT="1"),
                check=True, stdout=subprocess.DEVNULL)
        wrangler = Wrangler(["--env", "r2", "--persist-to", str(state),
                             "--var", "TRIAGE_MODEL_PREFIX:models/",
                             "--var", f"TRIAGE_MODELS:{ONE_WINDOW}"])
        try:
            wrangler.wait_listening()
            time.sleep(2)
            post(wrangler.base, {"text": text_of(10), "model": ONE_WINDOW})  # load it
            with native_serve("native-one-window", args=["--model-dir", str(bundle)]) as native:
                native.wait_listening()
                return per_text(wrangler, native, rounds, ONE_WINDOW)
        finally:
            wrangler.stop()


def print_runs(runs):
    print("\nper model run (one window), batches of 32, interleaved:\n")
    print("| tokens | workerd p50 (p99) | native | workerd / native |")
    print("|---|---|---|---|")
    for b in runs:
        print(f"| {b['tokens']} | {b['workerd_ms']:.2f} ms ({b['workerd_p99_ms']:.2f})"
              f" | {b['native_ms']:.2f} ms | {b['ratio']:.2f}x |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", type=int, default=5, help="cold samples (restarts)")
    parser.add_argument("--warm", type=int, default=200, help="warm requests per length")
    parser.add_argument("--batches", type=int, default=20, help="batches of 32 per length")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--bundle", type=Path, default=ROOT / "models/spam-mini",
                        help="the bundle timed one model run per text (default: the default model's)")
    parser.add_argument("--per-run-only", action="store_true",
                        help="only the one-run-per-text table, for --bundle")
    args = parser.parse_args()
    if args.per_run_only:
        print_runs(per_run(args.batches, args.bundle.resolve()))
        return

    short = {"text": text_of(10)}
    cold, first_get, first_classify = [], [], []
    for sample in range(args.cold):
        wrangler = Wrangler()
        try:
            wrangler.wait_listening()
            time.sleep(2)  # let wrangler finish starting workerd before timing
            if sample % 2 == 0:
                # The first request of the isolate loads the model.
                cold.append(post(wrangler.base, short)[0])
            else:
                # Split it: a request without model work first (module instantiation),
                # then the one that loads the model.
                started = time.perf_counter()
                get_json(wrangler.base, "/openapi.json")
                first_get.append((time.perf_counter() - started) * 1000)
                first_classify.append(post(wrangler.base, short)[0])
        finally:
            wrangler.stop()

    rows, memory, batches = [], None, []
    # The default budget (128 tokens), then the model's full 256.
    for max_tokens, lengths in ((128, (10, 50, 100)), (256, (400,))):
        wrangler = Wrangler(["--var", f"TRIAGE_MAX_TOKENS:{max_tokens}"])
        try:
            wrangler.wait_listening()
            time.sleep(2)
            post(wrangler.base, short)  # load the model
            for words in lengths:
                payload = {"text": text_of(words)}
                times, insides, tokens = [], [], None
                for _ in range(args.warm):
                    elapsed, body, timing = post(wrangler.base, payload)
                    times.append(elapsed)
                    insides.append(inside_ms(timing))
                    tokens = body["tokens"]
                rows.append((max_tokens, tokens, statistics.median(times), p99(times),
                             statistics.median(insides)))
            if max_tokens == 128:
                with native_serve(env={"TRIAGE_MAX_TOKENS": str(max_tokens)}) as native:
                    native.wait_listening()
                    batches = per_text(wrangler, native, args.batches)
            memory = get_json(wrangler.base, "/v1/models")["memory"]
            floor = floor_ms(wrangler.base)
            largest = largest_request(wrangler.base)
        finally:
            wrangler.stop()
    runs = per_run(args.batches, args.bundle.resolve())

    print(f"cold, first POST /v1/classify of a fresh isolate (n={len(cold)}): {summary(cold)}")
    if first_get:
        print(f"  split (n={len(first_get)}): first GET /openapi.json {summary(first_get)};"
              f" then the first POST /v1/classify {summary(first_classify)}")
    print(f"\nwarm, {args.warm} sequential requests per row; `worker` is the median of the"
          " worker's own Server-Timing (tokenize + inference, 1 ms resolution):\n")
    print("| TRIAGE_MAX_TOKENS | tokens | client median | client p99 | worker median |")
    print("|---|---|---|---|---|")
    for max_tokens, tokens, median, tail, inside in rows:
        print(f"| {max_tokens} | {tokens} | {median:.2f} ms | {tail:.2f} ms | {inside:.0f} ms |")
    print(f"\nGET /healthz (no model work): median {floor:.2f} ms")
    print(f"linear memory after the 256-token run: {memory['current_bytes']:,} bytes;"
          f" after the largest allowed request ({largest[0]:.0f} ms):"
          f" {largest[1]:,} bytes")
    print("\nper text, batches of 32 (Server-Timing inference / 32), interleaved:\n")
    print("| tokens | workerd | native | workerd / native |")
    print("|---|---|---|---|")
    for b in batches:
        print(f"| {b['tokens']} | {b['workerd_ms']:.2f} ms | {b['native_ms']:.2f} ms"
              f" | {b['ratio']:.2f}x |")
    print_runs(runs)
    if args.json:
        result = {
            "cold_ms": cold, "first_get_ms": first_get, "first_classify_ms": first_classify,
            "warm": [{"max_tokens": m, "tokens": t, "client_ms": c, "client_p99_ms": p,
                      "worker_ms": w} for m, t, c, p, w in rows],
            "per_text": batches, "per_run": runs, "floor_ms": floor,
            "linear_bytes": memory["current_bytes"],
            "largest": {"ms": largest[0], "linear_bytes": largest[1]},
        }
        with open(args.json, "w") as out:
            json.dump(result, out, indent=1)
    if os.environ.get("MINIFLARE_WORKERD_V8_FLAGS"):
        print(f"V8 flags: {os.environ['MINIFLARE_WORKERD_V8_FLAGS']}")


if __name__ == "__main__":
    main()
