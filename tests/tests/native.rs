//! The contract suite against the native adapter: the real axum server on loopback,
//! started once for all cases. Set `TRIAGE_BASE_URL` to run the suite against any
//! already-running adapter instead.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use triage_contract::{contract_suite, Client};
use triage_core::http::Service;
use triage_core::{bundle, Budgets, Classifier};

fn client() -> &'static Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let base = std::env::var("TRIAGE_BASE_URL").unwrap_or_else(|_| start_native_server());
        let client = Client::new(&base);
        client
            .wait_until_up(Duration::from_secs(30))
            .expect("server is up");
        client
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

contract_suite!(client());
