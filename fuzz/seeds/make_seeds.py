"""Writes the committed seed corpora of the fuzz targets (fuzz/seeds/<target>/).

request: real and odd classify bodies, each behind its content-type selector byte.
schema: parse bodies with the shipped schemas inline, every property type, and refusals.
bundle: the real manifest with a tiny tokenizer (the default model's, cut to 64 tokens)
and a tiny ONNX classifier (embedding, mean, linear), in the target's input layout; the
tiny model is also written to fuzz/seeds/tiny-model.onnx, which the target embeds.

Run from the repository root: python fuzz/seeds/make_seeds.py (needs onnx and numpy,
as in models/spam-mini/scripts/requirements.txt).
"""

import hashlib
import json
import struct
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "fuzz" / "seeds"
MODEL = ROOT / "models" / "spam-mini"
VOCAB = 64


def request_seeds():
    bodies = {
        "one_text": b'{"text": "WIN a FREE cruise, click now!!!"}',
        "batch": b'{"texts": ["see you at the meeting", "cheap meds online", ""]}',
        "escapes": b'{"text": "caf\\u00e9 \\ud83d\\ude00 \\u0000 \\n"}',
        "lone_surrogate": b'{"text": "\\ud800"}',
        "wrong_shape": b'{"texts": [1, {"text": null}], "extra": true}',
        "nested": b'{"text": [[[[[[[[["a"]]]]]]]]]}',
        "long": json.dumps({"text": "please review the attached report " * 40}).encode(),
        "combining": json.dumps({"text": "a" + "\u0301" * 300}).encode(),
        "invalid_utf8": b'{"text": "\xc0\xaf\xff"}',
        "over_batch": json.dumps({"texts": ["x"] * 5}).encode(),
    }
    for name, body in bodies.items():
        for selector in range(4):
            write("request", f"{name}-{selector}", bytes([selector]) + body)


def tiny_tokenizer():
    tokenizer = json.loads((MODEL / "tokenizer.json").read_text())
    vocab = tokenizer["model"]["vocab"]
    kept = {token: i for token, i in vocab.items() if i < VOCAB}
    tokenizer["model"]["vocab"] = kept
    tokenizer["added_tokens"] = [t for t in tokenizer["added_tokens"] if t["id"] < VOCAB]
    return json.dumps(tokenizer, separators=(",", ":")).encode()


def tiny_model():
    rng = np.random.default_rng(7)
    embedding = numpy_helper.from_array(rng.standard_normal((VOCAB, 4)).astype(np.float32), "embedding")
    weight = numpy_helper.from_array(rng.standard_normal((4, 2)).astype(np.float32), "weight")
    nodes = [
        helper.make_node("Gather", ["embedding", "input_ids"], ["states"]),
        helper.make_node("ReduceMean", ["states"], ["pooled"], axes=[1], keepdims=0),
        helper.make_node("MatMul", ["pooled", "weight"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, "tokens"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 2])],
        [embedding, weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    return model.SerializeToString()


def bundle_seeds():
    tokenizer, model = tiny_tokenizer(), tiny_model()
    (SEEDS / "tiny-model.onnx").write_bytes(model)
    manifest = json.loads((MODEL / "manifest.json").read_text())
    manifest["max_tokens"] = 32
    manifest["files"]["tokenizer"]["sha256"] = hashlib.sha256(tokenizer).hexdigest()
    manifest["files"]["model"]["sha256"] = hashlib.sha256(model).hexdigest()
    manifest = json.dumps(manifest).encode()
    def layout(flags, manifest, tokenizer, model):
        return bytes([flags]) + struct.pack("<HH", len(manifest), len(tokenizer)) + manifest + tokenizer + model
    write("bundle", "valid", layout(0, manifest, tokenizer, model))
    write("bundle", "valid-fixed", layout(1, manifest, tokenizer, model))
    write("bundle", "corrupt-model", layout(0, manifest, tokenizer, model[:-7] + b"garbage"))
    write("bundle", "truncated-model", layout(0, manifest, tokenizer, model[: len(model) // 2]))
    write("bundle", "garbage-files-fixed", layout(1, manifest, b"{}", b"\x08\x07"))
    write("bundle", "no-files", layout(0, b'{"name": "x"}', b"", b""))


def schema_seeds():
    for name in ("support-ticket", "risk-area"):
        schema = json.loads((ROOT / "schemas" / f"{name}.json").read_text())
        write("schema", name, json.dumps({"text": "the site is down", "schema": schema}).encode())
    every_type = {"type": "object", "required": ["n", "u"], "properties": {
        "s": {"type": "string", "enum": ["a", "b"]},
        "n": {"type": "integer", "minimum": 1, "maximum": 5, "description": "how much"},
        "u": {"type": "number", "minimum": 0, "maximum": 1, "description": "how likely"},
        "b": {"type": "boolean", "oneOf": [{"const": True, "examples": ["yes"]},
                                           {"const": False, "description": "no"}]},
        "c": {"type": "string", "anyOf": [{"const": "x", "title": "X"}, {"const": "y", "title": "Y"}]},
        "k": {"type": "integer", "enum": [0, 2, 9], "maximum": 4, "description": "d"}}}
    write("schema", "every-type", json.dumps({"text": "hi", "schema": every_type, "threshold": 0.5}).encode())
    write("schema", "named", b'{"text": "hi", "schema": "support-ticket"}')
    write("schema", "unsupported", b'{"text": "hi", "schema": {"type": "object", "properties": {"x": {"type": "string", "pattern": "a"}}}}')
    boundary_number_seeds()


# Numbers where an f64 and an exact integer disagree, or that overflow one: 2^53 +/- 1,
# the i64/u64 limits, -0.0, 1e308, a huge multipleOf. Written as raw JSON text so that
# the spelling (1.0 against 1, 9007199254740993 against its f64 rounding) reaches the target.
BOUNDARY_SCHEMAS = {
    "int-past-2-53": '{"type": "integer", "minimum": 9007199254740993, "maximum": 9007199254740995, "description": "d"}',
    "int-below-minus-2-53": '{"type": "integer", "minimum": -9007199254740995, "maximum": -9007199254740993, "description": "d"}',
    "oneof-past-2-53": '{"type": "integer", "oneOf": [{"const": 9007199254740992}, {"const": 9007199254740993}, {"const": 9007199254740994}], "minimum": 9007199254740993, "description": "d"}',
    "enum-past-2-53": '{"type": "integer", "enum": [9007199254740992, 9007199254740993], "maximum": 9007199254740992.0, "description": "d"}',
    "float-bound-2-53": '{"type": "integer", "minimum": 9007199254740993.0, "maximum": 9007199254740995.5, "description": "d"}',
    "u64-max": '{"type": "integer", "minimum": 18446744073709551614, "maximum": 18446744073709551615, "description": "d"}',
    "u64-max-plus-1": '{"type": "integer", "minimum": 18446744073709551615, "maximum": 18446744073709551616, "description": "d"}',
    "i64-min": '{"type": "integer", "minimum": -9223372036854775808, "maximum": -9223372036854775807, "description": "d"}',
    "i64-min-minus-1": '{"type": "integer", "minimum": -9223372036854775809, "maximum": -9223372036854775808, "description": "d"}',
    "negative-zero": '{"type": "integer", "enum": [-0.0, 0, 1], "description": "d"}',
    "float-enum": '{"type": "integer", "enum": [1.0, 2.0, 3.0], "description": "d"}',
    "const-1e308": '{"type": "integer", "const": 1e308, "description": "d"}',
    "range-1e308": '{"type": "integer", "minimum": -1e308, "maximum": 1e308, "description": "d"}',
    "multiple-of-huge": '{"type": "integer", "minimum": 0, "maximum": 3, "multipleOf": 1e308, "description": "d"}',
    "number-subnormal": '{"type": "number", "minimum": 5e-324, "maximum": 1, "description": "d"}',
}


def boundary_number_seeds():
    for name, prop in BOUNDARY_SCHEMAS.items():
        body = '{"text": "account 9007199254740993", "schema": {"type": "object", "required": ["n"], "properties": {"n": %s}}}' % prop
        write("schema", name, body.encode())


def write(target, name, data):
    path = SEEDS / target / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    print(f"{path.relative_to(ROOT)}: {len(data)} bytes")


if __name__ == "__main__":
    request_seeds()
    schema_seeds()
    bundle_seeds()
