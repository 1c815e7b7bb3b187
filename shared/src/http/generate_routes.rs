//! The routes of the generate capability (feature `generate`): `POST /v1/generate`, and
//! `POST /v1/parse` with `"decoder": "generate"`, which writes the object with the
//! generative model under the schema's grammar instead of decoding it with the embedding
//! model. Without the feature, [`super::routes`] answers those requests 501.

use http::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::TriageError;
use crate::generate::{
    Constraint, GenerateBudgets, GenerateRequest, GenerateTimings, Generation, Generator, Message,
    Role, StopReason,
};
use crate::http::api::ModelRef;
use crate::http::problem::Problem;
use crate::http::request::{check_request, invalid, read_json, ParseCall, SchemaRef};
use crate::http::routes::{append_server_timing, json_response, problem_response};
use crate::http::service::Service;
use crate::memory::current_memory_bytes;

/// `POST /v1/generate` body: a `prompt` or `messages`, at most one of `schema`, `regex`,
/// `grammar` (Lark), and sampling options.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateBody {
    pub prompt: Option<String>,
    pub messages: Option<Vec<Message>>,
    pub schema: Option<Box<serde_json::value::RawValue>>,
    pub regex: Option<String>,
    pub grammar: Option<String>,
    pub max_new_tokens: Option<usize>,
    pub temperature: Option<f32>,
    pub seed: Option<u64>,
}

/// Token counts of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TokenCounts {
    /// Prompt tokens, template included.
    pub prompt: usize,
    /// Tokens generated, forced ones included.
    pub generated: usize,
    /// Of those, forced by the grammar.
    pub forced: usize,
}

/// Answer to `POST /v1/generate`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GenerateResponse {
    pub model: ModelRef,
    /// What the model wrote.
    pub text: String,
    /// With a `schema`: `text` parsed, valid against the schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// `end` or `max_new_tokens`.
    pub stop_reason: StopReason,
    pub tokens: TokenCounts,
    pub timings: GenerateTimings,
    /// The instance's memory after the request, in bytes, where it is known (wasm: the
    /// linear memory's size).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_memory_bytes: Option<usize>,
}

/// Answer to `POST /v1/parse` with `"decoder": "generate"`: `object` as the embedding
/// decoder's answer has it (no per-field scores: a generated object has none).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GenerateParseResponse {
    pub model: ModelRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    pub decoder: &'static str,
    pub object: Value,
    /// Prompt tokens, as `tokens` of the embedding decoder counts the text's.
    pub tokens: usize,
    pub generated_tokens: usize,
    pub source: &'static str,
}

fn model_ref(generator: &Generator) -> ModelRef {
    ModelRef {
        name: generator.manifest().name.clone(),
        version: generator.manifest().version.clone(),
    }
}

/// Server-Timing of a generation: grammar compile, prefill, decode, and masks within it.
fn with_timings(mut response: Response<Vec<u8>>, timings: &GenerateTimings) -> Response<Vec<u8>> {
    let entry = format!(
        "grammar;dur={:.3}, prefill;dur={:.3}, decode;dur={:.3}, mask;dur={:.3}",
        timings.grammar_ms, timings.prefill_ms, timings.decode_ms, timings.mask_ms
    );
    append_server_timing(response.headers_mut(), &entry);
    response
}

/// Reads and checks a `/v1/generate` body into a request: 415/413/400 as every route,
/// 422 for a body of the wrong shape (neither or both of `prompt` and `messages`, more than
/// one constraint, a schema that is not JSON). Needs only the budgets: a bad request never
/// makes an instance load the model.
fn read_request(
    service: &Service,
    budgets: &GenerateBudgets,
    request: &Request<impl AsRef<[u8]>>,
) -> Result<GenerateRequest, Problem> {
    let body = request.body().as_ref();
    check_request(request.headers(), body, service.budgets())?;
    let call: GenerateBody = read_json(
        body,
        "request body is empty; send {\"prompt\": \"...\"} or {\"messages\": [...]}, with a \
         \"schema\", \"regex\" or \"grammar\" to constrain the answer",
    )?;
    let messages = match (call.prompt, call.messages) {
        (Some(prompt), None) => vec![Message {
            role: Role::User,
            content: prompt,
        }],
        (None, Some(messages)) if !messages.is_empty() => messages,
        (None, Some(_)) => return Err(invalid("`messages` is empty")),
        _ => return Err(invalid("send exactly one of `prompt` and `messages`")),
    };
    let max_text = service.budgets().max_text_bytes;
    let text_bytes: usize = messages.iter().map(|m| m.content.len()).sum();
    if text_bytes > max_text {
        return Err(Problem::from_error(&TriageError::Budget(
            crate::BudgetExceeded::Text {
                index: 0,
                of: 1,
                limit: max_text,
                actual: text_bytes,
            },
        )));
    }
    let grammar_budget = budgets.max_grammar_bytes;
    let constraint = match (call.schema, call.regex, call.grammar) {
        (None, None, None) => Constraint::None,
        (Some(schema), None, None) => {
            let raw = schema.get();
            if raw.len() > grammar_budget {
                return Err(Problem::from_error(&TriageError::Schema(
                    crate::error::SchemaError::TooLarge {
                        what: "bytes of grammar",
                        limit: grammar_budget,
                        actual: raw.len(),
                    },
                )));
            }
            let value: Value = serde_json::from_str(raw)
                .map_err(|e| invalid(format!("`schema` could not be read: {e}")))?;
            Constraint::JsonSchema(value)
        }
        (None, Some(regex), None) => Constraint::Regex(regex),
        (None, None, Some(grammar)) => Constraint::Lark(grammar),
        _ => {
            return Err(invalid(
                "send at most one of `schema`, `regex` and `grammar`",
            ))
        }
    };
    Ok(GenerateRequest {
        messages,
        constraint,
        max_new_tokens: call.max_new_tokens,
        temperature: call.temperature.unwrap_or(0.0),
        seed: call.seed.unwrap_or(0),
    })
}

/// `POST /v1/generate`.
pub(crate) fn generate<B: AsRef<[u8]>>(
    service: &Service,
    request: &Request<B>,
) -> Response<Vec<u8>> {
    // Without budgets no generator is configured: the slot's 503 says how to set one.
    let call = match service.generate_budgets.as_ref() {
        Some(budgets) => read_request(service, budgets, request),
        None => Err(service.generator_slot().err().cloned().unwrap_or_else(|| {
            Problem::from_error(&TriageError::Config("no generative model".into()))
        })),
    };
    let call = match call {
        Ok(call) => call,
        Err(problem) => return problem_response(&problem),
    };
    let generator = match service.generator_slot() {
        Ok(generator) => generator,
        Err(problem) => return problem_response(problem),
    };
    match generator.generate(&call) {
        Ok(generation) => answer(generator, generation),
        Err(error) => problem_response(&Problem::from_error(&error)),
    }
}

fn answer(generator: &Generator, generation: Generation) -> Response<Vec<u8>> {
    let timings = generation.timings;
    let response = json_response(
        StatusCode::OK,
        &GenerateResponse {
            model: model_ref(generator),
            text: generation.text,
            value: generation.value,
            stop_reason: generation.stop_reason,
            tokens: TokenCounts {
                prompt: generation.prompt_tokens,
                generated: generation.generated_tokens,
                forced: generation.forced_tokens,
            },
            timings,
            instance_memory_bytes: current_memory_bytes(),
        },
    );
    with_timings(response, &timings)
}

/// `POST /v1/parse` with `"decoder": "generate"`: the call was read by the parse route
/// (schema budget, named schemas); the object is written by the generative model.
pub(crate) fn parse(service: &Service, call: ParseCall, named: Option<Value>) -> Response<Vec<u8>> {
    let generator = match service.generator_slot() {
        Ok(generator) => generator,
        Err(problem) => return problem_response(problem),
    };
    let (name, schema) = match (call.schema, named) {
        (SchemaRef::Named(name), Some(document)) => (Some(name), document),
        (SchemaRef::Named(name), None) => {
            return problem_response(&Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown-schema",
                format!("no schema is named {name:?}"),
            ))
        }
        (SchemaRef::Inline(document, _), _) => (None, document),
    };
    match generator.generate(&crate::generate::parse::request(&schema, &call.text)) {
        Ok(generation) => {
            let timings = generation.timings;
            let response = json_response(
                StatusCode::OK,
                &GenerateParseResponse {
                    model: model_ref(generator),
                    schema: name,
                    decoder: "generate",
                    object: generation.value.unwrap_or(Value::Null),
                    tokens: generation.prompt_tokens,
                    generated_tokens: generation.generated_tokens,
                    source: "local",
                },
            );
            with_timings(response, &timings)
        }
        Err(error) => problem_response(&Problem::from_error(&error)),
    }
}

/// For `GET /v1/models`: the generative model, when one is configured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GenerateInfo {
    pub budgets: crate::generate::GenerateBudgets,
    /// Whether this process, isolate or instance has loaded it (a request that needs it
    /// does; listing the models does not read 100 MB of weights).
    pub loaded: bool,
    /// Once loaded: its name and version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelRef>,
    /// Once loaded: estimated bytes at the budgets (weights, tokenizer, cache, grammar
    /// reserve).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<usize>,
}

/// What `/v1/models` says of the generative model, when one is configured.
pub(crate) fn generate_info(service: &Service) -> Option<GenerateInfo> {
    let budgets = service.generate_budgets?;
    let loaded = service.generator.peek();
    Some(GenerateInfo {
        budgets,
        loaded: loaded.is_some(),
        model: loaded.map(model_ref),
        memory_bytes: loaded.map(Generator::memory_bytes),
    })
}
