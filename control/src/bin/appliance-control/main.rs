//! `appliance-control`: serve the web interface, or set a user's password.

mod cli;

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use appliance_control::users::Users;
use appliance_control::web::{self, AppState, Config};
use clap::Parser;
use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => serve(cli::Serve::parse_from(["appliance-control serve"])),
        Some(Command::Serve(arguments)) => serve(arguments),
        Some(Command::Passwd { user, quiet, root }) => passwd(&user, quiet, &root),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn serve(arguments: cli::Serve) -> anyhow::Result<()> {
    let cli::Serve {
        listen,
        agent,
        root,
        tls_cert,
        tls_key,
        client_ca,
        upload_limit,
    } = arguments;
    if nix::unistd::geteuid().is_root() {
        anyhow::bail!(
            "appliance-control does not serve as root: systemd runs it as the user `appliance-control`"
        );
    }
    let client_ca = client_ca
        .as_deref()
        .map(appliance_control::tls::ClientCa::load)
        .transpose()
        .map_err(|e| anyhow::anyhow!(e))?;
    let tls_config =
        appliance_control::tls::server_config(&tls_cert, &tls_key, client_ca.as_ref())
            .map_err(|e| {
                anyhow::anyhow!(
                    "{e}\nhint: appliance-control serves HTTPS only; `/usr/lib/appliance-control/make-certificate` (as root) makes this system's certificate, or give your own with `--tls-cert` and `--tls-key`"
                )
            })?;
    let client_ca_subjects = client_ca.map(|ca| ca.subjects).unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async move {
        let mut config = Config::new(root, agent);
        config.client_ca = client_ca_subjects;
        config.upload_limit = upload_limit;
        let app = web::router(AppState::new(config));
        let listener = std::net::TcpListener::bind(listen)
            .with_context(|| format!("cannot listen on {listen}"))?;
        eprintln!(
            "appliance-control: serving on https://{listen}/ (plain HTTP there is redirected)"
        );
        appliance_control::https::serve(listener, tls_config, app)
            .await
            .with_context(|| format!("cannot serve on {listen}"))
    })
}

/// Reads a line without echo on a terminal.
fn read_password(prompt: &str) -> anyhow::Result<String> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    let mut line = String::new();
    if stdin.is_terminal() {
        eprint!("{prompt}");
        std::io::stderr().flush()?;
        let saved = tcgetattr(&stdin).context("cannot read the terminal's settings")?;
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        tcsetattr(&stdin, SetArg::TCSANOW, &quiet).context("cannot turn echo off")?;
        let read = stdin.lock().read_line(&mut line);
        tcsetattr(&stdin, SetArg::TCSANOW, &saved).context("cannot turn echo back on")?;
        eprintln!();
        read?;
    } else {
        stdin.lock().read_line(&mut line)?;
    }
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

fn passwd(user: &str, quiet: bool, root: &std::path::Path) -> anyhow::Result<()> {
    let mut users = Users::load(root)?;
    let password = read_password(&format!("New password for {user}: "))?;
    if std::io::stdin().is_terminal() && read_password("Again: ")? != password {
        anyhow::bail!("the two passwords differ; nothing was changed");
    }
    users.set_password(user, &password)?;
    users.save(root)?;
    if !quiet {
        eprintln!(
            "The password of {user} is set; their sessions end when appliance-control restarts."
        );
    }
    Ok(())
}
