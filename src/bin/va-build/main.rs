//! `va-build`: a bootable virtual machine image of an appliance package.

mod cli;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use appliance::image::work::Progress;
use appliance::image::{self, Format, Options, sources};
use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// On a terminal: a spinner with the stage and the log's last line; otherwise one line a stage.
enum Shown {
    Bar(ProgressBar),
    Lines,
}

impl Progress for Shown {
    fn stage(&mut self, number: usize, total: usize, what: &str) {
        match self {
            Self::Bar(bar) => {
                bar.println(format!("[{number}/{total}] {what}"));
                bar.set_prefix(format!("[{number}/{total}]"));
            }
            Self::Lines => eprintln!("[{number}/{total}] {what}"),
        }
    }

    fn line(&mut self, line: &str) {
        if let Self::Bar(bar) = self {
            let line: String = line.chars().filter(|c| !c.is_control()).take(100).collect();
            bar.set_message(line);
        }
    }
}

fn options(cli: &cli::Cli) -> anyhow::Result<Options> {
    let read = |path: &std::path::Path, what: &str| {
        fs_err::read_to_string(path).with_context(|| format!("cannot read the {what}"))
    };
    let repos = cli
        .repo
        .iter()
        .map(|r| sources::Repo::parse(r).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.is_empty() => Some(
            v.parse()
                .with_context(|| format!("SOURCE_DATE_EPOCH=`{v}` is not a number of seconds"))?,
        ),
        _ => None,
    };
    Ok(Options {
        appliance: cli.appliance.clone(),
        output: cli.output.clone(),
        suite: cli.suite.clone(),
        mirror: cli.mirror.clone(),
        repos,
        size: cli.size,
        format: match cli.format {
            cli::Format::Qcow2 => Format::Qcow2,
            cli::Format::Raw => Format::Raw,
        },
        hostname: cli.hostname.clone(),
        ssh_key: cli
            .ssh_key
            .as_deref()
            .map(|p| read(p, "SSH key"))
            .transpose()?,
        seed: cli.seed.as_deref().map(|p| read(p, "seed")).transpose()?,
        cloud_init: cli.cloud_init,
        cache: cli.cache.clone(),
        overwrite: cli.overwrite,
        source_date_epoch: epoch,
    })
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    appliance::cli::finish_json(run(&cli), cli.json)
}

fn run(cli: &cli::Cli) -> anyhow::Result<()> {
    let options = options(cli)?;
    let started = Instant::now();
    let mut shown = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix} {elapsed} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        Shown::Bar(bar)
    } else {
        Shown::Lines
    };
    let result = image::build(&options, &mut shown);
    if let Shown::Bar(bar) = &shown {
        bar.finish_and_clear();
    }
    let built = result.with_context(|| format!("cannot build an image of `{}`", cli.appliance))?;
    if cli.json {
        println!(
            "{}",
            serde_json::json!({
                "image": built.output,
                "appliance": built.appliance,
                "version": built.version,
                "bytes": built.bytes,
                "root-bytes": built.root_bytes,
                "seconds": started.elapsed().as_secs(),
                "log": built.log,
                "manifest": built.manifest,
                "kept-secrets": built.kept_secrets,
            })
        );
        return Ok(());
    }
    let mib = |b: u64| b >> 20;
    println!(
        "{}: {} {} in {:.0} s; {} MiB on disk (root {} MiB)",
        built.output.display(),
        built.appliance,
        built.version,
        started.elapsed().as_secs_f64(),
        mib(built.bytes),
        mib(built.root_bytes),
    );
    println!("log: {}", built.log.display());
    println!("files: {}", built.manifest.display());
    println!(
        "credentials: each machine made from the image makes its own passwords, keys and \
         certificates at first boot; `va-seed secrets` as root on the machine shows them"
    );
    if !built.kept_secrets.is_empty() {
        println!(
            "  kept from --seed on every machine: {}",
            built.kept_secrets.join(", ")
        );
    }
    Ok(())
}
