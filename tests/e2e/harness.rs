//! The end-to-end harness: what a test needs, and fresh Debian roots made by `debian-root`.
//!
//! Run by hand without a need (not root, no mmdebstrap, no packages built), a test skips and says
//! why; under `make test` (`APPLIANCE_E2E=1`) a missing need fails, so CI cannot pass by skipping.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const TREE: &str = env!("CARGO_MANIFEST_DIR");

pub fn script() -> PathBuf {
    Path::new(TREE).join("tests/e2e/debian-root")
}

/// The packages `make deb` built for the host's release.
pub fn repo() -> PathBuf {
    std::env::var_os("APPLIANCE_REPO")
        .map_or_else(|| Path::new(TREE).join("build/repo"), PathBuf::from)
}

/// The code name of the host's Debian release (`bookworm`), whose roots the tests make unless
/// they name another release.
pub fn host_release() -> String {
    appliance::system_root::release(Path::new("/"))
        .unwrap_or_else(|e| panic!("the host's release: {e}"))
}

/// The packages `make deb` built for `release`: [`repo`] for the host's, `build/repo/RELEASE` for
/// another (as the Makefile lays them out).
pub fn repo_of(release: &str) -> PathBuf {
    if release == host_release() {
        repo()
    } else {
        Path::new(TREE).join("build/repo").join(release)
    }
}

/// The version of `package` in the packages `make deb` built for the host's release
/// (`1.0~deb12u1`): what the tests expect installed.
pub fn version(package: &str) -> String {
    version_of(&host_release(), package)
}

/// The version of `package` built for `release` (`1.0~deb13u1` for trixie).
pub fn version_of(release: &str, package: &str) -> String {
    let repo = repo_of(release);
    let index = std::fs::read_to_string(repo.join("Packages"))
        .unwrap_or_else(|e| panic!("{}: {e} (make deb)", repo.join("Packages").display()));
    index
        .split("\n\n")
        .filter(|stanza| stanza.lines().any(|l| l == format!("Package: {package}")))
        .find_map(|stanza| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix("Version: "))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("no {package} in {}", repo.display()))
}

/// The signed repository of our packages (`make repo`), which the roots install from.
pub fn apt_repo() -> PathBuf {
    std::env::var_os("APPLIANCE_APT")
        .map_or_else(|| Path::new(TREE).join("build/apt"), PathBuf::from)
}

fn on_path(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Checks the needs of an end-to-end test, which runs only under `make test` (`APPLIANCE_E2E=1`
/// when it was compiled: the `appliance_e2e` cfg, see build.rs) or when asked by name with
/// `--ignored`: either way a missing need is a failure that names it, never a silent pass.
pub fn needs(test: &str, programs: &[&str]) {
    let mut missing = Vec::new();
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if uid.as_deref().ok() != Some("0") {
        missing.push("root".to_owned());
    }
    for program in ["mmdebstrap", "systemd-nspawn", "dpkg-deb"]
        .iter()
        .chain(programs)
    {
        if !on_path(program) {
            missing.push(format!("`{program}`"));
        }
    }
    if !repo().join("Packages").exists() {
        missing.push(format!("the packages in `{}` (make deb)", repo().display()));
    }
    if !apt_repo().join("appliance-tools.asc").exists() {
        missing.push(format!(
            "the signed repository `{}` (make repo)",
            apt_repo().display()
        ));
    }
    assert!(
        missing.is_empty(),
        "{test}: needs {} (`make test` installs what the tests need)",
        missing.join(", ")
    );
}

/// [`needs`], and the packages built for `release` with their signed repository.
pub fn needs_of(test: &str, release: &str, programs: &[&str]) {
    needs(test, programs);
    let repo = repo_of(release);
    assert!(
        repo.join("Packages").exists(),
        "{test}: needs the packages for {release} in `{}` (make deb SUITES=\"… {release}\")",
        repo.display()
    );
    assert!(
        apt_repo().join(format!("{release}.sources")).exists(),
        "{test}: needs the signed repository of {release} in `{}` (make repo)",
        apt_repo().display()
    );
}

/// A throwaway Debian root, deleted on drop.
pub struct Root {
    pub path: PathBuf,
}

pub fn output_text(output: &Output) -> String {
    format!(
        "status: {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

impl Root {
    /// A fresh copy of the cached base root of the host's release, with the local repository of
    /// our packages.
    pub fn fresh(name: &str) -> Root {
        Root::fresh_of(&host_release(), name)
    }

    /// A fresh root of Debian `release` (`trixie`), from its cached base root, with the signed
    /// repository of the packages built for it. The root's later commands run against that release
    /// (`debian-root` reads it from the root).
    pub fn fresh_of(release: &str, name: &str) -> Root {
        let dir =
            Path::new("/var/tmp/appliance-e2e").join(format!("{name}-{}", std::process::id()));
        let _ = Command::new(script()).arg("remove").arg(&dir).status();
        let output = Command::new(script())
            .env("APPLIANCE_SUITE", release)
            .arg("fresh")
            .arg(&dir)
            .output()
            .expect("run debian-root");
        assert!(
            output.status.success(),
            "cannot make a root:\n{}",
            output_text(&output)
        );
        Root { path: dir }
    }

    /// Runs a shell script inside the root; returns its output whatever the status.
    pub fn run(&self, script_text: &str) -> Output {
        Command::new(script())
            .arg("run")
            .arg(&self.path)
            .args(["bash", "-c", script_text])
            .output()
            .expect("run debian-root")
    }

    /// Runs a shell script inside the root, which must succeed; returns its stdout.
    pub fn ok(&self, script_text: &str) -> String {
        let output = self.run(script_text);
        assert!(
            output.status.success(),
            "`{script_text}` failed:\n{}",
            output_text(&output)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The secret `name` generated for `appliance`, as root reads it with `va-seed secrets` in
    /// the root.
    pub fn secret(&self, appliance: &str, name: &str) -> String {
        let command = format!("va-seed secrets {appliance}");
        // Booted (a `.pid` beside it), the root is entered; otherwise it is run in place.
        let booted = Path::new(&format!("{}.pid", self.path.display())).exists();
        let shown = if booted {
            self.exec_ok(&command)
        } else {
            self.ok(&command)
        };
        let prefix = format!("  {name}: ");
        shown
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("`va-seed secrets {appliance}` shows no `{name}`:\n{shown}"))
            .to_owned()
    }

    /// Boots the root with its own systemd (systemd-nspawn); it is powered off on drop.
    pub fn boot(&self) {
        let output = Command::new(script())
            .arg("boot")
            .arg(&self.path)
            .output()
            .expect("run debian-root");
        assert!(
            output.status.success(),
            "the root did not boot:\n{}\n--- console\n{}",
            output_text(&output),
            std::fs::read_to_string(format!("{}.console", self.path.display())).unwrap_or_default()
        );
    }

    /// Runs a shell script inside the booted root (as a service would see it); returns its output.
    pub fn exec(&self, script_text: &str) -> Output {
        Command::new(script())
            .arg("exec")
            .arg(&self.path)
            .args(["bash", "-c", script_text])
            .output()
            .expect("run debian-root")
    }

    /// [`Root::exec`] with `input` on the script's standard input: how a password reaches a
    /// program in the root without standing in a command line (`curl --data-urlencode
    /// password@-`), where every user of the root could read it.
    pub fn exec_with_input(&self, script_text: &str, input: &str) -> Output {
        use std::io::Write as _;
        let mut child = Command::new(script())
            .arg("exec")
            .arg(&self.path)
            .args(["bash", "-c", script_text])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run debian-root");
        if let Some(mut stdin) = child.stdin.take() {
            // A script that does not read it all is judged by its output, not by a broken pipe.
            let _ = stdin.write_all(input.as_bytes());
        }
        child.wait_with_output().expect("run debian-root")
    }

    /// [`Root::exec_with_input`], which must succeed; returns its stdout.
    pub fn exec_ok_with_input(&self, script_text: &str, input: &str) -> String {
        self.succeeded(script_text, &self.exec_with_input(script_text, input))
    }

    /// [`Root::exec`], which must succeed; returns its stdout.
    pub fn exec_ok(&self, script_text: &str) -> String {
        self.succeeded(script_text, &self.exec(script_text))
    }

    /// The stdout of a script run in the booted root, which must have succeeded; its failure
    /// shows the root's last 60 journal lines too: what a service said when it would not start
    /// is there, not in the script's output.
    fn succeeded(&self, script_text: &str, output: &Output) -> String {
        if !output.status.success() {
            let journal = self.exec("journalctl --no-pager -q -n 60 -o short-monotonic");
            panic!(
                "`{script_text}` failed in the booted root:\n{}\n--- the root's journal, last 60 lines\n{}",
                output_text(output),
                String::from_utf8_lossy(&journal.stdout)
            );
        }
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Where `path` of the root is on the host, following symbolic links inside the root (an
    /// absolute link target is relative to the root, not to the host).
    pub fn host_path(&self, path: &str) -> PathBuf {
        let mut resolved = self.path.clone();
        let mut pending: Vec<String> = path
            .split('/')
            .filter(|c| !c.is_empty())
            .rev()
            .map(str::to_owned)
            .collect();
        let mut hops = 0;
        while let Some(component) = pending.pop() {
            match component.as_str() {
                "." => continue,
                ".." => {
                    if resolved != self.path {
                        resolved.pop();
                    }
                    continue;
                }
                _ => {}
            }
            let next = resolved.join(&component);
            match std::fs::read_link(&next) {
                Ok(target) if hops < 40 => {
                    hops += 1;
                    let target = target.to_string_lossy().into_owned();
                    if target.starts_with('/') {
                        resolved.clone_from(&self.path);
                    }
                    pending.extend(
                        target
                            .split('/')
                            .filter(|c| !c.is_empty())
                            .rev()
                            .map(str::to_owned),
                    );
                }
                _ => resolved = next,
            }
        }
        resolved
    }

    /// A file of the root, read from outside.
    pub fn read(&self, path: &str) -> String {
        let full = self.host_path(path);
        std::fs::read_to_string(&full)
            .unwrap_or_else(|e| panic!("cannot read {path} ({}): {e}", full.display()))
    }

    pub fn exists(&self, path: &str) -> bool {
        self.host_path(path).exists()
    }

    /// Copies a file from the host into the root (its /var/tmp: /tmp is a fresh tmpfs in every run).
    pub fn put(&self, file: &Path) -> String {
        let name = file
            .file_name()
            .expect("a file name")
            .to_string_lossy()
            .into_owned();
        std::fs::copy(file, self.path.join("var/tmp").join(&name)).expect("copy into the root");
        format!("/var/tmp/{name}")
    }

    /// `Package Status Version` of every package dpkg knows, sorted (`dokuwiki installed 1.0`).
    pub fn dpkg_state(&self) -> String {
        self.ok("dpkg-query -W -f '${Package} ${db:Status-Status} ${Version}\\n' | sort")
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        if std::env::var_os("APPLIANCE_E2E_KEEP").is_none() {
            let _ = Command::new(script())
                .arg("remove")
                .arg(&self.path)
                .status();
        }
    }
}

/// A TCP port free on the host's loopback now (booted roots share the host's network), below the
/// kernel's range of ephemeral ports: a service restarted on a port that a client's connection
/// happens to use as its own end could not bind it again. Each call in this process gets another.
pub fn free_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    // Processes running at once start at different places.
    let start = u16::try_from(std::process::id() % 4000).unwrap_or(0) * 3;
    for _ in 0..12_000 {
        let step = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let port = 20_000 + (start + step) % 12_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between 20000 and 32000");
}

/// Builds a binary package from a directory tree laid out for `dpkg-deb --build` (with DEBIAN/).
pub fn build_deb(tree: &Path, out: &Path) -> PathBuf {
    let status = Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zxz", "--build"])
        .arg(tree)
        .arg(out)
        .output()
        .expect("run dpkg-deb");
    assert!(
        status.status.success(),
        "dpkg-deb --build failed:\n{}",
        output_text(&status)
    );
    out.to_owned()
}
