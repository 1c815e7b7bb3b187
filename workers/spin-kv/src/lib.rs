//! # triage-spin-kv
//!
//! A small component that serves `wasi:keyvalue/store@0.2.0-draft` (the part the Triage
//! component imports: open, get, set, delete) from Spin's key-value store
//! (`fermyon:spin/key-value@2.0.0`), so the semantic cache's store is Spin's under Spin
//! and wasmtime's under `wasmtime serve -Skeyvalue`.
//!
//! Why: Spin hosts `fermyon:spin/key-value` and `wasi:keyvalue@0.2.0-draft2`, wasmtime
//! `wasi:keyvalue@0.2.0-draft`, and a component links only against the exact prerelease
//! it imports. The component imports wasmtime's, so that `wasmtime wizer` can instantiate
//! it and the tests can run it, and `scripts/build-spin --spin-variables` composes it
//! with this adapter (`wasm-tools compose`) for Spin.
//!
//! The default store (`open("")`) is Spin's store labelled [`DEFAULT_LABEL`], which the
//! component must be granted: `key_value_stores = ["default"]` in spin.toml (without it,
//! opening it fails with `access-denied`, and the cache keeps answers per instance).

/// The Spin store that `open("")` opens: the one every Spin host provides.
pub const DEFAULT_LABEL: &str = "default";

/// The Spin store label for a WASI key-value identifier: `""` is [`DEFAULT_LABEL`], any
/// other identifier is taken as a label.
pub fn label(identifier: &str) -> &str {
    if identifier.is_empty() {
        DEFAULT_LABEL
    } else {
        identifier
    }
}

/// The component's export. Only on wasm: on the host (clippy, the tests) the exported
/// symbols' names are not valid in a native linker's version script.
#[cfg(target_family = "wasm")]
mod component {
    mod bindings {
        wit_bindgen::generate!({
            world: "triage:spin-kv/kv",
            // The WASI key-value interface, as the Triage component imports it.
            path: ["../spin/wit/deps/keyvalue", "wit"],
            generate_all,
        });
    }

    use bindings::exports::wasi::keyvalue::store::{Bucket, Error, Guest, GuestBucket};
    use bindings::fermyon::spin::key_value::{self as spin, Store};

    struct KeyValue;

    impl Guest for KeyValue {
        type Bucket = SpinStore;

        fn open(identifier: String) -> Result<Bucket, Error> {
            let store = Store::open(super::label(&identifier)).map_err(error)?;
            Ok(Bucket::new(SpinStore(store)))
        }
    }

    /// An open Spin store.
    struct SpinStore(Store);

    impl GuestBucket for SpinStore {
        fn get(&self, key: String) -> Result<Option<Vec<u8>>, Error> {
            self.0.get(&key).map_err(error)
        }

        fn set(&self, key: String, value: Vec<u8>) -> Result<(), Error> {
            self.0.set(&key, &value).map_err(error)
        }

        fn delete(&self, key: String) -> Result<(), Error> {
            self.0.delete(&key).map_err(error)
        }
    }

    fn error(error: spin::Error) -> Error {
        match error {
            spin::Error::NoSuchStore => Error::NoSuchStore,
            spin::Error::AccessDenied => Error::AccessDenied,
            spin::Error::StoreTableFull => Error::Other("too many stores open".to_owned()),
            spin::Error::Other(reason) => Error::Other(reason),
        }
    }

    bindings::export!(KeyValue with_types_in bindings);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_identifier_is_spins_default_store() {
        assert_eq!(label(""), "default");
        assert_eq!(label("cache"), "cache");
    }
}
