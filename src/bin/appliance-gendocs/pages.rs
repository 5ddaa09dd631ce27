//! What a man page says beyond the command line clap knows: EXIT STATUS, ENVIRONMENT, FILES and
//! EXAMPLES, per tool (man-pages(7) orders them so, after OPTIONS).

use std::fmt::Write as _;

/// An example: the subcommand it belongs to (`""` for the tool's own page), what it does, and the
/// command line.
pub type Example = (&'static str, &'static str, &'static str);

pub struct Extra {
    pub tool: &'static str,
    /// Exit status and its meaning.
    pub exit_status: &'static [(&'static str, &'static str)],
    /// Environment variable and its meaning.
    pub environment: &'static [(&'static str, &'static str)],
    /// Path and what it holds.
    pub files: &'static [(&'static str, &'static str)],
    pub examples: &'static [Example],
}

const USAGE: (&str, &str) = (
    "2",
    "The command line was wrong (an unknown option, a missing argument); nothing was done.",
);

const DPKG_ROOT: (&str, &str) = (
    "DPKG_ROOT",
    "The system's root when no --root is given, as dpkg(1) sets it; empty or unset means /. A root that is not a directory is an error.",
);

pub const PAGES: &[Extra] = &[
    Extra {
        tool: "va-seed",
        exit_status: &[
            (
                "0",
                "Done: every seed is valid, the check found nothing, the secrets were shown or renewed.",
            ),
            (
                "1",
                "A seed is invalid, the check found an unanswered or unowned question, or the work failed; the message names the file and line or the command.",
            ),
            USAGE,
        ],
        environment: &[DPKG_ROOT],
        files: &[
            (
                "/var/lib/appliance/seeds/",
                "The seeds the installed appliances ship, one PACKAGE.seed each.",
            ),
            (
                "/var/lib/appliance/state/",
                "What was applied: one PACKAGE.info per appliance, with the questions still to reconfigure.",
            ),
            (
                "/var/lib/appliance/secrets/",
                "The secrets generated for the seeds' @secret:NAME markers, one file per appliance, root's alone (0600).",
            ),
            (
                "/usr/share/appliance/plugins/",
                "The plugin manifests: what each secret opens and the command that renews it.",
            ),
            (
                "/etc/appliance-control/tls/cert.pem",
                "appliance-control's certificate, whose fingerprint va-seed secrets shows.",
            ),
        ],
        examples: &[
            (
                "validate",
                "Check a seed before building the appliance's package:",
                "va-seed validate debian/moinmoin-appliance.seed",
            ),
            (
                "diff",
                "What an upgrade of the appliance will answer anew:",
                "va-seed diff old/moinmoin-appliance.seed moinmoin-appliance.seed",
            ),
            (
                "status",
                "The appliances whose seeds were applied:",
                "va-seed status",
            ),
            (
                "secrets",
                "The first login's passwords, as root:",
                "sudo va-seed secrets moinmoin-appliance",
            ),
            (
                "renew",
                "New passwords and keys for a copied machine, keeping one a site's seed set:",
                "sudo va-seed renew --keep control-admin",
            ),
            (
                "check",
                "Check that a seed answers every question of the release APT installs from:",
                "va-seed check --seed ./moinmoin-appliance.seed moinmoin-appliance",
            ),
        ],
    },
    Extra {
        tool: "valist",
        exit_status: &[
            ("0", "The list was printed (it may be empty)."),
            (
                "1",
                "APT's cache could not be read, or the root is not a directory.",
            ),
            USAGE,
        ],
        environment: &[DPKG_ROOT],
        files: &[
            (
                "/var/lib/apt/lists/",
                "The package lists APT downloaded (apt-get update), read through libapt-pkg.",
            ),
            ("/var/lib/dpkg/status", "What is installed."),
        ],
        examples: &[
            (
                "",
                "Every appliance the configured repositories offer:",
                "valist",
            ),
            (
                "",
                "The installed one, for a script:",
                "valist --installed --json",
            ),
        ],
    },
    Extra {
        tool: "vainstall",
        exit_status: &[
            ("0", "The appliance is installed."),
            (
                "1",
                "It is not an appliance APT knows, its seed is invalid, or apt-get failed; what was installed before stays.",
            ),
            USAGE,
        ],
        environment: &[DPKG_ROOT],
        files: &[
            (
                "/var/lib/appliance/seeds/",
                "Where the appliance's seed is kept once installed.",
            ),
            (
                "/var/cache/apt/archives/",
                "Where the packages are downloaded before the seed is applied.",
            ),
        ],
        examples: &[
            (
                "",
                "Install the flagship where the APT hook is not loaded:",
                "sudo vainstall moinmoin-appliance",
            ),
            (
                "",
                "Into a chroot, without questions:",
                "sudo vainstall --yes --root /srv/chroot/wiki dokuwiki-appliance",
            ),
        ],
    },
    Extra {
        tool: "va-backup",
        exit_status: &[
            (
                "0",
                "Done: the backup was written, is sound, was restored or pruned; the appliance is healthy; the rollback put everything back.",
            ),
            (
                "1",
                "The backup is damaged, hostile or too large, or the work failed; a restore that failed left the system's data as it was before (an interrupted one is finished or rolled back by the next va-backup run). health: a check failed. rollback: a package could not be put back, or the checks still fail.",
            ),
            USAGE,
        ],
        environment: &[DPKG_ROOT],
        files: &[
            (
                "/var/backups/appliance/",
                "The backups, APPLIANCE-TIME.abf, newest last; list and prune work there.",
            ),
            (
                "/var/backups/appliance/safety/",
                "The safety backups APT's hook makes before a transaction changes the appliance, each with NAME.json (the transaction) and NAME.debs/ (the packages' previous .debs); rollback uses the newest.",
            ),
            (
                "/var/lib/appliance/health/",
                "The last health check of each appliance (APPLIANCE.json), and `pending` while one is due.",
            ),
            (
                "/var/lib/appliance/backup.key",
                "This system's key (root's, 0600): a backup whose MAC it made was made here.",
            ),
            (
                "/var/lib/appliance/restore.journal",
                "The swaps of a restore under way, so that an interrupted one is finished or undone.",
            ),
            (
                "/usr/share/appliance/plugins/",
                "The plugin manifests: what an appliance's backup holds, the services stopped meanwhile, the migrations.",
            ),
        ],
        examples: &[
            (
                "create",
                "Back up the installed appliance as its plugin says:",
                "sudo va-backup create",
            ),
            (
                "verify",
                "Check a backup copied from another server before restoring it:",
                "va-backup verify wiki.abf",
            ),
            ("list", "The stored backups:", "va-backup list"),
            (
                "restore",
                "Restore it (the services are stopped for the swap):",
                "sudo va-backup restore moinmoin-appliance-2026-11-30T062913Z.abf",
            ),
            (
                "restore",
                "A 2009 backup whose wiki was elsewhere:",
                "sudo va-backup restore --move /usr/share/moin/mywiki=/var/lib/moin/wiki/data old.abf",
            ),
            (
                "prune",
                "Keep the newest five of each appliance:",
                "sudo va-backup prune --keep 5",
            ),
            ("health", "Does the wiki work?", "sudo va-backup health"),
            (
                "rollback",
                "Undo the last upgrade of the appliance (packages and data):",
                "sudo va-backup rollback",
            ),
        ],
    },
    Extra {
        tool: "va-upgrade-release",
        exit_status: &[
            (
                "0",
                "The system runs the next release and the appliance is healthy; --check: it can move; --rollback: the release left is back and healthy.",
            ),
            (
                "1",
                "The system cannot move now (each reason is said, with its way out), the answer was no, or the sources or the download failed and were put back: nothing else was changed. --rollback: no snapshot, or the rollback or the checks after it failed.",
            ),
            USAGE,
            (
                "3",
                "The upgrade or its health checks failed, and the release left was put back (its files, then the appliance's data): reboot.",
            ),
            (
                "4",
                "The upgrade failed and the system is left halfway (--on-failure stay, or the rollback failed): va-upgrade-release --rollback puts the release left back.",
            ),
        ],
        environment: &[],
        files: &[
            (
                "/var/lib/appliance/release/snapshot/",
                "The release left's files while the upgrade runs: /usr, /boot and /opt as hard links, /etc and dpkg's, debconf's and ucf's databases as copies; complete.json says it is whole. Removed once the upgrade is healthy.",
            ),
            (
                "/etc/apt/sources.list, /etc/apt/sources.list.d/",
                "The entries of Debian's archives and the appliances' repository move to the next release's suites; any other is left as it is, and listed.",
            ),
            (
                "/var/backups/appliance/safety/",
                "The safety backup APT's hook makes before the upgrade's dpkg run; a rollback restores its data.",
            ),
        ],
        examples: &[
            (
                "",
                "Can this system move, and which sources would?",
                "sudo va-upgrade-release --check",
            ),
            (
                "",
                "Move it, without a question (from a script or appliance-control):",
                "sudo va-upgrade-release --yes",
            ),
            (
                "",
                "Put the release left back after an upgrade left halfway:",
                "sudo va-upgrade-release --rollback",
            ),
        ],
    },
    Extra {
        tool: "va-build",
        exit_status: &[
            ("0", "The image is written."),
            (
                "1",
                "The build failed or PACKAGE is not an appliance; nothing is left at FILE (the log is kept beside it).",
            ),
            USAGE,
        ],
        environment: &[(
            "SOURCE_DATE_EPOCH",
            "When set, the image is reproducible: its identifiers and file times derive from it. Unset, every identifier is random.",
        )],
        files: &[
            ("FILE.log", "The whole log of the build, beside the image."),
            ("FILE.manifest", "The image's file listing."),
            (
                "/var/cache/va-build/",
                "Downloaded packages, kept for the next build (--cache).",
            ),
        ],
        examples: &[
            (
                "",
                "An image of the flagship from the configured repositories:",
                "sudo va-build --appliance moinmoin-appliance -o wiki.qcow2",
            ),
            (
                "",
                "From a local repository, with a key to log in and cloud-init:",
                "sudo va-build --appliance dokuwiki-appliance --repo ./repo --ssh-key ~/.ssh/id_ed25519.pub --cloud-init -o wiki.qcow2",
            ),
        ],
    },
    Extra {
        tool: "appliance-control",
        exit_status: &[
            ("0", "serve stopped cleanly; passwd set the password."),
            (
                "1",
                "serve could not start (its certificate, users file or port) or passwd failed.",
            ),
            USAGE,
        ],
        environment: &[(
            "APPLIANCE_CONTROL_ARGS",
            "The options systemd gives serve, from /etc/default/appliance-control.",
        )],
        files: &[
            (
                "/etc/default/appliance-control",
                "The options of the service (listen address, certificate, client CA, upload limit).",
            ),
            (
                "/etc/appliance-control/users",
                "The users and their password hashes (root:appliance-control, 0640).",
            ),
            (
                "/etc/appliance-control/tls/",
                "The server's certificate and key, made at installation.",
            ),
            (
                "/etc/appliance-control/client-certs",
                "Client certificates that log their user in.",
            ),
            (
                "/usr/share/appliance/plugins/",
                "The plugin manifests of the appliances' settings, actions and backups.",
            ),
            (
                "/var/lib/appliance-control/jobs/",
                "The logs of updates and other jobs.",
            ),
        ],
        examples: &[
            (
                "passwd",
                "Set the administrator's password (read from standard input without a terminal):",
                "sudo appliance-control passwd admin",
            ),
            (
                "serve",
                "Serve on another address:",
                "appliance-control serve --listen 127.0.0.1:8443",
            ),
        ],
    },
];

/// Text for roff: backslashes doubled, hyphens as minus signs (options, command lines), a
/// leading dot or quote escaped.
fn escape(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    if text.starts_with(['.', '\'']) {
        format!("\\&{text}")
    } else {
        text
    }
}

/// The extra sections of `tool`'s page, or of its subcommand `subcommand`'s: its examples (all
/// the tool's on its own page when it has none of its own).
pub fn render(extra: &Extra, subcommand: Option<&str>) -> String {
    let mut roff = String::new();
    let mut list = |title: &str, items: &[(&str, &str)], bold: bool| {
        if items.is_empty() {
            return;
        }
        let _ = writeln!(roff, ".SH \"{title}\"");
        for (term, text) in items {
            let term = escape(term);
            let term = if bold {
                format!("\\fB{term}\\fR")
            } else {
                term
            };
            let _ = writeln!(roff, ".TP\n{term}\n{}", escape(text));
        }
    };
    list("EXIT STATUS", extra.exit_status, false);
    list("ENVIRONMENT", extra.environment, true);
    list("FILES", extra.files, true);
    let own: Vec<&Example> = extra
        .examples
        .iter()
        .filter(|(sub, _, _)| subcommand.is_none_or(|s| *sub == s))
        .collect();
    let examples: Vec<&Example> = if own.is_empty() {
        extra.examples.iter().collect()
    } else {
        own
    };
    if !examples.is_empty() {
        roff.push_str(".SH EXAMPLES\n");
        for (_, what, command) in examples {
            let _ = writeln!(
                roff,
                ".PP\n{}\n.PP\n.RS 4\n.nf\n\\fB{}\\fR\n.fi\n.RE",
                escape(what),
                escape(command)
            );
        }
    }
    roff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roff_text_is_escaped() {
        assert_eq!(escape("--root a\\b"), "\\-\\-root a\\eb");
        assert_eq!(escape(".hidden"), "\\&.hidden");
    }

    #[test]
    fn a_subcommand_page_shows_its_own_examples_else_the_tools() {
        let va_backup = PAGES.iter().find(|p| p.tool == "va-backup").unwrap();
        let restore = render(va_backup, Some("restore"));
        assert!(restore.contains("\\-\\-move"), "{restore}");
        assert!(!restore.contains("va\\-backup prune"), "{restore}");
        let show = render(va_backup, Some("show"));
        assert!(show.contains("prune \\-\\-keep 5"), "{show}");
        for section in [
            ".SH \"EXIT STATUS\"",
            ".SH \"ENVIRONMENT\"",
            ".SH \"FILES\"",
            ".SH EXAMPLES",
        ] {
            assert!(show.contains(section), "{section}: {show}");
        }
    }
}
