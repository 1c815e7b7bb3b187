#!/usr/bin/env python3
"""Per-request latency of the Spin component under `wasmtime serve`, against the native build.

Spin, and `wasmtime serve --max-instance-reuse-count=1`, start a fresh instance for every
request, so what a request costs is instantiation plus setting up the service plus the
inference. Four servers run side by side and every round sends one request to each, so
they share the machine's noise:

  native        the native server (target/release/triage serve), warm
  snapshot      the pre-initialised component (target/spin/triage.wasm), fresh instances
  plain         the plain build (target/spin/triage-lazy.wasm), fresh instances: each
                request loads the model
  reused        the pre-initialised component with wasmtime's default reuse for WASIp3
                components (up to 128 requests per instance)

The issue's goal: the component's total per-request time (client side, fresh instance)
at most 2x the native build's warm inference (its Server-Timing tokenize + inference).

Usage: bench/spin.py [--rounds N] [--json PATH]
  (after scripts/build-spin and cargo build --release -p triage-native)
Prints Markdown for bench/RESULTS.md. Needs only the Python standard library.
"""

import argparse
import gzip
import json
import statistics

from loopback import (ROOT, Server, first_answer_ms, floor_ms, free_port, get_json,
                      interleaved_rows, largest_request, native_serve, p99, peak_rss_bytes,
                      summary)

MEMORY_CAP = 128 * 1024 * 1024
# About 15, 64, 128 and 256 tokens (the last truncated at the model's 256).
WORDS = (12, 55, 112, 400)


def wasmtime_serve(name, component, *extra):
    port = free_port()
    return Server(name, ["wasmtime", "serve", "-Scli", "-Skeyvalue", "--addr", f"127.0.0.1:{port}",
                         f"-Wmax-memory-size={MEMORY_CAP}", *extra,
                         str(ROOT / "target/spin" / component)], port)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100, help="requests per server and length")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    sizes = {}
    for name in ("triage-lazy.wasm", "triage.wasm"):
        data = (ROOT / "target/spin" / name).read_bytes()
        sizes[name] = {"raw": len(data), "gzip": len(gzip.compress(data, 9))}
        print(f"{name}: {len(data):,} bytes, {sizes[name]['gzip']:,} bytes gzip -9")

    servers = {
        "native": native_serve(),
        "snapshot": wasmtime_serve("spin-snapshot", "triage.wasm",
                                   "--max-instance-reuse-count=1"),
        "plain": wasmtime_serve("spin-plain", "triage-lazy.wasm",
                                "--max-instance-reuse-count=1"),
        "reused": wasmtime_serve("spin-reused", "triage.wasm"),
    }
    try:
        rows = interleaved_rows(servers, WORDS, args.rounds)
        floors = {name: floor_ms(server.base, 100) for name, server in servers.items()}
        largest = largest_request(servers["snapshot"].base)
        largest_native = largest_request(servers["native"].base)
        # Peak RSS of the whole process: wasmtime (its compiled code, and every instance
        # the run created one after another), and the native server.
        peak_rss = {name: peak_rss_bytes(servers[name].proc.pid) for name in ("snapshot", "native")}
        memory_reused = get_json(servers["reused"].base, "/v1/models")["memory"]
    finally:
        for server in servers.values():
            server.stop()

    med = statistics.median
    print(f"\n{args.rounds} interleaved rounds per length; client = the whole request over"
          " loopback; inference = the server's own tokenize + inference; start = the"
          " guest's `instance` Server-Timing (settings, and the model load for `plain`).\n")
    print("| tokens | native inference | native client | snapshot client (p99) | snapshot"
          " inference | snapshot start | plain client | plain start | reused client |"
          " snapshot / native inference |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for tokens, client, inside, start in rows:
        native = med(inside["native"])
        print(f"| {tokens} | {native:.2f} ms | {med(client['native']):.2f} ms"
              f" | {med(client['snapshot']):.2f} ms ({p99(client['snapshot']):.2f})"
              f" | {med(inside['snapshot']):.2f} ms | {med(start['snapshot']):.3f} ms"
              f" | {med(client['plain']):.1f} ms | {med(start['plain']):.1f} ms"
              f" | {med(client['reused']):.2f} ms"
              f" | {med(client['snapshot']) / native:.1f}x |")
    print("\nGET /healthz (no model work), client median: "
          + ", ".join(f"{name} {ms:.2f} ms" for name, ms in floors.items()))
    print(f"snapshot instance after the largest allowed request ({largest[0]:.0f} ms):"
          f" linear memory {largest[1]:,} bytes; a reused instance after"
          f" {len(WORDS) * args.rounds + 101} requests: {memory_reused['current_bytes']:,} bytes")

    cold = [first_answer_ms(lambda: wasmtime_serve("spin-cold", "triage.wasm")) for _ in range(3)]
    print(f"wasmtime serve start to first answer, compiled code cached (n=3): {summary(cold)}")
    if args.json:
        result = {
            "rounds": args.rounds, "sizes": sizes, "floors_ms": floors, "serve_start_ms": cold,
            "rows": [{"tokens": tokens,
                      **{f"{name}_client_ms": med(client[name]) for name in servers},
                      **{f"{name}_client_p99_ms": p99(client[name]) for name in servers},
                      **{f"{name}_inference_ms": med(inside[name]) for name in servers},
                      **{f"{name}_inference_p99_ms": p99(inside[name]) for name in servers},
                      **{f"{name}_start_ms": med(start[name]) for name in servers}}
                     for tokens, client, inside, start in rows],
            "largest": {"snapshot_ms": largest[0], "snapshot_linear_bytes": largest[1],
                        "native_ms": largest_native[0],
                        "native_peak_rss_bytes": peak_rss["native"],
                        "wasmtime_peak_rss_bytes": peak_rss["snapshot"]},
            "reused_linear_bytes": memory_reused["current_bytes"],
        }
        with open(args.json, "w") as out:
            json.dump(result, out, indent=1)


if __name__ == "__main__":
    main()
