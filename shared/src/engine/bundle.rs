//! A model bundle: manifest plus the bytes of every file it names, checked against the
//! manifest's sha256s. Bundles come from bytes (embedded, asset store, KV), never paths.

use sha2::{Digest, Sha256};

use crate::engine::manifest::{FileEntry, Manifest};
use crate::error::{Result, TriageError};

/// The raw bytes of a bundle, as an adapter finds them. Build one with
/// [`BundleBytes::new`], or from another with `BundleBytes { model, ..bundle }`.
#[derive(Debug, Clone, Copy)]
pub struct BundleBytes<'a> {
    pub manifest: &'a [u8],
    pub model: &'a [u8],
    pub tokenizer: &'a [u8],
    /// `Some` only for a bundle compiled in (triage-models, whose build script checked its
    /// sha256s); `None` for any other ([`BundleBytes::new`]).
    pub checked_at_build: Option<BuildCheck>,
}

/// Which three slices triage-models' build script checked against the manifest: where
/// they are, not what they hold. Only the core makes one (for compiled-in bundles), and
/// [`BundleBytes::verify`] skips hashing only while a bundle's three slices are still
/// those, so a copy with any file swapped (`BundleBytes { model, ..bundle }`) is hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildCheck([SliceId; 3]);

/// Address and length of a byte slice.
type SliceId = (usize, usize);

fn slice_id(bytes: &[u8]) -> SliceId {
    (bytes.as_ptr() as usize, bytes.len())
}

impl<'a> BundleBytes<'a> {
    /// A bundle's bytes, checked against its manifest's sha256s when loaded.
    pub fn new(manifest: &'a [u8], model: &'a [u8], tokenizer: &'a [u8]) -> BundleBytes<'a> {
        BundleBytes {
            manifest,
            model,
            tokenizer,
            checked_at_build: None,
        }
    }

    fn slice_ids(&self) -> [SliceId; 3] {
        [
            slice_id(self.manifest),
            slice_id(self.model),
            slice_id(self.tokenizer),
        ]
    }
}

/// The bytes of a bundle an adapter fetched at run time (from disk, an asset store, KV or
/// a bucket); borrow them with [`OwnedBundle::as_bytes`] to load them.
#[derive(Debug, Clone, Default)]
pub struct OwnedBundle {
    pub manifest: Vec<u8>,
    pub model: Vec<u8>,
    pub tokenizer: Vec<u8>,
}

impl OwnedBundle {
    /// Borrows the bytes in the form the core loads.
    pub fn as_bytes(&self) -> BundleBytes<'_> {
        BundleBytes::new(&self.manifest, &self.model, &self.tokenizer)
    }
}

/// A bundle whose manifest parsed and whose files match their sha256s.
#[derive(Debug, Clone, Copy)]
pub struct VerifiedBundle<'a> {
    pub model: &'a [u8],
    pub tokenizer: &'a [u8],
}

impl<'a> BundleBytes<'a> {
    /// Parses the manifest and checks every file against its sha256 (a compiled-in bundle's
    /// were checked when it was built).
    pub fn verify(&self) -> Result<(Manifest, VerifiedBundle<'a>)> {
        let manifest = Manifest::from_json(self.manifest)?;
        if self.checked_at_build != Some(BuildCheck(self.slice_ids())) {
            check_sha256(&manifest.files.model, self.model)?;
            check_sha256(&manifest.files.tokenizer, self.tokenizer)?;
        }
        let verified = VerifiedBundle {
            model: self.model,
            tokenizer: self.tokenizer,
        };
        Ok((manifest, verified))
    }
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn check_sha256(entry: &FileEntry, bytes: &[u8]) -> Result<()> {
    if bytes.is_empty() {
        return Err(TriageError::MissingFile {
            file: entry.path.clone(),
        });
    }
    let actual = sha256_hex(bytes);
    if actual != entry.sha256 {
        return Err(TriageError::ChecksumMismatch {
            file: entry.path.clone(),
            expected: entry.sha256.clone(),
            actual,
        });
    }
    Ok(())
}

/// A bundle of the triage-models crate, in the form the core loads: its build script
/// checked the sha256s, so loading it does not hash it again.
#[cfg(feature = "embedded-model")]
pub(crate) fn from_shipped(files: triage_models::Files) -> BundleBytes<'static> {
    let mut bundle = BundleBytes::new(files.manifest, files.model, files.tokenizer);
    bundle.checked_at_build = Some(BuildCheck(bundle.slice_ids()));
    bundle
}

/// The classifier bundles [`embedded_named`] can return, by name: the default first. A
/// binary carries only those it names (the Cloudflare worker: spam-mini alone).
#[cfg(feature = "embedded-model")]
pub const EMBEDDED_CLASSIFIERS: [&str; 2] = ["spam-mini", "prompt-guard"];

/// The compiled-in classifier bundle named `name` (one of [`EMBEDDED_CLASSIFIERS`]): what
/// setting `default_model` (`TRIAGE_DEFAULT_MODEL`) chooses where an adapter serves
/// compiled-in models (native, Spin). Only a binary that calls this carries
/// `models/prompt-guard` (1.8 MB): the linker drops bytes nothing refers to.
///
/// Errors: [`TriageError::Config`] naming the setting and the bundles compiled in.
#[cfg(feature = "embedded-model")]
pub fn embedded_named(name: &str) -> Result<BundleBytes<'static>> {
    match name {
        "spam-mini" => Ok(embedded()),
        "prompt-guard" => Ok(from_shipped(triage_models::PROMPT_GUARD)),
        _ => Err(TriageError::Config(format!(
            "setting `default_model` is {name:?}; the compiled-in models are {}",
            EMBEDDED_CLASSIFIERS.join(", ")
        ))),
    }
}

/// The default bundle (`models/spam-mini`), compiled into the binary.
#[cfg(feature = "embedded-model")]
pub fn embedded() -> BundleBytes<'static> {
    from_shipped(triage_models::SPAM_MINI)
}
