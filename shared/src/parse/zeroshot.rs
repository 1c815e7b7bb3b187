//! Zero/few-shot decoding: a schema's allowed values become prototype vectors (the mean
//! embedding of the texts that describe each value, or points of an ordered scale), and a
//! text's embedding picks among them by cosine similarity, softmaxed at the model's
//! temperature. Nothing outside the allowed values can come out.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::engine::classify::{softmax, Scores, Timings};
use crate::engine::embed::{normalize, Embedder};
use crate::error::Result;
use crate::parse::schema::{Anchors, FieldKind, ParseSchema, Prototype};

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
                                let mut sum = vec![0.0; embedder.embedding().dimensions];
                                for text in texts {
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

    /// Decodes every field for one text's (unit-length) embedding, in schema order, with
    /// whether the field is required.
    pub fn decode<'a>(
        &'a self,
        embedding: &'a [f32],
        threshold: f32,
    ) -> impl Iterator<Item = (&'a str, bool, FieldAnswer)> + 'a {
        self.fields.iter().map(move |field| {
            let answer = field.decoder.decode(embedding, self.temperature, threshold);
            (field.name.as_str(), field.required, answer)
        })
    }
}

impl Decoder {
    fn decode(&self, embedding: &[f32], temperature: f32, threshold: f32) -> FieldAnswer {
        match self {
            Decoder::Choice { values, vectors } => {
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
            Decoder::Unit {
                min,
                max,
                low,
                high,
            } => {
                let weights = softmax(&[dot(low, embedding), dot(high, embedding)], temperature);
                let toward_high = f64::from(weights[1]);
                let value = (min + (max - min) * toward_high).clamp(*min, *max);
                // Three decimals, kept inside the bounds after rounding.
                let value = ((value * 1000.0).round() / 1000.0).clamp(*min, *max);
                let score = weights[0].max(weights[1]);
                FieldAnswer {
                    value: serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number),
                    score,
                    confident: score >= threshold,
                    scores: None,
                }
            }
        }
    }

    fn vector_bytes(&self) -> usize {
        let floats = match self {
            Decoder::Choice { vectors, .. } => vectors.iter().map(Vec::len).sum(),
            Decoder::Unit { low, high, .. } => low.len() + high.len(),
        };
        floats * std::mem::size_of::<f32>()
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
        let decoder = Decoder::Choice {
            values: vec![Value::from("a"), Value::from(3)],
            vectors: vec![vec![1.0, 0.0], vec![0.0, 1.0]],
        };
        let answer = decoder.decode(&[0.1, 0.9], 0.1, 0.5);
        assert_eq!(answer.value, Value::from(3));
        assert!(answer.confident && answer.score > 0.99);
        let scores = answer.scores.unwrap().0;
        assert_eq!(scores[1].0, "3");
        assert!((scores.iter().map(|s| s.1).sum::<f32>() - 1.0).abs() < 1e-5);
    }

    #[test]
    fn a_unit_number_stays_inside_its_bounds() {
        let decoder = Decoder::Unit {
            min: 0.2,
            max: 0.4,
            low: vec![1.0, 0.0],
            high: vec![0.0, 1.0],
        };
        for embedding in [[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]] {
            let value = decoder
                .decode(&embedding, 0.05, 0.5)
                .value
                .as_f64()
                .unwrap();
            assert!((0.2..=0.4).contains(&value), "{value}");
        }
    }
}
