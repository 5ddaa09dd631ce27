//! The va-build issue: images built with the real mmdebstrap from the host's mirror and our
//! repository, booted in qemu (software emulation) with user networking and host forwards.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{TREE, free_port, needs, output_text, repo};

/// An epoch for the reproducible builds (2025-11-26).
const EPOCH: &str = "1764115200";
const PASSWORD: &str = "image-test-Pa55";

fn va_build() -> Command {
    let mut command = Command::new(Path::new(TREE).join("target/release/va-build"));
    command.env_remove("SOURCE_DATE_EPOCH");
    command
}

/// A directory for one test's images, removed on drop (its own, under /var/tmp).
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = PathBuf::from(format!(
            "/var/tmp/appliance-e2e/{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Builds `appliance` into `output` with our repository and an administrator password; panics
/// with the log's end on failure.
fn build(appliance: &str, output: &Path, extra: &[&str]) -> Output {
    let seed = output.with_extension("seed");
    std::fs::write(
        &seed,
        format!("appliance-control appliance-control/admin-password password {PASSWORD}\n"),
    )
    .unwrap();
    let output_run = va_build()
        .args(["--appliance", appliance, "-o"])
        .arg(output)
        .arg("--repo")
        .arg(repo())
        .arg("--seed")
        .arg(&seed)
        .args(extra)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .output()
        .unwrap();
    if !output_run.status.success() {
        let mut log = String::new();
        if let Ok(text) = std::fs::read_to_string(format!("{}.log", output.display())) {
            let lines: Vec<&str> = text.lines().collect();
            log = lines[lines.len().saturating_sub(60)..].join("\n");
        }
        panic!(
            "va-build failed:\n{}\n--- log\n{log}",
            output_text(&output_run)
        );
    }
    output_run
}

/// A machine booted from an image under qemu: serial console in a file, QMP for ACPI.
struct Vm {
    child: Child,
    serial: PathBuf,
    qmp: PathBuf,
}

impl Vm {
    fn boot(image: &Path, uefi: bool, forwards: &[(u16, u16)]) -> Self {
        let serial = image.with_extension("serial");
        let qmp = image.with_extension("qmp");
        let netdev: String = std::iter::once("user,id=net0".to_owned())
            .chain(
                forwards
                    .iter()
                    .map(|(host, guest)| format!("hostfwd=tcp:127.0.0.1:{host}-:{guest}")),
            )
            .collect::<Vec<_>>()
            .join(",");
        let mut command = Command::new("qemu-system-x86_64");
        command
            .args([
                "-machine", "q35", "-accel", "tcg", "-m", "2048", "-smp", "2",
            ])
            .args(["-display", "none", "-monitor", "none"])
            .arg("-serial")
            .arg(format!("file:{}", serial.display()))
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", qmp.display()))
            .arg("-drive")
            .arg(format!(
                "file={},if=virtio,format=qcow2,snapshot=on",
                image.display()
            ))
            .args(["-netdev", &netdev, "-device", "virtio-net-pci,netdev=net0"]);
        if uefi {
            let vars = image.with_extension("vars");
            std::fs::copy("/usr/share/OVMF/OVMF_VARS_4M.fd", &vars).unwrap();
            command
                .args([
                    "-drive",
                    "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
                ])
                .arg("-drive")
                .arg(format!("if=pflash,format=raw,file={}", vars.display()));
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Self { child, serial, qmp }
    }

    fn console(&self) -> String {
        let text =
            String::from_utf8_lossy(&std::fs::read(&self.serial).unwrap_or_default()).into_owned();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// `url`'s body once it answers 200 with `expected` in it, within `limit`.
    fn wait_for(&mut self, url: &str, expected: &str, limit: Duration) -> String {
        let start = Instant::now();
        let mut last = String::new();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "qemu ended ({status}) before {url} answered:\n{}",
                    self.console()
                );
            }
            let output = Command::new("curl")
                .args(["-ksSL", "--max-time", "20", "-w", "\n%{http_code}", url])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&output.stdout).into_owned();
            if text.ends_with("\n200") && text.contains(expected) {
                return text;
            }
            last = format!("{text}{}", String::from_utf8_lossy(&output.stderr));
            std::thread::sleep(Duration::from_secs(5));
        }
        panic!(
            "{url} did not answer with `{expected}` within {limit:?}; last: {}\n--- console\n{}",
            last.chars().take(500).collect::<String>(),
            self.console()
        );
    }

    /// Asks for an ACPI power-off and waits for the machine to stop.
    fn power_off(mut self, limit: Duration) {
        let mut stream = UnixStream::connect(&self.qmp).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap(); // the greeting
        for command in ["qmp_capabilities", "system_powerdown"] {
            writeln!(stream, "{{\"execute\": \"{command}\"}}").unwrap();
            // Events may come before the answer.
            loop {
                line.clear();
                reader.read_line(&mut line).unwrap();
                assert!(!line.contains("\"error\""), "{command}: {line}");
                if line.contains("\"return\"") {
                    break;
                }
            }
        }
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(_)) = self.child.try_wait() {
                let console = self.console();
                assert!(
                    console.contains("Power-Off") || console.contains("reboot: Power down"),
                    "{console}"
                );
                return;
            }
            std::thread::sleep(Duration::from_secs(2));
        }
        let console = self.console();
        let _ = self.child.kill();
        panic!("the machine did not power off within {limit:?} of the ACPI request:\n{console}");
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// appliance-control's login with the password of the build's seed leads to its overview; the
/// appliance's own seed password does not work.
fn control_login(port: u16, jar: &Path) {
    let login = |password: &str| {
        let output = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "rm -f {jar} && \
                 csrf=$(curl -kfsS -c {jar} https://127.0.0.1:{port}/login | grep -o 'name=\"csrf\" value=\"[0-9a-f]*' | grep -o '[0-9a-f]*$') && \
                 curl -ksS -b {jar} -c {jar} -o /dev/null -w '%{{http_code}}' --data-urlencode user=admin --data-urlencode password='{password}' --data csrf=$csrf https://127.0.0.1:{port}/login && \
                 curl -kfsS -b {jar} https://127.0.0.1:{port}/",
                jar = jar.display()
            ))
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let wrong = login("appliance-demo");
    assert!(
        wrong.starts_with("401"),
        "the appliance's own password: {wrong}"
    );
    let page = login(PASSWORD);
    assert!(
        page.starts_with("303") && page.contains("<h1>Overview</h1>"),
        "{page}"
    );
}

#[test]
fn va_build_refuses_what_is_not_an_appliance_before_downloading() {
    if !needs(
        "va_build_refuses_what_is_not_an_appliance_before_downloading",
        &[],
    ) {
        return;
    }
    let scratch = Scratch::new("image-refused");
    for (name, expected) in [
        ("postfix", "is a package, but not an appliance"),
        ("no-such-appliance", "is not a package APT knows"),
    ] {
        let output = scratch.0.join(format!("{name}.qcow2"));
        let run = va_build()
            .args(["--appliance", name, "-o"])
            .arg(&output)
            .arg("--repo")
            .arg(repo())
            .arg("--cache")
            .arg(scratch.0.join("cache"))
            .output()
            .unwrap();
        let text = output_text(&run);
        assert_eq!(run.status.code(), Some(1), "{text}");
        assert!(text.contains(expected), "{text}");
        assert!(
            text.contains("The appliances in")
                && text.contains("dokuwiki-appliance")
                && text.contains("moinmoin-appliance"),
            "{text}"
        );
        assert!(!output.exists());
        // Nothing downloaded: mmdebstrap never ran, the package cache was never made.
        let log = std::fs::read_to_string(format!("{}.log", output.display())).unwrap();
        assert!(!log.contains("mmdebstrap"), "{log}");
        assert!(!scratch.0.join("cache").exists());
        assert!(!scratch.0.join(format!(".{name}.qcow2.va-build")).exists());
    }
}

#[test]
fn dokuwiki_image_boots_with_bios_and_builds_reproducibly() {
    if !needs(
        "dokuwiki_image_boots_with_bios_and_builds_reproducibly",
        &["qemu-system-x86_64", "qemu-img"],
    ) {
        return;
    }
    let scratch = Scratch::new("image-dokuwiki");
    let image = scratch.0.join("dokuwiki.qcow2");
    let run = build("dokuwiki-appliance", &image, &[]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("dokuwiki-appliance 1.0"), "{stdout}");
    // The password came from the seed: none is made up and shown.
    assert!(!stdout.contains("password is"), "{stdout}");
    let info = Command::new("qemu-img")
        .arg("info")
        .arg(&image)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&info.stdout).contains("file format: qcow2"));

    // dokuwiki-appliance has no appliance-control (moinmoin-appliance's test logs in to it).
    let (web, ssh) = (free_port(), free_port());
    let mut vm = Vm::boot(&image, false, &[(web, 80), (ssh, 22)]);
    let page = vm.wait_for(
        &format!("http://127.0.0.1:{web}/"),
        "Appliance Wiki",
        Duration::from_secs(900),
    );
    assert!(page.contains("<title>start [Appliance Wiki]"), "{page}");
    // sshd runs, with host keys made at first boot (the image has none: checked below).
    let scan = Command::new("ssh-keyscan")
        .args([
            "-T",
            "30",
            "-t",
            "ed25519",
            "-p",
            &ssh.to_string(),
            "127.0.0.1",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&scan.stdout).contains("ssh-ed25519 "),
        "{}\n--- console\n{}",
        output_text(&scan),
        vm.console()
    );
    vm.power_off(Duration::from_secs(180));

    // A second build of the same packages with the same SOURCE_DATE_EPOCH: the same files.
    let again = scratch.0.join("dokuwiki.raw");
    build("dokuwiki-appliance", &again, &["--format", "raw"]);
    let first = std::fs::read_to_string(format!("{}.manifest", image.display())).unwrap();
    let second = std::fs::read_to_string(format!("{}.manifest", again.display())).unwrap();
    assert!(first.lines().count() > 10_000, "{}", first.lines().count());
    let differ: Vec<String> = first
        .lines()
        .zip(second.lines())
        .filter(|(a, b)| a != b)
        .map(|(a, b)| format!("- {a}\n+ {b}"))
        .take(40)
        .collect();
    assert!(
        differ.is_empty() && first.lines().count() == second.lines().count(),
        "the roots differ:\n{}",
        differ.join("\n")
    );
    // No host key and no machine identity of the build's.
    assert!(!first.contains("/etc/ssh/ssh_host_") && !first.contains("ssl-cert-snakeoil.key"));
    assert!(first.contains(
        " e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 /etc/machine-id"
    ));
}

#[test]
fn moinmoin_image_boots_with_uefi() {
    if !needs(
        "moinmoin_image_boots_with_uefi",
        &["qemu-system-x86_64", "qemu-img"],
    ) {
        return;
    }
    assert!(
        Path::new("/usr/share/OVMF/OVMF_CODE_4M.fd").exists(),
        "ovmf is not installed"
    );
    let scratch = Scratch::new("image-moinmoin");
    let image = scratch.0.join("moinmoin.qcow2");
    build("moinmoin-appliance", &image, &["--hostname", "wiki"]);
    let (web, control) = (free_port(), free_port());
    let mut vm = Vm::boot(&image, true, &[(web, 80), (control, 8080)]);
    let seed =
        std::fs::read_to_string(Path::new(TREE).join("seeds/moinmoin-appliance.seed")).unwrap();
    let name = seed
        .lines()
        .find_map(|l| l.strip_prefix("moin moin/wiki-name string "))
        .expect("the seed names the wiki")
        .to_owned();
    vm.wait_for(
        &format!("http://127.0.0.1:{web}/"),
        &name,
        Duration::from_secs(900),
    );
    vm.wait_for(
        &format!("https://127.0.0.1:{control}/login"),
        "password",
        Duration::from_secs(120),
    );
    control_login(control, &scratch.0.join("jar"));
    vm.power_off(Duration::from_secs(180));
}

#[test]
fn an_interrupted_build_leaves_no_image_and_no_mount() {
    if !needs("an_interrupted_build_leaves_no_image_and_no_mount", &[]) {
        return;
    }
    let scratch = Scratch::new("image-killed");
    let output = scratch.0.join("killed.qcow2");
    let work = scratch.0.join(".killed.qcow2.va-build");
    let log = PathBuf::from(format!("{}.log", output.display()));
    let mut child = va_build()
        .args(["--appliance", "dokuwiki-appliance", "-o"])
        .arg(&output)
        .arg("--repo")
        .arg(repo())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed while mmdebstrap installs, with /proc, /sys and /dev mounted in the root.
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("installing remaining packages inside the chroot")
            || text.contains("running --customize-hook")
        {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "va-build ended early:\n{text}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "mmdebstrap never got to installing:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(2));
    child.kill().unwrap();
    child.wait().unwrap();
    // Everything it started dies with it.
    let start = Instant::now();
    loop {
        let left = Command::new("pgrep")
            .args(["-f", &work.display().to_string()])
            .output()
            .unwrap();
        if left.stdout.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "still running: {}",
            String::from_utf8_lossy(&left.stdout)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(!output.exists(), "a half image at the output path");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&scratch.0.display().to_string()),
        "{mounts}"
    );
    assert!(
        work.exists(),
        "the test killed va-build before it made its working directory"
    );
    // The next build for the same output clears what was left (and this one stops at the check).
    let run = va_build()
        .args(["--appliance", "postfix", "-o"])
        .arg(&output)
        .arg("--repo")
        .arg(repo())
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "{}", output_text(&run));
    assert!(!work.exists());
    assert!(!output.exists());
}
