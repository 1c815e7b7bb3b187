//! Hybrid routing, as HTTP features without I/O: [`escalation`] sends unsure answers to a
//! bigger model, [`cache`] keeps its answers for texts that come again, `parse_escalation` (feature `parse`) parses with unsure fields;
//! [`middleware`] classifies requests on their way to an origin; [`redaction`] says what
//! personal data may leave with them. Each builds the one
//! outbound request an answer needs and leaves sending it to the adapter.

pub mod cache;
pub mod escalation;
pub mod middleware;
#[cfg(feature = "parse")]
pub mod parse_escalation;
pub mod redaction;

/// Settings from `pairs` (key, value), as the `lookup` the settings readers take: for tests.
#[cfg(test)]
pub(crate) fn lookup_from(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let owned: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |key| owned.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}
