//! `appliance-control` as its service runs it.

#![allow(
    clippy::disallowed_methods,
    reason = "tests make their fixtures and run the programs under test directly"
)]

use std::process::Command;

/// The unit gives `--listen [::]:8080` and then `$APPLIANCE_CONTROL_ARGS`: a `--listen` there
/// wins, rather than stopping the service with a usage error.
#[test]
fn a_second_listen_wins_over_the_units() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_appliance-control"))
        .args(["serve", "--listen", "[::]:8080", "--listen", "127.0.0.1:1"])
        .arg("--root")
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(2), "{stderr}");
    assert!(
        !stderr.contains("cannot be used multiple times"),
        "{stderr}"
    );
}
