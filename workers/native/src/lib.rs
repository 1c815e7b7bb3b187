//! Native adapter: maps axum/hyper requests onto [`triage_core::http::Service`].
//! The binary (`triage`) adds a CLI on top; the contract tests start [`serve`] in-process.

pub mod bundle_dir;
pub mod bundle_tool;
pub mod outbound;
pub mod server;

pub use server::{router, serve};
