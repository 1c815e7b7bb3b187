//! Scores a classifier bundle on labelled held-out texts exactly as a worker answers them
//! (the manifest's windows, token budget and confidence threshold), and prints the tables
//! of a model card: per source and language, per length in words, and the calibration.
//!
//! ```text
//! cargo run --release -p triage-core --example heldout_eval -- \
//!     [--model-dir models/spam-mini] [--positive spam] FILE.jsonl...
//! ```
//!
//! Each line of a file is `{"text": "...", "label": "<a label of the bundle>", "source":
//! "sms", "lang": "en"}` (`source` and `lang` optional). Without `--model-dir` the embedded
//! default bundle is scored. `--positive` names the label a deployment acts on (default: the
//! manifest's last label, `spam` for spam-mini); "flagged" below means answered with that
//! label *and* confident (score >= the manifest's threshold), "unsure" means not confident
//! (hybrid routing escalates it), whichever label.
//!
//! Calibration is the expected calibration error of the answered label's score (10 equal-
//! width bins; Guo et al. 2017, "On Calibration of Modern Neural Networks").

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;
use support::{floor_char_boundary, percent};
use triage_core::{bundle, BundleBytes, Classifier, Settings};

/// Upper bounds (inclusive, in whitespace-separated words) of the length buckets.
const BUCKETS: [(usize, &str); 5] = [
    (5, "1-5 words"),
    (10, "6-10 words"),
    (30, "11-30 words"),
    (100, "31-100 words"),
    (usize::MAX, "over 100 words"),
];

/// One held-out text and how the bundle answered it.
struct Scored {
    source: String,
    lang: String,
    words: usize,
    positive: bool,
    answered_positive: bool,
    confident: bool,
    score: f32,
    correct: bool,
}

/// Counts for one row of a table.
#[derive(Default)]
struct Tally {
    n: usize,
    flagged: usize,
    unsure: usize,
    confident_negative: usize,
}

impl Tally {
    fn add(&mut self, s: &Scored) {
        self.n += 1;
        self.flagged += usize::from(s.answered_positive && s.confident);
        self.unsure += usize::from(!s.confident);
        self.confident_negative += usize::from(!s.answered_positive && s.confident);
    }

    fn row(&self, name: &str) -> String {
        format!(
            "| {name} | {} | {} | {} | {} |",
            self.n,
            share(self.flagged, self.n),
            share(self.unsure, self.n),
            share(self.confident_negative, self.n)
        )
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut model_dir: Option<PathBuf> = None;
    let mut positive: Option<String> = None;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--model-dir" => {
                model_dir = Some(args.next().ok_or("--model-dir needs a path")?.into())
            }
            "--positive" => positive = Some(args.next().ok_or("--positive needs a label")?),
            _ => files.push(PathBuf::from(arg)),
        }
    }
    if files.is_empty() {
        return Err(
            "usage: heldout_eval [--model-dir DIR] [--positive LABEL] FILE.jsonl...".into(),
        );
    }
    let owned = match &model_dir {
        Some(dir) => Some(read_bundle(dir)?),
        None => None,
    };
    let bytes: BundleBytes<'_> = match &owned {
        Some((manifest, model, tokenizer)) => BundleBytes::new(manifest, model, tokenizer),
        None => bundle::embedded(),
    };
    let classifier = Classifier::load_with(bytes, &Settings::default())?;
    let manifest = classifier.manifest();
    let positive = match positive {
        Some(label) => label,
        None => manifest
            .labels
            .last()
            .cloned()
            .ok_or("the bundle has no labels")?,
    };
    if !manifest.labels.contains(&positive) {
        return Err(format!("{positive:?} is not a label of {}", manifest.name).into());
    }

    let mut scored = Vec::new();
    for file in &files {
        for (number, line) in std::fs::read_to_string(file)?.lines().enumerate() {
            let row: Value = serde_json::from_str(line)
                .map_err(|error| format!("{}:{}: {error}", file.display(), number + 1))?;
            let (Some(text), Some(label)) = (row["text"].as_str(), row["label"].as_str()) else {
                return Err(
                    format!("{}:{}: needs text and label", file.display(), number + 1).into(),
                );
            };
            // A text over the budget would be refused (413); its head is what counts.
            let text = &text[..floor_char_boundary(text, classifier.budgets().max_text_bytes)];
            let answer = classifier.classify(text)?;
            scored.push(Scored {
                source: row["source"].as_str().unwrap_or("-").to_owned(),
                lang: row["lang"].as_str().unwrap_or("-").to_owned(),
                words: text.split_whitespace().count(),
                positive: label == positive,
                answered_positive: answer.label == positive,
                confident: answer.confident,
                score: answer.score,
                correct: answer.label == label,
            });
        }
    }

    println!(
        "`{}` {} on {} texts; positive label `{positive}`, threshold {}",
        manifest.name,
        manifest.version,
        scored.len(),
        manifest.threshold
    );
    println!();
    println!("| source, language, true label | texts | flagged `{positive}` | unsure | confident other |");
    println!("|---|---|---|---|---|");
    let mut by_source: BTreeMap<(String, String, bool), Tally> = BTreeMap::new();
    for s in &scored {
        by_source
            .entry((s.source.clone(), s.lang.clone(), s.positive))
            .or_default()
            .add(s);
    }
    for ((source, lang, is_positive), tally) in &by_source {
        let label = if *is_positive {
            positive.as_str()
        } else {
            "other"
        };
        println!("{}", tally.row(&format!("{source}, {lang}, {label}")));
    }

    println!();
    println!("| length, true label | texts | flagged `{positive}` | unsure | confident other |");
    println!("|---|---|---|---|---|");
    for is_positive in [false, true] {
        for (index, (_, name)) in BUCKETS.iter().enumerate() {
            let mut tally = Tally::default();
            for s in scored
                .iter()
                .filter(|s| s.positive == is_positive && bucket(s.words) == index)
            {
                tally.add(s);
            }
            if tally.n > 0 {
                let label = if is_positive {
                    positive.as_str()
                } else {
                    "other"
                };
                println!("{}", tally.row(&format!("{name}, {label}")));
            }
        }
    }

    let short: Vec<&Scored> = scored.iter().filter(|s| s.words <= 30).collect();
    let (mut negatives, mut flagged, mut positives, mut caught) = (0, 0, 0, 0);
    for s in &short {
        if s.positive {
            positives += 1;
            caught += usize::from(s.answered_positive && s.confident);
        } else {
            negatives += 1;
            flagged += usize::from(s.answered_positive && s.confident);
        }
    }
    println!();
    println!(
        "At most 30 words: other texts flagged `{positive}` {flagged}/{negatives} ({:.1}%); \
         `{positive}` caught (confident) {caught}/{positives} ({:.1}%).",
        percent(flagged, negatives),
        percent(caught, positives)
    );
    println!(
        "Expected calibration error (answered label's score, 10 bins): {:.4} over all {} texts.",
        calibration_error(&scored),
        scored.len()
    );
    Ok(())
}

/// The bytes of a bundle directory's manifest, model and tokenizer.
type BundleFiles = (Vec<u8>, Vec<u8>, Vec<u8>);

/// The manifest and the two files it names, from a bundle directory.
fn read_bundle(dir: &std::path::Path) -> Result<BundleFiles, Box<dyn std::error::Error>> {
    let manifest = std::fs::read(dir.join("manifest.json"))?;
    let parsed: Value = serde_json::from_slice(&manifest)?;
    let file = |name: &str| -> Result<Vec<u8>, Box<dyn std::error::Error>> {
        let path = parsed["files"][name]["path"]
            .as_str()
            .ok_or_else(|| format!("manifest.json names no {name} file"))?;
        Ok(std::fs::read(dir.join(path))?)
    };
    let (model, tokenizer) = (file("model")?, file("tokenizer")?);
    Ok((manifest, model, tokenizer))
}

fn bucket(words: usize) -> usize {
    BUCKETS
        .iter()
        .position(|(most, _)| words <= *most)
        .unwrap_or(BUCKETS.len() - 1)
}

/// Expected calibration error of the answered label's score: the texts binned by score
/// (10 equal-width bins over [0, 1]), then the mean over bins, weighted by their size, of
/// |accuracy - mean score|.
fn calibration_error(scored: &[Scored]) -> f64 {
    let mut bins = [(0usize, 0f64, 0f64); 10];
    for s in scored {
        let index = ((f64::from(s.score) * 10.0) as usize).min(9);
        bins[index].0 += 1;
        bins[index].1 += f64::from(s.score);
        bins[index].2 += f64::from(u8::from(s.correct));
    }
    let total = scored.len().max(1) as f64;
    bins.iter()
        .filter(|(n, _, _)| *n > 0)
        .map(|(n, score, correct)| (*n as f64 / total) * ((correct - score) / *n as f64).abs())
        .sum()
}

fn share(n: usize, of: usize) -> String {
    format!("{n} ({:.1}%)", percent(n, of))
}
