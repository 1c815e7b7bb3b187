//! Checks on a `tokenizer.json` for the malformed files that tokenizers 0.22 panics on
//! instead of returning an error: a panic aborts a wasm worker on every request, so such
//! a file must be refused at load, as a typed error naming it. Each check names the
//! panic it prevents; the `bundle` fuzz target found them.

use std::collections::BTreeSet;

use serde::de::IgnoredAny;
use serde_json::Value;
use tokenizers::normalizers::precompiled::Precompiled;
use tokenizers::Tokenizer;

/// The one part of the file [`check_file`] builds a tree of; the rest (the vocabulary,
/// most of the file) is only skipped over.
#[derive(serde::Deserialize)]
struct Normalizer {
    #[serde(default)]
    normalizer: Value,
}

/// Checks the raw file before tokenizers parses it.
pub(crate) fn check_file(bytes: &[u8]) -> Result<(), String> {
    // A syntax error inside a decoder panics (`expect("Helper")` in decoders/mod.rs).
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    serde_json::from_str::<IgnoredAny>(text).map_err(|e| format!("not JSON: {e}"))?;
    // Precompiled normalizers live under `normalizer` (alone or in a Sequence).
    let Ok(Normalizer { normalizer }) = serde_json::from_str(text) else {
        return Ok(()); // not an object with a normalizer: tokenizers reports it
    };
    check_precompiled(&normalizer)
}

/// Checks a loaded tokenizer before it encodes anything; returns the largest token id it
/// can produce (vocabulary, added tokens, post-processor's special tokens), which the
/// model's embedding table must cover.
pub(crate) fn check_loaded(tokenizer: &Tokenizer) -> Result<u32, String> {
    let vocab_max = tokenizer.get_vocab(true).into_values().max().unwrap_or(0);
    let Some(processor) = tokenizer.get_post_processor() else {
        return Ok(vocab_max);
    };
    // The canonical form, whichever of the accepted spellings the file used.
    let value = serde_json::to_value(processor).map_err(|e| e.to_string())?;
    check_templates(&value)?;
    Ok(vocab_max.max(max_special_id(&value)))
}

/// Ids of every special token of a loaded tokenizer: the added tokens marked `special`
/// and the post-processor's (`"ids": [...]` in its templates), except `unknown` (the
/// model's own unknown token, [`unknown_id`]): text may produce that one, and the model
/// was trained on it. User text must never produce any other.
pub(crate) fn special_ids(
    tokenizer: &Tokenizer,
    unknown: Option<u32>,
) -> Result<BTreeSet<u32>, String> {
    let mut ids: BTreeSet<u32> = tokenizer
        .get_added_tokens_decoder()
        .into_iter()
        .filter(|(_, token)| token.special)
        .map(|(id, _)| id)
        .collect();
    if let Some(processor) = tokenizer.get_post_processor() {
        let value = serde_json::to_value(processor).map_err(|e| e.to_string())?;
        collect_ids(&value, &mut ids);
    }
    if let Some(unknown) = unknown {
        ids.remove(&unknown);
    }
    Ok(ids)
}

/// The id of the tokenizer model's unknown token (`unk_token` of WordPiece, BPE and
/// WordLevel, `unk_id` of Unigram): what it makes of text it has no piece for. `None` when
/// the model has none (byte-level BPE reads every byte).
pub(crate) fn unknown_id(tokenizer: &Tokenizer) -> Result<Option<u32>, String> {
    let model = serde_json::to_value(tokenizer.get_model()).map_err(|e| e.to_string())?;
    Ok(match (model.get("unk_token"), model.get("unk_id")) {
        (Some(Value::String(token)), _) => tokenizer.token_to_id(token),
        (_, Some(id)) => id.as_u64().and_then(|id| u32::try_from(id).ok()),
        _ => None,
    })
}

/// Every id under an `"ids"` array in `value`.
fn collect_ids(value: &Value, out: &mut BTreeSet<u32>) {
    match value {
        Value::Object(map) => {
            let own = map
                .get("ids")
                .and_then(Value::as_array)
                .into_iter()
                .flatten();
            out.extend(
                own.filter_map(Value::as_u64)
                    .filter_map(|id| u32::try_from(id).ok()),
            );
            // BertProcessing and RobertaProcessing: `"sep": ["</s>", 2]`.
            let pairs = ["sep", "cls"].into_iter().filter_map(|key| map.get(key));
            out.extend(
                pairs
                    .filter_map(|pair| pair.get(1)?.as_u64())
                    .filter_map(|id| u32::try_from(id).ok()),
            );
            map.values().for_each(|v| collect_ids(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_ids(v, out)),
        _ => {}
    }
}

/// The largest id among the post-processor's special tokens (`"ids": [...]`).
fn max_special_id(value: &Value) -> u32 {
    match value {
        Value::Object(map) => {
            let own = map
                .get("ids")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|id| id.as_u64())
                .map(|id| u32::try_from(id).unwrap_or(u32::MAX));
            own.chain(map.values().map(max_special_id))
                .max()
                .unwrap_or(0)
        }
        Value::Array(items) => items.iter().map(max_special_id).max().unwrap_or(0),
        _ => 0,
    }
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

/// A `TemplateProcessing` that names a special token it does not define, or whose
/// single-text template reads sequence `B`, loads and then panics on every encode (an
/// index into a map or a vector, processors/template.rs).
fn check_templates(value: &Value) -> Result<(), String> {
    each_object(value, &|map| {
        if !is_type(map, "TemplateProcessing") {
            return Ok(());
        }
        let single = map
            .get("single")
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        for piece in single {
            if let Some(id) = piece.pointer("/Sequence/id").and_then(Value::as_str) {
                if id != "A" {
                    return Err(format!(
                        "post-processor's single-text template reads sequence {id:?}; it has only A"
                    ));
                }
            }
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
