"""ONNX export, weight-only int8 quantization, and evaluation with onnxruntime."""

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import helper, numpy_helper


def export(student, path, opset=17):
    """Exports `input_ids: i64[1, S] -> logits: f32[1, 2]` with a symbolic length and no mask."""
    student.eval()
    example = torch.ones((1, 16), dtype=torch.int64)
    torch.onnx.export(
        student, (example,), str(path), input_names=["input_ids"], output_names=["logits"],
        dynamic_axes={"input_ids": {1: "tokens"}}, opset_version=opset, dynamo=False,
    )
    onnx.checker.check_model(onnx.load(str(path)))


def quantize_weights(src, dst, min_elements=1024, ternary=False):
    """Stores every large weight matrix as int8 with one symmetric scale per output channel
    (per row for the embedding table), behind a DequantizeLinear. Compute stays f32: tract
    folds the dequantization into constants at load, so the file is 4x smaller and inference
    is exactly as fast as f32. Returns the number of tensors quantized.

    With `ternary` (a student trained ternary and `student.bake`d), the matmul weights and
    the embedding table are stored as int8 values in {-1, 0, 1} with the channel's scale
    (checked exact: nothing is rounded), which `triage convert` packs five to a byte; the
    position table (sliced, not multiplied) is int8 per row."""
    model = onnx.load(str(src))
    graph = model.graph
    consumers = {}
    for node in graph.node:
        for slot, name in enumerate(node.input):
            consumers.setdefault(name, []).append((node.op_type, slot))
    kept, added, count = [], [], 0
    for init in graph.initializer:
        weight = numpy_helper.to_array(init)
        uses = consumers.get(init.name, [])
        axis = None
        if weight.ndim == 2 and weight.size >= min_elements and weight.dtype == np.float32:
            if uses and all(op == "MatMul" and slot == 1 for op, slot in uses):
                axis = 1  # [in, out]: one scale per output column
            elif uses and all(op == "Gather" and slot == 0 for op, slot in uses):
                axis = 0  # embedding table: one scale per token row
            elif ternary and uses and all(op == "Slice" and slot == 0 for op, slot in uses):
                axis = 0  # position table: one scale per position
        if axis is None:
            kept.append(init)
            continue
        reduce = 0 if axis == 1 else 1
        trits = ternary and not all(op == "Slice" for op, _ in uses)
        levels = 1.0 if trits else 127.0
        scale = np.abs(weight).max(axis=reduce) / levels
        scale = np.where(scale == 0, 1.0, scale).astype(np.float32)
        shape = (1, -1) if axis == 1 else (-1, 1)
        q = np.clip(np.round(weight / scale.reshape(shape)), -levels, levels).astype(np.int8)
        if trits and not np.array_equal(q.astype(np.float32) * scale.reshape(shape), weight):
            raise ValueError(f"{init.name} is not ternary: was the student baked?")
        kept += [
            numpy_helper.from_array(q, init.name + "_int8"),
            numpy_helper.from_array(scale, init.name + "_scale"),
            numpy_helper.from_array(np.zeros_like(scale, dtype=np.int8), init.name + "_zero"),
        ]
        added.append(helper.make_node(
            "DequantizeLinear", [init.name + "_int8", init.name + "_scale", init.name + "_zero"],
            [init.name], axis=axis, name=init.name + "_dequantize"))
        count += 1
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(added + nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return count


def session(path):
    """An onnxruntime session that computes exactly what the graph says. With its default
    optimisations onnxruntime fuses DequantizeLinear+MatMul into an int8-activation matmul,
    which moves logits by ~2e-3; tract (like the graph) dequantizes and multiplies in f32."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def logits(sess, ids_list):
    """Runs one unpadded text at a time, exactly as the edge worker does."""
    return np.stack([
        sess.run(["logits"], {"input_ids": np.asarray([ids], dtype=np.int64)})[0][0]
        for ids in ids_list
    ])
