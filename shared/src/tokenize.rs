//! Text to token ids with the bundle's `tokenizer.json`, truncated to the token budget.

use tokenizers::{Tokenizer, TruncationParams};

use crate::error::{Result, TriageError};
use crate::tokenizer_guard;

/// Bytes of text kept per token of budget before tokenizing. No WordPiece/BPE token is
/// longer than this, so cutting here only drops text the model would never see; it bounds
/// the tokenizer's CPU time per text whatever the text budget is.
const BYTES_PER_TOKEN_BOUND: usize = 32;

/// Token ids for one text, ready for the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// Token ids including special tokens, at most `max_tokens` of them.
    pub ids: Vec<i64>,
    /// True when the text had more tokens than the budget and the tail was dropped.
    pub truncated: bool,
}

/// A configured tokenizer: loaded once, shared by every request.
#[derive(Debug)]
pub struct TextEncoder {
    tokenizer: Tokenizer,
    max_tokens: usize,
    max_token_id: u32,
}

impl TextEncoder {
    /// Loads `tokenizer.json` bytes and sets truncation to `max_tokens`, padding off.
    pub fn from_bytes(file: &str, bytes: &[u8], max_tokens: usize) -> Result<TextEncoder> {
        let refused = |reason: String| TriageError::Tokenizer {
            file: file.to_owned(),
            reason,
        };
        tokenizer_guard::check_file(bytes).map_err(refused)?;
        let mut tokenizer = Tokenizer::from_bytes(bytes).map_err(|e| refused(e.to_string()))?;
        let max_token_id = tokenizer_guard::check_loaded(&tokenizer).map_err(refused)?;
        tokenizer.with_padding(None);
        let mut encoder = TextEncoder {
            tokenizer,
            max_tokens,
            max_token_id,
        };
        encoder.set_max_tokens(max_tokens)?;
        Ok(encoder)
    }

    /// Truncates to `max_tokens` from now on.
    pub fn set_max_tokens(&mut self, max_tokens: usize) -> Result<()> {
        self.tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..TruncationParams::default()
            }))
            .map_err(|e| TriageError::Config(format!("max_tokens {max_tokens}: {e}")))?;
        self.max_tokens = max_tokens;
        Ok(())
    }

    /// The token budget this encoder truncates to.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// The largest token id this tokenizer can produce: its vocabulary, added tokens and
    /// the special tokens its post-processor inserts.
    pub fn max_token_id(&self) -> u32 {
        self.max_token_id
    }

    /// Encodes one text with special tokens, truncating to the budget.
    pub fn encode(&self, text: &str) -> Result<Encoded> {
        let (head, cut) = bounded_prefix(text, self.max_tokens * BYTES_PER_TOKEN_BOUND);
        let encoding = self
            .tokenizer
            .encode_fast(head, true)
            .map_err(|e| TriageError::Encode(e.to_string()))?;
        let ids = encoding.get_ids().iter().map(|&id| i64::from(id)).collect();
        let truncated = cut || !encoding.get_overflowing().is_empty();
        Ok(Encoded { ids, truncated })
    }
}

/// The longest prefix of `text` of at most `max_bytes` that ends on a char boundary, and
/// whether anything was cut.
fn bounded_prefix(text: &str, max_bytes: usize) -> (&str, bool) {
    if text.len() <= max_bytes {
        return (text, false);
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

#[cfg(test)]
mod tests {
    use super::bounded_prefix;

    #[test]
    fn prefix_never_splits_a_character() {
        let text = "ééé"; // two bytes each
        assert_eq!(bounded_prefix(text, 3), ("é", true));
        assert_eq!(bounded_prefix(text, 6), ("ééé", false));
        assert_eq!(bounded_prefix("", 0), ("", false));
    }
}
