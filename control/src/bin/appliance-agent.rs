//! `appliance-agent`: the root side of appliance-control. Started by systemd for each connection
//! to `/run/appliance/agent.sock` (the connection is its standard input and output); or, as
//! `appliance-agent job KIND ID`, the body of a long apt job in its own unit.

use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;

use appliance_control::agent::{Agent, Host};
use appliance_control::jobs::{self, Kind};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let root = PathBuf::from("/");
    match arguments
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => {
            let stdin = std::io::stdin();
            let peer = getsockopt(&stdin, PeerCredentials).ok().map(|c| c.uid());
            let web_uid = nix::unistd::User::from_name("appliance-control")
                .ok()
                .flatten()
                .map(|u| u.uid.as_raw());
            let agent = Agent {
                root,
                web_uid,
                system: &Host,
            };
            match agent.serve(
                peer,
                &mut BufReader::new(stdin.lock()),
                &mut std::io::stdout().lock(),
            ) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("appliance-agent: cannot answer: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        ["job", kind, id] => {
            let Some(kind) = Kind::from_name(kind) else {
                eprintln!("appliance-agent: unknown job `{kind}`");
                return ExitCode::from(2);
            };
            match jobs::run(&root, kind, id) {
                Ok(jobs::State::Succeeded) => ExitCode::SUCCESS,
                Ok(_) => ExitCode::FAILURE,
                Err(error) => {
                    eprintln!("appliance-agent: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        ["--help" | "-h"] => {
            println!(
                "Usage: appliance-agent            (started by systemd: appliance-agent.socket)\n       appliance-agent job KIND ID (started by the agent: refresh, upgrade, configure-pending)"
            );
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("appliance-agent: usage: appliance-agent [job KIND ID]");
            ExitCode::from(2)
        }
    }
}
