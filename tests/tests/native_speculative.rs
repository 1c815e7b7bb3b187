//! The speculative-decoding protocol (`triage.speculative.v1`, docs/generate.md) over real
//! HTTP: the edge (the generate bundle, natively) drafts, a recording origin verifies with
//! the reference verifier (`Generator::verify`, the same model: no larger one installs
//! here) or a deliberately disagreeing one. What is checked is what can be honestly: that
//! the answer is the verifier's, that every round follows the protocol, and what the
//! rounds cost in round trips and bytes. Needs `scripts/build-generator`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{json, Value};
use triage_contract::generator_bundle;
use triage_contract::origin::{Origin, Received};
use triage_core::generate::speculative::{VerifyRequest, VerifyResponse, PROTOCOL};
use triage_core::generate::{
    Constraint, GenerateBudgets, GenerateRequest, Generator, Message, Role,
};
use triage_core::TriageError;

fn generator() -> &'static Generator {
    static GENERATOR: OnceLock<Generator> = OnceLock::new();
    GENERATOR.get_or_init(|| {
        Generator::load_dir(&generator_bundle(), GenerateBudgets::default())
            .expect("the generate bundle loads")
    })
}

fn request(prompt: &str, constraint: Constraint, max_new_tokens: usize) -> GenerateRequest {
    GenerateRequest {
        messages: vec![Message {
            role: Role::User,
            content: prompt.into(),
        }],
        constraint,
        max_new_tokens: Some(max_new_tokens),
        temperature: 0.0,
        seed: 0,
    }
}

/// The verifier's own greedy answer, token by token (a round with an empty draft each):
/// what a speculative generation must reproduce. It can differ from the edge's
/// `generate` where two logits nearly tie: the verifier scores positions in one batch,
/// the edge one at a time, and float sums in another order round differently.
fn verifier_greedy(asked: &GenerateRequest) -> String {
    let generator = generator();
    let prompt = generator.prompt_tokens(&asked.messages).expect("a prompt");
    let mut generated = Vec::new();
    while generated.len() < asked.max_new_tokens.unwrap_or(1) {
        let answer = generator
            .verify(&VerifyRequest {
                protocol: PROTOCOL.into(),
                tokenizer_sha256: generator.manifest().files.tokenizer.sha256.clone(),
                prompt: prompt.clone(),
                generated: generated.clone(),
                draft: Vec::new(),
                constraint: None,
                stop: generator.stop_tokens().to_vec(),
            })
            .expect("verifies");
        if generator.stop_tokens().contains(&answer.next) {
            break;
        }
        generated.push(answer.next);
    }
    let request = GenerateRequest {
        max_new_tokens: Some(generated.len().max(1)),
        ..asked.clone()
    };
    // Decoded as the answers are: through a speculative run whose verifier writes exactly
    // these tokens, one per round.
    let script = generated.clone();
    let (generation, _) = generator
        .generate_speculative(&request, 1, &mut |round: &VerifyRequest| {
            let at = round.generated.len();
            let accepted = usize::from(round.draft.first() == script.get(at));
            let next = script
                .get(at + accepted)
                .copied()
                .unwrap_or(generator.stop_tokens()[0]);
            Ok(VerifyResponse { accepted, next })
        })
        .expect("replays");
    generation.text
}

/// A verifier origin: each POST's body is a [`VerifyRequest`], answered by `verify`.
fn verifier(verify: fn(&VerifyRequest) -> VerifyResponse) -> Origin {
    Origin::answering(
        "verifier",
        Arc::new(move |received: &Received| {
            match serde_json::from_slice::<VerifyRequest>(&received.body) {
                Ok(request) => (200, json!(verify(&request)).to_string()),
                Err(error) => (400, json!({"error": error.to_string()}).to_string()),
            }
        }),
    )
}

/// The edge's side of one round: the request POSTed to the origin, its answer read.
fn over_http(origin: &Origin) -> impl FnMut(&VerifyRequest) -> triage_core::Result<VerifyResponse> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into();
    let url = format!("{}/verify", origin.url());
    move |request| {
        // Compact JSON, as the edge counts it (ureq's send_json indents).
        let body =
            serde_json::to_vec(request).map_err(|e| TriageError::Inference(e.to_string()))?;
        let mut response = agent
            .post(&url)
            .header("content-type", "application/json")
            .send(&body[..])
            .map_err(|e| TriageError::Inference(e.to_string()))?;
        response
            .body_mut()
            .read_json::<VerifyResponse>()
            .map_err(|e| TriageError::Inference(e.to_string()))
    }
}

/// The rounds as recorded: each follows the protocol, and each round's agreed tokens are
/// the last round's plus its accepted draft and the verifier's next token.
fn check_rounds(origin: &Origin, k: usize) -> Vec<(VerifyRequest, VerifyResponse)> {
    let rounds: Vec<VerifyRequest> = origin
        .all()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).expect("every round is a VerifyRequest"))
        .collect();
    assert!(!rounds.is_empty());
    let sha = &generator().manifest().files.tokenizer.sha256;
    let answers: Vec<(VerifyRequest, VerifyResponse)> = rounds
        .into_iter()
        .map(|round| {
            assert_eq!(round.protocol, PROTOCOL);
            assert_eq!(&round.tokenizer_sha256, sha);
            assert!(round.draft.len() <= k, "a draft of at most {k}");
            let answer = generator()
                .verify(&round)
                .expect("the reference verifier answers");
            (round, answer)
        })
        .collect();
    answers
}

/// With the verifier running the edge's own model, the answer is the verifier's greedy
/// answer, in about n / (k + 1) round trips, nearly every draft accepted.
#[test]
fn an_agreeing_verifier_reproduces_its_greedy_answer() {
    let plain = request(
        "Write one sentence about lighthouses.",
        Constraint::None,
        24,
    );
    let expected = verifier_greedy(&plain);
    let origin = verifier(|r| generator().verify(r).expect("verifies"));
    let k = 4;
    let (generation, stats) = generator()
        .generate_speculative(&plain, k, &mut over_http(&origin))
        .expect("generates speculatively");
    assert_eq!(generation.text, expected);
    // Drafts are the edge's incremental greedy, the checks the verifier's batched one:
    // near ties may part them (see verifier_greedy).
    assert!(stats.accepted * 10 >= stats.drafted * 8, "{stats:?}");
    assert_eq!(stats.rounds, origin.all().len());
    let sent: usize = origin.all().iter().map(|r| r.body.len()).sum();
    assert_eq!(stats.request_bytes, sent);
    let tokens = generation.generated_tokens;
    let refused = stats.drafted - stats.accepted;
    assert!(
        stats.rounds <= tokens.div_ceil(k + 1) + 1 + refused,
        "{stats:?} for {tokens} tokens"
    );
    eprintln!(
        "agreeing verifier, k = {k}: {tokens} tokens in {} round trips, {} bytes sent, {} received",
        stats.rounds, stats.request_bytes, stats.response_bytes
    );
    let rounds = check_rounds(&origin, k);
    for pair in rounds.windows(2) {
        let ((first, answer), (second, _)) = (&pair[0], &pair[1]);
        let mut agreed = first.generated.clone();
        agreed.extend_from_slice(&first.draft[..answer.accepted]);
        agreed.push(answer.next);
        assert_eq!(second.generated, agreed);
    }
}

/// Under a JSON Schema the drafts are masked by the edge's grammar and the verifier applies
/// the same one: every draft is accepted and the object is valid.
#[test]
fn a_constrained_answer_is_verified_round_by_round() {
    let schema = json!({
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 20},
            "guests": {"type": "integer", "minimum": 1, "maximum": 20}
        },
        "required": ["city", "guests"],
        "additionalProperties": false
    });
    let asked = request(
        "Book a table in Lyon for 4 people.",
        Constraint::JsonSchema(schema.clone()),
        48,
    );
    let origin = verifier(|r| generator().verify(r).expect("verifies"));
    let (generation, stats) = generator()
        .generate_speculative(&asked, 6, &mut over_http(&origin))
        .expect("generates speculatively");
    let value: Value = generation.value.clone().expect("a value");
    let validator = jsonschema::validator_for(&schema).expect("compiles");
    assert!(validator.is_valid(&value), "{value}");
    assert!(stats.accepted * 10 >= stats.drafted * 8, "{stats:?}");
    eprintln!(
        "3-field object, k = 6: {} tokens in {} round trips, {} bytes sent, {} received",
        generation.generated_tokens, stats.rounds, stats.request_bytes, stats.response_bytes
    );
    check_rounds(&origin, 6);
}

/// A verifier that accepts only the first token of each draft is obeyed at the first
/// difference: the answer is still its greedy one, at more round trips.
#[test]
fn a_disagreeing_verifier_is_obeyed_at_the_first_difference() {
    let plain = request("Name three colours.", Constraint::None, 16);
    let expected = verifier_greedy(&plain);
    let origin = verifier(|r| {
        let mut shortened = r.clone();
        shortened.draft.truncate(1);
        generator().verify(&shortened).expect("verifies")
    });
    let (generation, stats) = generator()
        .generate_speculative(&plain, 4, &mut over_http(&origin))
        .expect("generates speculatively");
    assert_eq!(generation.text, expected);
    assert!(stats.accepted < stats.drafted, "{stats:?}");
    assert!(stats.rounds >= generation.generated_tokens / 2, "{stats:?}");
}

/// A verifier answering outside the protocol (more accepted tokens than drafted) stops the
/// generation with an error, not a wrong answer.
#[test]
fn an_answer_outside_the_protocol_is_an_error() {
    let plain = request("Say hello.", Constraint::None, 8);
    let origin = verifier(|r| VerifyResponse {
        accepted: r.draft.len() + 1,
        next: 0,
    });
    let result = generator().generate_speculative(&plain, 4, &mut over_http(&origin));
    assert!(
        matches!(result, Err(TriageError::Inference(_))),
        "{result:?}"
    );
}
