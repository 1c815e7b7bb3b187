//! Budgets on the real model: truncation, caps, and the memory budget check.

use triage_core::bundle;
use triage_core::{BudgetExceeded, Budgets, Classifier, PreparedClassifier, Settings, TriageError};

fn classifier(budgets: Budgets) -> Classifier {
    Classifier::load(bundle::embedded(), budgets).expect("loads")
}

#[test]
fn text_past_the_token_budget_is_truncated_and_flagged() {
    let budgets = Budgets {
        max_tokens: 16,
        ..Budgets::default()
    };
    let c = classifier(budgets);
    let short = c.classify("see you at lunch").expect("classifies");
    assert!(!short.truncated);
    assert!(short.tokens < 16);
    let long = c
        .classify(&"meeting notes attached ".repeat(50))
        .expect("classifies");
    assert!(long.truncated);
    assert_eq!(long.tokens, 16);
}

#[test]
fn huge_text_without_spaces_is_bounded_and_flagged() {
    let c = classifier(Budgets::default());
    let result = c
        .classify(&"x".repeat(c.budgets().max_text_bytes))
        .expect("classifies");
    // Tokenized in 2 KiB chunks, each an over-long word WordPiece reads as one [UNK]:
    // the whole text is read, in a bounded number of tokenizer calls, and not truncated.
    assert!(!result.truncated, "{result:?}");
    assert!(result.tokens <= c.budgets().max_tokens);
    let padded = format!("{}cheap pills", " ".repeat(c.budgets().max_text_bytes - 11));
    let result = c.classify(&padded).expect("classifies");
    let plain = c.classify("cheap pills").expect("classifies");
    assert_eq!(
        result, plain,
        "32 KiB of spaces before a text change nothing"
    );
}

#[test]
fn token_budget_is_capped_at_the_model_maximum() {
    let c = classifier(Budgets {
        max_tokens: 100_000,
        ..Budgets::default()
    });
    assert_eq!(c.budgets().max_tokens, c.manifest().max_tokens);
}

#[test]
fn text_and_batch_budgets_are_typed_errors() {
    let c = classifier(Budgets {
        max_text_bytes: 10,
        max_batch: 2,
        ..Budgets::default()
    });
    assert!(matches!(
        c.classify("more than ten bytes"),
        Err(TriageError::Budget(BudgetExceeded::Text {
            limit: 10,
            actual: 19,
            ..
        }))
    ));
    assert!(matches!(
        c.classify_batch(&["a", "b", "c"]),
        Err(TriageError::Budget(BudgetExceeded::Batch {
            limit: 2,
            actual: 3
        }))
    ));
}

#[test]
fn budgets_whose_worst_case_exceeds_memory_are_refused_at_load() {
    let error = Classifier::load(
        bundle::embedded(),
        Budgets {
            memory_bytes: 1024 * 1024,
            ..Budgets::default()
        },
    )
    .expect_err("1 MiB cannot hold the model");
    assert!(
        matches!(
            error,
            TriageError::Budget(BudgetExceeded::Memory {
                limit: 1_048_576,
                ..
            })
        ),
        "{error:?}"
    );
}

#[test]
fn default_worst_case_fits_the_default_memory_budget_with_room() {
    let c = classifier(Budgets::default());
    let memory = c.memory();
    assert!(memory.resident_bytes > 0 && memory.worst_request_bytes > 0);
    assert!(memory.total_bytes() <= Budgets::default().memory_bytes);
}

#[test]
fn batch_results_match_single_results_in_order() {
    let c = classifier(Budgets::default());
    let texts = [
        "Lunch on Thursday? I can book a table.",
        "CLICK HERE to claim your FREE prize NOW!!!",
    ];
    let batch = c.classify_batch(&texts).expect("batch");
    for (text, result) in texts.iter().zip(&batch) {
        assert_eq!(&c.classify(text).expect("single"), result);
    }
    let sum: f32 = batch[0].scores.0.iter().map(|(_, s)| s).sum();
    assert!((sum - 1.0).abs() < 1e-5, "scores sum to one");
}

#[test]
fn settings_on_a_prepared_bundle_act_like_loading_with_them() {
    let settings = Settings {
        budgets: Budgets {
            max_tokens: 24,
            ..Budgets::default()
        },
        threshold: Some(0.99),
    };
    let prepared = PreparedClassifier::load(bundle::embedded()).expect("prepares");
    let configured = Classifier::new(prepared, &settings).expect("configures");
    let loaded = Classifier::load_with(bundle::embedded(), &settings).expect("loads");
    assert_eq!(configured.budgets(), loaded.budgets());
    assert_eq!(configured.manifest().threshold, 0.99);
    let text = "meeting notes attached, see the agenda ".repeat(20);
    let result = configured.classify(&text).expect("classifies");
    assert_eq!(result.tokens, 24, "the encoder truncates to the new budget");
    assert!(result.truncated);
    assert_eq!(result.confident, result.score >= 0.99);
    assert_eq!(result, loaded.classify(&text).expect("classifies"));
}

#[test]
fn settings_over_the_memory_budget_are_refused_on_a_prepared_bundle() {
    let settings = Settings {
        budgets: Budgets {
            memory_bytes: 1024 * 1024,
            ..Budgets::default()
        },
        threshold: None,
    };
    let prepared = PreparedClassifier::load(bundle::embedded()).expect("prepares");
    let error = Classifier::new(prepared, &settings).expect_err("over the memory budget");
    assert!(matches!(
        error,
        TriageError::Budget(BudgetExceeded::Memory { .. })
    ));
}

#[test]
fn activation_estimate_is_the_sum_of_every_node_output_at_that_length() {
    use tract_nnef::prelude::*;
    use tract_nnef::tract_core::ops::konst::Const;
    use triage_core::model::SequenceModel;
    use triage_core::Manifest;

    let bundle = bundle::embedded();
    let manifest = Manifest::from_json(bundle.manifest).expect("manifest");
    let model = SequenceModel::load(&manifest, bundle.model).expect("loads");
    let graph = model.plan().model();
    let sequence = graph.symbols.sym("S");
    for tokens in [2usize, 16, 128, 256] {
        let values = SymbolValues::default().with(&sequence, tokens as i64);
        let node_by_node: usize = graph
            .nodes()
            .iter()
            .filter(|node| node.op_as::<Const>().is_none())
            .flat_map(|node| node.outputs.iter())
            .map(|output| {
                let elements = output
                    .fact
                    .shape
                    .volume()
                    .eval_to_i64(&values)
                    .expect("evaluates");
                elements as usize * output.fact.datum_type.size_of()
            })
            .sum();
        assert_eq!(
            model.activation_bytes(tokens),
            node_by_node,
            "at {tokens} tokens"
        );
    }
    assert!(model.activation_bytes(256) > model.activation_bytes(128));
}
