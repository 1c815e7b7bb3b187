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

pub mod llama;
pub mod manifest;
pub mod parse;
mod sampling;
pub mod speculative;
pub mod vocab;

use std::io::{BufReader, Read, Seek};
use std::path::Path;

use llguidance::api::{ParserLimits, TopLevelGrammar};
use llguidance::toktrie::{TokEnv, TokenId};
use llguidance::{Matcher, ParserFactory};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;
use web_time::Instant;

use crate::budget::BudgetExceeded;
use crate::error::{Result, SchemaError, TriageError};
use crate::memory::current_memory_bytes;

pub use llama::{Config, KvCache, Llama};
pub use manifest::{ChatTemplate, GenerateManifest};

/// Limits of the generate task. Defaults fit SmolLM2-135M in a 128 MiB instance with
/// nothing else loaded; the adapters read them from settings (`generate_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateBudgets {
    /// Most prompt tokens (template included): longer prompts are refused with 413.
    pub max_prompt_tokens: usize,
    /// Most tokens one request may generate (forced tokens included); a request asking for
    /// more is refused with 422, and this is the default.
    pub max_new_tokens: usize,
    /// Largest grammar (schema, regex or Lark text), in bytes: 413 beyond.
    pub max_grammar_bytes: usize,
    /// The instance's memory limit, when the platform has one (Spin and Fermyon: 128 MiB
    /// per instance): loading refuses a model that would not fit beside what the instance
    /// holds, with a 503 naming it, instead of being killed mid-request.
    pub instance_memory_bytes: Option<usize>,
}

impl Default for GenerateBudgets {
    fn default() -> Self {
        GenerateBudgets {
            max_prompt_tokens: 512,
            max_new_tokens: 256,
            max_grammar_bytes: 32 * 1024,
            instance_memory_bytes: None,
        }
    }
}

/// Grammar-engine limits for one request: a hostile schema or grammar is refused (422)
/// or cut off, never left to run. llguidance's defaults (2k items per row, 250k lexer
/// states, 500k grammar symbols) are for servers; these bound a request to a few MB and
/// milliseconds (its documented speeds: 50k fuel/ms, 14k/ms per mask).
fn parser_limits() -> ParserLimits {
    ParserLimits {
        max_items_in_row: 2_000,
        initial_lexer_fuel: 1_000_000,
        step_lexer_fuel: 200_000,
        step_max_items: 50_000,
        max_lexer_states: 20_000,
        max_grammar_size: 100_000,
        precompute_large_lexemes: true,
        verbose_errors: false,
    }
}

/// Bytes a request's grammar state may take at most beside the model (lexer states at
/// about 1 kB each, Earley rows): counted in the memory estimate.
const GRAMMAR_RESERVE_BYTES: usize = 24 * 1024 * 1024;

/// One message of a chat prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: Role,
    pub content: String,
}

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// What the model writes must match.
#[derive(Debug, Clone, PartialEq)]
pub enum Constraint {
    /// Anything, until a stop token or the token budget.
    None,
    /// A JSON value valid against this JSON Schema (llguidance's subset: types, `properties`,
    /// `required`, `enum`, `const`, `pattern`, `format`, `minLength`/`maxLength`, number
    /// bounds, arrays with `items`/`minItems`/`maxItems`, `anyOf`/`oneOf`, local `$ref`).
    JsonSchema(Value),
    /// Text matching this regex (Rust `regex` syntax), whole.
    Regex(String),
    /// Text in this Lark grammar (llguidance's dialect).
    Lark(String),
}

/// One generation request.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateRequest {
    /// The conversation so far; the model answers as the assistant. Without a system
    /// message the manifest's `system_prompt` is used.
    pub messages: Vec<Message>,
    pub constraint: Constraint,
    /// Most tokens to generate (forced ones included); at most the budget's.
    pub max_new_tokens: Option<usize>,
    /// 0 (the default) is greedy; above, tokens are drawn from the softmax of
    /// logits / temperature, with `seed`.
    pub temperature: f32,
    pub seed: u64,
}

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model chose a stop token (with a grammar: where the grammar may end), or the
    /// grammar allowed nothing more.
    End,
    /// The token budget ran out first.
    MaxNewTokens,
}

/// Token counts and times of one generation, for the answer and Server-Timing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct GenerateTimings {
    /// Compiling the grammar, ms.
    pub grammar_ms: f64,
    /// Running the prompt through the model, ms.
    pub prefill_ms: f64,
    /// Generating, ms (model steps, masks and sampling).
    pub decode_ms: f64,
    /// Of `decode_ms`, computing the grammar's masks, ms.
    pub mask_ms: f64,
}

/// What one request produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Generation {
    /// The generated text (stop token excluded).
    pub text: String,
    /// With a JSON Schema: the parsed value, valid against it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    pub stop_reason: StopReason,
    /// Prompt tokens (template included).
    pub prompt_tokens: usize,
    /// Tokens generated, forced ones included.
    pub generated_tokens: usize,
    /// Of those, tokens the grammar forced (no model choice).
    pub forced_tokens: usize,
    /// Forward passes of the model (the prompt's is one).
    pub model_calls: usize,
    pub timings: GenerateTimings,
}

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

/// Lower-case hex sha256 of everything `reader` yields, read in 1 MiB chunks.
fn sha256_of(reader: &mut impl Read) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        hasher.update(&chunk[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

impl Generator {
    /// Loads the bundle in `dir` (`manifest.json`, and the model and tokenizer it names),
    /// checking both files' sha256 and, with `instance_memory_bytes`, that the model fits
    /// before its weights are read.
    ///
    /// Errors: [`TriageError::MissingFile`], [`TriageError::ChecksumMismatch`],
    /// [`TriageError::Manifest`], [`TriageError::Model`], [`TriageError::Tokenizer`];
    /// [`BudgetExceeded::InstanceMemory`] when it would not fit.
    pub fn load_dir(dir: &Path, budgets: GenerateBudgets) -> Result<Generator> {
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|_| TriageError::MissingFile {
                file: dir.join(name).display().to_string(),
            })
        };
        let manifest = GenerateManifest::from_json(&read("manifest.json")?)?;
        let tokenizer_bytes = read(&manifest.files.tokenizer.path)?;
        check_sha256(
            &manifest.files.tokenizer.path,
            &manifest.files.tokenizer.sha256,
            || Ok(crate::bundle::sha256_hex(&tokenizer_bytes)),
        )?;
        let model_path = dir.join(&manifest.files.model.path);
        let open = || {
            std::fs::File::open(&model_path).map_err(|_| TriageError::MissingFile {
                file: model_path.display().to_string(),
            })
        };
        let mut file = open()?;
        check_sha256(
            &manifest.files.model.path,
            &manifest.files.model.sha256,
            || {
                sha256_of(&mut file).map_err(|e| TriageError::Model {
                    file: manifest.files.model.path.clone(),
                    reason: e.to_string(),
                })
            },
        )?;
        let model_bytes = file.metadata().map(|m| m.len() as usize).unwrap_or(0);
        let mut reader = BufReader::new(open()?);
        Generator::load(
            manifest,
            &mut reader,
            model_bytes,
            &tokenizer_bytes,
            budgets,
        )
    }

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
        drop(content);
        model.rewind().map_err(|e| TriageError::Model {
            file: manifest.files.model.path.clone(),
            reason: e.to_string(),
        })?;
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
        let env = vocab::Vocabulary::new(tokenizer.clone(), config.vocab, &stops)?;
        let mut factory = ParserFactory::new_simple(&env).map_err(tokenizer_error)?;
        *factory.limits_mut() = parser_limits();
        factory.set_stderr_log_level(0);
        let model = Llama::load(model, positions)?;
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

    /// The grammar for `constraint`, checked against the grammar budget. JSON is written
    /// compactly (`", "` and `": "`, no free whitespace): a small model given free
    /// whitespace can spend its budget on it.
    fn grammar(&self, constraint: &Constraint) -> Result<Option<TopLevelGrammar>> {
        let size = |bytes: usize| -> Result<()> {
            if bytes > self.budgets.max_grammar_bytes {
                return Err(SchemaError::TooLarge {
                    what: "bytes of grammar",
                    limit: self.budgets.max_grammar_bytes,
                    actual: bytes,
                }
                .into());
            }
            Ok(())
        };
        Ok(match constraint {
            Constraint::None => None,
            Constraint::JsonSchema(schema) => {
                size(serde_json::to_string(schema).map_or(usize::MAX, |s| s.len()))?;
                let mut schema = schema.clone();
                // oneOf is written as anyOf (llguidance cannot exclude the other branches);
                // the validation after generation enforces it.
                let options = serde_json::json!({
                    "whitespace_flexible": false,
                    "item_separator": ", ",
                    "key_separator": ": ",
                    "coerce_one_of": true,
                });
                match &mut schema {
                    Value::Object(map) => {
                        map.insert("x-guidance".into(), options);
                    }
                    Value::Bool(true) => {
                        schema = serde_json::json!({"x-guidance": options});
                    }
                    _ => return Err(unsupported("schema", "must be an object (or true)".into())),
                }
                Some(TopLevelGrammar::from_json_schema(schema))
            }
            Constraint::Regex(regex) => {
                size(regex.len())?;
                Some(TopLevelGrammar::from_regex(regex))
            }
            Constraint::Lark(lark) => {
                size(lark.len())?;
                Some(TopLevelGrammar::from_lark(lark.clone()))
            }
        })
    }

    /// The grammar engine's matcher for `constraint`, for at most `max_tokens` tokens;
    /// `None` without a constraint.
    fn matcher(&self, constraint: &Constraint, max_tokens: usize) -> Result<Option<Matcher>> {
        let Some(mut grammar) = self.grammar(constraint)? else {
            return Ok(None);
        };
        grammar.max_tokens = Some(max_tokens);
        let matcher = Matcher::new(self.factory.create_parser(grammar));
        if let Some(error) = matcher.get_error() {
            return Err(unsupported("grammar", error));
        }
        Ok(Some(matcher))
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
        let mut logits = self.model.forward(&prompt, &mut cache, false)?;
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
                    let mask = matcher.compute_mask();
                    timings.mask_ms += ms(mask_started);
                    if let Some(error) = matcher.get_error() {
                        return Err(grammar_failed(error));
                    }
                    if matcher.is_stopped() {
                        stop_reason = StopReason::End;
                        break;
                    }
                    Some(mask.map_err(grammar_failed)?)
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
        let mut generation = self.finish(request, &out, stop_reason, max_new)?;
        generation.prompt_tokens = prompt.len();
        generation.forced_tokens = forced;
        generation.model_calls = model_calls;
        generation.timings = timings;
        Ok(generation)
    }

    /// The answer from the tokens written: its text, and with a JSON Schema its value,
    /// parsed and validated; a grammar cut off by the token budget is
    /// [`TriageError::Unfinished`]. Counts and timings are the caller's to fill.
    fn finish(
        &self,
        request: &GenerateRequest,
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
            prompt_tokens: 0,
            generated_tokens: out.len(),
            forced_tokens: 0,
            model_calls: 0,
            timings: GenerateTimings::default(),
        })
    }
}

/// The generated JSON, parsed and validated against `schema` by jsonschema: what
/// llguidance's grammar guarantees, checked by another implementation. A value the grammar
/// allowed and the schema refuses comes from what llguidance approximates (`oneOf` as
/// `anyOf`, some formats): the schema is at fault for this decoder, 422.
fn checked_value(text: &str, schema: &Value) -> Result<Value> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        TriageError::Inference(format!(
            "the grammar let through JSON that does not parse: {e}"
        ))
    })?;
    let validator =
        jsonschema::validator_for(schema).map_err(|e| unsupported("schema", e.to_string()))?;
    if let Some(error) = validator.iter_errors(&value).next() {
        return Err(unsupported(
            "schema",
            format!(
                "asks for more than the grammar enforces: the generated {text} fails it at \
                 {:?} ({error}); oneOf is generated as anyOf",
                error.instance_path().to_string()
            ),
        ));
    }
    Ok(value)
}

fn check_sha256(file: &str, expected: &str, actual: impl FnOnce() -> Result<String>) -> Result<()> {
    let actual = actual()?;
    if actual != expected {
        return Err(TriageError::ChecksumMismatch {
            file: file.to_owned(),
            expected: expected.to_owned(),
            actual,
        });
    }
    Ok(())
}

fn unsupported(keyword: &str, reason: String) -> TriageError {
    SchemaError::Unsupported {
        pointer: "the request".into(),
        keyword: keyword.into(),
        reason,
    }
    .into()
}

/// The grammar engine stopped mid-generation: a grammar past its limits (lexer states,
/// Earley items, fuel per mask), which is the request's, so 422.
fn grammar_failed(error: impl std::fmt::Display) -> TriageError {
    let reason = error.to_string();
    let reason = reason.lines().next().unwrap_or("").trim();
    unsupported(
        "grammar",
        format!("is past the grammar engine's limits for one request ({reason})"),
    )
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}
