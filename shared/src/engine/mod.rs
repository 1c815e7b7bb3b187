//! The engine: a verified bundle's tokenizer and model, loaded once and run per text under
//! budgets, for classification and embedding. It knows nothing of schemas or HTTP.

pub mod budget;
pub mod bundle;
pub mod classify;
pub mod embed;
pub mod int_matmul;
mod loaded;
pub mod manifest;
pub mod memory;
pub mod model;
pub mod nnef;
#[cfg(feature = "onnx")]
pub mod onnx;
pub mod settings;
pub mod tokenize;
mod tokenizer_guard;
pub mod windows;
