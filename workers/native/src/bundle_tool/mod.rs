//! `triage bundle`: turns a user's ONNX classifier and its `tokenizer.json` into a
//! verified bundle (model, tokenizer, manifest with sha256s), loaded by the same core code
//! every worker loads it with.
//!
//! The source is an `.onnx` file or a folder as Hugging Face tooling leaves it (optimum's
//! `model.onnx` or `onnx/model.onnx`, `tokenizer.json`, and `config.json`, whose `id2label`
//! gives the labels and `max_position_embeddings` the token limit when not given). The
//! tool maps the graph's inputs by name, optionally stores the weights as int8
//! ([`quantize`]), writes the bundle, loads it with tract at several lengths, and, given
//! reference outputs (`--reference`, JSON lines of `{"text", "logits"}` or
//! `{"text", "scores"}` from onnxruntime or PyTorch), checks the scores the worker would
//! serve against them.

pub mod graph;
pub mod quantize;
pub mod reference;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use prost::Message;
use serde::Serialize;
use serde_json::Value;
use triage_core::bundle::sha256_hex;
use triage_core::manifest::{
    Activation, FileEntry, Files, Manifest, ModelFormat, Output, Processing, Task,
};
use triage_core::memory::MemoryEstimate;
use triage_core::{Classifier, OwnedBundle, Settings};

/// The token limit when neither `--max-tokens` nor `config.json` gives one.
pub const DEFAULT_MAX_TOKENS: usize = 256;

/// What to build: the arguments of `triage bundle`.
#[derive(Debug, Clone, clap::Args)]
pub struct BundleSpec {
    /// An .onnx file, or a folder holding model.onnx (or onnx/model.onnx), tokenizer.json
    /// and optionally config.json (id2label, max_position_embeddings).
    pub source: PathBuf,
    /// Where to write the bundle (created; its files are replaced).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// tokenizer.json (default: the one beside the model).
    #[arg(long, value_name = "FILE")]
    pub tokenizer: Option<PathBuf>,
    /// Labels in the order of the model's output (default: config.json's id2label).
    #[arg(long, value_delimiter = ',', value_name = "A,B,...")]
    pub labels: Option<Vec<String>>,
    /// The bundle's name, what requests' "model" names (default: the folder's name or the
    /// file's stem).
    #[arg(long)]
    pub name: Option<String>,
    /// The bundle's version.
    #[arg(long, default_value = "1.0.0")]
    pub version: String,
    /// Most tokens per text, special tokens included (default: config.json's
    /// max_position_embeddings, else 256).
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<usize>,
    /// Scores below this, in [0, 1], are not confident (and escalate under hybrid routing).
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
    pub threshold: f32,
    /// Store weight matrices as per-channel int8 behind DequantizeLinear.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub quantize: Option<Quantize>,
    /// The graph output holding the logits (default: the only one, or `logits`).
    #[arg(long, value_name = "NAME")]
    pub output: Option<String>,
    /// The output holds probabilities already: no softmax.
    #[arg(long)]
    pub probabilities: bool,
    /// JSON lines {"text", "logits" or "scores"} from the reference runtime: the served
    /// scores must match them (written to parity.json).
    #[arg(long, value_name = "FILE")]
    pub reference: Option<PathBuf>,
    /// Largest score difference allowed against --reference.
    #[arg(long, default_value_t = 1e-4, allow_negative_numbers = true)]
    pub tolerance: f32,
    /// The bundle's model format: `nnef` (tract's, decluttered, int8 weights at rest;
    /// what workers load fastest, and all a worker built without ONNX reads) or `onnx`.
    #[arg(long, value_enum, default_value_t = Format::Nnef)]
    pub format: Format,
}

/// The model format `--format` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `model.nnef.tar` (`triage_core::nnef`).
    Nnef,
    /// `model.onnx`, as given (or quantized).
    Onnx,
}

/// How `--quantize` stores weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Quantize {
    /// Per-channel symmetric int8 ([`quantize`]).
    Int8,
}

/// What the tool did and measured, printed as JSON.
#[derive(Debug, Serialize)]
pub struct BundleReport {
    pub out: PathBuf,
    pub manifest: Manifest,
    /// Size of the source model and of the bundled one, in bytes.
    pub model_bytes_before: usize,
    pub model_bytes_after: usize,
    /// Weight matrices stored as int8 (0 without `--quantize`).
    pub quantized_tensors: usize,
    /// Token lengths the bundle was run at, every output finite and one per label.
    pub checked_lengths: Vec<usize>,
    /// The worker's worst case for this model under the default budgets.
    pub memory: MemoryEstimate,
    /// One classification of a text of half the token limit, in ms (unoptimised runs
    /// are slower: use a release build for a figure that means something).
    pub classify_ms: f64,
    /// The comparison with `--reference`, when given (also written to `parity.json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parity: Option<reference::Parity>,
}

/// Builds, writes and verifies the bundle `spec` describes.
///
/// Errors: a source, tokenizer or labels it cannot find; a graph input it cannot map
/// (named); a graph tract cannot run (tract's node and reason); outputs that are not one
/// score per label; reference scores further than the tolerance.
pub fn make_bundle(spec: &BundleSpec) -> Result<BundleReport> {
    if !(0.0..=1.0).contains(&spec.threshold) {
        bail!(
            "--threshold is {}, expected a number in [0, 1]",
            spec.threshold
        );
    }
    if !(spec.tolerance.is_finite() && spec.tolerance >= 0.0) {
        bail!("--tolerance is {}, expected a number >= 0", spec.tolerance);
    }
    let source = Source::find(spec)?;
    let model_bytes =
        fs::read(&source.model).with_context(|| format!("reading {}", source.model.display()))?;
    let tokenizer_bytes = fs::read(&source.tokenizer)
        .with_context(|| format!("reading {}", source.tokenizer.display()))?;
    let mut proto = graph::decode(&model_bytes)
        .with_context(|| format!("reading {}", source.model.display()))?;
    let io = graph::io(&proto);
    let inputs = graph::map_inputs(&io)?;
    let output = graph::pick_output(&io, spec.output.as_deref())?;
    let labels = source.labels(spec)?;
    let max_tokens = source.max_tokens(spec)?;
    let (bundled, quantized_tensors) = if spec.quantize == Some(Quantize::Int8) {
        let count = quantize::quantize(&mut proto)?;
        (proto.encode_to_vec(), count)
    } else {
        (model_bytes.clone(), 0)
    };
    let mut manifest = Manifest {
        name: spec.name.clone().unwrap_or_else(|| source.name.clone()),
        version: spec.version.clone(),
        task: Task::Classify,
        format: ModelFormat::Onnx,
        labels,
        inputs,
        output: Output {
            name: output,
            activation: if spec.probabilities {
                Activation::None
            } else {
                Activation::Softmax
            },
        },
        max_tokens,
        processing: Processing {
            pooling: "graph".into(),
        },
        embedding: None,
        threshold: spec.threshold,
        max_unknown_share: None,
        windows: None,
        files: Files {
            model: FileEntry {
                path: "model.onnx".into(),
                sha256: sha256_hex(&bundled),
            },
            tokenizer: FileEntry {
                path: "tokenizer.json".into(),
                sha256: sha256_hex(&tokenizer_bytes),
            },
        },
    };
    let bundled = match spec.format {
        Format::Onnx => bundled,
        Format::Nnef => {
            let (nnef, _) = triage_core::onnx::to_nnef(&manifest, &bundled)
                .context("converting the model to NNEF (--format onnx keeps it ONNX)")?;
            manifest.format = ModelFormat::Nnef;
            manifest.files.model = FileEntry {
                path: NNEF_FILE.into(),
                sha256: sha256_hex(&nnef),
            };
            nnef
        }
    };
    let manifest_json = serde_json::to_vec_pretty(&manifest)?;
    // The manifest is checked as every worker checks it before anything is written.
    Manifest::from_json(&manifest_json).context("the manifest made for this model")?;
    let bundle = OwnedBundle {
        manifest: manifest_json,
        model: bundled,
        tokenizer: tokenizer_bytes,
    };
    let classifier = Classifier::load_with(bundle.as_bytes(), &Settings::default())
        .context("loading the bundle as a worker does")?;
    let checked_lengths = check_lengths(&classifier)?;
    let started = Instant::now();
    classifier.classify(&text_of_tokens(
        &classifier,
        classifier.budgets().max_tokens / 2,
    ))?;
    let classify_ms = started.elapsed().as_secs_f64() * 1000.0;
    let parity = match &spec.reference {
        Some(path) => Some(reference::compare(&classifier, path, spec.tolerance)?),
        None => None,
    };
    write_bundle(&spec.out, &manifest, &bundle, parity.as_ref())?;
    if let Some(parity) = &parity {
        parity.check(spec.tolerance).with_context(|| {
            format!(
                "the bundle is written to {} all the same, with the comparison in parity.json",
                spec.out.display()
            )
        })?;
    }
    Ok(BundleReport {
        out: spec.out.clone(),
        manifest,
        model_bytes_before: model_bytes.len(),
        model_bytes_after: bundle.model.len(),
        quantized_tensors,
        checked_lengths,
        memory: *classifier.memory(),
        classify_ms,
        parity,
    })
}

/// The file name of a bundle's NNEF model.
pub const NNEF_FILE: &str = "model.nnef.tar";

/// Writes the three bundle files (the model under the name its manifest gives, and
/// `parity.json`) into `out`.
fn write_bundle(
    out: &Path,
    manifest: &Manifest,
    bundle: &OwnedBundle,
    parity: Option<&reference::Parity>,
) -> Result<()> {
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let write = |name: &str, bytes: &[u8]| {
        let path = out.join(name);
        fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
    };
    write(&manifest.files.model.path, &bundle.model)?;
    write("tokenizer.json", &bundle.tokenizer)?;
    let mut manifest = bundle.manifest.clone();
    manifest.push(b'\n');
    write("manifest.json", &manifest)?;
    if let Some(parity) = parity {
        let mut json = serde_json::to_vec_pretty(parity)?;
        json.push(b'\n');
        write("parity.json", &json)?;
    }
    Ok(())
}

/// Runs the classifier on texts of a few token lengths up to its limit: every run must
/// give one finite score per label. Returns the lengths run.
fn check_lengths(classifier: &Classifier) -> Result<Vec<usize>> {
    let max = classifier.budgets().max_tokens;
    let mut lengths = vec![1, 2, max / 4, max / 2, max];
    lengths.retain(|&n| n >= 1);
    lengths.sort_unstable();
    lengths.dedup();
    let mut checked = Vec::new();
    for length in lengths {
        let text = text_of_tokens(classifier, length);
        let result = classifier
            .classify(&text)
            .with_context(|| format!("running the model on {length} tokens"))?;
        let scores: Vec<f32> = result.scores.0.iter().map(|(_, score)| *score).collect();
        if scores.iter().any(|score| !score.is_finite()) {
            bail!("the model gave scores that are not numbers at {length} tokens: {scores:?}");
        }
        let sum: f32 = scores.iter().sum();
        let probabilities =
            scores.iter().all(|s| (0.0..=1.0).contains(s)) && (sum - 1.0).abs() < 1e-3;
        if !probabilities {
            bail!(
                "the output is not probabilities (at {length} tokens: {scores:?}, sum {sum}): \
                 drop --probabilities for a model that gives logits"
            );
        }
        checked.push(result.tokens);
    }
    checked.dedup();
    Ok(checked)
}

/// A text the classifier's tokenizer reads as about `tokens` tokens (special tokens
/// included; cut to the limit).
fn text_of_tokens(classifier: &Classifier, tokens: usize) -> String {
    let mut text = String::from("hello");
    for _ in 0..tokens.saturating_mul(2) {
        let count = classifier
            .encoder()
            .encode(&text)
            .map(|encoded| encoded.ids.len())
            .unwrap_or(usize::MAX);
        if count >= tokens {
            break;
        }
        text.push_str(" hello");
    }
    text
}

/// Where the model, tokenizer and config are.
struct Source {
    model: PathBuf,
    tokenizer: PathBuf,
    config: Option<Value>,
    /// The folder's name, or the file's stem.
    name: String,
}

impl Source {
    fn find(spec: &BundleSpec) -> Result<Source> {
        let path = &spec.source;
        let (model, folder) = if path.is_dir() {
            let candidates = [path.join("model.onnx"), path.join("onnx/model.onnx")];
            let model = candidates.iter().find(|p| p.is_file()).cloned();
            let model = match model {
                Some(model) => model,
                None => single_onnx(path)?,
            };
            (model, path.clone())
        } else if path.is_file() {
            let folder = path.parent().map(Path::to_path_buf).unwrap_or_default();
            (path.clone(), folder)
        } else {
            bail!("{} is neither an .onnx file nor a folder", path.display());
        };
        let tokenizer = match &spec.tokenizer {
            Some(tokenizer) => tokenizer.clone(),
            None => {
                let found = folder.join("tokenizer.json");
                if !found.is_file() {
                    bail!(
                        "no tokenizer.json beside {}; give one with --tokenizer",
                        model.display()
                    );
                }
                found
            }
        };
        let config_path = folder.join("config.json");
        let config = if config_path.is_file() {
            let text = fs::read_to_string(&config_path)
                .with_context(|| format!("reading {}", config_path.display()))?;
            Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("reading {}", config_path.display()))?,
            )
        } else {
            None
        };
        let name = if path.is_dir() {
            path.canonicalize()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        } else {
            path.file_stem().map(|n| n.to_string_lossy().into_owned())
        };
        Ok(Source {
            model,
            tokenizer,
            config,
            name: name.unwrap_or_else(|| "model".into()),
        })
    }

    /// `--labels`, else `config.json`'s `id2label` in id order.
    fn labels(&self, spec: &BundleSpec) -> Result<Vec<String>> {
        if let Some(labels) = &spec.labels {
            return Ok(labels.clone());
        }
        let Some(id2label) = self
            .config
            .as_ref()
            .and_then(|config| config["id2label"].as_object())
        else {
            bail!("give the labels with --labels a,b,c (no config.json with id2label beside the model)");
        };
        let mut pairs = Vec::new();
        for (id, label) in id2label {
            let id: usize = id
                .parse()
                .with_context(|| format!("config.json id2label has the id {id:?}"))?;
            let label = label
                .as_str()
                .with_context(|| format!("config.json id2label[{id}] is not a string"))?;
            pairs.push((id, label.to_owned()));
        }
        pairs.sort();
        if pairs.iter().enumerate().any(|(i, (id, _))| i != *id) {
            bail!("config.json id2label does not number its labels 0, 1, 2...");
        }
        Ok(pairs.into_iter().map(|(_, label)| label).collect())
    }

    /// `--max-tokens`, else `config.json`'s `max_position_embeddings`, else
    /// [`DEFAULT_MAX_TOKENS`].
    ///
    /// Errors: a `max_position_embeddings` that is not a whole number.
    fn max_tokens(&self, spec: &BundleSpec) -> Result<usize> {
        if let Some(max_tokens) = spec.max_tokens {
            return Ok(max_tokens);
        }
        let value = self
            .config
            .as_ref()
            .map(|config| &config["max_position_embeddings"])
            .filter(|value| !value.is_null());
        match value {
            None => Ok(DEFAULT_MAX_TOKENS),
            Some(value) => value.as_u64().map(|n| n as usize).with_context(|| {
                format!(
                    "config.json's max_position_embeddings is {value}, not a whole number; \
                     give --max-tokens"
                )
            }),
        }
    }
}

/// The one `.onnx` file in `folder`.
fn single_onnx(folder: &Path) -> Result<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(folder).with_context(|| format!("reading {}", folder.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "onnx") {
            found.push(path);
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => bail!("{} holds no .onnx model", folder.display()),
        _ => bail!(
            "{} holds several .onnx models; name the one to bundle",
            folder.display()
        ),
    }
}

/// What [`convert_in_place`] did.
#[derive(Debug, Serialize)]
pub struct ConvertReport {
    pub dir: PathBuf,
    /// Bytes of the ONNX model and of the NNEF written beside it.
    pub onnx_bytes: usize,
    pub nnef_bytes: usize,
    /// Weight tensors stored as int8 (of which `ternary_tensors` packed five values to a
    /// byte: all -1, 0 or +1), and those left f32.
    pub int8_tensors: usize,
    pub ternary_tensors: usize,
    pub f32_tensors: usize,
}

/// `triage convert DIR`: converts the ONNX model of the bundle in `dir` to
/// `model.nnef.tar` beside it, and points the manifest at it (format, path, sha256). The
/// ONNX file stays, as the source (and for onnxruntime). Run again on a converted bundle,
/// it converts the ONNX file anew.
///
/// Errors: a bundle that does not verify, has no ONNX file, or that tract cannot convert.
pub fn convert_in_place(dir: &Path) -> Result<ConvertReport> {
    let manifest_path = dir.join("manifest.json");
    let text =
        fs::read(&manifest_path).with_context(|| format!("reading {}", manifest_path.display()))?;
    let mut manifest = Manifest::from_json(&text)?;
    let mut raw: Value = serde_json::from_slice(&text)?;
    let onnx_path = dir.join("model.onnx");
    let onnx = fs::read(&onnx_path).with_context(|| format!("reading {}", onnx_path.display()))?;
    if manifest.format == ModelFormat::Onnx && manifest.files.model.sha256 != sha256_hex(&onnx) {
        bail!(
            "{} does not match the sha256 its manifest gives",
            onnx_path.display()
        );
    }
    manifest.format = ModelFormat::Onnx;
    manifest.files.model.path = "model.onnx".into();
    let (nnef, report) = triage_core::onnx::to_nnef(&manifest, &onnx)?;
    let nnef_path = dir.join(NNEF_FILE);
    fs::write(&nnef_path, &nnef).with_context(|| format!("writing {}", nnef_path.display()))?;
    // Only the model entry changes: the manifest keeps every other field as written.
    raw["format"] = "nnef".into();
    raw["files"]["model"] = serde_json::json!({ "path": NNEF_FILE, "sha256": sha256_hex(&nnef) });
    let mut json = serde_json::to_vec_pretty(&raw)?;
    json.push(b'\n');
    fs::write(&manifest_path, json)
        .with_context(|| format!("writing {}", manifest_path.display()))?;
    Ok(ConvertReport {
        dir: dir.to_path_buf(),
        onnx_bytes: onnx.len(),
        nnef_bytes: nnef.len(),
        int8_tensors: report.int8_tensors,
        ternary_tensors: report.ternary_tensors,
        f32_tensors: report.f32_tensors,
    })
}
