//! The contract of a deployment serving several models side by side: every classifier
//! listed by `GET /v1/models` with its budgets, each answering when a request names it,
//! the default answering when none is named, and a name the deployment does not serve
//! refused with 404. The main suite of every adapter serves spam-mini and prompt-guard
//! beside the embedding model.

use serde_json::{json, Value};

use crate::cases::{assert_problem, default_model, models, CLASSIFY};
use crate::client::Client;
use crate::samples::SPAM;
use crate::schema::assert_conforms;

/// The `task: classify` entries of a `GET /v1/models` body.
fn classifiers(models: &Value) -> Vec<Value> {
    models["models"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|model| model["task"] == "classify")
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// Two classifiers and the embedding model, each with its name, budgets and memory, and
/// their worst case together within the memory budget.
pub fn two_classifiers_and_the_embedding_model_serve_side_by_side(client: &Client) {
    let body = models(client);
    let classifiers = classifiers(&body);
    assert!(classifiers.len() >= 2, "two classifiers or more: {body}");
    let embedders = body["models"]
        .as_array()
        .map_or(0, |all| all.iter().filter(|m| m["task"] == "embed").count());
    assert_eq!(embedders, 1, "one embedding model: {body}");
    let mut names: Vec<&str> = body["models"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|model| model["name"].as_str())
        .collect();
    let listed = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), listed, "names are unique: {body}");
    let mut resident = 0;
    for model in body["models"].as_array().into_iter().flatten() {
        let memory = &model["memory"];
        resident += memory["resident_bytes"].as_u64().expect("resident_bytes");
        assert!(memory["worst_request_bytes"].as_u64().is_some(), "{model}");
        assert!(model["sha256"].as_str().is_some_and(|s| s.len() == 64));
    }
    assert_eq!(
        body["memory"]["resident_bytes"], resident,
        "the deployment's resident memory is every model's: {body}"
    );
    assert!(
        classifiers
            .iter()
            .any(|model| model["name"] == body["default"]),
        "the default is a classifier: {body}"
    );
}

/// Each classifier, named in the request, answers with its own labels; naming the
/// default gives what naming none gives.
pub fn each_named_model_answers_with_its_own_labels(client: &Client) {
    let body = models(client);
    for model in classifiers(&body) {
        let name = model["name"].as_str().expect("name");
        let reply = client.post_json(CLASSIFY, &json!({ "text": SPAM[0], "model": name }));
        reply.assert_status(200);
        let answer = reply.json();
        assert_eq!(answer["model"]["name"], name, "{answer}");
        assert_eq!(answer["model"]["version"], model["version"], "{answer}");
        let labels: Vec<&str> = answer["scores"]
            .as_object()
            .map(|scores| scores.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(json!(labels), model["labels"], "{answer}");
        let batch = client.post_json(CLASSIFY, &json!({ "texts": [SPAM[0]], "model": name }));
        batch.assert_status(200);
        assert_eq!(batch.json()["model"]["name"], name);
    }
    let default = default_model(&body);
    let named = client.post_json(
        CLASSIFY,
        &json!({ "text": SPAM[0], "model": default["name"] }),
    );
    let unnamed = client.post_json(CLASSIFY, &json!({ "text": SPAM[0] }));
    assert_eq!(named.json()["scores"], unnamed.json()["scores"]);
}

/// The second shipped classifier, asked by name beside spam-mini, tells an attack on an
/// LLM from a question (skipped for deployments serving neither).
pub fn prompt_guard_answers_beside_spam_mini(client: &Client) {
    let body = models(client);
    let served: Vec<Value> = classifiers(&body);
    let has = |name: &str| served.iter().any(|model| model["name"] == name);
    if !(has("prompt-guard") && has("spam-mini")) {
        return;
    }
    let ask = |text: &str, model: &str| {
        let reply = client.post_json(CLASSIFY, &json!({ "text": text, "model": model }));
        reply.assert_status(200);
        reply.json()
    };
    let attack = crate::prompt_guard::ATTACKS[1];
    assert_eq!(ask(attack, "prompt-guard")["label"], "attack");
    assert_eq!(ask(SPAM[0], "spam-mini")["label"], "spam");
    let question = crate::prompt_guard::BENIGN[0];
    let answer = ask(question, "prompt-guard");
    assert!(
        !(answer["label"] == "attack" && answer["confident"] == true),
        "{answer}"
    );
}

/// A model the deployment does not serve is 404 problem+json naming it and the ones it
/// does serve.
pub fn unknown_model_is_404_naming_it(client: &Client) {
    let reply = client.post_json(
        CLASSIFY,
        &json!({ "text": "hello", "model": "no-such-model" }),
    );
    let problem = assert_problem(client, &reply, 404);
    assert_eq!(problem["type"], "urn:triage:problem:unknown-model");
    let detail = problem["detail"].as_str().unwrap_or("");
    let default = models(client)["default"].as_str().unwrap_or("").to_owned();
    assert!(
        detail.contains("no-such-model") && detail.contains(&default),
        "{detail}"
    );
}

/// `model` with ad-hoc labels is refused: labels are the embedding model's.
pub fn model_and_labels_together_are_refused(client: &Client) {
    let default = models(client)["default"].clone();
    let reply = client.post_json(
        CLASSIFY,
        &json!({ "text": "hello", "model": default, "labels": ["a", "b"] }),
    );
    let problem = assert_problem(client, &reply, 422);
    let detail = problem["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("model") && detail.contains("labels"),
        "{detail}"
    );
}

/// The listing conforms to the served OpenAPI document.
pub fn models_listing_conforms(client: &Client) {
    let doc = client.get("/openapi.json").json();
    assert_conforms(&doc, "ModelsResponse", &models(client));
}
