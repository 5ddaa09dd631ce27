//! What the binaries share: printing errors as a cause chain, apt-style reporters, the root.

use std::path::PathBuf;
use std::process::ExitCode;

/// Prints `error: …` with its causes and an optional hint, as the house style asks.
pub fn print_error(error: &anyhow::Error, hint: Option<&str>) {
    eprintln!("error: {error}");
    for cause in error.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    if let Some(hint) = hint {
        eprintln!("hint: {hint}");
    }
}

/// Exits 1 on error after printing it; a closed pipe on stdout ends quietly.
#[allow(dead_code, reason = "not every binary uses it")]
pub fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error)
            if error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(error) => {
            print_error(&error, None);
            ExitCode::FAILURE
        }
    }
}

/// Speaks like APT: information on stdout, `W: …` on stderr.
#[allow(dead_code, reason = "not every binary uses it")]
pub struct AptStyle;

impl appliance::Reporter for AptStyle {
    fn info(&mut self, message: &str) {
        println!("{message}");
    }
    fn warning(&mut self, message: &str) {
        eprintln!("W: {message}");
    }
}

/// The system's root: `--root`, else `$DPKG_ROOT` (set by dpkg for maintainer scripts), else `/`.
#[allow(dead_code, reason = "not every binary uses it")]
pub fn root(explicit: Option<PathBuf>) -> PathBuf {
    explicit
        .or_else(|| {
            std::env::var_os("DPKG_ROOT")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from("/"))
}
