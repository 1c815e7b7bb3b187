//! Which parts of a text the classifier reads, so that cheap filler cannot dilute a
//! mean-pooled model: "the " repeated 100 times or one benign paragraph before a spam
//! text used to turn it into confident ham. A text is read in at most three windows of
//! its tokens, and a label the manifest names as severe wins when any window is
//! confident in it ([`crate::engine::manifest::Windows`]).

use std::ops::Range;

/// Spans of a text's `n` tokens (special tokens not counted) the model reads, each at
/// most `room` tokens (the token budget less the special tokens), at most three:
/// - the head, `0..min(n, room)`: what a single-window reader sees, the main answer;
/// - for a text longer than `room`, its last `room` tokens;
/// - for a text longer than `short`, its first and (for texts within `room`) last
///   `short` tokens, or (for longer texts) its last `short` tokens: the views where a
///   short message padded with filler is not outweighed by it.
///
/// Spans that repeat another are left out.
pub fn spans(n: usize, room: usize, short: usize) -> Vec<Range<usize>> {
    let mut spans = Vec::with_capacity(3);
    spans.push(0..n.min(room));
    let mut add = |span: Range<usize>| {
        if !span.is_empty() && !spans.contains(&span) {
            spans.push(span);
        }
    };
    let short = short.min(room);
    if n > room {
        add(n - room..n);
        if short > 0 {
            add(n - short..n);
        }
    } else if short > 0 && n > short {
        add(0..short);
        add(n - short..n);
    }
    spans
}

/// Whether the spans read every one of the `n` tokens.
pub fn cover(spans: &[Range<usize>], n: usize) -> bool {
    (0..n).all(|i| spans.iter().any(|span| span.contains(&i)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_three_windows_each_within_the_room() {
        for n in [0, 1, 10, 48, 49, 100, 254, 255, 500, 10_000] {
            let spans = spans(n, 254, 48);
            assert!(!spans.is_empty() && spans.len() <= 3, "{n}: {spans:?}");
            assert!(spans.iter().all(|s| s.len() <= 254 && s.end <= n));
            assert_eq!(spans[0].start, 0);
        }
        assert_eq!(spans(10, 254, 48), vec![(0..10)]);
        assert_eq!(spans(100, 254, 48), [0..100, 0..48, 52..100]);
        assert_eq!(spans(1000, 254, 48), [0..254, 746..1000, 952..1000]);
    }

    #[test]
    fn cover_is_exact() {
        assert!(cover(&spans(100, 254, 48), 100));
        assert!(cover(&spans(508, 254, 48), 508));
        assert!(!cover(&spans(509, 254, 48), 509));
    }
}
