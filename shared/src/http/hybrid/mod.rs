//! Hybrid routing, as HTTP features without I/O: [`escalation`] sends unsure answers to a
//! bigger model, [`parse_escalation`] parses with unsure fields; [`middleware`] classifies requests on their way to an origin. Both build
//! the one outbound request an answer needs and leave sending it to the adapter.

pub mod escalation;
pub mod middleware;
pub mod parse_escalation;
