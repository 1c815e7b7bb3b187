//! Deployment settings: the budgets and the confidence threshold, read from whatever
//! configuration the platform has (wrangler vars, Spin variables, flags), so that every
//! adapter accepts the same settings with the same defaults and the same errors.

use crate::engine::budget::Budgets;
use crate::error::{Result, TriageError};

/// Settings an adapter passes to [`crate::Classifier::load_with`]. Unset values keep the
/// defaults: [`Budgets::default`] and the threshold in the model's manifest.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Settings {
    /// Request and memory budgets.
    pub budgets: Budgets,
    /// Confidence threshold in [0, 1] replacing the manifest's, if set.
    pub threshold: Option<f32>,
}

impl Settings {
    /// The setting names, in snake case. Adapters map them onto their own convention
    /// (Cloudflare: `TRIAGE_` + upper case; Spin: the names as they are).
    pub const KEYS: [&'static str; 6] = [
        "max_body_bytes",
        "max_text_bytes",
        "max_tokens",
        "max_batch",
        "memory_bytes",
        "threshold",
    ];

    /// The variable that holds setting `key` where settings are variables (Cloudflare
    /// vars, environment variables of `wasmtime serve`, Spin and the native server):
    /// `max_tokens` -> `TRIAGE_MAX_TOKENS`.
    pub fn var_name(key: &str) -> String {
        format!("TRIAGE_{}", key.to_ascii_uppercase())
    }

    /// [`Settings::from_lookup`] over variables named by [`Settings::var_name`].
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Settings> {
        Settings::from_lookup(|key| var(&Settings::var_name(key)))
    }

    /// Reads every key of [`Settings::KEYS`] through `lookup`; `None` or an empty value
    /// keeps the default. A value that does not parse is an error naming the key.
    pub fn from_lookup(lookup: impl Fn(&'static str) -> Option<String>) -> Result<Settings> {
        let defaults = Budgets::default();
        let size = |key: &'static str, default: usize| -> Result<usize> {
            match value(&lookup, key) {
                None => Ok(default),
                Some(text) => text.parse::<usize>().map_err(|_| {
                    TriageError::setting(key, format!("is {text:?}, expected a whole number"))
                }),
            }
        };
        let budgets = Budgets {
            max_body_bytes: size("max_body_bytes", defaults.max_body_bytes)?,
            max_text_bytes: size("max_text_bytes", defaults.max_text_bytes)?,
            max_tokens: size("max_tokens", defaults.max_tokens)?,
            max_batch: size("max_batch", defaults.max_batch)?,
            memory_bytes: size("memory_bytes", defaults.memory_bytes)?,
        };
        let threshold = match value(&lookup, "threshold") {
            None => None,
            Some(text) => Some(
                text.parse::<f32>()
                    .ok()
                    .filter(|t| (0.0..=1.0).contains(t))
                    .ok_or_else(|| {
                        TriageError::setting(
                            "threshold",
                            format!("is {text:?}, expected a number in [0, 1]"),
                        )
                    })?,
            ),
        };
        Ok(Settings { budgets, threshold })
    }
}

fn value(lookup: &impl Fn(&'static str) -> Option<String>, key: &'static str) -> Option<String> {
    lookup(key)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_pairs(pairs: &[(&str, &str)]) -> Result<Settings> {
        Settings::from_lookup(|key| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn unset_and_empty_values_keep_the_defaults() {
        assert_eq!(from_pairs(&[]).unwrap(), Settings::default());
        assert_eq!(
            from_pairs(&[("max_tokens", " "), ("threshold", "")]).unwrap(),
            Settings::default()
        );
    }

    #[test]
    fn values_override_the_defaults() {
        let settings = from_pairs(&[("max_tokens", "128"), ("threshold", "0.65")]).unwrap();
        assert_eq!(settings.budgets.max_tokens, 128);
        assert_eq!(settings.threshold, Some(0.65));
        assert_eq!(
            settings.budgets.max_batch,
            Budgets::default().max_batch,
            "others untouched"
        );
    }

    #[test]
    fn bad_values_name_the_setting() {
        let err = from_pairs(&[("max_batch", "lots")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_batch") && err.contains("lots"), "{err}");
        let err = from_pairs(&[("threshold", "1.5")]).unwrap_err().to_string();
        assert!(err.contains("threshold"), "{err}");
        assert!(from_pairs(&[("max_tokens", "-1")]).is_err());
    }
}
