//! Runs the core's request loop to completion.
//!
//! The loop is `async` for the platforms whose I/O is (Workers, Spin); every call Fastly
//! makes blocks until it is done, and this adapter never pauses ([`Platform::pause`] keeps
//! its default: one request per instance), so each poll of the loop's future is ready or
//! moves it on at once. A general executor would park the thread between polls, which
//! `wasm32-wasip1` has no other thread to wake from.
//!
//! [`Platform::pause`]: triage_core::http::Platform::pause

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// Polls `future` until it is ready.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}
