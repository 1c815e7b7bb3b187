//! Text to a JSON object that conforms to a JSON Schema, and text to ad-hoc labels, with
//! one sentence-embedding model and no model trained per task. Each field is decoded only
//! among the values its schema allows ([`crate::parse::zeroshot`]); the object is then checked
//! again with the `jsonschema` crate. Compiled schemas (prototypes and validator) are kept
//! in a bounded per-process cache, so a schema's texts are embedded once, not per request.

mod json_number;
pub mod schema;
pub mod spans;
pub mod zeroshot;

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::engine::bundle::sha256_hex;
use crate::engine::classify::{Classification, Scores, Timings};
use crate::engine::embed::Embedder;
use crate::engine::memory::MemoryEstimate;
use crate::error::{Result, TriageError};
use crate::parse::schema::{FieldKind, LabelSpec, ParseSchema, SchemaBudgets, SchemaError};
use crate::parse::spans::PATTERN_MEMORY_BYTES;
use crate::parse::zeroshot::{FieldAnswer, Prototypes};

/// Compiled schemas kept per process or isolate; the least recently used goes first.
pub const SCHEMA_CACHE_ENTRIES: usize = 32;

/// The example schemas shipped in `schemas/`, available by name everywhere.
pub const BUILTIN_SCHEMAS: [(&str, &str); 2] = [
    (
        "support-ticket",
        include_str!("../../../schemas/support-ticket.json"),
    ),
    ("risk-area", include_str!("../../../schemas/risk-area.json")),
];

/// A schema ready to decode: prototypes embedded, validator built.
#[derive(Debug)]
pub struct CompiledSchema {
    prototypes: Prototypes,
    validator: jsonschema::Validator,
    /// What it may hold in memory: its vectors, its validator, and its patterns at their
    /// limits ([`PATTERN_MEMORY_BYTES`]).
    bytes: usize,
}

/// The compiled schemas of one process or isolate: at most [`SCHEMA_CACHE_ENTRIES`], and
/// at most `budget` bytes by their [`CompiledSchema`] estimates; the least recently used
/// go first.
#[derive(Debug)]
struct SchemaCache {
    entries: LruCache<String, Arc<CompiledSchema>>,
    bytes: usize,
    budget: usize,
}

impl SchemaCache {
    fn get(&mut self, key: &str) -> Option<Arc<CompiledSchema>> {
        self.entries.get(key).cloned()
    }

    /// Keeps `compiled`, evicting the least recently used until it fits; one larger than
    /// the whole budget is not kept.
    fn put(&mut self, key: String, compiled: Arc<CompiledSchema>) {
        if compiled.bytes > self.budget {
            return;
        }
        if let Some(old) = self.entries.pop(&key) {
            self.bytes -= old.bytes;
        }
        while self.entries.len() >= self.entries.cap().get()
            || self.bytes + compiled.bytes > self.budget
        {
            match self.entries.pop_lru() {
                Some((_, old)) => self.bytes -= old.bytes,
                None => break,
            }
        }
        self.bytes += compiled.bytes;
        self.entries.put(key, compiled);
    }
}

/// One text parsed against a schema.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Parsed {
    /// The answer: valid against the schema. Required fields are always present; an
    /// optional field only when its score reaches the threshold.
    pub object: Map<String, Value>,
    /// Every field's value, score and per-value scores, in schema order.
    pub fields: FieldAnswers,
    /// Fields whose score is below the threshold: candidates for escalation.
    pub unsure: Vec<String>,
    /// True when the text was longer than the token budget and its tail was not read.
    pub truncated: bool,
    /// Tokens the model saw, special tokens included.
    pub tokens: usize,
}

/// Field answers, serialised as an object in schema order.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldAnswers(pub Vec<(String, FieldAnswer)>);

impl Serialize for FieldAnswers {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, answer) in &self.0 {
            map.serialize_entry(name, answer)?;
        }
        map.end()
    }
}

/// The edge model's answer to one text before the final check: [`Parsed`], and the
/// required fields it found no value for (also listed in `unsure`).
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub parsed: Parsed,
    pub missing: Vec<String>,
}

/// A draft completed with another model's values ([`CompiledSchema::complete`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Completed {
    /// The answer, checked like every other: `unsure` keeps only the required fields the
    /// other model left out.
    pub parsed: Parsed,
    /// What the edge model had for each field the other model answered, confident or not
    /// (`null`: none).
    pub local: Map<String, Value>,
}

impl CompiledSchema {
    /// The answer: [`TriageError::NoValue`] naming the first required field without a
    /// value, else the object checked against the schema (a 422 naming the keyword when
    /// keywords interact in a way the decoder does not model, never a server error).
    pub fn finish(&self, draft: Draft) -> Result<Parsed> {
        if let Some(field) = draft.missing.into_iter().next() {
            return Err(TriageError::NoValue { field });
        }
        if let Err(error) = self
            .validator
            .validate(&Value::Object(draft.parsed.object.clone()))
        {
            // Every value was checked against its property when the schema was compiled.
            return Err(refusal(&error, "", "the object the decoder built").into());
        }
        Ok(draft.parsed)
    }

    /// `draft` with the values `remote` (another model's object) gives for the draft's
    /// unsure fields; the other fields keep the edge model's values, and an unsure field
    /// `remote` leaves out keeps the edge model's value if it had one.
    ///
    /// Errors (the reason, for the escalation's `detail`): `remote` leaves a required
    /// field without a value, gives a string that breaks its field's format, pattern or
    /// lengths, or makes an object the schema refuses.
    pub fn complete(
        &self,
        draft: &Draft,
        remote: &Map<String, Value>,
    ) -> std::result::Result<Completed, String> {
        let mut parsed = draft.parsed.clone();
        let mut local = Map::new();
        let mut answered = Vec::new();
        for name in &draft.parsed.unsure {
            let Some(value) = remote.get(name) else {
                if draft.missing.contains(name) {
                    return Err(format!("no value for the required field {name:?}"));
                }
                continue;
            };
            // The value is not quoted: the endpoint's reply may echo what it was sent.
            let Some(value) = self.prototypes.canonical(name, value) else {
                return Err(format!(
                    "the value for {name:?} is not one the schema allows (its type, values, \
                     bounds, format, pattern or length)"
                ));
            };
            let had = draft
                .parsed
                .fields
                .0
                .iter()
                .find(|(field, _)| field == name)
                .map_or(Value::Null, |(_, answer)| answer.value.clone());
            parsed.object.insert(name.clone(), value);
            local.insert(name.clone(), had);
            answered.push(name.clone());
        }
        if let Err(error) = self
            .validator
            .validate(&Value::Object(parsed.object.clone()))
        {
            return Err(format!("the completed object is not valid: {error}"));
        }
        // The remote model was asked about every unsure field: an optional one it left out
        // stays out, as it decided. A required one it left out keeps the edge model's value
        // and stays unsure.
        parsed
            .unsure
            .retain(|name| !answered.contains(name) && self.prototypes.required(name));
        Ok(Completed { parsed, local })
    }
}

/// Parses texts against schemas with one embedding model.
#[derive(Debug)]
pub struct Parser {
    embedder: Embedder,
    budgets: SchemaBudgets,
    named: BTreeMap<String, Value>,
    cache: Mutex<SchemaCache>,
}

impl Parser {
    /// A parser over `embedder` with the built-in named schemas and default budgets.
    pub fn new(embedder: Embedder) -> Parser {
        let named = BUILTIN_SCHEMAS
            .iter()
            .filter_map(|(name, text)| Some(((*name).to_owned(), serde_json::from_str(text).ok()?)))
            .collect();
        let budgets = SchemaBudgets::default();
        let budget = SCHEMA_CACHE_ENTRIES * typical_schema_bytes(&budgets, &embedder);
        Parser {
            embedder,
            budgets,
            named,
            cache: Mutex::new(SchemaCache {
                entries: LruCache::new(
                    NonZeroUsize::new(SCHEMA_CACHE_ENTRIES).unwrap_or(NonZeroUsize::MIN),
                ),
                bytes: 0,
                budget,
            }),
        }
    }

    /// Adds the deployment's named schemas: a JSON object of name to schema. Each is
    /// compiled now, so a schema that cannot be decoded stops start-up naming it.
    pub fn with_named_schemas(mut self, json: &str) -> Result<Parser> {
        let config =
            |reason: String| TriageError::setting("schemas", format!("is invalid: {reason}"));
        let schemas: Map<String, Value> =
            serde_json::from_str(json).map_err(|e| config(format!("not a JSON object: {e}")))?;
        for (name, document) in schemas {
            let bytes = document.to_string().len();
            self.compile(document.clone(), bytes)
                .map_err(|e| config(format!("schema {name:?}: {e}")))?;
            self.named.insert(name, document);
        }
        Ok(self)
    }

    /// The embedding model.
    pub fn embedder(&self) -> &Embedder {
        &self.embedder
    }

    /// The schema budgets in force.
    pub fn budgets(&self) -> &SchemaBudgets {
        &self.budgets
    }

    /// Names of the schemas a request may name instead of sending one.
    pub fn schema_names(&self) -> impl Iterator<Item = &str> {
        self.named.keys().map(String::as_str)
    }

    /// The document of the named schema `name`, if there is one.
    pub fn named_document(&self, name: &str) -> Option<&Value> {
        self.named.get(name)
    }

    /// The named schema `name`, or a 422 naming the ones there are.
    pub fn named(&self, name: &str) -> Result<Arc<CompiledSchema>> {
        let document = self.named.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.schema_names().collect();
            SchemaError::Unsupported {
                pointer: "the request".into(),
                keyword: "schema".into(),
                reason: format!("names {name:?}, which is not configured; known: {known:?}"),
            }
        })?;
        let bytes = document.to_string().len();
        self.compile(document.clone(), bytes)
    }

    /// Reads, budgets and compiles `document` (`bytes`: its size as sent), or takes it
    /// from the cache. The cache key is the sha256 of its canonical JSON.
    pub fn compile(&self, document: Value, bytes: usize) -> Result<Arc<CompiledSchema>> {
        if bytes > self.budgets.max_schema_bytes {
            return Err(SchemaError::TooLarge {
                what: "bytes",
                limit: self.budgets.max_schema_bytes,
                actual: bytes,
            }
            .into());
        }
        let key = sha256_hex(document.to_string().as_bytes());
        if let Some(hit) = self.lock_cache().get(&key) {
            return Ok(hit);
        }
        let mut schema = ParseSchema::from_value(document, bytes, &self.budgets)?;
        keep_values_the_validator_accepts(&mut schema)?;
        // `format` is annotated, not asserted: asserting it links jsonschema's format
        // checkers (IDNA and URI tables) into every worker, about 1 MB. Strings taken from
        // the text are built to their format instead (`spans`), and the contract suite
        // checks the answers with `format` asserted.
        let validator =
            jsonschema::validator_for(&schema.document).map_err(|e| SchemaError::Unsupported {
                pointer: "the root".into(),
                keyword: "schema".into(),
                reason: format!("is not a valid JSON Schema: {e}"),
            })?;
        let prototypes = Prototypes::build(&schema, &self.embedder)?;
        let patterns = schema
            .fields
            .iter()
            .filter(|field| match &field.kind {
                FieldKind::Span { constraints, .. } | FieldKind::SpanList { constraints, .. } => {
                    constraints.pattern.is_some()
                }
                FieldKind::Choice(_) | FieldKind::Unit { .. } => false,
            })
            .count();
        let compiled = Arc::new(CompiledSchema {
            bytes: prototypes.vector_bytes()
                + bytes * VALIDATOR_EXPANSION
                + patterns * PATTERN_MEMORY_BYTES,
            prototypes,
            validator,
        });
        self.lock_cache().put(key, compiled.clone());
        Ok(compiled)
    }

    /// Parses one text against a compiled schema. `threshold` overrides the model's.
    ///
    /// Errors: [`TriageError::NoValue`] when the text holds no value for a required string
    /// taken from it; a 422 schema error when the object breaks a rule the decoder does not
    /// model; inference errors.
    pub fn parse(
        &self,
        text: &str,
        schema: &CompiledSchema,
        threshold: Option<f32>,
        timings: &mut Timings,
    ) -> Result<Parsed> {
        schema.finish(self.decode(text, schema, threshold, timings)?)
    }

    /// The edge model's answer before the final check ([`CompiledSchema::finish`]), which
    /// hybrid routing may complete first ([`CompiledSchema::complete`]).
    pub fn decode(
        &self,
        text: &str,
        schema: &CompiledSchema,
        threshold: Option<f32>,
        timings: &mut Timings,
    ) -> Result<Draft> {
        let threshold = threshold.unwrap_or(self.embedder.manifest().threshold);
        let embedded = self
            .embedder
            .embed_batch_timed(&[text], timings)?
            .pop()
            .ok_or_else(|| TriageError::Inference("no embedding for the text".into()))?;
        let mut object = Map::new();
        let mut fields = Vec::new();
        let mut unsure = Vec::new();
        let mut missing = Vec::new();
        let answers =
            schema
                .prototypes
                .decode(text, &embedded.vector, &self.embedder, threshold, timings)?;
        for (name, required, answer) in answers {
            // A string taken from the text that the text does not hold: an optional field
            // is left out, a required one cannot be answered locally.
            if answer.value.is_null() {
                if required {
                    missing.push(name.to_owned());
                }
                unsure.push(name.to_owned());
                fields.push((name.to_owned(), answer));
                continue;
            }
            if !answer.confident {
                unsure.push(name.to_owned());
            }
            if required || answer.confident {
                object.insert(name.to_owned(), answer.value.clone());
            }
            fields.push((name.to_owned(), answer));
        }
        Ok(Draft {
            parsed: Parsed {
                object,
                fields: FieldAnswers(fields),
                unsure,
                truncated: embedded.truncated,
                tokens: embedded.tokens,
            },
            missing,
        })
    }

    /// Classifies texts among ad-hoc labels (`/v1/classify` with `labels`), zero-shot from
    /// the label names and descriptions, few-shot when they carry examples.
    pub fn classify_labels<S: AsRef<str>>(
        &self,
        texts: &[S],
        labels: &[LabelSpec],
        timings: &mut Timings,
    ) -> Result<Vec<Classification>> {
        if labels.len() < 2 {
            return Err(SchemaError::Unsupported {
                pointer: "the request".into(),
                keyword: "labels".into(),
                reason: format!("needs at least 2 labels, has {}", labels.len()),
            }
            .into());
        }
        let schema = ParseSchema::for_labels(labels, &self.budgets)?;
        let bytes = schema.document.to_string().len();
        let compiled = self.compile(schema.document, bytes)?;
        let threshold = self.embedder.manifest().threshold;
        let embedded = self.embedder.embed_batch_timed(texts, timings)?;
        let mut results = Vec::with_capacity(embedded.len());
        for (text, embedded) in texts.iter().zip(embedded) {
            let (_, _, answer) = compiled
                .prototypes
                .decode(
                    text.as_ref(),
                    &embedded.vector,
                    &self.embedder,
                    threshold,
                    timings,
                )?
                .into_iter()
                .next()
                .ok_or_else(|| TriageError::Inference("no label field".into()))?;
            results.push(Classification {
                label: answer.value.as_str().unwrap_or_default().to_owned(),
                score: answer.score,
                confident: answer.confident,
                scores: answer.scores.unwrap_or(Scores(Vec::new())),
                truncated: embedded.truncated,
                tokens: embedded.tokens,
                unknown_tokens: embedded.unknown_tokens,
                readable: true,
            });
        }
        Ok(results)
    }

    /// Resident memory: the embedder's, plus the schema cache at its byte budget, plus one
    /// more schema at the budgets' largest (compiled before the cache makes room for it).
    pub fn memory(&self) -> MemoryEstimate {
        let typical = typical_schema_bytes(&self.budgets, &self.embedder);
        let largest = typical + self.budgets.max_properties * PATTERN_MEMORY_BYTES;
        let mut estimate = *self.embedder.memory();
        estimate.resident_bytes += SCHEMA_CACHE_ENTRIES * typical + largest;
        estimate
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, SchemaCache> {
        // A panic while holding the lock cannot leave the cache inconsistent (each call
        // is one get or put), so a poisoned lock is taken over.
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Drops every candidate value that the `jsonschema` crate refuses against its property's
/// own schema, so that the decoder only ever answers with values the post-check accepts
/// (the decoder reads the keywords of the subset exactly; this holds it to the validator's
/// reading too). A property left with no value is refused, naming the keyword.
fn keep_values_the_validator_accepts(schema: &mut ParseSchema) -> Result<(), SchemaError> {
    for field in &mut schema.fields {
        let FieldKind::Choice(choices) = &mut field.kind else {
            continue;
        };
        let pointer = format!(
            "/properties/{}",
            field.name.replace('~', "~0").replace('/', "~1")
        );
        let property = &schema.document["properties"][&field.name];
        let validator =
            jsonschema::validator_for(property).map_err(|e| SchemaError::Unsupported {
                pointer: pointer.clone(),
                keyword: "schema".into(),
                reason: format!("is not a valid JSON Schema: {e}"),
            })?;
        let mut refused = None;
        choices.retain(|choice| match validator.validate(&choice.value) {
            Ok(()) => true,
            Err(error) => {
                refused.get_or_insert_with(|| refusal(&error, &pointer, "a value it allows"));
                false
            }
        });
        if choices.is_empty() {
            return Err(refused.unwrap_or_else(|| SchemaError::Unsupported {
                pointer,
                keyword: "type".into(),
                reason: "leaves no value the schema allows".into(),
            }));
        }
    }
    Ok(())
}

/// A 422 for a value the validator refuses: the keyword is the last step of the error's
/// schema path (`/properties/n/maximum` -> `maximum`), the pointer the rest of it under
/// `prefix` (the schema the validator was built from).
fn refusal(error: &jsonschema::ValidationError<'_>, prefix: &str, what: &str) -> SchemaError {
    let path = error.schema_path().as_str();
    let (parent, keyword) = path.rsplit_once('/').unwrap_or(("", path));
    let pointer = format!("{prefix}{parent}");
    SchemaError::Unsupported {
        pointer: if pointer.is_empty() {
            "the root".into()
        } else {
            pointer
        },
        keyword: if keyword.is_empty() {
            "schema"
        } else {
            keyword
        }
        .to_owned(),
        reason: format!("refuses {what} ({error}): the decoder cannot satisfy it"),
    }
}

/// A schema at the budgets' largest without patterns: every value's prototype vector, and
/// its validator. The cache's byte budget is [`SCHEMA_CACHE_ENTRIES`] of these, so schemas
/// with patterns (up to [`PATTERN_MEMORY_BYTES`] each) leave room for fewer.
fn typical_schema_bytes(budgets: &SchemaBudgets, embedder: &Embedder) -> usize {
    budgets.max_properties
        * budgets.max_values
        * embedder.embedding().dimensions
        * std::mem::size_of::<f32>()
        + budgets.max_schema_bytes * VALIDATOR_EXPANSION
}

/// A compiled validator and the parsed schema take about this many times the schema's JSON.
const VALIDATOR_EXPANSION: usize = 8;
