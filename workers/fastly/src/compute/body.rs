//! The client request's body as an [`http_body::Body`], for the core's budgeted reader
//! ([`triage_core::http::Service::respond`]).

use std::io::Read;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::Frame;

/// Bytes read from the host per frame.
const CHUNK_BYTES: usize = 16 * 1024;

/// Fastly's streaming request body, read [`CHUNK_BYTES`] at a time. Reads block, so every
/// poll is ready; the core stops polling once the body budget is exceeded, so an oversized
/// body is never read whole.
pub struct ClientBody {
    body: fastly::Body,
    done: bool,
}

impl ClientBody {
    pub fn new(body: fastly::Body) -> ClientBody {
        ClientBody { body, done: false }
    }
}

impl http_body::Body for ClientBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let mut chunk = vec![0; CHUNK_BYTES];
        match self.body.read(&mut chunk) {
            Ok(0) => {
                self.done = true;
                Poll::Ready(None)
            }
            Ok(read) => {
                chunk.truncate(read);
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
            }
            Err(error) => {
                self.done = true;
                Poll::Ready(Some(Err(error)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}
