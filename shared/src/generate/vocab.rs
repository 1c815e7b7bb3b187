//! The model's vocabulary as llguidance sees it: each token's bytes (byte-level BPE
//! tokens mapped back through GPT-2's byte-to-character table, byte-fallback tokens
//! `<0xAB>` as their byte, special tokens marked so no grammar can produce them), and
//! tokenization of forced text by the bundle's `tokenizer.json`.
//!
//! toktrie_hf_tokenizers and llguidance's `token_bytes_from_tokenizer_json` do the same,
//! but assert on token names they do not expect (a bundle's tokenizer would panic the
//! worker) and the former pins another tokenizers release; this one uses the tokenizers the
//! core already links and answers errors.

use std::collections::HashMap;
use std::sync::Arc;

use llguidance::toktrie::{TokEnv, TokRxInfo, TokTrie, TokenId, TokenizerEnv};
use tokenizers::{DecoderWrapper, Tokenizer};

use crate::error::{Result, TriageError};

/// GPT-2's byte-level alphabet: the character each byte is written as in the vocabulary.
fn byte_level_chars() -> HashMap<char, u8> {
    let mut map = HashMap::with_capacity(256);
    let mut next = 0x100u32;
    for byte in 0..=255u8 {
        let c = byte as char;
        if matches!(c, '!'..='~' | '\u{a1}'..='\u{ac}' | '\u{ae}'..='\u{ff}') {
            map.insert(c, byte);
        } else if let Some(shifted) = char::from_u32(next) {
            map.insert(shifted, byte);
            next += 1;
        }
    }
    map
}

#[derive(Clone, Copy, PartialEq)]
enum Spelling {
    ByteLevel,
    ByteFallback,
}

fn spelling(decoder: Option<&DecoderWrapper>) -> Option<Spelling> {
    match decoder? {
        DecoderWrapper::ByteLevel(_) => Some(Spelling::ByteLevel),
        DecoderWrapper::ByteFallback(_) => Some(Spelling::ByteFallback),
        DecoderWrapper::Sequence(sequence) => sequence
            .get_decoders()
            .iter()
            .find_map(|d| spelling(Some(d))),
        _ => None,
    }
}

/// The vocabulary, its trie and the tokenizer behind [`TokenizerEnv`].
pub struct Vocabulary {
    tokenizer: Tokenizer,
    trie: TokTrie,
}

impl Vocabulary {
    /// Builds the trie of `tokenizer`'s tokens for a model with `model_vocab` logits
    /// (tokens past the tokenizer's are never allowed); `stops` are the tokens that end
    /// generation (the first is the end-of-sequence token llguidance allows at the end).
    ///
    /// Errors: [`TriageError::Tokenizer`] for a tokenizer that is neither byte-level nor
    /// byte-fallback, or larger than the model's vocabulary.
    pub fn env(tokenizer: Tokenizer, model_vocab: usize, stops: &[TokenId]) -> Result<TokEnv> {
        let fail = |reason: String| TriageError::Tokenizer {
            file: "tokenizer.json".into(),
            reason,
        };
        let spelling = spelling(tokenizer.get_decoder()).ok_or_else(|| {
            fail(
                "its decoder is neither ByteLevel nor ByteFallback: token bytes are unknown".into(),
            )
        })?;
        let size = tokenizer.get_vocab_size(true);
        if size > model_vocab {
            return Err(fail(format!(
                "it has {size} tokens, the model's vocabulary {model_vocab}"
            )));
        }
        let Some(&eos) = stops.first() else {
            return Err(fail("no stop token".into()));
        };
        let chars = byte_level_chars();
        let special: HashMap<u32, String> = tokenizer
            .get_added_tokens_decoder()
            .into_iter()
            .filter(|(_, token)| token.special)
            .map(|(id, token)| (id, token.content))
            .collect();
        let mut words = Vec::with_capacity(model_vocab);
        for id in 0..model_vocab as u32 {
            let marked = |name: &str| {
                let mut bytes = vec![TokTrie::SPECIAL_TOKEN_MARKER];
                bytes.extend_from_slice(name.as_bytes());
                bytes
            };
            let bytes = match (special.get(&id), tokenizer.id_to_token(id)) {
                (Some(name), _) => marked(name),
                (None, None) => marked(&format!("<[{id}]>")),
                (None, Some(token)) => match spelling {
                    Spelling::ByteLevel => token
                        .chars()
                        .map(|c| chars.get(&c).copied())
                        .collect::<Option<Vec<u8>>>()
                        .unwrap_or_else(|| marked(&token)),
                    Spelling::ByteFallback => {
                        let hex = token
                            .strip_prefix("<0x")
                            .and_then(|rest| rest.strip_suffix('>'))
                            .filter(|hex| hex.len() == 2)
                            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
                        match hex {
                            Some(byte) => vec![byte],
                            None => token.replace('\u{2581}', " ").into_bytes(),
                        }
                    }
                },
            };
            // A token with no bytes (an empty added token) can never be produced as text.
            words.push(if bytes.is_empty() {
                marked(&format!("<[{id}]>"))
            } else {
                bytes
            });
        }
        let mut info = TokRxInfo::new(model_vocab as u32, eos);
        info.tok_end_of_turn = stops.get(1).copied();
        let mut trie = TokTrie::from(&info, &words);
        if stops.len() > 1 {
            trie = trie.with_eos_tokens(stops);
        }
        Ok(Arc::new(Vocabulary { tokenizer, trie }))
    }
}

impl Vocabulary {
    fn encode(&self, bytes: &[u8]) -> Vec<TokenId> {
        // The trie's greedy fallback hands valid UTF-8 pieces here; a tokenizer error
        // (never seen for byte-level BPE) falls back to the trie's own greedy split.
        let text = String::from_utf8_lossy(bytes);
        match self.tokenizer.encode(text.as_ref(), false) {
            Ok(encoding) => encoding.get_ids().to_vec(),
            Err(_) => self.trie.greedy_tokenize(bytes),
        }
    }
}

impl TokenizerEnv for Vocabulary {
    fn tok_trie(&self) -> &TokTrie {
        &self.trie
    }

    fn tokenize_bytes(&self, s: &[u8]) -> Vec<TokenId> {
        self.trie
            .tokenize_with_greedy_fallback(s, |s| self.encode(s.as_bytes()))
    }
}
