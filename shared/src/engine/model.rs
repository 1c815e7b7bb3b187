//! The tract side: a token-sequence model read (NNEF, or ONNX through [`super::onnx`]) and
//! optimised once, then run per text.

use tract_nnef::tract_core::ops::array::Gather;
use tract_nnef::tract_core::ops::konst::Const;
use tract_nnef::tract_core::prelude::*;

use crate::engine::int_matmul::{self, Int8MatMul, MatMulKernels};
use crate::engine::manifest::{Manifest, ModelFormat};
use crate::error::{Result, TriageError};

/// Symbol for the sequence length, left symbolic so one plan serves every text length.
pub(crate) const SEQUENCE: &str = "S";

/// An optimised, runnable sequence model: `i64[1, S]` inputs to one `f32[1, N]` output.
#[derive(Debug)]
pub struct SequenceModel {
    plan: Arc<TypedRunnableModel>,
    roles: Vec<InputRole>,
    sequence: Symbol,
    weight_bytes: usize,
    /// Bytes of every intermediate tensor of one run, in terms of the sequence length.
    activation_bytes: TDim,
    embedding_rows: Option<usize>,
}

/// Where the time of [`SequenceModel::load_timed`] went, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GraphTimings {
    /// Reading the file into a typed graph: NNEF's text and tensors (and, for the first
    /// model of a process or isolate, tract's NNEF framework), the int8 weights decoded;
    /// or ONNX's protobuf, and typing it.
    pub read_ms: f64,
    /// tract's decluttering passes (most of an ONNX graph's load; an NNEF graph's are
    /// NNEF's own rewrites undone).
    pub declutter_ms: f64,
    /// tract's codegen, sizing the weights and activations for the memory estimate, and
    /// planning.
    pub optimize_ms: f64,
}

/// What to feed each graph input, in the graph's input order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InputRole {
    Ids,
    Ones,
    Zeros,
}

impl SequenceModel {
    /// Reads a model file in the manifest's format (NNEF, or ONNX with feature `onnx`),
    /// checks its inputs are `i64[1, S]` named in the manifest, keeps only the manifest's
    /// output and optimises. This is the expensive step: do it once per process or isolate.
    pub fn load(manifest: &Manifest, bytes: &[u8]) -> Result<SequenceModel> {
        SequenceModel::load_timed(manifest, bytes).map(|(model, _)| model)
    }

    /// [`SequenceModel::load`], and where its time went.
    pub fn load_timed(manifest: &Manifest, bytes: &[u8]) -> Result<(SequenceModel, GraphTimings)> {
        SequenceModel::load_with(manifest, bytes, MatMulKernels::for_this_build())
    }

    /// [`SequenceModel::load_timed`] with the matmul kernels chosen by the caller (tests
    /// and benchmarks run the wasm builds' [`MatMulKernels::Int8`] natively too).
    pub fn load_with(
        manifest: &Manifest,
        bytes: &[u8],
        kernels: MatMulKernels,
    ) -> Result<(SequenceModel, GraphTimings)> {
        let started = web_time::Instant::now();
        let fail = |reason: String| TriageError::Model {
            file: manifest.files.model.path.clone(),
            reason,
        };
        let mut typed = match manifest.format {
            ModelFormat::Nnef => {
                crate::engine::nnef::read(bytes).map_err(|e| fail(format!("{e:#}")))?
            }
            #[cfg(feature = "onnx")]
            ModelFormat::Onnx => crate::engine::onnx::typed(manifest, bytes)?,
            #[cfg(not(feature = "onnx"))]
            ModelFormat::Onnx => {
                return Err(TriageError::Config(format!(
                    "model `{}` is ONNX, and this build reads NNEF only (triage-core's \
                     feature `onnx` is off); convert the bundle with `triage convert DIR`",
                    manifest.files.model.path
                )))
            }
        };
        let sequence = typed.symbols.sym(SEQUENCE);
        let roles = input_roles(manifest, &typed, &sequence).map_err(fail)?;
        select_output(manifest, &mut typed).map_err(fail)?;
        let embedding_rows = typed
            .input_outlets()
            .map_err(|e| fail(e.to_string()))?
            .iter()
            .find(|o| typed.node(o.node).name == manifest.inputs.input_ids)
            .and_then(|&ids| embedding_rows(&typed, ids));
        let typed_at = web_time::Instant::now();
        // NNEF graphs were decluttered when written, but NNEF's own rewrites (matmuls
        // with ranks made equal, einsums as prefix matmuls) leave 25 more nodes that
        // decluttering folds again: a plan 4-5% slower and 50% more activation bytes
        // without it. Natively it costs 14 ms (bench/RESULTS.md, 2026-12-01).
        typed.declutter().map_err(|e| fail(format!("{e:#}")))?;
        if kernels == MatMulKernels::Int8 {
            int_matmul::rewrite(&mut typed).map_err(|e| fail(format!("{e:#}")))?;
        }
        let decluttered_at = web_time::Instant::now();
        let mut optimized = typed;
        optimized.optimize().map_err(|e| fail(format!("{e:#}")))?;
        let weight_bytes = constant_bytes(&optimized);
        let activation_bytes = activation_expression(&optimized, &sequence);
        let plan = optimized
            .into_runnable()
            .map_err(|e| fail(format!("{e:#}")))?;
        let planned = web_time::Instant::now();
        let model = SequenceModel {
            plan,
            roles,
            sequence,
            weight_bytes,
            activation_bytes,
            embedding_rows,
        };
        let ms =
            |from: web_time::Instant, to: web_time::Instant| (to - from).as_secs_f64() * 1000.0;
        let timings = GraphTimings {
            read_ms: ms(started, typed_at),
            declutter_ms: ms(typed_at, decluttered_at),
            optimize_ms: ms(decluttered_at, planned),
        };
        Ok((model, timings))
    }

    /// How many token ids the model's embedding table has rows for, when the graph looks
    /// them up with a `Gather` of known size (ids at or past it would make tract panic).
    pub fn embedding_rows(&self) -> Option<usize> {
        self.embedding_rows
    }

    /// Runs the model on one sequence of token ids and returns its output row.
    pub fn run(&self, ids: &[i64]) -> Result<Vec<f32>> {
        let inputs = self.inputs(ids)?;
        let outputs = self.plan.run(inputs).map_err(inference_error)?;
        output_row(&outputs)
    }

    /// The graph inputs for one sequence of token ids, in the graph's input order (what
    /// [`SequenceModel::run`] feeds the plan; public for profilers driving [`Self::plan`]).
    pub fn inputs(&self, ids: &[i64]) -> Result<TVec<TValue>> {
        if ids.is_empty() {
            return Err(TriageError::Encode("text produced no tokens".into()));
        }
        let shape = [1, ids.len()];
        let mut inputs: TVec<TValue> = tvec![];
        for role in &self.roles {
            let tensor = match role {
                InputRole::Ids => Tensor::from_shape(&shape, ids),
                InputRole::Ones => Tensor::from_shape(&shape, &vec![1i64; ids.len()]),
                InputRole::Zeros => Tensor::from_shape(&shape, &vec![0i64; ids.len()]),
            }
            .map_err(inference_error)?;
            inputs.push(tensor.into_tvalue());
        }
        Ok(inputs)
    }

    /// The optimised tract plan, for tools that time it node by node (`bench/engine`).
    pub fn plan(&self) -> &Arc<TypedRunnableModel> {
        &self.plan
    }

    /// Bytes held by the optimised model's constants (weights, tables).
    pub fn weight_bytes(&self) -> usize {
        self.weight_bytes
    }

    /// Upper bound on the bytes of intermediate tensors for one run of `tokens` tokens:
    /// the sum of every node output, as if none were freed early. The sum is built once at
    /// load, so this only evaluates it (a pre-initialised instance calls it at start-up).
    pub fn activation_bytes(&self, tokens: usize) -> usize {
        let values = SymbolValues::default().with(&self.sequence, tokens as i64);
        self.activation_bytes
            .eval_to_i64(&values)
            .map_or(0, |bytes| bytes.max(0) as usize)
    }
}

/// The bytes of every non-constant node output, summed into one expression of the sequence
/// length. Outputs whose size depends on anything else are left out, as unknowable here.
fn activation_expression(model: &TypedModel, sequence: &Symbol) -> TDim {
    model
        .nodes()
        .iter()
        .filter(|node| node.op_as::<Const>().is_none())
        .flat_map(|node| node.outputs.iter())
        .filter_map(|output| {
            let volume = output.fact.shape.volume();
            let only_sequence = volume.symbols().iter().all(|symbol| symbol == sequence);
            only_sequence.then(|| volume * output.fact.datum_type.size_of() as i64)
        })
        .sum::<TDim>()
        .simplify()
}

fn inference_error(e: TractError) -> TriageError {
    TriageError::Inference(format!("{e:#}"))
}

/// The first output of a run as a plain row of scores.
fn output_row(outputs: &[TValue]) -> Result<Vec<f32>> {
    Ok(outputs
        .first()
        .ok_or_else(|| TriageError::Inference("model returned no output".into()))?
        .to_plain_array_view::<f32>()
        .map_err(inference_error)?
        .iter()
        .copied()
        .collect())
}

/// What each graph input is fed, in the graph's input order. Every input must be named in
/// the manifest and be `i64[1, S]`; the ids input must be there.
fn input_roles(
    manifest: &Manifest,
    model: &TypedModel,
    sequence: &Symbol,
) -> std::result::Result<Vec<InputRole>, String> {
    let wanted = TypedFact::dt_shape(i64::datum_type(), [1.to_dim(), sequence.to_dim()]);
    let mut roles = Vec::new();
    for outlet in model.input_outlets().map_err(|e| e.to_string())? {
        let name = model.node(outlet.node).name.as_str();
        let role = input_role(manifest, name)
            .ok_or_else(|| format!("graph input `{name}` is not named in the manifest"))?;
        let fact = model.outlet_fact(*outlet).map_err(|e| e.to_string())?;
        if fact.datum_type != wanted.datum_type || fact.shape != wanted.shape {
            return Err(format!(
                "graph input `{name}` is {fact:?}; expected i64 of shape [1, {SEQUENCE}]"
            ));
        }
        roles.push(role);
    }
    if !roles.contains(&InputRole::Ids) {
        return Err(format!(
            "graph has no input named `{}`",
            manifest.inputs.input_ids
        ));
    }
    Ok(roles)
}

/// Keeps only the graph output the manifest names (by label or node name): of a typed
/// graph here, of an ONNX one before typing ([`super::onnx`]).
pub(crate) fn select_output<F, O>(
    manifest: &Manifest,
    model: &mut Graph<F, O>,
) -> std::result::Result<(), String>
where
    F: Fact + Clone + 'static,
    O: std::fmt::Debug + std::fmt::Display + AsRef<dyn Op> + AsMut<dyn Op> + Clone + 'static,
{
    let wanted = &manifest.output.name;
    let outputs = model.output_outlets().map_err(|e| e.to_string())?.to_vec();
    let output = outputs
        .iter()
        .copied()
        .find(|o| {
            model.outlet_label(*o) == Some(wanted.as_str()) || model.node(o.node).name == *wanted
        })
        .ok_or_else(|| format!("graph has no output named `{wanted}`"))?;
    model
        .select_output_outlets(&[output])
        .map_err(|e| e.to_string())
}

/// The role of the graph input `name` under the manifest, if it names it.
pub(crate) fn input_role(manifest: &Manifest, name: &str) -> Option<InputRole> {
    let inputs = &manifest.inputs;
    if inputs.input_ids == name {
        Some(InputRole::Ids)
    } else if inputs.attention_mask.as_deref() == Some(name) {
        Some(InputRole::Ones)
    } else if inputs.token_type_ids.as_deref() == Some(name) {
        Some(InputRole::Zeros)
    } else {
        None
    }
}

fn constant_bytes(model: &TypedModel) -> usize {
    let constants: usize = model
        .nodes()
        .iter()
        .filter_map(|node| node.op_as::<Const>())
        .map(|konst| konst.val().len() * konst.val().datum_type().size_of())
        .sum();
    let int8_weights: usize = model
        .nodes()
        .iter()
        .filter_map(|node| node.op_as::<Int8MatMul>())
        .map(Int8MatMul::weight_bytes)
        .sum();
    constants + int8_weights
}

/// Rows of the table the token ids index: the `Gather` fed by the ids input, directly or
/// through single-input nodes (casts), when its size is known.
fn embedding_rows(model: &TypedModel, ids: OutletId) -> Option<usize> {
    model.nodes().iter().find_map(|node| {
        let gather = node.op_as::<Gather>()?;
        if !fed_by(model, *node.inputs.get(1)?, ids) {
            return None;
        }
        let table = model.outlet_fact(*node.inputs.first()?).ok()?;
        table
            .shape
            .get(gather.axis)?
            .as_i64()
            .and_then(|rows| usize::try_from(rows).ok())
    })
}

/// Whether `outlet` is `source`, or comes from it through a few single-input nodes.
fn fed_by(model: &TypedModel, mut outlet: OutletId, source: OutletId) -> bool {
    for _ in 0..4 {
        if outlet == source {
            return true;
        }
        match model.node(outlet.node).inputs.as_slice() {
            [single] => outlet = *single,
            _ => return false,
        }
    }
    false
}
