//! `triage-bench redact <rounds>`: the time to redact each text on stdin (JSON lines with a
//! `text`, such as `shared/tests/data/pii.jsonl`) with the default redactor, every text
//! `rounds` times. The first call, which compiles the patterns and reads libphonenumber's
//! metadata, is timed apart. One JSON object: `first_call_ms`, and per text `p50_us`,
//! `p99_us`, `mean_us`, `max_us`, with the text's bytes (`mean_bytes`), and the costliest
//! text the budgets allow (`worst_us`: 32 KiB of phone-shaped numbers).

use std::error::Error;
use std::io::BufRead;
use std::time::Instant;

use serde_json::json;
use triage_core::redact::{Redactor, TypeSet};

pub fn run(rounds: usize) -> Result<String, Box<dyn Error>> {
    let texts: Vec<String> = std::io::stdin()
        .lock()
        .lines()
        .map(|line| {
            let line = line?;
            let value: serde_json::Value = serde_json::from_str(&line)?;
            Ok(value["text"].as_str().unwrap_or_default().to_owned())
        })
        .collect::<Result<_, Box<dyn Error>>>()?;
    let redactor = Redactor::default();
    let started = Instant::now();
    redactor.warm();
    let first_call_ms = started.elapsed().as_secs_f64() * 1000.0;
    let mut us = Vec::with_capacity(texts.len() * rounds);
    for _ in 0..rounds.max(1) {
        for text in &texts {
            let started = Instant::now();
            std::hint::black_box(redactor.redact(text, TypeSet::all()));
            us.push(started.elapsed().as_secs_f64() * 1e6);
        }
    }
    us.sort_by(f64::total_cmp);
    let at = |q: f64| us[((us.len() - 1) as f64 * q).round() as usize];
    let worst = "0000000, ".repeat(32 * 1024 / 9);
    let started = Instant::now();
    std::hint::black_box(redactor.redact(&worst, TypeSet::all()));
    let worst_us = started.elapsed().as_secs_f64() * 1e6;
    let bytes: usize = texts.iter().map(String::len).sum();
    Ok(json!({
        "texts": texts.len(),
        "rounds": rounds,
        "first_call_ms": first_call_ms,
        "p50_us": at(0.5),
        "p99_us": at(0.99),
        "mean_us": us.iter().sum::<f64>() / us.len() as f64,
        "max_us": us[us.len() - 1],
        "mean_bytes": bytes as f64 / texts.len().max(1) as f64,
        "worst_us": worst_us,
    })
    .to_string())
}
