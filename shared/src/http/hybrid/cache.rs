//! The semantic cache of escalations: a remote answer is kept, and a later unsure text
//! that is the same, or whose embedding is within `cache_similarity` of a cached one's,
//! gets it without a remote call (`source: "cache"`, with the similarity).
//!
//! | setting | default | meaning |
//! |---|---|---|
//! | `cache_ttl_s` | unset: no cache | seconds a remote answer is kept (1..=31536000; Workers KV keeps at least 60) |
//! | `cache_similarity` | [`DEFAULT_SIMILARITY`] | least cosine similarity of embeddings for a hit; `1` finds the same text only |
//! | `cache_capacity` | [`DEFAULT_CAPACITY`] | entries kept in the process or isolate (least recently used dropped first) |
//! | `cache_namespace` | empty | part of every key: deployments or tenants sharing a store never see each other's answers |
//!
//! An answer is found only in its scope ([`crate::cache::Scope`]): the namespace, the
//! route, the answering model's name, version and weights' hash, its labels, and the
//! endpoint. The text looked up is the text that would be sent (after
//! redaction), so two texts that differ only in the personal data replaced share an
//! answer. Embeddings come from the embedding model (feature `parse`); without it, or
//! when it is not loaded, only the same text is found.
//!
//! Where entries live: in the process or isolate ([`crate::cache::MemoryCache`]), and in
//! the platform's key-value store when the adapter has one ([`crate::http::Platform`]:
//! Workers KV), read after an in-process miss and written after a remote answer.

use std::sync::Arc;
use std::time::Duration;

use crate::cache::flight::{Flight, Flights, Role};
use crate::cache::{unix_now, MemoryCache, Probe, Scope, StoredEntry, MAX_ANSWER_BYTES};
use crate::engine::classify::Timings;
use crate::engine::manifest::Manifest;
use crate::error::{Result, TriageError};
use crate::http::hybrid::escalation::{setting, Endpoint};

/// The cache settings, in snake case like [`crate::Settings::KEYS`].
pub const KEYS: [&str; 4] = [
    "cache_ttl_s",
    "cache_similarity",
    "cache_capacity",
    "cache_namespace",
];

/// The least cosine similarity for a hit when `cache_similarity` is unset: 1, the same
/// text only. Similar-text hits are opt-in: a mean of static token embeddings does not see
/// word order, and a short instruction added to a long text barely moves it, so an input
/// built for it can take a cached answer meant for another text (docs/hybrid.md; the
/// replay figures for lower values are in bench/RESULTS.md, "semantic cache").
pub const DEFAULT_SIMILARITY: f32 = 1.0;

/// Entries kept in the process or isolate when `cache_capacity` is unset: 64-dimension
/// embeddings and small answers, about 1 KB each; a miss scans them in tens of µs.
pub const DEFAULT_CAPACITY: usize = 1024;

/// The most entries `cache_capacity` may ask for: about 10 MB, and a miss's scan of them
/// well under a millisecond natively.
pub const MAX_CAPACITY: usize = 10_000;

/// The longest `cache_namespace`, in bytes.
pub const MAX_NAMESPACE_BYTES: usize = 128;

/// The configured cache: its settings and the in-process entries.
#[derive(Debug)]
pub struct Cache {
    /// How long an answer is kept.
    pub ttl: Duration,
    /// The least cosine similarity of a hit that is not the same text.
    pub similarity: f32,
    /// Part of every scope.
    pub namespace: String,
    /// The entries in this process or isolate.
    pub memory: MemoryCache,
    /// The remote calls on their way, which requests for the same text wait for.
    pub flights: Flights,
}

impl Cache {
    /// Reads [`KEYS`] through `lookup`; `None` without `cache_ttl_s`. Errors:
    /// [`TriageError::Setting`] naming a value out of range, or a cache setting given
    /// without `cache_ttl_s`.
    pub fn from_lookup(lookup: impl Fn(&'static str) -> Option<String>) -> Result<Option<Cache>> {
        let Some(ttl) = setting(&lookup, "cache_ttl_s") else {
            if let Some(key) = KEYS[1..].iter().find(|k| setting(&lookup, k).is_some()) {
                return Err(TriageError::setting(
                    key,
                    "is set but the cache is off: set cache_ttl_s (seconds) to turn it on",
                ));
            }
            return Ok(None);
        };
        let ttl = ttl
            .parse::<u64>()
            .ok()
            .filter(|s| (1..=31_536_000).contains(s))
            .map(Duration::from_secs)
            .ok_or_else(|| bad("cache_ttl_s", &ttl, "seconds in 1..=31536000"))?;
        let similarity = match setting(&lookup, "cache_similarity") {
            None => DEFAULT_SIMILARITY,
            Some(text) => text
                .parse::<f32>()
                .ok()
                .filter(|s| *s > 0.0 && *s <= 1.0)
                .ok_or_else(|| bad("cache_similarity", &text, "a number in (0, 1]"))?,
        };
        let capacity = match setting(&lookup, "cache_capacity") {
            None => DEFAULT_CAPACITY,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_CAPACITY).contains(n))
                .ok_or_else(|| bad("cache_capacity", &text, "entries in 1..=10000"))?,
        };
        let namespace = setting(&lookup, "cache_namespace").unwrap_or_default();
        if namespace.len() > MAX_NAMESPACE_BYTES {
            return Err(TriageError::setting(
                "cache_namespace",
                format!(
                    "is {} bytes, more than {MAX_NAMESPACE_BYTES}",
                    namespace.len()
                ),
            ));
        }
        Ok(Some(Cache {
            ttl,
            similarity,
            namespace,
            memory: MemoryCache::new(capacity, ttl),
            flights: Flights::default(),
        }))
    }

    /// The scope of `parts` (what the answer depends on besides the text) in this
    /// cache's namespace.
    pub fn scope(&self, parts: &[&str]) -> Scope {
        let mut all = vec!["triage-cache/1", self.namespace.as_str()];
        all.extend_from_slice(parts);
        Scope::new(&all)
    }

    /// The probe of `sent` (the text as `endpoint` would receive it) for `route`'s answers
    /// by the model of `manifest` (name, version, weights' sha256) under `config` (the
    /// labels, the schema document), with its embedding if any.
    pub(crate) fn probe(
        &self,
        route: &str,
        manifest: &Manifest,
        config: &str,
        endpoint: &Endpoint,
        sent: &str,
        embedding: Option<Vec<f32>>,
    ) -> Probe {
        let url = endpoint.url.to_string();
        let scope = self.scope(&[
            route,
            &manifest.name,
            &manifest.version,
            &manifest.files.model.sha256,
            config,
            &url,
        ]);
        Probe::new(scope, sent, embedding)
    }
}

/// What an outbound escalation carries for the cache: where to add its answer.
#[derive(Debug)]
pub struct Pending {
    pub(crate) cache: Arc<Cache>,
    pub(crate) probe: Probe,
    /// The scope's recent list as the platform store held it, once read.
    pub(crate) recent: Option<crate::cache::Recent>,
    /// Whether this request asks the remote for its text, or waits for another request
    /// of this process that already does ([`crate::cache::flight`]).
    pub(crate) role: Role,
}

/// A write for the platform's store, after a remote answer.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreWrite {
    /// The key (at most 146 bytes of `[a-z0-9/-]`).
    pub key: String,
    /// The bytes to keep (JSON).
    pub value: Vec<u8>,
    /// How long to keep them.
    pub ttl: Duration,
}

impl Pending {
    /// What an escalation of `probe` carries for `cache` (the recent list not read yet),
    /// leading or following the flight of its text.
    pub(crate) fn new(cache: &Arc<Cache>, probe: Probe) -> Box<Pending> {
        let role = cache.flights.join(probe.entry_key().as_str());
        Box::new(Pending {
            cache: Arc::clone(cache),
            probe,
            recent: None,
            role,
        })
    }

    /// The flight to wait for, when another request led it (it may have landed since:
    /// then its answer is in the process already).
    pub(crate) fn flight_to_follow(&self) -> Option<Arc<Flight>> {
        match &self.role {
            Role::Follow(flight) => Some(Arc::clone(flight)),
            Role::Lead(_) => None,
        }
    }

    /// Keeps `answer` (JSON) in the process, and gives the platform store's writes: the
    /// text's own entry, and the scope's recent list with it in front when that list
    /// was read. Both carry the entry's expiry ([`StoredEntry::expires`]); an answer that
    /// is not JSON goes to the process only, and one over [`MAX_ANSWER_BYTES`] nowhere.
    pub(crate) fn keep(self, answer: &[u8]) -> Vec<StoreWrite> {
        if answer.len() > MAX_ANSWER_BYTES {
            return Vec::new();
        }
        self.cache.memory.put(&self.probe, answer);
        let now = unix_now();
        let expires = now.saturating_add(self.cache.ttl.as_secs());
        let Some(entry) = StoredEntry::new(&self.probe, answer, expires) else {
            return Vec::new();
        };
        let mut writes = vec![StoreWrite {
            key: self.probe.entry_key(),
            value: entry.to_bytes(),
            ttl: self.cache.ttl,
        }];
        // Only a list that was read is rewritten: one never read would replace the
        // scope's list with this entry alone.
        if let Some(recent) = self.recent {
            writes.push(StoreWrite {
                key: self.probe.recent_key(),
                value: recent.with(entry, now).to_bytes(),
                ttl: self.cache.ttl,
            });
        }
        writes
    }
}

/// The embedding of `text` for a cache lookup, when the cache looks for similar texts
/// and the embedding model is loaded; the time it takes goes to `timings`. `None` (the
/// same text only) as well when the embedding would not stand for the whole text: the
/// embedding model read only its beginning (`truncated`), or it holds tokens that model
/// cannot read (unknown tokens all embed alike, so unreadable texts would all look the
/// same).
pub(crate) fn embedding(
    service: &crate::http::service::Service,
    cache: &Cache,
    text: &str,
    timings: &mut Timings,
) -> Option<Vec<f32>> {
    if cache.similarity >= 1.0 {
        return None;
    }
    #[cfg(feature = "parse")]
    {
        let parser = service.parser_slot().ok()?;
        let embedded = parser.embedder().embed_timed(text, timings).ok()?;
        (!embedded.truncated && embedded.unknown_tokens == 0).then_some(embedded.vector)
    }
    #[cfg(not(feature = "parse"))]
    {
        let _ = (service, text, timings);
        None
    }
}

fn bad(key: &str, text: &str, expected: &str) -> TriageError {
    TriageError::setting(key, format!("is {text:?}, expected {expected}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::http::hybrid::lookup_from as lookup;

    #[test]
    fn off_without_a_ttl_and_defaults_with_one() {
        assert!(Cache::from_lookup(lookup(&[])).unwrap().is_none());
        let cache = Cache::from_lookup(lookup(&[("cache_ttl_s", "600")]))
            .unwrap()
            .expect("on");
        assert_eq!(cache.ttl, Duration::from_secs(600));
        assert_eq!(cache.similarity, DEFAULT_SIMILARITY);
        assert_eq!(cache.memory.capacity(), DEFAULT_CAPACITY);
        assert_eq!(cache.namespace, "");
    }

    #[test]
    fn bad_settings_name_the_setting() {
        for (pairs, key) in [
            (&[("cache_ttl_s", "0")][..], "cache_ttl_s"),
            (&[("cache_ttl_s", "soon")][..], "cache_ttl_s"),
            (
                &[("cache_ttl_s", "60"), ("cache_similarity", "0")][..],
                "cache_similarity",
            ),
            (
                &[("cache_ttl_s", "60"), ("cache_similarity", "1.5")][..],
                "cache_similarity",
            ),
            (
                &[("cache_ttl_s", "60"), ("cache_capacity", "0")][..],
                "cache_capacity",
            ),
            (
                &[("cache_ttl_s", "60"), ("cache_capacity", "10001")][..],
                "cache_capacity",
            ),
            (&[("cache_similarity", "0.9")][..], "cache_similarity"),
            (&[("cache_namespace", "tenant-a")][..], "cache_namespace"),
        ] {
            let error = Cache::from_lookup(lookup(pairs)).unwrap_err().to_string();
            assert!(error.contains(key), "{key}: {error}");
        }
    }

    #[test]
    fn namespaces_separate_scopes() {
        let a = Cache::from_lookup(lookup(&[("cache_ttl_s", "60"), ("cache_namespace", "a")]))
            .unwrap()
            .unwrap();
        let b = Cache::from_lookup(lookup(&[("cache_ttl_s", "60"), ("cache_namespace", "b")]))
            .unwrap()
            .unwrap();
        assert_ne!(a.scope(&["classify", "m"]), b.scope(&["classify", "m"]));
        assert_eq!(a.scope(&["classify", "m"]), a.scope(&["classify", "m"]));
    }
}
