//! Generates with a generate bundle from the command line:
//! `cargo run --release -p triage-core --features generate --example generate -- DIR PROMPT [SCHEMA_JSON]`.
//! Prints the answer as JSON (text, value, token counts, timings).
use std::path::Path;

use triage_core::generate::{
    Constraint, GenerateBudgets, GenerateRequest, Generator, Message, Role,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        return Err("usage: generate DIR PROMPT [SCHEMA_JSON]".into());
    }
    let generator = Generator::load_dir(Path::new(&args[1]), GenerateBudgets::default())?;
    let constraint = match args.get(3) {
        Some(schema) => Constraint::JsonSchema(serde_json::from_str(schema)?),
        None => Constraint::None,
    };
    let generation = generator.generate(&GenerateRequest {
        messages: vec![Message {
            role: Role::User,
            content: args[2].clone(),
        }],
        constraint,
        max_new_tokens: None,
        temperature: 0.0,
        seed: 0,
    })?;
    println!("{}", serde_json::to_string_pretty(&generation)?);
    Ok(())
}
