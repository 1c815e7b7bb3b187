//! Classifiers fetched from the KV Store [`MODEL_STORE`] beside the compiled-in ones: the
//! setting `models` names them (comma-separated), and bundle `name` is the entries
//! `name/manifest.json` plus the model and tokenizer files its manifest names, under
//! `name/`. Each is fetched and loaded by the first request that needs it, in that request's
//! instance (Fastly keeps nothing between requests: a fetched model costs its load on every
//! request that uses it). A bundle named like a compiled-in one replaces it.

use std::io::Read;

use triage_core::http::{problem_response, Problem, Service};
use triage_core::{Manifest, OwnedBundle, TriageError};

use fastly::kv_store::{KVStore, KVStoreError};

/// The KV Store holding the fetched bundles.
pub const MODEL_STORE: &str = "triage_models";
/// The setting naming the bundles to fetch.
pub const MODELS_KEY: &str = "models";

/// The bundle names in the `models` setting (trimmed, empty entries dropped).
pub fn names() -> Vec<String> {
    super::settings::lookup(MODELS_KEY)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Why a bundle could not be fetched.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    /// The store is not linked to the service: the model's 503 until it is.
    #[error("the service has no KV Store named {MODEL_STORE} (setting {MODELS_KEY} names bundles to fetch from it)")]
    NoStore,
    /// An entry is missing: the model's 503.
    #[error("KV Store {MODEL_STORE} has no entry {0:?}")]
    Missing(String),
    /// The manifest does not parse: the model's 503.
    #[error("{MODEL_STORE} entry {key:?} is not a valid manifest: {reason}")]
    Manifest { key: String, reason: String },
    /// The store refuses the key (a name or file path it cannot hold): the model's 503.
    #[error("{key:?} is not a key KV Store {MODEL_STORE} accepts ({reason}): check the name in {MODELS_KEY} and the paths in its manifest")]
    BadKey { key: String, reason: String },
    /// An entry larger than the memory budget: the model's 503.
    #[error("KV Store {MODEL_STORE} entry {key:?} is larger than the memory budget ({limit} bytes, setting memory_bytes)")]
    TooLarge { key: String, limit: usize },
    /// The store failed: this request's 503, and the next request tries again.
    #[error("reading {key:?} from KV Store {MODEL_STORE} failed: {reason}")]
    Store { key: String, reason: String },
}

/// Fetches bundle `name` and hands it to the service, which loads it as what `name` is
/// pending as. A bundle that is missing or fails to load is kept as the model's 503 (the
/// others are served); a store that fails answers this request 503.
pub fn provide(service: &Service, name: &str) -> Result<(), http::Response<Vec<u8>>> {
    let settings =
        super::settings::read().map_err(|error| problem_response(&Problem::from_error(&error)))?;
    let fetched = fetch(name, settings.budgets.memory_bytes);
    let bundle = match &fetched {
        Ok(bundle) => Ok(bundle.as_bytes()),
        Err(error @ FetchError::Store { .. }) => {
            return Err(problem_response(&Problem::new(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "model-unavailable",
                error.to_string(),
            )))
        }
        Err(error) => Err(TriageError::Config(error.to_string())),
    };
    service.provide_bundle(name, bundle, &settings);
    Ok(())
}

/// Bundle `name`'s files, each at most `limit` bytes.
fn fetch(name: &str, limit: usize) -> Result<OwnedBundle, FetchError> {
    let store = match KVStore::open(MODEL_STORE) {
        Ok(Some(store)) => store,
        Ok(None) | Err(KVStoreError::StoreNotFound(_)) => return Err(FetchError::NoStore),
        Err(error) => {
            return Err(FetchError::Store {
                key: String::new(),
                reason: error.to_string(),
            })
        }
    };
    let manifest_key = format!("{name}/manifest.json");
    let manifest = read(&store, &manifest_key, limit)?;
    let parsed = Manifest::from_json(&manifest).map_err(|error| FetchError::Manifest {
        key: manifest_key,
        reason: error.to_string(),
    })?;
    Ok(OwnedBundle {
        model: read(
            &store,
            &format!("{name}/{}", parsed.files.model.path),
            limit,
        )?,
        tokenizer: read(
            &store,
            &format!("{name}/{}", parsed.files.tokenizer.path),
            limit,
        )?,
        manifest,
    })
}

/// Entry `key`, read in chunks and refused past `limit` bytes (a whole-body read of a huge
/// entry would exhaust the heap before any check).
fn read(store: &KVStore, key: &str, limit: usize) -> Result<Vec<u8>, FetchError> {
    let failed = |reason: String| FetchError::Store {
        key: key.to_owned(),
        reason,
    };
    let mut found = match store.lookup(key) {
        Ok(found) => found,
        Err(KVStoreError::ItemNotFound) => return Err(FetchError::Missing(key.to_owned())),
        Err(error @ (KVStoreError::InvalidKey | KVStoreError::ItemBadRequest)) => {
            return Err(FetchError::BadKey {
                key: key.to_owned(),
                reason: error.to_string(),
            })
        }
        Err(error) => return Err(failed(error.to_string())),
    };
    let Some(body) = found.try_take_body() else {
        return Ok(Vec::new());
    };
    let mut bytes = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    body.take(cap)
        .read_to_end(&mut bytes)
        .map_err(|error| failed(error.to_string()))?;
    if bytes.len() > limit {
        return Err(FetchError::TooLarge {
            key: key.to_owned(),
            limit,
        });
    }
    Ok(bytes)
}
