//! `/usr/lib/appliance/apt-hook`: APT's `DPkg::Pre-Install-Pkgs` hook (protocol version 3).
//! Applies the seeds of the appliances in the transaction; any failure stops APT before dpkg runs.

use std::io::Read;
use std::process::ExitCode;

use appliance::debconf::SystemTools;

fn main() -> ExitCode {
    if std::env::args_os().len() > 1 {
        eprintln!(
            "usage: apt-hook  (run by APT with the hook protocol on APT_HOOK_INFO_FD or stdin)"
        );
        return ExitCode::from(2);
    }
    // APT names the descriptor it writes to; 0 when it does not.
    let fd = std::env::var("APT_HOOK_INFO_FD").unwrap_or_else(|_| "0".into());
    let mut text = String::new();
    let read = if fd == "0" {
        std::io::stdin().read_to_string(&mut text)
    } else {
        std::fs::File::open(format!("/proc/self/fd/{fd}"))
            .and_then(|mut f| f.read_to_string(&mut text))
    };
    if let Err(error) = read {
        eprintln!("E: appliance hook: cannot read the hook protocol from descriptor {fd}: {error}");
        return ExitCode::FAILURE;
    }
    // APT runs the hook inside the system it installs into: the tools are this system's. The
    // registry's root is the one every tool finds: DPKG_ROOT when set, else /.
    let root = match appliance::system_root::resolve(None) {
        Ok(root) => root,
        Err(error) => {
            eprintln!("E: appliance hook: {error}");
            return ExitCode::FAILURE;
        }
    };
    let tools = SystemTools::new(std::path::Path::new("/"));
    let result = appliance::seed::hook::parse(&text)
        .map_err(appliance::seed::hook::HookError::from)
        .and_then(|input| {
            appliance::seed::hook::run(&input, &root, &tools, &mut appliance::cli::AptStyle)
        });
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("E: {}", appliance::error_chain(&error));
            eprintln!(
                "E: the appliance hook stopped this transaction before dpkg changed anything"
            );
            ExitCode::FAILURE
        }
    }
}
