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
        None => serve(Serve {
            listen: std::net::SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 8080)),
            agent: "/run/appliance/agent.sock".into(),
            root: "/".into(),
            tls: None,
        }),
        Some(Command::Serve {
            listen,
            agent,
            root,
            tls_cert,
            tls_key,
            client_ca,
        }) => serve(Serve {
            listen,
            agent,
            root,
            tls: tls_cert
                .zip(tls_key)
                .map(|(cert, key)| (cert, key, client_ca)),
        }),
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

struct Serve {
    listen: std::net::SocketAddr,
    agent: std::path::PathBuf,
    root: std::path::PathBuf,
    /// Certificate, key and client CA.
    tls: Option<(
        std::path::PathBuf,
        std::path::PathBuf,
        Option<std::path::PathBuf>,
    )>,
}

fn serve(serve: Serve) -> anyhow::Result<()> {
    let Serve {
        listen,
        agent,
        root,
        tls,
    } = serve;
    if nix::unistd::geteuid().is_root() {
        anyhow::bail!(
            "appliance-control does not serve as root: systemd runs it as the user `appliance-control`"
        );
    }
    let tls_config = match &tls {
        Some((cert, key, ca)) => Some(
            appliance_control::tls::server_config(cert, key, ca.as_deref())
                .map_err(|e| anyhow::anyhow!(e))?,
        ),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async move {
        let state = AppState::new(Config {
            root,
            agent,
            secure: tls_config.is_some(),
            client_ca: tls.as_ref().is_some_and(|(_, _, ca)| ca.is_some()),
        });
        let app = web::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
        if let Some(config) = tls_config {
            eprintln!("appliance-control: serving on https://{listen}/");
            return axum_server::bind_rustls(
                listen,
                axum_server::tls_rustls::RustlsConfig::from_config(config),
            )
            .serve(app)
            .await
            .with_context(|| format!("cannot serve on {listen}"));
        }
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        eprintln!("appliance-control: serving on http://{listen}/");
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("the server stopped")
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
