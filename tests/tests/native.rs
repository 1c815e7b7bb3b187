//! The contract suite against the native adapter: the real axum server on loopback,
//! started once for all cases. Set `TRIAGE_BASE_URL` to run the suite against any
//! already-running adapter instead.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use triage_contract::{run_harness, Client};
use triage_core::http::Service;
use triage_core::{bundle, Budgets, Classifier};

fn main() -> ExitCode {
    run_harness(|| {
        let base = start_native_server();
        let client = Client::new(&base);
        client
            .wait_until_up(Duration::from_secs(30))
            .expect("server is up");
        // The server thread ends with the test process.
        ((), client)
    })
}

fn start_native_server() -> String {
    let classifier =
        Classifier::load(bundle::embedded(), Budgets::default()).expect("default bundle loads");
    let service = Arc::new(Service::new(classifier));
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
    format!("http://{addr}")
}
