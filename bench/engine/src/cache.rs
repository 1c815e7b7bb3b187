//! `triage-bench cache`: replays a stream of labelled texts on stdin (JSON lines with
//! `text` and `label`, such as `bench/cache/build_stream.py` writes) through the semantic
//! cache's in-process store ([`triage_core::cache::MemoryCache`], the default capacity),
//! as if every text were escalated: a miss is a remote call whose answer (the text's
//! label) is kept, a hit is a remote call saved, and a hit whose cached label differs
//! from the text's own is a false hit. Embeddings are the shipped embedding model's
//! (potion-base-2m), as the service computes them. One JSON object per similarity
//! threshold (1 = the same text only), then the lookup time.

use std::error::Error;
use std::io::BufRead;
use std::time::{Duration, Instant};

use serde_json::json;
use triage_core::cache::{MemoryCache, Probe, Scope};
use triage_core::http::hybrid::cache::DEFAULT_CAPACITY;
use triage_core::{embed, Embedder, Settings, Timings};

/// The thresholds replayed.
const THRESHOLDS: [f32; 9] = [1.0, 0.995, 0.99, 0.98, 0.97, 0.96, 0.95, 0.93, 0.90];

pub fn run() -> Result<String, Box<dyn Error>> {
    let rows: Vec<(String, String, String)> = std::io::stdin()
        .lock()
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(&line?)?;
            let field = |name: &str| value[name].as_str().unwrap_or_default().to_owned();
            Ok((field("text"), field("label"), field("source")))
        })
        .collect::<Result<_, Box<dyn Error>>>()?;
    let embedder = Embedder::load_with(embed::embedded(), &Settings::default())?;
    let mut timings = Timings::default();
    let started = Instant::now();
    let embeddings: Vec<Vec<f32>> = rows
        .iter()
        .map(|(text, _, _)| Ok(embedder.embed_timed(text, &mut timings)?.vector))
        .collect::<Result<_, Box<dyn Error>>>()?;
    let embed_us = started.elapsed().as_secs_f64() * 1e6 / rows.len().max(1) as f64;
    let scope = Scope::new(&["bench"]);
    let mut lines = Vec::new();
    let mut lookup_us: f64 = 0.0;
    for threshold in THRESHOLDS {
        let cache = MemoryCache::new(DEFAULT_CAPACITY, Duration::from_secs(86_400));
        let (mut hits, mut exact, mut false_hits) = (0usize, 0usize, 0usize);
        let mut by_source = std::collections::BTreeMap::<&str, (usize, usize)>::new();
        let mut timed: f64 = 0.0;
        for ((text, label, source), embedding) in rows.iter().zip(&embeddings) {
            let embedding = (threshold < 1.0).then(|| embedding.clone());
            let probe = Probe::new(scope, text, embedding);
            let started = Instant::now();
            let hit = cache.get(&probe, threshold);
            timed += started.elapsed().as_secs_f64() * 1e6;
            let seen = by_source.entry(source).or_default();
            seen.0 += 1;
            match hit {
                Some(hit) => {
                    hits += 1;
                    seen.1 += 1;
                    exact += usize::from(hit.exact);
                    false_hits += usize::from(&*hit.value != label.as_bytes());
                }
                None => cache.put(&probe, label.as_bytes()),
            }
        }
        if threshold < 1.0 {
            lookup_us = lookup_us.max(timed / rows.len() as f64);
        }
        let share = |n: usize, of: usize| (n as f64 / of.max(1) as f64 * 1e4).round() / 1e4;
        lines.push(json!({
            "threshold": threshold,
            "texts": rows.len(),
            "hits": hits,
            "exact_hits": exact,
            "hit_rate": share(hits, rows.len()),
            "remote_calls": rows.len() - hits,
            "false_hits": false_hits,
            "false_hit_rate": share(false_hits, hits),
            "hit_rate_by_source": by_source
                .iter()
                .map(|(source, (n, h))| (source.to_string(), json!(share(*h, *n))))
                .collect::<serde_json::Map<_, _>>(),
        }));
    }
    lines.push(json!({
        "embed_us_per_text": (embed_us * 10.0).round() / 10.0,
        "lookup_us_per_text": (lookup_us * 10.0).round() / 10.0,
        "capacity": DEFAULT_CAPACITY,
    }));
    Ok(lines
        .iter()
        .map(|line| line.to_string())
        .collect::<Vec<_>>()
        .join("\n"))
}
