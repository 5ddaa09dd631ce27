//! The real binaries against real tools: `va-seed` on our seeds, and `apt-hook` fed the APT
//! protocol, applying seeds with the real `debconf-set-selections` into a throwaway debconf
//! database (`DEBCONF_SYSTEMRC`), with packages built by the real `dpkg-deb`.

#![allow(
    clippy::disallowed_methods,
    reason = "tests make their fixtures and run the programs under test directly"
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const TREE: &str = env!("CARGO_MANIFEST_DIR");

/// Whether the programs a test needs are here. Run by hand without them, the test skips and says
/// so; under `make test` (`APPLIANCE_E2E=1`) a missing one is a failure.
fn needs(test: &str, programs: &[&str]) -> bool {
    let missing: Vec<&str> = programs.iter().copied().filter(|p| !has(p)).collect();
    if missing.is_empty() {
        return true;
    }
    let message = format!("{test}: needs {}", missing.join(", "));
    assert!(std::env::var_os("APPLIANCE_E2E").is_none(), "{message}");
    eprintln!("skipped: {message}");
    false
}

fn has(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `command` with `input` on its standard input; what it printed.
fn with_input(command: &mut Command, input: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn va_seed_validates_the_shipped_seeds() {
    let seeds: Vec<PathBuf> = std::fs::read_dir(Path::new(TREE).join("seeds"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seed"))
        .collect();
    assert!(!seeds.is_empty());
    let output = Command::new(env!("CARGO_BIN_EXE_va-seed"))
        .arg("validate")
        .args(&seeds)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
}

#[test]
fn va_seed_reports_the_line_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.seed");
    std::fs::write(
        &bad,
        "a a/b string x\n\na a/c boolean maybe\na a/d strin y\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_va-seed"))
        .arg("validate")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Every error, not the first only.
    assert!(
        stderr.contains("line 3:") && stderr.contains("`true` or `false`, not `maybe`"),
        "{stderr}"
    );
    assert!(stderr.contains("line 4:"), "{stderr}");
    // `-` reads standard input; a seed without an answer is valid, with a warning.
    let mut validate = Command::new(env!("CARGO_BIN_EXE_va-seed"));
    validate.args(["validate", "-"]);
    let empty = with_input(&mut validate, b"# nothing yet\n");
    assert_eq!(empty.status.code(), Some(0), "{}", text(&empty));
    assert!(
        text(&empty).contains("(standard input): warning: no answer at all"),
        "{}",
        text(&empty)
    );
    let usage = Command::new(env!("CARGO_BIN_EXE_va-seed"))
        .arg("frobnicate")
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn va_seed_refuses_a_literal_password_naming_file_line_and_marker() {
    let dir = tempfile::tempdir().unwrap();
    let literal = dir.path().join("literal.seed");
    std::fs::write(
        &literal,
        "moin moin/wiki-name string Wiki\nmoin moin/admin-password password appliance-demo\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_va-seed"))
        .arg("validate")
        .arg(&literal)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "{}: line 2: `moin/admin-password`",
            literal.display()
        )) && stderr.contains("moin moin/admin-password password @secret:admin-password"),
        "{stderr}"
    );
    // A marker on a question of another type is refused too, with its line.
    std::fs::write(&literal, "# x\nmoin moin/wiki-name string @secret:name\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_va-seed"))
        .arg("validate")
        .arg(&literal)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("line 2: `moin/wiki-name` is `string`"),
        "{}",
        text(&output)
    );
}

#[test]
fn va_seed_diff_shows_what_an_upgrade_applies() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (dir.path().join("old.seed"), dir.path().join("new.seed"));
    std::fs::write(&old, "p p/a string 1\np p/b string 2\n").unwrap();
    std::fs::write(&new, "p p/a string 1\np p/b string 3\np p/c string 4\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_va-seed"))
        .arg("diff")
        .arg(&old)
        .arg(&new)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "+ p p/b string 3\n+ p p/c string 4\n"
    );
}

/// A throwaway system: a root for the registry, dpkg and debconf (its own `/etc/debconf.conf` and
/// database), found by every tool through `DPKG_ROOT` as in a chrootless install.
struct System {
    dir: tempfile::TempDir,
}

impl System {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("var/lib/dpkg")).unwrap();
        std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
        std::fs::create_dir_all(root.join("var/cache/debconf")).unwrap();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        // debconf puts DPKG_ROOT before these names itself.
        std::fs::write(
            root.join("etc/debconf.conf"),
            "Config: configdb\nTemplates: templatedb\n\nName: configdb\nDriver: File\nFilename: /var/cache/debconf/config.dat\n\nName: templatedb\nDriver: File\nFilename: /var/cache/debconf/templates.dat\n",
        )
        .unwrap();
        Self { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn config_dat(&self) -> String {
        std::fs::read_to_string(self.root().join("var/cache/debconf/config.dat"))
            .unwrap_or_default()
    }

    fn hook(&self, input: &str) -> Output {
        let mut hook = Command::new(env!("CARGO_BIN_EXE_apt-hook"));
        hook.env("DPKG_ROOT", self.root())
            .env_remove("DEBCONF_SYSTEMRC")
            .env_remove("DPKG_ADMINDIR")
            .env_remove("APT_HOOK_INFO_FD");
        with_input(&mut hook, input.as_bytes())
    }
}

/// Builds `tests/fixtures/NAME` with dpkg-deb.
fn fixture(name: &str, out: &Path) -> PathBuf {
    let tree = out.join(name);
    assert!(
        Command::new("cp")
            .arg("-a")
            .arg(Path::new(TREE).join("tests/fixtures").join(name))
            .arg(&tree)
            .status()
            .unwrap()
            .success()
    );
    let deb = out.join(format!("{name}_1_all.deb"));
    let output = Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zzstd", "--build"])
        .arg(&tree)
        .arg(&deb)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    deb
}

fn v3_line(package: &str, deb: &Path) -> String {
    format!(
        "VERSION 3\nAPT::Architecture=amd64\n\n{package} - - none < 1 all none {}\n",
        deb.display()
    )
}

#[test]
fn apt_hook_applies_a_seed_with_real_debconf() {
    if !needs(
        "apt_hook_applies_a_seed_with_real_debconf",
        &["debconf-set-selections", "dpkg-deb"],
    ) {
        return;
    }
    let system = System::new();
    let work = tempfile::tempdir().unwrap();
    let deb = fixture("other-appliance", work.path());
    let output = system.hook(&v3_line("other-appliance", &deb));
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "Seeding other-appliance 1: 1 answer applied\n"
    );
    let db = system.config_dat();
    assert!(
        db.contains("Name: other-appliance/greeting")
            && db.contains("Value: hello")
            && db.contains("Flags: seen"),
        "{db}"
    );
    let state = std::fs::read_to_string(
        system
            .root()
            .join("var/lib/appliance/state/other-appliance.info"),
    )
    .unwrap();
    assert!(state.contains("Applied-By: apt-hook"), "{state}");
}

#[test]
fn apt_hook_generates_secrets_that_only_va_seed_secrets_shows() {
    if !needs(
        "apt_hook_generates_secrets_that_only_va_seed_secrets_shows",
        &["debconf-set-selections", "dpkg-deb"],
    ) {
        return;
    }
    let system = System::new();
    let work = tempfile::tempdir().unwrap();
    let deb = fixture("secret-appliance", work.path());
    let output = system.hook(&v3_line("secret-appliance", &deb));
    assert!(output.status.success(), "{}", text(&output));
    let printed = text(&output);
    assert!(printed.contains("1 secret generated"), "{printed}");
    let store = system
        .root()
        .join("var/lib/appliance/secrets/secret-appliance");
    let stored = std::fs::read_to_string(&store).unwrap();
    let value = stored.trim().strip_prefix("admin ").unwrap().to_owned();
    assert_eq!(value.len(), 20);
    assert!(!printed.contains(&value), "the hook printed the secret");
    let mode = |path: &Path| {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode(&store), 0o600);
    assert_eq!(mode(store.parent().unwrap()), 0o700);
    // debconf got the value for both questions, never the marker.
    let db = system.config_dat();
    assert_eq!(db.matches(&format!("Value: {value}")).count(), 2, "{db}");
    assert!(!db.contains("@secret"), "{db}");
    // The registry's copy of the seed keeps the markers, root's alone.
    let copy = system
        .root()
        .join("var/lib/appliance/state/secret-appliance.seed");
    assert_eq!(mode(&copy), 0o600);
    assert!(!std::fs::read_to_string(&copy).unwrap().contains(&value));
    // Root sees it with va-seed secrets.
    let shown = Command::new(env!("CARGO_BIN_EXE_va-seed"))
        .arg("--root")
        .arg(system.root())
        .arg("secrets")
        .output()
        .unwrap();
    assert!(shown.status.success(), "{}", text(&shown));
    let stdout = String::from_utf8_lossy(&shown.stdout);
    assert!(
        stdout.contains("secret-appliance:")
            && stdout.contains(&format!("admin: {value}"))
            && stdout
                .contains("answers: secret-appliance/password, secret-appliance/password-again"),
        "{stdout}"
    );
    // Applied again (an upgrade): the same value.
    let again = system.hook(&v3_line("secret-appliance", &deb));
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(std::fs::read_to_string(&store).unwrap(), stored);
}

#[test]
fn apt_hook_stays_silent_without_an_appliance() {
    let system = System::new();
    let input = "VERSION 3\nA=b\n\nhello - - none < 2.10 amd64 none /nonexistent/hello_2.10_amd64.deb\nx 1 amd64 none = 1 amd64 none **CONFIGURE**\n";
    let output = system.hook(input);
    assert!(output.status.success(), "{}", text(&output));
    // The unreadable .deb is dpkg's business: a warning, not a failure.
    assert!(output.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .starts_with("W: cannot read `/nonexistent/hello_2.10_amd64.deb`")
    );
    assert!(!system.root().join("var/lib/appliance").exists());
}

#[test]
fn apt_hook_stops_apt_on_a_malformed_seed() {
    if !needs("apt_hook_stops_apt_on_a_malformed_seed", &["dpkg-deb"]) {
        return;
    }
    let system = System::new();
    let work = tempfile::tempdir().unwrap();
    let deb = fixture("broken-appliance", work.path());
    let output = system.hook(&v3_line("broken-appliance", &deb));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("E: `broken-appliance`: invalid seed `/var/lib/appliance/seeds/broken-appliance.seed` in `"), "{stderr}");
    assert!(stderr.contains("line 3: unknown type `strin`"), "{stderr}");
    assert!(system.config_dat().is_empty());
    let garbage = system.hook("VERSION 7\n");
    assert_eq!(garbage.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&garbage.stderr).contains("unsupported protocol version `7`"));
}

#[test]
fn backups_we_write_read_with_unzip_zipinfo_tar_and_python() {
    use appliance::backup::info::Info;
    if !needs(
        "backups_we_write_read_with_unzip_zipinfo_tar_and_python",
        &["unzip", "zipinfo", "python3", "tar", "sha1sum", "sha256sum"],
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let system = dir.path().join("system");
    std::fs::create_dir_all(system.join("etc/moin")).unwrap();
    std::fs::create_dir_all(system.join("var/lib/moin/wiki/data/pages")).unwrap();
    std::fs::write(system.join("etc/moin/wikiconfig.py"), "sitename = 'x'\n").unwrap();
    std::fs::write(
        system.join("var/lib/moin/wiki/data/pages/p"),
        vec![7u8; 100_000],
    )
    .unwrap();
    let attribute = xattr::set(
        system.join("var/lib/moin/wiki/data/pages/p"),
        "user.comment",
        b"kept",
    )
    .is_ok();
    let info = Info {
        appliance: "moinmoin-appliance".into(),
        appdata_dirs: vec!["/var/lib/moin/wiki/data".into()],
        sysconf_dirs: vec!["/etc/moin".into()],
        timestamp: "2026-11-26T03:00:00Z".into(),
        version: "2.0".into(),
        package_version: None,
        plugin: None,
    };
    let abf = dir.path().join("b.abf");
    appliance::backup::write::create(&system, &info, &abf, &appliance::backup::Quiet).unwrap();
    let run = |program: &str, args: &[&str]| {
        let output = Command::new(program)
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{program} {args:?}: {}",
            text(&output)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert!(run("unzip", &["-t", "b.abf"]).contains("No errors detected"));
    let listing = run("zipinfo", &["-1", "b.abf"]);
    assert_eq!(
        listing.lines().collect::<Vec<_>>(),
        [
            "version",
            "info.yaml",
            "sysconfig.tar.gz",
            "appdata.tar.gz",
            "sha256sums",
            "sha256sums.hmac",
            "sha1sums"
        ]
    );
    run("unzip", &["-q", "b.abf", "-d", "x"]);
    // The original format's own check: sha1sum -c over the extracted members.
    let checked = Command::new("sha1sum")
        .args(["-c", "sha1sums"])
        .current_dir(dir.path().join("x"))
        .output()
        .unwrap();
    assert!(checked.status.success(), "{}", text(&checked));
    let checked = Command::new("sha256sum")
        .args(["-c", "sha256sums"])
        .current_dir(dir.path().join("x"))
        .output()
        .unwrap();
    assert!(checked.status.success(), "{}", text(&checked));
    the_mac_is_what_openssl_computes(&system, &dir.path().join("x"));
    let sysconf = run("tar", &["-tzf", "x/sysconfig.tar.gz"]);
    assert!(
        sysconf.lines().any(|l| l == "etc/moin/wikiconfig.py"),
        "{sysconf}"
    );
    let appdata = run("tar", &["-tzf", "x/appdata.tar.gz"]);
    assert!(
        appdata
            .lines()
            .any(|l| l == "var/lib/moin/wiki/data/pages/p"),
        "{appdata}"
    );
    let python = run(
        "python3",
        &[
            "-c",
            "import zipfile,sys; z=zipfile.ZipFile('b.abf'); assert z.testzip() is None; print(z.read('version').decode().strip())",
        ],
    );
    assert_eq!(python.trim(), "2");
    // GNU tar reads our extended attributes (pax SCHILY.xattr records) back.
    if attribute {
        gnu_tar_reads_the_attribute(dir.path());
    }
}

fn gnu_tar_reads_the_attribute(dir: &Path) {
    std::fs::create_dir(dir.join("out")).unwrap();
    let output = Command::new("tar")
        .args([
            "--xattrs",
            "--xattrs-include=user.*",
            "-xzf",
            "x/appdata.tar.gz",
            "-C",
            "out",
        ])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(
        xattr::get(
            dir.join("out/var/lib/moin/wiki/data/pages/p"),
            "user.comment"
        )
        .unwrap(),
        Some(b"kept".to_vec())
    );
}

/// The MAC of a backup extracted into `extracted` is HMAC-SHA256 of its `sha256sums` under the
/// key of `system`, as openssl computes it.
fn the_mac_is_what_openssl_computes(system: &Path, extracted: &Path) {
    let key = hex::encode(std::fs::read(system.join("var/lib/appliance/backup.key")).unwrap());
    let output = Command::new("openssl")
        .args(["dgst", "-sha256", "-mac", "HMAC", "-macopt"])
        .arg(format!("hexkey:{key}"))
        .arg(extracted.join("sha256sums"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let hmac = String::from_utf8_lossy(&output.stdout);
    let mac = std::fs::read_to_string(extracted.join("sha256sums.hmac")).unwrap();
    assert!(
        hmac.trim_end().ends_with(&format!("= {}", mac.trim_end())),
        "{hmac} vs {mac}"
    );
}

/// Every tool that works on a system finds its root one way (`--root`, else `DPKG_ROOT`, else /),
/// and a root named either way that is not a directory is an error naming it: never an empty
/// listing with exit status 0, never a tree made under it.
#[test]
fn every_tool_refuses_a_root_that_is_not_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nonexistent");
    let file = dir.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let backup = dir.path().join("x.abf");
    std::fs::write(&backup, b"not a backup").unwrap();
    let runs: [(&str, Vec<&str>); 6] = [
        (env!("CARGO_BIN_EXE_valist"), vec![]),
        (env!("CARGO_BIN_EXE_vainstall"), vec!["moinmoin-appliance"]),
        (env!("CARGO_BIN_EXE_va-seed"), vec!["status"]),
        (env!("CARGO_BIN_EXE_va-backup"), vec!["list"]),
        (
            env!("CARGO_BIN_EXE_va-backup"),
            vec!["restore", backup.to_str().unwrap()],
        ),
        (env!("CARGO_BIN_EXE_appliance-trigger"), vec![]),
    ];
    for (program, arguments) in &runs {
        for (root, reason) in [(&missing, "does not exist"), (&file, "is not a directory")] {
            let by_option = Command::new(program)
                .arg("--root")
                .arg(root)
                .args(arguments)
                .env_remove("DPKG_ROOT")
                .output()
                .unwrap();
            let by_environment = Command::new(program)
                .args(arguments)
                .env("DPKG_ROOT", root)
                .output()
                .unwrap();
            for (output, given) in [
                (by_option, "given with --root"),
                (by_environment, "named by DPKG_ROOT"),
            ] {
                let said = text(&output);
                assert_eq!(
                    output.status.code(),
                    Some(1),
                    "{program} {arguments:?}: {said}"
                );
                // One style: the program's own name, then `error:`.
                let name = Path::new(program).file_name().unwrap().to_string_lossy();
                assert!(
                    String::from_utf8_lossy(&output.stderr)
                        .starts_with(&format!("{name}: error: ")),
                    "{program} {arguments:?}: {said}"
                );
                assert!(
                    said.contains(&format!(
                        "the system root `{}` ({given}) {reason}",
                        root.display()
                    )),
                    "{program} {arguments:?}: {said}"
                );
            }
        }
    }
    assert!(!missing.exists(), "nothing was made under a missing root");
    // The hook has no options: DPKG_ROOT alone, and it stops APT.
    let hook = Command::new(env!("CARGO_BIN_EXE_apt-hook"))
        .env("DPKG_ROOT", &missing)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(hook.status.code(), Some(1), "{}", text(&hook));
    assert!(
        text(&hook).contains("named by DPKG_ROOT) does not exist"),
        "{}",
        text(&hook)
    );
    // validate and diff read files only: --root is refused as a usage error, not ignored.
    let validate = Command::new(env!("CARGO_BIN_EXE_va-seed"))
        .args(["validate", "--root"])
        .arg(dir.path())
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(validate.status.code(), Some(2), "{}", text(&validate));
    assert!(
        text(&validate).contains("`--root` means nothing to `va-seed validate`"),
        "{}",
        text(&validate)
    );
}

/// Every page the tools' pages refer to is made (a subcommand's NAME-SUBCOMMAND(1) among them),
/// and every page has the sections an administrator looks for.
#[test]
fn every_man_page_named_is_made_with_exit_status_files_and_examples() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_appliance-gendocs"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let man = dir.path().join("man");
    let ours = [
        "va-seed",
        "valist",
        "vainstall",
        "va-backup",
        "va-build",
        "va-upgrade-release",
        "appliance-control",
    ];
    let (mut pages, mut references) = (0, 0);
    for entry in std::fs::read_dir(&man).unwrap() {
        let path = entry.unwrap().path();
        let page = std::fs::read_to_string(&path).unwrap();
        pages += 1;
        for section in [".SH \"EXIT STATUS\"", ".SH \"FILES\"", ".SH EXAMPLES"] {
            assert!(page.contains(section), "{}: no {section}", path.display());
        }
        // clap_mangen writes a reference as `\fBNAME\-SUB\fR(1)` or `NAME\-SUB(1)`.
        let plain = page
            .replace("\\-", "-")
            .replace("\\fB", "")
            .replace("\\fR", "");
        for (at, _) in plain.match_indices("(1)") {
            let start = plain[..at]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .map_or(0, |i| i + 1);
            let name = &plain[start..at];
            if ours.iter().any(|tool| name.starts_with(tool)) {
                references += 1;
                assert!(
                    man.join(format!("{name}.1")).exists(),
                    "{} names {name}(1), which is not made",
                    path.display()
                );
            }
        }
    }
    assert!(pages >= 21, "{pages} pages");
    assert!(
        references >= 15,
        "only {references} references to our pages were read"
    );
    for tool in ours {
        for file in [tool.to_owned(), format!("_{tool}"), format!("{tool}.fish")] {
            let path = dir.path().join("completions").join(&file);
            assert!(path.exists(), "no completion {}", path.display());
        }
    }
}

/// The conventions of every tool and subcommand, in one table: `--help` and `--version` exit 0
/// and say the tool's own name, an unknown flag and a missing argument exit 2 naming what is
/// wrong.
#[test]
fn every_tool_and_subcommand_keeps_the_usage_conventions() {
    let tools: [(&str, &str, &[&str]); 7] = [
        ("valist", env!("CARGO_BIN_EXE_valist"), &[]),
        ("vainstall", env!("CARGO_BIN_EXE_vainstall"), &[]),
        (
            "va-seed",
            env!("CARGO_BIN_EXE_va-seed"),
            &[
                "validate",
                "diff",
                "status",
                "secrets",
                "renew",
                "reconfigure",
                "check",
            ],
        ),
        (
            "va-backup",
            env!("CARGO_BIN_EXE_va-backup"),
            &["create", "verify", "show", "list", "restore", "prune"],
        ),
        ("va-build", env!("CARGO_BIN_EXE_va-build"), &[]),
        (
            "va-upgrade-release",
            env!("CARGO_BIN_EXE_va-upgrade-release"),
            &[],
        ),
        (
            "appliance-trigger",
            env!("CARGO_BIN_EXE_appliance-trigger"),
            &["reconcile", "preinst", "purge"],
        ),
    ];
    let run = |program: &str, arguments: &[&str]| {
        Command::new(program)
            .args(arguments)
            .env_remove("DPKG_ROOT")
            .output()
            .unwrap()
    };
    for (name, program, subcommands) in tools {
        let version = run(program, &["--version"]);
        assert_eq!(version.status.code(), Some(0), "{name} --version");
        assert!(
            String::from_utf8_lossy(&version.stdout).starts_with(&format!("{name} ")),
            "{name} --version: {}",
            text(&version)
        );
        let mut lines: Vec<Vec<&str>> = vec![vec![]];
        lines.extend(subcommands.iter().map(|s| vec![*s]));
        for line in lines {
            let help = run(program, &[&line[..], &["--help"]].concat());
            assert_eq!(help.status.code(), Some(0), "{name} {line:?} --help");
            assert!(
                String::from_utf8_lossy(&help.stdout).contains("Usage: "),
                "{name} {line:?} --help: {}",
                text(&help)
            );
            let unknown = run(program, &[&line[..], &["--no-such-flag"]].concat());
            assert_eq!(
                unknown.status.code(),
                Some(2),
                "{name} {line:?} --no-such-flag"
            );
            assert!(
                text(&unknown).contains("--no-such-flag"),
                "{}",
                text(&unknown)
            );
        }
    }
    // A missing argument: the usage error names it.
    for (program, arguments, missing) in [
        (env!("CARGO_BIN_EXE_vainstall"), &[][..], "<APPLIANCE>"),
        (env!("CARGO_BIN_EXE_va-seed"), &["validate"][..], "<FILE>"),
        (env!("CARGO_BIN_EXE_va-seed"), &["check"][..], "<APPLIANCE>"),
        (env!("CARGO_BIN_EXE_va-backup"), &["restore"][..], "<FILE>"),
        (env!("CARGO_BIN_EXE_va-backup"), &["prune"][..], "--keep"),
        (env!("CARGO_BIN_EXE_va-build"), &[][..], "--appliance"),
        (
            env!("CARGO_BIN_EXE_appliance-trigger"),
            &["purge"][..],
            "<PACKAGE>",
        ),
    ] {
        let output = run(program, arguments);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{program} {arguments:?}: {}",
            text(&output)
        );
        assert!(
            text(&output).contains(missing),
            "{program} {arguments:?}: {}",
            text(&output)
        );
    }
}

/// `--json`: results and errors alike are JSON on stdout, for a script that reads only that.
#[test]
fn with_json_results_and_errors_are_json() {
    let run = |program: &str, arguments: &[&str]| {
        Command::new(program)
            .args(arguments)
            .env_remove("DPKG_ROOT")
            .output()
            .unwrap()
    };
    let empty = tempfile::tempdir().unwrap();
    let root = empty.path().to_str().unwrap();
    for (program, arguments, error) in [
        (
            env!("CARGO_BIN_EXE_va-seed"),
            vec!["--root", root, "status", "--json"],
            false,
        ),
        (
            env!("CARGO_BIN_EXE_va-backup"),
            vec!["--root", root, "--json", "list"],
            false,
        ),
        (
            env!("CARGO_BIN_EXE_va-backup"),
            vec!["--root", root, "--json", "verify", "/nonexistent.abf"],
            true,
        ),
        (
            env!("CARGO_BIN_EXE_va-backup"),
            vec!["--root", "/nonexistent", "--json", "prune", "--keep", "1"],
            true,
        ),
        (
            env!("CARGO_BIN_EXE_valist"),
            vec!["--root", "/nonexistent", "--json"],
            true,
        ),
        (
            env!("CARGO_BIN_EXE_vainstall"),
            vec!["--root", "/nonexistent", "--json", "--yes", "x-appliance"],
            true,
        ),
    ] {
        let output = run(program, &arguments);
        let value: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{program} {arguments:?}: {e}: {}", text(&output)));
        assert_eq!(output.status.success(), !error, "{program} {arguments:?}");
        assert_eq!(
            value.get("error").is_some(),
            error,
            "{program} {arguments:?}: {value}"
        );
    }
    // A script cannot answer apt-get's question: vainstall --json needs --yes.
    let output = run(
        env!("CARGO_BIN_EXE_vainstall"),
        &["--json", "dokuwiki-appliance"],
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("--yes"), "{}", text(&output));
}
