//! The native adapter's real axum server, started in process on a free loopback port for
//! the native contract tests.

use std::sync::Arc;
use std::time::Duration;

use triage_contract::Client;
use triage_core::http::{Service, ServiceBuilder};
use triage_core::{bundle, Classifier, Settings};

/// A service builder holding every compiled-in classifier (spam-mini first, the default),
/// as `triage serve` loads them.
#[allow(dead_code)] // not every test binary that includes this module uses it
pub fn compiled_in(settings: &Settings) -> ServiceBuilder {
    let mut builder = Service::builder(settings);
    for name in bundle::EMBEDDED_CLASSIFIERS {
        let bundle = bundle::embedded_named(name).expect("compiled in");
        builder = builder.classifier(Classifier::load_with(bundle, settings));
    }
    builder
}

/// Serves `service` on a thread of its own (it ends with the test process) and returns a
/// client once it answers.
pub fn start(service: Service) -> Client {
    let service = Arc::new(service);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    listener.set_nonblocking(true).expect("non-blocking");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            triage_native::serve(listener, service)
                .await
                .expect("server runs");
        });
    });
    let client = Client::new(&format!("http://{addr}"));
    client
        .wait_until_up(Duration::from_secs(30))
        .expect("server is up");
    client
}
