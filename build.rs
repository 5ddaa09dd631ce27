//! The end-to-end tests (tests/e2e) run when the tests are built with `APPLIANCE_E2E=1`, as
//! `make test` does: the `appliance_e2e` cfg. Built without it, they are reported ignored, with
//! the reason, rather than passing without having run.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(appliance_e2e)");
    println!("cargo::rerun-if-env-changed=APPLIANCE_E2E");
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var_os("APPLIANCE_E2E").is_some_and(|value| value == "1") {
        println!("cargo::rustc-cfg=appliance_e2e");
    }
}
