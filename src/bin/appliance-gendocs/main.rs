//! Build-time helper (not installed): writes the man pages and shell completions of the
//! command-line tools from their clap definitions into the directory given.

#![expect(
    clippy::disallowed_methods,
    reason = "writes the man pages and completions into the package build's own tree"
)]

#[path = "../va-seed/cli.rs"]
#[allow(dead_code, reason = "only the definitions are used here")]
mod va_seed;

#[path = "../valist/cli.rs"]
#[allow(dead_code, reason = "only the definitions are used here")]
mod valist;

#[path = "../va-backup/cli.rs"]
#[allow(dead_code, reason = "only the definitions are used here")]
mod va_backup;

#[path = "../va-build/cli.rs"]
#[allow(dead_code, reason = "only the definitions are used here")]
mod va_build;

#[path = "../va-upgrade-release/cli.rs"]
#[allow(dead_code, reason = "only the definitions are used here")]
mod va_upgrade_release;

#[path = "../vainstall/cli.rs"]
#[allow(dead_code, reason = "only the definitions are used here")]
mod vainstall;

#[path = "../../../control/src/bin/appliance-control/cli.rs"]
#[allow(dead_code, reason = "only the definitions are used here")]
mod appliance_control;

mod pages;

use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;

fn write(command: &clap::Command, out: &Path) -> std::io::Result<()> {
    let name = command.get_name().to_owned();
    let extra = pages::PAGES
        .iter()
        .find(|page| page.tool == name)
        .ok_or_else(|| {
            std::io::Error::other(format!(
                "`{name}` has no EXIT STATUS, FILES and EXAMPLES in appliance-gendocs/pages.rs"
            ))
        })?;
    let man = out.join("man");
    fs_err::create_dir_all(&man)?;
    fs_err::create_dir_all(out.join("completions"))?;
    // The page of the tool, and one per subcommand (NAME-SUBCOMMAND(1)), which the tool's page
    // names in its SUBCOMMANDS section.
    let mut built = command.clone().disable_help_subcommand(true);
    built.build();
    write_page(&built, extra, None, &man)?;
    for subcommand in built.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_page(subcommand, extra, Some(subcommand.get_name()), &man)?;
    }
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

/// `clap_mangen`'s sections, then EXIT STATUS, ENVIRONMENT, FILES and EXAMPLES, then the version.
fn write_page(
    command: &clap::Command,
    extra: &pages::Extra,
    subcommand: Option<&str>,
    dir: &Path,
) -> std::io::Result<()> {
    let man = clap_mangen::Man::new(command.clone());
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    if command.has_subcommands() {
        man.render_subcommands_section(&mut page)?;
    }
    if command.get_after_long_help().is_some() || command.get_after_help().is_some() {
        man.render_extra_section(&mut page)?;
    }
    page.extend_from_slice(pages::render(extra, subcommand).as_bytes());
    if command.get_version().is_some() {
        man.render_version_section(&mut page)?;
    }
    fs_err::write(dir.join(man.get_filename()), page)
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
        va_upgrade_release::Cli::command(),
        appliance_control::Cli::command(),
    ];
    match commands.iter().try_for_each(|c| write(c, Path::new(&out))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            appliance::cli::print_error(&error.into(), None);
            ExitCode::FAILURE
        }
    }
}
