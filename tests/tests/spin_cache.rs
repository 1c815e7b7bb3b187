//! The semantic cache's store on the Spin component: WASI key-value
//! (`wasi:keyvalue/store@0.2.0-draft`), which `wasmtime serve -Skeyvalue` hosts in memory
//! for as long as an instance lives, and which the Spin build serves from Spin's
//! key-value store (workers/spin-kv). With one entry in the instance's own cache, an
//! answer the instance dropped must come back from the store, with no second call to the
//! escalation endpoint. Runs with `--features spin` after `scripts/build-spin`.

use std::time::Duration;

use serde_json::{json, Value};
use triage_contract::client::Client;
use triage_contract::origin::{Origin, REMOTE_LABEL};
use triage_contract::samples::HAM;
use triage_contract::wasmtime::{serve, Component, MEMORY_CAP_BYTES};

/// Runic script, which spam-mini cannot read: always escalated.
fn unsure(marker: &str) -> String {
    format!("ᚠᚢᚦᚨᚱᚲ ᚷᚹᚺᚾ ᛁᛃ ᛇᛈᛉ {marker}")
}

/// The answer to classifying `text`, and whether a fresh instance served it (it reports
/// its start in `Server-Timing`).
fn classify(client: &Client, text: &str) -> (Value, bool) {
    // wasmtime serve takes a new instance when a request arrives before the last one's
    // instance is back in its pool: a pause makes that rare.
    std::thread::sleep(Duration::from_millis(100));
    let reply = client.post_json("/v1/classify", &json!({ "text": text }));
    reply.assert_status(200);
    let fresh = reply
        .header("server-timing")
        .is_some_and(|timing| timing.contains("instance;"));
    (reply.json(), fresh)
}

#[test]
fn an_answer_the_instance_dropped_comes_back_from_the_key_value_store() {
    let origin = Origin::start("origin");
    let url = format!("{}/escalate", origin.url());
    let env = [
        ("TRIAGE_ESCALATION_URL", url.as_str()),
        ("TRIAGE_ESCALATION_THRESHOLD", "0.9"),
        ("TRIAGE_CACHE_TTL_S", "600"),
        // One entry in the instance: the second text pushes the first out.
        ("TRIAGE_CACHE_CAPACITY", "1"),
    ];
    // One instance for every request (wasmtime's store lives as long as the instance).
    let reuse = [
        "--max-instance-reuse-count=1000",
        "--idle-instance-timeout=600s",
    ];
    let server = serve(Component::Preinitialized, MEMORY_CAP_BYTES, &env, &reuse);
    let client = server.client(Duration::from_secs(300));
    // The first request starts the instance the rest should reuse.
    let (warm, _) = classify(&client, HAM[0]);
    assert_eq!(warm["source"], "local", "{warm}");

    // Three tries, each with its own texts, for a run that one instance served whole.
    for attempt in 0..3 {
        let (a, b) = (
            unsure(&format!("[kv-a{attempt}]")),
            unsure(&format!("[kv-b{attempt}]")),
        );
        let (first, fresh_a) = classify(&client, &a);
        let (second, fresh_b) = classify(&client, &b);
        let (again, fresh_again) = classify(&client, &a);
        assert_eq!(first["source"], "remote", "{first}");
        assert_eq!(second["source"], "remote", "{second}");
        if fresh_a || fresh_b || fresh_again {
            eprintln!("attempt {attempt}: a new instance took a request; trying again");
            continue;
        }
        assert_eq!(again["source"], "cache", "{again}");
        assert_eq!(again["label"], REMOTE_LABEL, "{again}");
        assert_eq!(again["similarity"], 1.0, "{again}");
        assert_eq!(
            origin.received_with(&format!("[kv-a{attempt}]")).len(),
            1,
            "the kept answer came from the store, not from a second remote call"
        );
        return;
    }
    panic!("no attempt was served by one instance");
}
