//! The `triage` binary end to end: real processes, real files.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;
use triage_contract::samples as triage_contract_samples;

fn triage(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("triage runs")
}

fn model_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/spam-mini")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("triage-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn classify_prints_the_label_of_real_spam_and_ham() {
    let spam = triage(&["classify", triage_contract_samples::SPAM[0]]);
    assert!(
        spam.status.success(),
        "{}",
        String::from_utf8_lossy(&spam.stderr)
    );
    let body: Value = serde_json::from_slice(&spam.stdout).expect("JSON on stdout");
    assert_eq!(body["label"], "spam");
    assert_eq!(body["model"]["name"], "spam-mini");

    let ham = triage(&["classify", triage_contract_samples::HAM[0]]);
    let body: Value = serde_json::from_slice(&ham.stdout).expect("JSON on stdout");
    assert_eq!(body["label"], "ham");
}

#[test]
fn classify_file_writes_one_json_line_per_input_line() {
    let dir = scratch("lines");
    let input = dir.join("texts.txt");
    let lines = [
        triage_contract_samples::SPAM[0],
        "",
        triage_contract_samples::HAM[0],
    ];
    std::fs::write(&input, lines.join("\n")).expect("write input");
    let out = triage(&["classify", "--file", input.to_str().expect("utf-8 path")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["label"], "spam");
    assert_eq!(results[1]["tokens"], 2, "an empty line is [CLS] [SEP]");
    assert_eq!(results[2]["label"], "ham");
}

#[test]
fn a_line_over_budget_is_reported_and_the_rest_still_answered() {
    let dir = scratch("budget");
    let input = dir.join("texts.txt");
    let huge = "a".repeat(40 * 1024);
    std::fs::write(&input, format!("{huge}\nsee you at lunch\n")).expect("write input");
    let out = triage(&["classify", "--file", input.to_str().expect("utf-8 path")]);
    assert!(
        !out.status.success(),
        "a failed line makes the exit code non-zero"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines[0]["line"], 1);
    assert_eq!(lines[0]["error"]["status"], 413);
    assert!(lines[1]["label"].is_string());
}

#[test]
fn a_corrupt_model_dir_fails_naming_the_file_and_sha256() {
    let dir = scratch("corrupt");
    for file in ["manifest.json", "tokenizer.json", "model.onnx"] {
        std::fs::copy(model_dir().join(file), dir.join(file)).expect("copy bundle");
    }
    let model = dir.join("model.onnx");
    let mut bytes = std::fs::read(&model).expect("read model");
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&model, bytes).expect("truncate model");
    let out = triage(&[
        "--model-dir",
        dir.to_str().expect("utf-8 path"),
        "classify",
        "hello",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("model.onnx") && stderr.contains("sha256"),
        "stderr: {stderr}"
    );
}

#[test]
fn model_dir_loads_the_same_bundle() {
    let out = triage(&[
        "--model-dir",
        model_dir().to_str().expect("utf-8 path"),
        "classify",
        "hello",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
