//! Cold start and per-text cost of the core, natively: classification, and `/v1/parse`
//! with the embedding model.
//!
//! `cargo bench -p triage-core --features internals --bench core`. The `load/*` group
//! compares the model formats a worker could ship: the NNEF shipped (decluttered, int8
//! weights at rest) and the int8 ONNX file it was converted from.

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use std::hint::black_box;
use triage_core::bundle;
use triage_core::model::SequenceModel;
use triage_core::parse::Parser;
use triage_core::tokenize::TextEncoder;
use triage_core::{
    embed, Budgets, Classifier, Embedder, Manifest, PreparedClassifier, Settings, Timings,
};

fn load(c: &mut Criterion) {
    let bundle = bundle::embedded();
    let manifest = Manifest::from_json(bundle.manifest).expect("manifest");
    let mut group = c.benchmark_group("load");
    group.sample_size(20);
    group.bench_function("verify_sha256", |b| {
        b.iter(|| bundle.verify().expect("verifies"))
    });
    group.bench_function("tokenizer", |b| {
        b.iter(|| TextEncoder::from_bytes("tokenizer.json", bundle.tokenizer, 128).expect("loads"))
    });
    group.bench_function("model_nnef_int8", |b| {
        b.iter(|| SequenceModel::load(&manifest, bundle.model).expect("loads"))
    });
    // The same model from the ONNX file it was converted from (`triage convert`).
    let onnx = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/spam-mini/model.onnx"
    ))
    .expect("models/spam-mini/model.onnx");
    let mut onnx_manifest = manifest.clone();
    onnx_manifest.format = triage_core::manifest::ModelFormat::Onnx;
    group.bench_function("model_onnx_int8", |b| {
        b.iter(|| SequenceModel::load(&onnx_manifest, &onnx).expect("loads"))
    });
    // What a pre-initialised Spin instance does before its first answer: the settings
    // applied to the prepared model (budgets, tokenizer truncation, memory estimate).
    group.bench_function("apply_settings", |b| {
        b.iter_batched(
            || PreparedClassifier::load(bundle).expect("loads"),
            |prepared| Classifier::new(prepared, &Settings::default()).expect("applies"),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("classifier_total", |b| {
        b.iter(|| Classifier::load(bundle, Budgets::default()).expect("loads"))
    });
    group.finish();
}

fn infer(c: &mut Criterion) {
    let bundle = bundle::embedded();
    let manifest = Manifest::from_json(bundle.manifest).expect("manifest");
    let model = SequenceModel::load(&manifest, bundle.model).expect("loads");
    let mut group = c.benchmark_group("inference");
    for tokens in [16usize, 64, 128, 256] {
        let ids: Vec<i64> = (0..tokens as i64).map(|i| 1000 + (i * 37) % 7000).collect();
        group.bench_with_input(BenchmarkId::new("model_only", tokens), &ids, |b, ids| {
            b.iter(|| model.run(black_box(ids)).expect("runs"))
        });
    }
    let text =
        "Dear friend, you have been selected to receive a FREE vacation. Click here to claim "
            .repeat(20);
    for tokens in [128usize, 256] {
        let budgets = Budgets {
            max_tokens: tokens,
            ..Budgets::default()
        };
        let classifier = Classifier::load(bundle, budgets).expect("loads");
        group.bench_function(format!("classify_text_{tokens}_tokens"), |b| {
            b.iter(|| classifier.classify(black_box(&text)).expect("classifies"))
        });
    }
    group.finish();
    tokenize_worst_case(c);
}

/// Tokenizer CPU on the worst texts the 32 KiB text budget lets through: the whole text
/// is tokenized (in 2 KiB chunks) when it makes few tokens, so these bound a text's
/// tokenizer time. Padding before a short spam, an over-long word, ordinary words.
fn tokenize_worst_case(c: &mut Criterion) {
    let classifier = Classifier::load(bundle::embedded(), Budgets::default()).expect("loads");
    let max = classifier.budgets().max_text_bytes;
    let fill = |unit: &str| unit.repeat(max / unit.len())[..].to_owned();
    let texts = [
        ("spaces", fill(" ")),
        ("zero_width_spaces", fill("\u{200b}")),
        ("tag_characters", fill("\u{e0041}")),
        ("one_word", fill("x")),
        ("words", fill("word ")),
        ("control_tokens", fill("[SEP] ")),
    ];
    let mut group = c.benchmark_group("tokenize_32KiB");
    for (name, text) in &texts {
        assert!(text.len() <= max);
        group.bench_function(*name, |b| {
            b.iter(|| {
                classifier
                    .encoder()
                    .encode(black_box(text))
                    .expect("encodes")
            })
        });
    }
    group.finish();
}

/// `/v1/parse`: loading the embedding model, compiling a schema (what a cache miss costs),
/// and parsing one support ticket against a cached schema.
fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group.bench_function("embedder_load", |b| {
        b.iter(|| Embedder::load_with(embed::embedded(), &Settings::default()).expect("loads"))
    });
    let parser =
        Parser::new(Embedder::load_with(embed::embedded(), &Settings::default()).expect("loads"));
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schemas/support-ticket.json")).expect("json");
    let bytes = schema.to_string().len();
    // A copy the cache has not seen each time (its description numbered), on a warm parser.
    let mut copy = 0u64;
    group.bench_function("compile_support_ticket_schema", |b| {
        b.iter_batched(
            || {
                copy += 1;
                let mut fresh = schema.clone();
                fresh["description"] = serde_json::Value::from(format!("copy {copy}"));
                fresh
            },
            |fresh| parser.compile(fresh, bytes).expect("compiles"),
            BatchSize::SmallInput,
        )
    });
    let compiled = parser.compile(schema.clone(), bytes).expect("compiles");
    let ticket = "The whole site is down since this morning and nobody can log in, customers are losing money";
    group.bench_function("parse_support_ticket", |b| {
        b.iter(|| {
            parser
                .parse(black_box(ticket), &compiled, None, &mut Timings::default())
                .expect("parses")
        })
    });
    group.finish();
}

criterion_group!(benches, load, infer, parse);
criterion_main!(benches);
