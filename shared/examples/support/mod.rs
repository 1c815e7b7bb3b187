//! Helpers the evaluation examples share.

/// The largest char boundary of `text` at or below `max` bytes: where a text over the
/// text budget is cut, as a worker would read its head.
pub fn floor_char_boundary(text: &str, max: usize) -> usize {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// `n` as a percentage of `of` (0 when `of` is 0).
pub fn percent(n: usize, of: usize) -> f64 {
    100.0 * n as f64 / of.max(1) as f64
}
