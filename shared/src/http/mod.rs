//! Everything HTTP-shaped that adapters share: bodies, problem details, the routing of
//! the contract, and its OpenAPI document.

pub mod api;
mod body;
pub mod outbound;
mod parser_slot;
pub mod problem;
pub mod request;
pub mod service;

pub use body::DRAIN_LIMIT_BYTES;
pub use outbound::{Outbound, SendError, Step};
pub use problem::{Problem, PROBLEM_JSON};
pub use request::{ClassifyCall, ClassifyInput, ParseCall, SchemaRef};
pub use service::{
    append_server_timing, problem_response, Service, MIDDLEWARE_KEY, OPENAPI_JSON, SCHEMAS_KEY,
};
