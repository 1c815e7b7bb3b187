//! # triage-contract
//!
//! The HTTP contract every Triage adapter serves, as test cases that take a base URL.
//! An adapter's test harness starts its runtime on loopback and calls [`run_harness`],
//! which runs every case of [`CASES`] against it with libtest's command line and output
//! (filters, `--list`, `--test-threads`), then stops the runtime. The cases are written
//! once, here; adapters never copy them.

pub mod cases;
pub mod client;
pub mod samples;
pub mod schema;
#[cfg(unix)]
pub mod served;
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

/// Names each case after its function in [`cases`], so the two cannot drift apart.
macro_rules! named_cases {
    ($($case:ident),+ $(,)?) => {
        &[$((stringify!($case), cases::$case as Case)),+]
    };
}

/// Every case of the contract, by name.
pub const CASES: &[(&str, Case)] = named_cases![
    health_names_the_model,
    models_reports_model_budgets_and_memory,
    openapi_document_is_served,
    classifies_real_spam_as_spam,
    classifies_real_ham_as_ham,
    batch_answers_in_request_order,
    long_text_is_truncated_and_flagged,
    accepts_json_content_type_with_parameters,
    malformed_json_is_400,
    empty_body_is_400,
    wrong_fields_or_types_are_422,
    wrong_method_is_405_with_allow,
    wrong_or_missing_content_type_is_415,
    body_over_budget_is_413,
    body_far_over_budget_is_413,
    batch_over_cap_is_413,
    text_over_budget_is_413,
    largest_allowed_request_fits_in_memory,
    unknown_path_is_404,
    still_answers_after_bad_requests,
];

/// The main of an adapter's contract test (a `harness = false` test target). `start`
/// brings the adapter up and returns a guard that stops it when dropped, and a client for
/// it; it is not called for `--list`. With `TRIAGE_BASE_URL` set, the cases run against
/// that already-running adapter instead and `start` is not called.
pub fn run_harness<G>(start: impl FnOnce() -> (G, Client)) -> ExitCode {
    let args = Arguments::from_args();
    if args.list {
        let names = CASES.iter().map(|(name, _)| Trial::test(*name, || Ok(())));
        return libtest_mimic::run(&args, names.collect()).exit_code();
    }
    let (guard, client) = match std::env::var("TRIAGE_BASE_URL") {
        Ok(base) => (None, Client::new(&base)),
        Err(_) => {
            let (guard, client) = start();
            (Some(guard), client)
        }
    };
    let client = Arc::new(client);
    let trials = CASES
        .iter()
        .map(|&(name, case)| {
            let client = Arc::clone(&client);
            Trial::test(name, move || {
                case(&client);
                Ok(())
            })
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    drop(guard);
    conclusion.exit_code()
}
