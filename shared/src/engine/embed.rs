//! Sentence embeddings: tokenize, run, normalise to unit length. The vectors feed the
//! zero/few-shot decoders of the parse layer (`triage_core::zeroshot`, `triage_core::parse`).

use web_time::Instant;

use crate::engine::budget::Budgets;
use crate::engine::bundle::BundleBytes;
use crate::engine::classify::Timings;
use crate::engine::loaded::{ConfiguredBundle, LoadedBundle};
use crate::engine::manifest::{Embedding, Manifest, Task};
use crate::engine::memory::MemoryEstimate;
use crate::engine::settings::Settings;
use crate::error::{Result, TriageError};

/// One text's embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedded {
    /// Unit-length vector (all zeros only for a model that returned zeros).
    pub vector: Vec<f32>,
    /// True when the text was longer than the token budget and its tail was not read.
    pub truncated: bool,
    /// Tokens the model saw, special tokens included.
    pub tokens: usize,
    /// How many of them are the tokenizer's unknown token (`[UNK]`).
    pub unknown_tokens: usize,
}

/// An embedding bundle verified and loaded, before deployment settings (kept in a
/// pre-initialised snapshot like [`crate::PreparedClassifier`]).
#[derive(Debug)]
pub struct PreparedEmbedder(LoadedBundle);

impl PreparedEmbedder {
    /// Verifies the bundle, checks it is an embedding model, loads it, and runs it once
    /// to check that it returns the manifest's `embedding.dimensions` numbers.
    pub fn load(bundle: BundleBytes<'_>) -> Result<PreparedEmbedder> {
        let loaded = LoadedBundle::load(bundle, Task::Embed)?;
        let dimensions = embedding_of(&loaded.manifest)?.dimensions;
        let probe = loaded.encoder.encode("probe")?;
        let output = loaded.model.run(&probe.ids)?;
        if output.len() != dimensions {
            return Err(TriageError::Model {
                file: loaded.manifest.files.model.path.clone(),
                reason: format!(
                    "it returns {} numbers, the manifest says {dimensions} dimensions",
                    output.len()
                ),
            });
        }
        Ok(PreparedEmbedder(loaded))
    }

    /// The bundle's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.0.manifest
    }
}

/// An embedding model ready to serve: a [`PreparedEmbedder`] under deployment settings.
#[derive(Debug)]
pub struct Embedder {
    bundle: ConfiguredBundle,
    embedding: Embedding,
}

impl Embedder {
    /// Verifies and loads the bundle under `settings`.
    pub fn load_with(bundle: BundleBytes<'_>, settings: &Settings) -> Result<Embedder> {
        Embedder::new(PreparedEmbedder::load(bundle)?, settings)
    }

    /// Applies deployment settings to a prepared bundle: the budgets and the memory check.
    /// Not the `threshold` setting, which is the classifier's: parse requests carry their
    /// own, or get the manifest's.
    pub fn new(prepared: PreparedEmbedder, settings: &Settings) -> Result<Embedder> {
        let settings = Settings {
            threshold: None,
            ..*settings
        };
        let bundle = prepared.0.configure(&settings)?;
        let embedding = *embedding_of(&bundle.manifest)?;
        Ok(Embedder { bundle, embedding })
    }

    /// The bundle's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.bundle.manifest
    }

    /// Vector length and similarity temperature.
    pub fn embedding(&self) -> &Embedding {
        &self.embedding
    }

    /// The budgets in force (after capping to the model).
    pub fn budgets(&self) -> &Budgets {
        &self.bundle.budgets
    }

    /// The memory estimate these budgets were checked against.
    pub fn memory(&self) -> &MemoryEstimate {
        &self.bundle.memory
    }

    /// Embeds request texts, after checking them against the text and batch budgets.
    pub fn embed_batch_timed<S: AsRef<str>>(
        &self,
        texts: &[S],
        timings: &mut Timings,
    ) -> Result<Vec<Embedded>> {
        self.bundle.budgets.check_texts(texts)?;
        texts
            .iter()
            .map(|text| self.embed_timed(text.as_ref(), timings))
            .collect()
    }

    /// Embeds one text with no text budget check: for the schema's own prototype texts,
    /// which the schema budgets bound (the parse layer's `SchemaBudgets`).
    pub fn embed_timed(&self, text: &str, timings: &mut Timings) -> Result<Embedded> {
        let started = Instant::now();
        let encoded = self.bundle.encoder.encode(text)?;
        timings.tokenize_ms += ms_since(started);
        let started = Instant::now();
        let mut vector = self.bundle.model.run(&encoded.ids)?;
        timings.inference_ms += ms_since(started);
        if vector.len() != self.embedding.dimensions {
            return Err(TriageError::Inference(format!(
                "model gave {} numbers for {} dimensions",
                vector.len(),
                self.embedding.dimensions
            )));
        }
        normalize(&mut vector);
        Ok(Embedded {
            vector,
            truncated: encoded.truncated,
            tokens: encoded.ids.len(),
            unknown_tokens: self.bundle.encoder.unknown_tokens(&encoded.ids),
        })
    }
}

fn embedding_of(manifest: &Manifest) -> Result<&Embedding> {
    manifest
        .embedding
        .as_ref()
        .ok_or_else(|| TriageError::Manifest("task `embed` needs an `embedding` section".into()))
}

fn ms_since(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

/// Scales `vector` to unit length (leaves an all-zero vector as it is).
pub(crate) fn normalize(vector: &mut [f32]) {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
}

/// The default embedding bundle (`models/potion-base-2m`), compiled into the binary.
#[cfg(feature = "embedded-model")]
pub fn embedded() -> BundleBytes<'static> {
    crate::engine::bundle::from_shipped(triage_models::POTION_BASE_2M)
}
