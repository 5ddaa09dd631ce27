//! va-build: a bootable virtual machine image of an appliance package.
//!
//! 1. The package is checked against the target suite's package lists through libapt-pkg, in a
//!    private APT directory, before anything is downloaded.
//! 2. mmdebstrap makes the root; its customize hook installs appliance-tools, then the appliance
//!    with plain `apt-get install` ([`root`]).
//! 3. The root is made a machine: network, first-boot SSH keys, GRUB for BIOS and UEFI.
//! 4. The disk is assembled in a regular file ([`disk`]), converted with `qemu-img`, and renamed
//!    to the output path only when complete.

#![expect(
    clippy::disallowed_methods,
    reason = "writes the image's root and disk while they are assembled in the build's own directory: nothing reads them until the finished image is renamed into place"
)]

pub mod disk;
pub mod root;
pub mod sources;
pub mod work;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::catalog::{Catalog, CatalogError};
use crate::random::{self, RandomError};
use crate::seed::{InvalidSeed, Origin, Seed};
use disk::Layout;
use root::{Identity, RootPlan};
use sources::{Repo, SourceFile};
use work::{Progress, Runner, Work, WorkError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Qcow2,
    Raw,
}

/// What to build.
#[derive(Debug, Clone)]
pub struct Options {
    pub appliance: String,
    pub output: PathBuf,
    /// The Debian release; `None`: the host's.
    pub suite: Option<String>,
    /// One mirror URL instead of the host's APT sources.
    pub mirror: Option<String>,
    pub repos: Vec<Repo>,
    /// The disk's size; `None`: 4 GiB, or more if the root needs it.
    pub size: Option<u64>,
    pub format: Format,
    pub hostname: Option<String>,
    /// The administrator's public SSH key(s), for root.
    pub ssh_key: Option<String>,
    /// The site's answers, over the appliance's seed.
    pub seed: Option<String>,
    pub cloud_init: bool,
    pub cache: PathBuf,
    pub overwrite: bool,
    /// `SOURCE_DATE_EPOCH`: times clamped, identifiers derived rather than random.
    pub source_date_epoch: Option<i64>,
}

/// What was built.
#[derive(Debug, Clone)]
pub struct Built {
    pub output: PathBuf,
    pub log: PathBuf,
    pub manifest: PathBuf,
    pub appliance: String,
    pub version: String,
    pub bytes: u64,
    pub root_bytes: u64,
    /// The generated secrets that `--seed` gave, kept at first boot; every other one is made
    /// anew there.
    pub kept_secrets: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("va-build must run as root (it makes a root file system with mmdebstrap)")]
    NotRoot,
    #[error("`{}` exists: give --overwrite to replace it", .0.display())]
    Exists(PathBuf),
    #[error("{0}")]
    Input(String),
    #[error("{reason}\nThe appliances in {suite}: {}", list_or_none(.appliances))]
    NotAnAppliance {
        suite: String,
        reason: CatalogError,
        appliances: Vec<String>,
    },
    #[error(transparent)]
    Seed(#[from] InvalidSeed),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Work(#[from] WorkError),
    #[error(transparent)]
    Layout(#[from] disk::LayoutError),
    #[error(transparent)]
    Random(#[from] RandomError),
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
    #[error(
        "the image would share secrets between its machines: {}; no plugin manifest says how to set them anew at first boot (give them in --seed, or add a `renew` command to the manifest)", .0.join(", ")
    )]
    Unrenewable(Vec<String>),
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none found (is the repository that holds them given with --repo?)".to_owned()
    } else {
        names.join(", ")
    }
}

const STAGES: usize = 5;

/// The identifiers of one build, decided once and handed to every stage that names them: the
/// root file system's UUID is written into `/etc/fstab` and GRUB's images (stage 3) and given to
/// `mkfs.ext4` (stage 4), so they must be the same value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identifiers {
    /// The GPT disk's GUID.
    pub disk: String,
    /// The root partition's unique GUID.
    pub root_partition: String,
    /// The root file system's UUID.
    pub root: String,
    /// The EFI system partition's FAT volume ID (8 hex digits).
    pub esp: String,
}

impl Identifiers {
    /// Random, or with `SOURCE_DATE_EPOCH` derived from the build's inputs, so that two builds
    /// write the same `/etc/fstab` and `grub.cfg`.
    pub fn new(appliance: &str, source_date_epoch: Option<i64>) -> Result<Self, RandomError> {
        let one = |what: &str| -> Result<String, RandomError> {
            match source_date_epoch {
                Some(epoch) => {
                    let digest = Sha256::digest(format!("{appliance}\0{epoch}\0{what}"));
                    let mut bytes = [0u8; 16];
                    bytes.copy_from_slice(&digest[..16]);
                    Ok(random::uuid_text(bytes))
                }
                None => random::uuid(),
            }
        };
        Ok(Self {
            disk: one("disk")?,
            root_partition: one("root-partition")?,
            root: one("root")?,
            esp: one("esp")?[..8].to_owned(),
        })
    }
}

/// The site's seed for the installation, `--seed`'s answers: checked here, before anything is
/// downloaded. It gives values; generated secrets (`@secret:…`) are the appliance's to ask for.
pub fn site_seed(given: Option<&str>) -> Result<(String, Seed), ImageError> {
    let text = given.unwrap_or_default().to_owned();
    let seed = Seed::parse_site(text.as_bytes()).map_err(|error| InvalidSeed {
        origin: Origin::Site {
            path: None,
            given_by: "--seed",
        },
        error,
    })?;
    Ok((text, seed))
}

/// The image's APT sources: `--mirror`, or the entries for the host's release `host` moved to
/// `suite`.
fn image_sources(
    options: &Options,
    host: Option<&str>,
    suite: &str,
) -> Result<Vec<SourceFile>, ImageError> {
    if let Some(url) = &options.mirror {
        return Ok(vec![sources::mirror(url, suite)]);
    }
    let host = host.ok_or_else(|| {
        ImageError::Input(
            "the host's release is unknown (no VERSION_CODENAME in /etc/os-release): give --mirror"
                .into(),
        )
    })?;
    let files: Vec<(PathBuf, String)> = sources::host_source_files()
        .into_iter()
        .filter_map(|p| fs_err::read_to_string(&p).ok().map(|t| (p, t)))
        .collect();
    let moved = sources::for_suite(&files, host, suite);
    if moved.is_empty() {
        return Err(ImageError::Input(format!(
            "the host's APT sources name no archive of {host}: give --mirror"
        )));
    }
    Ok(moved)
}

/// Checks, before any package is downloaded, that `options.appliance` is an appliance of `suite`:
/// the package lists of `sources` and the repositories are fetched into a private APT directory
/// and read through libapt-pkg.
fn check(
    runner: &mut Runner,
    work: &Work,
    options: &Options,
    suite: &str,
    sources: &[SourceFile],
    host_lists: bool,
) -> Result<String, ImageError> {
    let apt = work.path("apt");
    let io = |path: PathBuf| {
        move |source| {
            ImageError::Work(WorkError::Io {
                what: "cannot write",
                path,
                source,
            })
        }
    };
    for dir in [
        "etc/apt/sources.list.d",
        "etc/apt/apt.conf.d",
        "etc/apt/preferences.d",
        "var/lib/apt/lists/partial",
        "var/cache/apt/archives/partial",
        "var/lib/dpkg",
    ] {
        fs_err::create_dir_all(apt.join(dir)).map_err(io(apt.join(dir)))?;
    }
    fs_err::write(apt.join("var/lib/dpkg/status"), "").map_err(io(apt.clone()))?;
    for source in sources {
        let path = apt.join("etc/apt/sources.list.d").join(&source.name);
        fs_err::write(&path, &source.text).map_err(io(path.clone()))?;
    }
    let mut extra = String::new();
    for repo in &options.repos {
        match repo {
            Repo::Dir(dir) => {
                let _ = writeln!(extra, "deb [trusted=yes] file:{} ./", dir.display());
            }
            Repo::Line(line) => {
                let _ = writeln!(extra, "{line}");
            }
        }
    }
    let path = apt.join("etc/apt/sources.list.d/zz-repos.list");
    fs_err::write(&path, extra).map_err(io(path.clone()))?;
    // The host's lists, when they are of the same archives, save the download (APT asks whether
    // they changed).
    if host_lists && let Ok(entries) = fs_err::read_dir("/var/lib/apt/lists") {
        for entry in entries.filter_map(Result::ok) {
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                let _ = fs_err::copy(
                    entry.path(),
                    apt.join("var/lib/apt/lists").join(entry.file_name()),
                );
            }
        }
    }
    let dir = format!("Dir={}/", apt.display());
    runner.run(
        "apt-get",
        [
            "-q",
            "-o",
            &dir,
            "-o",
            "Dir::Etc::trusted=/etc/apt/trusted.gpg",
            "-o",
            "Dir::Etc::trustedparts=/etc/apt/trusted.gpg.d",
            "-o",
            "APT::Sandbox::User=root",
            "-o",
            "Acquire::Languages=none",
            "update",
        ],
    )?;
    let catalog = Catalog::open(Some(&apt))?;
    match catalog.find(&options.appliance) {
        Ok(found) => Ok(found.version),
        Err(reason @ (CatalogError::Unknown { .. } | CatalogError::NotAppliance { .. })) => {
            Err(ImageError::NotAnAppliance {
                suite: suite.to_owned(),
                reason,
                appliances: catalog.appliances().into_iter().map(|a| a.name).collect(),
            })
        }
        Err(other) => Err(other.into()),
    }
}

/// `--suite`, or the host's release.
fn target_suite(options: &Options, host: Option<&str>) -> Result<String, ImageError> {
    match (&options.suite, host) {
        (Some(suite), _) => Ok(suite.clone()),
        (None, Some(host)) => Ok(host.to_owned()),
        (None, None) => Err(ImageError::Input(
            "the host's release is unknown (no VERSION_CODENAME in /etc/os-release): give --suite"
                .into(),
        )),
    }
}

/// Builds the image `options` describe, telling `progress` how it goes.
pub fn build(options: &Options, progress: &mut dyn Progress) -> Result<Built, ImageError> {
    if !nix::unistd::geteuid().is_root() {
        return Err(ImageError::NotRoot);
    }
    if options.output.exists() && !options.overwrite {
        return Err(ImageError::Exists(options.output.clone()));
    }
    let (seed_text, site_answers) = site_seed(options.seed.as_deref())?;
    let ids = Identifiers::new(&options.appliance, options.source_date_epoch)?;
    let work = Work::take(&options.output)?;
    let log = with_suffix(&options.output, ".log");
    let mut runner = Runner::new(&log, progress)?;
    let host = sources::host_codename().ok();
    let suite = target_suite(options, host.as_deref())?;
    let sources = image_sources(options, host.as_deref(), &suite)?;

    runner.progress.stage(
        1,
        STAGES,
        &format!("Checking {} in {suite}", options.appliance),
    );
    // The host's lists are of the same archives when its sources are: copied in first.
    let host_lists = options.mirror.is_none() && host.as_deref() == Some(suite.as_str());
    let version = check(&mut runner, &work, options, &suite, &sources, host_lists)?;

    runner.progress.stage(
        2,
        STAGES,
        &format!("Installing {} {version} with mmdebstrap", options.appliance),
    );
    let site_seed = work.path("site.seed");
    crate::atomic::write(&site_seed, seed_text.as_bytes(), 0o600).map_err(|source| {
        WorkError::Io {
            what: "cannot write",
            path: site_seed.clone(),
            source,
        }
    })?;
    let root = work.path("root");
    let extra: &[&str] = if options.cloud_init {
        CLOUD_INIT_PACKAGES
    } else {
        &[]
    };
    root::make(
        &mut runner,
        &RootPlan {
            suite: &suite,
            sources: &sources,
            repos: &options.repos,
            appliance: &options.appliance,
            site_seed: &site_seed,
            extra_packages: extra,
            cache: &options.cache,
            work: &work.dir,
        },
        &root,
    )?;
    let _ = fs_err::remove_file(&site_seed);
    let first_boot = first_boot_secrets(options, &root, &site_answers)?;

    runner.progress.stage(
        3,
        STAGES,
        "Making it a machine: boot loader, network, first boot",
    );
    let grub = make_machine(&mut runner, options, &ids, &root)?;
    let listing = root::manifest(&root, &first_boot.files)?;
    let root_bytes = listing.bytes;

    runner
        .progress
        .stage(4, STAGES, "Making the disk: partitions and file systems");
    let raw = work.path("disk.raw");
    assemble(&mut runner, options, &ids, &root, &raw, root_bytes, &grub)?;
    // The root is in the disk now; the space it took is given back before the conversion.
    work::remove_tree(&root)?;

    runner
        .progress
        .stage(5, STAGES, &format!("Writing {}", options.output.display()));
    let bytes = finish(&mut runner, options, &work, &raw)?;
    let manifest = with_suffix(&options.output, ".manifest");
    crate::atomic::write(&manifest, listing.text.as_bytes(), 0o644).map_err(|source| {
        WorkError::Io {
            what: "cannot write",
            path: manifest.clone(),
            source,
        }
    })?;
    runner.note("done");
    Ok(Built {
        output: options.output.clone(),
        log,
        manifest,
        appliance: options.appliance.clone(),
        version,
        bytes,
        root_bytes,
        kept_secrets: first_boot.kept,
    })
}

/// What the first boot does with the build's secrets.
struct FirstBootSecrets {
    files: Vec<PathBuf>,
    kept: Vec<String>,
}

/// The secrets the first boot makes anew: all but those the site's seed gave (listed in
/// `/var/lib/va-build/keep-secrets` for it). Refuses an image that would share a secret no
/// manifest can set anew.
fn first_boot_secrets(
    options: &Options,
    root: &Path,
    site: &Seed,
) -> Result<FirstBootSecrets, ImageError> {
    let kept = crate::secrets::given_by_site(root, &options.appliance, site)?;
    let plan = crate::secrets::first_boot(root, &kept)?;
    if !plan.unrenewable.is_empty() {
        return Err(ImageError::Unrenewable(plan.unrenewable));
    }
    let path = root.join("var/lib/va-build/keep-secrets");
    let text = kept.iter().fold(String::new(), |mut text, name| {
        text.push_str(name);
        text.push('\n');
        text
    });
    fs_err::create_dir_all(root.join("var/lib/va-build"))
        .and_then(|()| crate::atomic::write(&path, text.as_bytes(), 0o600))
        .map_err(|source| WorkError::Io {
            what: "cannot write",
            path,
            source,
        })?;
    Ok(FirstBootSecrets {
        files: plan.files,
        kept,
    })
}

/// Stage 3: the root made a machine, GRUB's images made, times clamped for a reproducible build.
fn make_machine(
    runner: &mut Runner,
    options: &Options,
    ids: &Identifiers,
    root: &Path,
) -> Result<root::GrubImages, ImageError> {
    let hostname = options
        .hostname
        .clone()
        .unwrap_or_else(|| default_hostname(&options.appliance));
    root::configure(
        runner,
        root,
        &Identity {
            hostname: &hostname,
            root_uuid: &ids.root,
            ssh_key: options.ssh_key.as_deref(),
        },
    )?;
    if options.cloud_init {
        cloud_init(root)?;
    }
    let grub = root::grub_images(runner, root, &ids.root)?;
    if let Some(epoch) = options.source_date_epoch {
        root::clamp_times(root, epoch)?;
    }
    Ok(grub)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// `moinmoin-appliance` → `moinmoin`.
pub fn default_hostname(appliance: &str) -> String {
    let name = appliance.strip_suffix("-appliance").unwrap_or(appliance);
    let name: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(63)
        .collect();
    let name = name.trim_matches('-');
    if name.is_empty() {
        "appliance".to_owned()
    } else {
        name.to_owned()
    }
}

/// `--cloud-init`: cloud-init with what `apt-get install cloud-init` brings on Debian (its
/// recommends, which mmdebstrap leaves out): `sudo`, which the user-data's users and cloud-init's
/// default user `debian` are given, and `growpart` (cloud-guest-utils), with which cloud-init
/// grows the root partition, the disk's last, to a disk made larger.
pub const CLOUD_INIT_PACKAGES: &[&str] = &["cloud-init", "cloud-guest-utils", "sudo"];

/// cloud-init's settings in the image.
pub const CLOUD_INIT_CONFIG: &str = "\
# va-build: a NoCloud seed (a CIDATA disk, or seedfrom on the kernel command line) when there is
# one; otherwise the image boots as it was built.
datasource_list: [ NoCloud, None ]
# The machine's name, when the seed gives it, on /etc/hosts' 127.0.1.1 line, where the image has
# its own (the rest of the file is left as it is).
manage_etc_hosts: localhost
";

/// The image's locale: glibc's built-in C.UTF-8, the only one it has. Without a system locale,
/// cloud-init's locale module sets en_US.UTF-8, which Debian's `locale-gen` does not make unless
/// `/etc/locale.gen` names it, and fails; with this one it has nothing to do unless the
/// user-data asks for a locale.
pub const CLOUD_INIT_LOCALE: &str = "#  File generated by update-locale\nLANG=C.UTF-8\n";

fn cloud_init(root: &Path) -> Result<(), ImageError> {
    for (relative, text) in [
        ("etc/cloud/cloud.cfg.d/90-va-build.cfg", CLOUD_INIT_CONFIG),
        ("etc/default/locale", CLOUD_INIT_LOCALE),
    ] {
        let path = root.join(relative);
        crate::atomic::write(&path, text.as_bytes(), 0o644).map_err(|source| {
            ImageError::Work(WorkError::Io {
                what: "cannot write",
                path,
                source,
            })
        })?;
    }
    Ok(())
}

/// The raw disk: partition table, EFI system partition, root file system, BIOS boot code.
fn assemble(
    runner: &mut Runner,
    options: &Options,
    ids: &Identifiers,
    root: &Path,
    raw: &Path,
    root_bytes: u64,
    grub: &root::GrubImages,
) -> Result<(), ImageError> {
    // Room for the file system's own tables and the appliance's first data.
    let needed = root_bytes + root_bytes / 5 + (256 << 20);
    let size = options
        .size
        .unwrap_or_else(|| (4u64 << 30).max((needed + (1 << 30)).next_multiple_of(1 << 30)));
    let layout = Layout::new(size, needed)?;
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| {
            ImageError::Work(WorkError::Io {
                what: "cannot write",
                path,
                source,
            })
        }
    };
    let file = fs_err::File::create(raw).map_err(io(raw))?;
    file.set_len(layout.disk_bytes).map_err(io(raw))?;
    drop(file);
    let script_path = raw.with_extension("sfdisk");
    fs_err::write(
        &script_path,
        layout.sfdisk_script(&ids.disk, &ids.root_partition),
    )
    .map_err(io(&script_path))?;
    runner.run(
        "sh",
        [
            "-c".as_ref(),
            "exec sfdisk --quiet --no-reread --no-tell-kernel \"$1\" < \"$2\"".as_ref(),
            "sh".as_ref(),
            raw.as_os_str(),
            script_path.as_os_str(),
        ],
    )?;
    // The EFI system partition: FAT, GRUB as the removable-media path every firmware tries.
    let esp = raw.with_extension("esp");
    let efi_path = raw.with_extension("efi");
    fs_err::write(&efi_path, &grub.efi).map_err(io(&efi_path))?;
    runner.run(
        "mkfs.vfat",
        [
            "-C".as_ref(),
            "-n".as_ref(),
            "ESP".as_ref(),
            "-i".as_ref(),
            ids.esp.as_ref(),
            esp.as_os_str(),
            Layout::esp_kib().to_string().as_ref(),
        ],
    )?;
    let image = format!("{}", esp.display());
    runner.run("mmd", ["-i", &image, "::/EFI", "::/EFI/BOOT"])?;
    runner.run(
        "mcopy",
        [
            "-i",
            &image,
            &efi_path.display().to_string(),
            "::/EFI/BOOT/BOOTX64.EFI",
        ],
    )?;
    disk::copy_into(&esp, raw, Layout::esp_offset()).map_err(io(raw))?;
    // The root file system, written into its partition in place.
    let offset = format!("offset={},root_owner=0:0", layout.root_offset());
    let kib = format!("{}k", layout.root_kib());
    runner.run(
        "mkfs.ext4",
        [
            "-q".as_ref(),
            "-F".as_ref(),
            "-L".as_ref(),
            "root".as_ref(),
            "-U".as_ref(),
            ids.root.as_ref(),
            "-E".as_ref(),
            offset.as_ref(),
            "-d".as_ref(),
            root.as_os_str(),
            raw.as_os_str(),
            kib.as_ref(),
        ],
    )?;
    // BIOS: boot.img in the first sector, the core image in the BIOS boot partition.
    let boot_code = disk::boot_code(&grub.boot)?;
    disk::write_at(raw, 0, &boot_code).map_err(io(raw))?;
    let core = disk::place_core(grub.core.clone())?;
    disk::write_at(raw, disk::BIOS_START * disk::SECTOR, &core).map_err(io(raw))?;
    Ok(())
}

/// Converts (qcow2) or moves (raw) the disk to a file beside the output, syncs it, and renames it
/// to the output: until then the output path holds nothing of this build.
fn finish(
    runner: &mut Runner,
    options: &Options,
    work: &Work,
    raw: &Path,
) -> Result<u64, ImageError> {
    let ready = work.path("image");
    match options.format {
        Format::Qcow2 => runner.run(
            "qemu-img",
            [
                "convert".as_ref(),
                "-f".as_ref(),
                "raw".as_ref(),
                "-O".as_ref(),
                "qcow2".as_ref(),
                raw.as_os_str(),
                ready.as_os_str(),
            ],
        )?,
        Format::Raw => fs_err::rename(raw, &ready).map_err(|source| WorkError::Io {
            what: "cannot move",
            path: raw.to_owned(),
            source,
        })?,
    }
    let io = |source| {
        ImageError::Work(WorkError::Io {
            what: "cannot write",
            path: options.output.clone(),
            source,
        })
    };
    fs_err::File::open(&ready)
        .and_then(|f| f.sync_all())
        .map_err(io)?;
    fs_err::rename(&ready, &options.output).map_err(io)?;
    if let Some(dir) = options
        .output
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        let _ = fs_err::File::open(dir).and_then(|d| d.sync_all());
    }
    let bytes =
        std::os::unix::fs::MetadataExt::blocks(&fs_err::metadata(&options.output).map_err(io)?)
            * 512;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_random_unless_the_build_is_reproducible() {
        let a = Identifiers::new("dokuwiki-appliance", None).unwrap();
        assert_eq!(a.root.len(), 36);
        assert_eq!(&a.root[14..15], "4");
        assert_eq!(a.esp.len(), 8);
        let b = Identifiers::new("dokuwiki-appliance", None).unwrap();
        for (x, y) in [(&a.disk, &b.disk), (&a.root, &b.root), (&a.esp, &b.esp)] {
            assert_ne!(x, y);
        }
        let c = Identifiers::new("dokuwiki-appliance", Some(1_700_000_000)).unwrap();
        assert_eq!(
            c,
            Identifiers::new("dokuwiki-appliance", Some(1_700_000_000)).unwrap()
        );
        assert_ne!(
            c,
            Identifiers::new("moinmoin-appliance", Some(1_700_000_000)).unwrap()
        );
        assert_ne!(c.root, c.disk);
        assert_ne!(c.root, c.root_partition);
    }

    #[test]
    fn the_site_seed_gives_values_and_asks_for_no_generated_secret() {
        let (text, seed) = site_seed(None).unwrap();
        assert!(text.is_empty() && seed.entries.is_empty());
        let given = "appliance-control appliance-control/admin-password password s3cret\n";
        let (text, seed) = site_seed(Some(given)).unwrap();
        assert_eq!((text.as_str(), seed.entries.len()), (given, 1));
        let error = site_seed(Some("postfix x strin y\n")).unwrap_err();
        assert_eq!(
            crate::error_chain(&error),
            "invalid site seed (--seed): line 1: unknown type `strin`"
        );
        let error =
            site_seed(Some("# c\nmoin moin/admin-password password @secret:x\n")).unwrap_err();
        assert!(crate::error_chain(&error).contains("line 2"), "{error}");
    }

    #[test]
    fn cloud_init_reads_a_nocloud_seed_and_finds_a_locale() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs_err::create_dir_all(root.join("etc/cloud/cloud.cfg.d")).unwrap();
        fs_err::create_dir_all(root.join("etc/default")).unwrap();
        // locales' postinst leaves a file without a locale.
        fs_err::write(
            root.join("etc/default/locale"),
            "#  File generated by update-locale\n",
        )
        .unwrap();
        cloud_init(root).unwrap();
        let config =
            fs_err::read_to_string(root.join("etc/cloud/cloud.cfg.d/90-va-build.cfg")).unwrap();
        // ds-identify reads datasource_list only from a line of its own.
        assert!(
            config
                .lines()
                .any(|l| l == "datasource_list: [ NoCloud, None ]"),
            "{config}"
        );
        assert!(config.lines().any(|l| l == "manage_etc_hosts: localhost"));
        let locale = fs_err::read_to_string(root.join("etc/default/locale")).unwrap();
        assert!(locale.lines().any(|l| l == "LANG=C.UTF-8"), "{locale}");
        assert!(CLOUD_INIT_PACKAGES.contains(&"sudo"));
        // Without the directory cloud-init's package makes, the error names the file.
        let bare = tempfile::tempdir().unwrap();
        let error = cloud_init(bare.path()).unwrap_err().to_string();
        assert!(error.contains("90-va-build.cfg"), "{error}");
    }

    #[test]
    fn hostnames() {
        assert_eq!(default_hostname("moinmoin-appliance"), "moinmoin");
        assert_eq!(default_hostname("wiki.example"), "wiki-example");
        assert_eq!(default_hostname("-appliance"), "appliance");
    }
}
