//! Bundle integrity: the committed files match the manifest, and any corrupt, truncated
//! or mismatched file is refused with an error naming it.

use triage_core::bundle::{self, sha256_hex, BundleBytes};
use triage_core::{Budgets, Classifier, Manifest, TriageError};

#[test]
fn committed_files_match_their_manifest_sha256() {
    for &name in &bundle::EMBEDDED_CLASSIFIERS {
        let bundle = bundle::embedded_named(name).expect("compiled in");
        let manifest = Manifest::from_json(bundle.manifest).expect("manifest parses");
        assert_eq!(manifest.name, name);
        assert_eq!(sha256_hex(bundle.model), manifest.files.model.sha256);
        assert_eq!(
            sha256_hex(bundle.tokenizer),
            manifest.files.tokenizer.sha256
        );
        assert!(
            bundle.model.len() <= 4 * 1024 * 1024,
            "{name}: model file is {} bytes, budget 4 MiB",
            bundle.model.len()
        );
        // Both load and answer under the default budgets.
        let classifier = Classifier::load(bundle, Budgets::default()).expect("loads");
        assert_eq!(classifier.manifest().labels.len(), 2);
    }
    let unknown = bundle::embedded_named("nope").expect_err("not compiled in");
    assert!(unknown.to_string().contains("default_model"), "{unknown}");
}

fn load_error(bundle: BundleBytes<'_>) -> TriageError {
    Classifier::load(bundle, Budgets::default()).expect_err("bundle must be refused")
}

#[test]
fn a_flipped_byte_in_the_model_is_refused_naming_the_file() {
    let good = bundle::embedded();
    let mut model = good.model.to_vec();
    let middle = model.len() / 2;
    model[middle] ^= 0x01;
    let error = load_error(BundleBytes {
        model: &model,
        ..good
    });
    match &error {
        TriageError::ChecksumMismatch { file, actual, .. } => {
            assert_eq!(file, "model.nnef.tar");
            assert_eq!(actual, &sha256_hex(&model));
        }
        other => panic!("expected a checksum mismatch, got {other:?}"),
    }
    assert!(error.to_string().contains("model.nnef.tar") && error.to_string().contains("sha256"));
}

#[test]
fn a_truncated_tokenizer_is_refused_naming_the_file() {
    let good = bundle::embedded();
    let error = load_error(BundleBytes {
        tokenizer: &good.tokenizer[..100],
        ..good
    });
    assert!(
        matches!(&error, TriageError::ChecksumMismatch { file, .. } if file == "tokenizer.json"),
        "{error:?}"
    );
}

#[test]
fn a_missing_file_is_named() {
    let good = bundle::embedded();
    let error = load_error(BundleBytes { model: &[], ..good });
    assert!(
        matches!(&error, TriageError::MissingFile { file } if file == "model.nnef.tar"),
        "{error:?}"
    );
}

#[test]
fn a_broken_manifest_is_refused() {
    let good = bundle::embedded();
    for manifest in [&b"{"[..], b"{}", b"[]"] {
        let error = load_error(BundleBytes { manifest, ..good });
        assert!(matches!(error, TriageError::Manifest(_)), "{error:?}");
    }
    let mut manifest: serde_json::Value = serde_json::from_slice(good.manifest).expect("json");
    manifest["threshold"] = 2.0.into();
    let bad_threshold = serde_json::to_vec(&manifest).expect("serialises");
    let error = load_error(BundleBytes {
        manifest: &bad_threshold,
        ..good
    });
    assert!(error.to_string().contains("threshold"), "{error}");
}

/// Names, versions and labels are what requests and answers carry: a manifest whose
/// name cannot be asked for, or whose labels would give an answer two scores of one name,
/// is refused naming the field.
#[test]
fn names_and_labels_a_request_could_not_use_are_refused() {
    let good = bundle::embedded();
    let cases: [(&str, serde_json::Value, &str); 8] = [
        ("name", "".into(), "name"),
        ("name", "../evil".into(), "name"),
        ("name", "a".repeat(65).into(), "name"),
        ("version", " ".into(), "version"),
        ("labels", serde_json::json!(["ham", "ham"]), "twice"),
        ("labels", serde_json::json!(["ham", ""]), "label 1"),
        ("labels", serde_json::json!(["ham", " spam"]), "label 1"),
        ("max_tokens", 1_000_000_000u64.into(), "max_tokens"),
    ];
    for (field, value, expected) in cases {
        let mut manifest: serde_json::Value = serde_json::from_slice(good.manifest).expect("json");
        manifest[field] = value.clone();
        let bytes = serde_json::to_vec(&manifest).expect("serialises");
        let error = load_error(BundleBytes {
            manifest: &bytes,
            ..good
        });
        assert!(
            matches!(error, TriageError::Manifest(_)) && error.to_string().contains(expected),
            "{field} = {value}: {error}"
        );
    }
}

#[test]
fn a_valid_checksum_on_garbage_is_refused_by_the_loader() {
    // A bundle whose manifest was regenerated for a file that is not a model.
    let good = bundle::embedded();
    let garbage = b"this is not a model";
    let text = std::str::from_utf8(good.manifest).expect("utf-8");
    let manifest = Manifest::from_json(good.manifest).expect("manifest");
    let relabelled = text.replace(&manifest.files.model.sha256, &sha256_hex(garbage));
    let error = load_error(BundleBytes {
        manifest: relabelled.as_bytes(),
        model: garbage,
        ..good
    });
    assert!(
        matches!(&error, TriageError::Model { file, .. } if file == "model.nnef.tar"),
        "{error:?}"
    );
}

/// Loads the default bundle with its tokenizer.json edited (`from` replaced by `to`, once)
/// and the manifest's sha256 updated to match, as a deployer's own bundle would be.
fn load_error_with_edited_tokenizer(from: &str, to: &str) -> TriageError {
    let good = bundle::embedded();
    let text = std::str::from_utf8(good.tokenizer).expect("utf-8");
    let edited = text.replacen(from, to, 1);
    assert_ne!(edited, text, "tokenizer.json contains {from}");
    let manifest = std::str::from_utf8(good.manifest)
        .expect("utf-8")
        .replace(&sha256_hex(good.tokenizer), &sha256_hex(edited.as_bytes()));
    load_error(BundleBytes {
        manifest: manifest.as_bytes(),
        tokenizer: edited.as_bytes(),
        ..good
    })
}

#[test]
fn a_tokenizer_template_naming_an_undefined_special_token_is_refused() {
    // Found by the `bundle` fuzz target: tokenizers loads this file, then panics on every
    // encode. It must be refused at load, naming the file.
    let error = load_error_with_edited_tokenizer(
        r#""special_tokens":{"[CLS]""#,
        r#""special_tokens":{"[CLX]""#,
    );
    match &error {
        TriageError::Tokenizer { file, reason } => {
            assert_eq!(file, "tokenizer.json");
            assert!(reason.contains("[CLS]"), "{reason}");
        }
        other => panic!("expected a tokenizer error, got {other:?}"),
    }
}

#[test]
fn a_tokenizer_with_ids_past_the_model_embedding_is_refused() {
    // Found by the `bundle` fuzz target: an id past the embedding table makes tract panic
    // at inference, so a tokenizer/model pair that disagree must be refused at load.
    let error = load_error_with_edited_tokenizer(r#""vocab":{"#, r#""vocab":{"zzzzz":9000,"#);
    match &error {
        TriageError::Model { file, reason } => {
            assert_eq!(file, "model.nnef.tar");
            assert!(
                reason.contains("8192") && reason.contains("9000"),
                "{reason}"
            );
        }
        other => panic!("expected a model error, got {other:?}"),
    }
}
