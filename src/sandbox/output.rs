//! The guest's stdout and stderr, captured on the host with a size cap.
//!
//! Output lives on the host side of the WASI stream, not in the guest, so what a cell
//! printed before a limit stopped it is still there, and a guest that writes to the
//! file descriptor directly (`os.write(1, ...)`) is capped all the same.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// One captured stream; clones share the buffer.
#[derive(Clone, Default)]
pub(crate) struct Capture {
    name: &'static str,
    buffer: Arc<Mutex<Buffer>>,
}

#[derive(Default)]
struct Buffer {
    kept: Vec<u8>,
    limit: usize,
    dropped: u64,
}

impl Buffer {
    fn push(&mut self, bytes: &[u8]) {
        let room = self.limit.saturating_sub(self.kept.len());
        let take = room.min(bytes.len());
        self.kept.extend_from_slice(&bytes[..take]);
        self.dropped += (bytes.len() - take) as u64;
    }
}

/// What a stream captured during one run.
pub(crate) struct Captured {
    pub(crate) text: String,
    pub(crate) truncated: bool,
}

impl Capture {
    pub(crate) fn new(name: &'static str) -> Self {
        Self { name, buffer: Arc::default() }
    }

    fn lock(&self) -> MutexGuard<'_, Buffer> {
        // A panic while holding the lock cannot leave the buffer inconsistent.
        self.buffer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Empties the buffer and sets the cap for the next run.
    pub(crate) fn begin(&self, limit: u32) {
        let mut buffer = self.lock();
        buffer.kept.clear();
        buffer.limit = limit as usize;
        buffer.dropped = 0;
    }

    /// Takes the run's output; `guest_dropped` counts bytes the guest already
    /// discarded at the cap instead of sending them.
    pub(crate) fn finish(&self, guest_dropped: u64) -> Captured {
        let mut buffer = self.lock();
        let kept = std::mem::take(&mut buffer.kept);
        let dropped = buffer.dropped + guest_dropped;
        let mut text = String::from_utf8_lossy(&kept).into_owned();
        if dropped > 0 {
            text.push_str(&format!("\n[{} truncated: {dropped} more bytes]\n", self.name));
        }
        Captured { text, truncated: dropped > 0 }
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for Capture {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.lock().push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        // Always writable: past the cap, bytes are counted and dropped, never refused,
        // so a chatty guest is not turned into a failing one.
        Ok(64 << 10)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

impl AsyncWrite for Capture {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.lock().push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_up_to_the_limit_and_counts_the_rest() {
        let capture = Capture::new("stdout");
        capture.begin(5);
        capture.lock().push(b"abc");
        capture.lock().push(b"defgh");
        let out = capture.finish(10);
        assert!(out.truncated);
        assert_eq!(out.text, "abcde\n[stdout truncated: 13 more bytes]\n");
        capture.begin(5);
        assert_eq!(capture.finish(0).text, "");
    }
}
