//! Reads model bundles from directories (`--model-dir`), for models not compiled in.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use triage_core::{Manifest, OwnedBundle};

/// The bundle directories `dir` holds: `dir` itself when it has a `manifest.json`, else
/// each subdirectory that has one, in name order.
///
/// Errors: `dir` cannot be read, or neither it nor any subdirectory holds a manifest.
pub fn bundle_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    if dir.join("manifest.json").is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let entries = fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    let mut bundles = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("reading {}", dir.display()))?
            .path();
        if path.join("manifest.json").is_file() {
            bundles.push(path);
        }
    }
    if bundles.is_empty() {
        bail!(
            "{} holds no bundle: no manifest.json in it or in any directory inside it",
            dir.display()
        );
    }
    bundles.sort();
    Ok(bundles)
}

/// Reads `manifest.json` in `dir` and the files it names.
pub fn read_bundle_dir(dir: &Path) -> Result<OwnedBundle> {
    let read =
        |path: PathBuf| fs::read(&path).with_context(|| format!("reading {}", path.display()));
    let manifest = read(dir.join("manifest.json"))?;
    let parsed = Manifest::from_json(&manifest)
        .with_context(|| format!("in {}", dir.join("manifest.json").display()))?;
    Ok(OwnedBundle {
        model: read(dir.join(&parsed.files.model.path))?,
        tokenizer: read(dir.join(&parsed.files.tokenizer.path))?,
        manifest,
    })
}
