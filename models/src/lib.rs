//! # triage-models
//!
//! The bundles Triage ships, compiled in with `include_bytes!` from this crate's own
//! folder (so the crate, and triage-core with it, can be published): each a manifest, a
//! model in tract's NNEF (`model.nnef.tar`, converted from the bundle's `model.onnx` by
//! `triage convert`, int8 weights at rest) and a `tokenizer.json`, as their build scripts
//! in `models/<name>/scripts` wrote them. The bytes are checked against the manifest's
//! sha256s when this crate is built (`build.rs`: a mismatch fails the build), so
//! triage-core does not hash them again at load. A binary carries only the bundles it
//! refers to: the linker drops the rest.

/// The three files of a bundle, as bytes.
#[derive(Debug, Clone, Copy)]
pub struct Files {
    /// `manifest.json`.
    pub manifest: &'static [u8],
    /// `model.nnef.tar`.
    pub model: &'static [u8],
    /// `tokenizer.json`.
    pub tokenizer: &'static [u8],
}

macro_rules! bundle {
    ($dir:literal) => {
        Files {
            manifest: include_bytes!(concat!("../", $dir, "/manifest.json")),
            model: include_bytes!(concat!("../", $dir, "/model.nnef.tar")),
            tokenizer: include_bytes!(concat!("../", $dir, "/tokenizer.json")),
        }
    };
}

/// spam-mini: spam or ham (models/spam-mini/README.md), 1.7 MB.
pub const SPAM_MINI: Files = bundle!("spam-mini");

/// prompt-guard: an attack on an LLM, or benign (models/prompt-guard/README.md), 1.7 MB.
pub const PROMPT_GUARD: Files = bundle!("prompt-guard");

/// potion-base-2m: sentence embeddings for `/v1/parse` and ad-hoc labels
/// (models/potion-base-2m/README.md), 2.4 MB.
pub const POTION_BASE_2M: Files = bundle!("potion-base-2m");
