//! Weight-only int8: every large float matrix a `MatMul`, `Gemm` or `Gather` (embedding
//! table) reads is stored as int8 with one symmetric scale per output channel (per row of
//! an embedding table), behind a `DequantizeLinear` that restores the original name.
//! Compute stays f32: tract folds the dequantization into constants at load, so the file
//! is about 4x smaller and inference as fast as f32. The same scheme as spam-mini's
//! build (models/spam-mini/scripts/export.py, `quantize_weights`).

use std::collections::HashMap;

use anyhow::{bail, Result};
use tract_onnx::pb::{tensor_proto::DataType, AttributeProto, ModelProto, NodeProto, TensorProto};

/// Matrices with fewer elements stay float: their scales would cost more than they save.
pub const MIN_ELEMENTS: usize = 1024;

/// Quantizes `model`'s weights in place; returns how many tensors were.
///
/// Errors: a weight stored outside the file (external data), which this tool does not read.
pub fn quantize(model: &mut ModelProto) -> Result<usize> {
    // DequantizeLinear with `axis` (per channel) needs opset 13.
    if let Some(opset) = model
        .opset_import
        .iter()
        .find(|opset| opset.domain.is_empty() && opset.version < 13)
    {
        bail!(
            "the graph is opset {}; per-channel DequantizeLinear needs 13 or later: \
             export with a newer opset",
            opset.version
        );
    }
    let Some(graph) = model.graph.as_mut() else {
        return Ok(0);
    };
    // How each initializer is read: (op type, input slot, node index).
    let mut uses: HashMap<String, Vec<(String, usize, usize)>> = HashMap::new();
    for (index, node) in graph.node.iter().enumerate() {
        for (slot, name) in node.input.iter().enumerate() {
            uses.entry(name.clone())
                .or_default()
                .push((node.op_type.clone(), slot, index));
        }
    }
    let mut kept = Vec::new();
    let mut dequantize = Vec::new();
    for tensor in std::mem::take(&mut graph.initializer) {
        let axis = match float_matrix(&tensor)? {
            Some(_) => channel_axis(graph.node.as_slice(), uses.get(&tensor.name)),
            None => None,
        };
        let (Some(axis), Some(weights)) = (axis, float_matrix(&tensor)?) else {
            kept.push(tensor);
            continue;
        };
        let (rows, cols) = (tensor.dims[0] as usize, tensor.dims[1] as usize);
        let channels = if axis == 0 { rows } else { cols };
        let mut scales = vec![0f32; channels];
        for (i, w) in weights.iter().enumerate() {
            let channel = if axis == 0 { i / cols } else { i % cols };
            scales[channel] = scales[channel].max(w.abs());
        }
        for scale in &mut scales {
            *scale = if *scale == 0.0 { 1.0 } else { *scale / 127.0 };
        }
        let quantized: Vec<u8> = weights
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let channel = if axis == 0 { i / cols } else { i % cols };
                (w / scales[channel]).round().clamp(-127.0, 127.0) as i8 as u8
            })
            .collect();
        let name = tensor.name.clone();
        kept.push(raw_tensor(
            &format!("{name}_int8"),
            &tensor.dims,
            DataType::Int8,
            quantized,
        ));
        kept.push(raw_tensor(
            &format!("{name}_scale"),
            &[channels as i64],
            DataType::Float,
            scales.iter().flat_map(|s| s.to_le_bytes()).collect(),
        ));
        kept.push(raw_tensor(
            &format!("{name}_zero"),
            &[channels as i64],
            DataType::Int8,
            vec![0; channels],
        ));
        dequantize.push(NodeProto {
            input: vec![
                format!("{name}_int8"),
                format!("{name}_scale"),
                format!("{name}_zero"),
            ],
            output: vec![name.clone()],
            name: format!("{name}_dequantize"),
            op_type: "DequantizeLinear".into(),
            attribute: vec![AttributeProto {
                name: "axis".into(),
                i: axis as i64,
                r#type: tract_onnx::pb::attribute_proto::AttributeType::Int as i32,
                ..AttributeProto::default()
            }],
            ..NodeProto::default()
        });
    }
    let count = dequantize.len();
    graph.initializer = kept;
    dequantize.append(&mut graph.node);
    graph.node = dequantize;
    Ok(count)
}

/// The values of a 2-D float initializer of at least [`MIN_ELEMENTS`], stored in the file.
fn float_matrix(tensor: &TensorProto) -> Result<Option<Vec<f32>>> {
    if tensor.data_type != DataType::Float as i32 || tensor.dims.len() != 2 {
        return Ok(None);
    }
    if !tensor.external_data.is_empty() {
        bail!(
            "weight `{}` is stored in an external file; save the model as one file \
             (onnx.save(model, path, save_as_external_data=False))",
            tensor.name
        );
    }
    let count = tensor.dims.iter().product::<i64>().max(0) as usize;
    if count < MIN_ELEMENTS {
        return Ok(None);
    }
    let values: Vec<f32> = if !tensor.raw_data.is_empty() {
        tensor
            .raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    } else {
        tensor.float_data.clone()
    };
    Ok((values.len() == count).then_some(values))
}

/// The output-channel axis of a matrix every use of which is a weight: `MatMul` input 1
/// (`[in, out]`: axis 1), `Gemm` input 1 (axis 0 when `transB`, else 1), `Gather` input 0
/// (an embedding table: one scale per row). `None` when any use is something else.
fn channel_axis(nodes: &[NodeProto], uses: Option<&Vec<(String, usize, usize)>>) -> Option<usize> {
    let uses = uses.filter(|uses| !uses.is_empty())?;
    let axes: Vec<Option<usize>> = uses
        .iter()
        .map(|(op, slot, index)| match (op.as_str(), slot) {
            ("MatMul", 1) => Some(1),
            ("Gather", 0) => Some(0),
            ("Gemm", 1) => {
                let trans_b = nodes[*index]
                    .attribute
                    .iter()
                    .find(|a| a.name == "transB")
                    .is_some_and(|a| a.i != 0);
                Some(if trans_b { 0 } else { 1 })
            }
            _ => None,
        })
        .collect();
    let first = axes[0]?;
    axes.iter()
        .all(|axis| *axis == Some(first))
        .then_some(first)
}

fn raw_tensor(name: &str, dims: &[i64], data_type: DataType, raw_data: Vec<u8>) -> TensorProto {
    TensorProto {
        name: name.to_owned(),
        dims: dims.to_vec(),
        data_type: data_type as i32,
        raw_data,
        ..TensorProto::default()
    }
}
