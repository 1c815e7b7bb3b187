//! The text encoder on real tokenizers: the shipped WordPiece (spam-mini) and a byte-level
//! BPE with RoBERTa/GPT-2 special tokens (`fixtures/bpe-roberta-style.json`, built by
//! `fixtures/make_bpe.py`). User text never yields a special token; padding that makes no
//! token never hides the words; chunked tokenizing reads what one call would.

use std::collections::BTreeSet;

use tokenizers::Tokenizer;
use triage_core::tokenize::TextEncoder;

const WORDPIECE: &[u8] = include_bytes!("../../models/spam-mini/tokenizer.json");
const BPE: &[u8] = include_bytes!("fixtures/bpe-roberta-style.json");
const SPAM: &str = "WIN a FREE cruise!!! Click here http://cheap-prize.example/win";

fn encoder(bytes: &[u8], max_tokens: usize) -> TextEncoder {
    TextEncoder::from_bytes("tokenizer.json", bytes, max_tokens).expect("tokenizer loads")
}

/// Ids of the tokenizer's special tokens other than its unknown token.
fn special_ids(bytes: &[u8]) -> BTreeSet<i64> {
    let tokenizer = Tokenizer::from_bytes(bytes).expect("loads");
    tokenizer
        .get_added_tokens_decoder()
        .into_iter()
        .filter(|(_, t)| t.special && t.content != "[UNK]" && t.content != "<unk>")
        .map(|(id, _)| i64::from(id))
        .collect()
}

/// Asserts the special ids in `ids` are exactly the post-processor's first and last.
fn only_framing_specials(bytes: &[u8], text: &str) {
    let specials = special_ids(bytes);
    let ids = encoder(bytes, 256).encode(text).expect("encodes").ids;
    let inner = &ids[1..ids.len() - 1];
    assert!(specials.contains(&ids[0]) && specials.contains(&ids[ids.len() - 1]));
    let typed: Vec<&i64> = inner.iter().filter(|id| specials.contains(id)).collect();
    assert!(
        typed.is_empty(),
        "{text:?} produced special ids {typed:?}: {ids:?}"
    );
}

#[test]
fn typed_control_tokens_are_plain_text_in_wordpiece() {
    for text in [
        "[SEP] [SEP] [SEP] WIN a FREE cruise",
        "[CLS][PAD][MASK] hello [SEP]",
        "[sep] [ SEP ] [SEP][SEP]",
        "<s> </s> <|endoftext|> [UNK]",
    ] {
        only_framing_specials(WORDPIECE, text);
    }
    // The text is still read: "[SEP]" as the pieces "[", "sep", "]".
    let ids = encoder(WORDPIECE, 256)
        .encode("[SEP]")
        .expect("encodes")
        .ids;
    assert_eq!(ids.len(), 5, "{ids:?}");
}

#[test]
fn typed_control_tokens_are_plain_text_in_bpe() {
    for text in [
        "<s>hi</s><|endoftext|>",
        "</s></s></s> WIN a FREE cruise <pad><mask><unk>",
        "<|endoftext|><|endoftext|>",
    ] {
        only_framing_specials(BPE, text);
    }
    let encoded = encoder(BPE, 256).encode("<s>").expect("encodes").ids;
    assert!(encoded.len() > 3, "<s> read as its characters: {encoded:?}");
}

#[test]
fn padding_that_makes_no_token_does_not_hide_the_text() {
    let wordpiece = encoder(WORDPIECE, 256);
    let plain = wordpiece.encode(SPAM).expect("encodes");
    for (pad, count) in [
        (" ", 8_200),
        ("\n", 8_200),
        ("\u{200b}", 2_800),
        ("\u{e0041}", 2_100),
        ("\u{200b} \u{e0020}\t", 2_000),
    ] {
        let text = format!("{}{SPAM}", pad.repeat(count));
        let padded = wordpiece.encode(&text).expect("encodes");
        assert_eq!(padded, plain, "{} x {pad:?} before the text", count);
        assert!(!padded.truncated);
    }
}

#[test]
fn truncated_is_true_exactly_when_tokens_are_left_out() {
    let wordpiece = encoder(WORDPIECE, 16);
    // 14 words fill the window ([CLS] + 14 + [SEP]) exactly.
    let exact = "word ".repeat(14);
    let encoded = wordpiece.encode(&exact).expect("encodes");
    assert_eq!((encoded.ids.len(), encoded.truncated), (16, false));
    let trailing_spaces = format!("{exact}{}", " ".repeat(5_000));
    assert!(
        !wordpiece
            .encode(&trailing_spaces)
            .expect("encodes")
            .truncated
    );
    let one_more = format!("{exact}{}word", " ".repeat(5_000));
    let encoded = wordpiece.encode(&one_more).expect("encodes");
    assert_eq!((encoded.ids.len(), encoded.truncated), (16, true));
}

#[test]
fn chunked_tokens_are_the_tokens_of_one_call() {
    let texts = [
        "please review the attached quarterly report before friday ".repeat(120),
        "Ünïcödé wörds ".repeat(300),
        format!("{}{}", "a".repeat(5_000), " tail words".repeat(200)),
        "one\n\ntwo  three\t four ".repeat(300),
    ];
    for bytes in [WORDPIECE, BPE] {
        let tokenizer = Tokenizer::from_bytes(bytes).expect("loads");
        let encoder = encoder(bytes, 1 << 20);
        for text in &texts {
            let whole: Vec<u32> = tokenizer
                .encode_fast(text.as_str(), false)
                .expect("encodes")
                .get_ids()
                .to_vec();
            let (chunked, more) = encoder.text_tokens(text, usize::MAX / 2).expect("encodes");
            assert!(!more);
            if text.starts_with('a') {
                // A 5,000-letter word is cut mid-word: the same pieces but at the cut.
                assert!(chunked.len().abs_diff(whole.len()) <= 4);
            } else {
                assert_eq!(chunked, whole, "{:.40}", text);
            }
        }
    }
}
