//! The generate task (feature `generate`): a small generative model whose every step is
//! constrained by a grammar built from the request (a JSON Schema, a regex or a Lark
//! grammar), so that what it writes parses and validates by construction, with no retry.
//!
//! - [`llama`]: the network (candle's quantized kernels over GGUF blocks).
//! - [`vocab`]: each token's bytes, for llguidance's token trie.
//! - [`manifest`]: the bundle's `manifest.json`.
//! - [`Generator`]: bundle in, [`Generation`] out, under [`GenerateBudgets`].
//!
//! Per step: llguidance computes the mask of tokens the grammar allows (tens of
//! microseconds for a JSON Schema, JSONSchemaBench), the logits of the others are ignored,
//! and the token is the best allowed one (greedy) or drawn at `temperature`. Tokens the
//! grammar forces (`{"name": "` after a schema's start) are appended without asking the
//! model and run through it in one batch. An object is validated again with jsonschema
//! before it is returned.

mod grammar;
pub mod llama;
mod load;
pub mod manifest;
pub mod parse;
mod sampling;
pub mod speculative;
mod types;
pub mod vocab;

use std::io::{Read, Seek};

use llguidance::toktrie::{TokEnv, TokenId};
use llguidance::{Matcher, ParserFactory};
use tokenizers::Tokenizer;
use web_time::Instant;

use crate::budget::BudgetExceeded;
use crate::error::{Result, TriageError};
use crate::memory::current_memory_bytes;

pub use llama::{Config, KvCache, Llama};
pub use manifest::{ChatTemplate, GenerateManifest};
pub use types::{
    Constraint, GenerateBudgets, GenerateRequest, GenerateTimings, Generation, Message, Role,
    StopReason,
};

use grammar::{
    checked_value, grammar_failed, next_mask, parser_limits, unsupported, GRAMMAR_RESERVE_BYTES,
};

/// A request checked and its grammar compiled, ready for the model.
struct Prepared {
    prompt: Vec<TokenId>,
    matcher: Option<Matcher>,
    max_new: usize,
    timings: GenerateTimings,
}

/// A loaded generate bundle: the network, its tokenizer and the grammar engine.
pub struct Generator {
    manifest: GenerateManifest,
    model: Llama,
    /// Encodes template text, its special tokens recognised.
    tokenizer: Tokenizer,
    /// Encodes message contents: special tokens spelled in them stay plain text, so a
    /// message cannot close its turn or open another.
    literal: Tokenizer,
    factory: ParserFactory,
    env: TokEnv,
    stops: Vec<TokenId>,
    budgets: GenerateBudgets,
    /// Bytes the model, tokenizer and cache at the budgets need (the load's estimate).
    memory_bytes: usize,
}

impl std::fmt::Debug for Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generator")
            .field("manifest", &self.manifest)
            .field("model", &self.model)
            .field("budgets", &self.budgets)
            .finish_non_exhaustive()
    }
}

fn tokenizer_error(reason: impl std::fmt::Display) -> TriageError {
    TriageError::Tokenizer {
        file: "tokenizer.json".into(),
        reason: reason.to_string(),
    }
}

impl Generator {
    /// Loads a checked bundle: `model` reads the GGUF file (`model_bytes` long).
    pub fn load<R: Read + Seek>(
        manifest: GenerateManifest,
        model: &mut R,
        model_bytes: usize,
        tokenizer_json: &[u8],
        budgets: GenerateBudgets,
    ) -> Result<Generator> {
        let content = candle_core::quantized::gguf_file::Content::read(model).map_err(|e| {
            TriageError::Model {
                file: manifest.files.model.path.clone(),
                reason: e.to_string(),
            }
        })?;
        let config = llama::read_config(&content)?;
        let positions = manifest
            .max_tokens
            .min(config.context_length)
            .min(budgets.max_prompt_tokens + budgets.max_new_tokens);
        // The tokenizer's tables take about 4 times its JSON; the trie and token bytes
        // about 40 bytes a token; logits, mask and probabilities 12 bytes a token.
        let memory_bytes = model_bytes
            + 4 * tokenizer_json.len()
            + config.vocab * 52
            + positions * config.kv_bytes_per_token()
            + config.working_bytes(positions)
            + GRAMMAR_RESERVE_BYTES;
        if let Some(limit) = budgets.instance_memory_bytes {
            let held = current_memory_bytes().unwrap_or(0);
            if held + memory_bytes > limit {
                return Err(BudgetExceeded::InstanceMemory {
                    limit,
                    needed: memory_bytes,
                    held,
                }
                .into());
            }
        }
        let tokenizer = Tokenizer::from_bytes(tokenizer_json).map_err(tokenizer_error)?;
        let mut literal = tokenizer.clone();
        literal.set_encode_special_tokens(true);
        let stops = manifest
            .stop
            .iter()
            .map(|name| {
                tokenizer.token_to_id(name).ok_or_else(|| {
                    tokenizer_error(format!("the manifest's stop token {name:?} is not in it"))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let env = vocab::Vocabulary::env(tokenizer.clone(), config.vocab, &stops)?;
        let mut factory = ParserFactory::new_simple(&env).map_err(tokenizer_error)?;
        *factory.limits_mut() = parser_limits();
        factory.set_stderr_log_level(0);
        // The header read above (its 49k-token vocabulary and merges among the metadata)
        // serves the weights too: it is parsed once.
        let model = Llama::from_content(&content, model, positions)?;
        drop(content);
        Ok(Generator {
            manifest,
            model,
            tokenizer,
            literal,
            factory,
            env,
            stops,
            budgets,
            memory_bytes,
        })
    }

    /// The bundle's manifest.
    pub fn manifest(&self) -> &GenerateManifest {
        &self.manifest
    }

    /// The budgets it was loaded with.
    pub fn budgets(&self) -> &GenerateBudgets {
        &self.budgets
    }

    /// The tokens that end a generation (the manifest's `stop`), as ids.
    pub fn stop_tokens(&self) -> &[TokenId] {
        &self.stops
    }

    /// The network's shape.
    pub fn config(&self) -> &Config {
        self.model.config()
    }

    /// Estimated bytes the generator needs at its worst case: weights, tokenizer, cache
    /// at the token budgets and the grammar reserve.
    pub fn memory_bytes(&self) -> usize {
        self.memory_bytes
    }

    /// The prompt's tokens: messages written by the manifest's template, then the
    /// assistant's turn opened.
    pub fn prompt_tokens(&self, messages: &[Message]) -> Result<Vec<TokenId>> {
        let encode = |tokenizer: &Tokenizer, text: &str| -> Result<Vec<TokenId>> {
            tokenizer
                .encode(text, false)
                .map(|e| e.get_ids().to_vec())
                .map_err(|e| TriageError::Encode(e.to_string()))
        };
        let mut tokens = Vec::new();
        let has_system = messages.iter().any(|m| m.role == Role::System);
        let system = self
            .manifest
            .system_prompt
            .as_ref()
            .filter(|_| !has_system)
            .map(|content| Message {
                role: Role::System,
                content: content.clone(),
            });
        for message in system.iter().chain(messages) {
            match self.manifest.chat_template {
                ChatTemplate::Chatml => {
                    tokens.extend(encode(
                        &self.tokenizer,
                        &format!("<|im_start|>{}\n", message.role.as_str()),
                    )?);
                    tokens.extend(encode(&self.literal, &message.content)?);
                    tokens.extend(encode(&self.tokenizer, "<|im_end|>\n")?);
                }
                ChatTemplate::None => {
                    tokens.extend(encode(&self.literal, &message.content)?);
                    tokens.extend(encode(&self.tokenizer, "\n\n")?);
                }
            }
        }
        if self.manifest.chat_template == ChatTemplate::Chatml {
            tokens.extend(encode(&self.tokenizer, "<|im_start|>assistant\n")?);
        }
        Ok(tokens)
    }

    /// Checks `request` against the budgets and compiles its grammar: everything before
    /// the model runs.
    fn prepare(&self, request: &GenerateRequest) -> Result<Prepared> {
        let budget = self.budgets.max_new_tokens;
        let max_new = request.max_new_tokens.unwrap_or(budget);
        if max_new == 0 || max_new > budget {
            return Err(unsupported(
                "max_new_tokens",
                format!("is {max_new}, expected 1 to {budget} (setting `generate_max_new_tokens`)"),
            ));
        }
        if !(request.temperature.is_finite() && (0.0..=2.0).contains(&request.temperature)) {
            return Err(unsupported(
                "temperature",
                format!("is {}, expected a number in [0, 2]", request.temperature),
            ));
        }
        let prompt = self.prompt_tokens(&request.messages)?;
        if prompt.len() > self.budgets.max_prompt_tokens {
            return Err(BudgetExceeded::PromptTokens {
                limit: self.budgets.max_prompt_tokens,
                actual: prompt.len(),
            }
            .into());
        }
        let mut timings = GenerateTimings::default();
        let started = Instant::now();
        let matcher = self.matcher(&request.constraint, max_new)?;
        timings.grammar_ms = ms(started);
        Ok(Prepared {
            prompt,
            matcher,
            max_new,
            timings,
        })
    }

    /// Generates the assistant's answer to `request`. Budgets are checked before any
    /// model work: the prompt's tokens (413), `max_new_tokens` (422), the grammar's size
    /// (413) and whether it compiles (422).
    ///
    /// Errors: [`BudgetExceeded::PromptTokens`], [`SchemaError`] for a grammar llguidance
    /// refuses or one over budget, [`TriageError::Encode`], [`TriageError::Inference`];
    /// [`TriageError::Unfinished`] when a grammar could not end within the token budget.
    pub fn generate(&self, request: &GenerateRequest) -> Result<Generation> {
        let Prepared {
            prompt,
            mut matcher,
            max_new,
            mut timings,
        } = self.prepare(request)?;
        let mut cache = self.model.cache(prompt.len() + max_new);
        let started = Instant::now();
        let mut logits = self.model.prefill(&prompt, &mut cache)?;
        timings.prefill_ms = ms(started);
        let mut model_calls = 1;

        let started = Instant::now();
        let mut sampler = sampling::Sampler::new(request.temperature, request.seed);
        let mut out: Vec<TokenId> = Vec::new();
        let mut forced = 0;
        let mut stop_reason = StopReason::MaxNewTokens;
        while out.len() < max_new {
            let allowed = match &mut matcher {
                Some(matcher) => {
                    let forced_now = matcher.compute_ff_tokens();
                    let room = max_new - out.len();
                    if !forced_now.is_empty() && forced_now.len() <= room {
                        matcher
                            .consume_tokens(&forced_now)
                            .map_err(grammar_failed)?;
                        if let Some(error) = matcher.get_error() {
                            return Err(grammar_failed(error));
                        }
                        out.extend_from_slice(&forced_now);
                        forced += forced_now.len();
                        if matcher.is_stopped() {
                            stop_reason = StopReason::End;
                            break;
                        }
                        logits = self.model.forward(&forced_now, &mut cache, false)?;
                        model_calls += 1;
                        continue;
                    }
                    let mask_started = Instant::now();
                    let mask = next_mask(matcher);
                    timings.mask_ms += ms(mask_started);
                    match mask? {
                        Some(mask) => Some(mask),
                        None => {
                            stop_reason = StopReason::End;
                            break;
                        }
                    }
                }
                None => None,
            };
            let token = sampler.pick(&logits, |t| {
                allowed.as_ref().is_none_or(|mask| mask.is_allowed(t))
            });
            let Some(token) = token else {
                stop_reason = StopReason::End;
                break;
            };
            if self.stops.contains(&token) {
                stop_reason = StopReason::End;
                break;
            }
            if let Some(matcher) = &mut matcher {
                matcher.consume_token(token).map_err(grammar_failed)?;
            }
            out.push(token);
            if let Some(error) = matcher.as_ref().and_then(|m| m.get_error()) {
                return Err(grammar_failed(error));
            }
            if matcher.as_ref().is_some_and(|m| m.is_stopped()) {
                stop_reason = StopReason::End;
                break;
            }
            if out.len() < max_new {
                logits = self.model.forward(&[token], &mut cache, false)?;
                model_calls += 1;
            }
        }
        timings.decode_ms = ms(started);
        Ok(Generation {
            forced_tokens: forced,
            model_calls,
            timings,
            ..self.finish(request, prompt.len(), &out, stop_reason, max_new)?
        })
    }

    /// The answer from the tokens written: its text, and with a JSON Schema its value,
    /// parsed and validated; a grammar cut off by the token budget is
    /// [`TriageError::Unfinished`]. Forced tokens, model calls and timings are the
    /// caller's to fill.
    fn finish(
        &self,
        request: &GenerateRequest,
        prompt_tokens: usize,
        out: &[TokenId],
        stop_reason: StopReason,
        max_new: usize,
    ) -> Result<Generation> {
        let bytes = self.env.tok_trie().decode_raw(out);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let constrained = !matches!(request.constraint, Constraint::None);
        if constrained && stop_reason == StopReason::MaxNewTokens {
            return Err(TriageError::Unfinished {
                limit: max_new,
                partial: crate::error::quoted_prefix(&text, 200),
            });
        }
        let value = match &request.constraint {
            Constraint::JsonSchema(schema) => Some(checked_value(&text, schema)?),
            _ => None,
        };
        Ok(Generation {
            text,
            value,
            stop_reason,
            prompt_tokens,
            generated_tokens: out.len(),
            forced_tokens: 0,
            model_calls: 0,
            timings: GenerateTimings::default(),
        })
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}
