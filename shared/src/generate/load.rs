//! Reading a generate bundle from its directory: the manifest, then both files checked
//! against its sha256s (the GGUF file hashed in chunks, never held whole).

use std::io::{BufReader, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::{GenerateBudgets, GenerateManifest, Generator};
use crate::error::{Result, TriageError};

impl Generator {
    /// Loads the bundle in `dir` (`manifest.json`, and the model and tokenizer it names),
    /// checking both files' sha256 and, with `instance_memory_bytes`, that the model fits
    /// before its weights are read.
    ///
    /// Errors: [`TriageError::MissingFile`], [`TriageError::ChecksumMismatch`],
    /// [`TriageError::Manifest`], [`TriageError::Model`], [`TriageError::Tokenizer`];
    /// [`BudgetExceeded::InstanceMemory`] when it would not fit.
    pub fn load_dir(dir: &Path, budgets: GenerateBudgets) -> Result<Generator> {
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|_| TriageError::MissingFile {
                file: dir.join(name).display().to_string(),
            })
        };
        let manifest = GenerateManifest::from_json(&read("manifest.json")?)?;
        let tokenizer_bytes = read(&manifest.files.tokenizer.path)?;
        check_sha256(
            &manifest.files.tokenizer.path,
            &manifest.files.tokenizer.sha256,
            || Ok(crate::bundle::sha256_hex(&tokenizer_bytes)),
        )?;
        let model_path = dir.join(&manifest.files.model.path);
        let open = || {
            std::fs::File::open(&model_path).map_err(|_| TriageError::MissingFile {
                file: model_path.display().to_string(),
            })
        };
        let mut file = open()?;
        check_sha256(
            &manifest.files.model.path,
            &manifest.files.model.sha256,
            || {
                sha256_of(&mut file).map_err(|e| TriageError::Model {
                    file: manifest.files.model.path.clone(),
                    reason: e.to_string(),
                })
            },
        )?;
        let model_bytes = file.metadata().map(|m| m.len() as usize).unwrap_or(0);
        let mut reader = BufReader::new(open()?);
        Generator::load(
            manifest,
            &mut reader,
            model_bytes,
            &tokenizer_bytes,
            budgets,
        )
    }
}

/// Lower-case hex sha256 of everything `reader` yields, read in 1 MiB chunks.
fn sha256_of(reader: &mut impl Read) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        hasher.update(&chunk[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn check_sha256(file: &str, expected: &str, actual: impl FnOnce() -> Result<String>) -> Result<()> {
    let actual = actual()?;
    if actual != expected {
        return Err(TriageError::ChecksumMismatch {
            file: file.to_owned(),
            expected: expected.to_owned(),
            actual,
        });
    }
    Ok(())
}
