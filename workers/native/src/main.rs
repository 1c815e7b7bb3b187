//! `triage`: classify or parse text from the command line, or serve the HTTP contract.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use triage_core::http::api::{Answer, ClassifyResponse, ModelRef, ParseResponse};
use triage_core::http::{Problem, Service};
use triage_core::parse::Parser as SchemaParser;
use triage_core::{bundle, embed, Classifier, Embedder, Settings, Timings};
use triage_native::bundle_dir::read_bundle_dir;
use triage_native::server::{default_addr, serve_until_ctrl_c};

/// Tiny quantized models for edge decisions: classify text locally, in milliseconds.
#[derive(Debug, Parser)]
#[command(name = "triage", version)]
struct Cli {
    /// Load the model bundle from this directory instead of the compiled-in default.
    #[arg(long, global = true, value_name = "DIR")]
    model_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Classify one text and print the JSON result, or each line of --file as JSON lines.
    Classify {
        /// The text to classify.
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        text: Option<String>,
        /// Read one text per line from this file ("-" for stdin).
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Parse one text into a JSON object that conforms to a schema, and print the answer
    /// as `/v1/parse` gives it.
    Parse {
        /// The text to parse.
        text: String,
        /// A named schema (`support-ticket`, `risk-area`) or the path of a JSON Schema file.
        #[arg(long)]
        schema: String,
    },
    /// Serve the HTTP contract.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value_t = default_addr())]
        addr: SocketAddr,
    },
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=info".into()),
        )
        .with_writer(io::stderr)
        .init();
    let cli = Cli::parse();
    if let Command::Parse { text, schema } = &cli.command {
        return parse_one(text, schema);
    }
    let classifier = load(cli.model_dir.as_deref()).context("loading the model bundle")?;
    match cli.command {
        Command::Classify {
            text: Some(text), ..
        } => classify_one(&classifier, &text),
        Command::Classify {
            file: Some(file), ..
        } => classify_lines(&classifier, &file),
        Command::Classify { .. } => bail!("give a text or --file"),
        Command::Parse { .. } => unreachable!("answered above"),
        Command::Serve { addr } => {
            let service = Service::new(classifier)
                .with_embedder(load_embedder())
                .try_configure(|key| std::env::var(Settings::var_name(key)).ok())
                .context("reading the escalation and middleware settings")?;
            let service = Arc::new(service);
            tokio::runtime::Runtime::new()?.block_on(serve_until_ctrl_c(addr, service))
        }
    }
}

/// Loads the bundle (`--model-dir`, else the compiled-in one `TRIAGE_DEFAULT_MODEL` names)
/// under the settings in `TRIAGE_*` environment variables (the same names as the
/// Cloudflare and Spin adapters); a bad value or a budget that does not fit
/// the memory budget stops start-up, naming it.
fn load(model_dir: Option<&std::path::Path>) -> Result<Classifier> {
    let settings = Settings::from_vars(|name| std::env::var(name).ok())?;
    let classifier = match model_dir {
        Some(dir) => Classifier::load_with(read_bundle_dir(dir)?.as_bytes(), &settings)?,
        // TRIAGE_DEFAULT_MODEL picks a compiled-in bundle (spam-mini unless set).
        None => {
            let name = std::env::var(Settings::var_name("default_model"))
                .ok()
                .filter(|name| !name.is_empty());
            let default = bundle::EMBEDDED_CLASSIFIERS[0];
            let bundle = bundle::embedded_named(name.as_deref().unwrap_or(default))?;
            Classifier::load_with(bundle, &settings)?
        }
    };
    Ok(classifier)
}

/// The embedding model behind `/v1/parse` and ad-hoc labels, under the same settings.
fn load_embedder() -> triage_core::Result<Embedder> {
    let settings = Settings::from_vars(|name| std::env::var(name).ok())?;
    Embedder::load_with(embed::embedded(), &settings)
}

fn parse_one(text: &str, schema: &str) -> Result<()> {
    let parser = SchemaParser::new(load_embedder().context("loading the embedding model")?);
    let compiled = match parser.named(schema) {
        Ok(compiled) => compiled,
        Err(_) => {
            let json = std::fs::read_to_string(schema).with_context(|| {
                format!("{schema:?} is neither a named schema nor a readable file")
            })?;
            let document =
                serde_json::from_str(&json).with_context(|| format!("reading {schema}"))?;
            parser.compile(document, json.len())?
        }
    };
    let parsed = parser.parse(text, &compiled, None, &mut Timings::default())?;
    let response = ParseResponse {
        model: ModelRef::from(parser.embedder().manifest()),
        schema: parser
            .schema_names()
            .any(|n| n == schema)
            .then(|| schema.to_owned()),
        parsed,
        source: "local",
    };
    println!("{}", serde_json::to_string_pretty(&response)?);
    Ok(())
}

fn classify_one(classifier: &Classifier, text: &str) -> Result<()> {
    let result = classifier.classify(text)?;
    let response = ClassifyResponse {
        model: ModelRef::from(classifier.manifest()),
        answer: Answer::local(result),
    };
    println!("{}", serde_json::to_string_pretty(&response)?);
    Ok(())
}

/// Classifies each line, writing one JSON object per line; a line that fails gets an
/// `{"line", "error"}` object and the run goes on. Exits non-zero if any line failed.
fn classify_lines(classifier: &Classifier, path: &std::path::Path) -> Result<()> {
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(BufReader::new(io::stdin()))
    } else {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        Box::new(BufReader::new(file))
    };
    let model = ModelRef::from(classifier.manifest());
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut failures = 0usize;
    for (index, line) in reader.lines().enumerate() {
        let number = index + 1;
        let line = line.with_context(|| format!("reading line {number} of {}", path.display()))?;
        let json = match classifier.classify(&line) {
            Ok(result) => serde_json::to_string(&ClassifyResponse {
                model: model.clone(),
                answer: Answer::local(result),
            })?,
            Err(error) => {
                failures += 1;
                let problem = Problem::from_error(&error);
                serde_json::json!({ "line": number, "error": problem }).to_string()
            }
        };
        writeln!(out, "{json}")?;
    }
    out.flush()?;
    if failures > 0 {
        bail!("{failures} line(s) could not be classified");
    }
    Ok(())
}
