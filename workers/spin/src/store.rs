//! The semantic cache's store: WASI key-value (`wasi:keyvalue/store@0.2.0-draft`), the
//! host's default store (`open("")`).
//!
//! - Under Spin, `scripts/build-spin --spin-variables` composes the component with
//!   `workers/spin-kv`, which serves this interface from Spin's key-value store labelled
//!   `default` (`key_value_stores` in spin.toml): one store for every instance of the
//!   application, so an answer cached by one request's instance is found by the next.
//! - `wasmtime serve -Skeyvalue` hosts it in memory, per opened store: what one instance
//!   wrote, kept for as long as the instance is reused (`--max-instance-reuse-count`).
//!
//! The store is opened on the first request that caches (never in the snapshot) and kept
//! for the instance's life. Neither host has a time to live: every entry carries its own
//! expiry ([`triage_core::cache::StoredEntry::expires`]) and a stale one is a miss, until
//! the next answer for its text overwrites it. A store that does not open or fails is a
//! miss, logged to stderr: the answer is then kept in the instance only.

use std::cell::OnceCell;

mod bindings {
    spin_sdk::wit_bindgen::generate!({
        runtime_path: "spin_sdk::wit_bindgen::rt",
        world: "cache-store",
        path: "wit",
        generate_all,
    });
}

use bindings::wasi::keyvalue::store::{self, Bucket, Error};

thread_local! {
    /// The instance's store, once opened (`None`: it did not open).
    static BUCKET: OnceCell<Option<Bucket>> = const { OnceCell::new() };
}

/// Whether the host's store opened (opening it on the first call).
pub fn available() -> bool {
    with_bucket(|_| ()).is_some()
}

/// The bytes at `key`; `None` when absent, or when the store is missing or failed.
pub fn get(key: &str) -> Option<Vec<u8>> {
    match with_bucket(|bucket| bucket.get(key))? {
        Ok(value) => value,
        Err(error) => {
            warn("read", &error);
            None
        }
    }
}

/// Sets `key` to `value`; a failure is logged.
pub fn set(key: &str, value: &[u8]) {
    if let Some(Err(error)) = with_bucket(|bucket| bucket.set(key, value)) {
        warn("write", &error);
    }
}

fn with_bucket<T>(use_it: impl FnOnce(&Bucket) -> T) -> Option<T> {
    BUCKET.with(|cell| cell.get_or_init(open).as_ref().map(use_it))
}

fn open() -> Option<Bucket> {
    store::open("")
        .inspect_err(|error| warn("open", error))
        .ok()
}

fn warn(operation: &str, error: &Error) {
    let reason = match error {
        Error::NoSuchStore => "the host has no default store".to_owned(),
        Error::AccessDenied => {
            "access denied (Spin: add key_value_stores = [\"default\"] to the component)".to_owned()
        }
        Error::Other(reason) => reason.clone(),
    };
    eprintln!(
        "triage: semantic cache: key-value {operation} failed: {reason}; answers are kept in this instance only"
    );
}
