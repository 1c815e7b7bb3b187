"""The architecture side of spam-mini's trade-off: multiply-adds and wasm latency of the
student at other sizes (layers, width, feed-forward), next to the F1 of the ones trained.

Latency does not depend on what the weights are, so every architecture is exported
untrained (seeded random weights, int8 per channel as build.py stores them) and timed as
the served wasm build runs it: `triage-bench --model FILE time` under `wasmtime run`
(the precompiled target/bench/triage-bench.cwasm that bench/run builds), which puts every
weight matmul on Triage's integer kernel. F1 comes from trained builds' metrics.json
(`--trained NAME=DIR`, e.g. the shipped models/spam-mini, or `build.py --layers 1 --out
DIR`), on the held-out emails and SMS with onnxruntime, as in the model card.

    python architectures.py [--tokens 64] [--runs 400] [--trained shipped=../] > table.md

Run from models/spam-mini/scripts with the build venv (torch, onnx), wasmtime on PATH
(scripts/tools.env), from the repository's bench build.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

import export
import student as student_mod

ROOT = Path(__file__).resolve().parents[3]
WASM = ROOT / "target/bench/triage-bench.cwasm"
# (layers, width, feed-forward); 4 heads each. The first is the shipped one.
ARCHITECTURES = [(2, 128, 512), (1, 128, 512), (2, 128, 256), (2, 96, 384), (2, 64, 256),
                 (3, 128, 512), (4, 128, 512), (2, 192, 768)]
VOCAB = 8192


def export_untrained(layers, width, hidden, path):
    torch.manual_seed(0)
    net = student_mod.Student(VOCAB, width, layers, 4, hidden, 256)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        export.export(net, fp32)
        export.quantize_weights(fp32, path)
    return sum(p.numel() for p in net.parameters())


def wasm(model_dir, args):
    return ["wasmtime", "run", "--allow-precompiled", "-Wmax-memory-size=134217728",
            "--dir", f"{model_dir}::/models", str(WASM)] + args


def time_wasm(model_dir, name, tokens, runs):
    """p50 and p99 in ms of `runs` runs at `tokens` tokens, after 50 warm-up runs."""
    proc = subprocess.run(wasm(model_dir, ["--model", f"/models/{name}", "time"]),
                          input=f"{tokens} 50\n{tokens} {runs}\n", capture_output=True,
                          text=True, check=True)
    us = json.loads(proc.stdout.splitlines()[-1])["us"]
    ordered = sorted(us)
    return statistics.median(us) / 1000, ordered[int(0.99 * (len(ordered) - 1))] / 1000


def macs(model_dir, name, tokens):
    out = subprocess.run(wasm(model_dir, ["--model", f"/models/{name}", "macs", str(tokens)]),
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["macs"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--trained", action="append", default=[],
                        help="NAME=DIR of a trained build (its metrics.json config and F1)")
    args = parser.parse_args()
    trained = {}
    for spec in args.trained:
        name, folder = spec.split("=", 1)
        metrics = json.loads((Path(folder) / "metrics.json").read_text())
        cfg = metrics["config"]
        key = (cfg["layers"], cfg["width"], cfg["hidden"])
        test = metrics["onnxruntime"]["int8"]["test"]
        trained.setdefault(key, []).append((name, test["emails"]["f1"], test["sms"]["f1"]))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for layers, width, hidden in ARCHITECTURES:
            name = f"l{layers}-w{width}-ff{hidden}.onnx"
            params = export_untrained(layers, width, hidden, Path(tmp) / name)
            p50, p99 = time_wasm(tmp, name, args.tokens, args.runs)
            rows.append((layers, width, hidden, params, macs(tmp, name, args.tokens), p50, p99))
            print(f"{name}: {p50:.3f} ms", file=sys.stderr)
    base = rows[0]
    print(f"| layers | width | feed-forward | parameters | multiply-adds at {args.tokens} tokens"
          f" | wasm p50 | wasm p99 | against shipped | held-out F1, emails / SMS (trained builds) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for layers, width, hidden, params, count, p50, p99 in rows:
        f1 = "; ".join(f"{n} {e:.3f} / {m:.3f}" for n, e, m in trained.get((layers, width, hidden), []))
        print(f"| {layers} | {width} | {hidden} | {params / 1e6:.2f} M | {count / 1e6:.1f} M"
              f" | {p50:.2f} ms | {p99:.2f} ms | {p50 / base[5]:.2f}x | {f1 or '-'} |")


if __name__ == "__main__":
    main()
