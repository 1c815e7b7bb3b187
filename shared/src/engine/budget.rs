//! Input and memory budgets. Every limit a request can hit is here, with the typed
//! error it produces, so that no input can make a worker panic, hang or run out of memory.

use serde::{Deserialize, Serialize};

/// Limits applied to every request. Defaults fit a 128 MB edge isolate with room to spare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budgets {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Largest single text accepted, in bytes of UTF-8.
    pub max_text_bytes: usize,
    /// Tokens fed to the model per text (including special tokens); longer texts are
    /// truncated and flagged. Never above the model's own `max_tokens`.
    pub max_tokens: usize,
    /// Most texts in one batch request.
    pub max_batch: usize,
    /// Bytes the worker may use at its worst case (model, tokenizer, largest request).
    pub memory_bytes: usize,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            max_body_bytes: 1024 * 1024,
            max_text_bytes: 32 * 1024,
            max_tokens: 256,
            max_batch: 32,
            memory_bytes: 48 * 1024 * 1024,
        }
    }
}

/// Which budget a request exceeded, with the limit and what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetExceeded {
    #[error("request body is at least {actual} bytes, the limit is {limit}")]
    Body { limit: usize, actual: usize },
    #[error("{} is {actual} bytes, the limit is {limit}", which_text(*index, *of))]
    Text {
        /// The text's position in the request's list, from 0.
        index: usize,
        /// How many texts the request holds.
        of: usize,
        limit: usize,
        actual: usize,
    },
    #[error("batch holds {actual} texts, the limit is {limit}")]
    Batch { limit: usize, actual: usize },
    #[error("the largest request the budgets allow needs about {needed} bytes in all, the memory budget is {limit}")]
    Memory { limit: usize, needed: usize },
    /// A generation's prompt is longer than setting `generate_max_prompt_tokens`.
    #[error("the prompt is {actual} tokens, the limit (setting `generate_max_prompt_tokens`) is {limit}")]
    PromptTokens { limit: usize, actual: usize },
    /// The generative model, its cache at the token budgets and what the instance already
    /// holds (`held`, its memory's size) would pass the instance's memory limit (setting
    /// `instance_memory_bytes`: 128 MiB on Spin and Fermyon).
    #[error("generation needs about {needed} bytes beside the {held} this instance holds; the instance memory limit (setting `instance_memory_bytes`) is {limit}")]
    InstanceMemory {
        limit: usize,
        needed: usize,
        held: usize,
    },
}

/// "the text" for a request of one, else "text #i of n" (from 0, as the list is indexed).
fn which_text(index: usize, of: usize) -> String {
    if of == 1 {
        "the text".to_owned()
    } else {
        format!("text #{index} of {of}")
    }
}

impl BudgetExceeded {
    /// Stable short name of the budget, used in problem types and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            BudgetExceeded::Body { .. } => "body-too-large",
            BudgetExceeded::Text { .. } => "text-too-large",
            BudgetExceeded::Batch { .. } => "batch-too-large",
            BudgetExceeded::Memory { .. } | BudgetExceeded::InstanceMemory { .. } => {
                "memory-budget-exceeded"
            }
            BudgetExceeded::PromptTokens { .. } => "prompt-too-long",
        }
    }

    /// The limit that was exceeded.
    pub fn limit(&self) -> usize {
        match self {
            BudgetExceeded::Body { limit, .. }
            | BudgetExceeded::Text { limit, .. }
            | BudgetExceeded::Batch { limit, .. }
            | BudgetExceeded::Memory { limit, .. }
            | BudgetExceeded::PromptTokens { limit, .. }
            | BudgetExceeded::InstanceMemory { limit, .. } => *limit,
        }
    }
}

impl Budgets {
    /// Refuses a body longer than `max_body_bytes`. Adapters call this with the
    /// `Content-Length` before reading, and again with the bytes actually read.
    pub fn check_body(&self, len: usize) -> Result<(), BudgetExceeded> {
        if len > self.max_body_bytes {
            return Err(BudgetExceeded::Body {
                limit: self.max_body_bytes,
                actual: len,
            });
        }
        Ok(())
    }

    /// Refuses a batch larger than `max_batch` or any text larger than `max_text_bytes`.
    pub fn check_texts<S: AsRef<str>>(&self, texts: &[S]) -> Result<(), BudgetExceeded> {
        if texts.len() > self.max_batch {
            return Err(BudgetExceeded::Batch {
                limit: self.max_batch,
                actual: texts.len(),
            });
        }
        for (index, text) in texts.iter().enumerate() {
            let actual = text.as_ref().len();
            if actual > self.max_text_bytes {
                return Err(BudgetExceeded::Text {
                    index,
                    of: texts.len(),
                    limit: self.max_text_bytes,
                    actual,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_at_the_limit_passes_and_one_more_byte_fails() {
        let budgets = Budgets::default();
        assert!(budgets.check_body(budgets.max_body_bytes).is_ok());
        let err = budgets.check_body(budgets.max_body_bytes + 1).unwrap_err();
        assert_eq!(err.kind(), "body-too-large");
        assert_eq!(err.limit(), budgets.max_body_bytes);
    }

    #[test]
    fn batch_and_text_limits_name_the_offender() {
        let budgets = Budgets {
            max_batch: 2,
            max_text_bytes: 4,
            ..Budgets::default()
        };
        assert!(budgets.check_texts(&["abcd", "ab"]).is_ok());
        assert_eq!(
            budgets.check_texts(&["a", "b", "c"]).unwrap_err(),
            BudgetExceeded::Batch {
                limit: 2,
                actual: 3
            }
        );
        assert_eq!(
            budgets.check_texts(&["ok", "abcde"]).unwrap_err(),
            BudgetExceeded::Text {
                index: 1,
                of: 2,
                limit: 4,
                actual: 5
            }
        );
        let batch = budgets.check_texts(&["ok", "abcde"]).unwrap_err();
        assert_eq!(batch.to_string(), "text #1 of 2 is 5 bytes, the limit is 4");
        let single = budgets.check_texts(&["abcde"]).unwrap_err();
        assert_eq!(single.to_string(), "the text is 5 bytes, the limit is 4");
    }
}
