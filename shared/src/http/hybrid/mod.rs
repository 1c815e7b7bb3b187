//! Hybrid routing, as HTTP features without I/O: [`escalation`] sends unsure answers to a
//! bigger model, `parse_escalation` (feature `parse`) parses with unsure fields;
//! [`middleware`] classifies requests on their way to an origin; [`redaction`] says what
//! personal data may leave with them. Each builds the one
//! outbound request an answer needs and leaves sending it to the adapter.

pub mod escalation;
pub mod middleware;
#[cfg(feature = "parse")]
pub mod parse_escalation;
pub mod redaction;
