//! Reads a model bundle from a directory (`--model-dir`), for models not compiled in.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use triage_core::{Manifest, OwnedBundle};

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
