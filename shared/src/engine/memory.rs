//! Memory accounting. Edge isolates have 128 MB and local runtimes (workerd under
//! `wrangler dev`) do not enforce it, so the worker checks its own worst case at start-up.

use serde::Serialize;

use crate::engine::budget::{BudgetExceeded, Budgets};
use crate::engine::model::SequenceModel;

/// Copies of the body a request may hold at once: the raw bytes, the parsed JSON, the texts.
const BODY_COPIES: usize = 3;
/// A loaded tokenizer takes about this many times its JSON file (vocab maps, regexes).
const TOKENIZER_EXPANSION: usize = 4;
/// Bytes per token of a tokenizer `Encoding` (ids, offsets, type ids, masks, words).
const ENCODING_BYTES_PER_TOKEN: usize = 64;

/// A conservative estimate of the worker's memory: what stays resident plus the worst
/// request the budgets let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MemoryEstimate {
    /// Model weights and tokenizer, held for the life of the worker.
    pub resident_bytes: usize,
    /// The largest request the budgets allow: body copies, tokens, and activations.
    pub worst_request_bytes: usize,
}

impl MemoryEstimate {
    /// Estimates from the loaded model and the budgets.
    pub fn new(
        budgets: &Budgets,
        model: &SequenceModel,
        tokenizer_file_bytes: usize,
    ) -> MemoryEstimate {
        let resident_bytes = model.weight_bytes() + tokenizer_file_bytes * TOKENIZER_EXPANSION;
        // A batch is tokenized first (every text's ids kept, one `Encoding` alive at a
        // time), then texts run one after another: one text's activations at a time.
        let worst_request_bytes = budgets.max_body_bytes * BODY_COPIES
            + budgets.max_tokens * ENCODING_BYTES_PER_TOKEN
            + budgets.max_batch * budgets.max_tokens * std::mem::size_of::<i64>()
            + model.activation_bytes(budgets.max_tokens);
        MemoryEstimate {
            resident_bytes,
            worst_request_bytes,
        }
    }

    /// Two models served side by side: both stay resident, one request runs at a time.
    pub fn alongside(&self, other: &MemoryEstimate) -> MemoryEstimate {
        MemoryEstimate {
            resident_bytes: self.resident_bytes + other.resident_bytes,
            worst_request_bytes: self.worst_request_bytes.max(other.worst_request_bytes),
        }
    }

    /// This estimate with `bytes` more held for the worker's life besides the models (the
    /// semantic cache's entries, [`crate::cache::MemoryCache::reserved_bytes`]).
    pub fn with_resident(&self, bytes: usize) -> MemoryEstimate {
        MemoryEstimate {
            resident_bytes: self.resident_bytes + bytes,
            ..*self
        }
    }

    /// Resident plus worst request.
    pub fn total_bytes(&self) -> usize {
        self.resident_bytes + self.worst_request_bytes
    }

    /// Refuses budgets whose worst case does not fit the memory budget.
    pub fn check_fits(&self, budgets: &Budgets) -> Result<(), BudgetExceeded> {
        if self.total_bytes() > budgets.memory_bytes {
            return Err(BudgetExceeded::Memory {
                limit: budgets.memory_bytes,
                needed: self.total_bytes(),
            });
        }
        Ok(())
    }
}

/// Memory in use now, where the runtime can tell cheaply: on wasm, the linear memory size
/// (it only grows, so it is also the peak). Native builds return `None`.
pub fn current_memory_bytes() -> Option<usize> {
    #[cfg(target_arch = "wasm32")]
    {
        Some(core::arch::wasm32::memory_size(0) * 65536)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        None
    }
}
