//! Build-time helper (not installed): writes the man pages and shell completions of the
//! command-line tools from their clap definitions into the directory given.

#[path = "va-seed/cli.rs"]
#[allow(dead_code, reason = "only the definitions are used here")]
mod va_seed;

#[path = "valist/cli.rs"]
#[allow(dead_code, reason = "only the definitions are used here")]
mod valist;

#[path = "va-backup/cli.rs"]
#[allow(dead_code, reason = "only the definitions are used here")]
mod va_backup;

#[path = "va-build/cli.rs"]
#[allow(dead_code, reason = "only the definitions are used here")]
mod va_build;

#[path = "vainstall/cli.rs"]
#[allow(dead_code, reason = "only the definitions are used here")]
mod vainstall;

#[path = "../../control/src/bin/appliance-control/cli.rs"]
#[allow(dead_code, reason = "only the definitions are used here")]
mod appliance_control;

use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;

fn write(command: &clap::Command, out: &Path) -> std::io::Result<()> {
    let name = command.get_name().to_owned();
    fs_err::create_dir_all(out.join("man"))?;
    fs_err::create_dir_all(out.join("completions"))?;
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut page)?;
    fs_err::write(out.join("man").join(format!("{name}.1")), page)?;
    for (shell, file) in [
        (clap_complete::Shell::Bash, name.clone()),
        (clap_complete::Shell::Zsh, format!("_{name}")),
        (clap_complete::Shell::Fish, format!("{name}.fish")),
    ] {
        let mut command = command.clone();
        let mut text = Vec::new();
        clap_complete::generate(shell, &mut command, &name, &mut text);
        fs_err::write(out.join("completions").join(file), text)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1) else {
        eprintln!("usage: appliance-gendocs OUTDIR");
        return ExitCode::from(2);
    };
    let commands = [
        va_seed::Cli::command(),
        valist::Cli::command(),
        vainstall::Cli::command(),
        va_backup::Cli::command(),
        va_build::Cli::command(),
        appliance_control::Cli::command(),
    ];
    match commands.iter().try_for_each(|c| write(c, Path::new(&out))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
