//! `triage-bench`: times the default model's inference for `bench/run`, the same way on
//! every runtime it is built for (natively, and for `wasm32-wasip2` under `wasmtime run`).
//!
//! ```text
//! triage-bench time                         lines "<tokens> <iterations>" on stdin, each
//!                                           answered by a JSON line on stdout:
//!                                           {"tokens", "us": [per run], "logits"}
//! triage-bench profile <tokens> <iterations> one JSON object: microseconds by tract op
//!                                           and by node, summed over the runs
//! triage-bench macs <tokens>                multiply-adds of one run (tract's cost model)
//! triage-bench peak <iterations>            this CPU's multiply-adds per second through
//!                                           wasm simd128 (wasm builds only)
//! triage-bench redact <rounds>              the redactor's time per text, texts as JSON
//!                                           lines on stdin (see `redact.rs`)
//! ```
//!
//! `--kernels tract|int8` before the command picks the matmul kernels (default: what the
//! build serves with, `int8` in wasm; see `triage_core::int_matmul`).
//! `--model FILE` before the command runs another file of the same model (same inputs and
//! output) instead of the embedded one, to compare formats and export choices: ONNX when
//! its name ends in `.onnx`, tract NNEF otherwise.
//!
//! The token ids are `1000 + (i * 37) % 7000` for position `i`, as in the criterion
//! benchmark and in `bench/engines.py`, so onnxruntime runs exactly the same input. A driver
//! keeps `time` open and alternates it with other engines, so they share the machine's
//! noise.

mod arith;
mod cache;
mod profile;
mod redact;

use std::error::Error;
use std::io::{BufRead, Write};
use std::time::Instant;

use serde_json::json;
use triage_core::int_matmul::MatMulKernels;
use triage_core::manifest::ModelFormat;
use triage_core::model::SequenceModel;
use triage_core::{bundle, Manifest};

type Outcome = Result<(), Box<dyn Error>>;

/// The benchmark's input: `tokens` deterministic ids inside spam-mini's vocabulary.
pub fn token_ids(tokens: usize) -> Vec<i64> {
    (0..tokens as i64).map(|i| 1000 + (i * 37) % 7000).collect()
}

/// The embedded spam-mini model, or the file at `path` (ONNX if its name ends in `.onnx`,
/// else NNEF) read with spam-mini's manifest, on the given matmul kernels.
fn load_model(path: Option<&str>, kernels: MatMulKernels) -> Result<SequenceModel, Box<dyn Error>> {
    let bundle = bundle::embedded();
    let mut manifest = Manifest::from_json(bundle.manifest)?;
    let model = match path {
        Some(path) => {
            manifest.format = if path.ends_with(".onnx") {
                ModelFormat::Onnx
            } else {
                ModelFormat::Nnef
            };
            SequenceModel::load_with(&manifest, &std::fs::read(path)?, kernels)?.0
        }
        None => SequenceModel::load_with(&manifest, bundle.model, kernels)?.0,
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
    let mut model_path = None;
    let mut kernels = MatMulKernels::for_this_build();
    loop {
        match args.as_slice() {
            ["--model", path, ..] => model_path = Some(path.to_string()),
            ["--kernels", "tract", ..] => kernels = MatMulKernels::Tract,
            ["--kernels", "int8", ..] => kernels = MatMulKernels::Int8,
            _ => break,
        }
        args.drain(..2);
    }
    if let ["cache"] = args.as_slice() {
        println!("{}", cache::run()?);
        return Ok(());
    }
    if let ["redact", rounds] = args.as_slice() {
        println!("{}", redact::run(rounds.parse()?)?);
        return Ok(());
    }
    let model = load_model(model_path.as_deref(), kernels)?;
    match args.as_slice() {
        ["time"] => time(&model),
        ["profile", tokens, iterations] => {
            let (tokens, iterations) = parse_pair(&format!("{tokens} {iterations}"))?;
            let report = profile::by_node(&model, &token_ids(tokens), iterations)?;
            println!("{report}");
            Ok(())
        }
        ["macs", tokens] => {
            let (tokens, _) = parse_pair(&format!("{tokens} 1"))?;
            println!("{}", arith::macs(&model, tokens)?);
            Ok(())
        }
        ["peak", iterations] => {
            println!("{}", arith::peak(iterations.parse()?)?);
            Ok(())
        }
        _ => Err(
            "usage: triage-bench [--kernels tract|int8] [--model FILE] time \
                  | profile <tokens> <iterations> | macs <tokens> | peak <iterations> \
                  | redact <rounds> | cache"
                .into(),
        ),
    }
}
