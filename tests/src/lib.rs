//! # triage-contract
//!
//! The HTTP contract every Triage adapter serves, as test cases that take a base URL.
//! An adapter's test harness starts its runtime on loopback, builds a [`Client`] for it,
//! and stamps out one `#[test]` per case with [`contract_suite!`]. The cases are written
//! once, here; adapters never copy them.

pub mod cases;
pub mod client;
pub mod samples;
pub mod schema;

pub use client::{Client, Reply};

/// Expands to one `#[test]` per contract case, each run against `$client` (an expression
/// giving a `&Client`, typically a lazily started server).
#[macro_export]
macro_rules! contract_suite {
    ($client:expr) => {
        $crate::contract_suite!(@cases $client;
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
            batch_over_cap_is_413,
            text_over_budget_is_413,
            unknown_path_is_404,
            still_answers_after_bad_requests,
        );
    };
    (@cases $client:expr; $($case:ident),+ $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::cases::$case($client);
            }
        )+
    };
}
