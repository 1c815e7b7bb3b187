//! Two host calls the `fastly` crate's API does not offer in the form the adapter needs,
//! made through the same release's ABI (`fastly-sys`):
//!
//! - the request's target as the host gives it ([`request_target`]): the crate parses it
//!   with `url` on first use and panics on one `url` refuses (`OPTIONS *`);
//! - waiting for a response body to be readable, with a deadline ([`wait_readable`]): the
//!   crate's reads block until the backend sends, however long that takes.

use std::time::Duration;

use fastly::handle::BodyHandle;
use fastly_shared::FastlyStatus;

/// The client request's URL, as the host gives it (`http://host/path?query`, or whatever
/// the client sent); `None` if the host does not give one or it is not UTF-8.
pub fn request_target(request: &fastly::Request) -> Option<String> {
    let (handle, _) = request.as_handles();
    let mut capacity = 8 * 1024;
    loop {
        let mut buffer = vec![0u8; capacity];
        let mut written = 0usize;
        // SAFETY: `buffer` holds `capacity` bytes and the host writes at most that many
        // (it reports the length it needs, with BUFLEN, when they do not fit).
        let status = unsafe {
            fastly_sys::fastly_http_req::uri_get(
                handle.as_u32(),
                buffer.as_mut_ptr(),
                capacity,
                &mut written,
            )
        };
        if status == FastlyStatus::BUFLEN && written > capacity {
            capacity = written;
            continue;
        }
        if !status.is_ok() {
            return None;
        }
        buffer.truncate(written.min(capacity));
        return String::from_utf8(buffer).ok();
    }
}

/// Waits up to `timeout` for `body` to have bytes to read (or its end): `Ok(true)` when it
/// does, `Ok(false)` when the time ran out first, `Err` with the host's status when the
/// wait failed.
pub fn wait_readable(body: &BodyHandle, timeout: Duration) -> Result<bool, String> {
    // The host reads 0 as "no timeout": wait at least 1 ms.
    let millis = u32::try_from(timeout.as_millis())
        .unwrap_or(u32::MAX)
        .max(1);
    // SAFETY: `as_u32` only reads the handle's number; the handle outlives the call.
    let handle = unsafe { body.as_u32() };
    let mut done = 0u32;
    // SAFETY: one handle, and `done` is a valid place for the index the host writes.
    let status = unsafe { fastly_sys::fastly_async_io::select(&handle, 1, millis, &mut done) };
    if !status.is_ok() {
        return Err(format!("waiting for the response body failed: {status:?}"));
    }
    // The host writes u32::MAX when the timeout passed with nothing ready.
    Ok(done != u32::MAX)
}
