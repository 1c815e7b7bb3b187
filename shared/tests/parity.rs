//! tract against onnxruntime on the shipped model: the build script recorded
//! onnxruntime's logits (and the Python tokenizer's ids) for real texts in `parity.json`.

use serde_json::Value;
use triage_core::bundle::{self, sha256_hex};
use triage_core::model::SequenceModel;
use triage_core::tokenize::TextEncoder;
use triage_core::Manifest;

/// Largest |tract - onnxruntime| allowed on a logit. Weights are int8 at rest but compute
/// is f32 in both runtimes, so only summation order differs.
const MAX_ABS_DIFF: f32 = 1e-4;

fn fixture() -> Value {
    serde_json::from_str(include_str!("../../models/spam-mini/parity.json")).expect("parity.json")
}

#[test]
fn fixture_was_recorded_for_the_shipped_model() {
    let bundle = bundle::embedded();
    assert_eq!(fixture()["model_sha256"], sha256_hex(bundle.model));
}

#[test]
fn rust_tokenizer_gives_the_python_tokenizer_ids() {
    let bundle = bundle::embedded();
    let manifest = Manifest::from_json(bundle.manifest).expect("manifest");
    let encoder = TextEncoder::from_bytes("tokenizer.json", bundle.tokenizer, manifest.max_tokens)
        .expect("tokenizer");
    let cases = fixture()["cases"].as_array().expect("cases").clone();
    assert!(cases.len() >= 16, "fixture holds enough texts");
    for case in cases {
        let text = case["text"].as_str().expect("text");
        let expected: Vec<i64> = serde_json::from_value(case["ids"].clone()).expect("ids");
        assert_eq!(
            encoder.encode(text).expect("encodes").ids,
            expected,
            "text: {text:.60}"
        );
    }
}

#[test]
fn tract_logits_match_onnxruntime() {
    let bundle = bundle::embedded();
    let manifest = Manifest::from_json(bundle.manifest).expect("manifest");
    let model = SequenceModel::load(&manifest, bundle.model).expect("model loads");
    let mut worst = 0f32;
    for case in fixture()["cases"].as_array().expect("cases") {
        let ids: Vec<i64> = serde_json::from_value(case["ids"].clone()).expect("ids");
        let expected: Vec<f32> = serde_json::from_value(case["logits"].clone()).expect("logits");
        let actual = model.run(&ids).expect("runs");
        assert_eq!(actual.len(), expected.len());
        for (a, e) in actual.iter().zip(&expected) {
            worst = worst.max((a - e).abs());
        }
    }
    assert!(
        worst <= MAX_ABS_DIFF,
        "max abs diff {worst} > {MAX_ABS_DIFF}"
    );
}
