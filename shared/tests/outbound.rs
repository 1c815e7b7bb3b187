//! The service's outbound steps without a network: which requests ask for an escalation or
//! a forward, where those go, and what each outcome (an answer, a timeout, no connection)
//! becomes. The adapters' real HTTP is tested by the hybrid contract in `tests/`.

use http::{Request, Response, StatusCode};
use serde_json::{json, Value};
use triage_core::http::{SendError, Service, Step};
use triage_core::{bundle, embed, Budgets, Classifier, Embedder, Settings};

/// Real spam the model is sure of, and a text it is not (score about 0.5).
const SURE: &str = "ADV: Search Engine Placement To remove see below. I work with a company that submits web sites to search engines. Call our toll free number below!";
const UNSURE: &str = "free";

fn service(settings: &[(&str, &str)]) -> Service {
    let classifier = Classifier::load(bundle::embedded(), Budgets::default()).expect("loads");
    let owned: Vec<(String, String)> = settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Service::builder(&Settings::default())
        .classifier(Ok(classifier))
        .build_or_unavailable(move |key| {
            owned.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
        })
}

fn classify(text: &str) -> Request<Vec<u8>> {
    Request::post("/v1/classify")
        .header("content-type", "application/json")
        .body(json!({ "text": text }).to_string().into_bytes())
        .expect("request")
}

fn json(response: &Response<Vec<u8>>) -> Value {
    serde_json::from_slice(response.body()).expect("JSON body")
}

fn respond(step: Step) -> Response<Vec<u8>> {
    match step {
        Step::Respond(response) => response,
        Step::Send(outbound) => panic!("unexpected outbound request {:?}", outbound.request),
    }
}

const ESCALATION: &[(&str, &str)] = &[
    ("escalation_url", "https://llm.example/v1/escalate"),
    ("escalation_threshold", "0.95"),
    ("escalation_timeout_ms", "250"),
];

#[test]
fn unsure_texts_ask_for_the_configured_url_and_sure_ones_do_not() {
    let service = service(ESCALATION);
    let sure = json(&respond(service.serve(classify(SURE))));
    assert_eq!(sure["source"], "local");

    let Step::Send(mut outbound) = service.serve(classify(UNSURE)) else {
        panic!("an unsure text is escalated");
    };
    assert_eq!(outbound.timeout.as_millis(), 250);
    let request = outbound.take_request();
    assert_eq!(request.uri(), "https://llm.example/v1/escalate");
    let sent: Value = serde_json::from_slice(request.body()).expect("JSON");
    assert_eq!(sent["text"], UNSURE);

    let reply = Response::new(br#"{"label":"ham","score":0.99}"#.to_vec());
    let answer = json(&outbound.finish(Ok(reply)));
    assert_eq!(answer["source"], "remote");
    assert_eq!(answer["label"], "ham");
    assert_eq!(answer["local"]["label"], sent["local"]["label"]);
}

#[test]
fn every_failure_answers_locally_with_its_reason() {
    let service = service(ESCALATION);
    let mut status_500 = Response::new(Vec::new());
    *status_500.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    for (outcome, reason) in [
        (Err(SendError::Timeout), "timeout"),
        (Err(SendError::Unreachable("refused".into())), "unreachable"),
        (Err(SendError::TooLarge(65536)), "bad-answer"),
        (Ok(status_500), "bad-status"),
        (Ok(Response::new(b"<html>".to_vec())), "bad-answer"),
    ] {
        let Step::Send(outbound) = service.serve(classify(UNSURE)) else {
            panic!("escalated");
        };
        let response = outbound.finish(outcome);
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "never a 5xx for {reason}"
        );
        let answer = json(&response);
        assert_eq!(answer["source"], "local");
        assert_eq!(answer["escalation"]["reason"], reason, "{answer}");
    }
}

#[test]
fn handle_and_batches_never_escalate() {
    let service = service(ESCALATION);
    assert_eq!(json(&service.handle(&classify(UNSURE)))["source"], "local");
    let batch = Request::post("/v1/classify")
        .header("content-type", "application/json")
        .body(json!({ "texts": [UNSURE] }).to_string().into_bytes())
        .expect("request");
    let answer = json(&respond(service.serve(batch)));
    assert_eq!(answer["results"][0]["source"], "local");
}

const MIDDLEWARE: &str = r#"{"origin": "http://origin.internal:8080", "timeout_ms": 300,
  "routes": [{"path_prefix": "/contact", "text": "body", "labels": {"spam": "block"}}]}"#;

fn post(path: &str, body: &str) -> Request<Vec<u8>> {
    Request::post(path)
        .header("host", "evil.example")
        .body(body.as_bytes().to_vec())
        .expect("request")
}

#[test]
fn middleware_blocks_forwards_and_reports_origin_failures() {
    let service = service(&[("middleware", MIDDLEWARE)]);
    let blocked = respond(service.serve(post("/contact", SURE)));
    assert_eq!(blocked.status(), StatusCode::FORBIDDEN);

    let Step::Send(mut outbound) = service.serve(post("/elsewhere?q=1", "anything")) else {
        panic!("other paths are forwarded");
    };
    let request = outbound.take_request();
    assert_eq!(request.uri(), "http://origin.internal:8080/elsewhere?q=1");
    assert!(
        request.headers().get("host").is_none(),
        "the client's Host is not sent on"
    );
    let timeout = outbound.finish(Err(SendError::Timeout));
    assert_eq!(timeout.status(), StatusCode::GATEWAY_TIMEOUT);

    let Step::Send(outbound) = service.serve(post("/elsewhere", "x")) else {
        panic!("forwarded");
    };
    let down = outbound.finish(Err(SendError::Unreachable("refused".into())));
    assert_eq!(down.status(), StatusCode::BAD_GATEWAY);

    let Step::Send(outbound) = service.serve(post("/elsewhere", "x")) else {
        panic!("forwarded");
    };
    let origin = Response::builder()
        .status(StatusCode::CREATED)
        .header("connection", "x-hop")
        .header("x-hop", "1")
        .header("x-kept", "1")
        .body(b"made".to_vec())
        .expect("response");
    let passed = outbound.finish(Ok(origin));
    assert_eq!(passed.status(), StatusCode::CREATED);
    assert_eq!(passed.body(), b"made");
    assert!(passed.headers().get("x-hop").is_none());
    assert_eq!(passed.headers()["x-kept"], "1");
}

/// A label's action needs a confident answer: text the model is unsure of, or cannot read
/// (mostly [UNK]), gets the route's `unsure` action: annotated and forwarded by default
/// (`X-Triage-Confident: false`), blocked where the route says `"unsure": "block"`.
#[test]
fn middleware_forwards_unsure_answers_annotated_instead_of_blocking() {
    let everything_blocked = r#"{"origin": "http://origin.internal:8080",
      "routes": [{"path_prefix": "/contact", "text": "body",
                  "labels": {"spam": "block"}, "otherwise": "block"}]}"#;
    let lenient = service(&[("middleware", everything_blocked)]);
    assert_eq!(
        respond(lenient.serve(post("/contact", SURE))).status(),
        StatusCode::FORBIDDEN
    );
    let mut unsure = 0;
    for text in ["🙏🙏🙏 🎉", UNSURE, "hello there", "ok", "see you"] {
        let answer = json(&lenient.handle(&classify(text)));
        let step = lenient.serve(post("/contact", text));
        if answer["confident"] == true {
            // Every label is blocked here, when the model is sure.
            assert_eq!(
                respond(step).status(),
                StatusCode::FORBIDDEN,
                "{text}: {answer}"
            );
            continue;
        }
        unsure += 1;
        let Step::Send(mut outbound) = step else {
            panic!("{text}: an unsure answer is forwarded, not blocked: {answer}");
        };
        let request = outbound.take_request();
        assert_eq!(request.uri(), "http://origin.internal:8080/contact");
        assert_eq!(
            request.headers()["x-triage-label"],
            answer["label"].as_str().unwrap_or("")
        );
        assert_eq!(request.headers()["x-triage-confident"], "false");
    }
    assert!(
        unsure > 0,
        "the emoji-only text is unreadable, so never confident"
    );

    // A route that must fail closed blocks what the model is unsure of, too: padding a
    // text with emoji makes it unreadable, so never confident.
    let fail_closed = everything_blocked.replace(r#""otherwise": "block""#, r#""unsure": "block""#);
    let strict = service(&[("middleware", &fail_closed)]);
    let padded = "free 🙏 cash 🙏 now 🙏";
    assert_eq!(json(&strict.handle(&classify(padded)))["confident"], false);
    let blocked = respond(strict.serve(post("/contact", padded)));
    assert_eq!(blocked.status(), StatusCode::FORBIDDEN);
    assert!(String::from_utf8_lossy(blocked.body()).contains("not confident"));
}

#[test]
fn a_malformed_outbound_setting_answers_503_naming_it() {
    let bad_timeout = service(&[
        ("escalation_timeout_ms", "soon"),
        ("escalation_url", "http://x/"),
    ]);
    let response = respond(bad_timeout.serve(classify(SURE)));
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let problem = json(&response);
    assert!(problem["detail"]
        .as_str()
        .is_some_and(|d| d.contains("escalation_timeout_ms")));
    let bad_origin = service(&[("middleware", "{\"origin\": \"ftp://x\", \"routes\": []}")]);
    let response = respond(bad_origin.serve(classify(SURE)));
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}

/// A deployment with the embedding model and parse escalation on.
fn parse_service(settings: &[(&str, &str)]) -> Service {
    let classifier = Classifier::load(bundle::embedded(), Budgets::default()).expect("loads");
    let embedder = Embedder::load_with(embed::embedded(), &Settings::default()).expect("loads");
    let owned: Vec<(String, String)> = settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Service::builder(&Settings::default())
        .classifier(Ok(classifier))
        .embedder(Ok(embedder))
        .build_or_unavailable(move |key| {
            owned.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
        })
}

const PARSE_ESCALATION: &[(&str, &str)] = &[
    ("parse_escalation_url", "https://llm.example/v1/complete"),
    ("escalation_token", "s3cret"),
];

/// A ticket schema: a choice, a required order id taken from the text, an optional e-mail.
fn ticket_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "category": {"type": "string", "enum": ["billing", "incident", "inquiry"]},
            "orderId": {"type": "string", "pattern": "^ORD-[0-9]{4,8}$"},
            "email": {"type": "string", "format": "email"}
        },
        "required": ["category", "orderId"]
    })
}

fn parse(text: &str, threshold: f64) -> Request<Vec<u8>> {
    let body = json!({"text": text, "schema": ticket_schema(), "threshold": threshold});
    Request::post("/v1/parse")
        .header("content-type", "application/json")
        .body(body.to_string().into_bytes())
        .expect("request")
}

fn reply(body: &Value) -> Result<Response<Vec<u8>>, SendError> {
    Ok(Response::new(body.to_string().into_bytes()))
}

const TICKET: &str = "I was charged twice for ORD-48213, please refund me.";

#[test]
fn unsure_parse_fields_go_to_the_parse_endpoint_and_valid_values_are_taken() {
    let service = parse_service(PARSE_ESCALATION);
    let Step::Send(mut outbound) = service.serve(parse(TICKET, 0.99)) else {
        panic!("a parse with an unsure field is escalated");
    };
    assert_eq!(outbound.timeout.as_millis(), 2000, "the default timeout");
    let request = outbound.take_request();
    assert_eq!(request.uri(), "https://llm.example/v1/complete");
    assert_eq!(request.headers()["authorization"], "Bearer s3cret");
    let sent: Value = serde_json::from_slice(request.body()).expect("JSON");
    assert_eq!(sent["text"], TICKET);
    assert_eq!(sent["schema"], ticket_schema());
    assert_eq!(sent["local"]["object"]["orderId"], "ORD-48213");
    let unsure = sent["local"]["unsure"].as_array().expect("unsure");
    assert!(unsure.contains(&json!("category")), "{sent}");
    assert_eq!(sent["local"]["missing"], json!([]));
    let edge_category = sent["local"]["object"]["category"].clone();

    let completed = reply(&json!({"object": {
        "category": "billing", "orderId": "ORD-48213", "email": "ana@example.com"
    }}));
    let response = outbound.finish(completed);
    assert_eq!(response.status(), StatusCode::OK);
    let answer = json(&response);
    assert_eq!(answer["source"], "remote", "{answer}");
    assert_eq!(answer["object"]["category"], "billing");
    assert_eq!(answer["local"]["category"], edge_category);
    assert_eq!(
        answer["object"]["email"], "ana@example.com",
        "the e-mail was unsure (the text holds none) and the remote model gave one"
    );
    assert_eq!(answer["unsure"], json!([]), "{answer}");
}

#[test]
fn a_remote_object_the_schema_refuses_leaves_the_edge_answer() {
    let service = parse_service(PARSE_ESCALATION);
    for (remote, why) in [
        (json!({"object": {"category": "refund"}}), "not in the enum"),
        (
            json!({"object": {"email": "not an address"}}),
            "breaks format",
        ),
        (json!({"object": {"category": 3}}), "wrong type"),
        (json!({"category": "billing"}), "not wrapped in object"),
        (json!([]), "not an object"),
        (json!([{"category": "billing"}]), "an array of the object"),
        (
            json!({"object": [{"category": "billing"}]}),
            "object not an object",
        ),
    ] {
        let Step::Send(outbound) = service.serve(parse(TICKET, 0.99)) else {
            panic!("escalated");
        };
        let answer = json(&outbound.finish(reply(&remote)));
        assert_eq!(answer["source"], "local", "{why}: {answer}");
        assert_eq!(
            answer["escalation"]["reason"], "bad-answer",
            "{why}: {answer}"
        );
        assert_eq!(answer["object"]["orderId"], "ORD-48213", "{why}");
        let detail = answer["escalation"]["detail"].as_str().unwrap_or_default();
        assert!(
            !detail.contains("not an address") && !detail.contains("refund"),
            "the endpoint's values are not echoed: {detail}"
        );
    }
    // A required value the text lacks, given in a form its pattern refuses.
    let Step::Send(outbound) = service.serve(parse("Charged twice, refund please.", 0.99)) else {
        panic!("escalated");
    };
    let response = outbound.finish(reply(&json!({"object": {"orderId": "48213"}})));
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let detail = json(&response)["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        detail.contains("not one the schema allows") && !detail.contains("48213"),
        "{detail}"
    );
}

#[test]
fn every_parse_escalation_failure_answers_locally_and_a_missing_required_value_says_both() {
    let service = parse_service(PARSE_ESCALATION);
    let mut status_500 = Response::new(Vec::new());
    *status_500.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    for (outcome, reason) in [
        (Err(SendError::Timeout), "timeout"),
        (Err(SendError::Unreachable("refused".into())), "unreachable"),
        (Ok(status_500), "bad-status"),
    ] {
        let Step::Send(outbound) = service.serve(parse(TICKET, 0.99)) else {
            panic!("escalated");
        };
        let answer = json(&outbound.finish(outcome));
        assert_eq!(answer["source"], "local", "{answer}");
        assert_eq!(answer["escalation"]["reason"], reason, "{answer}");
    }
    // No order id in the text: the required field goes to the remote model...
    let no_id = "I was charged twice, please refund me.";
    let Step::Send(mut outbound) = service.serve(parse(no_id, 0.0)) else {
        panic!("a required value the text lacks is escalated");
    };
    let sent: Value = serde_json::from_slice(outbound.take_request().body()).expect("JSON");
    assert_eq!(sent["local"]["missing"], json!(["orderId"]));
    let answer = json(&outbound.finish(reply(&json!({"object": {"orderId": "ORD-1234"}}))));
    assert_eq!(answer["source"], "remote", "{answer}");
    assert_eq!(answer["object"]["orderId"], "ORD-1234");
    assert_eq!(answer["local"]["orderId"], Value::Null);
    // ...and when it cannot answer, the answer is the 422 it is without escalation.
    let Step::Send(outbound) = service.serve(parse(no_id, 0.0)) else {
        panic!("escalated");
    };
    let response = outbound.finish(Err(SendError::Timeout));
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem = json(&response);
    assert_eq!(problem["type"], "urn:triage:problem:no-value");
    let detail = problem["detail"].as_str().expect("detail");
    assert!(
        detail.contains("orderId") && detail.contains("escalation failed"),
        "{detail}"
    );
}

#[test]
fn sure_parses_and_handle_never_escalate() {
    let service = parse_service(PARSE_ESCALATION);
    // Threshold 0: every field is confident; the missing optional e-mail is not asked for.
    let answer = json(&respond(service.serve(parse(TICKET, 0.0))));
    assert_eq!(answer["source"], "local");
    assert!(answer.get("escalation").is_none(), "{answer}");
    let handled = json(&service.handle(&parse(TICKET, 0.99)));
    assert_eq!(handled["source"], "local");
    let bad = parse_service(&[("parse_escalation_url", "llm.example/complete")]);
    let response = respond(bad.serve(parse(TICKET, 0.0)));
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(json(&response)["detail"]
        .as_str()
        .is_some_and(|d| d.contains("parse_escalation_url")));
}

#[test]
fn remote_values_are_answered_as_the_schema_writes_them() {
    let service = parse_service(PARSE_ESCALATION);
    let body = json!({"text": "The checkout is down for everyone", "schema": "support-ticket",
                      "threshold": 0.99});
    let request = Request::post("/v1/parse")
        .header("content-type", "application/json")
        .body(body.to_string().into_bytes())
        .expect("request");
    let Step::Send(outbound) = service.serve(request) else {
        panic!("escalated");
    };
    let remote =
        json!({"object": {"category": "incident", "urgency": 5.0, "resolvedOffline": false}});
    let answer = json(&outbound.finish(reply(&remote)));
    assert_eq!(answer["source"], "remote", "{answer}");
    assert!(
        answer["object"]["urgency"].is_u64(),
        "5.0 is answered as the integer 5: {answer}"
    );
    assert_eq!(answer["object"]["urgency"], 5);
    for (field, local) in answer["local"].as_object().expect("local") {
        assert_eq!(
            local, &answer["fields"][field]["value"],
            "local holds the edge model's value, confident or not"
        );
    }
}

/// A service whose middleware setting was refused answers every path with why, not 404:
/// its routes were never read, and a site behind it must see that it is down. A service
/// that is up still answers 404 for paths it does not serve.
#[test]
fn a_service_that_could_not_start_answers_other_paths_with_its_failure() {
    let broken = service(&[("middleware", "{\"origin\": 3}")]);
    let reply = respond(broken.serve(post("/contact", "message=hi")));
    assert_eq!(reply.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(json(&reply)["detail"]
        .as_str()
        .unwrap_or("")
        .contains("middleware"));
    let healthy = service(&[]);
    let reply = respond(healthy.serve(post("/contact", "message=hi")));
    assert_eq!(reply.status(), StatusCode::NOT_FOUND);
}
