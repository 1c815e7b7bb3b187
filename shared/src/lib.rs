//! # triage-core
//!
//! Three layers, each importing only the ones below it (`tests/layers.rs` checks):
//! the engine (bundle, manifest, budgets, memory, tokenizer, model, classify, embed), parse
//! (schemas decoded by the embedding model), and the HTTP layer ([`http`]: the service,
//! its routes, requests, problems, bodies, outbound requests, hybrid routing).
//!
//! Tiny quantized language models inside edge workers. This crate turns text into a
//! classification, or into a JSON object that conforms to a JSON Schema ([`parse`]),
//! under strict input and memory budgets, and serves the HTTP contract as
//! a plain `http::Request -> http::Response` function. It knows nothing about platforms:
//! adapters in `workers/` map their runtime's HTTP types onto [`http::Service`].
//!
//! ```no_run
//! use triage_core::{bundle, Budgets, Classifier};
//!
//! let classifier = Classifier::load(bundle::embedded(), Budgets::default())?;
//! let result = classifier.classify("WIN a FREE cruise, click now!!!")?;
//! println!("{} {:.3}", result.label, result.score);
//! # Ok::<(), triage_core::TriageError>(())
//! ```

pub mod cache;
mod engine;
pub mod error;
#[cfg(feature = "generate")]
pub mod generate;
pub mod http;
#[cfg(feature = "parse")]
pub mod parse;
#[cfg(feature = "redact")]
pub mod redact;

// The engine: bundles in, classifications and embeddings out, under budgets.
#[cfg(feature = "onnx")]
pub use engine::onnx;
pub use engine::{
    budget, bundle, classify, embed, int_matmul, manifest, memory, nnef, settings, windows,
};
/// Tokenization and the tract model, for benchmarks and parity tests (feature `internals`):
/// adapters and users go through [`Classifier`] and [`Embedder`].
#[cfg(feature = "internals")]
pub use engine::{model, tokenize};
// Parse: schemas decoded by the embedding model (feature `parse`).
#[cfg(feature = "parse")]
pub use parse::{schema, zeroshot};

pub use budget::{BudgetExceeded, Budgets};
pub use bundle::{BundleBytes, OwnedBundle};
pub use classify::{
    Classification, Classifier, LabelSpec, LoadTimings, PreparedClassifier, Scores, Timings,
};
pub use embed::{Embedder, PreparedEmbedder};
pub use error::{Result, TriageError};
pub use manifest::Manifest;
#[cfg(feature = "parse")]
pub use parse::Parser;
pub use settings::Settings;
