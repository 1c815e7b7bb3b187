//! Hybrid routing, as HTTP features without I/O: [`escalation`] sends unsure answers to a
//! bigger model; [`middleware`] classifies requests on their way to an origin. Both build
//! the one outbound request an answer needs and leave sending it to the adapter.

pub mod escalation;
pub mod middleware;
