//! The ONNX front-end (feature `onnx`): an ONNX file read by tract-onnx into the typed graph
//! the rest of the engine runs, and its conversion to the NNEF bundles workers load.

use tract_onnx::prelude::*;

use crate::engine::manifest::Manifest;
use crate::engine::model::{input_role, select_output, SEQUENCE};
use crate::engine::nnef::{self, WriteReport};
use crate::error::{Result, TriageError};

/// Reads ONNX bytes into a typed graph (not yet decluttered): every input fixed to
/// `i64[1, S]` (`S` the symbolic sequence length), only the manifest's output kept.
///
/// Errors: [`TriageError::Model`] for a file tract cannot read or type, a graph input the
/// manifest does not name, or no output of the manifest's name.
pub(crate) fn typed(manifest: &Manifest, bytes: &[u8]) -> Result<TypedModel> {
    let fail = |reason: String| TriageError::Model {
        file: manifest.files.model.path.clone(),
        reason,
    };
    let mut model = tract_onnx::onnx()
        .with_ignore_output_shapes(true)
        .with_ignore_value_info(true)
        .model_for_read(&mut &*bytes)
        .map_err(|e| fail(format!("{e:#}")))?;
    let sequence = model.sym(SEQUENCE);
    let fact = InferenceFact::dt_shape(i64::datum_type(), tvec![1.to_dim(), sequence.to_dim()]);
    let inputs = model
        .input_outlets()
        .map_err(|e| fail(e.to_string()))?
        .to_vec();
    for (slot, outlet) in inputs.iter().enumerate() {
        let name = model.node(outlet.node).name.as_str();
        if input_role(manifest, name).is_none() {
            return Err(fail(format!(
                "graph input `{name}` is not named in the manifest"
            )));
        }
        model
            .set_input_fact(slot, fact.clone())
            .map_err(|e| fail(e.to_string()))?;
    }
    select_output(manifest, &mut model).map_err(fail)?;
    model.into_typed().map_err(|e| fail(format!("{e:#}")))
}

/// Converts a bundle's ONNX model to the NNEF workers load (`format: "nnef"`): read as
/// [`typed`] does, decluttered, written with int8 weights at rest ([`nnef::write`]).
/// Loading the result serves the same scores, bit for bit, as loading the ONNX file.
///
/// Errors: [`TriageError::Model`] as for [`typed`], or an op tract cannot write to NNEF.
pub fn to_nnef(manifest: &Manifest, onnx: &[u8]) -> Result<(Vec<u8>, WriteReport)> {
    let fail = |e: TractError| TriageError::Model {
        file: manifest.files.model.path.clone(),
        reason: format!("{e:#}"),
    };
    let decluttered = typed(manifest, onnx)?.into_decluttered().map_err(fail)?;
    nnef::write(&decluttered).map_err(fail)
}
