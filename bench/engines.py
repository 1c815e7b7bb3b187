#!/usr/bin/env python3
"""Inference alone, interleaved: Triage natively, Triage in wasm, and onnxruntime.

These engines run the default model (models/spam-mini/model.onnx) on the same token ids
(`1000 + (i * 37) % 7000`, as in `triage-bench` and the criterion benchmark):

  tract          Triage natively: target/release/triage-bench time (tract's f32 kernels)
  tract-wasm     the same program built for wasm32-wasip2 (spin profile, simd128),
                 precompiled and run by `wasmtime run`, as it serves: the weight matmuls
                 on Triage's int8-weight, 16-bit-activation kernel (triage_core::int_matmul)
  tract-wasm f32 the same build on tract's f32 kernels (`--kernels tract`), what wasm
                 builds ran before
  tract-wasm static-int8   the same build on the integer-matmul form of the model
                 (bench/int8.py: static int8 activations, MatMulInteger) and tract's int8
                 kernels, the form issue 22 first asked about
  tract-wasm-relaxed f32 / static-int8   both again from a `+relaxed-simd` build
                 (target/bench/triage-bench-relaxed.cwasm; tract's kernels use it)
  tract-wasm ternary   the served build on models/spam-mini-ternary/model.nnef.tar, the
                 same architecture trained with ternary weights (packed 1.6 bits per
                 weight, unpacked at load, then the same integer kernel); another model,
                 so its logits are not compared here (shared/tests/parity.rs compares
                 them with onnxruntime on its own ONNX)
  ort            onnxruntime, one thread, default graph optimisations, on the same file:
                 it rewrites each DequantizeLinear + MatMul into an int8 matmul
  ort-f32        onnxruntime, one thread, default optimisations, on the same graph with
                 the int8 weights dequantized ahead of time into f32 initializers: the
                 arithmetic tract does (tract folds the dequantization at load), and
                 the faster of the two forms we tried in onnxruntime

Every round runs a block of `--block` runs of each engine at each length, engines in a
new random order each time, so all of them share the machine's noise. Reported per
engine and length: the median and p99 of every run, and ratios as the median of the
per-round ratios of block medians. onnxruntime's times include its Python binding's call
overhead (a few microseconds); tract's are taken inside the Rust process.

Then each Rust engine profiles itself node by node (`triage-bench profile`), tract counts
the multiply-adds of a run at each length (`triage-bench macs`), and the wasm build
measures this CPU's simd128 ceiling (`triage-bench peak`): achieved GMAC/s against it.

Usage: bench/engines.py [--rounds N] [--block N] [--json PATH]
  (after `cargo build --release -p triage-bench` and bench/run's wasm build; needs the
  packages in bench/requirements.txt)
"""

import argparse
import json
import random
import statistics
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from int8 import matmul_integer
from loopback import ROOT, p99

LENGTHS = (16, 64, 128, 256)
MODEL = ROOT / "models/spam-mini/model.onnx"
NATIVE = ROOT / "target/release/triage-bench"
BENCH = ROOT / "target/bench"
WASM = BENCH / "triage-bench.cwasm"
WASM_RELAXED = BENCH / "triage-bench-relaxed.cwasm"
MODEL_F32 = BENCH / "model-f32.onnx"
MODEL_INT8 = BENCH / "model-int8.onnx"
TERNARY = ROOT / "models/spam-mini-ternary/model.nnef.tar"
WASMTIME = ["wasmtime", "run", "--allow-precompiled", "-Wmax-memory-size=134217728",
            "-Wrelaxed-simd=y", "--dir", f"{BENCH}::/bench"]


def token_ids(tokens):
    return np.array([[1000 + (i * 37) % 7000 for i in range(tokens)]], dtype=np.int64)


def dequantized(source, target):
    """Writes `source` with every DequantizeLinear of constant inputs replaced by its f32
    result, computed here with numpy (per-axis scales, int8 zero points)."""
    model = onnx.load(str(source))
    graph = model.graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    folded, kept = [], []
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and all(i in constants for i in node.input):
            q, scale, zero = (constants[i] for i in node.input)
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            shape = [1] * q.ndim
            shape[axis] = -1
            value = (q.astype(np.float32) - zero.astype(np.float32).reshape(shape)) \
                * scale.reshape(shape)
            folded.append(numpy_helper.from_array(value.astype(np.float32), node.output[0]))
        else:
            kept.append(node)
    used = {name for node in kept for name in node.input}
    initializers = [i for i in graph.initializer if i.name in used] + folded
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    onnx.checker.check_model(model)
    onnx.save(model, str(target))
    return len(folded)


class RustEngine:
    """A `triage-bench time` process kept open: one request line, one JSON answer."""

    def __init__(self, command):
        self.command = command
        self.proc = subprocess.Popen(command + ["time"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, cwd=ROOT)

    def run(self, tokens, iterations):
        self.proc.stdin.write(f"{tokens} {iterations}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.command[0]} exited (code {self.proc.wait()})")
        answer = json.loads(line)
        return [us / 1000 for us in answer["us"]], answer["logits"]

    def profile(self, tokens, iterations):
        return self.command_json(["profile", str(tokens), str(iterations)])

    def command_json(self, args):
        """Runs another command of the same program (same runtime and model), one JSON answer."""
        out = subprocess.run(self.command + args, capture_output=True, text=True, check=True,
                             cwd=ROOT).stdout
        return json.loads(out)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


class OrtEngine:
    """An onnxruntime session on one thread, with its default graph optimisations."""

    def __init__(self, model):
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(str(model), options,
                                            providers=["CPUExecutionProvider"])

    def run(self, tokens, iterations):
        feed = {"input_ids": token_ids(tokens)}
        times, logits = [], None
        for _ in range(iterations):
            started = time.perf_counter()
            logits = self.session.run(["logits"], feed)[0]
            times.append((time.perf_counter() - started) * 1000)
        return times, logits[0].tolist()

    def close(self):
        pass


def engines():
    MODEL_F32.parent.mkdir(parents=True, exist_ok=True)
    dequantized(MODEL, MODEL_F32)
    feeds = [{"input_ids": token_ids(tokens)} for tokens in LENGTHS]
    matmul_integer(MODEL_F32, MODEL_INT8, feeds)
    static_int8 = ["--kernels", "tract", "--model", f"/bench/{MODEL_INT8.name}"]
    (BENCH / "spam-mini-ternary.nnef.tar").write_bytes(TERNARY.read_bytes())
    return {
        "tract": RustEngine([str(NATIVE)]),
        "tract-wasm": RustEngine(WASMTIME + [str(WASM)]),
        "tract-wasm f32": RustEngine(WASMTIME + [str(WASM), "--kernels", "tract"]),
        "tract-wasm static-int8": RustEngine(WASMTIME + [str(WASM)] + static_int8),
        "tract-wasm-relaxed f32": RustEngine(WASMTIME + [str(WASM_RELAXED), "--kernels", "tract"]),
        "tract-wasm-relaxed static-int8": RustEngine(WASMTIME + [str(WASM_RELAXED)] + static_int8),
        "tract-wasm ternary": RustEngine(WASMTIME + [str(WASM), "--model",
                                                     "/bench/spam-mini-ternary.nnef.tar"]),
        "ort": OrtEngine(MODEL),
        "ort-f32": OrtEngine(MODEL_F32),
    }


def arithmetic(running):
    """Multiply-adds per run at each length (tract's cost model, natively: the count is the
    same in every build) and the simd128 ceiling of this CPU (the wasm build)."""
    macs = [running["tract"].command_json(["macs", str(tokens)]) for tokens in LENGTHS]
    peak = running["tract-wasm"].command_json(["peak", "20000000"])
    return {"macs": macs, "peak": peak}


def measure(rounds, block):
    running = engines()
    names = list(running)
    times = {(n, t): [] for n in names for t in LENGTHS}
    blocks = {(n, t): [] for n in names for t in LENGTHS}
    logits = {}
    try:
        for tokens in LENGTHS:  # warm-up: first runs, caches, wasm tier-up
            for name in names:
                logits[(name, tokens)] = running[name].run(tokens, block)[1]
        for round_ in range(rounds):
            for tokens in LENGTHS:
                order = names[:]
                random.shuffle(order)
                for name in order:
                    runs = running[name].run(tokens, block)[0]
                    times[(name, tokens)] += runs
                    blocks[(name, tokens)].append(statistics.median(runs))
            print(f"round {round_ + 1}/{rounds}", file=sys.stderr)
        profiles = {name: running[name].profile(64, 200)
                    for name in ("tract", "tract-wasm", "tract-wasm f32")}
        arith = arithmetic(running)
    finally:
        for engine in running.values():
            engine.close()

    def ratio(a, b, tokens):
        return statistics.median(x / y for x, y in zip(blocks[(a, tokens)], blocks[(b, tokens)]))

    rows = []
    for tokens in LENGTHS:
        row = {"tokens": tokens}
        for name in names:
            row[name] = {"p50_ms": statistics.median(times[(name, tokens)]),
                         "p99_ms": p99(times[(name, tokens)]), "runs": len(times[(name, tokens)])}
        row["tract_over_ort"] = ratio("tract", "ort", tokens)
        row["tract_over_ort_f32"] = ratio("tract", "ort-f32", tokens)
        row["wasm_over_native"] = ratio("tract-wasm", "tract", tokens)
        # Each wasm form against tract's f32 kernels in the simd128 build (below 1 is faster).
        row["over_wasm_f32"] = {name: ratio(name, "tract-wasm f32", tokens)
                                for name in names if name.startswith("tract-wasm")}
        macs = next(m["macs"] for m in arith["macs"] if m["tokens"] == tokens)
        row["gmacs"] = {name: macs / (row[name]["p50_ms"] / 1000) / 1e9
                        for name in names if name.startswith("tract")}
        reference = np.array(logits[("ort-f32", tokens)])
        row["max_logit_diff"] = {name: float(np.abs(np.array(logits[(name, tokens)]) - reference).max())
                                 for name in names if "ternary" not in name}
        rows.append(row)
    return {"rounds": rounds, "block": block, "onnxruntime": ort.__version__,
            "rows": rows, "profiles": profiles, "arithmetic": arith}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--block", type=int, default=10, help="runs per engine per round")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    result = measure(args.rounds, args.block)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=1)
    print("| tokens | tract p50 | tract-wasm p50 (p99) | ort p50 | ort-f32 p50 |"
          " tract / ort | tract / ort-f32 | wasm / native |")
    print("|---|---|---|---|---|---|---|---|")
    for r in result["rows"]:
        print(f"| {r['tokens']} | {r['tract']['p50_ms']:.3f} ms"
              f" | {r['tract-wasm']['p50_ms']:.3f} ms ({r['tract-wasm']['p99_ms']:.3f})"
              f" | {r['ort']['p50_ms']:.3f} ms | {r['ort-f32']['p50_ms']:.3f} ms"
              f" | {r['tract_over_ort']:.2f}x | {r['tract_over_ort_f32']:.2f}x"
              f" | {r['wasm_over_native']:.2f}x |")


if __name__ == "__main__":
    main()
