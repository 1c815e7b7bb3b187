//! Typed errors of the core, shared by every layer: the engine's (with its
//! [`BudgetExceeded`]), the schema decoder's ([`SchemaError`]) and the settings'. The HTTP
//! layer maps them to statuses (`Problem::from_error`); nothing here knows about HTTP.

use crate::engine::budget::BudgetExceeded;

/// Everything that can go wrong between bundle bytes and a classification.
#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    /// The manifest is not valid JSON or misses a field.
    #[error("manifest is invalid: {0}")]
    Manifest(String),

    /// A file the manifest names was not supplied with the bundle.
    #[error("bundle file `{file}` is missing")]
    MissingFile { file: String },

    /// A bundle file's bytes do not hash to the sha256 recorded in the manifest.
    #[error("bundle file `{file}` is corrupt: sha256 is {actual}, manifest says {expected}")]
    ChecksumMismatch {
        file: String,
        expected: String,
        actual: String,
    },

    /// The tokenizer file could not be parsed or configured.
    #[error("tokenizer `{file}` could not be loaded: {reason}")]
    Tokenizer { file: String, reason: String },

    /// tract refused the model file (parse, type inference or optimisation).
    #[error("model `{file}` could not be loaded: {reason}")]
    Model { file: String, reason: String },

    /// The deployment's configuration cannot work as a whole (budgets that contradict
    /// the model, two bundles with one name, a model built without a part it needs).
    #[error("invalid configuration: {0}")]
    Config(String),

    /// One deployment setting (snake-case `key`, e.g. `max_tokens`, read from
    /// `TRIAGE_MAX_TOKENS` or the Spin variable `max_tokens`) is malformed or names
    /// something the deployment lacks; `reason` says what was found and what was expected.
    #[error("invalid configuration: setting `{key}` {reason}")]
    Setting { key: String, reason: String },

    /// A request named a model the deployment does not serve (`known`: the names it does).
    #[error("no model named {name:?}: this deployment serves {known}")]
    UnknownModel { name: String, known: String },

    /// A request exceeded one of the budgets.
    #[error(transparent)]
    Budget(#[from] BudgetExceeded),

    /// A request's JSON Schema (or ad-hoc labels) cannot be decoded or is over budget.
    #[error(transparent)]
    Schema(#[from] SchemaError),

    /// A required string property taken from the text (`format`, `pattern`) has no span
    /// in the text that satisfies it: there is no valid object to answer with.
    #[error("the text holds no value for the required property `{field}`")]
    NoValue { field: String },

    /// A constrained generation ran out of tokens (`limit`, the request's `max_new_tokens`)
    /// before its grammar could end: there is no complete value to answer with.
    /// `partial` is the beginning of what was written.
    #[error("the answer was not finished within max_new_tokens = {limit}; it began {partial:?}")]
    Unfinished { limit: usize, partial: String },

    /// Tokenizing a request's text failed.
    #[error("text could not be tokenized: {0}")]
    Encode(String),

    /// tract failed while running the model on a valid input.
    #[error("inference failed: {0}")]
    Inference(String),
}

impl TriageError {
    /// [`TriageError::Setting`] for `key`: `reason` reads after "setting `key` ", e.g.
    /// `is "lots", expected a whole number`.
    pub fn setting(key: &str, reason: impl Into<String>) -> TriageError {
        TriageError::Setting {
            key: key.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Why a schema cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// A keyword, type or value outside the subset (422).
    #[error("schema at {pointer}: `{keyword}` {reason}")]
    Unsupported {
        /// JSON pointer of the schema object holding the keyword (`""` for the root).
        pointer: String,
        keyword: String,
        reason: String,
    },
    /// Over one of the schema budgets (`SchemaBudgets`) (413).
    #[error("schema has {actual} {what}, the limit is {limit}")]
    TooLarge {
        what: &'static str,
        limit: usize,
        actual: usize,
    },
}

/// The first `max` bytes of `text` (cut on a character boundary, `...` added when cut), for
/// quoting what a request or a file said in an error without echoing all of it.
pub(crate) fn quoted_prefix(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// Result alias used across the core.
pub type Result<T, E = TriageError> = std::result::Result<T, E>;
