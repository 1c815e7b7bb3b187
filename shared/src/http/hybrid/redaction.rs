//! What personal data may leave the edge, per destination (feature `redact` for anything
//! but the defaults): the escalation endpoints (classify's and parse's) receive the text
//! with the types in `escalation_redact` replaced by placeholders, and receive nothing at
//! all when it holds a type in `escalation_refuse` (the answer stays local and says why).
//! Middleware routes carry their own policy (`redact_types`, `refuse`; see
//! [`super::middleware`]). The local model always reads the original text.
//!
//! | setting | default | meaning |
//! |---|---|---|
//! | `escalation_redact` | `none` | types replaced before an escalation: `all`, or a list such as `email,phone,card,iban,ip` |
//! | `escalation_refuse` | `none` | types whose presence keeps the text at the edge: no escalation |
//! | `redact_regions` | [`crate::redact::DEFAULT_REGIONS`] | where national phone numbers (no `+` or `00`) are read, ISO 3166 codes |

use std::borrow::Cow;

use crate::error::{Result, TriageError};
use crate::http::hybrid::escalation::{setting, EscalationStatus};

/// The redaction settings, in snake case like [`crate::Settings::KEYS`].
pub const KEYS: [&str; 3] = ["escalation_redact", "escalation_refuse", "redact_regions"];

/// The deployment's redaction: the redactor (its phone regions) and the escalation
/// endpoints' policy. Without the `redact` feature there is none, and setting any of
/// [`KEYS`] is an error naming the feature.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Redaction {
    #[cfg(feature = "redact")]
    pub redactor: crate::redact::Redactor,
    #[cfg(feature = "redact")]
    pub escalation: Policy,
}

/// What one destination may receive.
#[cfg(feature = "redact")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// Types replaced by their placeholders.
    pub redact: crate::redact::TypeSet,
    /// Types whose presence means nothing is sent.
    pub refuse: crate::redact::TypeSet,
}

#[cfg(feature = "redact")]
impl Policy {
    /// Whether the policy asks for no detection at all.
    pub fn is_empty(&self) -> bool {
        self.redact.is_empty() && self.refuse.is_empty()
    }

    /// `text` as this destination may receive it, or the refused types `text` holds.
    pub fn apply<'a>(
        &self,
        redactor: &crate::redact::Redactor,
        text: &'a str,
    ) -> std::result::Result<Cow<'a, str>, crate::redact::TypeSet> {
        if self.is_empty() {
            return Ok(Cow::Borrowed(text));
        }
        let found = redactor.find(text);
        let refused: crate::redact::TypeSet = found
            .iter()
            .map(|f| f.kind)
            .filter(|&kind| self.refuse.contains(kind))
            .collect();
        if !refused.is_empty() {
            return Err(refused);
        }
        let replaced: Vec<_> = found
            .into_iter()
            .filter(|f| self.redact.contains(f.kind))
            .collect();
        if replaced.is_empty() {
            return Ok(Cow::Borrowed(text));
        }
        Ok(Cow::Owned(crate::redact::replace(text, &replaced)))
    }
}

impl Redaction {
    /// Reads [`KEYS`] through `lookup`. Errors: [`TriageError::Setting`] naming a list
    /// with a name that is not a type, a region code that is not one, or (without the
    /// `redact` feature) any of them set.
    pub fn from_lookup(lookup: impl Fn(&'static str) -> Option<String>) -> Result<Redaction> {
        #[cfg(feature = "redact")]
        {
            use crate::redact::{Redactor, TypeSet, DEFAULT_REGIONS};
            let types = |key: &'static str| {
                setting(&lookup, key)
                    .map(|text| {
                        TypeSet::parse_list(&text).map_err(|e| TriageError::setting(key, e))
                    })
                    .transpose()
                    .map(Option::unwrap_or_default)
            };
            let regions = setting(&lookup, "redact_regions");
            let redactor = Redactor::from_regions(regions.as_deref().unwrap_or(DEFAULT_REGIONS))
                .map_err(|e| TriageError::setting("redact_regions", e))?;
            Ok(Redaction {
                redactor,
                escalation: Policy {
                    redact: types("escalation_redact")?,
                    refuse: types("escalation_refuse")?,
                },
            })
        }
        #[cfg(not(feature = "redact"))]
        {
            if let Some(key) = KEYS
                .into_iter()
                .find(|&key| setting(&lookup, key).is_some())
            {
                return Err(TriageError::setting(
                    key,
                    "needs redaction, which this build leaves out: build triage-core with its \
                     `redact` feature",
                ));
            }
            Ok(Redaction::default())
        }
    }

    /// `text` as the escalation endpoints may receive it: with the `escalation_redact`
    /// types replaced; or, when it holds an `escalation_refuse` type, the status to answer
    /// with instead of escalating.
    pub fn escalated_text<'a>(
        &self,
        text: &'a str,
    ) -> std::result::Result<Cow<'a, str>, EscalationStatus> {
        #[cfg(feature = "redact")]
        {
            self.escalation
                .apply(&self.redactor, text)
                .map_err(|refused| EscalationStatus::refused(&refused.names()))
        }
        #[cfg(not(feature = "redact"))]
        Ok(Cow::Borrowed(text))
    }

    /// Replaces the `escalation_redact` types in every string of `value` (the edge model's
    /// parse object, which quotes the text): what the endpoint receives beside the text.
    pub fn redact_strings(&self, value: &mut serde_json::Value) {
        #[cfg(feature = "redact")]
        {
            if self.escalation.redact.is_empty() {
                return;
            }
            match value {
                serde_json::Value::String(text) => {
                    let redacted = self.redactor.redact(text, self.escalation.redact);
                    if !redacted.found.is_empty() {
                        *text = redacted.text;
                    }
                }
                serde_json::Value::Array(items) => {
                    items.iter_mut().for_each(|item| self.redact_strings(item))
                }
                serde_json::Value::Object(fields) => fields
                    .values_mut()
                    .for_each(|field| self.redact_strings(field)),
                _ => {}
            }
        }
        #[cfg(not(feature = "redact"))]
        let _ = value;
    }
}

#[cfg(all(test, feature = "redact"))]
mod tests {
    use super::*;

    use crate::http::hybrid::lookup_from as lookup;

    #[test]
    fn unset_sends_the_text_as_it_is() {
        let redaction = Redaction::from_lookup(lookup(&[])).unwrap();
        let text = "mail jane@example.com";
        assert_eq!(redaction.escalated_text(text).unwrap(), text);
    }

    #[test]
    fn redacts_what_it_is_told_and_refuses_what_it_must() {
        let redaction = Redaction::from_lookup(lookup(&[
            ("escalation_redact", "email,phone"),
            ("escalation_refuse", "card"),
        ]))
        .unwrap();
        let sent = redaction
            .escalated_text("mail jane@example.com or +44 20 7946 0958")
            .unwrap();
        assert_eq!(sent, "mail [EMAIL] or [PHONE]");
        let refused = redaction
            .escalated_text("card 4111 1111 1111 1111, mail jane@example.com")
            .unwrap_err();
        assert_eq!(
            (refused.status, refused.reason),
            ("refused", "personal-data")
        );
        assert!(refused.detail.contains("card"), "{}", refused.detail);
        let mut object =
            serde_json::json!({"contact": "jane@example.com", "n": 3, "tags": ["x@y.org"]});
        redaction.redact_strings(&mut object);
        assert_eq!(
            object,
            serde_json::json!({"contact": "[EMAIL]", "n": 3, "tags": ["[EMAIL]"]})
        );
    }

    #[test]
    fn bad_settings_name_the_setting() {
        for (pairs, key) in [
            (
                &[("escalation_redact", "email,ssn")][..],
                "escalation_redact",
            ),
            (&[("escalation_refuse", "cards")][..], "escalation_refuse"),
            (&[("redact_regions", "UK")][..], "redact_regions"),
        ] {
            let pairs: &'static [(&str, &str)] = Box::leak(pairs.to_vec().into_boxed_slice());
            let error = Redaction::from_lookup(lookup(pairs))
                .unwrap_err()
                .to_string();
            assert!(error.contains(key), "{error}");
        }
    }
}
