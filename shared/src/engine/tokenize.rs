//! Text to token ids with the bundle's `tokenizer.json`, truncated to the token budget.
//!
//! Two guarantees beyond what the tokenizer does on its own:
//! - **What the model reads is decided by tokens, not bytes.** The text is tokenized in
//!   chunks of [`CHUNK_BYTES`] (cut before a whitespace character, so no word is split)
//!   until more than `max_tokens` tokens exist or the text ends. Characters that make no
//!   token (spaces, zero-width spaces, Unicode tag characters) cannot push the words out of
//!   the window, and tokenizer CPU per text is bounded by the text budget (at most
//!   `max_text_bytes` are tokenized, and a text of ordinary words stops one chunk past the
//!   window).
//! - **User text never becomes a special token.** Special tokens typed in the text
//!   (`[SEP]`, `<s>`, `<|endoftext|>`) are encoded as the plain text they are
//!   (tokenizers' `encode_special_tokens`), and a special token id that a text still yields
//!   (a vocabulary where `[SEP]` is an ordinary word) is dropped: only the post-processor
//!   adds special tokens.

use std::collections::BTreeSet;

use tokenizers::{Encoding, PostProcessor, Token, Tokenizer};

use crate::engine::tokenizer_guard;
use crate::error::{Result, TriageError};

/// Bytes of text tokenized per call. Small enough that a text past the window is read at
/// most this far beyond it, large enough that chunk boundaries are rare.
pub const CHUNK_BYTES: usize = 2048;

/// How far back from a chunk's end a whitespace character is looked for, so that the cut
/// falls between words; a run of text without whitespace this long is cut anyway.
const CUT_SEARCH_BYTES: usize = 512;

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
    /// Ids of every special token: added tokens marked special and the post-processor's.
    special_ids: BTreeSet<u32>,
    /// The tokenizer model's unknown token, if it has one.
    unknown_id: Option<u32>,
    /// Special tokens the post-processor adds to one text (2 for `[CLS] .. [SEP]`).
    added_by_processor: usize,
}

impl TextEncoder {
    /// Loads `tokenizer.json` bytes: padding and the file's own truncation off (this
    /// encoder truncates to `max_tokens` itself), special tokens in the text encoded as
    /// plain text.
    pub fn from_bytes(file: &str, bytes: &[u8], max_tokens: usize) -> Result<TextEncoder> {
        let refused = |reason: String| TriageError::Tokenizer {
            file: file.to_owned(),
            reason,
        };
        tokenizer_guard::check_file(bytes).map_err(refused)?;
        let mut tokenizer = Tokenizer::from_bytes(bytes).map_err(|e| refused(e.to_string()))?;
        let max_token_id = tokenizer_guard::check_loaded(&tokenizer).map_err(refused)?;
        let unknown_id = tokenizer_guard::unknown_id(&tokenizer).map_err(refused)?;
        let special_ids = tokenizer_guard::special_ids(&tokenizer, unknown_id).map_err(refused)?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| refused(e.to_string()))?;
        tokenizer.set_encode_special_tokens(true);
        let added_by_processor = tokenizer
            .get_post_processor()
            .map_or(0, |processor| processor.added_tokens(false));
        let mut encoder = TextEncoder {
            tokenizer,
            max_tokens,
            max_token_id,
            special_ids,
            unknown_id,
            added_by_processor,
        };
        encoder.set_max_tokens(max_tokens)?;
        Ok(encoder)
    }

    /// Truncates to `max_tokens` from now on.
    pub fn set_max_tokens(&mut self, max_tokens: usize) -> Result<()> {
        if max_tokens < self.added_by_processor {
            return Err(TriageError::Config(format!(
                "max_tokens {max_tokens} leaves no room for the {} special tokens the tokenizer adds",
                self.added_by_processor
            )));
        }
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

    /// Encodes one text with special tokens, truncating to the budget: its first
    /// `max_tokens` tokens (special tokens included), `truncated` when it has more.
    pub fn encode(&self, text: &str) -> Result<Encoded> {
        let room = self.max_tokens - self.added_by_processor;
        let (ids, truncated) = self.text_tokens(text, room)?;
        let ids = self.with_special_tokens(&ids)?;
        Ok(Encoded { ids, truncated })
    }

    /// The text's tokens without special tokens, in chunks, until more than `enough` exist
    /// or the text ends: the text's first `enough` tokens, and whether it has more.
    /// Used for windows over a long text ([`crate::engine::windows`]).
    pub fn text_tokens(&self, text: &str, enough: usize) -> Result<(Vec<u32>, bool)> {
        let mut ids = Vec::new();
        let mut rest = text;
        while !rest.is_empty() && ids.len() <= enough {
            let (chunk, tail) = next_chunk(rest, CHUNK_BYTES);
            let piece = self
                .tokenizer
                .encode_fast(chunk, false)
                .map_err(|e| TriageError::Encode(e.to_string()))?;
            ids.extend(
                piece
                    .get_ids()
                    .iter()
                    .filter(|id| !self.special_ids.contains(id)),
            );
            rest = tail;
        }
        let more = ids.len() > enough;
        ids.truncate(enough);
        Ok((ids, more))
    }

    /// Wraps `ids` of the text in the post-processor's special tokens, keeping at most
    /// `max_tokens` in all (the first ones).
    pub fn with_special_tokens(&self, ids: &[u32]) -> Result<Vec<i64>> {
        let room = self.max_tokens - self.added_by_processor;
        let tokens = ids
            .iter()
            .take(room)
            .map(|&id| Token::new(id, String::new(), (0, 0)))
            .collect();
        let encoding = self
            .tokenizer
            .post_process(Encoding::from_tokens(tokens, 0), None, true)
            .map_err(|e| TriageError::Encode(e.to_string()))?;
        Ok(encoding.get_ids().iter().map(|&id| i64::from(id)).collect())
    }

    /// How many of `ids` are the tokenizer model's unknown token (`[UNK]`): pieces of text
    /// its vocabulary has no entry for. 0 for a tokenizer without one.
    pub fn unknown_tokens(&self, ids: &[i64]) -> usize {
        self.unknown_id.map_or(0, |unknown| {
            ids.iter().filter(|&&id| id == i64::from(unknown)).count()
        })
    }

    /// Special tokens the post-processor adds around one text.
    pub fn added_by_processor(&self) -> usize {
        self.added_by_processor
    }
}

/// The first chunk of `text` of at most `max_bytes` (cut before a whitespace character
/// within the last [`CUT_SEARCH_BYTES`], else on a char boundary), and the rest.
fn next_chunk(text: &str, max_bytes: usize) -> (&str, &str) {
    if text.len() <= max_bytes {
        return (text, "");
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut floor = end.saturating_sub(CUT_SEARCH_BYTES);
    while !text.is_char_boundary(floor) {
        floor += 1;
    }
    let cut = text[floor..end]
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map(|(i, _)| floor + i)
        .filter(|&i| i > 0)
        .unwrap_or(end);
    text.split_at(cut)
}

#[cfg(test)]
mod tests {
    use super::next_chunk;

    #[test]
    fn chunks_end_before_whitespace_and_never_split_a_character() {
        let text = "ééé"; // two bytes each
        assert_eq!(next_chunk(text, 3), ("é", "éé"));
        assert_eq!(next_chunk(text, 6), ("ééé", ""));
        assert_eq!(next_chunk("", 0), ("", ""));
        assert_eq!(
            next_chunk("hello world again", 13),
            ("hello world", " again")
        );
        // The search for whitespace starts on a char boundary too.
        let wide = "\u{200b}".repeat(1000);
        let (chunk, rest) = next_chunk(&wide, 2048);
        assert_eq!(chunk.len() + rest.len(), wide.len());
        let words = "word ".repeat(1000);
        let (chunk, rest) = next_chunk(&words, 2048);
        assert!(chunk.len() <= 2048 && rest.starts_with(' '));
    }
}
