//! Zero/few-shot decoding: a schema's allowed values become prototype vectors (the mean
//! embedding of the texts that describe each value, or points of an ordered scale), and a
//! text's embedding picks among them by cosine similarity, softmaxed at the model's
//! temperature. Nothing outside the allowed values can come out.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::engine::classify::{softmax, Scores, Timings};
use crate::engine::embed::{normalize, Embedder};
use crate::error::Result;
use crate::parse::json_number::same_value;
use crate::parse::schema::{Anchors, FieldKind, ParseSchema, Prototype};
use crate::parse::spans::Constraints;

/// How many examples a value's description counts for in its prototype: the prototype is
/// the direction of `w * unit(mean of the describing texts) + the sum of the examples`.
/// With 5 shots per value, 2 beat 1 (the plain mean of every text) on Do-Not-Answer risk
/// areas, 0.474 against 0.455 macro-F1 over 10 draws; 3 was about as good (models/potion-base-2m/README.md).
const DESCRIPTION_WEIGHT: f32 = 2.0;

/// A schema with every prototype embedded: built once per schema, then shared.
#[derive(Debug)]
pub struct Prototypes {
    fields: Vec<FieldDecoder>,
    temperature: f32,
    vector_bytes: usize,
}

#[derive(Debug)]
struct FieldDecoder {
    name: String,
    required: bool,
    decoder: Decoder,
}

#[derive(Debug)]
enum Decoder {
    Choice {
        values: Vec<Value>,
        vectors: Vec<Vec<f32>>,
    },
    Unit {
        min: f64,
        max: f64,
        low: Vec<f32>,
        high: Vec<f32>,
    },
    /// A string taken from the text; `description` (embedded) ranks several candidates.
    Span {
        constraints: Constraints,
        description: Option<Vec<f32>>,
    },
    /// Every string of the text that satisfies `constraints`, at most `max_items`.
    SpanList {
        constraints: Constraints,
        min_items: usize,
        max_items: usize,
    },
}

/// One field's answer: the value, how sure, and every allowed value's score.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldAnswer {
    pub value: Value,
    /// The chosen value's score in [0, 1] (for a number: the weight of the nearer end).
    pub score: f32,
    /// Whether `score` reaches the threshold.
    pub confident: bool,
    /// Each allowed value's score, keyed by the value as text, in the schema's order;
    /// absent for numbers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scores: Option<Scores>,
}

impl FieldAnswer {
    /// No value: a string taken from the text that the text does not hold.
    fn none() -> FieldAnswer {
        FieldAnswer {
            value: Value::Null,
            score: 0.0,
            confident: false,
            scores: None,
        }
    }
}

impl Prototypes {
    /// Embeds every prototype text of `schema` once (a text shared by several values, such
    /// as a scale's anchors, is embedded once).
    pub fn build(schema: &ParseSchema, embedder: &Embedder) -> Result<Prototypes> {
        let mut cache: BTreeMap<String, Vec<f32>> = BTreeMap::new();
        let mut timings = Timings::default();
        let mut embed = |text: &str| -> Result<Vec<f32>> {
            if let Some(vector) = cache.get(text) {
                return Ok(vector.clone());
            }
            let vector = embedder.embed_timed(text, &mut timings)?.vector;
            Ok(cache.entry(text.to_owned()).or_insert(vector).clone())
        };
        let mut fields = Vec::with_capacity(schema.fields.len());
        let mut vector_bytes = 0;
        for field in &schema.fields {
            let decoder = match &field.kind {
                FieldKind::Span {
                    constraints,
                    description,
                } => Decoder::Span {
                    constraints: constraints.clone(),
                    description: description.as_deref().map(&mut embed).transpose()?,
                },
                FieldKind::SpanList {
                    constraints,
                    min_items,
                    max_items,
                } => Decoder::SpanList {
                    constraints: constraints.clone(),
                    min_items: *min_items,
                    max_items: *max_items,
                },
                FieldKind::Unit { min, max, anchors } => Decoder::Unit {
                    min: *min,
                    max: *max,
                    low: embed(&anchors.low)?,
                    high: embed(&anchors.high)?,
                },
                FieldKind::Choice(choices) => {
                    let mut values = Vec::with_capacity(choices.len());
                    let mut vectors = Vec::with_capacity(choices.len());
                    for choice in choices {
                        let vector = match &choice.prototype {
                            Prototype::Texts(texts) => {
                                let dimensions = embedder.embedding().dimensions;
                                let mut describing = vec![0.0; dimensions];
                                for text in &texts.describing {
                                    add(&mut describing, &embed(text)?, 1.0);
                                }
                                normalize(&mut describing);
                                let mut sum = vec![0.0; dimensions];
                                add(&mut sum, &describing, DESCRIPTION_WEIGHT);
                                for text in &texts.examples {
                                    add(&mut sum, &embed(text)?, 1.0);
                                }
                                normalize(&mut sum);
                                sum
                            }
                            Prototype::Scale { at, anchors } => {
                                scale_point(*at as f32, anchors, &mut embed)?
                            }
                        };
                        values.push(choice.value.clone());
                        vectors.push(vector);
                    }
                    Decoder::Choice { values, vectors }
                }
            };
            vector_bytes += decoder.vector_bytes();
            fields.push(FieldDecoder {
                name: field.name.clone(),
                required: field.required,
                decoder,
            });
        }
        Ok(Prototypes {
            fields,
            temperature: embedder.embedding().temperature,
            vector_bytes,
        })
    }

    /// Bytes held by the prototype vectors (what a cache entry costs).
    pub fn vector_bytes(&self) -> usize {
        self.vector_bytes
    }

    /// Decodes every field of `text`, whose (unit-length) embedding is `embedding`, in
    /// schema order, with whether the field is required. A field taken from the text with
    /// no candidate answers `null` with score 0. `embedder` embeds the context of each
    /// candidate when a described field has several.
    pub fn decode<'a>(
        &'a self,
        text: &str,
        embedding: &[f32],
        embedder: &Embedder,
        threshold: f32,
        timings: &mut Timings,
    ) -> Result<Vec<(&'a str, bool, FieldAnswer)>> {
        let mut answers = Vec::with_capacity(self.fields.len());
        for field in &self.fields {
            let answer = field.decoder.decode(
                text,
                embedding,
                embedder,
                self.temperature,
                threshold,
                timings,
            )?;
            answers.push((field.name.as_str(), field.required, answer));
        }
        Ok(answers)
    }

    /// `value`, given for field `name` by someone other than the decoder (the escalation
    /// endpoint), as the decoder would answer it, or `None` when the decoder could not
    /// answer it: a choice must be one of the field's allowed values and is written as the
    /// schema writes it (`3`, not `3.0`); a number must lie within the field's bounds; a
    /// string taken from the text must satisfy its [`Constraints::accepts`] (format,
    /// pattern, lengths), each item of a list too. `null` and names the schema lacks are
    /// left to the validator.
    pub fn canonical(&self, name: &str, value: &Value) -> Option<Value> {
        let Some(field) = self.fields.iter().find(|f| f.name == name) else {
            return Some(value.clone());
        };
        if value.is_null() {
            return Some(Value::Null); // the validator says whether the schema allows null
        }
        let string = |constraints: &Constraints, value: &Value| {
            value.as_str().is_some_and(|s| constraints.accepts(s))
        };
        let kept = match &field.decoder {
            Decoder::Span { constraints, .. } => string(constraints, value),
            Decoder::SpanList { constraints, .. } => value
                .as_array()
                .is_some_and(|items| items.iter().all(|item| string(constraints, item))),
            Decoder::Choice { values, .. } => {
                return values.iter().find(|v| same_value(v, value)).cloned();
            }
            Decoder::Unit { min, max, .. } => value
                .as_f64()
                .is_some_and(|number| (*min..=*max).contains(&number)),
        };
        kept.then(|| value.clone())
    }

    /// Whether field `name` is required.
    pub fn required(&self, name: &str) -> bool {
        self.fields.iter().any(|f| f.name == name && f.required)
    }
}

/// Bytes of text either side of a candidate embedded to rank it against the field's
/// description.
const CONTEXT_BYTES: usize = 48;

/// A string field's answer: its one candidate (score 1), or among several the one whose
/// context is nearest the description (softmax of the similarities), or the first when
/// there is no description (every candidate the same score).
///
/// A plain string (no format, no pattern) is the phrase itself nearest the description,
/// and never `confident`: the phrases of a text are always there, and a bag-of-words
/// model cannot tell whether the one it ranks first is the value asked for. With parse
/// escalation on, it goes to the bigger model.
fn span_answer(
    constraints: &Constraints,
    description: Option<&[f32]>,
    text: &str,
    embedder: &Embedder,
    temperature: f32,
    threshold: f32,
    timings: &mut Timings,
) -> Result<FieldAnswer> {
    let candidates = constraints.candidates(text);
    let scores: Vec<f32> = match (candidates.len(), description) {
        (0, _) => return Ok(FieldAnswer::none()),
        (1, _) => vec![1.0],
        (n, None) => vec![1.0 / n as f32; n],
        (_, Some(description)) => {
            let contexts: Vec<&str> = candidates
                .iter()
                .map(|candidate| match constraints.is_plain() {
                    true => candidate.value.as_str(),
                    false => context(text, &candidate.span),
                })
                .collect();
            let vectors = embedder.embed_batch_timed(&contexts, timings)?;
            let similarities: Vec<f32> = vectors
                .iter()
                .map(|embedded| dot(&embedded.vector, description))
                .collect();
            softmax(&similarities, temperature)
        }
    };
    let best = scores.iter().enumerate().fold(
        0,
        |best, (index, score)| if *score > scores[best] { index } else { best },
    );
    let score = scores[best];
    Ok(FieldAnswer {
        value: Value::from(candidates[best].value.clone()),
        score,
        confident: score >= threshold && !constraints.is_plain(),
        scores: (candidates.len() > 1).then(|| {
            Scores(
                candidates
                    .iter()
                    .map(|candidate| candidate.value.clone())
                    .zip(scores.iter().copied())
                    .collect(),
            )
        }),
    })
}

/// An array field's answer: every distinct candidate, at most `max_items`, with score 1
/// (finding them all is not a choice); `null` with score 0 when the text holds fewer than
/// `min_items`.
fn span_list_answer(
    constraints: &Constraints,
    min_items: usize,
    max_items: usize,
    text: &str,
) -> FieldAnswer {
    let mut found: Vec<Value> = constraints
        .candidates(text)
        .into_iter()
        .map(|candidate| Value::from(candidate.value))
        .collect();
    found.truncate(max_items);
    if found.len() < min_items {
        return FieldAnswer::none();
    }
    FieldAnswer {
        value: Value::Array(found),
        score: 1.0,
        confident: true,
        scores: None,
    }
}

/// The candidate with up to [`CONTEXT_BYTES`] of text either side, cut on character
/// boundaries.
fn context<'t>(text: &'t str, span: &std::ops::Range<usize>) -> &'t str {
    let mut start = span.start.saturating_sub(CONTEXT_BYTES);
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (span.end + CONTEXT_BYTES).min(text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    &text[start..end]
}

impl Decoder {
    /// This field's answer for `text`, whose embedding is `embedding`.
    fn decode(
        &self,
        text: &str,
        embedding: &[f32],
        embedder: &Embedder,
        temperature: f32,
        threshold: f32,
        timings: &mut Timings,
    ) -> Result<FieldAnswer> {
        Ok(match self {
            Decoder::Span {
                constraints,
                description,
            } => span_answer(
                constraints,
                description.as_deref(),
                text,
                embedder,
                temperature,
                threshold,
                timings,
            )?,
            Decoder::SpanList {
                constraints,
                min_items,
                max_items,
            } => span_list_answer(constraints, *min_items, *max_items, text),
            Decoder::Choice { values, vectors } => {
                choice_answer(values, vectors, embedding, temperature, threshold)
            }
            Decoder::Unit {
                min,
                max,
                low,
                high,
            } => unit_answer((*min, *max), low, high, embedding, temperature, threshold),
        })
    }

    fn vector_bytes(&self) -> usize {
        let floats = match self {
            Decoder::Choice { vectors, .. } => vectors.iter().map(Vec::len).sum(),
            Decoder::Unit { low, high, .. } => low.len() + high.len(),
            Decoder::Span { description, .. } => description.as_ref().map_or(0, Vec::len),
            Decoder::SpanList { .. } => 0,
        };
        floats * std::mem::size_of::<f32>()
    }
}

/// A choice's answer: the value whose prototype is nearest `embedding` (softmax of the
/// cosine similarities at `temperature`), with every value's score.
fn choice_answer(
    values: &[Value],
    vectors: &[Vec<f32>],
    embedding: &[f32],
    temperature: f32,
    threshold: f32,
) -> FieldAnswer {
    let similarities: Vec<f32> = vectors.iter().map(|v| dot(v, embedding)).collect();
    let scores = softmax(&similarities, temperature);
    let best = scores
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(index, _)| index);
    let score = scores.get(best).copied().unwrap_or(0.0);
    FieldAnswer {
        value: values.get(best).cloned().unwrap_or(Value::Null),
        score,
        confident: score >= threshold,
        scores: Some(Scores(values.iter().map(value_key).zip(scores).collect())),
    }
}

/// A number's answer in `[min, max]`: the weight of the high anchor against the low one.
fn unit_answer(
    (min, max): (f64, f64),
    low: &[f32],
    high: &[f32],
    embedding: &[f32],
    temperature: f32,
    threshold: f32,
) -> FieldAnswer {
    let weights = softmax(&[dot(low, embedding), dot(high, embedding)], temperature);
    let toward_high = f64::from(weights[1]);
    let value = (min + (max - min) * toward_high).clamp(min, max);
    // Three decimals, kept inside the bounds after rounding.
    let value = ((value * 1000.0).round() / 1000.0).clamp(min, max);
    let score = weights[0].max(weights[1]);
    FieldAnswer {
        value: serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number),
        score,
        confident: score >= threshold,
        scores: None,
    }
}

/// The point `at` of the way from the low anchor to the high one, unit length.
fn scale_point(
    at: f32,
    anchors: &Anchors,
    embed: &mut impl FnMut(&str) -> Result<Vec<f32>>,
) -> Result<Vec<f32>> {
    let low = embed(&anchors.low)?;
    let high = embed(&anchors.high)?;
    let mut point = vec![0.0; low.len()];
    add(&mut point, &low, 1.0 - at);
    add(&mut point, &high, at);
    normalize(&mut point);
    Ok(point)
}

/// A value as the key of its score: strings as they are, others as JSON.
fn value_key(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn add(sum: &mut [f32], vector: &[f32], weight: f32) {
    sum.iter_mut()
        .zip(vector)
        .for_each(|(s, v)| *s += weight * v);
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_prototype_wins_and_scores_sum_to_one() {
        let values = vec![Value::from("a"), Value::from(3)];
        let vectors = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        let answer = choice_answer(&values, &vectors, &[0.1, 0.9], 0.1, 0.5);
        assert_eq!(answer.value, Value::from(3));
        assert!(answer.confident && answer.score > 0.99);
        let scores = answer.scores.unwrap().0;
        assert_eq!(scores[1].0, "3");
        assert!((scores.iter().map(|s| s.1).sum::<f32>() - 1.0).abs() < 1e-5);
    }

    #[test]
    fn a_unit_number_stays_inside_its_bounds() {
        let (low, high) = ([1.0, 0.0], [0.0, 1.0]);
        for embedding in [[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]] {
            let value = unit_answer((0.2, 0.4), &low, &high, &embedding, 0.05, 0.5)
                .value
                .as_f64()
                .unwrap();
            assert!((0.2..=0.4).contains(&value), "{value}");
        }
    }
}
