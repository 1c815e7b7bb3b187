//! The model manifest: what a bundle holds and how to run it. It is plain JSON so that
//! the Python build scripts write it and any adapter can read it.

use serde::{Deserialize, Serialize};

use crate::error::{quoted_prefix, Result, TriageError};

/// A file's value as an error quotes it.
fn shortened(text: &str) -> String {
    quoted_prefix(text, 100)
}

/// What a model does. Tasks are added side by side (embed, parse, generate), not on top.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Text in, one label out of a fixed set.
    Classify,
    /// Text in, one unit-length vector out: the sentence embedding zero/few-shot labels
    /// and schema-constrained parsing compare with prototypes (the parse layer's `zeroshot`).
    Embed,
}

impl std::fmt::Display for Task {
    /// The manifest's spelling: `classify`, `embed`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Task::Classify => "classify",
            Task::Embed => "embed",
        })
    }
}

/// Format of the model file, so the loader picks the right tract front-end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelFormat {
    /// ONNX protobuf, read by tract-onnx (triage-core's feature `onnx`).
    Onnx,
    /// tract's NNEF tar, typed and decluttered, as `triage bundle` writes it
    /// (`triage_core::nnef`): what workers load.
    Nnef,
}

/// How the model's output becomes scores per label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// The output holds logits; scores are their softmax.
    Softmax,
    /// The output already holds probabilities.
    None,
}

/// One file of the bundle and the sha256 its bytes must have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// File name inside the bundle directory.
    pub path: String,
    /// Lower-case hex sha256 of the file's bytes.
    pub sha256: String,
}

/// The files of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Files {
    pub model: FileEntry,
    pub tokenizer: FileEntry,
}

/// Names of the model's graph inputs, by role. Roles the model lacks are left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inputs {
    /// Token ids, `i64[1, tokens]`.
    pub input_ids: String,
    /// Attention mask, `i64[1, tokens]`, all ones for a single unpadded text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_mask: Option<String>,
    /// Segment ids, `i64[1, tokens]`, all zeros for a single text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type_ids: Option<String>,
}

/// The model's output and how to read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// Graph output name, `f32[1, labels]`.
    pub name: String,
    /// Turns the output into scores.
    pub activation: Activation,
}

/// Pre-processing applied before tokenization and pooling done by the graph, recorded so
/// a reader knows what the model expects. The tokenizer file itself does lower-casing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Processing {
    /// How token states become one vector (`mean`, `cls`), done inside the graph.
    pub pooling: String,
}

/// How an embedding model's vectors are compared (task `embed` only).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Embedding {
    /// Length of the output vector.
    pub dimensions: usize,
    /// Softmax temperature over cosine similarities, which turns them into scores that sum
    /// to 1; calibrated on real data by the bundle's build script.
    pub temperature: f32,
}

/// How a classifier reads texts longer than a short window ([`crate::engine::windows`]): up to
/// three windows, and a label in `severe` wins when any window gives it a confident
/// score. Without this section a text is read in one window, its first tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Windows {
    /// Labels that win when any window is confident in them (`["spam"]`): block-style
    /// labels, where filler around a message must not hide it.
    pub severe: Vec<String>,
    /// Tokens in the short windows (head and tail of the text), special tokens not
    /// counted; at most the token budget.
    pub short_tokens: usize,
}

/// Longest model name, in bytes.
pub const MAX_NAME_BYTES: usize = 64;

/// Largest `max_tokens` a manifest may declare: well past any model an edge worker runs
/// (the budgets cap what is read anyway), and small enough for every JSON client.
pub const MAX_TOKENS_LIMIT: usize = 65_536;

/// Whether `name` can name a model in requests, settings and store keys: 1 to
/// [`MAX_NAME_BYTES`] ASCII letters, digits, `-`, `_` or `.`, not only dots.
pub fn is_model_name(name: &str) -> bool {
    (1..=MAX_NAME_BYTES).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name.bytes().any(|b| b != b'.')
}

/// The manifest of a model bundle (`manifest.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Short model name, e.g. `spam-mini`.
    pub name: String,
    /// Model version; bump it when the weights change.
    pub version: String,
    pub task: Task,
    pub format: ModelFormat,
    /// Output labels, in the order of the model's output (empty for `embed`).
    #[serde(default)]
    pub labels: Vec<String>,
    pub inputs: Inputs,
    pub output: Output,
    /// The most tokens the model accepts (its position table), special tokens included.
    pub max_tokens: usize,
    pub processing: Processing,
    /// For task `embed`: the vector's length and how similarities become scores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Embedding>,
    /// Below this top score a result is not `confident` (and hybrid routing escalates).
    pub threshold: f32,
    /// For task `classify`: a window at least this share of whose tokens (special tokens
    /// not counted) are the tokenizer's unknown token (`[UNK]`) is never `confident`,
    /// whatever its score: the model cannot read it (an emoji-only message, a script its
    /// vocabulary lacks), so hybrid routing escalates it and middleware gives it the
    /// route's `unsure` action. In (0, 1]; unset, the score alone decides. spam-mini and
    /// prompt-guard set 0.3 (their cards measure what it applies to). Ignored for `embed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unknown_share: Option<f32>,
    /// For task `classify`: read long texts in several windows (see [`Windows`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<Windows>,
    pub files: Files,
}

impl Manifest {
    /// Parses and checks a manifest.
    pub fn from_json(bytes: &[u8]) -> Result<Manifest> {
        let manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|e| TriageError::Manifest(e.to_string()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    fn validate(&self) -> Result<()> {
        let fail = |msg: String| Err(TriageError::Manifest(msg));
        if !is_model_name(&self.name) {
            return fail(format!(
                "name {:?} must be 1 to {MAX_NAME_BYTES} ASCII letters, digits, `-`, `_` or `.`: \
                 requests name the model with it",
                shortened(&self.name)
            ));
        }
        if self.version.trim().is_empty() || self.version.chars().any(char::is_control) {
            return fail(format!(
                "version {:?} must be a non-empty string without control characters",
                shortened(&self.version)
            ));
        }
        for (index, label) in self.labels.iter().enumerate() {
            if label.trim().is_empty()
                || label.trim() != label
                || label.chars().any(char::is_control)
            {
                return fail(format!(
                    "label {index} ({:?}) must be non-empty, without surrounding spaces or \
                     control characters",
                    shortened(label)
                ));
            }
            if self.labels[..index].contains(label) {
                return fail(format!(
                    "label {:?} is given twice: answers give one score per label",
                    shortened(label)
                ));
            }
        }
        if self.max_tokens > MAX_TOKENS_LIMIT {
            return fail(format!(
                "max_tokens is {}, more than {MAX_TOKENS_LIMIT}",
                self.max_tokens
            ));
        }
        match (self.task, &self.embedding) {
            (Task::Classify, _) if self.labels.len() < 2 => {
                return fail(format!(
                    "needs at least 2 labels, has {}",
                    self.labels.len()
                ));
            }
            (Task::Classify, Some(_)) => {
                return fail("`embedding` is for task `embed`, not `classify`".into());
            }
            (Task::Embed, None) => return fail("task `embed` needs an `embedding` section".into()),
            (Task::Embed, Some(embedding)) => {
                if embedding.dimensions == 0 {
                    return fail("embedding.dimensions must be >= 1".into());
                }
                if !(embedding.temperature.is_finite() && embedding.temperature > 0.0) {
                    return fail(format!(
                        "embedding.temperature must be a positive number, is {}",
                        embedding.temperature
                    ));
                }
            }
            (Task::Classify, None) => {}
        }
        if let Some(share) = self.max_unknown_share {
            let in_range = share > 0.0 && share <= 1.0;
            if !in_range {
                return fail(format!("max_unknown_share must be in (0, 1], is {share}"));
            }
        }
        if let Some(windows) = &self.windows {
            if let Some(label) = windows.severe.iter().find(|l| !self.labels.contains(l)) {
                return fail(format!(
                    "windows.severe names {label:?}, which is not a label"
                ));
            }
            if windows.short_tokens == 0 {
                return fail("windows.short_tokens must be >= 1".into());
            }
        }
        if self.max_tokens < 2 {
            return fail(format!("max_tokens must be >= 2, is {}", self.max_tokens));
        }
        if !(0.0..=1.0).contains(&self.threshold) {
            return fail(format!(
                "threshold must be in [0, 1], is {}",
                self.threshold
            ));
        }
        for entry in [&self.files.model, &self.files.tokenizer] {
            let valid = entry.sha256.len() == 64
                && entry
                    .sha256
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            if !valid {
                return fail(format!(
                    "sha256 of `{}` must be 64 lower-case hex digits",
                    entry.path
                ));
            }
        }
        Ok(())
    }
}
