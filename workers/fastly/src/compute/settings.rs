//! Deployment settings: each setting by its own name (`threshold`, `max_tokens`,
//! `escalation_url`, ...) in the Secret Store [`SECRET_STORE`] first, then in the Config
//! Store [`CONFIG_STORE`]. Either store may be absent: an unset setting keeps its default.
//! Locally both come from `[local_server]` in `fastly.toml`; on Fastly, link stores of these
//! names to the service (`fastly config-store create --name=triage`, ...).
//!
//! Secrets (`escalation_token`) belong in the Secret Store, which keeps them out of the
//! service's configuration; any setting may be put there. An empty secret counts as unset.

use std::cell::OnceCell;

use fastly::{ConfigStore, SecretStore};
use triage_core::Settings;

/// The Config Store holding the settings.
pub const CONFIG_STORE: &str = "triage";
/// The Secret Store read before [`CONFIG_STORE`].
pub const SECRET_STORE: &str = "triage_secrets";

thread_local! {
    /// The stores, opened on first use (`None`: the service has no store of that name).
    static STORES: OnceCell<(Option<SecretStore>, Option<ConfigStore>)> =
        const { OnceCell::new() };
}

/// Reads every setting of [`Settings::KEYS`]; a malformed value is an error naming it.
pub fn read() -> triage_core::Result<Settings> {
    Settings::from_lookup(lookup)
}

/// Setting `key` (snake case): the Secret Store's value, else the Config Store's. A store
/// that fails to answer is logged and read as unset.
pub fn lookup(key: &str) -> Option<String> {
    STORES.with(|stores| {
        let (secrets, config) = stores.get_or_init(open);
        let secret = secrets.as_ref().and_then(|store| match store.try_get(key) {
            // An empty secret is unset: the Config Store's value (or the default) applies.
            Ok(found) => found
                .map(|secret| String::from_utf8_lossy(&secret.plaintext()).into_owned())
                .filter(|value| !value.is_empty()),
            Err(error) => {
                eprintln!("triage: secret store {SECRET_STORE}: reading {key:?} failed: {error}");
                None
            }
        });
        secret.or_else(|| {
            config.as_ref().and_then(|store| match store.try_get(key) {
                Ok(found) => found,
                Err(error) => {
                    eprintln!(
                        "triage: config store {CONFIG_STORE}: reading {key:?} failed: {error}"
                    );
                    None
                }
            })
        })
    })
}

fn open() -> (Option<SecretStore>, Option<ConfigStore>) {
    (
        SecretStore::open(SECRET_STORE).ok(),
        ConfigStore::try_open(CONFIG_STORE).ok(),
    )
}
