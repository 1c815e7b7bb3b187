//! `triage bundle` end to end on a model that is not spam-mini: models/lang-id, a
//! 7-language identifier with a byte-level BPE tokenizer (no [UNK], no token_type_ids), an
//! attention_mask input and float weights, as its Hugging Face-style folder (model.onnx,
//! tokenizer.json, config.json with id2label). Its reference.jsonl holds onnxruntime
//! 1.31.1's logits for 45 texts (models/lang-id/scripts/make.py): the bundle, served by
//! `triage serve` beside spam-mini, must give the same scores within 1e-4.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use prost::Message;
use serde_json::{json, Value};
use triage_contract::served::{free_port, Served};

fn triage(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(args)
        .env("RUST_LOG", "warn")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("triage runs")
}

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("triage-bundle-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Runs `triage bundle` and returns its report; panics with stderr if it failed.
fn bundle(args: &[&str]) -> Value {
    let out = triage(&[&["bundle"], args].concat());
    assert!(
        out.status.success(),
        "triage bundle {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON report")
}

/// Runs `triage bundle`, which must fail; returns stderr.
fn bundle_fails(args: &[&str]) -> String {
    let out = triage(&[&["bundle"], args].concat());
    assert!(!out.status.success(), "triage bundle {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The reference rows: text and onnxruntime's logits.
fn reference() -> Vec<(String, Vec<f64>)> {
    let text = std::fs::read_to_string(repo("models/lang-id/reference.jsonl")).expect("reference");
    text.lines()
        .map(|line| {
            let row: Value = serde_json::from_str(line).expect("JSON line");
            let logits = row["logits"]
                .as_array()
                .expect("logits")
                .iter()
                .map(|v| v.as_f64().expect("number"))
                .collect();
            (row["text"].as_str().expect("text").to_owned(), logits)
        })
        .collect()
}

fn softmax(logits: &[f64]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

#[test]
fn a_hugging_face_folder_becomes_a_bundle_whose_served_scores_match_onnxruntime() {
    let out = scratch("lang-id");
    let source = repo("models/lang-id");
    let reference_file = source.join("reference.jsonl");
    let report = bundle(&[
        utf8(&source),
        "--reference",
        utf8(&reference_file),
        "--out",
        utf8(&out),
    ]);
    let manifest = &report["manifest"];
    assert_eq!(manifest["name"], "lang-id");
    assert_eq!(
        manifest["inputs"],
        json!({"input_ids": "input_ids", "attention_mask": "attention_mask"})
    );
    assert_eq!(manifest["labels"][0], "english", "labels from config.json");
    assert_eq!(manifest["max_tokens"], 64, "max_position_embeddings");
    let parity = &report["parity"];
    assert_eq!(parity["texts"], 45);
    assert!(
        parity["max_abs_diff"].as_f64().expect("diff") <= 1e-4,
        "{parity}"
    );
    assert!(out.join("parity.json").is_file());

    // Served beside spam-mini: the first --model-dir is the default model.
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_triage"));
    command
        .args(["--model-dir", utf8(&out), "--model-dir"])
        .arg(repo("models/spam-mini"))
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")]);
    let server = Served::spawn("triage-bundle-serve", command, port);
    let client = server.client(Duration::from_secs(60));
    let models = client.get("/v1/models").json();
    assert_eq!(models["default"], "lang-id", "{models}");
    assert_eq!(models["models"][1]["name"], "spam-mini", "{models}");
    let labels: Vec<String> = serde_json::from_value(manifest["labels"].clone()).expect("labels");
    let mut worst = 0f64;
    for (text, logits) in reference() {
        let reply = client.post_json("/v1/classify", &json!({ "text": text, "model": "lang-id" }));
        reply.assert_status(200);
        let answer = reply.json();
        for (label, expected) in labels.iter().zip(softmax(&logits)) {
            let served = answer["scores"][label].as_f64().expect("a score per label");
            worst = worst.max((served - expected).abs());
        }
    }
    assert!(
        worst <= 1e-4,
        "served scores differ from onnxruntime's by {worst}"
    );
    let spam = client.post_json(
        "/v1/classify",
        &json!({ "text": triage_contract::samples::SPAM[0], "model": "spam-mini" }),
    );
    assert_eq!(spam.json()["label"], "spam");
}

#[test]
fn int8_weights_are_smaller_and_keep_every_label() {
    let out = scratch("lang-id-int8");
    let source = repo("models/lang-id");
    let reference_file = source.join("reference.jsonl");
    let args = [
        utf8(&source),
        "--quantize",
        "int8",
        "--reference",
        utf8(&reference_file),
        "--out",
        utf8(&out),
    ];
    // int8 weights move the scores by more than the parity tolerance...
    let stderr = bundle_fails(&args);
    assert!(
        stderr.contains("tolerance") && stderr.contains("parity.json"),
        "{stderr}"
    );
    // ...and by less than 0.05, every top label kept.
    let report = bundle(&[&args[..], &["--tolerance", "0.05"]].concat());
    let before = report["model_bytes_before"].as_u64().expect("size");
    let after = report["model_bytes_after"].as_u64().expect("size");
    assert!(after * 3 < before, "{after} of {before} bytes");
    assert_eq!(
        report["quantized_tensors"], 2,
        "the embedding table and the hidden layer"
    );
    let parity = &report["parity"];
    assert_eq!(parity["same_label"], parity["texts"], "{parity}");
    // The written bundle is what a worker loads.
    let out = triage(&["--model-dir", utf8(&out), "classify", "Où est la gare ?"]);
    let answer: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(answer["label"], "french", "{answer}");
}

#[test]
fn a_graph_input_it_cannot_feed_is_named() {
    let dir = scratch("renamed-input");
    let source = repo("models/lang-id");
    let bytes = std::fs::read(source.join("model.onnx")).expect("model");
    let mut model = tract_onnx::pb::ModelProto::decode(&bytes[..]).expect("ONNX");
    let graph = model.graph.as_mut().expect("graph");
    for input in &mut graph.input {
        if input.name == "attention_mask" {
            input.name = "mask".into();
        }
    }
    for node in &mut graph.node {
        for name in &mut node.input {
            if name == "attention_mask" {
                *name = "mask".into();
            }
        }
    }
    let renamed = dir.join("renamed.onnx");
    std::fs::write(&renamed, model.encode_to_vec()).expect("write");
    let tokenizer = source.join("tokenizer.json");
    let stderr = bundle_fails(&[
        utf8(&renamed),
        "--tokenizer",
        utf8(&tokenizer),
        "--labels",
        "a,b,c,d,e,f,g",
        "--out",
        utf8(&dir.join("out")),
    ]);
    assert!(
        stderr.contains("`mask`") && stderr.contains("attention_mask"),
        "{stderr}"
    );
}

#[test]
fn labels_that_do_not_match_the_output_and_files_that_are_not_models_are_refused() {
    let dir = scratch("refused");
    let source = repo("models/lang-id");
    let stderr = bundle_fails(&[
        utf8(&source),
        "--labels",
        "ham,spam",
        "--out",
        utf8(&dir.join("two")),
    ]);
    assert!(stderr.contains("7 outputs for 2 labels"), "{stderr}");
    let not_onnx = dir.join("notes.onnx");
    std::fs::write(&not_onnx, "this is not a model").expect("write");
    let stderr = bundle_fails(&[
        utf8(&not_onnx),
        "--tokenizer",
        utf8(&source.join("tokenizer.json")),
        "--labels",
        "a,b",
        "--out",
        utf8(&dir.join("x")),
    ]);
    assert!(stderr.contains("not an ONNX model"), "{stderr}");
    let stderr = bundle_fails(&[utf8(&dir), "--out", utf8(&dir.join("y"))]);
    assert!(
        stderr.contains("notes.onnx") || stderr.contains("tokenizer.json"),
        "{stderr}"
    );
}

#[test]
fn options_that_would_serve_wrong_answers_are_refused() {
    let dir = scratch("options");
    let source = repo("models/lang-id");
    let reference_file = source.join("reference.jsonl");
    let out = dir.join("out");
    let cases: [(&[&str], &str); 5] = [
        // Two scores of one name in every answer.
        (&["--labels", "a,a,b,c,d,e,f"], "twice"),
        // Logits served as if they were probabilities.
        (&["--probabilities"], "not probabilities"),
        (&["--tolerance", "NaN"], "--tolerance"),
        (&["--tolerance", "-1"], "--tolerance"),
        (&["--name", "../evil"], "name"),
    ];
    for (options, expected) in cases {
        let mut args = vec![utf8(&source), "--out", utf8(&out), "--reference"];
        args.push(utf8(&reference_file));
        args.extend_from_slice(options);
        let stderr = bundle_fails(&args);
        assert!(stderr.contains(expected), "{options:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
