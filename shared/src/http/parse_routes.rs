//! The routes of the parse capability (feature `parse`): `POST /v1/parse`, ad-hoc labels on
//! `/v1/classify`, what `/v1/models` says of the embedding model, and the answer to a parse
//! sent to the escalation endpoint. Without the feature, [`super::routes`] answers those
//! requests 501, and none of this, jsonschema or the embedding model is linked.

use std::sync::Arc;

use http::{Request, Response, StatusCode};

use crate::engine::classify::{LabelSpec, Timings};
use crate::error::TriageError;
use crate::http::api::{
    Answer, ClassifyBatchResponse, ClassifyResponse, Decoder, ModelRef, ModelSummary, ParseInfo,
    ParseResponse,
};
use crate::http::hybrid::cache::{Pending, StoreWrite};
use crate::http::hybrid::parse_escalation::{self, ParseProvenance};
use crate::http::outbound::{Outbound, Step};
use crate::http::problem::Problem;
use crate::http::request::{ClassifyInput, ParseCall, SchemaRef};
use crate::http::routes::{json_response, problem_response, with_server_timing};
use crate::http::service::Service;
use crate::parse::{CompiledSchema, Draft, Parsed, Parser, SCHEMA_CACHE_ENTRIES};

/// `"decoder": "generate"`: the generative model writes the object (its route is in
/// `generate_routes`); a build without the feature answers 501.
fn generate_decoder(service: &Service, parser: &Parser, call: ParseCall) -> Response<Vec<u8>> {
    #[cfg(feature = "generate")]
    {
        let named = match &call.schema {
            SchemaRef::Named(name) => parser.named_document(name).cloned(),
            SchemaRef::Inline(..) => None,
        };
        crate::http::generate_routes::parse(service, call, named)
    }
    #[cfg(not(feature = "generate"))]
    {
        let _ = (service, parser, call);
        crate::http::routes::generate_not_built("/v1/parse with \"decoder\": \"generate\"")
    }
}

/// For `GET /v1/models`: the embedding model's summary, added to `models`, and what
/// `/v1/parse` offers; `None` when no embedding model is loaded (or it cannot load).
pub(crate) fn parse_info(service: &Service, models: &mut Vec<ModelSummary>) -> Option<ParseInfo> {
    let parser = service.parser()?;
    models.push(ModelSummary::new(
        parser.embedder().manifest(),
        parser.memory(),
    ));
    Some(ParseInfo {
        model: ModelRef::from(parser.embedder().manifest()),
        schemas: parser.schema_names().map(str::to_owned).collect(),
        budgets: *parser.budgets(),
        cache_entries: SCHEMA_CACHE_ENTRIES,
    })
}

/// `POST /v1/classify` with `labels`: the parser is only asked for (and, when lazy,
/// loaded) for them.
pub(crate) fn labels(service: &Service, input: ClassifyInput, labels: &[LabelSpec]) -> Step {
    Step::Respond(match service.parser_slot() {
        Ok(parser) => classify_labels(parser, input, labels),
        Err(problem) => problem_response(problem),
    })
}

/// Ad-hoc labels, zero/few-shot by the embedding model. Never escalated: the escalation
/// endpoint answers for the deployment's labels, not the request's.
fn classify_labels(
    parser: &Parser,
    input: ClassifyInput,
    labels: &[LabelSpec],
) -> Response<Vec<u8>> {
    let model = ModelRef::from(parser.embedder().manifest());
    let mut timings = Timings::default();
    let results = match parser.classify_labels(input.texts(), labels, &mut timings) {
        Ok(results) => results,
        Err(error) => return problem_response(&Problem::from_error(&error)),
    };
    let response = match input {
        ClassifyInput::One(_) => match results.into_iter().next() {
            Some(result) => json_response(
                StatusCode::OK,
                &ClassifyResponse {
                    model,
                    answer: Answer::local(result),
                },
            ),
            None => problem_response(&Problem::from_error(&TriageError::Inference(
                "no result for the text".into(),
            ))),
        },
        ClassifyInput::Many(_) => {
            let results = results.into_iter().map(Answer::local).collect();
            json_response(StatusCode::OK, &ClassifyBatchResponse { model, results })
        }
    };
    with_server_timing(response, &timings)
}

/// `POST /v1/parse`: the text decoded into an object its schema allows; with parse
/// escalation on (`escalate`), one with unsure fields goes to the remote model first.
pub(crate) fn parse<B: AsRef<[u8]>>(
    service: &Service,
    request: &Request<B>,
    escalate: bool,
) -> Step {
    let parser = match service.parser_slot() {
        Ok(parser) => parser,
        Err(problem) => return Step::Respond(problem_response(problem)),
    };
    let call = match ParseCall::parse(
        request.headers(),
        request.body().as_ref(),
        parser.embedder().budgets(),
        parser.budgets().max_schema_bytes,
    ) {
        Ok(call) => call,
        Err(problem) => return Step::Respond(problem_response(&problem)),
    };
    if call.decoder == Decoder::Generate {
        return Step::Respond(generate_decoder(service, parser, call));
    }
    let escalation = service.parse_escalation().filter(|_| escalate);
    let mut timings = Timings::default();
    // The document goes to the escalation endpoint: kept only when there is one.
    let (name, document, compiled) = match call.schema {
        SchemaRef::Named(name) => {
            let document = escalation.and_then(|_| parser.named_document(&name).cloned());
            let compiled = parser.named(&name);
            (Some(name), document, compiled)
        }
        SchemaRef::Inline(document, bytes) => {
            let kept = escalation.map(|_| document.clone());
            (None, kept, parser.compile(document, bytes))
        }
    };
    let model = ModelRef::from(parser.embedder().manifest());
    let decoded = compiled.and_then(|compiled| {
        let draft = parser.decode(&call.text, &compiled, call.threshold, &mut timings)?;
        Ok((compiled, draft))
    });
    let (compiled, draft) = match decoded {
        Ok(decoded) => decoded,
        Err(error) => return Step::Respond(problem_response(&Problem::from_error(&error))),
    };
    let mut refused = None;
    if let (Some(escalation), Some(document)) = (escalation, document) {
        if escalation.wants(&draft) {
            // Personal data leaves only as the redaction settings allow; text holding a
            // refused type is answered here, saying so.
            let redaction = service.redaction();
            match redaction.escalated_text(&call.text) {
                Err(status) => refused = Some(status),
                Ok(sent) => {
                    let cache = service.cache.as_ref().map(|cache| {
                        // The same text only (no embedding): a parse's values are
                        // taken from its own text.
                        let schema = document.to_string();
                        let manifest = parser.embedder().manifest();
                        let endpoint = &escalation.endpoint;
                        let probe = cache.probe("parse", manifest, &schema, endpoint, &sent, None);
                        Pending::new(cache, probe)
                    });
                    let parse = EscalatedParse {
                        model,
                        schema_name: name,
                        compiled,
                        draft,
                        timings,
                        cache,
                    };
                    // The endpoint's earlier answer to the same text and schema.
                    if let Some(response) = parse.answer_from_memory() {
                        return Step::Respond(response);
                    }
                    let request =
                        escalation.request(&sent, &document, &parse.draft, &parse.model, redaction);
                    return match request {
                        Ok(outbound) => Step::Send(Box::new(Outbound::parse_escalation(
                            outbound,
                            escalation.endpoint.timeout,
                            parse,
                        ))),
                        Err(error) => Step::Respond(problem_response(&Problem::from_error(&error))),
                    };
                }
            }
        }
    }
    let answer = compiled.finish(draft).map(|parsed| {
        (
            parsed,
            ParseProvenance::Local {
                escalation: refused,
            },
        )
    });
    Step::Respond(parse_response(model, name, answer, &timings))
}

/// A parse sent to the escalation endpoint, waiting for its reply.
#[derive(Debug)]
pub(crate) struct EscalatedParse {
    pub(crate) model: ModelRef,
    pub(crate) schema_name: Option<String>,
    pub(crate) compiled: Arc<CompiledSchema>,
    pub(crate) draft: Draft,
    pub(crate) timings: Timings,
    /// Where the remote answer is kept, when a cache is configured.
    pub(crate) cache: Option<Box<Pending>>,
}

impl EscalatedParse {
    /// Its cache entry, if any.
    pub(crate) fn pending(&self) -> Option<&Pending> {
        self.cache.as_deref()
    }

    /// The answer from the process's entry for this text, if it completes this parse.
    pub(crate) fn answer_from_memory(&self) -> Option<Response<Vec<u8>>> {
        let pending = self.pending()?;
        let hit = pending.cache.memory.get(&pending.probe, 1.0)?;
        self.answer_cached(&hit.value)
    }

    /// The answer from a kept remote object (`value`: the endpoint's reply as kept), or
    /// `None` when it does not complete this parse.
    pub(crate) fn answer_cached(&self, value: &[u8]) -> Option<Response<Vec<u8>>> {
        let remote = parse_escalation::read_reply(StatusCode::OK, value).ok()?;
        let answer = parse_escalation::conclude_cached(&self.compiled, &self.draft, &remote)?;
        Some(parse_response(
            self.model.clone(),
            self.schema_name.clone(),
            Ok(answer),
            &self.timings,
        ))
    }
}

/// The parse answer (200) or its problem.
pub(crate) fn parse_response(
    model: ModelRef,
    schema: Option<String>,
    answer: crate::Result<(Parsed, ParseProvenance)>,
    timings: &Timings,
) -> Response<Vec<u8>> {
    match answer {
        Ok((parsed, provenance)) => with_server_timing(
            json_response(
                StatusCode::OK,
                &ParseResponse {
                    model,
                    schema,
                    parsed,
                    provenance,
                },
            ),
            timings,
        ),
        Err(error) => problem_response(&Problem::from_error(&error)),
    }
}

/// The answer to a parse sent to the escalation endpoint, from the endpoint's `outcome`
/// (its response, or why there was none, as an escalation failure); a remote object that
/// completed it is kept in the cache, with the platform store's `writes`.
pub(crate) fn conclude_escalated(
    parse: EscalatedParse,
    outcome: Result<Response<Vec<u8>>, crate::http::hybrid::escalation::EscalationFailure>,
    writes: &mut Vec<StoreWrite>,
) -> Response<Vec<u8>> {
    let EscalatedParse {
        model,
        schema_name,
        compiled,
        draft,
        timings,
        cache,
    } = parse;
    let reply = outcome.and_then(|r| parse_escalation::read_reply(r.status(), r.body()));
    // Kept: the values of the fields it was asked about (an echo of the others is not
    // the endpoint's judgement, and must not complete a later parse unsure of them).
    let kept = reply.as_ref().ok().map(|remote| {
        let asked: serde_json::Map<String, serde_json::Value> = remote
            .object
            .iter()
            .filter(|(field, _)| {
                draft.parsed.unsure.contains(field) || draft.missing.contains(field)
            })
            .map(|(field, value)| (field.clone(), value.clone()))
            .collect();
        serde_json::to_vec(&serde_json::json!({ "object": asked })).unwrap_or_default()
    });
    match parse_escalation::conclude(&compiled, draft, reply) {
        Ok(answer) => {
            // Only an object that completed the parse is worth keeping.
            if let (ParseProvenance::Remote { .. }, Some(pending), Some(kept)) =
                (&answer.1, cache, kept)
            {
                *writes = (*pending).keep(&kept);
            }
            parse_response(model, schema_name, Ok(answer), &timings)
        }
        // The edge model's answer is a problem (a required field without a value) and
        // the remote one could not be used: say both.
        Err((error, failure)) => {
            let mut problem = Problem::from_error(&error);
            problem.detail = format!("{}; the escalation failed: {failure}", problem.detail);
            problem_response(&problem)
        }
    }
}
