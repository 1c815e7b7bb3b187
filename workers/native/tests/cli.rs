//! The `triage` binary end to end: real processes, real files.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;
use triage_contract::samples as triage_contract_samples;

fn triage(args: &[&str]) -> Output {
    triage_with_env(args, &[])
}

fn triage_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(args)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .output()
        .expect("triage runs")
}

fn model_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/spam-mini")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("triage-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn classify_prints_the_label_of_real_spam_and_ham() {
    let spam = triage(&["classify", triage_contract_samples::SPAM[0]]);
    assert!(
        spam.status.success(),
        "{}",
        String::from_utf8_lossy(&spam.stderr)
    );
    let body: Value = serde_json::from_slice(&spam.stdout).expect("JSON on stdout");
    assert_eq!(body["label"], "spam");
    assert_eq!(body["model"]["name"], "spam-mini");

    let ham = triage(&["classify", triage_contract_samples::HAM[0]]);
    let body: Value = serde_json::from_slice(&ham.stdout).expect("JSON on stdout");
    assert_eq!(body["label"], "ham");
}

#[test]
fn classify_file_writes_one_json_line_per_input_line() {
    let dir = scratch("lines");
    let input = dir.join("texts.txt");
    let lines = [
        triage_contract_samples::SPAM[0],
        "",
        triage_contract_samples::HAM[0],
    ];
    std::fs::write(&input, lines.join("\n")).expect("write input");
    let out = triage(&["classify", "--file", input.to_str().expect("utf-8 path")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["label"], "spam");
    assert_eq!(results[1]["tokens"], 2, "an empty line is [CLS] [SEP]");
    assert_eq!(results[2]["label"], "ham");
}

#[test]
fn a_line_over_budget_is_reported_and_the_rest_still_answered() {
    let dir = scratch("budget");
    let input = dir.join("texts.txt");
    let huge = "a".repeat(40 * 1024);
    std::fs::write(&input, format!("{huge}\nsee you at lunch\n")).expect("write input");
    let out = triage(&["classify", "--file", input.to_str().expect("utf-8 path")]);
    assert!(
        !out.status.success(),
        "a failed line makes the exit code non-zero"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines[0]["line"], 1);
    assert_eq!(lines[0]["error"]["status"], 413);
    assert!(lines[1]["label"].is_string());
}

#[test]
fn a_corrupt_model_dir_fails_naming_the_file_and_sha256() {
    let dir = scratch("corrupt");
    for file in ["manifest.json", "tokenizer.json", "model.nnef.tar"] {
        std::fs::copy(model_dir().join(file), dir.join(file)).expect("copy bundle");
    }
    let model = dir.join("model.nnef.tar");
    let mut bytes = std::fs::read(&model).expect("read model");
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&model, bytes).expect("truncate model");
    let out = triage(&[
        "--model-dir",
        dir.to_str().expect("utf-8 path"),
        "classify",
        "hello",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("model.nnef.tar") && stderr.contains("sha256"),
        "stderr: {stderr}"
    );
}

#[test]
fn settings_come_from_triage_variables() {
    // Room for one token of text between [CLS] and [SEP]: spam-mini's windows read the
    // first and the last, so the words between them are what is left out.
    let out = triage_with_env(
        &["classify", "hello there general kenobi"],
        &[("TRIAGE_MAX_TOKENS", "3")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).expect("JSON result");
    assert_eq!(result["tokens"], 3);
    assert_eq!(result["truncated"], true);
}

#[test]
fn budgets_over_the_memory_budget_stop_start_up_naming_it() {
    for (name, value, expected) in [
        ("TRIAGE_MEMORY_BYTES", "1000000", "memory budget is 1000000"),
        ("TRIAGE_MAX_BATCH", "lots", "max_batch"),
    ] {
        let out = triage_with_env(&["classify", "hello"], &[(name, value)]);
        assert!(!out.status.success(), "{name}={value} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{name}={value}: {stderr}");
    }
}

#[test]
fn model_dir_loads_the_same_bundle() {
    let out = triage(&[
        "--model-dir",
        model_dir().to_str().expect("utf-8 path"),
        "classify",
        "hello",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn parse_answers_a_named_schema_and_a_schema_file_alike() {
    let text = "I was charged twice on my credit card this month, please refund the extra payment";
    let named = triage(&["parse", "--schema", "support-ticket", text]);
    assert!(
        named.status.success(),
        "{}",
        String::from_utf8_lossy(&named.stderr)
    );
    let named: Value = serde_json::from_slice(&named.stdout).expect("JSON on stdout");
    assert_eq!(named["schema"], "support-ticket");
    assert_eq!(named["object"]["category"], "billing", "{named}");

    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/support-ticket.json");
    let from_file = triage(&[
        "parse",
        "--schema",
        file.to_str().expect("utf-8 path"),
        text,
    ]);
    assert!(
        from_file.status.success(),
        "{}",
        String::from_utf8_lossy(&from_file.stderr)
    );
    let from_file: Value = serde_json::from_slice(&from_file.stdout).expect("JSON on stdout");
    assert_eq!(from_file["object"], named["object"]);
    assert_eq!(
        from_file.get("schema"),
        None,
        "a file is not a named schema"
    );
}

#[test]
fn parse_with_an_unsupported_schema_fails_naming_the_keyword() {
    let dir = scratch("schema");
    let path = dir.join("free-string.json");
    std::fs::write(
        &path,
        r#"{"type": "object", "properties": {"name": {"type": "string"}}}"#,
    )
    .expect("write schema");
    let out = triage(&[
        "parse",
        "--schema",
        path.to_str().expect("utf-8 path"),
        "hello",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/properties/name") && stderr.contains("`enum`"),
        "{stderr}"
    );
    let missing = triage(&["parse", "--schema", "no-such-schema", "hello"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such-schema"));
}

#[test]
fn a_second_bundle_is_served_from_its_directory_or_by_name() {
    let attack = triage_contract::prompt_guard::ATTACKS[0];
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/prompt-guard");
    let from_dir = triage(&[
        "--model-dir",
        dir.to_str().expect("utf-8 path"),
        "classify",
        attack,
    ]);
    let by_name = triage_with_env(
        &["classify", attack],
        &[("TRIAGE_DEFAULT_MODEL", "prompt-guard")],
    );
    for out in [from_dir, by_name] {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let body: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
        assert_eq!(body["model"]["name"], "prompt-guard");
        assert_eq!(body["label"], "attack", "{body}");
    }
    let unknown = triage_with_env(&["classify", attack], &[("TRIAGE_DEFAULT_MODEL", "nope")]);
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        stderr.contains("default_model") && stderr.contains("prompt-guard"),
        "{stderr}"
    );
}

fn bundle_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../models")
        .join(name)
}

#[test]
fn model_dir_repeats_or_holds_several_bundles() {
    let attack = triage_contract::prompt_guard::ATTACKS[1];
    let spam = bundle_dir("spam-mini");
    let guard = bundle_dir("prompt-guard");
    // Repeated: the first is the default; `--model` picks another.
    let repeated = [
        "--model-dir",
        spam.to_str().expect("utf-8 path"),
        "--model-dir",
        guard.to_str().expect("utf-8 path"),
        "classify",
    ];
    let default = triage(&[&repeated[..], &[attack]].concat());
    let default: Value = serde_json::from_slice(&default.stdout).expect("JSON on stdout");
    assert_eq!(default["model"]["name"], "spam-mini");
    let named = triage(&[&repeated[..], &["--model", "prompt-guard", attack]].concat());
    let named: Value = serde_json::from_slice(&named.stdout).expect("JSON on stdout");
    assert_eq!(named["model"]["name"], "prompt-guard");
    assert_eq!(named["label"], "attack", "{named}");
    // A directory of bundles: each subdirectory with a manifest, in name order.
    let dir = scratch("bundles");
    for (name, from) in [("a-guard", &guard), ("b-spam", &spam)] {
        let to = dir.join(name);
        std::fs::create_dir_all(&to).expect("bundle dir");
        for file in ["manifest.json", "tokenizer.json", "model.nnef.tar"] {
            std::fs::copy(from.join(file), to.join(file)).expect("copy bundle");
        }
    }
    std::fs::create_dir_all(dir.join("notes")).expect("a directory that is no bundle");
    let all = dir.to_str().expect("utf-8 path");
    let out = triage(&[
        "--model-dir",
        all,
        "classify",
        "--model",
        "spam-mini",
        SPAM_TEXT,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(body["model"]["name"], "spam-mini");
    let out = triage(&["--model-dir", all, "classify", attack]);
    let body: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(body["model"]["name"], "prompt-guard", "a-guard comes first");
    // A name the deployment does not serve.
    let out = triage(&["--model-dir", all, "classify", "--model", "intent", "hi"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("intent") && stderr.contains("spam-mini"),
        "{stderr}"
    );
    // A directory with no bundle at all.
    let empty = scratch("no-bundles");
    let out = triage(&[
        "--model-dir",
        empty.to_str().expect("utf-8"),
        "classify",
        "hi",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no bundle"));
}

const SPAM_TEXT: &str = triage_contract_samples::SPAM[0];

/// Each shipped classifier alone needs about 19.6 MB under the default budgets, both
/// together about 24.4 MB (`GET /v1/models`): 22 MB holds either, not both.
#[test]
fn a_set_of_models_over_the_memory_budget_stops_start_up() {
    let budget = [("TRIAGE_MEMORY_BYTES", "22000000")];
    let both = triage_with_env(&["classify", "hello"], &budget);
    assert!(!both.status.success(), "the set was accepted");
    let stderr = String::from_utf8_lossy(&both.stderr);
    assert!(stderr.contains("memory budget is 22000000"), "{stderr}");
    let spam = bundle_dir("spam-mini");
    let one = triage_with_env(
        &[
            "--model-dir",
            spam.to_str().expect("utf-8"),
            "classify",
            "hello",
        ],
        &budget,
    );
    assert!(
        one.status.success(),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
}

/// A client that declares a body and never sends it all gets 408 once `--body-timeout`
/// passes, and one that declares a body over the budget gets 413, instead of holding the
/// connection open for ever.
#[test]
fn a_body_that_never_arrives_is_answered() {
    use std::io::{Read, Write};
    use triage_contract::served::{free_port, Served};
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_triage"));
    command.args([
        "serve",
        "--addr",
        &format!("127.0.0.1:{port}"),
        "--body-timeout",
        "1",
    ]);
    let server = Served::spawn("triage-body-timeout", command, port);
    let _client = server.client(std::time::Duration::from_secs(60));
    for (declared, status) in [(100, "408"), (2_000_000, "413")] {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .expect("timeout");
        let head = format!(
            "POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {declared}\r\n\r\n{{\"text\""
        );
        stream.write_all(head.as_bytes()).expect("write");
        let mut answer = vec![0u8; 512];
        let read = stream.read(&mut answer).expect("an answer, not a hang");
        let answer = String::from_utf8_lossy(&answer[..read]);
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "Content-Length {declared}: {answer}"
        );
        assert!(answer.contains("application/problem+json"), "{answer}");
    }
}
