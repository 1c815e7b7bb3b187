//! What a service answers with and without the `parse` feature. With it (the default), an
//! adapter may fetch the embedding model itself (`pending_embedder`, as the Cloudflare
//! worker does from R2, KV or static assets); without it (a classify-only build, run by
//! `cargo test -p triage-core --no-default-features --features embedded-model --test
//! capabilities`), parse and labels answer 501 naming the feature, parse settings are
//! refused, and `/openapi.json` lists no `/v1/parse`. The HTTP contract of the same, on
//! workerd, is in `tests/tests/cloudflare_model_source.rs` and `cloudflare_classify_only.rs`.

use http::{Request, Response};
use serde_json::{json, Value};
use triage_core::http::Service;
use triage_core::{bundle, Classifier, Settings};

fn post(service: &Service, path: &str, body: Value) -> Response<Vec<u8>> {
    let request = Request::post(path)
        .header("content-type", "application/json")
        .body(body.to_string().into_bytes())
        .expect("request");
    service.handle(&request)
}

fn get(service: &Service, path: &str) -> Response<Vec<u8>> {
    let request = Request::get(path).body(Vec::new()).expect("request");
    service.handle(&request)
}

fn json_of(response: &Response<Vec<u8>>) -> Value {
    serde_json::from_slice(response.body()).expect("JSON body")
}

fn classifier(settings: &Settings) -> triage_core::Result<Classifier> {
    Classifier::load_with(bundle::embedded(), settings)
}

const PARSE: &str = "/v1/parse";

fn parse_body() -> Value {
    json!({"text": "The checkout is down", "schema": "support-ticket"})
}

fn labels_body() -> Value {
    json!({"text": "The checkout is down", "labels": ["billing", "outage"]})
}

#[cfg(not(feature = "parse"))]
mod classify_only {
    use super::*;

    fn service() -> Service {
        let settings = Settings::default();
        Service::builder(&settings)
            .classifier(classifier(&settings))
            .build(|_| None)
            .expect("builds")
    }

    #[test]
    fn parse_and_labels_are_501_naming_the_feature() {
        let service = service();
        for (path, body) in [(PARSE, parse_body()), ("/v1/classify", labels_body())] {
            let reply = post(&service, path, body);
            assert_eq!(reply.status(), 501, "{path}");
            let problem = json_of(&reply);
            assert!(problem["type"]
                .as_str()
                .unwrap_or("")
                .ends_with("not-built"));
            let detail = problem["detail"].as_str().unwrap_or("");
            assert!(detail.contains("`parse` feature"), "{detail}");
        }
        // The classifier still answers.
        let reply = post(&service, "/v1/classify", json!({"text": "see you at 3"}));
        assert_eq!(reply.status(), 200);
    }

    #[test]
    fn the_openapi_document_and_the_model_list_leave_parse_out() {
        let service = service();
        let openapi = json_of(&get(&service, "/openapi.json"));
        assert!(openapi["paths"].get("/v1/classify").is_some());
        assert!(
            openapi["paths"].get(PARSE).is_none(),
            "{}",
            openapi["paths"]
        );
        let models = json_of(&get(&service, "/v1/models"));
        assert!(models.get("parse").is_none(), "{models}");
        assert_eq!(models["models"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn parse_settings_are_refused_naming_the_feature() {
        for key in ["schemas", "parse_escalation_url"] {
            let settings = Settings::default();
            let error = Service::builder(&settings)
                .classifier(classifier(&settings))
                .build(|asked| (asked == key).then(|| "{}".to_owned()))
                .expect_err("a parse setting in a build without parse");
            let message = error.to_string();
            assert!(
                message.contains(key) && message.contains("`parse`"),
                "{message}"
            );
        }
    }
}

#[cfg(feature = "parse")]
mod embedder_from_the_adapter {
    use super::*;
    use triage_core::{embed, Embedder};

    const EMBEDDER: &str = "potion-base-2m";

    /// A deployment schema, given as the `schemas` setting before the embedding model is
    /// there: it must be compiled for the model once the adapter hands it over.
    const SCHEMAS: &str = r#"{"city": {"type": "object", "properties": {"city":
        {"type": "string", "enum": ["Paris", "Berlin"]}}, "required": ["city"]}}"#;

    fn pending() -> Service {
        let settings = Settings::default();
        Service::builder(&settings)
            .classifier(classifier(&settings))
            .pending_embedder(EMBEDDER)
            .build(|key| (key == "schemas").then(|| SCHEMAS.to_owned()))
            .expect("builds")
    }

    fn request(path: &str, body: Value) -> Request<Vec<u8>> {
        Request::post(path)
            .body(body.to_string().into_bytes())
            .expect("request")
    }

    #[test]
    fn parse_and_labels_want_the_embedding_model_and_classify_does_not() {
        let service = pending();
        assert_eq!(service.pending_embedder(), Some(EMBEDDER));
        let wanted = |path, body| service.wanted_models(&request(path, body));
        assert_eq!(wanted(PARSE, parse_body()), [EMBEDDER]);
        assert_eq!(wanted("/v1/classify", labels_body()), [EMBEDDER]);
        assert!(wanted("/v1/classify", json!({"text": "hi"})).is_empty());
        // Until it is handed over, parse is 503 saying so; classify is served.
        let reply = post(&service, PARSE, parse_body());
        assert_eq!(reply.status(), 503);
        let detail = json_of(&reply)["detail"].as_str().unwrap_or("").to_owned();
        assert!(detail.contains("not been fetched"), "{detail}");
        assert_eq!(
            post(&service, "/v1/classify", json!({"text": "hi"})).status(),
            200
        );
    }

    #[test]
    fn a_provided_embedding_model_answers_with_the_deployment_schemas() {
        let service = pending();
        let settings = Settings::default();
        service.provide_embedder(Embedder::load_with(embed::embedded(), &settings));
        assert_eq!(service.pending_embedder(), None);
        let reply = post(
            &service,
            PARSE,
            json!({"text": "I live in Berlin", "schema": "city"}),
        );
        assert_eq!(reply.status(), 200, "{}", json_of(&reply));
        let answer = json_of(&reply);
        assert_eq!(answer["model"]["name"], EMBEDDER);
        assert_eq!(answer["schema"], "city");
        assert!(["Paris", "Berlin"].contains(&answer["object"]["city"].as_str().unwrap_or("")));
        let models = json_of(&get(&service, "/v1/models"));
        assert_eq!(models["parse"]["model"]["name"], EMBEDDER);
        assert!(post(&service, "/v1/classify", labels_body()).status() == 200);
    }

    #[test]
    fn an_embedding_model_under_another_name_or_that_failed_is_503_naming_why() {
        let settings = Settings::default();
        let renamed = Service::builder(&settings)
            .classifier(classifier(&settings))
            .pending_embedder("my-embedder")
            .build(|_| None)
            .expect("builds");
        renamed.provide_embedder(Embedder::load_with(embed::embedded(), &settings));
        let reply = post(&renamed, PARSE, parse_body());
        assert_eq!(reply.status(), 503);
        let detail = json_of(&reply)["detail"].as_str().unwrap_or("").to_owned();
        assert!(
            detail.contains("my-embedder") && detail.contains(EMBEDDER),
            "{detail}"
        );

        let failed = pending();
        failed.provide_embedder(Err(triage_core::TriageError::Config(
            "r2:MODELS has no file `potion-base-2m/manifest.json`".into(),
        )));
        let reply = post(&failed, "/v1/classify", labels_body());
        assert_eq!(reply.status(), 503);
        let detail = json_of(&reply)["detail"].as_str().unwrap_or("").to_owned();
        assert!(detail.contains("manifest.json"), "{detail}");
        // Handed over once: a later hand-over does not replace the answer.
        failed.provide_embedder(Embedder::load_with(embed::embedded(), &settings));
        assert_eq!(post(&failed, PARSE, parse_body()).status(), 503);
    }
}
