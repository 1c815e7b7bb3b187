//! Text classification: tokenize, run, turn logits into scores per label.

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::engine::budget::Budgets;
use crate::engine::bundle::BundleBytes;
pub use crate::engine::loaded::LoadTimings;
use crate::engine::loaded::{ConfiguredBundle, LoadedBundle};
use crate::engine::manifest::{Activation, Manifest, Task, Windows};
use crate::engine::memory::MemoryEstimate;
use crate::engine::settings::Settings;
use crate::engine::tokenize::{Encoded, TextEncoder};
use crate::engine::windows;
use crate::error::{Result, TriageError};
use web_time::Instant;

/// One text's classification.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Classification {
    /// The label with the highest score.
    pub label: String,
    /// That label's score, in [0, 1].
    pub score: f32,
    /// Whether `score` reaches the model's confidence threshold and the model could read
    /// the window (fewer [`Classification::unknown_tokens`] than the manifest's
    /// `max_unknown_share` allows).
    pub confident: bool,
    /// Every label's score, in the manifest's label order.
    pub scores: Scores,
    /// True when some of the text's tokens were in no window the model read: with one
    /// window, when the text was longer than the token budget.
    pub truncated: bool,
    /// Tokens of the window the answer comes from, special tokens included (at most the
    /// token budget).
    pub tokens: usize,
    /// How many of those tokens are the tokenizer's unknown token (`[UNK]`): text the
    /// vocabulary has no piece for. 0 for a tokenizer without an unknown token.
    pub unknown_tokens: usize,
    /// False when `unknown_tokens` reach the manifest's `max_unknown_share` of the window's
    /// text tokens: the model cannot read the text, so the answer is not `confident` and
    /// hybrid routing escalates it whatever the escalation threshold. Not serialised (the
    /// answer's `confident` and `unknown_tokens` say it).
    #[serde(skip)]
    pub readable: bool,
}

/// Scores per label (or per allowed value of a parse field); serialised as a JSON object
/// in that order.
#[derive(Debug, Clone, PartialEq)]
pub struct Scores(pub Vec<(String, f32)>);

impl Serialize for Scores {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (label, score) in &self.0 {
            map.serialize_entry(label, score)?;
        }
        map.end()
    }
}

/// Where the time of a call went, for `Server-Timing`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    pub tokenize_ms: f64,
    pub inference_ms: f64,
}

/// A classification bundle verified, its tokenizer and model loaded and optimised: the
/// expensive part of start-up, before any deployment settings. Adapters that snapshot a
/// loaded worker (Wizer on Spin) keep this in the snapshot and apply [`Settings`] per
/// instance with [`Classifier::new`], which is cheap.
#[derive(Debug)]
pub struct PreparedClassifier(LoadedBundle);

impl PreparedClassifier {
    /// Verifies the bundle's checksums, checks it is a classifier, and loads tokenizer and
    /// model (parsed, typed and optimised by tract).
    pub fn load(bundle: BundleBytes<'_>) -> Result<PreparedClassifier> {
        LoadedBundle::load(bundle, Task::Classify).map(PreparedClassifier)
    }

    /// The bundle's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.0.manifest
    }
}

/// A classifier ready to serve: a [`PreparedClassifier`] under deployment settings.
#[derive(Debug)]
pub struct Classifier(ConfiguredBundle);

impl Classifier {
    /// Verifies and loads the bundle, and checks that the budgets fit the model and the
    /// memory budget. `budgets.max_tokens` is capped at the model's.
    pub fn load(bundle: BundleBytes<'_>, budgets: Budgets) -> Result<Classifier> {
        let settings = Settings {
            budgets,
            threshold: None,
        };
        Classifier::load_with(bundle, &settings)
    }

    /// [`Classifier::load`] with deployment [`Settings`]: their budgets, and their
    /// threshold in place of the manifest's when set.
    pub fn load_with(bundle: BundleBytes<'_>, settings: &Settings) -> Result<Classifier> {
        Classifier::new(PreparedClassifier::load(bundle)?, settings)
    }

    /// Applies deployment settings to a prepared bundle: budgets capped to the model, the
    /// threshold override, and the memory check. No parsing: this is cheap.
    pub fn new(prepared: PreparedClassifier, settings: &Settings) -> Result<Classifier> {
        prepared.0.configure(settings).map(Classifier)
    }

    /// The bundle's manifest (with the threshold in force).
    pub fn manifest(&self) -> &Manifest {
        &self.0.manifest
    }

    /// The budgets in force (after capping to the model).
    pub fn budgets(&self) -> &Budgets {
        &self.0.budgets
    }

    /// The memory estimate these budgets were checked against.
    pub fn memory(&self) -> &MemoryEstimate {
        &self.0.memory
    }

    /// What loading the bundle took, step by step.
    pub fn load_timings(&self) -> &LoadTimings {
        &self.0.timings
    }

    /// Classifies one text.
    pub fn classify(&self, text: &str) -> Result<Classification> {
        self.classify_timed(text, &mut Timings::default())
    }

    /// Classifies up to `max_batch` texts, in order.
    pub fn classify_batch<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Classification>> {
        self.classify_batch_timed(texts, &mut Timings::default())
    }

    /// Checks `texts` against the text and batch budgets and tokenizes them: everything
    /// between a request's texts and the model's input, without running the model.
    pub fn encode_batch<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Encoded>> {
        self.0.budgets.check_texts(texts)?;
        texts
            .iter()
            .map(|text| self.0.encoder.encode(text.as_ref()))
            .collect()
    }

    /// The tokenizer, as configured for the token budget.
    pub fn encoder(&self) -> &TextEncoder {
        &self.0.encoder
    }

    /// [`Classifier::classify_batch`], adding the time spent to `timings`.
    pub fn classify_batch_timed<S: AsRef<str>>(
        &self,
        texts: &[S],
        timings: &mut Timings,
    ) -> Result<Vec<Classification>> {
        if let Some(windows) = &self.0.manifest.windows {
            self.0.budgets.check_texts(texts)?;
            return texts
                .iter()
                .map(|text| self.classify_windows(text.as_ref(), windows, timings))
                .collect();
        }
        let started = Instant::now();
        let encoded = self.encode_batch(texts)?;
        timings.tokenize_ms += ms(started.elapsed());
        encoded
            .iter()
            .map(|encoded| self.run_timed(encoded, timings))
            .collect()
    }

    /// [`Classifier::classify`], adding the time spent to `timings`.
    pub fn classify_timed(&self, text: &str, timings: &mut Timings) -> Result<Classification> {
        self.classify_batch_timed(&[text], timings)?
            .pop()
            .ok_or_else(|| TriageError::Inference("no result for the text".into()))
    }

    /// Reads one text in up to three windows ([`windows::spans`]) and answers with the
    /// most confident severe label any window is confident in, else the head window's
    /// answer. Costs up to three model runs on at most `max_tokens` tokens each, and
    /// tokenizing the whole text (at most `max_text_bytes`).
    fn classify_windows(
        &self,
        text: &str,
        windows: &Windows,
        timings: &mut Timings,
    ) -> Result<Classification> {
        let started = Instant::now();
        let encoder = &self.0.encoder;
        let room = encoder.max_tokens() - encoder.added_by_processor();
        // A token is at least one byte of text, so this reads the whole text.
        let (ids, _) = encoder.text_tokens(text, text.len())?;
        let spans = windows::spans(ids.len(), room, windows.short_tokens);
        let truncated = !windows::cover(&spans, ids.len());
        let inputs = spans
            .iter()
            .map(|span| encoder.with_special_tokens(&ids[span.clone()]))
            .collect::<Result<Vec<_>>>()?;
        timings.tokenize_ms += ms(started.elapsed());
        let mut head = None;
        let mut severe: Option<Classification> = None;
        for input in &inputs {
            let started = Instant::now();
            let output = self.0.model.run(input)?;
            timings.inference_ms += ms(started.elapsed());
            let answer = self.to_classification(&output, truncated, input)?;
            let wins = answer.confident
                && windows.severe.contains(&answer.label)
                && severe.as_ref().is_none_or(|best| answer.score > best.score);
            if wins {
                severe = Some(answer.clone());
            }
            head.get_or_insert(answer);
        }
        severe
            .or(head)
            .ok_or_else(|| TriageError::Inference("no window was read".into()))
    }

    /// Runs the model on one encoded text and reads its scores.
    fn run_timed(&self, encoded: &Encoded, timings: &mut Timings) -> Result<Classification> {
        let started = Instant::now();
        let output = self.0.model.run(&encoded.ids)?;
        timings.inference_ms += ms(started.elapsed());
        self.to_classification(&output, encoded.truncated, &encoded.ids)
    }

    /// Reads the model's `output` for the window `input` (token ids, special tokens
    /// included).
    fn to_classification(
        &self,
        output: &[f32],
        truncated: bool,
        input: &[i64],
    ) -> Result<Classification> {
        let labels = &self.0.manifest.labels;
        if output.len() != labels.len() {
            return Err(TriageError::Inference(format!(
                "model gave {} outputs for {} labels",
                output.len(),
                labels.len()
            )));
        }
        let probabilities = match self.0.manifest.output.activation {
            Activation::Softmax => softmax(output, 1.0),
            Activation::None => output.to_vec(),
        };
        let (best, &score) = probabilities
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .ok_or_else(|| TriageError::Inference("model gave no scores".into()))?;
        let unknown_tokens = self.0.encoder.unknown_tokens(input);
        let text_tokens = input
            .len()
            .saturating_sub(self.0.encoder.added_by_processor());
        let readable = unknown_tokens == 0
            || self
                .0
                .manifest
                .max_unknown_share
                .is_none_or(|share| (unknown_tokens as f32) < share * text_tokens as f32);
        Ok(Classification {
            label: labels[best].clone(),
            score,
            confident: readable && score >= self.0.manifest.threshold,
            scores: Scores(
                labels
                    .iter()
                    .cloned()
                    .zip(probabilities.iter().copied())
                    .collect(),
            ),
            truncated,
            tokens: input.len(),
            unknown_tokens,
            readable,
        })
    }
}

/// One ad-hoc label of a `/v1/classify` request with `labels`: its name, and optionally
/// what it means and texts that mean it. The embedding model chooses among them (the parse
/// layer's `zeroshot`, feature `parse`); a classifier's labels are in its manifest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelSpec {
    pub label: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub examples: Vec<String>,
}

fn ms(duration: std::time::Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Numerically stable softmax of `values / temperature` (1 for logits; the embedding
/// model's temperature for cosine similarities, see the parse layer's `zeroshot`).
pub(crate) fn softmax(values: &[f32], temperature: f32) -> Vec<f32> {
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = values
        .iter()
        .map(|&x| ((x - max) / temperature).exp())
        .collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::softmax;

    #[test]
    fn softmax_sums_to_one_and_survives_large_logits() {
        let p = softmax(&[1000.0, 1001.0], 1.0);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(p[1] > p[0]);
        assert!(p.iter().all(|x| x.is_finite()));
    }
}
