//! What the binaries share: printing errors as a cause chain, apt-style reporters (the system's
//! root is found by the library, `appliance::system_root`).

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

/// [`finish`], and with `--json` an error is also a JSON object on stdout
/// (`{"error": …, "causes": […]}`), so that a script reading stdout sees why it got nothing.
#[allow(dead_code, reason = "not every binary uses it")]
pub fn finish_json(result: anyhow::Result<()>, json: bool) -> ExitCode {
    if json
        && let Err(error) = &result
        && error
            .downcast_ref::<std::io::Error>()
            .is_none_or(|e| e.kind() != std::io::ErrorKind::BrokenPipe)
    {
        let causes: Vec<String> = error.chain().skip(1).map(ToString::to_string).collect();
        println!(
            "{}",
            serde_json::json!({ "error": error.to_string(), "causes": causes })
        );
    }
    finish(result)
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
