//! `triage-bench`: times the default model's inference for `bench/run`, the same way on
//! every runtime it is built for (natively, and for `wasm32-wasip2` under `wasmtime run`).
//!
//! ```text
//! triage-bench time                         lines "<tokens> <iterations>" on stdin, each
//!                                           answered by a JSON line on stdout:
//!                                           {"tokens", "us": [per run], "logits"}
//! triage-bench profile <tokens> <iterations> one JSON object: microseconds by tract op
//!                                           and by node, summed over the runs
//! ```
//!
//! `--model FILE` before the command runs another ONNX export of the same model (same
//! inputs and output) instead of the embedded one, to compare export choices.
//!
//! The token ids are `1000 + (i * 37) % 7000` for position `i`, as in the criterion
//! benchmark and in `bench/engines.py`, so onnxruntime runs exactly the same input. A driver
//! keeps `time` open and alternates it with other engines, so they share the machine's
//! noise.

mod profile;

use std::error::Error;
use std::io::{BufRead, Write};
use std::time::Instant;

use serde_json::json;
use triage_core::model::SequenceModel;
use triage_core::{bundle, Manifest};

type Outcome = Result<(), Box<dyn Error>>;

/// The benchmark's input: `tokens` deterministic ids inside spam-mini's vocabulary.
pub fn token_ids(tokens: usize) -> Vec<i64> {
    (0..tokens as i64).map(|i| 1000 + (i * 37) % 7000).collect()
}

/// The embedded spam-mini model, or the ONNX file at `path` read with its manifest.
fn load_model(path: Option<&str>) -> Result<SequenceModel, Box<dyn Error>> {
    let bundle = bundle::embedded();
    let manifest = Manifest::from_json(bundle.manifest)?;
    let model = match path {
        Some(path) => SequenceModel::load(&manifest, &std::fs::read(path)?)?,
        None => SequenceModel::load(&manifest, bundle.model)?,
    };
    Ok(model)
}

fn parse_pair(line: &str) -> Result<(usize, usize), Box<dyn Error>> {
    let mut fields = line.split_whitespace().map(str::parse::<usize>);
    match (fields.next(), fields.next(), fields.next()) {
        (Some(Ok(tokens)), Some(Ok(iterations)), None) if tokens > 0 => Ok((tokens, iterations)),
        _ => Err(format!("expected \"<tokens> <iterations>\", got {line:?}").into()),
    }
}

/// Answers each request line with the time of every run, in microseconds.
fn time(model: &SequenceModel) -> Outcome {
    let stdout = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let (tokens, iterations) = parse_pair(&line)?;
        let ids = token_ids(tokens);
        let mut logits = Vec::new();
        let mut micros = Vec::with_capacity(iterations);
        for _ in 0..iterations {
            let started = Instant::now();
            logits = model.run(&ids)?;
            micros.push(started.elapsed().as_secs_f64() * 1e6);
        }
        let answer = json!({"tokens": tokens, "us": micros, "logits": logits});
        let mut out = stdout.lock();
        writeln!(out, "{answer}")?;
        out.flush()?;
    }
    Ok(())
}

fn main() -> Outcome {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    let model_path = match args.as_slice() {
        ["--model", path, ..] => {
            let path = *path;
            args.drain(..2);
            Some(path)
        }
        _ => None,
    };
    let model = load_model(model_path)?;
    match args.as_slice() {
        ["time"] => time(&model),
        ["profile", tokens, iterations] => {
            let (tokens, iterations) = parse_pair(&format!("{tokens} {iterations}"))?;
            let report = profile::by_node(&model, &token_ids(tokens), iterations)?;
            println!("{report}");
            Ok(())
        }
        _ => Err("usage: triage-bench [--model FILE] time | profile <tokens> <iterations>".into()),
    }
}
