//! The core's layers import only downward: the engine (`src/engine/`) knows nothing of
//! parse or HTTP, parse (`src/parse/`) nothing of HTTP, and `src/error.rs` (the error
//! vocabulary every layer shares, with the engine) neither. Read from the sources, so a new `use` across a layer fails here, doc
//! links included: a doc that points up a layer is a dependency in disguise.

use std::path::{Path, PathBuf};

/// Each layer's folder or file, and the module paths it must not mention.
const RULES: &[(&str, &[&str])] = &[
    ("src/error.rs", &["crate::parse", "crate::http"]),
    ("src/engine", &["crate::parse", "crate::http"]),
    ("src/parse", &["crate::http"]),
];

fn sources(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).expect("read the source folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

#[test]
fn no_module_imports_a_layer_above_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut violations = Vec::new();
    let mut checked = 0;
    for (layer, forbidden) in RULES {
        for file in sources(&root.join(layer)) {
            checked += 1;
            let text = std::fs::read_to_string(&file).expect("read a source file");
            for (number, line) in text.lines().enumerate() {
                for path in *forbidden {
                    if line.contains(path) {
                        violations.push(format!(
                            "{}:{}: {}",
                            file.strip_prefix(root).unwrap_or(&file).display(),
                            number + 1,
                            line.trim()
                        ));
                    }
                }
            }
        }
    }
    assert!(
        checked >= 15,
        "the layers hold the sources ({checked} files)"
    );
    assert!(
        violations.is_empty(),
        "imports up a layer:\n{}",
        violations.join("\n")
    );
}
