//! Checks on a `tokenizer.json` for the malformed files that tokenizers 0.22 panics on
//! instead of returning an error: a panic aborts a wasm worker on every request, so such
//! a file must be refused at load, as a typed error naming it. Each check names the
//! panic it prevents; the `bundle` fuzz target found them.

use serde_json::Value;
use tokenizers::normalizers::precompiled::Precompiled;
use tokenizers::Tokenizer;

/// Checks the raw file before tokenizers parses it.
pub(crate) fn check_file(bytes: &[u8]) -> Result<(), String> {
    // A syntax error inside a decoder panics (`expect("Helper")` in decoders/mod.rs).
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    check_precompiled(&value)
}

/// Checks a loaded tokenizer before it encodes anything.
pub(crate) fn check_loaded(tokenizer: &Tokenizer) -> Result<(), String> {
    let Some(processor) = tokenizer.get_post_processor() else {
        return Ok(());
    };
    // The canonical form, whichever of the accepted spellings the file used.
    let value = serde_json::to_value(processor).map_err(|e| e.to_string())?;
    check_templates(&value)
}

/// Calls `check` on every JSON object in `value`, depth first.
fn each_object(
    value: &Value,
    check: &impl Fn(&serde_json::Map<String, Value>) -> Result<(), String>,
) -> Result<(), String> {
    match value {
        Value::Object(map) => {
            check(map)?;
            map.values().try_for_each(|v| each_object(v, check))
        }
        Value::Array(items) => items.iter().try_for_each(|v| each_object(v, check)),
        _ => Ok(()),
    }
}

fn is_type(map: &serde_json::Map<String, Value>, name: &str) -> bool {
    map.get("type").and_then(Value::as_str) == Some(name)
}

/// A `Precompiled` normalizer that does not deserialize panics
/// (`expect("Precompiled")` in normalizers/mod.rs): deserialize it here, where the error
/// is returned.
fn check_precompiled(value: &Value) -> Result<(), String> {
    each_object(value, &|map| {
        if !is_type(map, "Precompiled") {
            return Ok(());
        }
        serde_json::from_value::<Precompiled>(Value::Object(map.clone()))
            .map(drop)
            .map_err(|e| format!("Precompiled normalizer is invalid: {e}"))
    })
}

/// A `TemplateProcessing` whose template names a special token it does not define loads,
/// then panics on every encode (an index into its map, processors/template.rs).
fn check_templates(value: &Value) -> Result<(), String> {
    each_object(value, &|map| {
        if !is_type(map, "TemplateProcessing") {
            return Ok(());
        }
        let defined = map.get("special_tokens").and_then(Value::as_object);
        let pieces = ["single", "pair"]
            .iter()
            .filter_map(|template| map.get(*template).and_then(Value::as_array))
            .flatten();
        for piece in pieces {
            let Some(id) = piece.pointer("/SpecialToken/id").and_then(Value::as_str) else {
                continue;
            };
            if !defined.is_some_and(|tokens| tokens.contains_key(id)) {
                return Err(format!(
                    "post-processor template uses special token {id:?}, which it does not define"
                ));
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_that_would_panic_tokenizers_are_refused() {
        let bad_decoder = b"{\"decoder\": {\"type\": \"W\x8a\"}}";
        assert!(check_file(bad_decoder).unwrap_err().contains("UTF-8"));
        let precompiled = br#"{"normalizer": {"type": "Precompiled"}}"#;
        assert!(check_file(precompiled).unwrap_err().contains("Precompiled"));
        assert!(check_file(br#"{"normalizer": {"type": "NFC"}}"#).is_ok());
    }
}
