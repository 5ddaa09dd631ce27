//! The va-build issue: images built with the real mmdebstrap from the host's mirror and our
//! repository, booted in qemu (software emulation) with user networking and host forwards.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{TREE, free_port, host_release, needs, output_text, repo, version};

/// What building and booting a moinmoin image needs on the host.
pub(crate) fn image_needs() -> &'static [&'static str] {
    &[
        "qemu-system-x86_64",
        "qemu-img",
        "blkid",
        "debugfs",
        "ssh",
        "openssl",
    ]
}

/// An epoch for the reproducible builds (2025-11-26).
const EPOCH: &str = "1764115200";

fn va_build() -> Command {
    let mut command = Command::new(Path::new(TREE).join("target/release/va-build"));
    command.env_remove("SOURCE_DATE_EPOCH");
    command
}

/// A directory for one test's images, removed on drop (its own, under /var/tmp).
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    pub(crate) fn new(name: &str) -> Self {
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

/// Builds `appliance` into `output` with our repository, as a user does (`epoch: None`) or
/// reproducibly; panics with the log's end on failure. Every build's root
/// file system is checked to be the one its `/etc/fstab` and `grub.cfg` name.
fn build(appliance: &str, output: &Path, extra: &[&str], epoch: Option<&str>) -> Output {
    build_from(&repo(), appliance, output, extra, epoch)
}

/// [`build`] with the packages of the repository `packages` (`make deb`'s directory of a release).
pub(crate) fn build_from(
    packages: &Path,
    appliance: &str,
    output: &Path,
    extra: &[&str],
    epoch: Option<&str>,
) -> Output {
    let mut command = va_build();
    command
        .args(["--appliance", appliance, "-o"])
        .arg(output)
        .arg("--repo")
        .arg(packages)
        .args(extra);
    if let Some(epoch) = epoch {
        command.env("SOURCE_DATE_EPOCH", epoch);
    }
    let output_run = command.output().unwrap();
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
    check_identifiers(output);
    output_run
}

/// Without booting: the UUID of the root file system in the image, read with `blkid` at the
/// partition's offset, is the one that `/etc/fstab` and `/boot/grub/grub.cfg` in it name.
fn check_identifiers(image: &Path) {
    let raw = image.with_extension("check.raw");
    let run = |command: &mut Command| {
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "{command:?}: {}",
            output_text(&output)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    run(Command::new("qemu-img")
        .args(["convert", "-O", "raw"])
        .arg(image)
        .arg(&raw));
    let table: serde_json::Value =
        serde_json::from_str(&run(Command::new("sfdisk").arg("--json").arg(&raw))).unwrap();
    let partitions = table["partitiontable"]["partitions"].as_array().unwrap();
    let root = partitions
        .iter()
        .find(|p| p["name"] == "root")
        .unwrap_or_else(|| panic!("no partition named root: {table}"));
    let offset = root["start"].as_u64().unwrap() * 512;
    let uuid = run(Command::new("blkid")
        .args(["-p", "-O", &offset.to_string(), "-s", "UUID", "-o", "value"])
        .arg(&raw));
    let uuid = uuid.trim();
    assert_eq!(uuid.len(), 36, "blkid: {uuid}");
    let file = |path: &str| {
        run(Command::new("debugfs")
            .args(["-R", &format!("cat {path}")])
            .arg(format!("{}?offset={offset}", raw.display())))
    };
    let fstab = file("/etc/fstab");
    assert!(
        fstab.contains(&format!("UUID={uuid} / ext4")),
        "the root file system is {uuid}, /etc/fstab says:\n{fstab}"
    );
    let grub = file("/boot/grub/grub.cfg");
    assert!(
        grub.contains(&format!("--set=root {uuid}"))
            && grub.contains(&format!("root=UUID={uuid} ")),
        "the root file system is {uuid}, grub.cfg says:\n{grub}"
    );
    std::fs::remove_file(&raw).unwrap();
}

/// A machine booted from an image under qemu: serial console in a file, QMP for ACPI.
struct Vm {
    child: Child,
    serial: PathBuf,
    qmp: PathBuf,
}

impl Vm {
    /// Boots `image` (a copy-on-write snapshot of it), with `extra` raw disks read-only after it.
    fn boot(image: &Path, uefi: bool, forwards: &[(u16, u16)], extra: &[&Path]) -> Self {
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
        for disk in extra {
            command.arg("-drive").arg(format!(
                "file={},if=virtio,format=raw,readonly=on",
                disk.display()
            ));
        }
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

/// The HTTP status of a login to appliance-control on `port` (HTTPS, its certificate this
/// machine's own) as `admin` with `password`, followed by the page it leads to.
fn control_login(port: u16, jar: &Path, password: &str) -> String {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "rm -f {jar} && \
             csrf=$(curl -kfsS -c {jar} https://127.0.0.1:{port}/login | grep -o 'name=\"csrf\" value=\"[0-9a-f]*' | grep -o '[0-9a-f]*$') && \
             curl -ksS -b {jar} -c {jar} -o /dev/null -w '%{{http_code}}' --data-urlencode user=admin --data-urlencode password@- --data csrf=$csrf https://127.0.0.1:{port}/login && \
             curl -kfsS -b {jar} https://127.0.0.1:{port}/",
            jar = jar.display()
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // No newline: curl's `password@-` sends all it reads.
    write!(child.stdin.take().unwrap(), "{password}").unwrap();
    let output = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs `command` as root on the machine whose SSH port is forwarded to `port`, with `key`.
fn ssh(port: u16, key: &Path, command: &str) -> Output {
    ssh_as("root", port, key, command)
}

/// Runs `command` as `user` on the machine whose SSH port is forwarded to `port`, with `key`.
fn ssh_as(user: &str, port: u16, key: &Path, command: &str) -> Output {
    Command::new("ssh")
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=20",
            "-i",
        ])
        .arg(key)
        .args([
            "-p",
            &port.to_string(),
            &format!("{user}@127.0.0.1"),
            command,
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The SHA-256 fingerprint of the certificate the TLS server on `port` presents.
fn tls_fingerprint(port: u16) -> String {
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect 127.0.0.1:{port} </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"
        ))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let fingerprint = text
        .trim()
        .rsplit('=')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(
        fingerprint.len() == 95,
        "no certificate on {port}: {}",
        output_text(&output)
    );
    fingerprint
}

/// A new SSH key pair in `dir`; returns the private key's path.
pub(crate) fn ssh_key(dir: &Path) -> PathBuf {
    let key = dir.join("id_ed25519");
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "e2e", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(keygen.status.success(), "{}", output_text(&keygen));
    key
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn va_build_refuses_what_is_not_an_appliance_before_downloading() {
    needs(
        "va_build_refuses_what_is_not_an_appliance_before_downloading",
        &[],
    );
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

/// A `NoCloud` seed disk (a FAT file system labelled CIDATA) naming the machine `hostname` and
/// giving the user `tester` the SSH key `public_key` and, as cloud users have, `sudo` without a
/// password.
fn nocloud_seed(disk: &Path, hostname: &str, public_key: &str) {
    let dir = disk.with_extension("cidata");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("meta-data"),
        format!("instance-id: e2e-{hostname}\nlocal-hostname: {hostname}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("user-data"),
        format!(
            "#cloud-config\nhostname: {hostname}\nusers:\n  - name: tester\n    shell: /bin/bash\n    sudo: ALL=(ALL) NOPASSWD:ALL\n    ssh_authorized_keys:\n      - {}\n",
            public_key.trim()
        ),
    )
    .unwrap();
    let run = |command: &mut Command| {
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "{command:?}: {}",
            output_text(&output)
        );
    };
    run(Command::new("mkfs.vfat")
        .args(["-C", "-n", "CIDATA"])
        .arg(disk)
        .arg("2048"));
    for name in ["meta-data", "user-data"] {
        run(Command::new("mcopy")
            .arg("-i")
            .arg(disk)
            .arg(dir.join(name))
            .arg(format!("::/{name}")));
    }
}

/// Every stage of cloud-init ran on the machine `vm` (none was dropped to break an ordering cycle
/// with the first boot's unit) and no module failed: the user-data's sudo rule lets tester read
/// cloud-init's own account.
fn cloud_init_ran_every_stage(vm: &Vm, ssh: u16, key: &Path) {
    let console =
        String::from_utf8_lossy(&std::fs::read(&vm.serial).unwrap_or_default()).into_owned();
    let cycle = console
        .lines()
        .filter(|l| l.to_lowercase().contains("ordering cycle"))
        .collect::<Vec<_>>();
    assert!(cycle.is_empty(), "{}", cycle.join("\n"));
    let status = ssh_as(
        "tester",
        ssh,
        key,
        "sudo -n cloud-init status --wait --long",
    );
    let said = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.status.success() && said.contains("status: done"),
        "{}\n--- console\n{}",
        output_text(&status),
        vm.console()
    );
    let failed = ssh_as(
        "tester",
        ssh,
        key,
        "sudo -n grep -h 'Running module' /var/log/cloud-init.log",
    );
    assert!(failed.status.success(), "{}", output_text(&failed));
    let modules = String::from_utf8_lossy(&failed.stdout);
    assert!(!modules.lines().any(|l| l.contains("failed")), "{modules}");
    assert!(said.contains("DataSourceNoCloud"), "{said}");
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn dokuwiki_image_as_users_build_it_boots_with_bios_and_cloud_init() {
    needs(
        "dokuwiki_image_as_users_build_it_boots_with_bios_and_cloud_init",
        &[
            "qemu-system-x86_64",
            "qemu-img",
            "ssh",
            "ssh-keygen",
            "mkfs.vfat",
            "mcopy",
            "blkid",
            "debugfs",
        ],
    );
    let scratch = Scratch::new("image-dokuwiki");
    let image = scratch.0.join("dokuwiki.qcow2");
    // As anybody runs it: no SOURCE_DATE_EPOCH, so every identifier is random.
    let run = build("dokuwiki-appliance", &image, &["--cloud-init"], None);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains(&format!(
            "dokuwiki-appliance {}",
            version("dokuwiki-appliance")
        )),
        "{stdout}"
    );
    // The password came from the seed: none is made up and shown.
    assert!(!stdout.contains("password is"), "{stdout}");
    let info = Command::new("qemu-img")
        .arg("info")
        .arg(&image)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&info.stdout).contains("file format: qcow2"));

    let key = ssh_key(&scratch.0);
    let public_key = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let seed_disk = scratch.0.join("seed.img");
    nocloud_seed(&seed_disk, "cloudwiki", &public_key);

    // dokuwiki-appliance has no appliance-control (moinmoin-appliance's test logs in to it).
    let (web, ssh) = (free_port(), free_port());
    let mut vm = Vm::boot(&image, false, &[(web, 80), (ssh, 22)], &[&seed_disk]);
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
    // cloud-init took the NoCloud disk: the user-data's user logs in with its key, and the
    // machine has the user-data's name.
    let start = Instant::now();
    let mut last = String::new();
    let hostname = loop {
        let login = ssh_as("tester", ssh, &key, "hostname");
        if login.status.success() {
            break String::from_utf8_lossy(&login.stdout).trim().to_owned();
        }
        last = output_text(&login);
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "the cloud-init user never logged in: {last}\n--- console\n{}",
            vm.console()
        );
        std::thread::sleep(Duration::from_secs(5));
    };
    assert_eq!(hostname, "cloudwiki", "{last}");
    cloud_init_ran_every_stage(&vm, ssh, &key);
    vm.power_off(Duration::from_secs(180));
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn dokuwiki_image_builds_reproducibly() {
    needs(
        "dokuwiki_image_builds_reproducibly",
        &["qemu-img", "blkid", "debugfs"],
    );
    let scratch = Scratch::new("image-reproducible");
    // Two builds of the same packages with the same SOURCE_DATE_EPOCH: the same files.
    let image = scratch.0.join("dokuwiki.qcow2");
    build("dokuwiki-appliance", &image, &[], Some(EPOCH));
    let again = scratch.0.join("dokuwiki.raw");
    build(
        "dokuwiki-appliance",
        &again,
        &["--format", "raw"],
        Some(EPOCH),
    );
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

/// moinmoin-appliance built into `scratch` as anybody builds it (no `SOURCE_DATE_EPOCH`, no
/// `--seed`), with the administrator's new SSH key for root, from the packages in `packages`
/// and `extra` arguments; the image, the private key and what va-build said.
pub(crate) fn build_moinmoin(
    scratch: &Scratch,
    packages: &Path,
    extra: &[&str],
) -> (PathBuf, PathBuf, String) {
    let key = ssh_key(&scratch.0);
    let image = scratch.0.join("moinmoin.qcow2");
    let public = key.with_extension("pub").display().to_string();
    let mut arguments = vec!["--hostname", "wiki", "--ssh-key", &public];
    arguments.extend_from_slice(extra);
    let run = build_from(packages, "moinmoin-appliance", &image, &arguments, None);
    let said = String::from_utf8_lossy(&run.stdout).into_owned();
    (image, key, said)
}

/// The wiki's name that the flagship's seed gives.
pub(crate) fn seeded_wiki_name() -> String {
    let seed =
        std::fs::read_to_string(Path::new(TREE).join("seeds/moinmoin-appliance.seed")).unwrap();
    seed.lines()
        .find_map(|l| l.strip_prefix("moin moin/wiki-name string "))
        .expect("the seed names the wiki")
        .to_owned()
}

/// One boot of a copy of the moinmoin image: what makes the machine itself.
pub(crate) struct Machine {
    /// The code name of its Debian release.
    pub(crate) release: String,
    secrets: String,
    control_password: String,
    tls: String,
    host_key: String,
}

/// Boots a copy of `image` (UEFI or BIOS), checks the wiki and appliance-control answer, that
/// the credentials `va-seed secrets` shows there log in and that `foreign` (another machine's
/// password) does not, and returns them; powers it off.
pub(crate) fn boot_moinmoin(
    image: &Path,
    uefi: bool,
    key: &Path,
    wiki_name: &str,
    jar: &Path,
    foreign: Option<&str>,
) -> Machine {
    let (web, control, ssh_port) = (free_port(), free_port(), free_port());
    let mut vm = Vm::boot(
        image,
        uefi,
        &[(web, 80), (control, 8080), (ssh_port, 22)],
        &[],
    );
    vm.wait_for(
        &format!("http://127.0.0.1:{web}/"),
        wiki_name,
        Duration::from_secs(900),
    );
    vm.wait_for(
        &format!("https://127.0.0.1:{control}/login"),
        "password",
        Duration::from_secs(300),
    );
    // The first boot said where the credentials are, on the console.
    // The firmware writes bytes that are not UTF-8 there.
    let console =
        String::from_utf8_lossy(&std::fs::read(&vm.serial).unwrap_or_default()).into_owned();
    assert!(
        console.contains("run `va-seed secrets`"),
        "{}",
        vm.console()
    );
    let shown = ssh(ssh_port, key, "va-seed secrets");
    assert!(
        shown.status.success(),
        "{}\n{}",
        output_text(&shown),
        vm.console()
    );
    let secrets = String::from_utf8_lossy(&shown.stdout).into_owned();
    // Once its services were up, the first boot checked that the appliance works.
    let health = ssh(
        ssh_port,
        key,
        "for i in $(seq 120); do cat /var/lib/appliance/health/moinmoin-appliance.json 2>/dev/null && exit 0; sleep 1; done; systemctl status appliance-health; exit 1",
    );
    assert!(health.status.success(), "{}", output_text(&health));
    let health: serde_json::Value = serde_json::from_slice(&health.stdout).unwrap();
    assert_eq!(health["ok"], true, "{health}");
    assert_eq!(health["after"], "the first boot", "{health}");
    let release = ssh(ssh_port, key, ". /etc/os-release && echo $VERSION_CODENAME");
    let release = String::from_utf8_lossy(&release.stdout).trim().to_owned();
    let value = |name: &str| {
        secrets
            .lines()
            .find_map(|l| l.strip_prefix(&format!("  {name}: ")))
            .unwrap_or_else(|| panic!("no `{name}` in:\n{secrets}"))
            .to_owned()
    };
    let control_password = value("control-admin");
    if let Some(foreign) = foreign {
        let refused = control_login(control, jar, foreign);
        assert!(
            refused.starts_with("401"),
            "another machine's password: {refused}"
        );
    }
    let tls = tls_fingerprint(control);
    assert!(secrets.contains(&tls), "{secrets}\n{tls}");
    let page = control_login(control, jar, &control_password);
    assert!(
        page.starts_with("303") && page.contains("<h1>Overview</h1>"),
        "{page}"
    );
    let scan = Command::new("ssh-keyscan")
        .args([
            "-T",
            "30",
            "-t",
            "ed25519",
            "-p",
            &ssh_port.to_string(),
            "127.0.0.1",
        ])
        .output()
        .unwrap();
    let host_key = String::from_utf8_lossy(&scan.stdout)
        .lines()
        .find_map(|l| l.split_once(" ssh-ed25519 ").map(|(_, k)| k.to_owned()))
        .unwrap_or_else(|| panic!("no host key: {}", output_text(&scan)));
    vm.power_off(Duration::from_secs(180));
    Machine {
        release,
        secrets,
        control_password,
        tls,
        host_key,
    }
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn copies_of_the_moinmoin_image_boot_with_uefi_and_bios_and_share_no_secret() {
    needs(
        "copies_of_the_moinmoin_image_boot_with_uefi_and_bios_and_share_no_secret",
        image_needs(),
    );
    assert!(
        Path::new("/usr/share/OVMF/OVMF_CODE_4M.fd").exists(),
        "ovmf is not installed"
    );
    let scratch = Scratch::new("image-moinmoin");
    let (image, key, stdout) = build_moinmoin(&scratch, &repo(), &[]);
    assert!(
        stdout.contains("each machine made from the image makes its own passwords")
            && !stdout.contains("password is"),
        "{stdout}"
    );
    let listing = std::fs::read_to_string(format!("{}.manifest", image.display())).unwrap();
    assert!(
        listing.contains(
            "(secret:made-anew-at-first-boot) /var/lib/appliance/secrets/moinmoin-appliance"
        ),
        "the build's secrets are not marked in the manifest"
    );
    let name = seeded_wiki_name();
    // Two machines from copies of one image (each boot is a copy-on-write snapshot): the first
    // one's password does not open the second.
    let first = boot_moinmoin(&image, true, &key, &name, &scratch.0.join("jar1"), None);
    let second = boot_moinmoin(
        &image,
        false,
        &key,
        &name,
        &scratch.0.join("jar2"),
        Some(&first.control_password),
    );
    assert_eq!(first.release, host_release());
    assert_ne!(first.tls, second.tls, "one TLS key on two machines");
    assert_ne!(
        first.host_key, second.host_key,
        "one SSH host key on two machines"
    );
    for (name, value) in first
        .secrets
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .filter_map(|l| l.split_once(": "))
        .filter(|(n, _)| !n.contains(' '))
    {
        assert!(
            !second.secrets.contains(&format!("  {name}: {value}\n")),
            "`{name}` is shared by two machines"
        );
    }
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn an_interrupted_build_leaves_no_image_and_no_mount() {
    needs("an_interrupted_build_leaves_no_image_and_no_mount", &[]);
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
