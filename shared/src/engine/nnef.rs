//! tract's NNEF, the format workers load models from: a tar of `graph.nnef` (the graph as
//! text) and one `.dat` file per tensor. Triage writes the graph typed and decluttered at
//! build time, so a worker skips ONNX's protobuf and tract's type analysis: it reads the
//! graph, declutters away what NNEF's own rewrites added, and optimises it (the load split
//! against ONNX's is in `bench/RESULTS.md`, 2026-12-01, NNEF).
//!
//! **Int8 weights at rest.** Decluttering folds an int8 model's `DequantizeLinear` nodes
//! into f32 weights, which would make the file 3.6 times the ONNX one. [`write`] finds
//! every f32 weight that is exactly an int8 tensor times one scale per channel (or per
//! tensor) and stores it as that: an `i8` variable, a `tract_core_cast` to f32 and a `mul`
//! by an f32 scale variable, all standard tract NNEF that stock tract loads. [`read`] folds
//! them back into the very f32 weights the ONNX path computes (the same two operations),
//! so the served scores are bit for bit those of the ONNX file.
//!
//! **Ternary weights packed.** An int8 weight whose values are all -1, 0 or +1 (a model
//! trained ternary, BitNet b1.58 style: `models/spam-mini-ternary`) is stored five values
//! to a byte, base 3 (1.6 bits per weight instead of 8): a `u8` tensor labelled
//! `<label>.trits`, which the graph declares as the `i8` variable of the weight's shape.
//! [`read`] unpacks it before anything else; stock tract cannot read such a file.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use tract_nnef::ast::{Assignment, Identifier, Invocation, LValue, Literal, RValue, TypeName};
use tract_nnef::ser::{ints, named_arg, string};
use tract_nnef::tract_core::internal::{bail, TractErrorContext};
use tract_nnef::tract_core::prelude::tract_ndarray::{ArrayD, ArrayViewD, Axis};
use tract_nnef::tract_core::prelude::*;

/// Weights with fewer elements than this stay f32: the cast and scale would cost more
/// than the bytes they save.
const MIN_INT8_ELEMENTS: usize = 1024;

/// Modification time of every tar entry: 1 Jan 1980, the MS-DOS epoch tract uses for its
/// deterministic tars.
const TAR_MTIME: u64 = 315_532_800;

/// tract's NNEF framework: its op registries and the NNEF standard library, parsed once
/// per process or isolate (about 8 ms natively).
fn framework() -> &'static tract_nnef::framework::Nnef {
    static FRAMEWORK: OnceLock<tract_nnef::framework::Nnef> = OnceLock::new();
    FRAMEWORK.get_or_init(tract_nnef::nnef)
}

/// Reads an NNEF tar into a typed graph with its int8 weights decoded to f32 (the graph
/// [`write`] was given, up to NNEF's own rewrites, which decluttering undoes).
///
/// Errors: whatever tract reports for a tar it cannot read or a graph it cannot type.
pub fn read(bytes: &[u8]) -> TractResult<TypedModel> {
    let framework = framework();
    let mut proto = framework.proto_model_for_read(&mut &*bytes)?;
    unpack_ternary(&mut proto)?;
    decode_int8(&mut proto)?;
    framework.model_for_proto_model(&proto)
}

/// Replaces what [`int8_assignments`] wrote (`X = mul(X_int8_f32, X_scale)`, its cast and
/// two variables) by one f32 variable holding the product, computed here in one pass: what
/// tract's constant folding of the same cast and mul would give, bit for bit, in a
/// fraction of the time. Graphs written by anything else are left as they are.
fn decode_int8(proto: &mut tract_nnef::ProtoModel) -> TractResult<()> {
    let body = &proto.doc.graph_def.body;
    let index: HashMap<&Identifier, usize> = body
        .iter()
        .enumerate()
        .filter_map(|(i, a)| match &a.left {
            LValue::Identifier(id) => Some((id, i)),
            _ => None,
        })
        .collect();
    let mut decoded = Vec::new();
    for (at, assignment) in body.iter().enumerate() {
        let LValue::Identifier(id) = &assignment.left else {
            continue;
        };
        let float_id = Identifier(format!("{}_int8_f32", id.0));
        let scale_id = Identifier(format!("{}_scale", id.0));
        let q_id = Identifier(format!("{}_int8", id.0));
        let [q_at, scale_at, float_at] =
            [&q_id, &scale_id, &float_id].map(|name| index.get(name).copied());
        let (Some(q_at), Some(scale_at), Some(float_at)) = (q_at, scale_at, float_at) else {
            continue;
        };
        let expected = int8_assignments(
            id,
            &Identifier(String::new()),
            Tensor::zero::<i8>(&[0])?,
            Tensor::zero::<f32>(&[0])?,
        )
        .0;
        // The cast and the mul must be exactly those written, the variables any label.
        if body[float_at] != expected[2] || *assignment != expected[3] {
            continue;
        }
        let tensor_of = |at: usize| {
            variable_label(&body[at])
                .and_then(|l| stored_label(&proto.tensors, &l))
                .map(|l| &proto.tensors[&l])
        };
        let (Some(q), Some(scale)) = (tensor_of(q_at), tensor_of(scale_at)) else {
            continue;
        };
        if q.datum_type() != i8::datum_type() || scale.datum_type() != f32::datum_type() {
            continue;
        }
        let Some(weights) = dequantize(q, scale)? else {
            continue;
        };
        decoded.push((at, [q_at, scale_at, float_at], weights));
    }
    let mut dropped = Vec::new();
    for (at, parts, weights) in decoded {
        let LValue::Identifier(id) = &proto.doc.graph_def.body[at].left else {
            continue;
        };
        let label = Identifier(format!("{}.decoded", id.0));
        proto.doc.graph_def.body[at].right = RValue::Invocation(Invocation {
            id: "variable".into(),
            generic_type_name: Some(TypeName::Scalar),
            arguments: vec![
                named_arg("label", string(&label.0)),
                named_arg("shape", ints(weights.shape())),
            ],
        });
        proto.tensors.insert(label, weights.into_arc_tensor());
        dropped.extend(parts);
    }
    dropped.sort_unstable();
    for at in dropped.into_iter().rev() {
        proto.doc.graph_def.body.remove(at);
    }
    Ok(())
}

/// How [`write`] stored a graph's weights.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Weight tensors stored as int8 plus scales.
    pub int8_tensors: usize,
    /// Of those, the ones whose values are all -1, 0 or +1, packed five to a byte.
    pub ternary_tensors: usize,
    /// Weight tensors of at least [`MIN_INT8_ELEMENTS`] elements left f32 (not exactly int8
    /// times a scale per channel).
    pub f32_tensors: usize,
}

/// Writes a typed (decluttered) graph as an NNEF tar with its int8 weights at rest (module
/// doc). Entries are sorted and dated alike, but tract's writer numbers a few intermediate
/// names in hash order, so two writes of one graph may differ in those names.
///
/// Errors: an op tract cannot write to NNEF (named by tract).
pub fn write(model: &TypedModel) -> TractResult<(Vec<u8>, WriteReport)> {
    let framework = framework();
    let mut proto = tract_nnef::ser::to_proto_model(framework, model)?;
    if proto.quantization.is_some() || !proto.resources.is_empty() {
        // Graphs of tract's quantized types (a graph.quant file, int8 already) or with
        // resources: tract's own tar, made deterministic.
        let tar = framework.write_to_tar_with_config(model, Vec::new(), false, true)?;
        return Ok((tar, WriteReport::default()));
    }
    let mut report = WriteReport::default();
    let body = std::mem::take(&mut proto.doc.graph_def.body);
    for assignment in body {
        match int8_variable(&assignment, &proto.tensors) {
            Some((label, q, scale)) => {
                report.int8_tensors += 1;
                let id = match &assignment.left {
                    LValue::Identifier(id) => id.clone(),
                    _ => unreachable!("int8_variable takes plain assignments only"),
                };
                let (assignments, tensors) = int8_assignments(&id, &label, q, scale);
                let packed = tensors.iter().any(|(l, _)| l.0.ends_with(TRITS_SUFFIX));
                report.ternary_tensors += usize::from(packed);
                proto.tensors.remove(&label);
                proto.tensors.extend(tensors);
                proto.doc.graph_def.body.extend(assignments);
            }
            None => {
                if large_f32_variable(&assignment, &proto.tensors) {
                    report.f32_tensors += 1;
                }
                proto.doc.graph_def.body.push(assignment);
            }
        }
    }
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    let mut graph = Vec::new();
    tract_nnef::ast::dump::Dumper::new(framework, &mut graph).document(&proto.doc)?;
    entries.push(("graph.nnef".into(), graph));
    let mut labels: Vec<&Identifier> = proto.tensors.keys().collect();
    labels.sort();
    for label in labels {
        tract_nnef::framework::ensure_label_is_relative_path(&label.0)?;
        let mut path = format!("{}.dat", label.0);
        if path.starts_with('/') {
            path.insert(0, '.');
        }
        let mut data = Vec::new();
        tract_nnef::tensors::write_tensor(&mut data, &proto.tensors[label])?;
        entries.push((path, data));
    }
    let mut tar = tar::Builder::new(Vec::new());
    for (path, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_path(&path)?;
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(TAR_MTIME);
        header.set_cksum();
        tar.append(&header, &*data)?;
    }
    Ok((tar.into_inner()?, report))
}

/// The label of a `variable` assignment (`x = variable<scalar>(label = "...", ...)`).
fn variable_label(assignment: &Assignment) -> Option<Identifier> {
    let RValue::Invocation(invocation) = &assignment.right else {
        return None;
    };
    if invocation.id.0 != "variable" || !matches!(assignment.left, LValue::Identifier(_)) {
        return None;
    }
    invocation
        .arguments
        .iter()
        .find_map(|argument| match (&argument.id, &argument.rvalue) {
            (Some(id), RValue::Literal(Literal::String(label))) if id.0 == "label" => {
                Some(Identifier(label.clone()))
            }
            _ => None,
        })
}

fn large_f32_variable(assignment: &Assignment, tensors: &HashMap<Identifier, Arc<Tensor>>) -> bool {
    variable_label(assignment)
        .and_then(|label| tensors.get(&label))
        .is_some_and(|t| t.datum_type() == f32::datum_type() && t.len() >= MIN_INT8_ELEMENTS)
}

/// A `variable` assignment whose f32 tensor is exactly int8 times per-channel scales: its
/// label, the int8 tensor and the scales (shaped to broadcast against it).
fn int8_variable(
    assignment: &Assignment,
    tensors: &HashMap<Identifier, Arc<Tensor>>,
) -> Option<(Identifier, Tensor, Tensor)> {
    let label = variable_label(assignment)?;
    let tensor = tensors.get(&label)?;
    if tensor.datum_type() != f32::datum_type() || tensor.len() < MIN_INT8_ELEMENTS {
        return None;
    }
    let weights = tensor.to_plain_array_view::<f32>().ok()?;
    let (q, scale) = int8_decomposition(&weights)?;
    Some((label, q, scale))
}

/// `f32(q) * scale`, for scales shaped as [`int8_decomposition`] makes them (`[1, .., n,
/// .., 1]`, or all ones): one pass over contiguous runs of one scale, which a cold wasm
/// isolate runs several times faster than ndarray's broadcasting. `None` for any other
/// shape of scales.
fn dequantize(q: &Tensor, scale: &Tensor) -> TractResult<Option<Tensor>> {
    let (shape, scale_shape) = (q.shape(), scale.shape());
    if scale_shape.len() != shape.len() {
        return Ok(None);
    }
    let axis = scale_shape.iter().position(|&n| n > 1);
    let fits = scale_shape
        .iter()
        .enumerate()
        .all(|(i, &n)| n == 1 || (Some(i) == axis && n == shape[i]));
    if !fits {
        return Ok(None);
    }
    let inner: usize = axis.map_or(q.len(), |axis| shape[axis + 1..].iter().product());
    let scales = scale.try_as_plain_ram()?.as_slice::<f32>()?;
    let values = q.try_as_plain_ram()?.as_slice::<i8>()?;
    let mut out = vec![0f32; values.len()];
    for (run, (out, values)) in out
        .chunks_mut(inner.max(1))
        .zip(values.chunks(inner.max(1)))
        .enumerate()
    {
        let s = scales[run % scales.len()];
        for (o, &v) in out.iter_mut().zip(values) {
            *o = f32::from(v) * s;
        }
    }
    Ok(Some(Tensor::from_shape(shape, &out)?))
}

/// The assignments and tensors that replace variable `id` (label `label`):
/// `id = mul(tract_core_cast(id_q, to = "f32"), id_scale)`.
fn int8_assignments(
    id: &Identifier,
    label: &Identifier,
    q: Tensor,
    scale: Tensor,
) -> (Vec<Assignment>, Vec<(Identifier, Arc<Tensor>)>) {
    let packed = ternary_values(&q).map(pack_trits);
    let suffix = if packed.is_some() {
        TRITS_SUFFIX
    } else {
        ".int8"
    };
    let q_label = Identifier(format!("{}{suffix}", label.0));
    let scale_label = Identifier(format!("{}.scale", label.0));
    let q_id = Identifier(format!("{}_int8", id.0));
    let float_id = Identifier(format!("{}_int8_f32", id.0));
    let scale_id = Identifier(format!("{}_scale", id.0));
    let variable = |label: &Identifier, shape: &[usize], kind: TypeName| {
        RValue::Invocation(Invocation {
            id: "variable".into(),
            generic_type_name: Some(kind),
            arguments: vec![
                named_arg("label", string(&label.0)),
                named_arg("shape", ints(shape)),
            ],
        })
    };
    let call = |op: &str, positional: Vec<RValue>, named: Vec<(&str, RValue)>| {
        let mut arguments: Vec<_> = positional
            .into_iter()
            .map(|rvalue| tract_nnef::ast::Argument { id: None, rvalue })
            .collect();
        arguments.extend(named.into_iter().map(|(id, rv)| named_arg(id, rv)));
        RValue::Invocation(Invocation {
            id: op.into(),
            generic_type_name: None,
            arguments,
        })
    };
    let assign = |left: &Identifier, right: RValue| Assignment {
        left: LValue::Identifier(left.clone()),
        right,
    };
    let assignments = vec![
        assign(&q_id, variable(&q_label, q.shape(), TypeName::Integer)),
        assign(
            &scale_id,
            variable(&scale_label, scale.shape(), TypeName::Scalar),
        ),
        assign(
            &float_id,
            call(
                "tract_core_cast",
                vec![RValue::Identifier(q_id.clone())],
                vec![("to", string("f32"))],
            ),
        ),
        assign(
            id,
            call(
                "mul",
                vec![RValue::Identifier(float_id), RValue::Identifier(scale_id)],
                vec![],
            ),
        ),
    ];
    let stored = match packed {
        Some(bytes) => tensor1(&bytes),
        None => q,
    };
    let tensors = vec![
        (q_label, stored.into_arc_tensor()),
        (scale_label, scale.into_arc_tensor()),
    ];
    (assignments, tensors)
}

/// The label suffix of a ternary tensor packed by [`pack_trits`].
const TRITS_SUFFIX: &str = ".trits";

/// Ternary values per packed byte: 3^5 = 243 fits in a byte, 1.6 bits per value.
const TRITS_PER_BYTE: usize = 5;

/// The values of `q` if it is an int8 tensor of at least [`MIN_INT8_ELEMENTS`] values, all
/// -1, 0 or +1 (what [`pack_trits`] packs).
fn ternary_values(q: &Tensor) -> Option<&[i8]> {
    if q.len() < MIN_INT8_ELEMENTS {
        return None;
    }
    let values = q.try_as_plain_ram().ok()?.as_slice::<i8>().ok()?;
    values
        .iter()
        .all(|v| (-1..=1).contains(v))
        .then_some(values)
}

/// Packs ternary values (each -1, 0 or +1) five to a byte: `sum((t_i + 1) * 3^i)` over
/// the group's values `t_0..t_4`, the last group padded with zeros. `ceil(n / 5)` bytes.
fn pack_trits(values: &[i8]) -> Vec<u8> {
    values
        .chunks(TRITS_PER_BYTE)
        .map(|group| {
            group
                .iter()
                .rev()
                .fold(0u8, |byte, &t| byte * 3 + (t.clamp(-1, 1) + 1) as u8)
        })
        .collect()
}

/// The `len` ternary values [`pack_trits`] packed into `packed`.
///
/// Errors: a length that is not `ceil(len / 5)` bytes, or a byte above 242 (not five
/// base-3 digits): a damaged file.
fn unpack_trits(packed: &[u8], len: usize) -> TractResult<Vec<i8>> {
    if packed.len() != len.div_ceil(TRITS_PER_BYTE) {
        bail!(
            "{} packed bytes cannot hold {len} ternary values",
            packed.len()
        );
    }
    let mut values = Vec::with_capacity(packed.len() * TRITS_PER_BYTE);
    for &byte in packed {
        if byte > 242 {
            bail!("packed ternary byte {byte} is not five base-3 digits");
        }
        let mut rest = byte;
        for _ in 0..TRITS_PER_BYTE {
            values.push((rest % 3) as i8 - 1);
            rest /= 3;
        }
    }
    values.truncate(len);
    Ok(values)
}

/// Replaces every packed ternary tensor ([`TRITS_SUFFIX`]) by the `i8` tensor of the
/// shape its variable declares, so the graph reads as [`int8_assignments`] wrote it.
///
/// Errors: a packed tensor that is not `u8[ceil(n / 5)]` for its variable's `n` values,
/// or holds a byte that is no packing.
fn unpack_ternary(proto: &mut tract_nnef::ProtoModel) -> TractResult<()> {
    let mut shapes = Vec::new();
    for assignment in &proto.doc.graph_def.body {
        let Some(label) = variable_label(assignment) else {
            continue;
        };
        if label.0.ends_with(TRITS_SUFFIX) {
            let shape = variable_shape(assignment)
                .with_context(|| format!("variable {} has no literal shape", label.0))?;
            shapes.push((label, shape));
        }
    }
    for (label, shape) in shapes {
        let Some(label) = stored_label(&proto.tensors, &label) else {
            continue;
        };
        let packed = &proto.tensors[&label];
        if packed.datum_type() != u8::datum_type() || packed.rank() != 1 {
            bail!("{} is not a packed ternary tensor", label.0);
        }
        let bytes = packed.try_as_plain_ram()?.as_slice::<u8>()?;
        let len = shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .with_context(|| format!("{}: shape {shape:?} overflows", label.0))?;
        let values = unpack_trits(bytes, len).with_context(|| format!("unpacking {}", label.0))?;
        let unpacked = Tensor::from_shape(&shape, &values)?;
        proto.tensors.insert(label, unpacked.into_arc_tensor());
    }
    Ok(())
}

/// The key `label` is stored under in `tensors`: itself, or without its leading `/` (the
/// tar has no absolute paths: tract's own `variable` looks up both the same way).
fn stored_label(
    tensors: &HashMap<Identifier, Arc<Tensor>>,
    label: &Identifier,
) -> Option<Identifier> {
    if tensors.contains_key(label) {
        return Some(label.clone());
    }
    let relative = Identifier(label.0.trim_start_matches('/').to_owned());
    tensors.contains_key(&relative).then_some(relative)
}

/// The literal `shape` of a `variable` assignment.
fn variable_shape(assignment: &Assignment) -> Option<Vec<usize>> {
    let RValue::Invocation(invocation) = &assignment.right else {
        return None;
    };
    invocation
        .arguments
        .iter()
        .find_map(|argument| match (&argument.id, &argument.rvalue) {
            (Some(id), RValue::Array(dims)) if id.0 == "shape" => dims
                .iter()
                .map(|dim| match dim {
                    RValue::Literal(Literal::Numeric(n)) => n.parse().ok(),
                    _ => None,
                })
                .collect(),
            _ => None,
        })
}

/// Splits `weights` into int8 values and scales such that `f32(q) * scale` is every
/// weight, bit for bit: one scale for the whole tensor, else one per index of some axis
/// (the last axes first: matmul weights are quantized per output channel). Returns the
/// int8 tensor and the scales, shaped `[1, .., n, .., 1]` to broadcast; `None` when no
/// axis gives an exact split (the weights were never int8, or not symmetrically).
pub(crate) fn int8_decomposition(weights: &ArrayViewD<f32>) -> Option<(Tensor, Tensor)> {
    let rank = weights.ndim();
    let whole = weights
        .view()
        .into_shape_with_order(vec![1, weights.len()])
        .ok();
    let per_tensor = whole
        .as_ref()
        .and_then(|view| channel_scales(view, 0))
        .map(|(q, scales)| (q, scales, None));
    let found = per_tensor.or_else(|| {
        (0..rank)
            .rev()
            // A scale per value (a slice of one) would store more than it saves.
            .filter(|&axis| weights.shape()[axis] > 1 && weights.shape()[axis] < weights.len())
            .find_map(|axis| {
                channel_scales(weights, axis).map(|(q, scales)| (q, scales, Some(axis)))
            })
    })?;
    let (q, scales, axis) = found;
    let mut scale_shape = vec![1usize; rank];
    if let Some(axis) = axis {
        scale_shape[axis] = scales.len();
    }
    let q = Tensor::from_shape(weights.shape(), &q).ok()?;
    let scale = Tensor::from_shape(&scale_shape, &scales).ok()?;
    Some((q, scale))
}

/// For each index of `axis`, the scale that makes that slice exactly int8, and the int8
/// values of the whole tensor in its row-major order.
fn channel_scales(weights: &ArrayViewD<f32>, axis: usize) -> Option<(Vec<i8>, Vec<f32>)> {
    let mut q = ArrayD::<i8>::zeros(weights.shape());
    let mut scales = Vec::with_capacity(weights.shape()[axis]);
    for (index, slice) in weights.axis_iter(Axis(axis)).enumerate() {
        let scale = slice_scale(&slice)?;
        let mut out = q.index_axis_mut(Axis(axis), index);
        for (o, w) in out.iter_mut().zip(slice.iter()) {
            *o = (w / scale).round() as i8;
        }
        scales.push(scale);
    }
    Some((q.iter().copied().collect(), scales))
}

/// The scale `s` with `f32(round(w / s)) * s == w` (bitwise) and `round(w / s)` in
/// [-128, 127] for every `w` of `slice`. The largest magnitude itself is tried first, so
/// ternary weights (each -s, 0 or +s) split into -1, 0 and +1 (and are packed); then
/// symmetric quantizers' scales, the largest magnitude over 127 (onnxruntime) or the most
/// negative value over 128 (PyTorch). Else the smallest magnitude is some `k * s`, and `k`
/// from 1 to 128 is tried (a calibrated range need not reach 127). Each candidate give or take 3 units in the last
/// place of f32 rounding; a candidate fails at its first weight that does not fit.
pub(crate) fn slice_scale(slice: &ArrayViewD<f32>) -> Option<f32> {
    let (mut largest, mut most_negative, mut smallest) = (0f32, 0f32, f32::INFINITY);
    for &w in slice.iter() {
        if !w.is_finite() {
            return None;
        }
        largest = largest.max(w.abs());
        most_negative = most_negative.min(w);
        if w != 0.0 {
            smallest = smallest.min(w.abs());
        }
    }
    if largest == 0.0 {
        // All zeros: any scale reproduces them.
        return Some(1.0);
    }
    let fits = |scale: f32| {
        slice.iter().all(|&w| {
            let q = (w / scale).round();
            // Through i8, as the tensor stores it: -0.0 would come back +0.0.
            (-128.0..=127.0).contains(&q) && (f32::from(q as i8) * scale).to_bits() == w.to_bits()
        })
    };
    let usual = [largest, largest / 127.0, -most_negative / 128.0];
    let from_smallest = (1..=128).map(|k| smallest / k as f32);
    usual
        .into_iter()
        .chain(from_smallest)
        .filter(|base| *base > 0.0 && base.is_normal() && largest / base <= 128.5)
        .flat_map(|base| {
            (-3i32..=3).map(move |ulps| f32::from_bits((base.to_bits() as i32 + ulps) as u32))
        })
        .find(|&scale| fits(scale))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_nnef::tract_core::prelude::tract_ndarray::Array2;

    /// Weights as a symmetric per-channel int8 quantizer leaves them: `q * scale[column]`.
    fn quantized(rows: usize, scales: &[f32]) -> Array2<f32> {
        Array2::from_shape_fn((rows, scales.len()), |(r, c)| {
            // Every row range reaches both ends of int8's symmetric range.
            let q = if r == 0 {
                127
            } else if r == 1 {
                -127
            } else {
                ((r * 37 + c * 11) % 255) as i32 - 127
            };
            q as f32 * scales[c]
        })
    }

    #[test]
    fn per_channel_int8_weights_split_exactly() {
        let scales = [0.013f32, 0.0007, 1.5, 0.25];
        let weights = quantized(64, &scales).into_dyn();
        let (q, scale) = int8_decomposition(&weights.view()).expect("splits");
        assert_eq!(q.datum_type(), i8::datum_type());
        assert_eq!(scale.shape(), &[1, 4]);
        let back = q.to_plain_array_view::<i8>().unwrap().mapv(f32::from)
            * &scale.to_plain_array_view::<f32>().unwrap();
        let bits = |a: &ArrayD<f32>| a.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(&weights));
    }

    #[test]
    fn a_range_short_of_127_splits_too() {
        // Calibrated ranges: the largest |q| of a channel is 100, not 127.
        let weights = Array2::from_shape_fn((40, 3), |(r, c)| {
            (r as i32 * 5 - 100) as f32 * [0.01f32, 0.3, 0.0021][c]
        })
        .into_dyn();
        assert!(int8_decomposition(&weights.view()).is_some());
    }

    #[test]
    fn a_column_of_scales_is_not_split_into_itself() {
        // [n, 1] (potion-base-2m's per-row scales): one scale per value would be exact and
        // larger than the f32 tensor.
        let scales = Array2::from_shape_fn((2048, 1), |(r, _)| 0.001 + r as f32 * 1e-5).into_dyn();
        assert!(int8_decomposition(&scales.view()).is_none());
    }

    #[test]
    fn one_scale_for_the_whole_tensor_is_tried_first() {
        let weights = quantized(16, &[0.02; 8]).into_dyn();
        let (_, scale) = int8_decomposition(&weights.view()).expect("splits");
        assert_eq!(scale.shape(), &[1, 1]);
    }

    #[test]
    fn weights_that_were_never_int8_stay_f32() {
        let weights =
            Array2::from_shape_fn((32, 32), |(r, c)| ((r * 32 + c) as f32).sqrt()).into_dyn();
        assert!(int8_decomposition(&weights.view()).is_none());
        let mut with_nan = quantized(8, &[0.5; 4]).into_dyn();
        with_nan[[3, 1]] = f32::NAN;
        assert!(int8_decomposition(&with_nan.view()).is_none());
    }

    #[test]
    fn trits_pack_five_to_a_byte_and_unpack_exactly() {
        for len in 0..=23usize {
            let values: Vec<i8> = (0..len).map(|i| ((i * 7 + len) % 3) as i8 - 1).collect();
            let packed = pack_trits(&values);
            assert_eq!(packed.len(), len.div_ceil(5));
            assert_eq!(unpack_trits(&packed, len).unwrap(), values, "{len} values");
        }
        // Every byte a packing can make: 0 (five -1s) to 242 (five +1s).
        assert_eq!(pack_trits(&[-1; 5]), [0]);
        assert_eq!(pack_trits(&[1; 5]), [242]);
    }

    #[test]
    fn damaged_trits_are_an_error() {
        assert!(unpack_trits(&[243], 5).is_err());
        assert!(unpack_trits(&[0, 0], 5).is_err(), "one byte too many");
        assert!(unpack_trits(&[0], 6).is_err(), "one byte too few");
    }

    /// A graph `x + w` with `w` ternary times one scale per column.
    fn ternary_graph(rows: usize, scales: &[f32]) -> TypedModel {
        let weights = Array2::from_shape_fn((rows, scales.len()), |(r, c)| {
            ((r * 5 + c * 3) % 3) as f32 - 1.0
        }) * tract_ndarray::Array1::from(scales.to_vec());
        let mut model = TypedModel::default();
        let x = model
            .add_source("x", f32::fact([rows, scales.len()]))
            .unwrap();
        // Named as ONNX names nodes: the label is an absolute path, the tar entry not.
        let w = model
            .add_const("/layer/w", weights.into_dyn().into_tensor())
            .unwrap();
        let sum = model
            .wire_node("sum", tract_nnef::tract_core::ops::math::add(), &[x, w])
            .unwrap();
        model.select_output_outlets(&sum).unwrap();
        model
    }

    #[test]
    fn ternary_weights_are_packed_and_read_back_bit_for_bit() {
        let model = ternary_graph(256, &[0.013, 0.25, 1.5, 0.0007]);
        let (tar, report) = write(&model).unwrap();
        assert_eq!((report.int8_tensors, report.ternary_tensors), (1, 1));
        let mut entries = tar::Archive::new(&*tar);
        let packed = entries
            .entries()
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.path().unwrap().to_string_lossy().ends_with(".trits.dat"))
            .expect("a packed tensor in the tar");
        // 1,024 values in 205 bytes, after tract's 128-byte tensor header.
        assert_eq!(packed.header().size().unwrap(), 128 + 205);
        let read_back = read(&tar).unwrap().into_runnable().unwrap();
        let original = model.into_runnable().unwrap();
        let input = Tensor::from_shape(&[256, 4], &vec![0.5f32; 1024]).unwrap();
        let (a, b) = (
            original.run(tvec!(input.clone().into())).unwrap(),
            read_back.run(tvec!(input.into())).unwrap(),
        );
        let bits = |t: &TValue| {
            t.to_plain_array_view::<f32>()
                .unwrap()
                .iter()
                .map(|x| x.to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&a[0]), bits(&b[0]));
    }

    #[test]
    fn a_damaged_packed_tensor_is_an_error_not_a_panic() {
        let (tar, _) = write(&ternary_graph(256, &[0.5; 4])).unwrap();
        let mut archive = tar::Archive::new(&*tar);
        let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            entries.push((path, data));
        }
        let rebuilt = |damage: &dyn Fn(&mut Vec<u8>)| {
            let mut out = tar::Builder::new(Vec::new());
            for (path, data) in &entries {
                let mut data = data.clone();
                if path.ends_with(".trits.dat") {
                    damage(&mut data);
                }
                let mut header = tar::Header::new_gnu();
                header.set_path(path).unwrap();
                header.set_size(data.len() as u64);
                header.set_cksum();
                out.append(&header, &*data).unwrap();
            }
            out.into_inner().unwrap()
        };
        // A byte that is not five base-3 digits, after the 128-byte header.
        let bad_byte = rebuilt(&|data| data[128] = 250);
        let error = read(&bad_byte).expect_err("refused");
        assert!(format!("{error:#}").contains("base-3"), "{error:#}");
        // The last byte cut off: the tensor file no longer holds what its header says.
        assert!(read(&rebuilt(&|data| {
            data.pop();
        }))
        .is_err());
    }

    #[test]
    fn negative_zero_is_not_rebuilt_as_positive_zero() {
        // int8 has no -0: a -0.0 weight would come back +0.0, so the split is refused.
        let mut weights = quantized(8, &[0.5; 4]).into_dyn();
        weights[[2, 2]] = -0.0;
        assert!(int8_decomposition(&weights.view()).is_none());
    }
}
