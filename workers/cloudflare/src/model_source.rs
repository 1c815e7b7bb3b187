//! Where the worker finds its model bundles: compiled in (the default), or fetched once per
//! isolate from a static-assets, KV or R2 binding named in `TRIAGE_MODEL_SOURCE`: either the
//! one bundle under `TRIAGE_MODEL_PREFIX`, or each bundle `TRIAGE_MODELS` names, under
//! `TRIAGE_MODEL_PREFIX` + name + `/`, fetched when a request first needs it.

use triage_core::{Manifest, OwnedBundle};
use worker::Env;

/// Variable choosing the source: `embedded`, `assets:<BINDING>`, `kv:<BINDING>`, `r2:<BINDING>`.
pub const SOURCE_VAR: &str = "TRIAGE_MODEL_SOURCE";
/// Variable giving the key prefix (a folder) of the bundle's files in the binding.
pub const PREFIX_VAR: &str = "TRIAGE_MODEL_PREFIX";
/// Variable naming, comma-separated, the bundles to serve from the source beside the
/// compiled-in ones: bundle `name` is under `TRIAGE_MODEL_PREFIX` + `name/`.
pub const MODELS_VAR: &str = "TRIAGE_MODELS";

/// Variable naming the embedding model's bundle (for `/v1/parse` and ad-hoc labels),
/// fetched from the source under `TRIAGE_MODEL_PREFIX` + name + `/`; unset, the compiled-in
/// one, or [`DEFAULT_EMBEDDING_MODEL`] in a worker built without embedded models.
pub const EMBEDDING_MODEL_VAR: &str = "TRIAGE_EMBEDDING_MODEL";

/// The embedding model a worker without embedded models fetches when
/// `TRIAGE_EMBEDDING_MODEL` is unset: the one Triage ships (`models/potion-base-2m`).
pub const DEFAULT_EMBEDDING_MODEL: &str = "potion-base-2m";

/// The bundle names in `TRIAGE_MODELS` (trimmed, empty entries dropped).
pub fn model_names(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A configured model source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// `models/spam-mini`, compiled in with the `embedded-model` feature.
    Embedded,
    /// A static-assets binding (`[assets] binding`); files are fetched by path.
    Assets { binding: String, prefix: String },
    /// A Workers KV namespace; files are values under `prefix + name`.
    Kv { binding: String, prefix: String },
    /// An R2 bucket; files are objects under `prefix + name`.
    R2 { binding: String, prefix: String },
}

/// Why the bundle could not be fetched. Unlike a bundle that fails verification, this may
/// be transient (a binding hiccup), so the worker tries again on the next request.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "{SOURCE_VAR} is {0:?}; expected embedded, assets:<BINDING>, kv:<BINDING> or r2:<BINDING>"
    )]
    BadSource(String),
    #[error("this worker was built without the embedded model; set {SOURCE_VAR}")]
    NotEmbedded,
    #[error("{source_name} has no file `{key}`")]
    Missing { source_name: String, key: String },
    #[error("reading `{key}` from {source_name} failed: {reason}")]
    Binding {
        source_name: String,
        key: String,
        reason: String,
    },
    #[error("`{key}` from {source_name} is not a valid manifest: {reason}")]
    Manifest {
        source_name: String,
        key: String,
        reason: String,
    },
}

impl ModelSource {
    /// Parses `TRIAGE_MODEL_SOURCE` (unset means embedded) and `TRIAGE_MODEL_PREFIX`.
    pub fn parse(source: Option<&str>, prefix: Option<&str>) -> Result<ModelSource, FetchError> {
        let prefix = prefix.unwrap_or("").trim().to_owned();
        let source = source.map(str::trim).unwrap_or("");
        let (kind, binding) = source.split_once(':').unwrap_or((source, ""));
        let binding = binding.trim().to_owned();
        match (kind.trim(), binding.is_empty()) {
            ("" | "embedded", true) => Ok(ModelSource::Embedded),
            ("assets", false) => Ok(ModelSource::Assets { binding, prefix }),
            ("kv", false) => Ok(ModelSource::Kv { binding, prefix }),
            ("r2", false) => Ok(ModelSource::R2 { binding, prefix }),
            _ => Err(FetchError::BadSource(source.to_owned())),
        }
    }

    /// Reads the source from the worker's variables.
    pub fn from_env(env: &Env) -> Result<ModelSource, FetchError> {
        let var = |name| crate::settings::var(env, name);
        ModelSource::parse(var(SOURCE_VAR).as_deref(), var(PREFIX_VAR).as_deref())
    }

    /// Fetches `manifest.json` and the files it names, under the prefix. The checksums
    /// are checked later, when the core loads the bundle.
    pub async fn fetch(&self, env: &Env) -> Result<OwnedBundle, FetchError> {
        self.fetch_bundle(env, "").await
    }

    /// [`ModelSource::fetch`] for the bundle `TRIAGE_MODELS` calls `name`: its files are
    /// under the prefix + `name/`.
    pub async fn fetch_named(&self, env: &Env, name: &str) -> Result<OwnedBundle, FetchError> {
        self.fetch_bundle(env, &format!("{name}/")).await
    }

    async fn fetch_bundle(&self, env: &Env, folder: &str) -> Result<OwnedBundle, FetchError> {
        let manifest_file = format!("{folder}manifest.json");
        let manifest = self.fetch_file(env, &manifest_file).await?;
        let parsed = Manifest::from_json(&manifest).map_err(|e| FetchError::Manifest {
            source_name: self.name(),
            key: self.key(&manifest_file),
            reason: e.to_string(),
        })?;
        let model = format!("{folder}{}", parsed.files.model.path);
        let tokenizer = format!("{folder}{}", parsed.files.tokenizer.path);
        Ok(OwnedBundle {
            model: self.fetch_file(env, &model).await?,
            tokenizer: self.fetch_file(env, &tokenizer).await?,
            manifest,
        })
    }

    /// A short description for errors: `kv:MODELS`.
    fn name(&self) -> String {
        match self {
            ModelSource::Embedded => "embedded".into(),
            ModelSource::Assets { binding, .. } => format!("assets:{binding}"),
            ModelSource::Kv { binding, .. } => format!("kv:{binding}"),
            ModelSource::R2 { binding, .. } => format!("r2:{binding}"),
        }
    }

    fn key(&self, file: &str) -> String {
        match self {
            ModelSource::Embedded => file.to_owned(),
            ModelSource::Assets { prefix, .. }
            | ModelSource::Kv { prefix, .. }
            | ModelSource::R2 { prefix, .. } => format!("{prefix}{file}"),
        }
    }

    async fn fetch_file(&self, env: &Env, file: &str) -> Result<Vec<u8>, FetchError> {
        let key = self.key(file);
        let failed = |reason: String| FetchError::Binding {
            source_name: self.name(),
            key: key.clone(),
            reason,
        };
        let found = match self {
            ModelSource::Embedded => return Err(FetchError::NotEmbedded),
            ModelSource::Assets { binding, .. } => {
                let assets = env.assets(binding).map_err(|e| failed(e.to_string()))?;
                // The host is ignored by the assets binding; only the path matters.
                let url = format!("https://assets.invalid/{}", key.trim_start_matches('/'));
                let response = assets
                    .fetch(url, None)
                    .await
                    .map_err(|e| failed(e.to_string()))?;
                if response.status() == http::StatusCode::NOT_FOUND {
                    None
                } else if !response.status().is_success() {
                    return Err(failed(format!("status {}", response.status())));
                } else {
                    let body = http_body_util::BodyExt::collect(response.into_body())
                        .await
                        .map_err(|e| failed(e.to_string()))?;
                    Some(body.to_bytes().to_vec())
                }
            }
            ModelSource::Kv { binding, .. } => env
                .kv(binding)
                .map_err(|e| failed(e.to_string()))?
                .get(&key)
                .bytes()
                .await
                .map_err(|e| failed(e.to_string()))?,
            ModelSource::R2 { binding, .. } => {
                let object = env
                    .bucket(binding)
                    .map_err(|e| failed(e.to_string()))?
                    .get(key.clone())
                    .execute()
                    .await
                    .map_err(|e| failed(e.to_string()))?;
                match object.as_ref().and_then(|o| o.body()) {
                    Some(body) => Some(body.bytes().await.map_err(|e| failed(e.to_string()))?),
                    None => None,
                }
            }
        };
        found.ok_or_else(|| FetchError::Missing {
            source_name: self.name(),
            key: key.clone(),
        })
    }
}
