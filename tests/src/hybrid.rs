//! The hybrid contract: escalation of unsure answers and middleware mode, against recording
//! origins on 127.0.0.1 ([`crate::origin`]). The deployment serves spam-mini (the default,
//! the one escalated) and prompt-guard, which the `/chat` middleware route names. An adapter's hybrid test starts its runtime
//! with [`Hybrid::vars`] (or [`Hybrid::setting`]) and calls [`run_hybrid_harness`], which
//! runs [`ONLINE`] with the origins up, then stops them and runs [`OFFLINE`].

use std::process::ExitCode;
use std::sync::Arc;

use libtest_mimic::{Arguments, Trial};
use serde_json::{json, Value};
use ureq::http::Method;

use crate::cases::assert_problem;
use crate::client::{Client, Reply};
use crate::origin::{Origin, REMOTE_LABEL, REMOTE_SCORE};
use crate::samples::{HAM, SPAM};
use crate::schema::assert_conforms;

/// Answers below this score are escalated in the hybrid deployment (the model's own
/// threshold is 0.8; the texts below sit clearly on either side of 0.9).
pub const ESCALATION_THRESHOLD: f64 = 0.9;
/// The escalation timeout of the hybrid deployment; `[slow]` replies take longer.
pub const ESCALATION_TIMEOUT_MS: u64 = 1000;
/// The bearer token the deployment is given as a secret.
pub const TOKEN: &str = "hybrid-test-token-5f1c";
/// The parse escalation timeout of the hybrid deployment; `[slow]` replies take longer.
pub const PARSE_ESCALATION_TIMEOUT_MS: u64 = 1000;
/// The schema of the hybrid parse cases: a choice the edge model is unsure of at a high
/// threshold, and a required order number taken from the text.
pub const PARSE_SCHEMA: &str = r#"{"type": "object",
  "properties": {
    "category": {"type": "string", "enum": ["billing", "incident", "inquiry"],
                 "description": "What the ticket is about."},
    "orderId": {"type": "string", "pattern": "^ORD-[0-9]{4,8}$"}},
  "required": ["category", "orderId"]}"#;
/// `max_body_bytes` of the deployment (the default budget).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A text the edge model is sure of (spam, score about 0.99).
fn sure_spam(marker: &str) -> String {
    format!("{} {marker}", SPAM[0])
}

/// A text the edge model is sure of (ham, score about 0.997).
fn sure_ham(marker: &str) -> String {
    format!("{} {marker}", HAM[0])
}

/// A text the edge model is not sure of: runic script, which spam-mini reads as `[UNK]`
/// (never confident under its `max_unknown_share`, and escalated whatever its score); it
/// scores about 0.54.
fn unsure(marker: &str) -> String {
    format!("ᚠᚢᚦᚨᚱᚲ ᚷᚹᚺᚾ ᛁᛃ ᛇᛈᛉ {marker}")
}

/// How long an adapter's in-process state, such as the semantic cache's entries, lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instances {
    /// One process or isolate serves every request (native, workerd).
    Shared,
    /// A fresh instance per request (the Spin component under `wasmtime serve`, as on
    /// Spin): nothing kept in memory outlives its request, and neither does wasmtime's
    /// key-value store, which is the instance's. (Spin's store outlives instances; the
    /// cache's use of it is checked on a reused instance by `tests/tests/spin_cache.rs`.)
    PerRequest,
    /// A fresh instance per request, and one key-value store for all of them (Fastly
    /// Compute under Viceroy, with the KV Store `triage_cache`): remote answers are kept
    /// in the store, but concurrent misses each ask, as no instance sees another's flight.
    PerRequestSharedStore,
}

impl Instances {
    /// Whether a remote answer is found again by a later request (in the process's
    /// memory, or in a store every instance shares).
    fn keep_answers(self) -> bool {
        matches!(self, Instances::Shared | Instances::PerRequestSharedStore)
    }
}

/// The origins a hybrid deployment talks to.
pub struct Hybrid {
    /// How the adapter under test keeps its instances.
    pub instances: Instances,
    /// The escalation endpoint (`/escalate`) and the default middleware origin.
    pub origin: Origin,
    /// The origin the `/tickets` route sends spam to.
    pub quarantine: Origin,
    /// An origin nothing is configured to reach: it must never receive a request.
    pub attacker: Origin,
}

impl Hybrid {
    /// Starts the three origins.
    pub fn start(instances: Instances) -> Hybrid {
        Hybrid {
            instances,
            origin: Origin::start("origin"),
            quarantine: Origin::start("quarantine"),
            attacker: Origin::start("attacker"),
        }
    }

    /// The deployment's settings as (snake-case key, value).
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let middleware = json!({
            "origin": self.origin.url(),
            "timeout_ms": 5000,
            "routes": [
                {"path_prefix": "/contact", "text": "form:message",
                 "labels": {"spam": "block"}, "otherwise": "annotate"},
                {"path_prefix": "/tickets", "text": "json:/ticket/body",
                 "labels": {"spam": {"route": self.quarantine.url()}}},
                {"path_prefix": "/chat", "text": "json:/prompt", "model": "prompt-guard",
                 "labels": {"attack": "block"}},
                {"path_prefix": "/support", "text": "json:/ticket/message",
                 "otherwise": "redact", "unsure": "redact", "refuse": ["iban"]}
            ]
        });
        vec![
            ("escalation_url", format!("{}/escalate", self.origin.url())),
            ("escalation_threshold", ESCALATION_THRESHOLD.to_string()),
            ("escalation_timeout_ms", ESCALATION_TIMEOUT_MS.to_string()),
            ("escalation_token", TOKEN.to_owned()),
            (
                "parse_escalation_url",
                format!("{}/complete", self.origin.url()),
            ),
            (
                "parse_escalation_timeout_ms",
                PARSE_ESCALATION_TIMEOUT_MS.to_string(),
            ),
            ("middleware", middleware.to_string()),
            ("escalation_redact", "all".to_owned()),
            ("escalation_refuse", "card".to_owned()),
            // The semantic cache, exact texts only: every case's texts differ by a marker
            // alone, which similar-text hits would blur (those are measured in bench/).
            ("cache_ttl_s", "600".to_owned()),
            ("cache_similarity", "1".to_owned()),
            ("cache_namespace", "hybrid-suite".to_owned()),
        ]
    }

    /// Setting `key`, if the hybrid deployment sets it.
    pub fn setting(&self, key: &str) -> Option<String> {
        self.settings()
            .into_iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }

    /// The settings as variables (`TRIAGE_ESCALATION_URL`, ...), for wrangler and wasmtime.
    pub fn vars(&self) -> Vec<(String, String)> {
        self.settings()
            .into_iter()
            .map(|(key, value)| (format!("TRIAGE_{}", key.to_ascii_uppercase()), value))
            .collect()
    }
}

/// A hybrid case: panics on a violation.
pub type HybridCase = fn(&Hybrid, &Client);

macro_rules! named {
    ($($case:ident),+ $(,)?) => { &[$((stringify!($case), $case as HybridCase)),+] };
}

/// Cases run while the origins are up.
pub const ONLINE: &[(&str, HybridCase)] = named![
    sure_answers_stay_local,
    unsure_answers_go_to_the_remote_model_with_the_token,
    batches_are_answered_locally,
    slow_escalation_answers_locally,
    stalled_escalation_body_answers_locally,
    bad_remote_answer_answers_locally,
    remote_error_status_answers_locally,
    middleware_blocks_a_label,
    middleware_annotates_and_forwards_byte_for_byte,
    middleware_routes_a_label_to_its_origin,
    largest_allowed_form_body_arrives_intact,
    binary_body_on_an_unclassified_path_arrives_intact,
    middleware_route_without_its_text_is_a_client_error,
    requests_cannot_steer_the_destination,
    middleware_route_reads_with_its_own_model,
    only_the_escalated_model_escalates,
    unsure_parse_fields_are_completed_by_the_remote_model,
    sure_parses_stay_local,
    parse_escalation_failures_answer_locally,
    escalated_text_leaves_without_personal_data,
    escalation_is_refused_for_a_card_number,
    parse_escalation_leaves_without_personal_data,
    middleware_redact_replaces_personal_data_in_its_field,
    middleware_refuses_to_forward_a_refused_type,
    remote_answers_are_cached,
    remote_parse_answers_are_cached,
    concurrent_misses_make_one_remote_call,
];

/// Cases run after the origins were stopped.
pub const OFFLINE: &[(&str, HybridCase)] = named![
    escalation_with_the_origin_down_answers_locally,
    middleware_with_the_origin_down_answers_502,
    parse_escalation_with_the_origin_down_answers_locally,
    nothing_personal_reached_an_origin,
    cached_answers_outlive_the_origin,
];

fn trials(
    cases: &'static [(&'static str, HybridCase)],
    phase: &str,
    hybrid: &Arc<Hybrid>,
    client: &Arc<Client>,
) -> Vec<Trial> {
    cases
        .iter()
        .map(|&(name, case)| {
            let (hybrid, client) = (Arc::clone(hybrid), Arc::clone(client));
            Trial::test(format!("{phase}::{name}"), move || {
                case(&hybrid, &client);
                Ok(())
            })
        })
        .collect()
}

/// The main of an adapter's hybrid test (`harness = false`): starts the origins, calls
/// `start` to bring the adapter up configured with them (a guard that stops it when
/// dropped, and a client), runs [`ONLINE`], stops the origins, runs [`OFFLINE`].
/// `instances` says what the cache cases expect of the adapter's memory.
pub fn run_hybrid_harness<G>(
    instances: Instances,
    start: impl FnOnce(&Hybrid) -> (G, Client),
) -> ExitCode {
    let args = Arguments::from_args();
    let hybrid = Arc::new(Hybrid::start(instances));
    if args.list {
        let unused = Arc::new(Client::new("http://127.0.0.1:9"));
        let mut all = trials(ONLINE, "online", &hybrid, &unused);
        all.extend(trials(OFFLINE, "offline", &hybrid, &unused));
        return libtest_mimic::run(&args, all).exit_code();
    }
    let (guard, client) = start(&hybrid);
    let client = Arc::new(client);
    let online = libtest_mimic::run(&args, trials(ONLINE, "online", &hybrid, &client));
    // The answer the offline cache case expects to be kept, asked for while the origins
    // are up: that case may run alone (nextest runs each test in its own process).
    let _ = classify(&client, &cached_text());
    // Stop the origins mid-test: the deployment must go on answering.
    let mut hybrid = Arc::into_inner(hybrid).expect("no trial holds the origins any more");
    hybrid.origin.stop();
    hybrid.quarantine.stop();
    let hybrid = Arc::new(hybrid);
    let offline = libtest_mimic::run(&args, trials(OFFLINE, "offline", &hybrid, &client));
    drop(guard);
    if online.has_failed() || offline.has_failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Asserts a problem+json answer with `status` and type `urn:triage:problem:<slug>`.
fn problem(client: &Client, reply: &Reply, status: u16, slug: &str) -> Value {
    let body = assert_problem(client, reply, status);
    assert_eq!(body["type"], format!("urn:triage:problem:{slug}"), "{body}");
    body
}

fn classify(client: &Client, text: &str) -> Value {
    let reply = client.post_json("/v1/classify", &json!({ "text": text }));
    reply.assert_status(200);
    reply.json()
}

fn score(value: &Value) -> f64 {
    value["score"].as_f64().expect("a numeric score")
}

/// The one escalation the origin received for `marker`.
fn escalation_for(hybrid: &Hybrid, marker: &str) -> crate::origin::Received {
    let received = hybrid.origin.received_with(marker);
    assert_eq!(
        received.len(),
        1,
        "one escalation for {marker}: {received:?}"
    );
    received.into_iter().next().expect("one")
}

fn sure_answers_stay_local(hybrid: &Hybrid, client: &Client) {
    for (marker, text) in [
        ("[sure-spam-1]", sure_spam("[sure-spam-1]")),
        ("[sure-ham-1]", sure_ham("[sure-ham-1]")),
    ] {
        let answer = classify(client, &text);
        assert_eq!(answer["source"], "local", "{answer}");
        assert!(answer.get("escalation").is_none(), "{answer}");
        assert!(score(&answer) >= ESCALATION_THRESHOLD, "{answer}");
        assert!(hybrid.origin.received_with(marker).is_empty());
    }
}

fn unsure_answers_go_to_the_remote_model_with_the_token(hybrid: &Hybrid, client: &Client) {
    let marker = "[unsure-1]";
    let answer = classify(client, &unsure(marker));
    assert_eq!(answer["source"], "remote", "{answer}");
    assert_eq!(answer["label"], REMOTE_LABEL);
    assert!((score(&answer) - REMOTE_SCORE).abs() < 1e-6, "{answer}");
    let local = &answer["local"];
    assert!(score(local) < ESCALATION_THRESHOLD, "{answer}");
    assert!(answer["scores"].is_object(), "the edge model's scores stay");
    let openapi = client.get("/openapi.json").json();
    assert_conforms(&openapi, "ClassifyResponse", &answer);

    let sent = escalation_for(hybrid, marker);
    assert_eq!(sent.method, "POST");
    assert_eq!(
        sent.header("authorization"),
        Some(&*format!("Bearer {TOKEN}"))
    );
    // A length, not a chunked body, on every adapter: the simplest endpoint reads it.
    assert_eq!(
        sent.header("content-length"),
        Some(&*sent.body.len().to_string()),
        "{:?}",
        sent.headers
    );
    let body: Value = serde_json::from_slice(&sent.body).expect("JSON escalation body");
    assert_eq!(body["text"], unsure(marker));
    assert_eq!(body["local"]["label"], local["label"]);
    assert!((score(&body["local"]) - score(local)).abs() < 1e-6);
    assert!(body["local"]["model"]["name"].is_string());
}

fn batches_are_answered_locally(hybrid: &Hybrid, client: &Client) {
    let marker = "[batch-1]";
    let reply = client.post_json(
        "/v1/classify",
        &json!({ "texts": [unsure(marker), sure_ham(marker)] }),
    );
    reply.assert_status(200);
    for result in reply.json()["results"].as_array().expect("results") {
        assert_eq!(result["source"], "local", "{result}");
    }
    assert!(hybrid.origin.received_with(marker).is_empty());
}

/// A local answer whose escalation failed for `reason`.
fn assert_failed_locally(answer: &Value, reason: &str) {
    assert_eq!(answer["source"], "local", "{answer}");
    assert_eq!(answer["escalation"]["status"], "failed", "{answer}");
    assert_eq!(answer["escalation"]["reason"], reason, "{answer}");
    assert!(
        score(answer) < ESCALATION_THRESHOLD,
        "the edge model's own answer"
    );
}

fn slow_escalation_answers_locally(hybrid: &Hybrid, client: &Client) {
    let marker = "[slow] [slow-1]";
    let answer = classify(client, &unsure(marker));
    assert_failed_locally(&answer, "timeout");
    escalation_for(hybrid, "[slow-1]");
}

/// The endpoint sends its headers and a first byte at once, then the rest after the
/// timeout: the timeout covers the whole answer, not only its headers (an adapter that
/// waited for the body would answer `remote`).
fn stalled_escalation_body_answers_locally(hybrid: &Hybrid, client: &Client) {
    let answer = classify(client, &unsure("[stalled-body] [stalled-1]"));
    assert_failed_locally(&answer, "timeout");
    escalation_for(hybrid, "[stalled-1]");
}

fn bad_remote_answer_answers_locally(hybrid: &Hybrid, client: &Client) {
    let answer = classify(client, &unsure("[bad-answer] [bad-1]"));
    assert_failed_locally(&answer, "bad-answer");
    escalation_for(hybrid, "[bad-1]");
}

fn remote_error_status_answers_locally(hybrid: &Hybrid, client: &Client) {
    let answer = classify(client, &unsure("[status-500] [status-1]"));
    assert_failed_locally(&answer, "bad-status");
    escalation_for(hybrid, "[status-1]");
}

/// A form body with `message` and the given extra fields.
fn form(message: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut out = form_urlencoded_pair("message", message);
    for (name, value) in extra {
        out.push(b'&');
        out.extend(form_urlencoded_pair(name, value));
    }
    out
}

fn form_urlencoded_pair(name: &str, value: &str) -> Vec<u8> {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_owned(),
                other => format!("%{other:02X}"),
            })
            .collect()
    };
    format!("{}={}", encode(name), encode(value)).into_bytes()
}

const FORM: &str = "application/x-www-form-urlencoded";

fn middleware_blocks_a_label(hybrid: &Hybrid, client: &Client) {
    // The route's path, and spellings of it an origin may resolve to it (escaped
    // separators, which some servers decode before resolving the path).
    for (path, marker) in [
        ("/contact", "[block-1]"),
        ("/x/..%2Fcontact", "[block-2]"),
        ("/contact%2f", "[block-3]"),
        ("/x%5C..%5Ccontact", "[block-4]"),
    ] {
        let reply = client.send_with_headers(
            Method::POST,
            path,
            &[("content-type", FORM)],
            &form(&sure_spam(marker), &[]),
        );
        problem(client, &reply, 403, "blocked");
        let sent = marker.trim_matches(|c| c == '[' || c == ']');
        assert!(
            hybrid.origin.received_with(sent).is_empty(),
            "a blocked request is not forwarded ({path})"
        );
    }
}

/// The `/chat` route names prompt-guard: an attack on the LLM behind it is blocked, a
/// question goes through labelled by prompt-guard, not by the default spam-mini.
fn middleware_route_reads_with_its_own_model(hybrid: &Hybrid, client: &Client) {
    let attack = json!({
        "prompt": format!("{} [chat-1]", crate::prompt_guard::ATTACKS[1]),
    });
    let reply = client.post_json("/chat", &attack);
    let blocked = problem(client, &reply, 403, "blocked");
    assert!(
        blocked["detail"].as_str().unwrap_or("").contains("attack"),
        "{blocked}"
    );
    assert!(hybrid.origin.received_with("chat-1").is_empty());
    let question = json!({
        "prompt": format!("{} [chat-2]", crate::prompt_guard::BENIGN[0]),
    });
    let reply = client.post_json("/chat", &question);
    reply.assert_status(201);
    let received = hybrid.origin.received_with("chat-2");
    assert_eq!(received.len(), 1, "forwarded once");
    let label = received[0].header("x-triage-label");
    assert!(
        matches!(label, Some("benign" | "attack")),
        "labelled by prompt-guard: {label:?}"
    );
}

/// Escalation answers for the default model (spam-mini): another model's unsure answer
/// stays local, however unsure.
fn only_the_escalated_model_escalates(hybrid: &Hybrid, client: &Client) {
    let marker = "[other-model-1]";
    let reply = client.post_json(
        "/v1/classify",
        &json!({ "text": unsure(marker), "model": "prompt-guard" }),
    );
    reply.assert_status(200);
    let answer = reply.json();
    assert_eq!(answer["model"]["name"], "prompt-guard", "{answer}");
    assert_eq!(
        answer["confident"], false,
        "runic script is unreadable: {answer}"
    );
    assert_eq!(answer["source"], "local", "{answer}");
    assert!(answer.get("escalation").is_none(), "{answer}");
    assert!(hybrid.origin.received_with(marker).is_empty());
}

fn middleware_annotates_and_forwards_byte_for_byte(hybrid: &Hybrid, client: &Client) {
    let marker = "[annotate-1]";
    let body = form(&sure_ham(marker), &[("name", "Ada")]);
    let reply = client.send_with_headers(
        Method::POST,
        "/contact/form?lang=en&x=%2F",
        &[
            ("content-type", FORM),
            ("x-custom", "kept"),
            // A client cannot pre-label its own request.
            ("x-triage-label", "spoofed"),
            // Hop-by-hop: never forwarded. (Headers named in `Connection` are dropped
            // too, but workerd consumes `Connection` before a worker sees it; the core's
            // unit tests cover them.)
            ("keep-alive", "timeout=5"),
            ("proxy-authorization", "Basic c2VjcmV0"),
            ("te", "trailers"),
        ],
        &body,
    );
    reply.assert_status(201);
    assert_eq!(
        reply.header("x-origin"),
        Some("origin"),
        "the origin's answer"
    );
    let sent = hybrid.origin.received_with("annotate-1");
    assert_eq!(sent.len(), 1, "{sent:?}");
    let sent = &sent[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(
        sent.url, "/contact/form?lang=en&x=%2F",
        "path and query kept"
    );
    assert_eq!(sent.body, body, "the body arrives byte for byte");
    assert_eq!(sent.header("x-triage-label"), Some("ham"));
    let forwarded_score: f64 = sent
        .header("x-triage-score")
        .and_then(|s| s.parse().ok())
        .expect("a numeric x-triage-score");
    assert!((0.8..=1.0).contains(&forwarded_score), "{forwarded_score}");
    assert_eq!(sent.header("x-custom"), Some("kept"));
    assert_eq!(sent.header("content-type"), Some(FORM));
    for hop in ["keep-alive", "proxy-authorization", "te"] {
        assert_eq!(sent.header(hop), None, "hop-by-hop {hop} is not forwarded");
    }
}

fn middleware_routes_a_label_to_its_origin(hybrid: &Hybrid, client: &Client) {
    let ticket = |text: String| {
        serde_json::to_vec(&json!({ "ticket": { "body": text, "id": 7 } })).expect("JSON")
    };
    let post = |path: &str, body: &[u8]| {
        let reply = client.send_with_headers(
            Method::POST,
            path,
            &[("content-type", "application/json")],
            body,
        );
        reply.assert_status(201);
        reply
    };
    let spam = ticket(sure_spam("[route-spam-1]"));
    let reply = post("/tickets", &spam);
    assert_eq!(reply.header("x-origin"), Some("quarantine"));
    let sent = hybrid.quarantine.received_with("route-spam-1");
    assert_eq!(sent.len(), 1, "spam goes to the quarantine origin");
    assert_eq!(sent[0].body, spam);
    assert_eq!(sent[0].header("x-triage-label"), Some("spam"));
    assert!(hybrid.origin.received_with("route-spam-1").is_empty());

    let reply = post("/tickets/new", &ticket(sure_ham("[route-ham-1]")));
    assert_eq!(reply.header("x-origin"), Some("origin"));
    assert_eq!(hybrid.origin.received_with("route-ham-1").len(), 1);
    assert!(hybrid.quarantine.received_with("route-ham-1").is_empty());
}

fn largest_allowed_form_body_arrives_intact(hybrid: &Hybrid, client: &Client) {
    let mut body = form(&sure_ham("[max-form-1]"), &[]);
    body.extend_from_slice(b"&padding=");
    let fill = MAX_BODY_BYTES - body.len();
    body.extend((0..fill).map(|i| b"abcdefghij"[i % 10]));
    assert_eq!(body.len(), MAX_BODY_BYTES);
    let reply =
        client.send_with_headers(Method::POST, "/contact", &[("content-type", FORM)], &body);
    reply.assert_status(201);
    let sent = hybrid.origin.received_with("max-form-1");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body.len(), MAX_BODY_BYTES);
    assert!(
        sent[0].body == body,
        "the largest body arrives byte for byte"
    );

    let over = [body.as_slice(), b"x"].concat();
    let reply =
        client.send_with_headers(Method::POST, "/contact", &[("content-type", FORM)], &over);
    problem(client, &reply, 413, "body-too-large");
}

fn binary_body_on_an_unclassified_path_arrives_intact(hybrid: &Hybrid, client: &Client) {
    let marker = "binary-1";
    let body: Vec<u8> = (0..MAX_BODY_BYTES).map(|i| (i * 7 % 256) as u8).collect();
    let reply = client.send_with_headers(
        Method::PUT,
        &format!("/files/{marker}.bin"),
        &[("content-type", "application/octet-stream")],
        &body,
    );
    reply.assert_status(201);
    let sent = hybrid.origin.received_with(marker);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].method, "PUT");
    assert!(sent[0].body == body, "binary bytes arrive unchanged");
    assert_eq!(sent[0].header("x-triage-label"), None, "unclassified");
}

fn middleware_route_without_its_text_is_a_client_error(_: &Hybrid, client: &Client) {
    let json = "application/json";
    for (path, media, body, status, slug) in [
        (
            "/contact",
            json,
            &br#"{"message":"hi"}"#[..],
            415,
            "unsupported-media-type",
        ),
        ("/contact", FORM, b"name=Ada", 422, "missing-text"),
        (
            "/tickets",
            json,
            br#"{"ticket": {"body": 3}}"#,
            422,
            "missing-text",
        ),
    ] {
        let reply = client.send_with_headers(Method::POST, path, &[("content-type", media)], body);
        problem(client, &reply, status, slug);
    }
}

fn requests_cannot_steer_the_destination(hybrid: &Hybrid, client: &Client) {
    let attacker = hybrid.attacker.url();
    let authority = attacker.trim_start_matches("http://");
    let steer = [
        ("x-forwarded-host", authority),
        ("forwarded", &*format!("host={authority}")),
        ("x-original-url", &*attacker),
    ];
    // Headers, body fields and paths that name the attacker, on every kind of route.
    let mut headers = vec![("content-type", FORM)];
    headers.extend(steer.iter().map(|(n, v)| (*n, *v)));
    let body = form(
        &sure_ham("[steer-1]"),
        &[
            ("url", &attacker),
            ("origin", &attacker),
            ("route", &attacker),
        ],
    );
    client
        .send_with_headers(Method::POST, "/contact", &headers, &body)
        .assert_status(201);
    for path in [
        format!("//{authority}/steer-2"),
        format!("/{attacker}/steer-3"),
        "/steer-4/..%2F..%2F".to_owned(),
    ] {
        let reply = client.send_with_headers(Method::GET, &path, &steer, b"");
        assert_ne!(reply.status, 500, "{path}");
    }
    let reply = client.post_json(
        "/v1/classify",
        &json!({ "text": unsure("[steer-5]"), "escalation_url": attacker }),
    );
    problem(client, &reply, 422, "invalid-fields");
    let answer = classify(
        client,
        &format!("{} {attacker}/escalate", unsure("[steer-6]")),
    );
    assert_eq!(
        answer["source"], "remote",
        "escalated to the configured URL"
    );
    assert_eq!(escalation_for(hybrid, "[steer-6]").url, "/escalate");
    assert!(
        hybrid.attacker.all().is_empty(),
        "the attacker's origin was reached: {:?}",
        hybrid.attacker.all()
    );
    assert_eq!(hybrid.origin.received_with("steer-1").len(), 1);
}

fn escalation_with_the_origin_down_answers_locally(_: &Hybrid, client: &Client) {
    let answer = classify(client, &unsure("[offline-1]"));
    assert_failed_locally(&answer, "unreachable");
    let answer = classify(client, &sure_spam("[offline-2]"));
    assert_eq!(answer["source"], "local");
    assert!(answer.get("escalation").is_none());
}

fn middleware_with_the_origin_down_answers_502(_: &Hybrid, client: &Client) {
    let reply = client.send_with_headers(
        Method::POST,
        "/contact",
        &[("content-type", FORM)],
        &form(&sure_ham("[offline-3]"), &[]),
    );
    problem(client, &reply, 502, "origin-unreachable");
    let reply = client.send_with_headers(
        Method::POST,
        "/contact",
        &[("content-type", FORM)],
        &form(&sure_spam("[offline-4]"), &[]),
    );
    problem(client, &reply, 403, "blocked");
}

/// A ticket for the hybrid parse schema, with `marker`: its category is plain (billing) but
/// the edge model's score for it is under 0.99.
fn ticket(marker: &str) -> String {
    format!("I was charged twice for order ORD-48213, please refund me. {marker}")
}

fn parse_at(client: &Client, text: &str, threshold: f64) -> Value {
    let schema: Value = serde_json::from_str(PARSE_SCHEMA).expect("the parse schema");
    let reply = client.post_json(
        "/v1/parse",
        &json!({"text": text, "schema": schema, "threshold": threshold}),
    );
    reply.assert_status(200);
    let answer = reply.json();
    let openapi = client.get("/openapi.json").json();
    assert_conforms(&openapi, "ParseResponse", &answer);
    answer
}

fn unsure_parse_fields_are_completed_by_the_remote_model(hybrid: &Hybrid, client: &Client) {
    let marker = "[parse-unsure-1]";
    let answer = parse_at(client, &ticket(marker), 0.99);
    assert_eq!(answer["source"], "remote", "{answer}");
    let remote = crate::origin::remote_object();
    assert_eq!(answer["object"]["category"], remote["category"], "{answer}");
    assert_eq!(
        answer["object"]["orderId"], "ORD-48213",
        "a confident field keeps the edge model's value: {answer}"
    );
    assert!(answer["local"].get("category").is_some(), "{answer}");
    assert_eq!(answer["unsure"], json!([]), "{answer}");

    let received = hybrid.origin.received_with(marker);
    assert_eq!(
        received.len(),
        1,
        "one completion for {marker}: {received:?}"
    );
    let sent = &received[0];
    assert_eq!(sent.url, "/complete");
    assert_eq!(
        sent.header("authorization"),
        Some(&*format!("Bearer {TOKEN}"))
    );
    let body: Value = serde_json::from_slice(&sent.body).expect("JSON completion request");
    assert_eq!(body["text"], ticket(marker));
    let schema: Value = serde_json::from_str(PARSE_SCHEMA).expect("the parse schema");
    assert_eq!(body["schema"], schema);
    assert_eq!(body["local"]["object"]["orderId"], "ORD-48213");
    assert!(body["local"]["unsure"]
        .as_array()
        .is_some_and(|u| u.contains(&json!("category"))));
}

fn sure_parses_stay_local(hybrid: &Hybrid, client: &Client) {
    let marker = "[parse-sure-1]";
    let answer = parse_at(client, &ticket(marker), 0.0);
    assert_eq!(answer["source"], "local", "{answer}");
    assert!(answer.get("escalation").is_none(), "{answer}");
    assert!(hybrid.origin.received_with(marker).is_empty());
}

/// A parse answer that is the edge model's, its escalation failed for `reason`.
fn assert_parsed_locally(answer: &Value, reason: &str) {
    assert_eq!(answer["source"], "local", "{answer}");
    assert_eq!(answer["escalation"]["status"], "failed", "{answer}");
    assert_eq!(answer["escalation"]["reason"], reason, "{answer}");
    assert_eq!(answer["object"]["orderId"], "ORD-48213", "{answer}");
    assert!(
        answer["unsure"]
            .as_array()
            .is_some_and(|u| u.contains(&json!("category"))),
        "{answer}"
    );
}

fn parse_escalation_failures_answer_locally(hybrid: &Hybrid, client: &Client) {
    for (marker, reason) in [
        ("[slow] [parse-slow-1]", "timeout"),
        ("[bad-answer] [parse-bad-1]", "bad-answer"),
        ("[status-500] [parse-status-1]", "bad-status"),
    ] {
        let answer = parse_at(client, &ticket(marker), 0.99);
        assert_parsed_locally(&answer, reason);
        let tag = marker.rsplit(' ').next().unwrap_or(marker);
        assert_eq!(hybrid.origin.received_with(tag).len(), 1, "{marker}");
    }
}

fn parse_escalation_with_the_origin_down_answers_locally(_: &Hybrid, client: &Client) {
    let answer = parse_at(client, &ticket("[parse-offline-1]"), 0.99);
    assert_parsed_locally(&answer, "unreachable");
}

/// The personal data the redaction cases send. None may reach an origin: what is
/// redacted leaves as placeholders, what is refused does not leave.
const PERSONAL: [&str; 6] = [
    "jane.doe@example.com",
    "+44 20 7946 0958",
    "4111 1111 1111 1111",
    "DE89 3704 0044 0532 0130 00",
    "ada@example.org",
    "030 901820",
];

/// A text the edge model cannot read (runic script, a [`unsure`] text many times over:
/// `[UNK]` outweighs what follows), so it is escalated, carrying `tail`.
fn unreadable_with(marker: &str, tail: &str) -> String {
    format!("{} {tail} {marker}", "ᚠᚢᚦᚨᚱᚲ ᚷᚹᚺᚾ ᛁᛃ ᛇᛈᛉ ".repeat(6))
}

fn escalated_text_leaves_without_personal_data(hybrid: &Hybrid, client: &Client) {
    let marker = "[redact-1]";
    let text = unreadable_with(marker, "mail jane.doe@example.com or ring +44 20 7946 0958");
    let answer = classify(client, &text);
    assert_eq!(answer["source"], "remote", "{answer}");
    let sent = escalation_for(hybrid, marker);
    let body: Value = serde_json::from_slice(&sent.body).expect("JSON escalation body");
    let expected = unreadable_with(marker, "mail [EMAIL] or ring [PHONE]");
    assert_eq!(body["text"], expected, "the text leaves with placeholders");
}

fn escalation_is_refused_for_a_card_number(hybrid: &Hybrid, client: &Client) {
    let marker = "[refuse-1]";
    let text = unreadable_with(marker, "card 4111 1111 1111 1111");
    let answer = classify(client, &text);
    assert_eq!(answer["source"], "local", "{answer}");
    assert_eq!(answer["escalation"]["status"], "refused", "{answer}");
    assert_eq!(answer["escalation"]["reason"], "personal-data", "{answer}");
    let openapi = client.get("/openapi.json").json();
    assert_conforms(&openapi, "ClassifyResponse", &answer);
    assert!(
        hybrid.origin.received_with(marker).is_empty(),
        "nothing leaves for a refused type"
    );
}

fn parse_escalation_leaves_without_personal_data(hybrid: &Hybrid, client: &Client) {
    let marker = "[parse-redact-1]";
    let text = format!(
        "{} Reach me at ada@example.org or 030 901820.",
        ticket(marker)
    );
    let answer = parse_at(client, &text, 0.99);
    assert_eq!(answer["source"], "remote", "{answer}");
    let received = hybrid.origin.received_with(marker);
    assert_eq!(received.len(), 1, "{received:?}");
    let body: Value = serde_json::from_slice(&received[0].body).expect("JSON completion");
    let expected = format!("{} Reach me at [EMAIL] or [PHONE].", ticket(marker));
    assert_eq!(body["text"], expected);
    assert_eq!(
        body["local"]["object"]["orderId"], "ORD-48213",
        "not personal: kept"
    );
}

fn middleware_redact_replaces_personal_data_in_its_field(hybrid: &Hybrid, client: &Client) {
    let marker = "[support-1]";
    let message = format!(
        "The app crashes on login. {marker} Mail jane.doe@example.com, ring +44 20 7946 0958."
    );
    let body = json!({"ticket": {"message": message, "priority": 2}, "lang": "en"});
    let reply = client.post_json("/support/new", &body);
    reply.assert_status(201);
    let sent = hybrid.origin.received_with("support-1");
    assert_eq!(sent.len(), 1, "{sent:?}");
    let forwarded: Value = serde_json::from_slice(&sent[0].body).expect("a JSON body");
    let expected = format!("The app crashes on login. {marker} Mail [EMAIL], ring [PHONE].");
    assert_eq!(forwarded["ticket"]["message"], expected);
    assert_eq!(forwarded["ticket"]["priority"], 2, "the rest as sent");
    assert_eq!(forwarded["lang"], "en");
    assert!(sent[0].header("x-triage-label").is_some(), "annotated too");

    // A body with nothing personal in the field goes byte for byte.
    let plain = r#"{"ticket": {"message": "The app crashes on login. [support-2]"}, "n":  1}"#;
    let reply = client.send(
        Method::POST,
        "/support/new",
        Some("application/json"),
        plain.as_bytes(),
    );
    reply.assert_status(201);
    let sent = hybrid.origin.received_with("support-2");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].body, plain.as_bytes());
}

fn middleware_refuses_to_forward_a_refused_type(hybrid: &Hybrid, client: &Client) {
    let marker = "[support-iban-1]";
    let message = format!("Refund me. {marker} Pay to DE89 3704 0044 0532 0130 00 please");
    let reply = client.post_json("/support/new", &json!({"ticket": {"message": message}}));
    let body = problem(client, &reply, 403, "personal-data");
    assert!(
        body["detail"].as_str().is_some_and(|d| d.contains("iban")),
        "{body}"
    );
    assert!(
        !body.to_string().contains("DE89"),
        "the problem never quotes the value: {body}"
    );
    assert!(hybrid.origin.received_with("support-iban-1").is_empty());
    // Spellings of the route's path an origin may resolve to it are that route.
    for path in [
        "//support/x",
        "/x/../support/x",
        "/%73upport/x",
        "/Support/x",
        "/support;a=1/x",
    ] {
        let marker = format!("[support-iban-{path}]");
        let message = format!("Refund me. {marker} Pay to DE89 3704 0044 0532 0130 00 please");
        let reply = client.post_json(path, &json!({"ticket": {"message": message}}));
        problem(client, &reply, 403, "personal-data");
        assert!(hybrid.origin.received_with(&marker).is_empty(), "{path}");
    }
    // A key given twice: the value checked might not be the one the origin reads.
    let twice =
        r#"{"ticket": {"message": "DE89 3704 0044 0532 0130 00 [support-dup]", "message": "hi"}}"#;
    let reply = client.send(
        Method::POST,
        "/support/x",
        Some("application/json"),
        twice.as_bytes(),
    );
    problem(client, &reply, 422, "ambiguous-text");
    assert!(hybrid.origin.received_with("[support-dup]").is_empty());
}

fn nothing_personal_reached_an_origin(hybrid: &Hybrid, _client: &Client) {
    for origin in [&hybrid.origin, &hybrid.quarantine, &hybrid.attacker] {
        for received in origin.all() {
            let text = received.text();
            for value in PERSONAL {
                assert!(
                    !text.contains(value),
                    "{} received {value:?}: {text}",
                    origin.name()
                );
            }
        }
    }
}

/// The text of the cache cases, escalated once by [`remote_answers_are_cached`].
fn cached_text() -> String {
    unsure("[cache-1]")
}

fn remote_answers_are_cached(hybrid: &Hybrid, client: &Client) {
    let first = classify(client, &cached_text());
    assert_eq!(first["source"], "remote", "{first}");
    // The same text, spaced otherwise: the same exact-match key.
    let again = classify(client, &format!("  {}\n", cached_text().replace(' ', "  ")));
    let received = hybrid.origin.received_with("[cache-1]").len();
    if hybrid.instances.keep_answers() {
        assert_eq!(again["source"], "cache", "{again}");
        assert_eq!(again["label"], REMOTE_LABEL, "{again}");
        assert!((score(&again) - REMOTE_SCORE).abs() < 1e-6, "{again}");
        assert_eq!(again["similarity"], 1.0, "{again}");
        assert_eq!(again["local"]["label"], first["local"]["label"], "{again}");
        let openapi = client.get("/openapi.json").json();
        assert_conforms(&openapi, "ClassifyResponse", &again);
        assert_eq!(received, 1, "the second answer made no remote call");
    } else {
        assert_eq!(again["source"], "remote", "{again}");
        assert_eq!(received, 2, "a fresh instance keeps nothing");
    }
}

fn concurrent_misses_make_one_remote_call(hybrid: &Hybrid, client: &Client) {
    // The endpoint takes 500 ms: the other requests arrive while the first one asks.
    let text = unsure("[lagging] [flight-1]");
    let requests = 6;
    let start = std::sync::Barrier::new(requests);
    let answers: Vec<Value> = std::thread::scope(|scope| {
        let asks: Vec<_> = (0..requests)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    classify(client, &text)
                })
            })
            .collect();
        asks.into_iter()
            .map(|ask| ask.join().expect("a request thread"))
            .collect()
    });
    let received = hybrid.origin.received_with("[flight-1]").len();
    let sources: Vec<&str> = answers
        .iter()
        .map(|a| a["source"].as_str().unwrap_or("?"))
        .collect();
    let count = |source: &str| sources.iter().filter(|s| **s == source).count();
    match hybrid.instances {
        Instances::Shared => {
            assert_eq!(
                received, 1,
                "one remote call for {requests} requests: {sources:?}"
            );
            assert_eq!(
                (count("remote"), count("cache")),
                (1, requests - 1),
                "{sources:?}"
            );
            for answer in &answers {
                assert_eq!(answer["label"], REMOTE_LABEL, "{answer}");
            }
        }
        Instances::PerRequest => {
            assert_eq!(
                received, requests,
                "each instance asks for itself: {sources:?}"
            );
            assert_eq!(count("remote"), requests, "{sources:?}");
        }
        Instances::PerRequestSharedStore => {
            // Each instance asks for itself, unless the answer was stored before it looked.
            assert!(received >= 1, "{sources:?}");
            assert_eq!(count("remote"), received, "{sources:?}");
            assert_eq!(count("remote") + count("cache"), requests, "{sources:?}");
        }
    }
}

fn cached_answers_outlive_the_origin(hybrid: &Hybrid, client: &Client) {
    let answer = classify(client, &cached_text());
    if hybrid.instances.keep_answers() {
        assert_eq!(answer["source"], "cache", "{answer}");
        assert_eq!(answer["label"], REMOTE_LABEL, "{answer}");
    } else {
        assert_failed_locally(&answer, "unreachable");
    }
}

fn remote_parse_answers_are_cached(hybrid: &Hybrid, client: &Client) {
    let marker = "[parse-cache-1]";
    let first = parse_at(client, &ticket(marker), 0.99);
    assert_eq!(first["source"], "remote", "{first}");
    let again = parse_at(client, &ticket(marker), 0.99);
    let received = hybrid.origin.received_with(marker).len();
    if hybrid.instances.keep_answers() {
        assert_eq!(again["source"], "cache", "{again}");
        assert_eq!(again["similarity"], 1.0, "{again}");
        assert_eq!(again["object"], first["object"], "{again}");
        assert_eq!(again["local"], first["local"], "{again}");
        assert_eq!(received, 1, "the second answer made no remote call");
    } else {
        assert_eq!(again["source"], "remote", "{again}");
        assert_eq!(received, 2, "a fresh instance keeps nothing");
    }
    // Another text of the same shape is another parse: its values are its own.
    let other = parse_at(client, &ticket("[parse-cache-2]"), 0.99);
    assert_eq!(other["source"], "remote", "{other}");
}
