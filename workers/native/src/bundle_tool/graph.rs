//! What a user's ONNX graph takes and gives, read from its protobuf: the inputs mapped
//! onto the roles the core feeds (`input_ids`, `attention_mask`, `token_type_ids`, by
//! name) and the output holding the logits.

use anyhow::{bail, Result};
use prost::Message;
use tract_onnx::pb::ModelProto;
use triage_core::manifest::Inputs;

/// The graph's inputs (initializers excluded: old exporters list weights as inputs too)
/// and outputs, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphIo {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

/// Decodes an ONNX file's protobuf.
///
/// Errors: the bytes are not an ONNX model, or it has no graph.
pub fn decode(bytes: &[u8]) -> Result<ModelProto> {
    let model = ModelProto::decode(bytes)
        .map_err(|e| anyhow::anyhow!("not an ONNX model (protobuf: {e})"))?;
    if model.graph.is_none() {
        bail!("the ONNX model has no graph");
    }
    Ok(model)
}

/// The inputs and outputs of `model`'s graph.
pub fn io(model: &ModelProto) -> GraphIo {
    let Some(graph) = model.graph.as_ref() else {
        return GraphIo {
            inputs: Vec::new(),
            outputs: Vec::new(),
        };
    };
    let weights: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    GraphIo {
        inputs: graph
            .input
            .iter()
            .map(|i| i.name.clone())
            .filter(|name| !weights.contains(name.as_str()))
            .collect(),
        outputs: graph.output.iter().map(|o| o.name.clone()).collect(),
    }
}

/// Maps every graph input onto a role by its name, as Hugging Face exports name them.
///
/// Errors: an input that is none of the three (naming it), or no `input_ids`.
pub fn map_inputs(io: &GraphIo) -> Result<Inputs> {
    let mut inputs = Inputs {
        input_ids: String::new(),
        attention_mask: None,
        token_type_ids: None,
    };
    for name in &io.inputs {
        match name.as_str() {
            "input_ids" => inputs.input_ids = name.clone(),
            "attention_mask" => inputs.attention_mask = Some(name.clone()),
            "token_type_ids" => inputs.token_type_ids = Some(name.clone()),
            other => bail!(
                "graph input `{other}` is not input_ids, attention_mask or token_type_ids: \
                 the worker feeds only those (rename it when exporting, or remove it)"
            ),
        }
    }
    if inputs.input_ids.is_empty() {
        bail!(
            "the graph has no `input_ids` input (its inputs: {})",
            io.inputs.join(", ")
        );
    }
    Ok(inputs)
}

/// The output holding the logits: `wanted` if given, the only output, or the one named
/// `logits`.
///
/// Errors: `wanted` is not an output, or there are several and none is `logits`.
pub fn pick_output(io: &GraphIo, wanted: Option<&str>) -> Result<String> {
    if let Some(wanted) = wanted {
        if io.outputs.iter().any(|o| o == wanted) {
            return Ok(wanted.to_owned());
        }
        bail!(
            "the graph has no output `{wanted}` (its outputs: {})",
            io.outputs.join(", ")
        );
    }
    match io.outputs.as_slice() {
        [only] => Ok(only.clone()),
        many if many.iter().any(|o| o == "logits") => Ok("logits".into()),
        many => bail!(
            "the graph has {} outputs ({}); choose the logits with --output",
            many.len(),
            many.join(", ")
        ),
    }
}
