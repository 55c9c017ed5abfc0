//! A bot's stdout and stderr, and its `logging.log` import, as `tracing`
//! events tagged with the bot's name. Output is split into lines; a line
//! longer than [`MAX_LINE`] bytes is cut. A turn's output is capped by its
//! [`LogBudget`] (`limits.max_log_bytes_per_turn`): past it, output is
//! dropped, with one warning.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// The longest line of guest output that is logged as it is.
pub const MAX_LINE: usize = 4096;

/// The log bytes a turn has left, shared by its output streams and its
/// `logging.log` calls; reset at the start of every turn.
#[derive(Debug)]
pub struct LogBudget {
    bot: Arc<str>,
    limit: u64,
    remaining: AtomicU64,
    exhausted: AtomicBool,
}

impl LogBudget {
    pub fn new(bot: Arc<str>, limit: u64) -> Arc<Self> {
        Arc::new(LogBudget {
            bot,
            limit,
            remaining: AtomicU64::new(limit),
            exhausted: AtomicBool::new(false),
        })
    }

    /// A new turn: the whole budget again.
    pub fn reset(&self) {
        self.remaining.store(self.limit, Ordering::Relaxed);
        self.exhausted.store(false, Ordering::Relaxed);
    }

    /// Whether `bytes` more may be logged; the first refusal is logged.
    pub fn take(&self, bytes: usize) -> bool {
        let bytes = bytes as u64;
        let taken = self
            .remaining
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(bytes)
            })
            .is_ok();
        if !taken && !self.exhausted.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                bot = %self.bot,
                limit = self.limit,
                "the bot logged more than its limit this turn; its further output is dropped"
            );
        }
        taken
    }
}

/// Which of the guest's output streams a writer serves.
#[derive(Clone, Copy, Debug)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// A WASI output stream that turns each line into a `tracing` event.
#[derive(Clone)]
pub struct GuestOutput {
    bot: Arc<str>,
    stream: Stream,
    budget: Arc<LogBudget>,
}

impl GuestOutput {
    pub fn new(bot: Arc<str>, stream: Stream, budget: Arc<LogBudget>) -> Self {
        GuestOutput {
            bot,
            stream,
            budget,
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            bot: self.bot.clone(),
            stream: self.stream,
            budget: self.budget.clone(),
            pending: Vec::new(),
        })
    }
}

struct LineWriter {
    bot: Arc<str>,
    stream: Stream,
    budget: Arc<LogBudget>,
    pending: Vec<u8>,
}

impl LineWriter {
    fn emit(&self, line: &[u8]) {
        if !self.budget.take(line.len() + 1) {
            return;
        }
        let cut = line.len() > MAX_LINE;
        let shown = String::from_utf8_lossy(&line[..line.len().min(MAX_LINE)]);
        let shown = shown.trim_end_matches('\r');
        match self.stream {
            Stream::Stdout => {
                tracing::info!(bot = %self.bot, stream = self.stream.name(), cut, "{shown}")
            }
            Stream::Stderr => {
                tracing::warn!(bot = %self.bot, stream = self.stream.name(), cut, "{shown}")
            }
        }
    }

    fn take_lines(&mut self) {
        while let Some(pos) = self.pending.iter().position(|b| *b == b'\n') {
            let rest = self.pending.split_off(pos + 1);
            let line = std::mem::replace(&mut self.pending, rest);
            self.emit(&line[..pos]);
        }
        // An endless line is emitted in pieces rather than buffered forever.
        if self.pending.len() > MAX_LINE {
            let line = std::mem::take(&mut self.pending);
            self.emit(&line);
        }
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        // Past the budget, output is swallowed without being buffered.
        if self.budget.exhausted.load(Ordering::Relaxed) {
            self.pending.clear();
            return Poll::Ready(Ok(buf.len()));
        }
        self.pending.extend_from_slice(buf);
        self.take_lines();
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.emit(&line);
        }
    }
}
