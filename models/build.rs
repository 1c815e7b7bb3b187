//! Checks every shipped bundle's files against the sha256s its manifest gives, when this
//! crate is built: the bytes `include_bytes!` compiles in are then known good, and
//! triage-core does not hash them again in every process or isolate (about 20 ms in a cold
//! Workers isolate). A mismatch fails the build, naming the file.

use std::path::Path;

use sha2::{Digest, Sha256};

const BUNDLES: [&str; 3] = ["spam-mini", "prompt-guard", "potion-base-2m"];

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for bundle in BUNDLES {
        let dir = root.join(bundle);
        let manifest_path = dir.join("manifest.json");
        println!("cargo:rerun-if-changed={}", manifest_path.display());
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(&manifest_path)
                .unwrap_or_else(|e| panic!("{bundle}/manifest.json: {e}")),
        )
        .unwrap_or_else(|e| panic!("{bundle}/manifest.json: {e}"));
        for role in ["model", "tokenizer"] {
            let entry = &manifest["files"][role];
            let (Some(file), Some(expected)) = (entry["path"].as_str(), entry["sha256"].as_str())
            else {
                panic!("{bundle}/manifest.json: files.{role} has no path and sha256");
            };
            let path = dir.join(file);
            println!("cargo:rerun-if-changed={}", path.display());
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{bundle}/{file}: {e}"));
            let actual: String = Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(
                actual, expected,
                "{bundle}/{file} does not match the sha256 in {bundle}/manifest.json"
            );
        }
    }
}
