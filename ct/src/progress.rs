//! Progress bars for registry transfers and for local work (pack, verify,
//! unpack), drawn only when stderr is a terminal: scripts and CI logs get
//! no control characters.

use std::io::IsTerminal;
use std::sync::Arc;

use cerro_registry::{NoProgress, Progress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};

/// An indicatif bar behind the registry's byte counts.
#[derive(Debug)]
struct Bar(ProgressBar);

impl Progress for Bar {
    fn start(&self, what: &str, total: u64) {
        self.0.reset();
        self.0.set_length(total);
        self.0.set_message(what.to_owned());
    }

    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// A bar on stderr when it is a terminal, else nothing.
pub fn for_stderr() -> Arc<dyn Progress> {
    if !std::io::stderr().is_terminal() {
        return Arc::new(NoProgress);
    }
    let style = ProgressStyle::with_template("{msg:>9} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr()).with_style(style);
    Arc::new(Bar(bar))
}

/// Progress of a local operation (pack, verify, unpack) on stderr when it
/// is a terminal, else nothing: a byte bar where the bytes are counted, a
/// spinner with the elapsed time where they are not (the bundle reader
/// hashes on its own workers and reports only when done). Clones share one
/// bar; it is cleared when finished or when the last clone is dropped (an
/// error path leaves no stale bar).
#[derive(Debug, Clone)]
pub struct Local(Option<ProgressBar>);

impl Local {
    fn on_terminal() -> bool {
        std::io::stderr().is_terminal()
    }

    /// A bar of `total` bytes, labelled `what`.
    pub fn bytes(what: &str, total: u64) -> Local {
        if !Self::on_terminal() {
            return Local(None);
        }
        let style = ProgressStyle::with_template("{msg:>9} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
            .with_style(style)
            .with_finish(ProgressFinish::AndClear);
        bar.set_message(what.to_owned());
        Local(Some(bar))
    }

    /// A spinner labelled `what`, with the time elapsed.
    pub fn spinner(what: &str) -> Local {
        if !Self::on_terminal() {
            return Local(None);
        }
        let style = ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
            .with_style(style)
            .with_finish(ProgressFinish::AndClear);
        bar.set_message(what.to_owned());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Local(Some(bar))
    }

    /// Counts `n` more bytes done.
    pub fn advance(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

/// A sink that counts the bytes written through it into a [`Local`] bar
/// (the blobs `ct unpack` and `ct load --into` extract).
#[derive(Debug)]
pub struct Counted<W> {
    /// Where the bytes go.
    pub inner: W,
    /// The bar that counts them.
    pub bar: Local,
}

impl<W: std::io::Write> std::io::Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bar.advance(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
