//! Request and response bodies of the HTTP contract (see `openapi.json`).

use serde::{Deserialize, Serialize};

use crate::engine::budget::Budgets;
use crate::engine::classify::Classification;
use crate::engine::classify::LabelSpec;
use crate::engine::manifest::{Manifest, Task};
use crate::engine::memory::MemoryEstimate;
use crate::http::hybrid::escalation::Provenance;
#[cfg(feature = "parse")]
use crate::http::hybrid::parse_escalation::ParseProvenance;
use crate::http::problem::Problem;
#[cfg(feature = "parse")]
use crate::parse::{schema::SchemaBudgets, Parsed};

/// `POST /v1/classify` body: exactly one of `text` or `texts`; optionally `model`, the
/// name of the classifier to answer (default: the deployment's default model), or
/// `labels` to choose among instead of a classifier's.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifyRequest {
    pub text: Option<String>,
    pub texts: Option<Vec<String>>,
    pub labels: Option<Vec<LabelInput>>,
    pub model: Option<String>,
}

/// An ad-hoc label: its name alone, or with a description and example texts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum LabelInput {
    Name(String),
    Described(LabelSpec),
}

impl LabelInput {
    /// The label as the decoder reads it.
    pub fn into_spec(self) -> LabelSpec {
        match self {
            LabelInput::Name(label) => LabelSpec {
                label,
                description: None,
                examples: Vec::new(),
            },
            LabelInput::Described(spec) => spec,
        }
    }
}

/// `POST /v1/parse` body: the text, and a JSON Schema or the name of a configured one.
/// The schema stays raw until its size is checked against the schema budget.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParseRequest {
    pub text: String,
    pub schema: Box<serde_json::value::RawValue>,
    pub threshold: Option<f32>,
    /// Which model writes the object: `embedding` (the default, the fast decoder) or
    /// `generate` (the generative model under the schema's grammar, feature `generate`).
    pub decoder: Option<Decoder>,
}

/// The parse decoders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decoder {
    /// Fields decoded by the embedding model from the text's spans (`triage_core::parse`).
    #[default]
    Embedding,
    /// The object written by the generative model, constrained by the schema.
    Generate,
}

/// Answer to `POST /v1/parse`.
#[cfg(feature = "parse")]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParseResponse {
    pub model: ModelRef,
    /// The schema's name, when the request named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    #[serde(flatten)]
    pub parsed: Parsed,
    /// `source`: `local` (the edge model's answer, with `escalation` when one failed) or
    /// `remote` (completed by the parse escalation endpoint).
    #[serde(flatten)]
    pub provenance: ParseProvenance,
}

/// Which model answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelRef {
    pub name: String,
    pub version: String,
}

impl From<&Manifest> for ModelRef {
    fn from(manifest: &Manifest) -> Self {
        ModelRef {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
        }
    }
}

/// One text's answer: its classification and where that came from (`source`: `local`,
/// or `remote` when an unsure answer was escalated; see [`crate::http::hybrid::escalation`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    #[serde(flatten)]
    pub result: Classification,
    #[serde(flatten)]
    pub provenance: Provenance,
}

impl Answer {
    /// The edge model's answer, with no escalation tried.
    pub fn local(result: Classification) -> Answer {
        Answer {
            result,
            provenance: Provenance::Local { escalation: None },
        }
    }
}

/// Answer to a single-text request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassifyResponse {
    pub model: ModelRef,
    #[serde(flatten)]
    pub answer: Answer,
}

/// Answer to a batch request, results in request order. Batches are answered by the edge
/// model alone: escalating each unsure text would put one round trip per text in the
/// request; send single texts to have them escalated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassifyBatchResponse {
    pub model: ModelRef,
    pub results: Vec<Answer>,
}

/// One loaded model, as `GET /v1/models` describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSummary {
    pub name: String,
    pub version: String,
    pub task: Task,
    pub labels: Vec<String>,
    pub max_tokens: usize,
    pub threshold: f32,
    /// The manifest's `max_unknown_share`: a window at least this share [UNK] is never
    /// confident.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_unknown_share: Option<f32>,
    /// sha256 of the model file, so a client can tell which weights answered.
    pub sha256: String,
    /// This model's worst case under the deployment's budgets: what it keeps resident,
    /// and the largest request it may serve (estimated, [`MemoryEstimate`]).
    pub memory: MemoryEstimate,
}

impl ModelSummary {
    /// The summary of a loaded model: its manifest and its memory estimate.
    pub fn new(manifest: &Manifest, memory: MemoryEstimate) -> Self {
        ModelSummary {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            task: manifest.task,
            labels: manifest.labels.clone(),
            max_tokens: manifest.max_tokens,
            threshold: manifest.threshold,
            max_unknown_share: manifest.max_unknown_share,
            sha256: manifest.files.model.sha256.clone(),
            memory,
        }
    }
}

/// A model the deployment names but could not load, and why (the problem its requests
/// answer).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnavailableModel {
    pub name: String,
    pub problem: Problem,
}

/// Memory as the worker sees it: the estimate is for every loaded model together (all
/// resident, one request at a time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemoryReport {
    #[serde(flatten)]
    pub estimate: MemoryEstimate,
    /// The memory budget the estimate was checked against.
    pub budget_bytes: usize,
    /// Memory in use now where the runtime can tell (wasm linear memory size); else null.
    pub current_bytes: Option<usize>,
}

/// `GET /v1/models` body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelsResponse {
    /// The classifier that answers requests naming no `model`.
    pub default: String,
    /// Every classifier the deployment serves, in the order configured, then the
    /// embedding model when one is loaded.
    pub models: Vec<ModelSummary>,
    /// Classifiers the deployment names but could not load (left out when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<UnavailableModel>,
    pub budgets: Budgets,
    pub memory: MemoryReport,
    /// What `/v1/parse` offers, when an embedding model is loaded.
    #[cfg(feature = "parse")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parse: Option<ParseInfo>,
    /// The generative model behind `/v1/generate`, once loaded (feature `generate`).
    #[cfg(feature = "generate")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generate: Option<crate::http::generate_routes::GenerateInfo>,
}

/// The schemas `/v1/parse` knows by name and the budgets any schema must fit.
#[cfg(feature = "parse")]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParseInfo {
    /// The embedding model that decodes fields and ad-hoc labels.
    pub model: ModelRef,
    pub schemas: Vec<String>,
    pub budgets: SchemaBudgets,
    /// Compiled schemas kept per process or isolate (least recently used evicted).
    pub cache_entries: usize,
}

/// `GET /healthz` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    pub status: &'static str,
    pub model: ModelRef,
}
