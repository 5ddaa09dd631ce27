//! The image's root: made by mmdebstrap, whose customize hook installs appliance-tools and then
//! the appliance with plain `apt-get install` (so the APT hook applies the seeds, as on a real
//! system); then made bootable and ready for a first boot elsewhere.

#![expect(
    clippy::disallowed_methods,
    reason = "writes the image's root and disk while they are assembled in the build's own directory: nothing reads them until the finished image is renamed into place"
)]

use std::fmt::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::sources::{Repo, SourceFile};
use super::work::{Runner, WorkError};

/// What every image holds besides the appliance: a kernel and an initramfs, systemd as init with
/// networkd and resolved, GRUB's BIOS and EFI images, OpenSSH, and what APT needs.
pub const BASE_PACKAGES: &[&str] = &[
    "linux-image-amd64",
    "initramfs-tools",
    "systemd-sysv",
    "systemd-resolved",
    "systemd-timesyncd",
    "udev",
    "dbus",
    "grub-pc-bin",
    "grub-efi-amd64-bin",
    "openssh-server",
    "apt-utils",
    "ca-certificates",
    "debian-archive-keyring",
    "tzdata",
    "curl",
];

/// How mmdebstrap is asked to make the root.
pub struct RootPlan<'a> {
    pub suite: &'a str,
    pub sources: &'a [SourceFile],
    pub repos: &'a [Repo],
    pub appliance: &'a str,
    /// The site's answers (the administrator's password among them), applied over the seeds.
    pub site_seed: &'a Path,
    pub extra_packages: &'a [&'a str],
    /// Where downloaded packages are kept between builds.
    pub cache: &'a Path,
    pub work: &'a Path,
}

/// POSIX shell quoting.
pub fn quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._/:=+,-@".contains(&b))
    {
        return text.to_owned();
    }
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// The customize hook: the local repositories copied in for the installation, appliance-tools
/// installed first (APT reads its configuration once: the hook must be in place before the
/// transaction that brings the appliance), then the appliance, then the copies removed.
pub fn install_script(plan: &RootPlan) -> String {
    let mut script = String::from(
        "#!/bin/sh\n# va-build's mmdebstrap customize hook; $1 is the root.\nset -eu\nroot=$1\n\
         export DEBIAN_FRONTEND=noninteractive\nmkdir -p \"$root/var/lib/va-build\"\n\
         # The host's resolver for the downloads (systemd-resolved's link points at nothing\n\
         # before it runs); the image gets its own at configuration.\n\
         rm -f \"$root/etc/resolv.conf\"\ncp -L /etc/resolv.conf \"$root/etc/resolv.conf\"\n",
    );
    let mut local = String::new();
    let mut kept = String::new();
    for (index, repo) in plan.repos.iter().enumerate() {
        match repo {
            Repo::Dir(dir) => {
                let _ = writeln!(
                    script,
                    "cp -a {}/. \"$root/var/lib/va-build/repo{index}\"",
                    quote(&dir.display().to_string())
                );
                let _ = writeln!(
                    local,
                    "deb [trusted=yes] file:/var/lib/va-build/repo{index} ./"
                );
            }
            Repo::Line(line) => {
                let _ = writeln!(kept, "{line}");
            }
        }
    }
    let _ = writeln!(
        script,
        "printf %s {} > \"$root/etc/apt/sources.list.d/va-build.list\"",
        quote(&local)
    );
    if !kept.is_empty() {
        let _ = writeln!(
            script,
            "printf %s {} > \"$root/etc/apt/sources.list.d/appliance.list\"",
            quote(&kept)
        );
    }
    let _ = writeln!(
        script,
        "install -m 600 {} \"$root/var/lib/va-build/site.seed\"",
        quote(&plan.site_seed.display().to_string())
    );
    script.push_str(
        "chroot \"$root\" apt-get update\n\
         chroot \"$root\" apt-get install -y appliance-tools\n",
    );
    let _ = writeln!(
        script,
        "chroot \"$root\" apt-get install -y -o {}=/var/lib/va-build/site.seed {}",
        crate::seed::hook::SITE_SEED,
        quote(plan.appliance)
    );
    script.push_str(
        "rm -rf \"$root/var/lib/va-build\" \"$root/etc/apt/sources.list.d/va-build.list\"\n",
    );
    script
}

/// mmdebstrap's arguments, after the program's name.
pub fn mmdebstrap_args(plan: &RootPlan, root: &Path, sources: &[PathBuf]) -> Vec<String> {
    let mut include: Vec<&str> = BASE_PACKAGES.to_vec();
    include.extend(plan.extra_packages);
    let cache = quote(&plan.cache.display().to_string());
    let mut args = vec![
        "--mode=root".to_owned(),
        "--variant=apt".to_owned(),
        "--format=directory".to_owned(),
        format!("--include={}", include.join(",")),
        // The cache: packages are kept and given back. Builds at once may share it: each package
        // lands there whole, under its final name, by a rename.
        "--skip=essential/unlink".to_owned(),
        format!(
            "--setup-hook=mkdir -p \"$1/var/cache/apt/archives/\" && \
             find {cache} -maxdepth 1 -name '*.deb' -exec cp -t \"$1/var/cache/apt/archives/\" {{}} +"
        ),
        format!(
            "--customize-hook=sh {} \"$1\"",
            quote(&plan.work.join("install.sh").display().to_string())
        ),
        format!(
            "--customize-hook=for deb in \"$1\"/var/cache/apt/archives/*.deb; do \
             name=${{deb##*/}}; [ -e \"$deb\" ] && [ ! -e {cache}/\"$name\" ] || continue; \
             cp \"$deb\" {cache}/.\"$name\".$$ && mv {cache}/.\"$name\".$$ {cache}/\"$name\"; done"
        ),
        plan.suite.to_owned(),
        root.display().to_string(),
    ];
    args.extend(sources.iter().map(|s| s.display().to_string()));
    args
}

/// Makes the root at `root` with mmdebstrap, in its own mount and PID namespaces (a killed build
/// leaves no mount behind).
pub fn make(runner: &mut Runner, plan: &RootPlan, root: &Path) -> Result<(), WorkError> {
    let write = |path: &Path, text: &str| {
        fs_err::write(path, text).map_err(|source| WorkError::Io {
            what: "cannot write",
            path: path.to_owned(),
            source,
        })
    };
    write(&plan.work.join("install.sh"), &install_script(plan))?;
    let dir = plan.work.join("sources");
    fs_err::create_dir_all(&dir).map_err(|source| WorkError::Io {
        what: "cannot make",
        path: dir.clone(),
        source,
    })?;
    let mut files = Vec::new();
    for source in plan.sources {
        let path = dir.join(&source.name);
        write(&path, &source.text)?;
        files.push(path);
    }
    fs_err::create_dir_all(plan.cache).map_err(|source| WorkError::Io {
        what: "cannot make the package cache",
        path: plan.cache.to_owned(),
        source,
    })?;
    let mut args: Vec<String> = [
        "--mount",
        "--pid",
        "--fork",
        "--kill-child=SIGKILL",
        "--propagation",
        "private",
        "--",
        "mmdebstrap",
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(mmdebstrap_args(plan, root, &files));
    runner.run("unshare", &args)
}

/// What makes one image this machine: its name, its disk, its administrator's key.
pub struct Identity<'a> {
    pub hostname: &'a str,
    pub root_uuid: &'a str,
    pub ssh_key: Option<&'a str>,
}

const NETWORK: &str = "# va-build: DHCP on the first Ethernet interface.\n[Match]\nType=ether\nName=en* eth*\n\n[Network]\nDHCP=yes\n";

const FIRST_BOOT_UNIT: &str =
    "# va-build: what each machine made from the image must have of its own.
[Unit]
Description=Make this machine's own keys, certificates and passwords (first boot of a va-build image)
ConditionPathExists=/var/lib/va-build/first-boot
# Early boot, as cloud-init-local.service and systemd-firstboot.service: before sysinit.target, so
# before every socket and every service, and before the network is configured (network-pre.target):
# nothing answers with the build's secrets. A unit after basic.target could not be before the
# network where cloud-init is installed: its network stage, cloud-init.service, is after the
# network is online and before sysinit.target, and systemd broke that cycle by dropping
# cloud-init.service, with the users and keys of the user-data.
DefaultDependencies=no
# The root written to, /tmp, the journal; and the machine's name, which cloud-init's local stage
# sets from a seed, in the certificates.
After=local-fs.target systemd-remount-fs.service systemd-tmpfiles-setup.service systemd-random-seed.service cloud-init-local.service
Wants=network-pre.target
Before=network-pre.target sysinit.target ssh.service apache2.service nginx.service postfix.service moin.service appliance-control.service
Conflicts=shutdown.target
Before=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/lib/va-build/first-boot
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=sysinit.target
";

/// Run once by `va-build-first-boot.service`: the keys the build removed, made again for this
/// machine (appliance-control's certificate as its postinst makes it).
const FIRST_BOOT: &str = r#"#!/bin/sh
# va-build: the first boot of a machine made from the image. The image holds no SSH host key, no
# snakeoil certificate and no appliance-control certificate: every machine makes its own.
set -e
# Nobody is there to answer: debconf's tools (make-ssl-cert's) ask nothing.
export DEBIAN_FRONTEND=noninteractive
ssh-keygen -A
if [ -x /usr/sbin/make-ssl-cert ] && [ ! -e /etc/ssl/private/ssl-cert-snakeoil.key ]; then
	make-ssl-cert generate-default-snakeoil --force-overwrite
fi
make_certificate=/usr/lib/appliance-control/make-certificate
if [ -x "$make_certificate" ]; then
	"$make_certificate"
fi
# Postfix's alias database, made from /etc/aliases (Berkeley DB files are not reproducible).
if [ -e /etc/aliases ] && [ ! -e /etc/aliases.db ] && command -v newaliases >/dev/null; then
	newaliases
fi
# Every password the appliance's seed had generated at build time, and the applications' own
# keys, drawn anew for this machine; those the site's seed gave (keep-secrets) stay.
if command -v va-seed >/dev/null; then
	set --
	if [ -e /var/lib/va-build/keep-secrets ]; then
		while IFS= read -r name; do
			[ -n "$name" ] && set -- "$@" --keep "$name"
		done < /var/lib/va-build/keep-secrets
	fi
	va-seed renew "$@"
	echo "va-build: this machine's own passwords are made: log in as root and run \`va-seed secrets\`"
	mkdir -p /etc/issue.d
	printf '%s\n' "This machine's passwords and certificate fingerprint: as root, run \`va-seed secrets\`." \
		> /etc/issue.d/va-build.issue
fi
# Once the services are up, appliance-health.service checks that the appliance works.
if command -v va-backup >/dev/null; then
	mkdir -p /var/lib/appliance/health
	echo "the first boot" > /var/lib/appliance/health/pending
fi
rm -f /var/lib/va-build/first-boot
"#;

/// Makes the root a machine: its name, file systems, network, first-boot units, the boot
/// loader's configuration, and no host key or machine identity of the build's.
pub fn configure(runner: &mut Runner, root: &Path, id: &Identity) -> Result<(), WorkError> {
    let put = |relative: &str, text: &str, mode: u32| -> Result<(), WorkError> {
        let path = root.join(relative);
        let err = |source| WorkError::Io {
            what: "cannot write",
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent).map_err(err)?;
        }
        let _ = fs_err::remove_file(&path);
        fs_err::write(&path, text).map_err(|source| WorkError::Io {
            what: "cannot write",
            path: path.clone(),
            source,
        })?;
        fs_err::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(|source| {
            WorkError::Io {
                what: "cannot set the mode of",
                path: path.clone(),
                source,
            }
        })
    };
    let hostname = id.hostname;
    put("etc/hostname", &format!("{hostname}\n"), 0o644)?;
    put(
        "etc/hosts",
        &format!(
            "127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
        ),
        0o644,
    )?;
    put(
        "etc/fstab",
        &format!(
            "# va-build\nUUID={} / ext4 errors=remount-ro 0 1\n",
            id.root_uuid
        ),
        0o644,
    )?;
    put("etc/systemd/network/80-va-build.network", NETWORK, 0o644)?;
    put(
        "etc/systemd/system/va-build-first-boot.service",
        FIRST_BOOT_UNIT,
        0o644,
    )?;
    put("usr/local/lib/va-build/first-boot", FIRST_BOOT, 0o755)?;
    put("var/lib/va-build/first-boot", "", 0o644)?;
    if let Some(key) = id.ssh_key {
        put("root/.ssh/authorized_keys", key, 0o600)?;
        fs_err::set_permissions(
            root.join("root/.ssh"),
            std::fs::Permissions::from_mode(0o700),
        )
        .map_err(|source| WorkError::Io {
            what: "cannot set the mode of",
            path: root.join("root/.ssh"),
            source,
        })?;
    }
    runner.run(
        "chroot",
        [
            root.as_os_str(),
            "systemctl".as_ref(),
            "enable".as_ref(),
            "systemd-networkd".as_ref(),
            "systemd-resolved".as_ref(),
            "va-build-first-boot".as_ref(),
        ],
    )?;
    // systemd-resolved's stub, as its package sets it (the build used the host's resolver).
    let resolv = root.join("etc/resolv.conf");
    let _ = fs_err::remove_file(&resolv);
    std::os::unix::fs::symlink("../run/systemd/resolve/stub-resolv.conf", &resolv).map_err(
        |source| WorkError::Io {
            what: "cannot link",
            path: resolv.clone(),
            source,
        },
    )?;
    forget_the_build(root)?;
    grub_config(root, id)
}

/// Removes what belongs to one machine, not to the image: SSH host keys and certificates (made
/// at first boot), the machine ID (empty: systemd makes one at first boot), logs, and caches.
fn forget_the_build(root: &Path) -> Result<(), WorkError> {
    let remove_matching = |dir: &str, keep: &dyn Fn(&str) -> bool| -> Result<(), WorkError> {
        let dir = root.join(dir);
        let Ok(entries) = fs_err::read_dir(&dir) else {
            return Ok(());
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !keep(&name) {
                let path = entry.path();
                fs_err::remove_file(&path).map_err(|source| WorkError::Io {
                    what: "cannot remove",
                    path,
                    source,
                })?;
            }
        }
        Ok(())
    };
    remove_matching("etc/ssh", &|name| !name.starts_with("ssh_host_"))?;
    for key in [
        "etc/ssl/private/ssl-cert-snakeoil.key",
        "etc/ssl/certs/ssl-cert-snakeoil.pem",
        "etc/appliance-control/tls/key.pem",
        "etc/appliance-control/tls/cert.pem",
        "etc/aliases.db",
        // The key that tells this system's backups from others' (made on first need).
        "var/lib/appliance/backup.key",
    ] {
        let _ = fs_err::remove_file(root.join(key));
    }
    let _ = fs_err::write(root.join("etc/machine-id"), "");
    let _ = fs_err::remove_file(root.join("var/lib/dbus/machine-id"));
    let _ = fs_err::remove_file(root.join("var/lib/systemd/random-seed"));
    let _ = fs_err::remove_file(root.join("var/cache/ldconfig/aux-cache"));
    truncate_logs(&root.join("var/log"))
}

fn truncate_logs(dir: &Path) -> Result<(), WorkError> {
    let Ok(entries) = fs_err::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let Ok(meta) = fs_err::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            truncate_logs(&path)?;
        } else if meta.is_file() && meta.len() > 0 {
            fs_err::write(&path, b"").map_err(|source| WorkError::Io {
                what: "cannot empty the log",
                path,
                source,
            })?;
        }
    }
    Ok(())
}

/// GRUB's configuration (the kernel and initramfs through Debian's `/vmlinuz` and `/initrd.img`
/// links, which kernel upgrades keep current) and its modules, where the boot images look.
fn grub_config(root: &Path, id: &Identity) -> Result<(), WorkError> {
    let uuid = id.root_uuid;
    let config = format!(
        "# va-build: the kernel through Debian's /vmlinuz and /initrd.img links.\n\
         set timeout=1\nserial --unit=0 --speed=115200\nterminal_input console serial\n\
         terminal_output console serial\ninsmod part_gpt\ninsmod ext2\n\
         search --no-floppy --fs-uuid --set=root {uuid}\n\
         menuentry 'Debian GNU/Linux' {{\n\
         \tlinux /vmlinuz root=UUID={uuid} ro console=tty0 console=ttyS0,115200n8\n\
         \tinitrd /initrd.img\n}}\n"
    );
    let grub = root.join("boot/grub");
    for platform in ["i386-pc", "x86_64-efi"] {
        copy_dir(
            &root.join("usr/lib/grub").join(platform),
            &grub.join(platform),
        )?;
    }
    fs_err::write(grub.join("grub.cfg"), config).map_err(|source| WorkError::Io {
        what: "cannot write",
        path: grub.join("grub.cfg"),
        source,
    })
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), WorkError> {
    let err = |path: &Path| {
        let path = path.to_owned();
        move |source| WorkError::Io {
            what: "cannot copy",
            path,
            source,
        }
    };
    fs_err::create_dir_all(to).map_err(err(to))?;
    for entry in fs_err::read_dir(from).map_err(err(from))? {
        let entry = entry.map_err(err(from))?;
        if entry.file_type().map_err(err(from))?.is_file() {
            fs_err::copy(entry.path(), to.join(entry.file_name())).map_err(err(&entry.path()))?;
        }
    }
    Ok(())
}

/// GRUB's images for the disk.
pub struct GrubImages {
    /// The BIOS core image, for the BIOS boot partition.
    pub core: Vec<u8>,
    /// The EFI image, `EFI/BOOT/BOOTX64.EFI` of the EFI system partition.
    pub efi: Vec<u8>,
    /// The BIOS boot sector's code.
    pub boot: Vec<u8>,
}

/// Makes GRUB's BIOS core image and EFI image with the root's own `grub-mkimage`; both find the
/// root file system by its UUID and read `/boot/grub/grub.cfg` there.
pub fn grub_images(
    runner: &mut Runner,
    root: &Path,
    root_uuid: &str,
) -> Result<GrubImages, WorkError> {
    let tmp = root.join("tmp/va-build-grub");
    let read = |path: &Path| {
        fs_err::read(path).map_err(|source| WorkError::Io {
            what: "cannot read",
            path: path.to_owned(),
            source,
        })
    };
    fs_err::create_dir_all(&tmp).map_err(|source| WorkError::Io {
        what: "cannot make",
        path: tmp.clone(),
        source,
    })?;
    fs_err::write(
        tmp.join("early.cfg"),
        format!(
            "search --no-floppy --fs-uuid --set=root {root_uuid}\nset prefix=($root)/boot/grub\n"
        ),
    )
    .map_err(|source| WorkError::Io {
        what: "cannot write",
        path: tmp.join("early.cfg"),
        source,
    })?;
    let modules = [
        "part_gpt",
        "ext2",
        "search",
        "search_fs_uuid",
        "normal",
        "configfile",
        "linux",
        "serial",
        "terminal",
    ];
    for (format, output, extra) in [
        ("i386-pc", "core.img", &["biosdisk"][..]),
        ("x86_64-efi", "bootx64.efi", &["fat", "efi_gop"][..]),
    ] {
        let mut args: Vec<String> = vec![
            root.display().to_string(),
            "grub-mkimage".into(),
            "-O".into(),
            format.into(),
            "-o".into(),
            format!("/tmp/va-build-grub/{output}"),
            "-p".into(),
            "/boot/grub".into(),
            "-c".into(),
            "/tmp/va-build-grub/early.cfg".into(),
        ];
        args.extend(modules.iter().chain(extra).map(|m| (*m).to_owned()));
        runner.run("chroot", &args)?;
    }
    let images = GrubImages {
        core: read(&tmp.join("core.img"))?,
        efi: read(&tmp.join("bootx64.efi"))?,
        boot: read(&root.join("usr/lib/grub/i386-pc/boot.img"))?,
    };
    fs_err::remove_dir_all(&tmp).map_err(|source| WorkError::Io {
        what: "cannot remove",
        path: tmp,
        source,
    })?;
    Ok(images)
}

/// Sets every time in the root later than `epoch` to `epoch` (`SOURCE_DATE_EPOCH`), as
/// reproducible builds do.
pub fn clamp_times(root: &Path, epoch: i64) -> Result<(), WorkError> {
    use nix::sys::stat::{UtimensatFlags, utimensat};
    use nix::sys::time::TimeSpec;
    let time = TimeSpec::new(epoch, 0);
    for path in walk(root)? {
        let meta = fs_err::symlink_metadata(&path).map_err(|source| WorkError::Io {
            what: "cannot read",
            path: path.clone(),
            source,
        })?;
        if meta.mtime() > epoch || meta.atime() > epoch {
            utimensat(
                nix::fcntl::AT_FDCWD,
                &path,
                &time,
                &time,
                UtimensatFlags::NoFollowSymlink,
            )
            .map_err(|e| WorkError::Io {
                what: "cannot set the times of",
                path: path.clone(),
                source: e.into(),
            })?;
        }
    }
    Ok(())
}

/// Every path under `root` (not `root` itself), sorted, without following links.
fn walk(root: &Path) -> Result<Vec<PathBuf>, WorkError> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let entries = fs_err::read_dir(&dir).map_err(|source| WorkError::Io {
            what: "cannot read",
            path: dir.clone(),
            source,
        })?;
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path.clone());
            }
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// The root's listing, and the bytes its files take.
pub struct Listing {
    /// One line a file, sorted by path: type, mode, owner, size, time, and the content's SHA-256
    /// (a link: its target). Two builds of the same packages with the same `SOURCE_DATE_EPOCH`
    /// give the same text.
    pub text: String,
    /// In 4 KiB blocks, and a block per directory, link or other file.
    pub bytes: u64,
}

/// Lists the root (one walk for the listing and the size the disk needs).
///
/// The files in `renewed` (relative to the root) hold the build's secrets, which differ from
/// build to build and are replaced at first boot: they are listed with
/// [`RENEWED_AT_FIRST_BOOT`] in place of their digest.
pub fn manifest(root: &Path, renewed: &[PathBuf]) -> Result<Listing, WorkError> {
    let mut text = String::new();
    let mut bytes = 0;
    for path in walk(root)? {
        let err = |source| WorkError::Io {
            what: "cannot read",
            path: path.clone(),
            source,
        };
        let meta = fs_err::symlink_metadata(&path).map_err(err)?;
        let kind = meta.file_type();
        let (letter, detail) = if kind.is_symlink() {
            let target = fs_err::read_link(&path).map_err(err)?;
            ('l', target.display().to_string())
        } else if kind.is_file() {
            let relative = path.strip_prefix(root).unwrap_or(&path);
            if renewed.iter().any(|r| r == relative) {
                ('f', RENEWED_AT_FIRST_BOOT.to_owned())
            } else {
                ('f', hash_file(&path).map_err(err)?)
            }
        } else if kind.is_dir() {
            ('d', "-".to_owned())
        } else {
            ('o', format!("{:x}", meta.rdev()))
        };
        let relative = path.strip_prefix(root).unwrap_or(&path);
        let size = if kind.is_file() { meta.len() } else { 0 };
        bytes += size.div_ceil(4096).max(1) * 4096;
        let _ = writeln!(
            text,
            "{letter} {:04o} {}:{} {size} {} {detail} /{}",
            meta.mode() & 0o7777,
            meta.uid(),
            meta.gid(),
            meta.mtime(),
            relative.display()
        );
    }
    Ok(Listing { text, bytes })
}

/// What the manifest says of a file that holds the build's secrets.
pub const RENEWED_AT_FIRST_BOOT: &str = "(secret:made-anew-at-first-boot)";

fn hash_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut hasher = Sha256::new();
    let mut file = fs_err::File::open(path)?;
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buffer[..read]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hook_installs_the_tools_first_then_the_appliance_with_the_site_seed() {
        let plan = RootPlan {
            suite: "bookworm",
            sources: &[],
            repos: &[
                Repo::Dir(PathBuf::from("/srv/our repo")),
                Repo::Line("deb http://r.invalid/ ./".into()),
            ],
            appliance: "moinmoin-appliance",
            site_seed: Path::new("/w/site.seed"),
            extra_packages: &[],
            cache: Path::new("/var/cache/va-build"),
            work: Path::new("/w"),
        };
        let script = install_script(&plan);
        let tools = script.find("install -y appliance-tools").unwrap();
        let appliance = script
            .find(
                "install -y -o Appliance::Site-Seed=/var/lib/va-build/site.seed moinmoin-appliance",
            )
            .unwrap();
        assert!(tools < appliance, "{script}");
        assert!(script.contains("cp -a '/srv/our repo'/. \"$root/var/lib/va-build/repo0\""));
        assert!(script.contains("deb [trusted=yes] file:/var/lib/va-build/repo0 ./"));
        assert!(script.contains(
            "'deb http://r.invalid/ ./\n' > \"$root/etc/apt/sources.list.d/appliance.list\""
        ));
        // The local copies and the site seed (a password) do not stay in the image.
        assert!(script.trim_end().ends_with(
            "rm -rf \"$root/var/lib/va-build\" \"$root/etc/apt/sources.list.d/va-build.list\""
        ));
        let args = mmdebstrap_args(
            &plan,
            Path::new("/w/root"),
            &[PathBuf::from("/w/s.sources")],
        );
        assert!(args[3].starts_with("--include=linux-image-amd64,"));
        assert!(args.contains(&"--customize-hook=sh /w/install.sh \"$1\"".to_owned()));
        assert_eq!(
            args[args.len() - 3..],
            ["bookworm", "/w/root", "/w/s.sources"]
        );
    }

    #[test]
    fn the_first_boot_runs_in_early_boot_before_the_network_and_the_sockets() {
        let values = |key: &str| -> Vec<&str> {
            FIRST_BOOT_UNIT
                .lines()
                .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .flat_map(str::split_whitespace)
                .collect()
        };
        // Before sysinit.target, which every socket and service with default dependencies
        // follows, and before the network.
        assert_eq!(values("DefaultDependencies"), ["no"]);
        let before = values("Before");
        for unit in ["sysinit.target", "network-pre.target", "ssh.service"] {
            assert!(before.contains(&unit), "{before:?}");
        }
        // What it follows runs before sysinit.target too, none after the network: with
        // cloud-init's network stage (after the network is online, before sysinit.target), an
        // ordering after basic.target was a cycle that systemd broke by dropping cloud-init.service.
        let after = values("After");
        assert!(after.contains(&"cloud-init-local.service"), "{after:?}");
        for unit in &after {
            assert!(
                [
                    "local-fs.target",
                    "systemd-remount-fs.service",
                    "systemd-tmpfiles-setup.service",
                    "systemd-random-seed.service",
                    "cloud-init-local.service",
                ]
                .contains(unit),
                "{unit} may not run before sysinit.target"
            );
        }
        assert_eq!(values("WantedBy"), ["sysinit.target"]);
        assert!(FIRST_BOOT.contains("va-seed renew"));
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("plain-name_1.0"), "plain-name_1.0");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn manifest_lists_contents_and_clamped_times() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs_err::create_dir_all(root.join("etc")).unwrap();
        fs_err::write(root.join("etc/a"), "x").unwrap();
        std::os::unix::fs::symlink("a", root.join("etc/b")).unwrap();
        clamp_times(root, 1_000_000).unwrap();
        let listing = manifest(root, &[]).unwrap();
        let text = listing.text;
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("d 0755 "), "{text}");
        assert!(lines[0].ends_with(" 1000000 - /etc"), "{text}");
        assert!(
            lines[1].contains(
                " 1 1000000 2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881 /etc/a"
            ),
            "{text}"
        );
        assert!(
            lines[2].starts_with("l ") && lines[2].ends_with(" a /etc/b"),
            "{text}"
        );
        fs_err::write(root.join("etc/a"), "y").unwrap();
        clamp_times(root, 1_000_000).unwrap();
        assert_ne!(manifest(root, &[]).unwrap().text, text);
        // Three entries, a block each.
        assert_eq!(listing.bytes, 3 * 4096);
        // A file that holds the build's secrets is listed without its digest.
        let renewed = manifest(root, &[PathBuf::from("etc/a")]).unwrap().text;
        assert!(
            renewed.contains(&format!(" {RENEWED_AT_FIRST_BOOT} /etc/a")),
            "{renewed}"
        );
    }
}
