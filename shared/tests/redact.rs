//! The redactor measured on the labelled set (`tests/data/pii.jsonl`, built by
//! `bench/pii/build_set.py`): real SMS messages with the phone numbers Google's
//! libphonenumber finder labels in them, and messages in nine locales with every type and
//! with numbers that are not personal data. A finding counts when its type and code-point
//! span equal a label's. Prints precision and recall per type and per locale
//! (`cargo test -p triage-core --release --test redact -- --nocapture`) and holds them to
//! floors.

#![cfg(feature = "redact")]

use std::collections::BTreeMap;

use triage_core::redact::{char_offsets, PiiType, Redactor, TypeSet};

#[derive(serde::Deserialize)]
struct Row {
    locale: String,
    source: String,
    text: String,
    spans: Vec<Span>,
}

#[derive(serde::Deserialize, PartialEq, Eq, Clone)]
struct Span {
    #[serde(rename = "type")]
    kind: String,
    start: usize,
    end: usize,
}

#[derive(Default, Clone, Copy)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
}

impl Counts {
    fn precision(self) -> f64 {
        self.tp as f64 / (self.tp + self.fp).max(1) as f64
    }
    fn recall(self) -> f64 {
        self.tp as f64 / (self.tp + self.fn_).max(1) as f64
    }
}

fn rows() -> Vec<Row> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/pii.jsonl");
    std::fs::read_to_string(path)
        .expect("the labelled set")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a labelled row"))
        .collect()
}

#[test]
fn precision_and_recall_per_type_and_locale() {
    let redactor = Redactor::default();
    let rows = rows();
    assert!(rows.len() >= 500, "the set holds {} texts", rows.len());
    let mut by_type: BTreeMap<String, Counts> = BTreeMap::new();
    let mut by_locale: BTreeMap<String, Counts> = BTreeMap::new();
    let mut misses = Vec::new();
    for row in &rows {
        let found = redactor.find(&row.text);
        let mut bytes = Vec::new();
        for f in &found {
            bytes.extend([f.start, f.end]);
        }
        let chars = char_offsets(&row.text, &bytes);
        let predicted: Vec<Span> = found
            .iter()
            .enumerate()
            .map(|(i, f)| Span {
                kind: f.kind.name().to_owned(),
                start: chars[2 * i],
                end: chars[2 * i + 1],
            })
            .collect();
        let key = format!("{} {}", row.locale, row.source);
        for span in &predicted {
            let hit = row.spans.contains(span);
            let counts = by_type.entry(span.kind.clone()).or_default();
            let locale = by_locale.entry(key.clone()).or_default();
            if hit {
                counts.tp += 1;
                locale.tp += 1;
            } else {
                counts.fp += 1;
                locale.fp += 1;
                misses.push(format!(
                    "FP {} {:?} in {:?}",
                    span.kind,
                    slice(&row.text, span),
                    row.text
                ));
            }
        }
        for span in &row.spans {
            if !predicted.contains(span) {
                by_type.entry(span.kind.clone()).or_default().fn_ += 1;
                by_locale.entry(key.clone()).or_default().fn_ += 1;
                misses.push(format!(
                    "FN {} {:?} in {:?}",
                    span.kind,
                    slice(&row.text, span),
                    row.text
                ));
            }
        }
    }
    print_table("type", &by_type);
    print_table("locale, source", &by_locale);
    println!("\n{}", misses.join("\n"));
    for kind in PiiType::ALL {
        let c = by_type.get(kind.name()).copied().unwrap_or_default();
        // Every type at 0.95: phone numbers too (measured 0.961 against nine regions'
        // numbering plans since words and trunk prefixes are read; 0.934 before).
        let floor = 0.95;
        assert!(c.tp + c.fn_ >= 20, "{kind}: too few labels to measure");
        assert!(
            c.precision() >= floor,
            "{kind}: precision {:.3}",
            c.precision()
        );
        assert!(c.recall() >= 0.95, "{kind}: recall {:.3}", c.recall());
    }
}

/// Phone numbers when the deployment names its one region (`redact_regions`): each text
/// is read with its locale's region alone.
#[test]
fn phones_with_the_locale_region_alone() {
    let mut counts = Counts::default();
    for row in rows() {
        let region = row.locale.rsplit('-').next().unwrap_or("US");
        let redactor = Redactor::from_regions(region).expect("a region");
        let found: Vec<(usize, usize)> = redactor
            .find(&row.text)
            .into_iter()
            .filter(|f| f.kind == PiiType::Phone)
            .map(|f| {
                let chars = char_offsets(&row.text, &[f.start, f.end]);
                (chars[0], chars[1])
            })
            .collect();
        let labelled: Vec<(usize, usize)> = row
            .spans
            .iter()
            .filter(|s| s.kind == "phone")
            .map(|s| (s.start, s.end))
            .collect();
        counts.tp += found.iter().filter(|f| labelled.contains(f)).count();
        counts.fp += found.iter().filter(|f| !labelled.contains(f)).count();
        counts.fn_ += labelled.iter().filter(|l| !found.contains(l)).count();
    }
    println!(
        "phone, each text read in its locale's region alone: precision {:.3}, recall {:.3} \
         ({} labelled, {} found)",
        counts.precision(),
        counts.recall(),
        counts.tp + counts.fn_,
        counts.tp + counts.fp
    );
    assert!(counts.precision() >= 0.95 && counts.recall() >= 0.95);
}

/// Prints `rows` as a markdown table whose first column is `what`.
fn print_table(what: &str, rows: &BTreeMap<String, Counts>) {
    println!("\n| {what} | labelled | found | precision | recall |\n|---|---|---|---|---|");
    for (name, c) in rows {
        println!(
            "| {name} | {} | {} | {:.3} | {:.3} |",
            c.tp + c.fn_,
            c.tp + c.fp,
            c.precision(),
            c.recall()
        );
    }
}

fn slice(text: &str, span: &Span) -> String {
    text.chars()
        .skip(span.start)
        .take(span.end - span.start)
        .collect()
}

#[test]
fn nothing_labelled_survives_redaction() {
    let redactor = Redactor::default();
    let mut survived = 0;
    let mut labelled = 0;
    for row in rows() {
        let redacted = redactor.redact(&row.text, TypeSet::all());
        for span in &row.spans {
            labelled += 1;
            if redacted.text.contains(&slice(&row.text, span)) {
                survived += 1;
            }
        }
    }
    // What recall misses may survive; nothing else may.
    assert!(
        survived * 100 <= labelled * 5,
        "{survived} of {labelled} labelled values are still in the redacted texts"
    );
}
