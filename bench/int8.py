"""The shipped model with integer matmuls: the form issue 22 asked to measure in wasm.

`matmul_integer(source, target, calibration)` rewrites every MatMul whose right-hand side is a
constant f32 matrix (the weights; attention's two activation-by-activation matmuls stay f32)
into the static-int8 form onnxruntime's QOperator quantizer writes for MatMul:

    x_q = QuantizeLinear(x, s_x, 0)          int8, s_x = max |x| over the calibration runs / 127
    acc = MatMulInteger(x_q, W_q)             int8 x int8 -> int32, W_q per output column
    y   = Cast(acc, float) * (s_x * s_w)      one f32 multiply per output column

tract reads MatMulInteger as an i32 einsum and runs it on its int8 kernels: on wasm, the 4x4
i8 kernel of tract-linalg 0.23.9, whose inner loop is `i32x4.relaxed_dot_i8x16_i7x16_add` in a
`+relaxed-simd` build and widening i8 -> i32 multiplies otherwise.

The activation scales are calibrated on the benchmark's own inputs. That is enough for timing
(the arithmetic does not depend on the scales) and for the logit difference reported beside
it; it is not a calibration to ship (that would use training texts).
"""

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def activation_ranges(source, names, feeds):
    """max |x| of each named tensor over the runs `feeds`, from onnxruntime without graph
    optimisations (so every named tensor exists)."""
    probe = onnx.load(str(source))
    for name in names:
        probe.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(probe.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    ranges = dict.fromkeys(names, 0.0)
    for feed in feeds:
        for name, value in zip(names, session.run(names, feed)):
            ranges[name] = max(ranges[name], float(np.abs(value).max()))
    return ranges


def matmul_integer(source, target, feeds):
    """Writes `source` (an f32 graph) with its weight matmuls in static int8 to `target`;
    returns how many matmuls it rewrote."""
    model = onnx.load(str(source))
    graph = model.graph
    constants = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    weights = [n for n in graph.node if n.op_type == "MatMul" and n.input[1] in constants
               and constants[n.input[1]].ndim == 2]
    ranges = activation_ranges(source, [n.input[0] for n in weights], feeds)
    nodes, added = [], []
    for node in graph.node:
        if node not in weights:
            nodes.append(node)
            continue
        x, w = node.input[0], constants[node.input[1]]
        s_w = np.abs(w).max(axis=0) / 127.0
        s_w = np.where(s_w == 0, 1.0, s_w).astype(np.float32)
        s_x = np.float32(max(ranges[x], 1e-8) / 127.0)
        p = node.name.replace("/", "_").strip("_") or node.output[0]
        added += [
            numpy_helper.from_array(np.clip(np.round(w / s_w), -127, 127).astype(np.int8), p + "_wq"),
            numpy_helper.from_array(np.array(s_x, np.float32), p + "_sx"),
            numpy_helper.from_array(np.array(0, np.int8), p + "_zx"),
            numpy_helper.from_array((s_x * s_w).astype(np.float32), p + "_sy"),
        ]
        nodes += [
            helper.make_node("QuantizeLinear", [x, p + "_sx", p + "_zx"], [p + "_xq"]),
            helper.make_node("MatMulInteger", [p + "_xq", p + "_wq"], [p + "_acc"]),
            helper.make_node("Cast", [p + "_acc"], [p + "_accf"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [p + "_accf", p + "_sy"], [node.output[0]]),
        ]
    used = {name for node in nodes for name in node.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept + added)
    onnx.checker.check_model(model)
    onnx.save(model, str(target))
    return len(weights)
