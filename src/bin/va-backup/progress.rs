//! The progress bar: on a terminal only, never with --json.

use std::io::IsTerminal;

use appliance::backup::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::Cli;

struct Bar(ProgressBar);

impl Progress for Bar {
    fn enabled(&self) -> bool {
        true
    }

    fn start(&self, total: u64) {
        self.0.set_length(total);
        self.0.reset();
    }

    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// A bar labelled `what` on standard error when it is a terminal; otherwise nothing.
pub fn bar(cli: &Cli, what: &'static str) -> Box<dyn Progress> {
    if cli.json || !std::io::stderr().is_terminal() {
        return Box::new(appliance::backup::Quiet);
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(what);
    Box::new(Bar(bar))
}
