//! The semantic cache's store: the KV Store [`CACHE_STORE`], when the service has one. One
//! store for every instance, so an answer cached by one request's instance is found by the
//! next. Entries are written with the cache's time to live (and carry their own expiry,
//! [`triage_core::cache::StoredEntry::expires`]). A store that is missing or fails is a
//! miss, logged: the answer is then not kept (an instance serves one request).

use std::cell::OnceCell;
use std::time::Duration;

use fastly::kv_store::{KVStore, KVStoreError};

/// The KV Store of the semantic cache.
pub const CACHE_STORE: &str = "triage_cache";

thread_local! {
    static STORE: OnceCell<Option<KVStore>> = const { OnceCell::new() };
}

/// Whether the service has the store (opening it on the first call).
pub fn available() -> bool {
    with_store(|_| ()).is_some()
}

/// The bytes at `key`; `None` when absent, or when the store is missing or failed.
pub fn get(key: &str) -> Option<Vec<u8>> {
    match with_store(|store| store.lookup(key))? {
        Ok(mut found) => Some(found.take_body_bytes()),
        Err(KVStoreError::ItemNotFound) => None,
        Err(error) => {
            warn("read", &error);
            None
        }
    }
}

/// Sets `key` to `value` for `ttl`; a failure is logged.
pub fn set(key: &str, value: Vec<u8>, ttl: Duration) {
    let written = with_store(|store| store.build_insert().time_to_live(ttl).execute(key, value));
    if let Some(Err(error)) = written {
        warn("write", &error);
    }
}

fn with_store<T>(use_it: impl FnOnce(&KVStore) -> T) -> Option<T> {
    STORE.with(|cell| cell.get_or_init(open).as_ref().map(use_it))
}

fn open() -> Option<KVStore> {
    match KVStore::open(CACHE_STORE) {
        Ok(Some(store)) => Some(store),
        Ok(None) => {
            eprintln!(
                "triage: semantic cache: the service has no KV Store named {CACHE_STORE} \
                 (fastly.toml: [local_server.kv_stores]); remote answers are not kept"
            );
            None
        }
        Err(error) => {
            warn("open", &error);
            None
        }
    }
}

fn warn(operation: &str, error: &KVStoreError) {
    eprintln!(
        "triage: semantic cache: KV Store {CACHE_STORE}: {operation} failed: {error}; \
         the answer is not kept"
    );
}
