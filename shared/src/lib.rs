//! # triage-core
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

pub mod budget;
pub mod bundle;
pub mod classify;
pub mod embed;
pub mod error;
pub mod http;
mod json_number;
mod loaded;
pub mod manifest;
pub mod memory;
pub mod model;
pub mod parse;
pub mod schema;
pub mod settings;
pub mod tokenize;
mod tokenizer_guard;
pub mod windows;
pub mod zeroshot;

pub use budget::{BudgetExceeded, Budgets};
pub use bundle::{BundleBytes, OwnedBundle};
pub use classify::{Classification, Classifier, PreparedClassifier, Scores, Timings};
pub use embed::{Embedder, PreparedEmbedder};
pub use error::{Result, TriageError};
pub use manifest::Manifest;
pub use parse::Parser;
pub use settings::Settings;
