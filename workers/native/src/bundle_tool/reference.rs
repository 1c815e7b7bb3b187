//! Parity with a reference implementation: texts with the outputs another runtime
//! (onnxruntime, PyTorch) gave for them, against the scores the worker serves.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use triage_core::manifest::Activation;
use triage_core::Classifier;

/// One line of a reference file: the text, and its raw outputs (`logits`, turned into
/// scores by the manifest's activation) or its scores in label order (`scores`, or
/// `probabilities`); `label`, if given, is the true label (for an accuracy figure).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    text: String,
    #[serde(default)]
    logits: Option<Vec<f32>>,
    #[serde(default, alias = "probabilities")]
    scores: Option<Vec<f32>>,
    #[serde(default)]
    label: Option<String>,
}

/// How the served scores compare with the reference, over every text of the file.
#[derive(Debug, Clone, Serialize)]
pub struct Parity {
    /// The reference file, as given.
    pub reference: String,
    pub texts: usize,
    /// Largest absolute difference of any label's score.
    pub max_abs_diff: f32,
    /// Texts whose top label is the reference's.
    pub same_label: usize,
    /// Of the texts with a true `label`, how many the bundle labels right.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correct: Option<(usize, usize)>,
    /// The tolerance `max_abs_diff` was held to.
    pub tolerance: f32,
}

impl Parity {
    /// Errors when the scores differ by more than `tolerance`.
    pub fn check(&self, tolerance: f32) -> Result<()> {
        // NaN differences were recorded as infinity, so this comparison is total.
        if self.max_abs_diff > tolerance {
            bail!(
                "served scores differ from the reference by up to {:.3e} (tolerance {tolerance:.1e}) \
                 over {} texts; {} of them keep the reference's label",
                self.max_abs_diff,
                self.texts,
                self.same_label
            );
        }
        Ok(())
    }
}

/// Classifies every text of the JSON-lines file at `path` and compares.
///
/// Errors: the file cannot be read, a line is not a reference row, or a row's outputs are
/// not one per label.
pub fn compare(classifier: &Classifier, path: &Path, tolerance: f32) -> Result<Parity> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let labels = &classifier.manifest().labels;
    let activation = classifier.manifest().output.activation;
    let mut parity = Parity {
        reference: path.display().to_string(),
        texts: 0,
        max_abs_diff: 0.0,
        same_label: 0,
        correct: None,
        tolerance,
    };
    let (mut right, mut with_label) = (0, 0);
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let number = index + 1;
        let row: Row = serde_json::from_str(line)
            .with_context(|| format!("{} line {number}", path.display()))?;
        let expected = match (row.logits, row.scores) {
            (Some(logits), None) => match activation {
                Activation::Softmax => softmax(&logits),
                Activation::None => logits,
            },
            (None, Some(scores)) => scores,
            _ => bail!(
                "{} line {number}: give `logits` or `scores`, one of them",
                path.display()
            ),
        };
        if expected.len() != labels.len() {
            bail!(
                "{} line {number}: {} outputs for {} labels",
                path.display(),
                expected.len(),
                labels.len()
            );
        }
        let result = classifier
            .classify(&row.text)
            .with_context(|| format!("{} line {number}", path.display()))?;
        for ((_, served), expected) in result.scores.0.iter().zip(&expected) {
            let diff = (served - expected).abs();
            // A NaN on either side counts as the largest difference there is.
            let diff = if diff.is_nan() { f32::INFINITY } else { diff };
            parity.max_abs_diff = parity.max_abs_diff.max(diff);
        }
        if labels.get(argmax(&expected)) == Some(&result.label) {
            parity.same_label += 1;
        }
        if let Some(label) = row.label {
            if !labels.contains(&label) {
                bail!(
                    "{} line {number}: label {label:?} is not one of the model's ({})",
                    path.display(),
                    labels.join(", ")
                );
            }
            with_label += 1;
            right += usize::from(label == result.label);
        }
        parity.texts += 1;
    }
    if parity.texts == 0 {
        bail!("{} has no reference rows", path.display());
    }
    parity.correct = (with_label > 0).then_some((right, with_label));
    Ok(parity)
}

fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

fn argmax(values: &[f32]) -> usize {
    values
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 {
                (i, v)
            } else {
                best
            }
        })
        .0
}
