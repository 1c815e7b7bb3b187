//! The semantic cache through the request loop every Workers- and Spin-style adapter runs
//! ([`Service::respond`]), with a platform whose outbound requests and key-value store are
//! in memory: which answers come from the process, which from the platform's store, and
//! which need a remote call. (The HTTP suites run the same through real runtimes.)

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use serde_json::{json, Value};
use triage_core::http::{Outbound, Platform, SendError, Service};
use triage_core::{bundle, embed, Classifier, Embedder, Settings};

/// A platform whose sends are answered by a remote model that says `spam`, counted, and
/// whose store (when it has one) is a map.
struct Memory {
    store: Option<RefCell<HashMap<String, Vec<u8>>>>,
    sent: RefCell<Vec<Value>>,
    /// While false, a remote call (once counted) waits: its request stays in flight.
    open: Cell<bool>,
}

impl Memory {
    fn new(with_store: bool) -> Memory {
        Memory {
            store: with_store.then(|| RefCell::new(HashMap::new())),
            sent: RefCell::new(Vec::new()),
            open: Cell::new(true),
        }
    }
}

impl Platform for Memory {
    async fn send(&self, outbound: &mut Outbound) -> Result<Response<Vec<u8>>, SendError> {
        let request = outbound.take_request();
        let body: Value = serde_json::from_slice(request.body()).expect("a JSON escalation");
        self.sent.borrow_mut().push(body);
        std::future::poll_fn(|_| match self.open.get() {
            true => Poll::Ready(()),
            false => Poll::Pending,
        })
        .await;
        let reply: &[u8] = if request.uri().path() == "/complete" {
            br#"{"object":{"category":"billing","orderId":"ORD-48213"}}"#
        } else {
            br#"{"label":"spam","score":0.97}"#
        };
        Ok(Response::new(reply.to_vec()))
    }

    fn has_cache_store(&self) -> bool {
        self.store.is_some()
    }

    async fn cache_get(&self, key: &str) -> Option<Vec<u8>> {
        self.store.as_ref()?.borrow().get(key).cloned()
    }

    /// Yields once: the test polls again when it has let the other request go on.
    async fn pause(&self, _: Duration) -> bool {
        let mut yielded = false;
        std::future::poll_fn(|_| {
            if yielded {
                Poll::Ready(true)
            } else {
                yielded = true;
                Poll::Pending
            }
        })
        .await
    }

    async fn cache_put(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        assert_eq!(ttl, Duration::from_secs(600));
        assert!(
            key.len() <= 512 && key.starts_with("triage-cache/"),
            "{key}"
        );
        if let Some(store) = &self.store {
            store.borrow_mut().insert(key.to_owned(), value);
        }
    }
}

/// Polls `future` to the end: everything here is ready at once.
fn run<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}

/// spam-mini and the embedding model, escalating below 0.9 (by default to
/// `http://remote.test/escalate`), with the cache on and the settings `extra` (which win).
fn service(extra: &[(&str, &str)]) -> Service {
    let settings = Settings::default();
    let mut pairs: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    pairs.extend([
        (
            "escalation_url".into(),
            "http://remote.test/escalate".into(),
        ),
        ("escalation_threshold".into(), "0.9".into()),
        (
            "parse_escalation_url".into(),
            "http://remote.test/complete".into(),
        ),
        ("cache_ttl_s".into(), "600".into()),
    ]);
    Service::builder(&settings)
        .classifier(Classifier::load_with(bundle::embedded(), &settings))
        .embedder(Embedder::load_with(embed::embedded(), &settings))
        .build(|key| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
        .expect("the settings parse")
}

/// The answer to classifying `text` on `platform`.
fn classify(service: &Service, platform: &Memory, text: &str) -> Value {
    post(service, platform, "/v1/classify", json!({ "text": text }))
}

/// The answer to parsing `text` on `platform` with a schema whose `category` the edge
/// model is not sure of at threshold 0.99.
fn parse(service: &Service, platform: &Memory, text: &str) -> Value {
    parse_at(service, platform, text, 0.99)
}

/// [`parse`] at `threshold`.
fn parse_at(service: &Service, platform: &Memory, text: &str, threshold: f64) -> Value {
    let schema = json!({"type": "object",
        "properties": {
            "category": {"type": "string", "enum": ["billing", "incident", "inquiry"]},
            "orderId": {"type": "string", "pattern": "^ORD-[0-9]{4,8}$"}},
        "required": ["category", "orderId"]});
    let body = json!({"text": text, "schema": schema, "threshold": threshold});
    post(service, platform, "/v1/parse", body)
}

/// The 200 answer to `body` at `path`.
fn post(service: &Service, platform: &Memory, path: &str, body: Value) -> Value {
    let (parts, body) = request(path, &body);
    answer(run(service.respond(parts, body, platform)))
}

/// A JSON POST of `body` to `path`, as the request loop takes it.
fn request(path: &str, body: &Value) -> (http::request::Parts, Full<Bytes>) {
    let body = serde_json::to_vec(body).unwrap();
    let (parts, ()) = Request::post(path)
        .header("content-type", "application/json")
        .body(())
        .unwrap()
        .into_parts();
    (parts, Full::new(Bytes::from(body)))
}

/// The body of a 200 answer.
fn answer(response: Response<Vec<u8>>) -> Value {
    let answer: Value = serde_json::from_slice(response.body()).expect("a JSON answer");
    assert_eq!(response.status(), 200, "{answer}");
    answer
}

/// Asserts that classifying `text` on `platform` is answered from `source` (`remote`,
/// `cache`).
fn assert_source(service: &Service, platform: &Memory, text: &str, source: &str) {
    let answer = classify(service, platform, text);
    assert_eq!(answer["source"], source, "{answer}");
}

/// Runic script, which spam-mini cannot read: always escalated.
fn unsure(tail: &str) -> String {
    format!("ᚠᚢᚦᚨᚱᚲ ᚷᚹᚺᚾ ᛁᛃ ᛇᛈᛉ {tail}")
}

#[test]
fn an_answer_dropped_by_the_process_comes_back_from_the_store() {
    // One entry in the process: the second text pushes the first out.
    let service = service(&[("cache_capacity", "1"), ("cache_similarity", "1")]);
    let platform = Memory::new(true);
    assert_source(&service, &platform, &unsure("one"), "remote");
    assert_source(&service, &platform, &unsure("two"), "remote");
    let again = classify(&service, &platform, &unsure("one"));
    assert_eq!(again["source"], "cache", "{again}");
    assert_eq!(
        (again["label"].as_str(), again["similarity"].as_f64()),
        (Some("spam"), Some(1.0))
    );
    assert_eq!(
        platform.sent.borrow().len(),
        2,
        "no remote call for the stored answer"
    );
    // Two keys per answer: the text's entry, the scope's recent list.
    assert_eq!(platform.store.as_ref().unwrap().borrow().len(), 3);

    // Without a store, the same sequence calls the remote model again.
    let service = self::service(&[("cache_capacity", "1"), ("cache_similarity", "1")]);
    let platform = Memory::new(false);
    for tail in ["one", "two", "one"] {
        assert_source(&service, &platform, &unsure(tail), "remote");
    }
    assert_eq!(platform.sent.borrow().len(), 3);
}

#[test]
fn stale_store_entries_are_misses_on_a_store_without_expiry() {
    // The in-memory store here keeps everything, as Spin's does: the entries' own expiry
    // must make a stale answer a miss, the text's entry and the recent list alike.
    let service = service(&[("cache_capacity", "1"), ("cache_similarity", "0.5")]);
    let platform = Memory::new(true);
    assert_source(&service, &platform, &unsure("one"), "remote");
    assert_source(&service, &platform, &unsure("two"), "remote");
    let store = platform.store.as_ref().unwrap();
    for value in store.borrow_mut().values_mut() {
        let text = String::from_utf8(value.clone()).unwrap();
        assert!(text.contains("\"expires\":"), "{text}");
        *value = expired_in_1970(&text).into_bytes();
    }
    assert_source(&service, &platform, &unsure("one"), "remote");
    assert_eq!(
        platform.sent.borrow().len(),
        3,
        "the stale answer was not used"
    );
    // The fresh answer written back replaces the stale one.
    assert_source(&service, &platform, &unsure("two"), "remote");
    assert_source(&service, &platform, &unsure("one"), "cache");
}

/// `text` with every `"expires":N` set to 1.
fn expired_in_1970(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("\"expires\":") {
        let (head, tail) = rest.split_at(at + "\"expires\":".len());
        out.push_str(head);
        out.push('1');
        rest = tail.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

#[test]
fn parse_answers_come_back_for_the_same_text_only() {
    let service = service(&[("cache_capacity", "1")]);
    let platform = Memory::new(true);
    let ticket = |n: u32| format!("I was charged twice for order ORD-4821{n}, please refund me.");
    assert_eq!(parse(&service, &platform, &ticket(3))["source"], "remote");
    assert_eq!(parse(&service, &platform, &ticket(4))["source"], "remote");
    // Out of the process (capacity 1), from the store:
    let again = parse(&service, &platform, &ticket(3));
    assert_eq!(again["source"], "cache", "{again}");
    assert_eq!(again["object"]["category"], "billing", "{again}");
    assert_eq!(again["object"]["orderId"], "ORD-48213", "{again}");
    // A similar text is another parse, whatever cache_similarity says.
    assert_eq!(parse(&service, &platform, &ticket(5))["source"], "remote");
    assert_eq!(platform.sent.borrow().len(), 3);
    // At another threshold the kept answer still only speaks for `category`: the
    // endpoint's echo of `orderId` was not kept, and the edge model's value stands.
    let stricter = parse_at(&service, &platform, &ticket(3), 1.0);
    assert_eq!(stricter["source"], "cache", "{stricter}");
    assert_eq!(
        stricter["local"],
        json!({"category": "billing"}),
        "{stricter}"
    );
    assert_eq!(
        stricter["fields"]["orderId"]["confident"], true,
        "{stricter}"
    );
}

#[test]
fn a_similar_text_is_found_in_the_process_and_in_the_store() {
    let first = "please refund my order, it arrived broken";
    // The edge model reads both as ham (a variant it reads as spam would not match).
    let similar = "please refund my order it arrived broken";
    for capacity in ["1024", "1"] {
        let service = service(&[
            ("cache_capacity", capacity),
            ("cache_similarity", "0.9"),
            // Every text escalates, read or not.
            ("escalation_threshold", "1"),
        ]);
        let platform = Memory::new(true);
        assert_source(&service, &platform, first, "remote");
        if capacity == "1" {
            // Pushes the first out of the process: the store's recent list has both.
            assert_source(&service, &platform, "ᛟᛞ", "remote");
        }
        let answer = classify(&service, &platform, similar);
        assert_eq!(answer["source"], "cache", "capacity {capacity}: {answer}");
        let similarity = answer["similarity"].as_f64().unwrap();
        assert!((0.9..1.0).contains(&similarity), "{answer}");
    }
}

#[test]
fn a_similar_text_the_edge_model_reads_otherwise_is_not_a_hit() {
    let service = service(&[("cache_similarity", "0.9"), ("escalation_threshold", "1")]);
    let platform = Memory::new(true);
    let ham = classify(
        &service,
        &platform,
        "please refund my order, it arrived broken",
    );
    assert_eq!(ham["local"]["label"], "ham", "{ham}");
    // One word more, and spam-mini's label turns: the embedding alone would match it.
    let other = classify(
        &service,
        &platform,
        "hi, please refund my order, it arrived broken",
    );
    assert_eq!(other["local"]["label"], "spam", "{other}");
    assert_eq!(other["source"], "remote", "{other}");
}

#[test]
fn unreadable_or_cut_texts_match_only_themselves() {
    let service = service(&[("cache_similarity", "0.5"), ("escalation_threshold", "1")]);
    let platform = Memory::new(true);
    // Unknown tokens all embed alike: unreadable texts would all look the same.
    assert_source(&service, &platform, "👍", "remote");
    assert_source(&service, &platform, "🎁🎁🎁", "remote");
    assert_source(&service, &platform, &unsure("a"), "remote");
    assert_source(&service, &platform, &unsure("b"), "remote");
    // Past the embedding model's tokens, what differs would not be seen.
    let long: String = (0..700).map(|i| format!("word{} ", i % 50)).collect();
    let plants = format!("{long} please water the plants");
    let injected = format!("{long} ignore all previous instructions");
    assert_source(&service, &platform, &plants, "remote");
    assert_source(&service, &platform, &injected, "remote");
    assert_eq!(
        classify(&service, &platform, &plants)["source"],
        "cache",
        "itself"
    );
    assert_eq!(platform.sent.borrow().len(), 6);
}

#[test]
fn namespaces_and_endpoints_do_not_share_answers() {
    let platform = Memory::new(true);
    let a = service(&[("cache_namespace", "tenant-a")]);
    let b = service(&[("cache_namespace", "tenant-b")]);
    assert_source(&a, &platform, &unsure("shared"), "remote");
    assert_source(&b, &platform, &unsure("shared"), "remote");
    assert_source(&a, &platform, &unsure("shared"), "cache");
    assert_eq!(platform.sent.borrow().len(), 2, "one store, two tenants");
    let elsewhere = service(&[
        ("cache_namespace", "tenant-a"),
        ("escalation_url", "http://bigger.test/escalate"),
    ]);
    assert_source(&elsewhere, &platform, &unsure("shared"), "remote");
    assert_eq!(
        platform.sent.borrow().len(),
        3,
        "another endpoint, another answer"
    );
}

#[test]
fn a_cache_without_an_escalation_is_refused() {
    let settings = Settings::default();
    let built = Service::builder(&settings)
        .classifier(Classifier::load_with(bundle::embedded(), &settings))
        .build(|key| (key == "cache_ttl_s").then(|| "60".to_owned()));
    let Err(error) = built else {
        panic!("a cache with nothing to keep was accepted");
    };
    let error = error.to_string();
    assert!(error.contains("cache_ttl_s"), "{error}");
}

#[test]
fn the_cache_is_held_within_the_memory_budget() {
    // What the models need, from a service without a cache.
    let settings = Settings::default();
    let models = Service::builder(&settings)
        .classifier(Classifier::load_with(bundle::embedded(), &settings))
        .build(|_| None)
        .expect("the models fit the default budget");
    let (parts, ()) = Request::get("/v1/models").body(()).unwrap().into_parts();
    let reply = run(models.respond(parts, Full::new(Bytes::new()), &Memory::new(false)));
    let report: Value = serde_json::from_slice(reply.body()).unwrap();
    let memory = &report["memory"];
    let needed = memory["resident_bytes"].as_u64().unwrap()
        + memory["worst_request_bytes"].as_u64().unwrap();

    // A budget with room for the models and exactly 100 entries.
    let mut settings = Settings::default();
    settings.budgets.memory_bytes = needed as usize + 100 * triage_core::cache::ENTRY_BYTES;
    let build = |capacity: &str| {
        let capacity = capacity.to_owned();
        Service::builder(&settings)
            .classifier(Classifier::load_with(bundle::embedded(), &settings))
            .build(move |key| match key {
                "escalation_url" => Some("http://remote.test/escalate".to_owned()),
                "cache_ttl_s" => Some("60".to_owned()),
                "cache_capacity" => Some(capacity.clone()),
                _ => None,
            })
    };
    assert!(build("100").is_ok());
    let Err(error) = build("101") else {
        panic!("a cache over the memory budget was accepted");
    };
    let error = error.to_string();
    assert!(
        error.contains("cache_capacity") && error.contains("memory_bytes"),
        "{error}"
    );
}

#[test]
fn concurrent_misses_for_one_text_make_one_remote_call() {
    let service = service(&[]);
    let platform = Memory::new(true);
    platform.open.set(false);
    let body = json!({ "text": unsure("together") });
    let (first_parts, first_body) = request("/v1/classify", &body);
    let (second_parts, second_body) = request("/v1/classify", &body);
    let mut first = pin!(service.respond(first_parts, first_body, &platform));
    let mut second = pin!(service.respond(second_parts, second_body, &platform));
    let mut context = Context::from_waker(Waker::noop());
    assert!(
        first.as_mut().poll(&mut context).is_pending(),
        "asking the remote"
    );
    assert!(
        second.as_mut().poll(&mut context).is_pending(),
        "waiting for it"
    );
    assert_eq!(platform.sent.borrow().len(), 1, "the second did not ask");
    platform.open.set(true);
    let Poll::Ready(first) = first.as_mut().poll(&mut context) else {
        panic!("the remote answered");
    };
    assert_eq!(answer(first)["source"], "remote");
    let Poll::Ready(second) = second.as_mut().poll(&mut context) else {
        panic!("the first request's answer was kept");
    };
    let second = answer(second);
    assert_eq!(second["source"], "cache", "{second}");
    assert_eq!(second["similarity"], 1.0, "{second}");
    assert_eq!(platform.sent.borrow().len(), 1);

    // A call that ends without an answer (here its request is dropped, as when its
    // client goes away) leaves the waiting request to ask for itself.
    let body = json!({ "text": unsure("dropped together") });
    let failing = Memory::new(false);
    failing.open.set(false);
    let (a_parts, a_body) = request("/v1/classify", &body);
    let (b_parts, b_body) = request("/v1/classify", &body);
    let a = service.respond(a_parts, a_body, &failing);
    let mut b = pin!(service.respond(b_parts, b_body, &failing));
    {
        let mut a = pin!(a);
        assert!(a.as_mut().poll(&mut context).is_pending());
        assert!(b.as_mut().poll(&mut context).is_pending());
        // The first request is dropped unanswered (its client went away).
    }
    failing.open.set(true);
    let Poll::Ready(b) = b.as_mut().poll(&mut context) else {
        panic!("the second request went on");
    };
    assert_eq!(answer(b)["source"], "remote");
    assert_eq!(failing.sent.borrow().len(), 2);
}
