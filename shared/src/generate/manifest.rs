//! The manifest of a generate bundle (`manifest.json` beside `model.gguf` and
//! `tokenizer.json`): what the model is and how a prompt is written for it. A classifier's
//! manifest ([`crate::manifest::Manifest`]) describes a graph's inputs and outputs; a
//! generative model has none of those, so it has its own, with the same `files`.

use serde::{Deserialize, Serialize};

use crate::error::{Result, TriageError};
use crate::manifest::{is_model_name, Files, MAX_NAME_BYTES};

/// How a request's messages become the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatTemplate {
    /// `<|im_start|>{role}\n{content}<|im_end|>\n` per message, then
    /// `<|im_start|>assistant\n` (SmolLM2, Qwen and others).
    Chatml,
    /// The messages' contents joined by blank lines, no markers (base models).
    None,
}

/// `manifest.json` of a generate bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateManifest {
    /// Short model name, e.g. `smollm2-135m`.
    pub name: String,
    /// Bundle version; bump it when the weights change.
    pub version: String,
    /// Always `generate`.
    pub task: String,
    /// Always `gguf`: llama-architecture weights in GGUF blocks.
    pub format: String,
    /// How messages are written into the prompt.
    pub chat_template: ChatTemplate,
    /// The system message a request without one gets (none when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// Tokens that end a generation (their text in the tokenizer, e.g. `<|im_end|>`); the
    /// first is the one a grammar allows at its end.
    pub stop: Vec<String>,
    /// Positions the deployment may use at most (prompt and generation), at most the
    /// model's trained context; the budgets cap it further.
    pub max_tokens: usize,
    pub files: Files,
}

impl GenerateManifest {
    /// Parses and checks a generate manifest.
    ///
    /// Errors: [`TriageError::Manifest`] for bad JSON, another task or format, a bad name,
    /// no stop token.
    pub fn from_json(bytes: &[u8]) -> Result<GenerateManifest> {
        let manifest: GenerateManifest =
            serde_json::from_slice(bytes).map_err(|e| TriageError::Manifest(e.to_string()))?;
        let fail = |msg: String| Err(TriageError::Manifest(msg));
        if manifest.task != "generate" {
            return fail(format!(
                "task is {:?}: a generator reads `generate` bundles",
                manifest.task
            ));
        }
        if manifest.format != "gguf" {
            return fail(format!(
                "format is {:?}, expected \"gguf\"",
                manifest.format
            ));
        }
        if !is_model_name(&manifest.name) {
            return fail(format!(
                "name must be 1 to {MAX_NAME_BYTES} ASCII letters, digits, `-`, `_` or `.`"
            ));
        }
        if manifest.stop.is_empty() {
            return fail("`stop` must name at least one token".into());
        }
        if manifest.max_tokens < 2 {
            return fail(format!(
                "max_tokens must be >= 2, is {}",
                manifest.max_tokens
            ));
        }
        Ok(manifest)
    }
}
