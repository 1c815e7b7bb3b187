//! How much a re-quantization costs the model, on real text: the mean negative
//! log-likelihood per token (and its perplexity) of each GGUF file given, on the same
//! texts, through the engine the workers run (`triage_core::generate::llama`).
//!
//! ```text
//! cargo run --release -p triage-core --features generate --example gguf_nll -- \
//!   tokenizer.json texts.txt a.gguf b.gguf ...
//! ```
//! `texts.txt`: one text per line (each scored alone, from its first token).

use std::io::BufReader;

use triage_core::generate::llama::Llama;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        return Err("usage: gguf_nll tokenizer.json texts.txt model.gguf...".into());
    }
    let tokenizer = tokenizers::Tokenizer::from_file(&args[0]).map_err(|e| e.to_string())?;
    let texts = std::fs::read_to_string(&args[1])?;
    let encoded: Vec<Vec<u32>> = texts
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| tokenizer.encode(line, false).map(|e| e.get_ids().to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    println!("| model | texts | tokens scored | mean NLL per token | perplexity |");
    println!("|---|---|---|---|---|");
    for path in &args[2..] {
        let mut reader = BufReader::new(std::fs::File::open(path)?);
        let model = Llama::load(&mut reader, 512)?;
        let vocab = model.config().vocab;
        let (mut nll, mut scored) = (0f64, 0usize);
        for ids in encoded.iter().filter(|ids| ids.len() >= 2) {
            let ids = &ids[..ids.len().min(512)];
            let mut cache = model.cache(ids.len());
            let logits = model.forward(ids, &mut cache, true)?;
            for (position, next) in ids.iter().enumerate().skip(1) {
                let row = &logits[(position - 1) * vocab..position * vocab];
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let sum: f64 = row.iter().map(|l| f64::from(l - max).exp()).sum();
                nll += sum.ln() - f64::from(row[*next as usize] - max);
                scored += 1;
            }
        }
        let mean = nll / scored.max(1) as f64;
        println!(
            "| {} | {} | {scored} | {mean:.4} | {:.2} |",
            path.rsplit('/').next().unwrap_or(path),
            encoded.len(),
            mean.exp()
        );
    }
    Ok(())
}
