//! The generate task's vocabulary: budgets, requests (messages, constraint, sampling) and
//! what a generation produced.

use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    pub(super) fn as_str(self) -> &'static str {
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
