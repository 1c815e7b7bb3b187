#!/usr/bin/env python3
"""bench/run's second half: runs each measurement, then writes the generated section of
bench/RESULTS.md and the plots in bench/plots/.

Steps, each leaving its raw results in target/bench/<step>.json:

  criterion   cargo bench -p triage-core --bench core (load steps, inference by length)
  engines     bench/engines.py: tract native, tract in wasmtime, onnxruntime; profiles
  spin        bench/spin.py: the Spin component under wasmtime serve, beside native
  fastly      bench/fastly.py: the Fastly Compute program under Viceroy, beside native and Spin
  cloudflare  bench/cloudflare.py: the worker on workerd (wrangler dev), beside native
  coldstart   bench/coldstart.py: a fresh isolate on workerd directly, its load split
  size        bench/wasm_size.py: the worker's bytes, code by crate (names kept before wasm-opt)
  load        bench/load.py: 64 connections for 30 s on each adapter (wrk)

Usage: bench/report.py [--steps a,b] [--render-only] [--quick]
  --steps        run only these steps; the others' earlier results are reused
  --render-only  run nothing, render from target/bench/*.json
  --quick        a smoke run: few rounds and short loads, kept apart in target/bench/quick/
Run it through bench/run, which builds and installs what it needs first.
"""

import argparse
import json
import platform
import re
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from loopback import ROOT

import plots

OUT = ROOT / "target/bench"
RESULTS = ROOT / "bench/RESULTS.md"
BEGIN = "<!-- bench/run: generated section, replaced on every run -->"
END = "<!-- bench/run: end of generated section -->"

# What each step runs: (full, quick) argument lists after the script.
STEPS = {
    "criterion": (["cargo", "bench", "-p", "triage-core", "--features", "internals", "--bench", "core",
                   "--locked"],
                  ["cargo", "bench", "-p", "triage-core", "--features", "internals", "--bench", "core",
                   "--locked", "--",
                   "--quick", "inference/model_only"]),
    "engines": (["engines.py", "--rounds", "60", "--block", "10"],
                ["engines.py", "--rounds", "2", "--block", "3"]),
    "spin": (["spin.py", "--rounds", "100"], ["spin.py", "--rounds", "5"]),
    "fastly": (["fastly.py", "--rounds", "100"], ["fastly.py", "--rounds", "5"]),
    "cloudflare": (["cloudflare.py", "--cold", "6", "--warm", "200", "--batches", "20"],
                   ["cloudflare.py", "--cold", "2", "--warm", "5", "--batches", "2"]),
    "coldstart": (["coldstart.py", "--n", "5", "--wrangler"], ["coldstart.py", "--n", "1"]),
    "size": (["wasm_size.py", "../target/wasm32-unknown-unknown/worker/triage_cloudflare.wasm",
              "--shipped", "../workers/cloudflare/build/index_bg.wasm", "--top", "15",
              "--variant", "classify-only=../workers/cloudflare/build-classify-only/index_bg.wasm"],
             ["wasm_size.py", "../target/wasm32-unknown-unknown/worker/triage_cloudflare.wasm",
              "--shipped", "../workers/cloudflare/build/index_bg.wasm", "--top", "15",
              "--variant", "classify-only=../workers/cloudflare/build-classify-only/index_bg.wasm"]),
    "load": (["load.py", "--duration", "30", "--connections", "64"],
             ["load.py", "--duration", "3", "--connections", "8"]),
    "parse": (["parse.py", "--rounds", "200"], ["parse.py", "--rounds", "5"]),
    "generate": (["generate.py", "--rounds", "10"], ["generate.py", "--rounds", "2"]),
}
GOAL = {"wasm_p50_64": 2.0, "wasm_p99_64": 4.0, "native_over_ort": 1.0,
        "wasm_over_native": 1.5, "cold_ms": 30.0, "memory_mb": 48.0, "fastly_bar_ms": 69.0}


def command_of(step, quick):
    args = STEPS[step][1 if quick else 0]
    if args[0].endswith(".py"):
        return [sys.executable, str(ROOT / "bench" / args[0]), *args[1:], "--json",
                str(OUT / f"{step}.json")], "python3 bench/" + " ".join(args)
    return args, " ".join(args)


def run_step(step, quick):
    command, shown = command_of(step, quick)
    print(f"\n== bench: {step}: {shown}", file=sys.stderr, flush=True)
    started = time.time()
    subprocess.run(command, cwd=ROOT / ("bench" if step != "criterion" else ""), check=True)
    if step == "criterion":
        (OUT / "criterion.json").write_text(json.dumps(read_criterion(), indent=1))
    return {"command": shown, "seconds": round(time.time() - started),
            "finished": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": commit()}


def commit():
    """The commit measured, and whether the working tree differed from it."""
    head = output_of("git", "rev-parse", "--short", "HEAD")
    return head + (" with uncommitted changes" if output_of("git", "status", "--porcelain") else "")


def read_criterion():
    """Median and confidence interval (ms) of every criterion benchmark in target/criterion."""
    found = {}
    for estimates in sorted((ROOT / "target/criterion").glob("**/new/estimates.json")):
        name = str(estimates.parent.parent.relative_to(ROOT / "target/criterion"))
        median = json.loads(estimates.read_text())["median"]
        interval = median["confidence_interval"]
        found[name] = {"ms": median["point_estimate"] / 1e6,
                       "low": interval["lower_bound"] / 1e6, "high": interval["upper_bound"] / 1e6}
    return found


def output_of(*command):
    try:
        return subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                              timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "not found"


def lock_version(crate):
    lock = (ROOT / "Cargo.lock").read_text()
    found = re.search(rf'name = "{re.escape(crate)}"\nversion = "([^"]+)"', lock)
    return found.group(1) if found else "?"


def npm_version(package):
    try:
        return json.loads((ROOT / "node_modules" / package / "package.json").read_text())["version"]
    except OSError:
        return "not installed"


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    memory = next(int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines()
                  if l.startswith("MemTotal"))
    cores = len([l for l in Path("/proc/cpuinfo").read_text().splitlines()
                 if l.startswith("processor")])
    return {
        "machine": f"{cores} x {cpu}, {memory / 1024 / 1024:.0f} GiB, Linux {platform.release()}",
        "versions": [
            output_of("rustc", "--version"),
            f"tract-onnx {lock_version('tract-onnx')}, tokenizers {lock_version('tokenizers')}",
            output_of("wasmtime", "--version"),
            f"wrangler {npm_version('wrangler')}, workerd {npm_version('workerd')}",
            f"onnxruntime {output_of(sys.executable, '-c', 'import onnxruntime; print(onnxruntime.__version__)')}",
            output_of("wrk", "-v").splitlines()[0] if output_of("wrk", "-v") else "wrk not found",
        ],
    }


def load(step):
    path = OUT / f"{step}.json"
    return json.loads(path.read_text()) if path.exists() else None


def fmt(value, unit="ms", digits=2):
    return "-" if value is None else f"{value:.{digits}f} {unit}".strip()


def verdict(measured, goal):
    if measured is None:
        return "not measured"
    return "met" if measured <= goal else f"missed by {measured / goal:.1f}x"


def row_at(rows, tokens, key="tokens"):
    return next((r for r in rows if r[key] == tokens), None) if rows else None


def goals_table(r):
    engines, spin, cloudflare = r["engines"], r["spin"], r["cloudflare"]
    e64 = row_at(engines and engines["rows"], 64)
    w64 = row_at(cloudflare and cloudflare.get("per_run"), 64)
    s_short = spin["rows"][0] if spin else None
    lines = ["| goal | target | measured | verdict |", "|---|---|---|---|"]

    def add(goal, target, measured, shown, goal_value):
        lines.append(f"| {goal} | {target} | {shown} | {verdict(measured, goal_value)} |")

    wasm50 = e64 and e64["tract-wasm"]["p50_ms"]
    add("p50 inference at 64 tokens, wasm (wasmtime)", "<= 2 ms", wasm50, fmt(wasm50),
        GOAL["wasm_p50_64"])
    workerd50 = w64 and w64["workerd_ms"]
    add("p50 inference at 64 tokens, wasm (workerd, one model run per text of a batch)", "<= 2 ms",
        workerd50, fmt(workerd50), GOAL["wasm_p50_64"])
    wasm99 = e64 and e64["tract-wasm"]["p99_ms"]
    add("p99 inference at 64 tokens, wasm (wasmtime)", "<= 4 ms", wasm99, fmt(wasm99),
        GOAL["wasm_p99_64"])
    workerd99 = w64 and w64["workerd_p99_ms"]
    add("p99 inference at 64 tokens, wasm (workerd, of the batches' per-text means)", "<= 4 ms",
        workerd99, fmt(workerd99), GOAL["wasm_p99_64"])
    if engines:
        for key, peer in (("tract_over_ort", "onnxruntime, same file"),
                          ("tract_over_ort_f32", "onnxruntime f32")):
            worst = max(row[key] for row in engines["rows"])
            add(f"native Triage / {peer} (1 thread), worst length", "<= 1.0x", worst,
                ", ".join(f"{row[key]:.2f}x at {row['tokens']}" for row in engines["rows"]),
                GOAL["native_over_ort"])
    ratio = e64 and e64["wasm_over_native"]
    add("wasm / native inference at 64 tokens (wasmtime)", "<= 1.5x", ratio, fmt(ratio, "x").replace(" ", ""),
        GOAL["wasm_over_native"])
    ratio = w64 and w64["ratio"]
    add("wasm / native inference at 64 tokens (workerd)", "<= 1.5x", ratio, fmt(ratio, "x").replace(" ", ""),
        GOAL["wasm_over_native"])
    cold = s_short and s_short["snapshot_client_ms"]
    add(f"cold start in wasmtime, pre-initialised: fresh instance to first answer"
        f" ({s_short['tokens'] if s_short else '-'} tokens, whole request)", "<= 30 ms", cold,
        fmt(cold), GOAL["cold_ms"])
    cold = s_short and s_short["plain_client_ms"]
    add("cold start in wasmtime, not pre-initialised (same)", "<= 30 ms", cold, fmt(cold, digits=1),
        GOAL["cold_ms"])
    f_short = r.get("fastly") and r["fastly"]["rows"][0]
    if f_short:
        cold = f_short["fastly_client_ms"]
        add(f"cold start under Viceroy (Fastly), pre-initialised: fresh instance to first answer"
            f" ({f_short['tokens']} tokens, whole request)", "<= 30 ms", cold, fmt(cold),
            GOAL["cold_ms"])
        cold = f_short["plain_client_ms"]
        add("cold start under Viceroy (Fastly), not pre-initialised (same)", "<= 30 ms", cold,
            fmt(cold, digits=1), GOAL["cold_ms"])
    if spin:
        largest = spin["largest"]
        # Per instance, a wasm runtime's limit counts linear memory; the wasmtime process's
        # RSS is the runtime's (see the Spin section), not an instance's.
        for what, value in (("linear memory, Spin instance", largest["snapshot_linear_bytes"]),
                            ("peak RSS, native server process", largest["native_peak_rss_bytes"])):
            add(f"{what}, after the largest request the budgets allow", "<= 48 MB", value / 1e6,
                fmt(value / 1e6, "MB", 1), GOAL["memory_mb"])
    if cloudflare:
        value = cloudflare["largest"]["linear_bytes"] / 1e6
        add("linear memory, Cloudflare isolate, after the largest request", "<= 48 MB", value,
            fmt(value, "MB", 1), GOAL["memory_mb"])
    if wasm50:
        lines.append(f"\nThe public bar, a BERT-tiny int8 detector under tract on Fastly Compute,"
                     f" reported a 69 ms median per request; Triage's inference in wasmtime at 64"
                     f" tokens is {fmt(wasm50)} ({GOAL['fastly_bar_ms'] / wasm50:.0f}x less; a"
                     f" smaller model, so this compares budgets, not engines).")
    return lines


def engines_table(engines):
    lines = [f"{engines['rounds']} rounds of blocks of {engines['block']} runs per engine and"
             f" length, engines in random order each round (onnxruntime {engines['onnxruntime']},"
             " one thread). Medians and p99 of all runs; ratios are medians of per-round ratios"
             " of block medians. `onnxruntime` runs the shipped file with its default graph"
             " optimisations (it turns each DequantizeLinear + MatMul into an int8 matmul);"
             " `onnxruntime f32` runs the same graph with the weights dequantized ahead of time,"
             " which is the arithmetic tract does and the faster of the two forms we ran in onnxruntime."
             " Largest logit difference from `onnxruntime f32`, across lengths: " +
             ", ".join(f"{name} {max(r['max_logit_diff'][name] for r in engines['rows']):.1e}"
                       for name in ("tract", "tract-wasm", "ort")) + ".", "",
             "| tokens | Triage native p50 (p99) | Triage wasm, wasmtime p50 (p99) | onnxruntime"
             " p50 | onnxruntime f32 p50 | native / onnxruntime | native / onnxruntime f32 |"
             " wasm / native |", "|---|---|---|---|---|---|---|---|"]
    for r in engines["rows"]:
        lines.append(
            f"| {r['tokens']} | {r['tract']['p50_ms']:.3f} ms ({r['tract']['p99_ms']:.3f})"
            f" | {r['tract-wasm']['p50_ms']:.3f} ms ({r['tract-wasm']['p99_ms']:.3f})"
            f" | {r['ort']['p50_ms']:.3f} ms | {r['ort-f32']['p50_ms']:.3f} ms"
            f" | {r['tract_over_ort']:.2f}x | {r['tract_over_ort_f32']:.2f}x"
            f" | {r['wasm_over_native']:.2f}x |")
    return lines


WASM_FORMS = (("tract-wasm", "served: int8 weights x 16-bit activations"),
              ("tract-wasm f32", "tract f32"),
              ("tract-wasm static-int8", "tract static int8"),
              ("tract-wasm-relaxed f32", "relaxed SIMD, tract f32"),
              ("tract-wasm-relaxed static-int8", "relaxed SIMD, tract static int8"),
              ("tract-wasm ternary", "ternary spam-mini, served"))


def formats_table(engines):
    """Every wasm form of the same model, against tract's f32 kernels in the simd128 build;
    older results without these engines render nothing."""
    rows = engines["rows"]
    if "over_wasm_f32" not in rows[0]:
        return ["(not measured in this run)"]
    forms = [(name, label) for name, label in WASM_FORMS if name in rows[0]]
    compared = [(name, label) for name, label in forms if name in rows[0]["max_logit_diff"]]
    diff = lambda name: max(r["max_logit_diff"][name] for r in rows)  # noqa: E731
    lines = ["The same runs, every wasm form of the model, in wasmtime: p50, and in brackets"
             " the time against tract's f32 kernels in the same simd128 build (below 1.00x is"
             " faster). *served*: what Triage's wasm builds run, the weight matmuls on its own"
             " kernel (`shared/src/engine/int_matmul.rs`: the int8 weights as stored, each row"
             " of activations quantized to 16 bits, `i32x4.dot_i16x8_s`). *tract f32*: what"
             " they ran before. *tract static int8*: the model with static int8 activations and"
             " MatMulInteger (`bench/int8.py`) on tract's int8 kernels. *relaxed SIMD*: a"
             " `+relaxed-simd` build, whose tract kernels use `f32x4.relaxed_madd` and"
             " `i32x4.relaxed_dot_i8x16_i7x16_add`." + (
                 " *ternary*: `models/spam-mini-ternary`, the same architecture trained with"
                 " ternary weights, served the same way." if "tract-wasm ternary" in rows[0] else ""),
             "",
             "| tokens | " + " | ".join(label for _, label in forms) + " |",
             "|---|" + "---|" * len(forms)]
    for r in rows:
        cells = [f"{r[name]['p50_ms']:.3f} ms ({r['over_wasm_f32'][name]:.2f}x)" for name, _ in forms]
        lines.append(f"| {r['tokens']} | " + " | ".join(cells) + " |")
    other = ("; the ternary model is another model, compared with onnxruntime on its own ONNX"
             " by `shared/tests/parity.rs`" if len(compared) < len(forms) else "")
    lines += ["", "Largest logit difference from `onnxruntime f32`, across lengths: " +
              ", ".join(f"{label} {diff(name):.1e}" for name, label in compared) +
              f" (static int8 activations are calibrated on these very inputs, `bench/int8.py`{other})."]
    return lines


def arithmetic_table(engines):
    """Achieved multiply-adds per second against this CPU's simd128 ceilings."""
    arith = engines.get("arithmetic")
    if not arith:
        return ["(not measured in this run)"]
    peak = arith["peak"]
    f32_peak, i16_peak = peak["f32x4_mul_add_gmacs"], peak["i32x4_dot_i16x8_gmacs"]
    lines = [f"Multiply-adds per run from tract's cost model (`triage-bench macs`), divided by"
             f" the p50 above (so every op's time counts against them). The ceilings, measured"
             f" in wasmtime on this CPU (`triage-bench peak`, 12 independent chains):"
             f" `f32x4.mul` + `f32x4.add` {f32_peak:.1f} GMAC/s, `i32x4.dot_i16x8_s` +"
             f" `i32x4.add` {i16_peak:.1f} GMAC/s. The matmuls are"
             f" {100 * min(m['matmul_macs'] / m['macs'] for m in arith['macs']):.1f}% or more"
             f" of the multiply-adds at every length."]
    if "ternary_select_add_gmacs" in peak:
        select, mul = peak["ternary_select_add_gmacs"], peak["ternary_i16x8_mul_add_gmacs"]
        best = max(select, mul) / i16_peak
        verdict = ("no gain over `i32x4.dot_i16x8_s` beyond 10%, which already does 8"
                   " multiply-adds per instruction into 32-bit sums" if best < 1.1 else
                   f"up to {best:.2f}x `i32x4.dot_i16x8_s`")
        lines[-1] += (f" A kernel exploiting ternary weights (each -1, 0 or +1) would add and"
                      f" subtract instead of multiplying: selecting through the weights' two"
                      f" bit-planes (`acc + (x & plus) - (x & minus)`) peaks at {select:.1f}"
                      f" GMAC/s ({select / i16_peak:.2f}x the dot product), a sign multiply into"
                      f" 16-bit accumulators (`i16x8.mul` + `i16x8.add`, whose sums overflow"
                      f" without 8-bit activations and widening steps) at {mul:.1f}"
                      f" ({mul / i16_peak:.2f}x): {verdict}.")
    lines += ["",
             "| tokens | multiply-adds | native GMAC/s | wasm served GMAC/s (of the i16 ceiling)"
             " | wasm tract f32 GMAC/s (of the f32 ceiling) |", "|---|---|---|---|---|"]
    for r in engines["rows"]:
        macs = next(m["macs"] for m in arith["macs"] if m["tokens"] == r["tokens"])
        g = r["gmacs"]
        lines.append(f"| {r['tokens']} | {macs / 1e6:.2f} M | {g['tract']:.1f}"
                     f" | {g['tract-wasm']:.1f} ({100 * g['tract-wasm'] / i16_peak:.0f}%)"
                     f" | {g['tract-wasm f32']:.1f} ({100 * g['tract-wasm f32'] / f32_peak:.0f}%) |")
    return lines


def profile_table(engines, top=8):
    """Per-op time natively, in the served wasm build, and in wasm on tract's f32 kernels."""
    forms = [("native", engines["profiles"]["tract"]), ("wasm served", engines["profiles"]["tract-wasm"])]
    if "tract-wasm f32" in engines["profiles"]:
        forms.append(("wasm tract f32", engines["profiles"]["tract-wasm f32"]))
    per_run = [{o["op"]: o["us"] / p["iterations"] for o in p["ops"]} for _, p in forms]
    totals = [p["total_us"] / p["iterations"] for _, p in forms]
    counts = {}
    for _, p in forms:
        for o in p["ops"]:
            counts.setdefault(o["op"], o["nodes"])
    first = forms[0][1]
    lines = [f"tract's per-node profile at {first['tokens']} tokens, {first['iterations']}"
             " runs each (`triage-bench profile`), summed by op (`Int8MatMul` is Triage's"
             " kernel, `OptMatMul` tract's); the top ops by served wasm time, µs per run"
             " and share of the run:", "",
             "| op | nodes | " + " | ".join(name for name, _ in forms) + " |",
             "|---|---|" + "---|" * len(forms)]
    served = per_run[1]
    for op in sorted(served, key=served.get, reverse=True)[:top]:
        cells = [f"{t[op]:.0f} ({100 * t[op] / total:.0f}%)" if op in t else "-"
                 for t, total in zip(per_run, totals)]
        lines.append(f"| {op} | {counts.get(op, '-')} | " + " | ".join(cells) + " |")
    lines.append("| whole run | | " + " | ".join(f"{total:.0f}" for total in totals) + " |")
    return lines


def spin_table(spin):
    lines = [f"{spin['rounds']} interleaved rounds per length. `fresh` is what Spin does: a new"
             " instance of the pre-initialised component per request, so its whole request is"
             " instantiation to first answer. `plain`: a fresh instance of the build without"
             " pre-initialisation (it loads the model). Inference is the server's"
             " Server-Timing (tokenize + inference).", "",
             "| tokens | native inference | native request | fresh request (p99) | fresh inference |"
             " plain request | reused instance request |", "|---|---|---|---|---|---|---|"]
    for r in spin["rows"]:
        lines.append(
            f"| {r['tokens']} | {r['native_inference_ms']:.2f} ms | {r['native_client_ms']:.2f} ms"
            f" | {r['snapshot_client_ms']:.2f} ms ({r['snapshot_client_p99_ms']:.2f})"
            f" | {r['snapshot_inference_ms']:.2f} ms | {r['plain_client_ms']:.1f} ms"
            f" | {r['reused_client_ms']:.2f} ms |")
    floors = ", ".join(f"{k} {v:.2f} ms" for k, v in spin["floors_ms"].items())
    sizes = "; ".join(f"{k} {v['raw']:,} B ({v['gzip']:,} B gzip -9)" for k, v in spin["sizes"].items())
    start = statistics.median(spin["serve_start_ms"])
    largest = spin["largest"]
    lines += ["", f"- `GET /healthz` (no model work): {floors}.",
              f"- Components: {sizes}.",
              f"- `wasmtime serve` start to first answer, compiled code cached: median {start:.0f} ms"
              f" (n={len(spin['serve_start_ms'])}).",
              f"- Largest request the budgets allow: {largest['snapshot_ms']:.0f} ms on a fresh"
              f" instance, linear memory {largest['snapshot_linear_bytes']:,} B; natively"
              f" {largest['native_ms']:.0f} ms. A reused instance after every round:"
              f" {spin['reused_linear_bytes']:,} B.",
              f"- Peak RSS of the `wasmtime serve` process of the fresh-instance runs:"
              f" {largest['wasmtime_peak_rss_bytes'] / 1e6:.0f} MB. That is the runtime's, not an"
              " instance's (see \"RSS per wasm instance\" below), and it varies from run to"
              " run. Spin's limit, like `-Wmax-memory-size`, counts an instance's linear"
              " memory."]
    return lines


def fastly_table(fastly):
    lines = [f"{fastly['rounds']} interleaved rounds per length. Viceroy, like Fastly, starts a"
             " fresh instance for every request: `fastly` is the pre-initialised program, so its"
             " request is instantiation, settings and inference; `plain` is the build without"
             " pre-initialisation (every request loads the model); `spin` is the pre-initialised"
             " Spin component under `wasmtime serve` with a fresh instance per request. Inference"
             " is the server's Server-Timing (tokenize + inference); start is the program's"
             " `instance` entry.", "",
             "| tokens | native inference | fastly request (p99) | fastly inference | fastly start |"
             " plain request | spin request | fastly / native inference |",
             "|---|---|---|---|---|---|---|---|"]
    for r in fastly["rows"]:
        lines.append(
            f"| {r['tokens']} | {r['native_inference_ms']:.2f} ms"
            f" | {r['fastly_client_ms']:.2f} ms ({r['fastly_client_p99_ms']:.2f})"
            f" | {r['fastly_inference_ms']:.2f} ms | {r['fastly_start_ms']:.2f} ms"
            f" | {r['plain_client_ms']:.1f} ms | {r['spin_client_ms']:.2f} ms"
            f" | {r['fastly_inference_ms'] / r['native_inference_ms']:.1f}x |")
    floors = ", ".join(f"{k} {v:.2f} ms" for k, v in fastly["floors_ms"].items())
    sizes = "; ".join(f"{k} {v['raw']:,} B ({v['gzip']:,} B gzip -9)"
                      for k, v in fastly["sizes"].items())
    memory, largest = fastly["memory"], fastly["largest"]
    lines += ["", f"- `GET /healthz` (no model work): {floors}.",
              f"- Programs: {sizes}; Fastly's package limit is 100 MB.",
              f"- `viceroy serve` start to first answer (Viceroy compiles the module at every"
              f" start; Fastly does it once at publish): median"
              f" {statistics.median(fastly['serve_start_ms']):.0f} ms"
              f" (n={len(fastly['serve_start_ms'])}).",
              f"- Largest request the budgets allow: {largest['fastly_ms']:.0f} ms on a fresh"
              f" instance, natively {largest['native_ms']:.0f} ms.",
              f"- Memory `/v1/models` reports: resident {memory['resident_bytes'] / 1e6:.1f} MB,"
              f" worst request {memory['worst_request_bytes'] / 1e6:.1f} MB, budget"
              f" {memory['budget_bytes'] / 1e6:.1f} MB (Fastly's heap: 128 MB). Peak RSS of the"
              f" Viceroy process: {largest['viceroy_peak_rss_bytes'] / 1e6:.0f} MB (the"
              " runtime's, with its compiled code)."]
    heaps = fastly.get("heap_mib") or {}
    if heaps.get("fastly"):
        lines.append(f"- Largest WebAssembly heap of any request (Viceroy's own count, what Fastly's"
                     f" 128 MB limit applies to), the largest request included: pre-initialised"
                     f" {heaps['fastly']:.1f} MiB, plain build {heaps['plain']:.1f} MiB.")
    return lines


def cloudflare_table(cf):
    med = lambda xs: statistics.median(xs) if xs else None  # noqa: E731
    lines = [f"- Cold, first `POST /v1/classify` of a fresh isolate: median {fmt(med(cf['cold_ms']), digits=0)}"
             f" (n={len(cf['cold_ms'])}); split: first `GET /openapi.json` (wrangler dev's own"
             f" floor, compiling the module, and the classifier load, which every first request"
             f" pays) {fmt(med(cf['first_get_ms']), digits=0)}, then the first classify"
             f" {fmt(med(cf['first_classify_ms']), digits=0)}.",
             f"- `GET /healthz`: {cf['floor_ms']:.2f} ms. Linear memory after the warm runs"
             f" {cf['linear_bytes']:,} B; after the largest allowed request"
             f" ({cf['largest']['ms']:.0f} ms) {cf['largest']['linear_bytes']:,} B.", "",
             "Warm requests, one isolate (client over loopback; `worker` is its Server-Timing,"
             " 1 ms resolution):", "",
             "| TRIAGE_MAX_TOKENS | tokens | client p50 | client p99 | worker p50 |",
             "|---|---|---|---|---|"]
    for w in cf["warm"]:
        lines.append(f"| {w['max_tokens']} | {w['tokens']} | {w['client_ms']:.2f} ms"
                     f" | {w['client_p99_ms']:.2f} ms | {w['worker_ms']:.0f} ms |")
    lines += ["", "Inference per text in batches of 32, interleaved with the native server: what a"
              " request pays, up to three model runs per text (the manifest's `windows`; 64 tokens"
              " are runs of 64, 48 and 48):", ""] + batch_table(cf["per_text"], p99=False)
    if cf.get("per_run"):
        lines += ["", "One model run per text: the same with a copy of the default bundle whose"
                  " manifest has no `windows` (the worker fetches it from its local R2 bucket);"
                  " p99 is of the batches' per-text means:", ""] + batch_table(cf["per_run"], p99=True)
    return lines


def batch_table(rows, p99):
    """bench/cloudflare.py's per-text rows: workerd against native, by tokens."""
    lines = [f"| tokens | workerd{' p50 (p99)' if p99 else ''} | native | workerd / native |",
             "|---|---|---|---|"]
    for b in rows:
        tail = f" ({b['workerd_p99_ms']:.2f})" if p99 else ""
        lines.append(f"| {b['tokens']} | {b['workerd_ms']:.2f} ms{tail} | {b['native_ms']:.2f} ms"
                     f" | {b['ratio']:.2f}x |")
    return lines


def coldstart_table(cs):
    med = lambda rows, key, sub=None: statistics.median(  # noqa: E731
        r[key].get(sub, 0.0) if sub else r[key] for r in rows)
    steps = ("instance", "load-verify", "load-tokenizer", "load-parse", "load-declutter", "load-optimize")
    only = cs.get("classify_only_wasm_bytes")
    only = f", the classify-only worker's {only:,} bytes" if only else ""
    lines = [f"A fresh `workerd serve` per sample (no wrangler in front), medians of {cs['n']};"
             f" module {cs['wasm_bytes']:,} bytes{only}. `instance` and `load-*` are the worker's own"
             " Server-Timing on its first request (the service build, which loads the classifier).", "",
             "| worker, first request | listen | first request | second request | "
             + " | ".join(f"`{s}`" for s in steps) + " |", "|---|---|---|---|" + "---|" * len(steps)]
    for name, rows in cs["workerd"].items():
        split = " | ".join(f"{med(rows, 'timing', s):.0f} ms" if any(s in r["timing"] for r in rows)
                           else "-" for s in steps)
        lines.append(f"| {name} | {med(rows, 'listen'):.0f} ms | {med(rows, 'first'):.0f} ms |"
                     f" {med(rows, 'second'):.1f} ms | {split} |")
    if cs.get("wrangler"):
        lines += ["", "The same under `wrangler dev` (its proxy, then workerd):", "",
                  "| worker, first request | listen | first request | second request |",
                  "|---|---|---|---|"]
        for name, rows in cs["wrangler"].items():
            lines.append(f"| {name} | {med(rows, 'listen'):.0f} ms | {med(rows, 'first'):.0f} ms |"
                         f" {med(rows, 'second'):.1f} ms |")
    return lines


def size_table(size):
    shipped = size.get("shipped") or {}
    kb = lambda pair: f"{pair[0]:,} B ({pair[1]:,} gzip)"  # noqa: E731
    lines = []
    if shipped:
        lines += [f"The worker as deployed (`scripts/build-worker`, `wasm-opt -Oz`): {shipped['bytes']:,} B,"
                  f" {shipped['gzip']:,} B gzip -9; code section {kb(shipped['code'])}, data section"
                  f" (models, tokenizers, tables) {kb(shipped['data'])}.", ""]
    variants = size.get("variants") or []
    if shipped and variants:
        gz = lambda pair: f"{pair[0]:,} B ({pair[1]:,})"  # noqa: E731
        lines += ["Each build as deployed, raw (gzip -9):", "",
                  "| build | whole | code section | data section |", "|---|---|---|---|",
                  f"| default: spam-mini, parse and potion-base-2m | {gz((shipped['bytes'], shipped['gzip']))}"
                  f" | {gz(shipped['code'])} | {gz(shipped['data'])} |"]
        lines += [f"| {v['name']} (`scripts/build-worker --{v['name']}`) | {gz((v['bytes'], v['gzip']))}"
                  f" | {gz(v['code'])} | {gz(v['data'])} |" for v in variants]
        lines.append("")
    lines += [f"Code by crate, from the function names of cargo's output before wasm-opt"
              f" ({size['code']:,} B of code there; wasm-opt shrinks it, the shares carry over):", "",
              "| crate | code bytes | share |", "|---|---|---|"]
    top = size["code_by_crate"][:size.get("top", 15)]
    for crate, n in top:
        lines.append(f"| {crate} | {n:,} | {100 * n / size['code']:.1f}% |")
    rest = sum(n for _, n in size["code_by_crate"][len(top):])
    lines.append(f"| {len(size['code_by_crate']) - len(top)} other crates | {rest:,} |"
                 f" {100 * rest / size['code']:.1f}% |")
    return lines


def load_table(load):
    lines = [f"{load['connections']} connections for {load['duration']} s per adapter, wrk with one"
             " thread on the same 2 cores (so latency is mostly queueing), a mix of 13/58/114-token"
             " texts and a batch of 4.", "",
             "| adapter | requests | req/s | p50 | p99 | errors | RSS MB start → end (max) |"
             " linear memory MB |", "|---|---|---|---|---|---|---|---|"]
    for r in load["rows"]:
        linear = "-" if r["linear_end"] is None else f"{r['linear_end'] / 1e6:.1f}"
        lines.append(f"| {r['adapter']} | {r['requests']} | {r['rps']:.0f} | {r['p50_ms']:.1f} ms"
                     f" | {r['p99_ms']:.1f} ms | {r['errors']} | {r['rss_start'] / 1e6:.1f} →"
                     f" {r['rss_end'] / 1e6:.1f} ({r['rss_max'] / 1e6:.1f}) | {linear} |")
    return lines


def parse_table(parse):
    lines = [f"`POST /v1/parse` with the shipped support-ticket schema by name, on a {parse['tokens']}-token"
             " ticket; schema compile is a fresh inline copy of the schema against the same one"
             " cached, timed by the client; labels are batches of 32 texts against 3 ad-hoc labels"
             " (Server-Timing / 32). workerd's timers read 0 for sub-millisecond work.", "",
             "| adapter | parse, server (tokenize + inference) | parse, client | schema compile"
             " (cache miss) | labels, per text |", "|---|---|---|---|---|"]
    for name, r in parse["adapters"].items():
        lines.append(f"| {name} | {r['parse_server_ms']:.3f} ms | {r['parse_client_ms']:.2f} ms |"
                     f" {r['compile_ms']:.2f} ms | {r['labels_per_text_ms']:.3f} ms |")
    return lines


def generate_table(g):
    n, w = g["native"], g["wasm"]
    lines = [f"models/smollm2-135m (SmolLM2-135M-Instruct, Q4_0 with a Q8_0 embedding) on candle's"
             f" kernels, {g['rounds']} interleaved rounds, medians, the servers' own timings."
             " Native uses both cores (candle's rayon); wasm is one thread, and wasmtime serve"
             " starts an instance per request, so every wasm request also loads the bundle.", "",
             "| | native | wasm (wasmtime serve) | wasm time / native time |", "|---|---|---|---|"]
    for key, label, form in [
            ("prefill_tok_s", f"prefill, tokens/s ({n['prompt_tokens']:.0f}-token prompt)", "{:.0f}"),
            ("decode_ms_per_token", "decode, ms/token (32 tokens, unconstrained)", "{:.1f}"),
            ("mask_ms_per_token", "llguidance mask, ms per token chosen", "{:.3f}"),
            ("object_ms", "3-field JSON object, client ms", "{:.0f}"),
            ("load_ms", "first request's load, ms", "{:.0f}")]:
        ratio = n[key] / w[key] if key.endswith("_tok_s") else w[key] / n[key]
        lines.append(f"| {label} | {form.format(n[key])} | {form.format(w[key])} |"
                     f" {ratio:.2f}x |")
    lines += ["", f"The 3-field object: {n['object_tokens']:.0f} tokens, {n['object_forced']:.0f} of"
              f" them forced by the grammar. The largest request the budgets allow"
              f" ({w['largest_prompt_tokens']} prompt tokens, up to 256 written): native"
              f" {n['largest_generated']} written in {n['largest_ms'] / 1000:.1f} s, wasm"
              f" {w['largest_generated']} in {w['largest_ms'] / 1000:.1f} s (greedy paths part"
              " where logits nearly tie)."
              f" Native peak RSS {n['peak_rss_bytes'] / 2**20:.0f} MiB; the wasm instance's linear"
              f" memory after it {(w['largest_memory_bytes'] or 0) / 2**20:.0f} MiB (the"
              " compiled-in models' snapshot included)."]
    return lines


def criterion_table(criterion):
    lines = ["| benchmark | median | interval |", "|---|---|---|"]
    for name, value in criterion.items():
        lines.append(f"| `{name}` | {value['ms']:.3f} ms | {value['low']:.3f}–{value['high']:.3f} |")
    return lines


def render(results, meta, commands):
    finished = sorted(c.get("finished", "") for c in commands.values())
    out = [BEGIN, "", f"## Latest: `bench/run`, last step finished {finished[-1] if finished else '?'}", "",
           f"- Machine: {meta['machine']}.",
           "- Commit: " + "; ".join(f"{step} at {c.get('commit', '?')}"
                                    for step, c in commands.items()) + ".",
           "- Versions: " + "; ".join(meta["versions"]) + ".",
           "- Command: `bench/run`. It ran, in this order: " +
           "; ".join(f"`{c['command']}` ({c['seconds']} s)" for c in commands.values()) + ".",
           "- Plots: [latency by input length](plots/latency-by-length.svg),"
           " [runtimes side by side](plots/runtimes.svg).", "",
           "### Goals", ""]
    out += goals_table(results)
    sections = (("Inference alone: Triage native, Triage in wasm, onnxruntime", "engines",
                 engines_table),
                ("Wasm forms: Triage's integer kernel, tract f32, tract int8", "engines", formats_table),
                ("Arithmetic: achieved multiply-adds against the simd128 ceiling", "engines",
                 arithmetic_table),
                ("Where the time goes (tract profile)", "engines", profile_table),
                ("Spin component under `wasmtime serve`", "spin", spin_table),
                ("Fastly Compute program under Viceroy", "fastly", fastly_table),
                ("Cloudflare worker on workerd (`wrangler dev`)", "cloudflare", cloudflare_table),
                ("Cloudflare cold start on workerd directly", "coldstart", coldstart_table),
                ("Cloudflare worker size", "size", size_table),
                ("HTTP under load", "load", load_table),
                ("Parse and ad-hoc labels (potion-base-2m)", "parse", parse_table),
                ("Generate task (smollm2-135m): native and wasm", "generate", generate_table),
                ("criterion (native core)", "criterion", criterion_table))
    for title, step, table in sections:
        if results[step]:
            out += ["", f"### {title}", ""] + table(results[step])
    out += ["", END]
    return "\n".join(out) + "\n"


def write_results(section):
    text = RESULTS.read_text()
    if BEGIN in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
    else:
        head, tail = text.split("\n", 1)[0] + "\n\n", text.split("\n", 1)[1].lstrip("\n")
    RESULTS.write_text(head + section + "\n" + tail)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default=",".join(STEPS))
    parser.add_argument("--render-only", action="store_true")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    steps = [s for s in args.steps.split(",") if s]
    unknown = set(steps) - set(STEPS)
    if unknown:
        parser.error(f"unknown steps: {', '.join(sorted(unknown))}")
    global OUT
    if args.quick:  # its own directory, so a smoke run never mixes with real results
        OUT = OUT / "quick"
    OUT.mkdir(parents=True, exist_ok=True)
    log_path = OUT / "commands.json"
    commands = json.loads(log_path.read_text()) if log_path.exists() else {}
    if not args.render_only:
        for step in steps:
            commands[step] = run_step(step, args.quick)
            log_path.write_text(json.dumps(commands, indent=1))
    results = {step: load(step) for step in STEPS}
    section = render(results, machine(), {s: commands[s] for s in STEPS if s in commands})
    plots.draw(results, OUT / "plots" if args.quick else ROOT / "bench/plots")
    if args.quick:
        (OUT / "RESULTS.md").write_text(section)
        print(f"quick run: {OUT / 'RESULTS.md'} (bench/RESULTS.md left as it is)", file=sys.stderr)
    else:
        write_results(section)
        print(f"wrote {RESULTS} and bench/plots/", file=sys.stderr)


if __name__ == "__main__":
    main()
