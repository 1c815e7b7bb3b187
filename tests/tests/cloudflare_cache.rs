//! The semantic cache's shared store on the Cloudflare worker: Workers KV at binding
//! `TRIAGE_CACHE`, which the root `wrangler.toml` declares (no id: `wrangler dev` keeps it
//! locally). With one entry per isolate, an answer the isolate dropped must come back
//! from KV, with no second call to the escalation endpoint. Runs with
//! `--features cloudflare` after `scripts/build-worker`.

use std::time::Duration;

use serde_json::{json, Value};
use triage_contract::client::Client;
use triage_contract::origin::{Origin, REMOTE_LABEL};
use triage_contract::wrangler;

/// Runic script, which spam-mini cannot read: always escalated.
fn unsure(marker: &str) -> String {
    format!("ᚠᚢᚦᚨᚱᚲ ᚷᚹᚺᚾ ᛁᛃ ᛇᛈᛉ {marker}")
}

fn classify(client: &Client, text: &str) -> Value {
    let reply = client.post_json("/v1/classify", &json!({ "text": text }));
    reply.assert_status(200);
    reply.json()
}

#[test]
fn an_answer_the_isolate_dropped_comes_back_from_workers_kv() {
    let origin = Origin::start("origin");
    let vars = [
        format!("TRIAGE_ESCALATION_URL:{}/escalate", origin.url()),
        "TRIAGE_ESCALATION_THRESHOLD:0.9".to_owned(),
        "TRIAGE_CACHE_TTL_S:600".to_owned(),
        // One entry in the isolate: the second text pushes the first out.
        "TRIAGE_CACHE_CAPACITY:1".to_owned(),
    ];
    let args: Vec<&str> = vars.iter().flat_map(|v| ["--var", v.as_str()]).collect();
    let server = wrangler::dev(&args);
    let client = server.client(Duration::from_secs(120));

    let (a, b) = (unsure("[kv-a]"), unsure("[kv-b]"));
    assert_eq!(classify(&client, &a)["source"], "remote");
    assert_eq!(classify(&client, &b)["source"], "remote");
    let again = classify(&client, &a);
    assert_eq!(again["source"], "cache", "{again}");
    assert_eq!(again["label"], REMOTE_LABEL, "{again}");
    assert_eq!(again["similarity"], 1.0, "{again}");
    assert_eq!(
        origin.received_with("[kv-a]").len(),
        1,
        "the kept answer came from KV, not from a second remote call"
    );
}
