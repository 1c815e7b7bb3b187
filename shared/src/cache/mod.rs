//! A semantic cache of remote answers, without I/O: entries are found by the exact text
//! first, then by the cosine similarity of the text's embedding to those of cached texts.
//!
//! Every entry lives in a [`Scope`]: a hash of everything an answer depends on besides the
//! text (a namespace, the model and its version, the labels or schema, the endpoint), so an
//! answer is only ever found by a request that would have been given the same one.
//!
//! Two stores share the lookup rule ([`nearest`]):
//! - [`MemoryCache`], in the process (native) or the isolate (Workers): a bounded LRU
//!   with a time to live; its nearest-neighbour search is a linear scan of the entries of
//!   the probe's scope, at most [`MemoryCache::capacity`] of them.
//! - a platform's key-value store (Workers KV, Spin's key-value store), through
//!   [`Probe::entry_key`] (the exact text's entry) and [`Probe::recent_key`] (a
//!   [`Recent`] list: the last [`RECENT`] entries of the scope, with their embeddings,
//!   scanned the same way).
//!
//! Entries in a platform store carry their own expiry ([`StoredEntry::expires`], unix
//! seconds), so the time to live holds on stores that have none (Spin's key-value store)
//! and for every entry of a recent list, which is rewritten, and so kept, at each new
//! answer of its scope.
//!
//! The embeddings are the embedding model's (potion-base-2m, 64 dimensions, unit
//! length), so cosine similarity is their dot product.

pub mod flight;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use web_time::{Instant, SystemTime, UNIX_EPOCH};

/// The largest answer kept, in bytes of JSON (a classify answer is about 50, a parse
/// object its asked fields): larger ones are not cached, so an entry stays small in memory
/// and in a platform store.
pub const MAX_ANSWER_BYTES: usize = 4096;

/// Memory an entry of [`MemoryCache`] is budgeted: an answer of up to [`MAX_ANSWER_BYTES`],
/// its key (64 bytes), a 64-dimension embedding (256) and the bookkeeping around them.
pub const ENTRY_BYTES: usize = 4608;

/// How many entries a scope's [`Recent`] list in a platform store keeps: the candidate
/// set of its nearest-neighbour search. 32 entries of 64 dimensions stay under 20 KB of
/// JSON, one store read.
pub const RECENT: usize = 32;

/// Everything an answer depends on besides its text, hashed (SHA-256 over the
/// length-prefixed parts).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scope([u8; 32]);

impl Scope {
    /// The scope of `parts`: the namespace, the route, the model's name and version, its
    /// labels or the schema, the endpoint. Parts are length-prefixed, so no two lists
    /// give the same scope by concatenation.
    pub fn new<P: AsRef<[u8]>>(parts: &[P]) -> Scope {
        let mut hash = Sha256::new();
        for part in parts {
            let part = part.as_ref();
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part);
        }
        Scope(hash.finalize().into())
    }

    /// Lower-case hex, 64 characters.
    pub fn hex(&self) -> String {
        hex(&self.0)
    }
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scope({})", &self.hex()[..12])
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The text as the exact-match key reads it: runs of white space as one space, trimmed.
/// Case and punctuation stay (they can change an answer).
pub fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One text looked up in, or added to, a cache.
#[derive(Debug, Clone)]
pub struct Probe {
    scope: Scope,
    /// SHA-256 of the scope and the [`normalise`]d text, hex.
    key: String,
    /// The text's embedding (unit length), when an embedding model is loaded: without it
    /// only exact matches are found.
    embedding: Option<Vec<f32>>,
}

impl Probe {
    /// `text` in `scope`, with its embedding if there is one.
    pub fn new(scope: Scope, text: &str, embedding: Option<Vec<f32>>) -> Probe {
        let mut hash = Sha256::new();
        hash.update(scope.0);
        hash.update(normalise(text).as_bytes());
        Probe {
            scope,
            key: hex(&hash.finalize()),
            embedding,
        }
    }

    /// The exact text's entry key in a platform store: `triage-cache/<scope>/<text hash>`
    /// (146 bytes; Workers KV takes 512).
    pub fn entry_key(&self) -> String {
        format!("triage-cache/{}/{}", self.scope.hex(), self.key)
    }

    /// The key of the scope's [`Recent`] list in a platform store.
    pub fn recent_key(&self) -> String {
        format!("triage-cache/{}/recent", self.scope.hex())
    }

    /// The embedding, if any.
    pub fn embedding(&self) -> Option<&[f32]> {
        self.embedding.as_deref()
    }
}

/// A cached answer found for a probe.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The answer as it was stored.
    pub value: Arc<[u8]>,
    /// Cosine similarity of the probe's embedding to the cached text's, 1.0 for the
    /// same text.
    pub similarity: f32,
    /// Whether the cached text is the probe's text ([`normalise`]d).
    pub exact: bool,
}

/// Cosine similarity of two unit vectors, in [-1, 1] (rounding can take a dot product of
/// unit vectors just past 1); 0 when their lengths differ.
fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| x * y)
        .sum::<f32>()
        .clamp(-1.0, 1.0)
}

/// The candidate most similar to `embedding` at `min_similarity` or above, and its
/// similarity: a linear scan (ties: the first, i.e. the most recent in the stores' order).
pub fn nearest<'a, T>(
    embedding: &[f32],
    candidates: impl IntoIterator<Item = (&'a [f32], T)>,
    min_similarity: f32,
) -> Option<(T, f32)> {
    let mut best: Option<(T, f32)> = None;
    for (vector, item) in candidates {
        let similarity = cosine(embedding, vector);
        if similarity >= min_similarity && best.as_ref().is_none_or(|(_, s)| similarity > *s) {
            best = Some((item, similarity));
        }
    }
    best
}

struct Entry {
    scope: Scope,
    embedding: Option<Vec<f32>>,
    value: Arc<[u8]>,
    expires: Instant,
}

/// Bytes an entry holds: its key, embedding and value, and a fixed 128 for the rest.
fn entry_bytes(key: &str, entry: &Entry) -> usize {
    key.len() + entry.embedding.as_ref().map_or(0, |e| e.len() * 4) + entry.value.len() + 128
}

/// An in-process cache: at most `capacity` entries and [`MemoryCache::reserved_bytes`]
/// bytes, each kept `ttl` after it was added, the least recently used dropped first.
/// Behind a mutex: shared by the native server's threads; uncontended on Workers and Spin.
pub struct MemoryCache {
    capacity: usize,
    ttl: Duration,
    /// Most recently used first; lookups are linear scans, `capacity` bounds them.
    entries: Mutex<VecDeque<(String, Entry)>>,
}

impl std::fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCache")
            .field("capacity", &self.capacity)
            .field("ttl", &self.ttl)
            .field("len", &self.len())
            .finish()
    }
}

impl MemoryCache {
    /// An empty cache of `capacity` entries (at least one) kept `ttl` each.
    pub fn new(capacity: usize, ttl: Duration) -> MemoryCache {
        MemoryCache {
            capacity: capacity.max(1),
            ttl,
            entries: Mutex::new(VecDeque::new()),
        }
    }

    /// The most entries it keeps.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The most memory its entries take, in bytes: `capacity` times [`ENTRY_BYTES`]. An
    /// entry with a larger embedding counts for more, and older entries make room.
    pub fn reserved_bytes(&self) -> usize {
        self.capacity * ENTRY_BYTES
    }

    /// How many entries it holds now (expired ones included until a lookup drops them).
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entry of the probe's text, else the entry of its scope whose embedding is most
    /// similar to the probe's at `min_similarity` or above (none without an embedding).
    /// Expired entries are dropped on the way; a hit becomes the most recently used.
    pub fn get(&self, probe: &Probe, min_similarity: f32) -> Option<Hit> {
        let now = Instant::now();
        let mut entries = self.entries.lock().ok()?;
        entries.retain(|(_, entry)| entry.expires > now);
        let exact = entries.iter().position(|(key, _)| *key == probe.key);
        let (index, similarity) = match exact {
            Some(index) => (index, 1.0),
            None => {
                let embedding = probe.embedding.as_deref()?;
                let candidates = entries.iter().enumerate().filter_map(|(index, (_, e))| {
                    let vector = e.embedding.as_deref().filter(|_| e.scope == probe.scope)?;
                    Some((vector, index))
                });
                nearest(embedding, candidates, min_similarity)?
            }
        };
        let found = entries.remove(index)?;
        let hit = Hit {
            value: found.1.value.clone(),
            similarity,
            exact: exact.is_some(),
        };
        entries.push_front(found);
        Some(hit)
    }

    /// Adds `value` as the probe text's answer (replacing an older one), dropping the
    /// least recently used entry when full.
    pub fn put(&self, probe: &Probe, value: impl Into<Arc<[u8]>>) {
        let entry = Entry {
            scope: probe.scope,
            embedding: probe.embedding.clone(),
            value: value.into(),
            expires: Instant::now() + self.ttl,
        };
        let size = entry_bytes(&probe.key, &entry);
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if size > self.reserved_bytes() {
            return;
        }
        entries.retain(|(key, _)| *key != probe.key);
        entries.truncate(self.capacity - 1);
        let mut held: usize = entries.iter().map(|(k, e)| entry_bytes(k, e)).sum();
        while held + size > self.reserved_bytes() {
            let Some((key, dropped)) = entries.pop_back() else {
                break;
            };
            held -= entry_bytes(&key, &dropped);
        }
        entries.push_front((probe.key.clone(), entry));
    }
}

/// Seconds since the Unix epoch now, by the platform's wall clock (0 if it is set before
/// 1970): what [`StoredEntry::expires`] is compared with.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// A scope's last [`RECENT`] entries in a platform store, newest first: the candidate set
/// of the nearest-neighbour search there. Stored as JSON at [`Probe::recent_key`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Recent {
    pub entries: Vec<StoredEntry>,
}

/// One answer in a platform store: the text's key, its embedding, the answer and when it
/// goes stale. Stored alone at [`Probe::entry_key`] (without the embedding) and in the
/// scope's [`Recent`] list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEntry {
    /// The probe's text hash (hex).
    pub key: String,
    /// The text's embedding, if there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Vec<f32>>,
    /// The answer, as the route stored it (JSON).
    pub value: serde_json::Value,
    /// Unix time, in seconds, from which the entry is stale ([`unix_now`] plus the time to
    /// live when it was written). An entry without one is stale.
    #[serde(default)]
    pub expires: u64,
}

impl StoredEntry {
    /// The probe's answer `value` (JSON), stale from `expires` (unix seconds); `None`
    /// when `value` is not JSON.
    pub fn new(probe: &Probe, value: &[u8], expires: u64) -> Option<StoredEntry> {
        Some(StoredEntry {
            key: probe.key.clone(),
            embedding: probe.embedding.clone(),
            value: serde_json::from_slice(value).ok()?,
            expires,
        })
    }

    /// Whether the entry is still good at `now` (unix seconds).
    pub fn is_fresh(&self, now: u64) -> bool {
        now < self.expires
    }

    /// The answer of a text's own entry, as stored at [`Probe::entry_key`], if it is the
    /// probe's text and fresh at `now`; anything else (stale, unreadable, another text)
    /// is `None`: a miss.
    pub fn read(bytes: &[u8], probe: &Probe, now: u64) -> Option<Hit> {
        let entry: StoredEntry = serde_json::from_slice(bytes).ok()?;
        (entry.key == probe.key && entry.is_fresh(now)).then(|| entry.hit(1.0, true))
    }

    /// The entry as stored at [`Probe::entry_key`]: without the embedding, which only the
    /// recent list's search reads.
    pub fn to_bytes(&self) -> Vec<u8> {
        let alone = StoredEntry {
            embedding: None,
            ..self.clone()
        };
        serde_json::to_vec(&alone).unwrap_or_default()
    }

    fn hit(&self, similarity: f32, exact: bool) -> Hit {
        Hit {
            value: Arc::from(serde_json::to_vec(&self.value).unwrap_or_default()),
            similarity,
            exact,
        }
    }
}

impl Recent {
    /// Reads a stored list; anything that does not parse is an empty one (a cache that
    /// cannot be read is a miss, not an error).
    pub fn from_bytes(bytes: &[u8]) -> Recent {
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    /// The fresh (at `now`, unix seconds) entry of the probe's text, else the most similar
    /// fresh one at `min_similarity` or above.
    pub fn find(&self, probe: &Probe, min_similarity: f32, now: u64) -> Option<Hit> {
        let fresh = self.entries.iter().filter(|e| e.is_fresh(now));
        if let Some(entry) = fresh.clone().find(|e| e.key == probe.key) {
            return Some(entry.hit(1.0, true));
        }
        let embedding = probe.embedding.as_deref()?;
        let candidates = fresh.filter_map(|e| Some((e.embedding.as_deref()?, e)));
        let (entry, similarity) = nearest(embedding, candidates, min_similarity)?;
        Some(entry.hit(similarity, false))
    }

    /// Adds `entry` in front, dropping an older entry of the same text, those stale at
    /// `now` (unix seconds) and any past [`RECENT`].
    pub fn with(mut self, entry: StoredEntry, now: u64) -> Recent {
        self.entries
            .retain(|e| e.key != entry.key && e.is_fresh(now));
        self.entries.truncate(RECENT - 1);
        self.entries.insert(0, entry);
        self
    }

    /// The list as stored.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / norm).collect()
    }

    fn probe(scope: &str, text: &str, embedding: &[f32]) -> Probe {
        Probe::new(Scope::new(&[scope]), text, Some(unit(embedding)))
    }

    #[test]
    fn scopes_are_length_prefixed() {
        assert_ne!(Scope::new(&["ab", "c"]), Scope::new(&["a", "bc"]));
        assert_eq!(Scope::new(&["a", "b"]), Scope::new(&["a", "b"]));
    }

    #[test]
    fn exact_then_nearest_within_a_scope() {
        let cache = MemoryCache::new(8, Duration::from_secs(60));
        cache.put(
            &probe("s", "free  cruise now", &[1.0, 0.0]),
            &b"\"spam\""[..],
        );
        let hit = cache.get(&probe("s", " free cruise now ", &[0.0, 1.0]), 0.9);
        let hit = hit.expect("same text after white space");
        assert!(hit.exact && hit.similarity == 1.0);
        assert_eq!(&*hit.value, b"\"spam\"");

        let near = cache
            .get(&probe("s", "free cruise today", &[0.99, 0.1]), 0.9)
            .expect("a similar text");
        assert!(!near.exact && near.similarity > 0.99 && near.similarity < 1.0);
        assert_eq!(
            cache.get(&probe("s", "lunch?", &[0.5, 0.5]), 0.9),
            None,
            "cosine 0.71 is under 0.9"
        );
        assert_eq!(
            cache.get(&probe("other", "free cruise now", &[1.0, 0.0]), 0.9),
            None,
            "another scope never sees it, even for the same text"
        );
        let no_embedding = Probe::new(Scope::new(&["s"]), "free cruise today", None);
        assert_eq!(cache.get(&no_embedding, 0.5), None, "exact only");
    }

    #[test]
    fn bounded_and_least_recently_used_first() {
        let cache = MemoryCache::new(2, Duration::from_secs(60));
        let (a, b, c) = (
            probe("s", "a", &[1.0, 0.0, 0.0]),
            probe("s", "b", &[0.0, 1.0, 0.0]),
            probe("s", "c", &[0.0, 0.0, 1.0]),
        );
        cache.put(&a, &b"1"[..]);
        cache.put(&b, &b"2"[..]);
        assert!(cache.get(&a, 1.0).is_some(), "a is now the most recent");
        cache.put(&c, &b"3"[..]);
        assert_eq!(cache.len(), 2);
        assert!(
            cache.get(&b, 1.0).is_none(),
            "b was the least recently used"
        );
        assert!(cache.get(&a, 1.0).is_some() && cache.get(&c, 1.0).is_some());
        cache.put(&c, &b"4"[..]);
        assert_eq!(&*cache.get(&c, 1.0).unwrap().value, b"4", "replaced");
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn bounded_in_bytes_too() {
        let cache = MemoryCache::new(2, Duration::from_secs(60));
        assert_eq!(cache.reserved_bytes(), 2 * ENTRY_BYTES);
        let (a, b) = (probe("s", "a", &[1.0, 0.0]), probe("s", "b", &[0.0, 1.0]));
        cache.put(&a, vec![b'1'; MAX_ANSWER_BYTES]);
        cache.put(&b, vec![b'2'; MAX_ANSWER_BYTES]);
        assert_eq!(cache.len(), 2, "two answers of the largest size fit");
        // One entry of three answers' size pushes both out; one over the whole budget is
        // not kept.
        let c = probe("s", "c", &[-1.0, 0.0]);
        cache.put(&c, vec![b'3'; 2 * MAX_ANSWER_BYTES]);
        assert_eq!(cache.len(), 1);
        assert!(cache.get(&c, 1.0).is_some());
        cache.put(&a, vec![b'4'; 3 * MAX_ANSWER_BYTES]);
        assert!(cache.get(&a, 1.0).is_none());
        assert!(cache.get(&c, 1.0).is_some(), "kept");
    }

    #[test]
    fn entries_expire() {
        let cache = MemoryCache::new(4, Duration::ZERO);
        let a = probe("s", "a", &[1.0]);
        cache.put(&a, &b"1"[..]);
        assert_eq!(cache.get(&a, 0.0), None);
        assert!(cache.is_empty());
    }

    fn entry(p: &Probe, value: &str, expires: u64) -> StoredEntry {
        StoredEntry::new(p, value.as_bytes(), expires).expect("JSON")
    }

    #[test]
    fn recent_lists_are_bounded_and_searched_alike() {
        let now = 1_000;
        let mut recent = Recent::default();
        for i in 0..(RECENT + 5) {
            let angle = i as f32 * 0.3;
            let p = probe("s", &format!("text {i}"), &[angle.cos(), angle.sin()]);
            recent = recent.with(entry(&p, &format!("{i}"), now + 60), now);
        }
        assert_eq!(recent.entries.len(), RECENT);
        let stored = Recent::from_bytes(&recent.to_bytes());
        assert_eq!(stored, recent, "round trip");
        let newest = probe("s", &format!("text {}", RECENT + 4), &[0.0, 1.0]);
        let hit = stored.find(&newest, 0.99, now).expect("exact");
        assert!(hit.exact);
        assert_eq!(&*hit.value, format!("{}", RECENT + 4).as_bytes());
        assert!(stored
            .find(&probe("s", "gone", &[1.0, 0.0]), 0.99999, now)
            .is_none());
        assert_eq!(Recent::from_bytes(b"not json"), Recent::default());
        assert!(StoredEntry::new(&newest, b"{not json", now).is_none());
    }

    #[test]
    fn stored_entries_go_stale_at_their_expiry() {
        let now = 1_000;
        let (a, b) = (probe("s", "a", &[1.0, 0.0]), probe("s", "b", &[0.0, 1.0]));
        let old = entry(&a, "1", now + 1);
        let bytes = old.to_bytes();
        assert!(!String::from_utf8_lossy(&bytes).contains("embedding"));
        assert_eq!(&*StoredEntry::read(&bytes, &a, now).unwrap().value, b"1");
        assert_eq!(StoredEntry::read(&bytes, &a, now + 1), None, "stale");
        assert_eq!(StoredEntry::read(&bytes, &b, now), None, "another text");
        assert_eq!(StoredEntry::read(b"1", &a, now), None, "not an entry");
        let without_expiry = br#"{"key":"k","value":1}"#;
        assert_eq!(StoredEntry::read(without_expiry, &a, 0), None);

        // A recent list rewritten at each answer does not keep its old entries alive.
        let recent = Recent::default().with(old, now);
        assert!(recent.find(&a, 1.0, now).is_some());
        assert!(recent.find(&a, 1.0, now + 1).is_none(), "stale in the list");
        assert!(recent
            .find(&probe("s", "a2", &[1.0, 0.0]), 0.5, now + 1)
            .is_none());
        let rewritten = recent.with(entry(&b, "2", now + 61), now + 1);
        assert_eq!(rewritten.entries.len(), 1, "the stale entry is dropped");
        assert!(unix_now() > 1_700_000_000, "the wall clock is read");
    }
}
