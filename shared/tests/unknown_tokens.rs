//! Text the vocabulary cannot read: `unknown_tokens` is counted on every answer, and a
//! manifest's `max_unknown_share` keeps a mostly-[UNK] window from being `confident`.

use serde_json::Value;
use triage_core::bundle::{self, BundleBytes};
use triage_core::{Budgets, Classifier, TriageError};

/// The embedded bundle's manifest with `max_unknown_share` set to `share` (or removed).
fn manifest_with(share: Option<Value>) -> Vec<u8> {
    let mut manifest: Value = serde_json::from_slice(bundle::embedded().manifest).expect("json");
    let object = manifest.as_object_mut().expect("object");
    match share {
        Some(share) => object.insert("max_unknown_share".into(), share),
        None => object.remove("max_unknown_share"),
    };
    serde_json::to_vec(&manifest).expect("serialises")
}

fn load(manifest: &[u8]) -> Result<Classifier, TriageError> {
    let bundle = BundleBytes {
        manifest,
        ..bundle::embedded()
    };
    Classifier::load(bundle, Budgets::default())
}

#[test]
fn mostly_unknown_windows_are_never_confident() {
    let ruled = load(&manifest_with(Some(0.3.into()))).expect("loads");
    let plain = load(&manifest_with(None)).expect("loads");
    // Emoji and a script the vocabulary lacks come out as [UNK] (WordPiece's unknown
    // token); whatever the score, the answer must not be confident.
    for text in ["🙂", "🙏🙏 🎉", "ᚠᚢᚦᚨᚱᚲ ᚷᚹᚺᚾ", "🙂 ok 🎉"] {
        let ruled_answer = ruled.classify(text).expect("classifies");
        let plain_answer = plain.classify(text).expect("classifies");
        assert!(ruled_answer.unknown_tokens >= 1, "{text}: {ruled_answer:?}");
        assert!(!ruled_answer.confident, "{text}: {ruled_answer:?}");
        // The rule changes confidence only: the model's reading is the same.
        assert_eq!(ruled_answer.scores, plain_answer.scores, "{text}");
        assert_eq!(ruled_answer.unknown_tokens, plain_answer.unknown_tokens);
        assert_eq!(
            plain_answer.confident,
            plain_answer.score >= plain.manifest().threshold,
            "{text}: without the rule the score alone decides"
        );
    }
}

#[test]
fn readable_text_is_judged_by_its_score_alone() {
    let ruled = load(&manifest_with(Some(0.3.into()))).expect("loads");
    let texts = [
        "WINNER!! You have been selected for a free cash prize, call now to claim",
        "are we still meeting at 3 tomorrow? I can bring the slides",
        // One [UNK] in eleven tokens stays under the 0.3 share.
        "thanks for the help with the move yesterday, see you soon 🙂",
    ];
    for text in texts {
        let answer = ruled.classify(text).expect("classifies");
        let text_tokens = answer.tokens - 2; // [CLS] .. [SEP]
        assert!(
            (answer.unknown_tokens as f32) < 0.3 * text_tokens as f32,
            "{text}: {answer:?}"
        );
        assert_eq!(
            answer.confident,
            answer.score >= ruled.manifest().threshold,
            "{text}: {answer:?}"
        );
    }
    let sure = ruled.classify(texts[0]).expect("classifies");
    assert_eq!(sure.unknown_tokens, 0);
}

#[test]
fn a_share_outside_zero_to_one_is_refused_naming_the_field() {
    for share in [Value::from(0.0), Value::from(1.5), Value::from(-0.2)] {
        let error = load(&manifest_with(Some(share.clone()))).expect_err("refused");
        assert!(
            matches!(&error, TriageError::Manifest(m) if m.contains("max_unknown_share")),
            "{share}: {error:?}"
        );
    }
    assert!(load(&manifest_with(Some(1.0.into()))).is_ok());
}
