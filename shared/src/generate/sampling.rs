//! Picking the next token from logits: the best allowed one (greedy), or one drawn from
//! the softmax of the allowed logits divided by the temperature, with a seeded
//! SplitMix64 stream (the same seed and request give the same tokens).

use llguidance::toktrie::TokenId;

pub(crate) struct Sampler {
    temperature: f32,
    state: u64,
}

impl Sampler {
    pub fn new(temperature: f32, seed: u64) -> Sampler {
        Sampler {
            temperature,
            state: seed,
        }
    }

    /// SplitMix64 (Steele, Lea, Flood 2014): a uniform draw in [0, 1).
    fn uniform(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The token to emit among those `allowed` says yes to; `None` when none is allowed
    /// or every allowed logit is NaN.
    pub fn pick(&mut self, logits: &[f32], allowed: impl Fn(TokenId) -> bool) -> Option<TokenId> {
        let candidates = logits
            .iter()
            .enumerate()
            .filter(|(t, l)| !l.is_nan() && allowed(*t as TokenId));
        if self.temperature <= 0.0 {
            return candidates
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(t, _)| t as TokenId);
        }
        let kept: Vec<(usize, f32)> = candidates.map(|(t, l)| (t, *l)).collect();
        let max = kept
            .iter()
            .map(|(_, l)| *l)
            .fold(f32::NEG_INFINITY, f32::max);
        let weights: Vec<f64> = kept
            .iter()
            .map(|(_, l)| (((l - max) / self.temperature) as f64).exp())
            .collect();
        let total: f64 = weights.iter().sum();
        if kept.is_empty() || total.is_nan() || total <= 0.0 {
            return None;
        }
        let mut draw = self.uniform() * total;
        for ((token, _), weight) in kept.iter().zip(&weights) {
            if draw < *weight {
                return Some(*token as TokenId);
            }
            draw -= weight;
        }
        kept.last().map(|(t, _)| *t as TokenId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_best_allowed_token() {
        let mut sampler = Sampler::new(0.0, 1);
        let logits = [0.1, 3.0, 2.0, f32::NAN];
        assert_eq!(sampler.pick(&logits, |_| true), Some(1));
        assert_eq!(sampler.pick(&logits, |t| t != 1), Some(2));
        assert_eq!(sampler.pick(&logits, |t| t == 3), None);
    }

    #[test]
    fn sampling_is_reproducible_by_seed_and_follows_the_weights() {
        let logits = [0.0, 2.0];
        let draws = |seed| {
            let mut sampler = Sampler::new(1.0, seed);
            (0..2000)
                .filter(|_| sampler.pick(&logits, |_| true) == Some(1))
                .count()
        };
        assert_eq!(draws(7), draws(7));
        // e^2 / (1 + e^2) = 0.881 of the draws go to token 1.
        let share = draws(7) as f64 / 2000.0;
        assert!((0.85..0.91).contains(&share), "share {share}");
    }
}
