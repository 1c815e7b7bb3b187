#!/usr/bin/env python3
"""The generate task (models/smollm2-135m), natively and in wasm, side by side.

Two servers run and every round sends the same request to each, so they share the
machine's noise:

  native   target/release/triage serve --generator <bundle> (built with --features generate)
  wasm     the Spin component (target/spin/triage.wasm) under `wasmtime serve`, the bundle
           mounted, 256 MiB per instance, instances reused (the generator loads once per
           instance; Spin proper starts one per request: see `load` below)

Per request the server reports its own times (the answer's `timings`) and token counts:
  prefill tokens/s   prompt tokens / prefill time
  decode ms/token    decode time / tokens the model chose (an unconstrained answer of
                     32 tokens: no forced tokens, one model call each)
  mask ms/token      llguidance's mask time / tokens the model chose (a JSON Schema answer)
  3-field object     client time of a /v1/generate with a three-field JSON Schema
  load               the first request of a fresh server: reading and checking the 92 MB
                     bundle, building the vocabulary trie (client time minus the request's
                     own prefill and decode)
Memory: the largest request the budgets allow (a prompt of about 500 tokens, 256 tokens
written: the key/value cache at the token budget), then the native server's peak RSS and
the wasm instance's linear memory after it (the answer's instance_memory_bytes).

Usage: bench/generate.py [--rounds N] [--json PATH]
  (after cargo build --release -p triage-native --features generate, scripts/build-spin,
  scripts/build-generator). Prints Markdown for bench/RESULTS.md. Python standard library.
"""

import argparse
import json
import statistics
import subprocess
import time
import urllib.request

from loopback import ROOT, Server, free_port, native_serve, peak_rss_bytes

MEMORY = 256 * 1024 * 1024
THREE_FIELDS = {
    "prompt": "Book a table in Lyon for 4 people on Friday evening.",
    "schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 30},
            "day": {"enum": ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]},
            "guests": {"type": "integer", "minimum": 1, "maximum": 20},
        },
        "required": ["city", "day", "guests"],
        "additionalProperties": False,
    },
    "max_new_tokens": 64,
}
FREE = {"prompt": "Write a short paragraph about lighthouses.", "max_new_tokens": 32}
# About 500 prompt tokens (the budget is 512), and the whole 256 new tokens.
LARGEST = {"prompt": "Summarise: " + "the keeper climbs the stairs and lights the lamp. " * 42,
           "max_new_tokens": 256}


def bundle():
    return subprocess.run([str(ROOT / "scripts/build-generator")], check=True,
                          capture_output=True, text=True).stdout.strip()


def generate(base, payload):
    request = urllib.request.Request(base + "/v1/generate", data=json.dumps(payload).encode(),
                                     headers={"content-type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        body = json.loads(response.read())
    return (time.perf_counter() - started) * 1000, body


def wasm_serve(path):
    port = free_port()
    return Server("spin-generate", [
        "wasmtime", "serve", "-Scli", "-Skeyvalue", "--addr", f"127.0.0.1:{port}",
        f"-Wmax-memory-size={MEMORY}", f"--dir={path}::/generator",
        f"--env=TRIAGE_GENERATOR_DIR=/generator", f"--env=TRIAGE_INSTANCE_MEMORY_BYTES={MEMORY}",
        str(ROOT / "target/spin/triage.wasm")], port)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--json")
    args = parser.parse_args()
    path = bundle()
    servers = {
        "native": native_serve(args=("--generator", path)),
        "wasm": wasm_serve(path),
    }
    rows = {name: {"free": [], "object": []} for name in servers}
    load = {}
    try:
        for server in servers.values():
            server.wait_listening()
        for name, server in servers.items():
            elapsed, body = generate(server.base, {"prompt": "hi", "max_new_tokens": 1})
            own = body["timings"]["prefill_ms"] + body["timings"]["decode_ms"]
            load[name] = elapsed - own
        for _ in range(args.rounds):
            for name, server in servers.items():
                rows[name]["free"].append(generate(server.base, FREE))
                rows[name]["object"].append(generate(server.base, THREE_FIELDS))
        largest = {name: generate(server.base, LARGEST) for name, server in servers.items()}
        rss = peak_rss_bytes(servers["native"].proc.pid)
    finally:
        for server in servers.values():
            server.stop()

    med = statistics.median
    stats = {}
    for name in servers:
        free = [b for _, b in rows[name]["free"]]
        obj = rows[name]["object"]
        chosen = [b["tokens"]["generated"] - b["tokens"]["forced"] for _, b in obj]
        stats[name] = {
            "load_ms": load[name],
            "prefill_tok_s": med(b["tokens"]["prompt"] / b["timings"]["prefill_ms"] * 1000 for b in free),
            "decode_ms_per_token": med(b["timings"]["decode_ms"] / b["tokens"]["generated"] for b in free),
            "mask_ms_per_token": med(b["timings"]["mask_ms"] / max(c, 1) for (_, b), c in zip(obj, chosen)),
            "object_ms": med(e for e, _ in obj),
            "object_tokens": med(b["tokens"]["generated"] for _, b in obj),
            "object_forced": med(b["tokens"]["forced"] for _, b in obj),
            "prompt_tokens": med(b["tokens"]["prompt"] for b in free),
            "memory_bytes": max(b.get("instance_memory_bytes") or 0 for _, b in obj) or None,
            "largest_ms": largest[name][0],
            "largest_prompt_tokens": largest[name][1]["tokens"]["prompt"],
            "largest_generated": largest[name][1]["tokens"]["generated"],
            "largest_memory_bytes": largest[name][1].get("instance_memory_bytes"),
        }
    stats["native"]["peak_rss_bytes"] = rss
    stats["rounds"] = args.rounds
    n, w = stats["native"], stats["wasm"]
    print(f"\n{args.rounds} interleaved rounds; medians; the last column is how many times"
          " longer wasm takes.\n")
    print("| | native | wasm (wasmtime serve) | wasm time / native time |")
    print("|---|---|---|---|")
    for key, label, fmt in [
        ("prefill_tok_s", f"prefill, tokens/s ({n['prompt_tokens']:.0f}-token prompt)", "{:.0f}"),
        ("decode_ms_per_token", "decode, ms/token (32 tokens, unconstrained)", "{:.1f}"),
        ("mask_ms_per_token", "llguidance mask, ms/token chosen", "{:.3f}"),
        ("object_ms", "3-field object, client ms", "{:.0f}"),
        ("load_ms", "first request's load, ms", "{:.0f}"),
    ]:
        # Throughput (tokens/s) is the inverse of a time.
        ratio = n[key] / w[key] if key.endswith("_tok_s") else w[key] / n[key]
        print(f"| {label} | {fmt.format(n[key])} | {fmt.format(w[key])} | {ratio:.2f}x |")
    print(f"\n3-field object: {n['object_tokens']:.0f} tokens written, {n['object_forced']:.0f} of them"
          f" forced by the grammar. Largest request ({w['largest_prompt_tokens']} prompt tokens):"
          f" native {n['largest_generated']} written in {n['largest_ms'] / 1000:.1f} s, wasm"
          f" {w['largest_generated']} in {w['largest_ms'] / 1000:.1f} s. Native peak RSS"
          f" {rss / 2**20:.0f} MiB; wasm linear"
          f" memory after it {(w['largest_memory_bytes'] or 0) / 2**20:.0f} MiB.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(stats, f, indent=2)


if __name__ == "__main__":
    main()
