//! Speculative decoding with a remote verifier: the edge drafts `k` tokens with its small
//! model, a bigger model behind an HTTP endpoint checks them in one forward pass and
//! answers how many it accepts and the token it writes next. Every round trip then yields
//! between 1 and k + 1 tokens of the verifier's quality. Designed for; no larger model
//! installs here, so what is measured is the protocol: that a verifier agreeing with the
//! drafts reproduces its own answer exactly, that a disagreeing one is obeyed at the
//! first difference, the bytes and the round trips (docs/generate.md).
//!
//! Protocol `triage.speculative.v1`, one JSON POST per round, stateless (every round
//! carries the whole context, so any replica can answer it):
//!
//! ```json
//! {"protocol": "triage.speculative.v1", "tokenizer_sha256": "<the bundle's tokenizer.json>",
//!  "prompt": [token ids], "generated": [token ids accepted so far], "draft": [k token ids],
//!  "constraint": {"json_schema": {...}} | {"regex": "..."} | {"lark": "..."} | null,
//!  "stop": [stop token ids]}
//! -> {"accepted": m, "next": token id}
//! ```
//!
//! The verifier must share the tokenizer (its sha256 says so) and apply the same
//! constraint: `accepted` is the longest prefix of `draft` equal to its own greedy,
//! grammar-masked choices, and `next` its choice after that prefix (a stop token ends the
//! answer). The edge keeps the accepted tokens, rolls its cache and grammar back over the
//! rest, and checks `next` against its own grammar before taking it. Drafts are plain
//! masked greedy steps: the grammar's fast-forward tokens are not used, so both sides
//! choose every token the same way.

use llguidance::toktrie::TokenId;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    grammar_failed, ms, next_mask, sampling::Sampler, Constraint, GenerateRequest, Generation,
    Generator, Prepared, StopReason,
};
use crate::error::{Result, TriageError};
use web_time::Instant;

/// The protocol's name, sent in every request.
pub const PROTOCOL: &str = "triage.speculative.v1";

/// The constraint as the verifier receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireConstraint {
    JsonSchema(Value),
    Regex(String),
    Lark(String),
}

impl WireConstraint {
    fn of(constraint: &Constraint) -> Option<WireConstraint> {
        match constraint {
            Constraint::None => None,
            Constraint::JsonSchema(schema) => Some(WireConstraint::JsonSchema(schema.clone())),
            Constraint::Regex(regex) => Some(WireConstraint::Regex(regex.clone())),
            Constraint::Lark(lark) => Some(WireConstraint::Lark(lark.clone())),
        }
    }

    fn constraint(&self) -> Constraint {
        match self {
            WireConstraint::JsonSchema(schema) => Constraint::JsonSchema(schema.clone()),
            WireConstraint::Regex(regex) => Constraint::Regex(regex.clone()),
            WireConstraint::Lark(lark) => Constraint::Lark(lark.clone()),
        }
    }
}

/// One round's request to the verifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    pub protocol: String,
    /// sha256 of the edge bundle's tokenizer.json: token ids mean nothing across
    /// tokenizers.
    pub tokenizer_sha256: String,
    /// The prompt's tokens, template included.
    pub prompt: Vec<TokenId>,
    /// Tokens of the answer both sides agree on so far.
    pub generated: Vec<TokenId>,
    /// The edge's proposal for the next tokens.
    pub draft: Vec<TokenId>,
    pub constraint: Option<WireConstraint>,
    /// Tokens that end the answer.
    pub stop: Vec<TokenId>,
}

/// The verifier's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyResponse {
    /// How many of the draft's first tokens the verifier would have written too.
    pub accepted: usize,
    /// The verifier's token after them.
    pub next: TokenId,
}

/// What a speculative generation cost in round trips and bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SpeculationStats {
    pub rounds: usize,
    pub drafted: usize,
    pub accepted: usize,
    /// Of the `next` tokens, how many the edge's grammar refused (then it wrote its own).
    pub refused_next: usize,
    /// JSON bytes sent and received, bodies only.
    pub request_bytes: usize,
    pub response_bytes: usize,
}

impl Generator {
    /// Generates `request` speculatively: drafts of `draft_tokens` tokens (greedy; the
    /// request's temperature is ignored), each checked by `verify` (one round trip).
    ///
    /// Errors: those of [`Generator::generate`]; [`TriageError::Inference`] when the
    /// verifier fails or answers outside the protocol (more accepted tokens than drafted,
    /// a token outside the vocabulary).
    pub fn generate_speculative(
        &self,
        request: &GenerateRequest,
        draft_tokens: usize,
        verify: &mut dyn FnMut(&VerifyRequest) -> Result<VerifyResponse>,
    ) -> Result<(Generation, SpeculationStats)> {
        let Prepared {
            prompt,
            mut matcher,
            max_new,
            mut timings,
        } = self.prepare(request)?;
        let draft_tokens = draft_tokens.max(1);
        let mut cache = self.model.cache(prompt.len() + max_new + draft_tokens + 1);
        let started = Instant::now();
        let mut logits = self.model.prefill(&prompt, &mut cache)?;
        timings.prefill_ms = ms(started);
        let started = Instant::now();
        let mut model_calls = 1;
        let mut sampler = Sampler::new(0.0, 0);
        let mut stats = SpeculationStats::default();
        let mut out: Vec<TokenId> = Vec::new();
        let constraint = WireConstraint::of(&request.constraint);
        let stop_reason = loop {
            if out.len() >= max_new {
                break StopReason::MaxNewTokens;
            }
            // Draft: masked greedy steps, remembering each step's logits.
            let base = cache.len();
            let mut draft = Vec::new();
            let mut step_logits = vec![logits.clone()];
            while draft.len() < draft_tokens && out.len() + draft.len() < max_new {
                let token = self.masked_pick(&mut matcher, &mut sampler, &logits)?;
                match token {
                    Some(token) if !self.stops.contains(&token) => {
                        if let Some(matcher) = &mut matcher {
                            matcher.consume_token(token).map_err(grammar_failed)?;
                        }
                        draft.push(token);
                        logits = self.model.forward(&[token], &mut cache, false)?;
                        model_calls += 1;
                        step_logits.push(logits.clone());
                    }
                    _ => break,
                }
            }
            let wire = VerifyRequest {
                protocol: PROTOCOL.into(),
                tokenizer_sha256: self.manifest.files.tokenizer.sha256.clone(),
                prompt: prompt.clone(),
                generated: out.clone(),
                draft: draft.clone(),
                constraint: constraint.clone(),
                stop: self.stops.clone(),
            };
            stats.request_bytes += serde_json::to_vec(&wire).map_or(0, |b| b.len());
            let answer = verify(&wire)?;
            stats.response_bytes += serde_json::to_vec(&answer).map_or(0, |b| b.len());
            stats.rounds += 1;
            stats.drafted += draft.len();
            if answer.accepted > draft.len() || answer.next as usize >= self.config().vocab {
                return Err(TriageError::Inference(format!(
                    "the verifier answered outside the protocol: {answer:?} for a draft of {}",
                    draft.len()
                )));
            }
            stats.accepted += answer.accepted;
            let refused = draft.len() - answer.accepted;
            if refused > 0 {
                if let Some(matcher) = &mut matcher {
                    matcher.rollback(refused).map_err(grammar_failed)?;
                }
                cache.truncate(base + answer.accepted);
            }
            out.extend_from_slice(&draft[..answer.accepted]);
            if out.len() >= max_new {
                break StopReason::MaxNewTokens;
            }
            // The verifier's next token, if the edge's grammar allows it.
            let allowed = match &mut matcher {
                Some(matcher) => match next_mask(matcher)? {
                    Some(mask) => Some(mask),
                    None => break StopReason::End,
                },
                None => None,
            };
            let accepted_by_grammar = allowed
                .as_ref()
                .is_none_or(|mask| mask.is_allowed(answer.next))
                || self.stops.contains(&answer.next);
            let next = if accepted_by_grammar {
                answer.next
            } else {
                stats.refused_next += 1;
                let own = &step_logits[answer.accepted];
                match sampler.pick(own, |t| allowed.as_ref().is_none_or(|m| m.is_allowed(t))) {
                    Some(token) => token,
                    None => break StopReason::End,
                }
            };
            if self.stops.contains(&next) {
                break StopReason::End;
            }
            if let Some(matcher) = &mut matcher {
                matcher.consume_token(next).map_err(grammar_failed)?;
            }
            out.push(next);
            if matcher.as_ref().is_some_and(|m| m.is_stopped()) {
                break StopReason::End;
            }
            logits = self.model.forward(&[next], &mut cache, false)?;
            model_calls += 1;
        };
        timings.decode_ms = ms(started);
        let generation = Generation {
            model_calls,
            timings,
            ..self.finish(request, prompt.len(), &out, stop_reason, max_new)?
        };
        Ok((generation, stats))
    }

    /// The best token `matcher` allows (any without one); `None` when nothing is allowed.
    fn masked_pick(
        &self,
        matcher: &mut Option<llguidance::Matcher>,
        sampler: &mut Sampler,
        logits: &[f32],
    ) -> Result<Option<TokenId>> {
        let mask = match matcher {
            Some(matcher) => match next_mask(matcher)? {
                Some(mask) => Some(mask),
                None => return Ok(None),
            },
            None => None,
        };
        Ok(sampler.pick(logits, |t| mask.as_ref().is_none_or(|m| m.is_allowed(t))))
    }

    /// The verifier's side of the protocol with this model: its greedy, grammar-masked
    /// choices after `generated`, compared with the draft in one forward pass. A
    /// reference implementation (and what the protocol tests run behind their recording
    /// origin); a real verifier runs a bigger model with the same tokenizer.
    ///
    /// Errors: a request for another tokenizer or protocol, or one over the budgets.
    pub fn verify(&self, request: &VerifyRequest) -> Result<VerifyResponse> {
        if request.protocol != PROTOCOL
            || request.tokenizer_sha256 != self.manifest.files.tokenizer.sha256
        {
            return Err(TriageError::Inference(
                "the request is for another protocol or tokenizer".into(),
            ));
        }
        let constraint = request
            .constraint
            .as_ref()
            .map_or(Constraint::None, WireConstraint::constraint);
        if request.prompt.is_empty() {
            return Err(TriageError::Inference("the request has no prompt".into()));
        }
        let max_tokens = request.generated.len() + request.draft.len() + 1;
        let mut matcher = self.matcher(&constraint, max_tokens)?;
        if let Some(matcher) = &mut matcher {
            matcher
                .consume_tokens(&request.generated)
                .map_err(grammar_failed)?;
        }
        let context: Vec<TokenId> = request
            .prompt
            .iter()
            .chain(&request.generated)
            .copied()
            .collect();
        let mut cache = self.model.cache(context.len() + request.draft.len());
        let vocab = self.config().vocab;
        // The logits that choose the draft's first token, then those after each draft
        // token: draft.len() + 1 rows, however long the context.
        let mut rows = self.model.prefill(&context, &mut cache)?;
        if !request.draft.is_empty() {
            rows.extend(self.model.forward(&request.draft, &mut cache, true)?);
        }
        let mut sampler = Sampler::new(0.0, 0);
        for i in 0..=request.draft.len() {
            let logits = &rows[i * vocab..(i + 1) * vocab];
            let choice = self
                .masked_pick(&mut matcher, &mut sampler, logits)?
                .unwrap_or(request.stop.first().copied().unwrap_or(0));
            match request.draft.get(i) {
                Some(&drafted) if drafted == choice => {
                    if let Some(matcher) = &mut matcher {
                        matcher.consume_token(drafted).map_err(grammar_failed)?;
                    }
                }
                _ => {
                    return Ok(VerifyResponse {
                        accepted: i,
                        next: choice,
                    })
                }
            }
        }
        Err(TriageError::Inference(
            "unreachable: the loop answers".into(),
        ))
    }
}
