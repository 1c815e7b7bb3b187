//! A small blocking HTTP client that returns every status as data, so tests can assert on
//! 4xx answers, and sends bodies byte for byte (invalid UTF-8, any content type).

use std::time::Duration;

use serde_json::Value;
use ureq::http::{Method, Request};

/// One answer, fully read.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// The `Content-Type` header, or "".
    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Server-Timing` entry named `name` (`instance;dur=0.4;desc="..."`), if any.
    pub fn timing_entry(&self, name: &str) -> Option<String> {
        let prefix = format!("{name};");
        self.header("server-timing")?
            .split(", ")
            .find(|entry| entry.starts_with(&prefix))
            .map(str::to_owned)
    }

    /// Panics, showing the body, unless the status is `status`.
    pub fn assert_status(&self, status: u16) -> &Reply {
        assert_eq!(
            self.status,
            status,
            "expected {status}, got {}: {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
        self
    }

    /// The body as JSON; panics with the body text when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// A client bound to one adapter's base URL, e.g. `http://127.0.0.1:8080`.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client for `base_url` (no trailing slash needed).
    pub fn new(base_url: &str) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Client {
            base: base_url.trim_end_matches('/').to_owned(),
            agent,
        }
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None, &[])
    }

    /// `POST path` with a JSON value.
    pub fn post_json(&self, path: &str, body: &Value) -> Reply {
        let bytes = serde_json::to_vec(body).expect("serialisable");
        self.send(Method::POST, path, Some("application/json"), &bytes)
    }

    /// Any method, any content type (or none), any bytes.
    pub fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Reply {
        self.send_body(method, path, content_type, body.to_vec())
    }

    /// Any method, with these headers (`content-type` among them, if wanted), any bytes.
    pub fn send_with_headers(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.run(request.body(body.to_vec()).expect("valid request"))
    }

    /// Like [`Client::send`], but streams the body with chunked transfer encoding and no
    /// declared length, so the server only learns its size by reading it.
    pub fn send_streamed(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Reply {
        let reader = std::io::Cursor::new(body.to_vec());
        self.send_body(
            method,
            path,
            content_type,
            ureq::SendBody::from_owned_reader(reader),
        )
    }

    /// Sends `body` as it is given: bytes with their length, or a stream.
    fn send_body(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: impl ureq::AsSendBody,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path));
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        self.run(request.body(body).expect("valid request"))
    }

    fn run(&self, request: Request<impl ureq::AsSendBody>) -> Reply {
        let mut response = self
            .agent
            .run(request)
            .unwrap_or_else(|e| panic!("request to {} failed: {e}", self.base));
        let body = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec()
            .expect("readable body");
        Reply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body,
        }
    }

    /// Waits until `GET /healthz` answers (any status), up to `timeout`.
    pub fn wait_until_up(&self, timeout: Duration) -> Result<(), String> {
        let started = std::time::Instant::now();
        let probe = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(2)))
            .build();
        let probe: ureq::Agent = probe.into();
        loop {
            if probe.get(format!("{}/healthz", self.base)).call().is_ok() {
                return Ok(());
            }
            if started.elapsed() > timeout {
                return Err(format!("{} did not answer within {timeout:?}", self.base));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
