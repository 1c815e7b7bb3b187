//! # triage-spin-settings
//!
//! A small component that serves `wasi:cli/environment` from Spin variables, so the Triage
//! Spin component reads its settings the same way on every host: as `TRIAGE_*` environment
//! variables.
//!
//! Why: the component is pre-initialised with `wasmtime wizer`, which can only instantiate
//! what wasmtime hosts, and wasmtime does not host `fermyon:spin/variables`. So the
//! snapshot is taken of the build that reads environment variables, and
//! `scripts/build-spin --spin-variables` then composes it with this adapter (`wasm-tools
//! compose`): the snapshot's `wasi:cli/environment` import is served here, from the host's
//! environment plus, for every setting in [`KEYS`] whose Spin variable is set and not
//! empty, `TRIAGE_<KEY>` = that variable (`threshold` -> `TRIAGE_THRESHOLD`). A Spin
//! variable wins over an environment variable of the same setting.
//!
//! The composed component imports `fermyon:spin/variables@2.0.0`, which every Spin since
//! 2.0 hosts, and `wasmtime serve` does not: run `target/spin/triage.wasm` there.

/// The Spin variables read, one per setting of the Triage component: the keys of
/// `[component.triage.variables]` in `spin.toml` (a test checks they are the same).
pub const KEYS: [&str; 27] = [
    "default_model",
    "threshold",
    "max_body_bytes",
    "max_text_bytes",
    "max_tokens",
    "max_batch",
    "memory_bytes",
    "escalation_url",
    "escalation_threshold",
    "escalation_timeout_ms",
    "escalation_token",
    "escalation_model",
    "parse_escalation_url",
    "parse_escalation_timeout_ms",
    "escalation_redact",
    "escalation_refuse",
    "redact_regions",
    "cache_ttl_s",
    "cache_similarity",
    "cache_capacity",
    "cache_namespace",
    "middleware",
    "schemas",
    "generator_dir",
    "generate_max_prompt_tokens",
    "generate_max_new_tokens",
    "instance_memory_bytes",
];

/// The environment variable that carries setting `key` (as `triage_core::Settings::var_name`).
pub fn var_name(key: &str) -> String {
    format!("TRIAGE_{}", key.to_ascii_uppercase())
}

/// `environment` with every non-empty value of `variable` (a setting's Spin variable, or
/// `None` when it is undefined or its provider failed) as `TRIAGE_<KEY>`, replacing an
/// environment variable of that name.
pub fn merge(
    mut environment: Vec<(String, String)>,
    variable: impl Fn(&str) -> Option<String>,
) -> Vec<(String, String)> {
    for key in KEYS {
        let Some(value) = variable(key).filter(|value| !value.is_empty()) else {
            continue;
        };
        let name = var_name(key);
        environment.retain(|(existing, _)| *existing != name);
        environment.push((name, value));
    }
    environment
}

/// The component's export. Only on wasm: on the host (clippy, the tests) the exported
/// symbols' names (`wasi:cli/environment@0.2.12#get-environment`) are not valid in a native
/// linker's version script.
#[cfg(target_family = "wasm")]
mod component {
    mod bindings {
        wit_bindgen::generate!({
            world: "settings",
            path: "wit",
            generate_all,
        });
    }

    use bindings::exports::wasi::cli::environment::Guest;
    use bindings::fermyon::spin::variables;
    use bindings::wasi::cli::environment as host;

    struct Settings;

    impl Guest for Settings {
        fn get_environment() -> Vec<(String, String)> {
            super::merge(host::get_environment(), |key| variables::get(key).ok())
        }

        fn get_arguments() -> Vec<String> {
            host::get_arguments()
        }

        fn initial_cwd() -> Option<String> {
            host::initial_cwd()
        }
    }

    bindings::export!(Settings with_types_in bindings);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys of `[component.triage.variables]` in spin.toml.
    fn manifest_keys() -> Vec<String> {
        let manifest = include_str!("../../../spin.toml");
        let mut in_section = false;
        let mut keys = Vec::new();
        for line in manifest.lines().map(str::trim) {
            if line.starts_with('[') {
                in_section = line == "[component.triage.variables]";
            } else if in_section && !line.is_empty() && !line.starts_with('#') {
                if let Some((key, _)) = line.split_once('=') {
                    keys.push(key.trim().to_owned());
                }
            }
        }
        keys
    }

    #[test]
    fn keys_are_those_spin_toml_passes_to_the_component() {
        let mut expected = manifest_keys();
        expected.sort();
        let mut keys: Vec<String> = KEYS.iter().map(|key| (*key).to_owned()).collect();
        keys.sort();
        assert_eq!(keys, expected);
    }

    #[test]
    fn variable_names_are_the_cores() {
        for key in KEYS {
            assert_eq!(var_name(key), triage_core::Settings::var_name(key));
        }
    }

    #[test]
    fn a_set_variable_replaces_the_environment_and_an_empty_one_keeps_it() {
        let environment = vec![
            ("PATH".to_owned(), "/bin".to_owned()),
            ("TRIAGE_THRESHOLD".to_owned(), "0.5".to_owned()),
            ("TRIAGE_MAX_TOKENS".to_owned(), "64".to_owned()),
        ];
        let merged = merge(environment, |key| match key {
            "threshold" => Some("0.9".to_owned()),
            "max_tokens" => Some(String::new()),
            _ => None,
        });
        assert_eq!(
            merged,
            vec![
                ("PATH".to_owned(), "/bin".to_owned()),
                ("TRIAGE_MAX_TOKENS".to_owned(), "64".to_owned()),
                ("TRIAGE_THRESHOLD".to_owned(), "0.9".to_owned()),
            ]
        );
    }
}
