//! Loading a model bundle: the manifest's JSON and checks, the sha256 verification of each
//! file, the tokenizer, and the model as the manifest describes it (input and output
//! names, labels, token budget). Every input must load or fail with a typed error; a
//! panic is a crash.
//!
//! Input: one flag byte, the manifest's and the tokenizer's lengths (u16, little endian),
//! then manifest, tokenizer and model bytes. With the flag's low bit clear, the three go
//! to the loader as they are, and must not get past the checksums. With it set, the
//! model is a fixed tiny ONNX classifier (`fuzz/seeds/tiny-model.onnx`) and the target
//! rewrites the manifest's sha256s to match, so that the loaders behind the verification
//! run on the fuzzed manifest and tokenizer. The ONNX parser itself (tract's) is not
//! fuzzed: only files matching the deployer's own checksums ever reach it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use triage_core::bundle::sha256_hex;
use triage_core::{BundleBytes, Classifier, PreparedClassifier, Settings};

/// Embedding, mean pooling and a linear layer over 64 tokens (fuzz/seeds/make_seeds.py).
const TINY_MODEL: &[u8] = include_bytes!("../seeds/tiny-model.onnx");

/// Splits `data` at the lengths it starts with; lengths past the end are clamped.
fn split(data: &[u8]) -> Option<(u8, &[u8], &[u8], &[u8])> {
    let (&flags, rest) = data.split_first()?;
    let (lengths, rest) = rest.split_at_checked(4)?;
    let manifest_len = usize::from(u16::from_le_bytes([lengths[0], lengths[1]])).min(rest.len());
    let (manifest, rest) = rest.split_at(manifest_len);
    let tokenizer_len = usize::from(u16::from_le_bytes([lengths[2], lengths[3]])).min(rest.len());
    let (tokenizer, model) = rest.split_at(tokenizer_len);
    Some((flags, manifest, tokenizer, model))
}

/// The manifest with its files' sha256s set to those of `tokenizer` and `model`, when it
/// is a JSON object with a `files` object; else the manifest as it is.
fn with_matching_checksums(manifest: &[u8], tokenizer: &[u8], model: &[u8]) -> Vec<u8> {
    let Ok(mut value) = serde_json::from_slice::<Value>(manifest) else {
        return manifest.to_vec();
    };
    for (file, bytes) in [("model", model), ("tokenizer", tokenizer)] {
        if let Some(entry) = value.pointer_mut(&format!("/files/{file}")) {
            if let Some(entry) = entry.as_object_mut() {
                entry.insert("sha256".into(), Value::String(sha256_hex(bytes)));
            }
        }
    }
    serde_json::to_vec(&value).unwrap_or_default()
}

fuzz_target!(|data: &[u8]| {
    let Some((flags, manifest, tokenizer, model)) = split(data) else {
        return;
    };
    let checksums_fixed = flags & 1 == 1;
    let (manifest, model) = if checksums_fixed {
        (
            with_matching_checksums(manifest, tokenizer, TINY_MODEL),
            TINY_MODEL,
        )
    } else {
        (manifest.to_vec(), model)
    };
    let bundle = BundleBytes::new(&manifest, model, tokenizer);
    let Ok(prepared) = PreparedClassifier::load(bundle) else {
        return;
    };
    // Nothing loads unverified: the files are the ones the manifest's sha256s name.
    let files = &prepared.manifest().files;
    assert_eq!(files.model.sha256, sha256_hex(model));
    assert_eq!(files.tokenizer.sha256, sha256_hex(tokenizer));
    // A bundle that loads must classify, or refuse with a typed error.
    if let Ok(classifier) = Classifier::new(prepared, &Settings::default()) {
        let _ = classifier.classify("free money, click now");
    }
});
