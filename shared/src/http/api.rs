//! Request and response bodies of the HTTP contract (see `openapi.json`).

use serde::{Deserialize, Serialize};

use crate::budget::Budgets;
use crate::classify::Classification;
use crate::escalation::Provenance;
use crate::manifest::{Manifest, Task};
use crate::memory::MemoryEstimate;

/// `POST /v1/classify` body: exactly one of `text` or `texts`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifyRequest {
    pub text: Option<String>,
    pub texts: Option<Vec<String>>,
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
/// or `remote` when an unsure answer was escalated; see [`crate::escalation`]).
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
    /// sha256 of the model file, so a client can tell which weights answered.
    pub sha256: String,
}

impl From<&Manifest> for ModelSummary {
    fn from(manifest: &Manifest) -> Self {
        ModelSummary {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            task: manifest.task,
            labels: manifest.labels.clone(),
            max_tokens: manifest.max_tokens,
            threshold: manifest.threshold,
            sha256: manifest.files.model.sha256.clone(),
        }
    }
}

/// Memory as the worker sees it.
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
    pub models: Vec<ModelSummary>,
    pub budgets: Budgets,
    pub memory: MemoryReport,
}

/// `GET /healthz` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    pub status: &'static str,
    pub model: ModelRef,
}
