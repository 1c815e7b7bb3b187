//! What every task starts from: a verified bundle whose tokenizer and model are loaded,
//! then put under deployment settings. [`crate::Classifier`] and [`crate::Embedder`] are
//! thin layers over these two steps.

use crate::engine::budget::Budgets;
use crate::engine::bundle::BundleBytes;
use crate::engine::manifest::{Manifest, Task};
use crate::engine::memory::MemoryEstimate;
use crate::engine::model::SequenceModel;
use crate::engine::settings::Settings;
use crate::engine::tokenize::TextEncoder;
use crate::error::{Result, TriageError};
use web_time::Instant;

/// Where the time of loading a bundle went, in milliseconds: what a cold process or
/// isolate pays before its first answer (adapters report it in `Server-Timing`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LoadTimings {
    /// Checking the manifest and the files' sha256 (a compiled-in bundle's were checked
    /// when it was built).
    pub verify_ms: f64,
    /// Parsing `tokenizer.json`.
    pub tokenizer_ms: f64,
    /// Reading the model file into a typed graph (NNEF: its text and tensors, the int8
    /// weights decoded, and tract's NNEF framework for the first model of an isolate).
    pub parse_ms: f64,
    /// tract's decluttering passes.
    pub declutter_ms: f64,
    /// tract's codegen, sizing the weights and activations for the memory estimate, and
    /// planning.
    pub optimize_ms: f64,
}

impl LoadTimings {
    /// Every step by name, in the order the load runs them: `verify`, `tokenizer`,
    /// `parse`, `declutter`, `optimize` (adapters report them as `load-<name>`).
    pub fn steps(&self) -> [(&'static str, f64); 5] {
        [
            ("verify", self.verify_ms),
            ("tokenizer", self.tokenizer_ms),
            ("parse", self.parse_ms),
            ("declutter", self.declutter_ms),
            ("optimize", self.optimize_ms),
        ]
    }

    /// The whole load.
    pub fn total_ms(&self) -> f64 {
        self.steps().iter().map(|(_, ms)| ms).sum()
    }
}

/// A bundle verified, its tokenizer and model loaded and optimised: the expensive part.
#[derive(Debug)]
pub(crate) struct LoadedBundle {
    pub manifest: Manifest,
    pub encoder: TextEncoder,
    pub model: SequenceModel,
    pub tokenizer_file_bytes: usize,
    pub timings: LoadTimings,
}

/// A loaded bundle under deployment settings, ready to serve.
#[derive(Debug)]
pub(crate) struct ConfiguredBundle {
    pub manifest: Manifest,
    pub budgets: Budgets,
    pub encoder: TextEncoder,
    pub model: SequenceModel,
    pub memory: MemoryEstimate,
    pub timings: LoadTimings,
}

impl LoadedBundle {
    /// Verifies the bundle's checksums, checks it does `task`, and loads tokenizer and
    /// model (parsed, typed and optimised by tract).
    pub fn load(bundle: BundleBytes<'_>, task: Task) -> Result<LoadedBundle> {
        let started = Instant::now();
        let (manifest, files) = bundle.verify()?;
        let verified = Instant::now();
        if manifest.task != task {
            return Err(TriageError::Manifest(format!(
                "task is {}, this needs {task}",
                manifest.task
            )));
        }
        let encoder = TextEncoder::from_bytes(
            &manifest.files.tokenizer.path,
            files.tokenizer,
            manifest.max_tokens,
        )?;
        let tokenized = Instant::now();
        let (model, graph) = SequenceModel::load_timed(&manifest, files.model)?;
        let ms = |from: Instant, to: Instant| (to - from).as_secs_f64() * 1000.0;
        let timings = LoadTimings {
            verify_ms: ms(started, verified),
            tokenizer_ms: ms(verified, tokenized),
            parse_ms: graph.read_ms,
            declutter_ms: graph.declutter_ms,
            optimize_ms: graph.optimize_ms,
        };
        if let Some(rows) = model.embedding_rows() {
            let max_id = encoder.max_token_id() as usize;
            if max_id >= rows {
                return Err(TriageError::Model {
                    file: manifest.files.model.path.clone(),
                    reason: format!(
                        "it embeds {rows} token ids, but `{}` produces ids up to {max_id}",
                        manifest.files.tokenizer.path
                    ),
                });
            }
        }
        Ok(LoadedBundle {
            manifest,
            encoder,
            model,
            tokenizer_file_bytes: files.tokenizer.len(),
            timings,
        })
    }

    /// Applies deployment settings: budgets capped to the model, the threshold override,
    /// and the memory check. No parsing: this is cheap.
    pub fn configure(self, settings: &Settings) -> Result<ConfiguredBundle> {
        let LoadedBundle {
            mut manifest,
            mut encoder,
            model,
            tokenizer_file_bytes,
            timings,
        } = self;
        let budgets = Budgets {
            max_tokens: settings.budgets.max_tokens.min(manifest.max_tokens),
            ..settings.budgets
        };
        if budgets.max_tokens < 2 || budgets.max_batch == 0 {
            return Err(TriageError::Config(
                "max_tokens must be >= 2 and max_batch >= 1".into(),
            ));
        }
        if budgets.max_tokens != encoder.max_tokens() {
            encoder.set_max_tokens(budgets.max_tokens)?;
        }
        let memory = MemoryEstimate::new(&budgets, &model, tokenizer_file_bytes);
        memory.check_fits(&budgets)?;
        if let Some(threshold) = settings.threshold {
            manifest.threshold = threshold;
        }
        Ok(ConfiguredBundle {
            manifest,
            budgets,
            encoder,
            model,
            memory,
            timings,
        })
    }
}
