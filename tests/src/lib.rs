//! # triage-contract
//!
//! The HTTP contract every Triage adapter serves, as test cases that take a base URL.
//! An adapter's test harness starts its runtime on loopback and calls [`run_harness`],
//! which runs every case of [`CASES`], [`PARSE_CASES`], [`REDACT_CASES`] and [`MODEL_CASES`] (two
//! classifiers and the embedding model side by side) against it with libtest's command line and output
//! (filters, `--list`, `--test-threads`), then stops the runtime. The cases and the
//! rows of the bad-input matrix ([`bad_input::ROWS`], run as `bad_input::<row>`) and of
//! the hostile schemas ([`parse_cases::HOSTILE`], run as `hostile_schema::<row>`) are
//! written once, here; adapters never copy them. An adapter serving prompt-guard instead of
//! spam-mini calls [`run_prompt_guard_harness`]: [`prompt_guard::CASES`] and the
//! bad-input matrix.

pub mod bad_input;
pub mod cases;
pub mod client;
pub mod generate_cases;
pub mod hybrid;
pub mod model_cases;
pub mod origin;
pub mod parse_cases;
pub mod prompt_guard;
pub mod redact_cases;
pub mod samples;
pub mod schema;
#[cfg(unix)]
pub mod served;
#[cfg(unix)]
pub mod viceroy;
#[cfg(unix)]
pub mod wasmtime;
#[cfg(unix)]
pub mod wrangler;

use std::process::ExitCode;
use std::sync::Arc;

use libtest_mimic::{Arguments, Trial};

pub use cases::assert_problem;
pub use client::{Client, Reply};

/// A contract case: panics on a violation.
pub type Case = fn(&Client);

/// Names each case after its function in `$module`, so the two cannot drift apart.
macro_rules! named_cases {
    ($module:ident: $($case:ident),+ $(,)?) => {
        &[$((stringify!($case), $module::$case as Case)),+]
    };
}

/// Every case of the contract, by name.
pub const CASES: &[(&str, Case)] = named_cases![cases:
    health_names_the_model,
    models_reports_model_budgets_and_memory,
    openapi_document_is_served,
    generate_without_a_generator_says_why,
    classifies_real_spam_as_spam,
    classifies_real_ham_as_ham,
    batch_answers_in_request_order,
    long_text_is_truncated_and_flagged,
    accepts_json_content_type_with_parameters,
    largest_allowed_request_fits_in_memory,
    padding_does_not_hide_the_text,
    typed_control_tokens_are_plain_text,
    dilution_does_not_hide_spam,
    unreadable_text_is_never_confident,
];

/// The cases of `/v1/parse` and ad-hoc labels, by name.
pub const PARSE_CASES: &[(&str, Case)] = named_cases![parse_cases:
    parse_support_tickets_by_name,
    parse_inline_schema_matches_the_named_one,
    parse_risk_areas,
    parse_answers_only_allowed_values,
    parse_integers_exactly,
    parse_extracts_order_ids_emails_and_dates,
    parse_takes_plain_strings_and_anchored_patterns,
    classify_with_ad_hoc_labels,
    models_lists_the_embedding_model_and_schemas,
];

/// The cases of `/v1/redact`, by name.
pub const REDACT_CASES: &[(&str, Case)] = named_cases![redact_cases:
    redact_replaces_personal_data_in_several_locales,
    redact_only_the_asked_types_and_leave_plain_text,
    redact_refuses_bad_input,
    redact_answers_the_costliest_text_within_the_budget,
];

/// The cases of a deployment serving several models side by side, by name.
pub const MODEL_CASES: &[(&str, Case)] = named_cases![model_cases:
    two_classifiers_and_the_embedding_model_serve_side_by_side,
    each_named_model_answers_with_its_own_labels,
    prompt_guard_answers_beside_spam_mini,
    unknown_model_is_404_naming_it,
    model_and_labels_together_are_refused,
    models_listing_conforms,
];

/// The cases of `/v1/generate` and the generative parse decoder, by name.
pub const GENERATE_CASES: &[(&str, Case)] = named_cases![generate_cases:
    generate_follows_a_json_schema,
    generate_writes_strings_the_embedding_decoder_cannot,
    generate_matches_a_regex,
    generate_follows_a_lark_grammar,
    parse_with_the_generate_decoder_answers_the_schema,
    generate_stops_at_max_new_tokens,
    sampling_is_reproducible_by_seed,
    special_tokens_in_messages_are_plain_text,
    generate_budgets_refuse_before_work,
    hostile_grammars_are_refused_or_bounded,
    bad_generate_bodies_are_refused,
    models_lists_the_generator,
];

/// Every trial against `client`: the cases, the rows of the bad-input matrix, then the
/// hostile schemas.
fn trials(client: &Arc<Client>) -> Vec<Trial> {
    let hostile = parse_cases::HOSTILE.iter().map(|row| {
        let client = Arc::clone(client);
        Trial::test(format!("hostile_schema::{}", row.name), move || {
            parse_cases::check_hostile(&client, row);
            Ok(())
        })
    });
    let cases = CASES.iter().chain(PARSE_CASES).chain(REDACT_CASES);
    case_trials(cases.chain(MODEL_CASES), client)
        .chain(bad_input_trials(client))
        .chain(hostile)
        .collect()
}

/// One trial per case, named after it.
fn case_trials<'a>(
    cases: impl Iterator<Item = &'a (&'static str, Case)> + 'a,
    client: &'a Arc<Client>,
) -> impl Iterator<Item = Trial> + 'a {
    cases.map(|&(name, case)| {
        let client = Arc::clone(client);
        Trial::test(name, move || {
            case(&client);
            Ok(())
        })
    })
}

/// One trial per row of the bad-input matrix, `bad_input::<row>`.
fn bad_input_trials(client: &Arc<Client>) -> impl Iterator<Item = Trial> + '_ {
    bad_input::ROWS.iter().map(|row| {
        let client = Arc::clone(client);
        Trial::test(format!("bad_input::{}", row.name), move || {
            bad_input::check(&client, row);
            Ok(())
        })
    })
}

/// The main of an adapter's contract test (a `harness = false` test target). `start`
/// brings the adapter up and returns a guard that stops it when dropped, and a client for
/// it; it is not called for `--list`. With `TRIAGE_BASE_URL` set, the cases run against
/// that already-running adapter instead and `start` is not called.
pub fn run_harness<G>(start: impl FnOnce() -> (G, Client)) -> ExitCode {
    run_trials(trials, start)
}

/// [`run_harness`] for an adapter serving `models/prompt-guard`: the cases of
/// [`prompt_guard::CASES`], then the bad-input matrix (which holds for any classifier).
pub fn run_prompt_guard_harness<G>(start: impl FnOnce() -> (G, Client)) -> ExitCode {
    run_trials(
        |client| {
            case_trials(prompt_guard::CASES.iter(), client)
                .chain(bad_input_trials(client))
                .collect()
        },
        start,
    )
}

/// [`run_harness`] for an adapter serving a generate bundle (models/smollm2-135m): the
/// cases of [`GENERATE_CASES`].
pub fn run_generate_harness<G>(start: impl FnOnce() -> (G, Client)) -> ExitCode {
    run_trials(
        |client| case_trials(GENERATE_CASES.iter(), client).collect(),
        start,
    )
}

/// The generate bundle the generate suites serve: `TRIAGE_GENERATOR_BUNDLE`, else what
/// `scripts/build-generator` writes (it must have run: the bundle is a build output).
#[cfg(unix)]
pub fn generator_bundle() -> std::path::PathBuf {
    let path = std::env::var_os("TRIAGE_GENERATOR_BUNDLE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| served::repo_root().join("models/smollm2-135m/build/bundle"));
    assert!(
        path.join("manifest.json").is_file(),
        "no generate bundle at {}: run scripts/build-generator first",
        path.display()
    );
    path
}

/// Runs `trials` of a client with libtest's command line: against `TRIAGE_BASE_URL` when
/// set, else against what `start` brings up (not called for `--list`).
fn run_trials<G>(
    trials: impl Fn(&Arc<Client>) -> Vec<Trial>,
    start: impl FnOnce() -> (G, Client),
) -> ExitCode {
    let args = Arguments::from_args();
    if args.list {
        // Listing runs nothing, so the client is never used.
        let unused = Arc::new(Client::new("http://127.0.0.1:9"));
        return libtest_mimic::run(&args, trials(&unused)).exit_code();
    }
    let (guard, client) = match std::env::var("TRIAGE_BASE_URL") {
        Ok(base) => (None, Client::new(&base)),
        Err(_) => {
            let (guard, client) = start();
            (Some(guard), client)
        }
    };
    let conclusion = libtest_mimic::run(&args, trials(&Arc::new(client)));
    drop(guard);
    conclusion.exit_code()
}
