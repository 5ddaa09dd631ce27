//! What the binaries share: their messages, in one style (`PROGRAM: error: …`, `PROGRAM: warning:
//! …`, `PROGRAM: hint: …`, the causes of an error below it), how they end (exit status 1 on
//! error, errors as JSON with `--json`), and the reporter of the programs APT and dpkg run, which
//! speak as APT does (`W: …`). The one module of the library that prints.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the binaries' own messages: the one module of the library that prints"
)]

use std::process::ExitCode;

/// The name the program was run as (`va-backup`), which its messages begin with.
pub fn program() -> String {
    std::env::args_os()
        .next()
        .as_deref()
        .map(std::path::Path::new)
        .and_then(std::path::Path::file_name)
        .map_or_else(
            || "appliance-tools".to_owned(),
            |name| name.to_string_lossy().into_owned(),
        )
}

/// Prints `PROGRAM: error: …` with its causes and an optional hint, as the house style asks.
pub fn print_error(error: &anyhow::Error, hint: Option<&str>) {
    let program = program();
    eprintln!("{program}: error: {error}");
    for cause in error.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    if let Some(hint) = hint.filter(|hint| !hint.is_empty()) {
        eprintln!("{program}: hint: {hint}");
    }
}

/// Prints `PROGRAM: warning: …`.
pub fn warning(message: &str) {
    eprintln!("{}: warning: {message}", program());
}

/// Exits 1 on error after printing it; a closed pipe on stdout ends quietly.
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

/// [`finish`], and with `--json` an error is also a JSON object on stdout
/// (`{"error": …, "causes": […]}`), so that a script reading stdout sees why it got nothing.
pub fn finish_json(result: anyhow::Result<()>, json: bool) -> ExitCode {
    if json
        && let Err(error) = &result
        && error
            .downcast_ref::<std::io::Error>()
            .is_none_or(|e| e.kind() != std::io::ErrorKind::BrokenPipe)
    {
        print_json_error(error);
    }
    finish(result)
}

/// An error as `--json` prints it on stdout: `{"error": …, "causes": […]}`.
pub fn print_json_error(error: &anyhow::Error) {
    let causes: Vec<String> = error.chain().skip(1).map(ToString::to_string).collect();
    println!(
        "{}",
        serde_json::json!({ "error": error.to_string(), "causes": causes })
    );
}

/// Speaks like APT, for the programs whose output is read within APT's and dpkg's: information
/// on stdout, `W: …` on stderr.
pub struct AptStyle;

impl crate::Reporter for AptStyle {
    fn info(&mut self, message: &str) {
        println!("{message}");
    }
    fn warning(&mut self, message: &str) {
        eprintln!("W: {message}");
    }
}
