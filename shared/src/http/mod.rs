//! Everything HTTP-shaped that adapters share: the [`Service`] made by one
//! [`ServiceBuilder`], what each route answers ([`routes`]), requests and their bodies,
//! problem details, the one outbound request hybrid routing may need, what adapters
//! starting instances from a snapshot share ([`snapshot`]), and the contract's OpenAPI
//! document.

pub mod api;
mod body;
mod builder;
#[cfg(feature = "generate")]
pub mod generate_routes;
pub mod hybrid;
pub mod outbound;
#[cfg(feature = "parse")]
mod parse_routes;
mod platform;
pub mod problem;
mod redact_route;
pub mod request;
pub mod routes;
pub mod service;
mod slot;
pub mod snapshot;

pub use body::DRAIN_LIMIT_BYTES;
pub use builder::{ServiceBuilder, GENERATE_KEYS};
pub use outbound::{Outbound, SendError, Step};
pub use platform::{Platform, FLIGHT_POLL};
pub use problem::{Problem, PROBLEM_JSON};
pub use request::{
    malformed_request, request_head, ClassifyCall, ClassifyInput, ParseCall, SchemaRef,
};
pub use routes::{append_server_timing, problem_response, OPENAPI_JSON};
pub use service::{Service, DEFAULT_MODEL_KEY, MIDDLEWARE_KEY, SCHEMAS_KEY};
