//! tract against onnxruntime on every shipped classifier (`models/spam-mini`,
//! `models/prompt-guard`): each build script recorded onnxruntime's logits (and the Python
//! tokenizer's ids) for real held-out texts in the bundle's `parity.json`.

use std::path::PathBuf;

use serde_json::Value;
use triage_core::bundle::{self, sha256_hex};
use triage_core::model::SequenceModel;
use triage_core::tokenize::TextEncoder;
use triage_core::Manifest;

/// Largest |tract - onnxruntime| allowed on a logit. Weights are int8 at rest but compute
/// is f32 in both runtimes, so only summation order differs.
const MAX_ABS_DIFF: f32 = 1e-4;

/// The shipped classifier bundles, by folder under `models/`.
const BUNDLES: &[&str] = &["spam-mini", "prompt-guard"];

struct Shipped {
    name: &'static str,
    manifest: Manifest,
    model: Vec<u8>,
    tokenizer: Vec<u8>,
    fixture: Value,
}

fn shipped() -> impl Iterator<Item = Shipped> {
    BUNDLES.iter().map(|&name| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../models")
            .join(name);
        let read = |file: &str| {
            std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{name}/{file}: {e}"))
        };
        let manifest = Manifest::from_json(&read("manifest.json")).expect("manifest");
        Shipped {
            name,
            model: read(&manifest.files.model.path),
            tokenizer: read(&manifest.files.tokenizer.path),
            fixture: serde_json::from_slice(&read("parity.json")).expect("parity.json"),
            manifest,
        }
    })
}

#[test]
fn fixtures_were_recorded_for_the_shipped_models() {
    for bundle in shipped() {
        assert_eq!(
            bundle.fixture["model_sha256"],
            sha256_hex(&bundle.model),
            "{}",
            bundle.name
        );
        assert_eq!(
            bundle.manifest.files.model.sha256,
            sha256_hex(&bundle.model)
        );
    }
    // The compiled-in default is the spam-mini folder.
    assert_eq!(
        sha256_hex(bundle::embedded().model),
        sha256_hex(&shipped().next().expect("spam-mini").model)
    );
}

#[test]
fn rust_tokenizer_gives_the_python_tokenizer_ids() {
    for bundle in shipped() {
        let encoder = TextEncoder::from_bytes(
            "tokenizer.json",
            &bundle.tokenizer,
            bundle.manifest.max_tokens,
        )
        .expect("tokenizer");
        let cases = bundle.fixture["cases"].as_array().expect("cases").clone();
        assert!(
            cases.len() >= 16,
            "{}: fixture holds enough texts",
            bundle.name
        );
        for case in cases {
            let text = case["text"].as_str().expect("text");
            let expected: Vec<i64> = serde_json::from_value(case["ids"].clone()).expect("ids");
            assert_eq!(
                encoder.encode(text).expect("encodes").ids,
                expected,
                "{}: {text:.60}",
                bundle.name
            );
        }
    }
}

#[test]
fn tract_logits_match_onnxruntime() {
    for bundle in shipped() {
        let model = SequenceModel::load(&bundle.manifest, &bundle.model).expect("model loads");
        let mut worst = 0f32;
        for case in bundle.fixture["cases"].as_array().expect("cases") {
            let ids: Vec<i64> = serde_json::from_value(case["ids"].clone()).expect("ids");
            let expected: Vec<f32> =
                serde_json::from_value(case["logits"].clone()).expect("logits");
            let actual = model.run(&ids).expect("runs");
            assert_eq!(actual.len(), expected.len());
            for (a, e) in actual.iter().zip(&expected) {
                worst = worst.max((a - e).abs());
            }
        }
        assert!(
            worst <= MAX_ABS_DIFF,
            "{}: max abs diff {worst} > {MAX_ABS_DIFF}",
            bundle.name
        );
    }
}
