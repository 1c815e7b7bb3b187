//! `triage`: classify or parse text from the command line, or serve the HTTP contract.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use triage_core::http::api::{Answer, ClassifyResponse, ModelRef, ParseResponse};
use triage_core::http::hybrid::parse_escalation::ParseProvenance;
use triage_core::http::{Problem, Service, DEFAULT_MODEL_KEY};
use triage_core::manifest::Task;
use triage_core::parse::Parser as SchemaParser;
use triage_core::{bundle, embed, Classifier, Embedder, Manifest, Settings, Timings};
use triage_native::bundle_dir::{bundle_dirs, read_bundle_dir};
use triage_native::bundle_tool::{convert_in_place, make_bundle, BundleSpec};
use triage_native::server::{default_addr, serve_until_ctrl_c, BODY_TIMEOUT};

/// Tiny quantized models for edge decisions: classify text locally, in milliseconds.
#[derive(Debug, Parser)]
#[command(name = "triage", version)]
struct Cli {
    /// Serve the classifier bundle in this directory, or every bundle in its
    /// subdirectories, instead of the compiled-in ones. Repeatable; the first bundle
    /// given is the default model unless TRIAGE_DEFAULT_MODEL names another.
    #[arg(long, global = true, value_name = "DIR")]
    model_dir: Vec<PathBuf>,

    /// Serve `/v1/generate` (and `/v1/parse` with `"decoder": "generate"`) with the
    /// generate bundle in this directory (models/smollm2-135m: scripts/build-generator);
    /// the same as TRIAGE_GENERATOR_DIR. Needs a build with `--features generate`.
    #[arg(long, global = true, value_name = "DIR")]
    generator: Option<PathBuf>,

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
        /// The classifier to answer (default: the default model).
        #[arg(long, value_name = "NAME")]
        model: Option<String>,
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
    /// Turn your own ONNX classifier and its tokenizer.json into a verified bundle
    /// (manifest with sha256s), loaded and run as every worker will; prints a JSON report.
    Bundle(BundleSpec),
    /// Convert the ONNX model of each bundle folder given to model.nnef.tar beside it
    /// (tract's NNEF, int8 weights at rest: what workers load) and point its manifest at
    /// it; prints a JSON report per bundle.
    Convert {
        /// Bundle folders (manifest.json and model.onnx).
        #[arg(required = true, value_name = "DIR")]
        dirs: Vec<PathBuf>,
    },
    /// Serve the HTTP contract.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value_t = default_addr())]
        addr: SocketAddr,
        /// Seconds a client may take to send a request's body (then 408).
        #[arg(long, default_value_t = BODY_TIMEOUT.as_secs_f64(), value_name = "SECONDS")]
        body_timeout: f64,
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
    if let Command::Bundle(spec) = &cli.command {
        let report = make_bundle(spec).context("making the bundle")?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    if let Command::Convert { dirs } = &cli.command {
        for dir in dirs {
            let report = convert_in_place(dir)
                .with_context(|| format!("converting the bundle in {}", dir.display()))?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        return Ok(());
    }
    let settings = Settings::from_vars(env_var)?;
    let classifiers = load_classifiers(&cli.model_dir, &settings)?;
    let with_embedder = matches!(cli.command, Command::Serve { .. });
    let mut builder = Service::builder(&settings).default_model(setting(DEFAULT_MODEL_KEY));
    for classifier in classifiers {
        builder = builder.classifier(Ok(classifier));
    }
    if with_embedder {
        builder = builder.embedder(load_embedder(&settings));
    }
    // Settings and the set of models are checked together: a bad value, a name the
    // deployment does not serve, or models that do not fit the memory budget together
    // stop start-up, naming it.
    let generator = cli.generator.as_ref().map(|dir| dir.display().to_string());
    if generator.is_some() && !cfg!(feature = "generate") {
        bail!("--generator needs a triage built with `--features generate`");
    }
    let lookup = |key: &'static str| match (key, &generator) {
        ("generator_dir", Some(dir)) => Some(dir.clone()),
        _ => setting(key),
    };
    let service = builder
        .build(lookup)
        .context("checking the models and settings")?;
    match cli.command {
        Command::Classify {
            text: Some(text),
            model,
            ..
        } => classify_one(pick(&service, model.as_deref())?, &text),
        Command::Classify {
            file: Some(file),
            model,
            ..
        } => classify_lines(pick(&service, model.as_deref())?, &file),
        Command::Classify { .. } => bail!("give a text or --file"),
        Command::Parse { .. } | Command::Bundle(_) | Command::Convert { .. } => {
            unreachable!("answered above")
        }
        Command::Serve { addr, body_timeout } => {
            // The redactor's metadata is read at start-up, not by the first request.
            service.redaction().redactor.warm();
            let service = Arc::new(service);
            let body_timeout = Duration::try_from_secs_f64(body_timeout)
                .ok()
                .filter(|timeout| !timeout.is_zero())
                .context("--body-timeout must be a positive number of seconds")?;
            tokio::runtime::Runtime::new()?.block_on(serve_until_ctrl_c(
                addr,
                service,
                body_timeout,
            ))
        }
    }
}

/// An environment variable, if set.
fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Core setting `key` from its variable, `TRIAGE_<KEY>`.
fn setting(key: &str) -> Option<String> {
    env_var(&Settings::var_name(key))
}

/// The classifiers to serve, under `settings`: the bundles in `model_dirs` (each a bundle
/// or a directory of bundles), else every compiled-in one. A bundle that fails to load
/// stops start-up, naming it.
fn load_classifiers(model_dirs: &[PathBuf], settings: &Settings) -> Result<Vec<Classifier>> {
    if model_dirs.is_empty() {
        return bundle::EMBEDDED_CLASSIFIERS
            .iter()
            .map(|name| {
                let bundle = bundle::embedded_named(name)?;
                Classifier::load_with(bundle, settings)
                    .with_context(|| format!("loading the compiled-in {name}"))
            })
            .collect();
    }
    let mut classifiers = Vec::new();
    for dir in model_dirs {
        let listed = bundle_dirs(dir)?;
        // A directory of bundles may hold other tasks' (an embedding model): those are
        // not classifiers to serve, so they are skipped, saying so.
        let folder_of_bundles = listed.iter().any(|found| found != dir);
        for bundle_dir in listed {
            let bundle = read_bundle_dir(&bundle_dir)?;
            if folder_of_bundles {
                let manifest = Manifest::from_json(&bundle.manifest)?;
                if manifest.task != Task::Classify {
                    tracing::warn!(
                        bundle = %bundle_dir.display(),
                        task = %manifest.task,
                        "skipping a bundle that is not a classifier"
                    );
                    continue;
                }
            }
            let classifier = Classifier::load_with(bundle.as_bytes(), settings)
                .with_context(|| format!("loading the bundle in {}", bundle_dir.display()))?;
            classifiers.push(classifier);
        }
    }
    if classifiers.is_empty() {
        bail!("no classifier bundle in the --model-dir given");
    }
    Ok(classifiers)
}

/// The classifier `name` names (the default when `None`), or why there is none.
fn pick<'a>(service: &'a Service, name: Option<&str>) -> Result<&'a Classifier> {
    service.classifier(name).with_context(|| {
        format!(
            "no model named {:?}: the models are {}",
            name.unwrap_or_default(),
            service.model_names().collect::<Vec<_>>().join(", ")
        )
    })
}

/// The embedding model behind `/v1/parse` and ad-hoc labels, under the same settings.
fn load_embedder(settings: &Settings) -> triage_core::Result<Embedder> {
    Embedder::load_with(embed::embedded(), settings)
}

fn parse_one(text: &str, schema: &str) -> Result<()> {
    let settings = Settings::from_vars(env_var)?;
    let parser =
        SchemaParser::new(load_embedder(&settings).context("loading the embedding model")?);
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
        provenance: ParseProvenance::Local { escalation: None },
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
