use super::*;
use crate::Collected;
use crate::deb::Compression;
use crate::deb::fixture::{DebBuilder, corrupt};
use crate::seed::apply::recorder::Recorder;

const SEED: &str = "postfix postfix/main_mailer_type select Satellite system\npostfix postfix/relayhost string [smtp.example.org]:587\n";

fn appliance(dir: &Path, name: &str, version: &str, seed: Option<&str>) -> PathBuf {
    let control = format!(
        "Package: {name}\nVersion: {version}\nArchitecture: all\nDepends: postfix\nProvides: virtual-appliance\nConflicts: virtual-appliance\nDescription: test\n"
    );
    let mut builder = DebBuilder::new(&control).compression(Compression::Zstd);
    if let Some(seed) = seed {
        builder = builder.file(
            &format!("var/lib/appliance/seeds/{name}.seed"),
            seed.as_bytes(),
        );
    }
    builder.write(dir)
}

fn plain(dir: &Path, name: &str) -> PathBuf {
    DebBuilder::new(&format!(
        "Package: {name}\nVersion: 1\nArchitecture: all\nProvides: mail-transport-agent\nDescription: mentions virtual-appliance in text only\n"
    ))
    .compression(Compression::Gzip)
    .write(dir)
}

fn v3(lines: &[String]) -> String {
    format!(
        "VERSION 3\nAPT::Architecture=amd64\nDPkg::Pre-Install-Pkgs::=/usr/sbin/dpkg-preconfigure --apt\nAPT::Key%3dOdd=value%25x\n\n{}\n",
        lines.join("\n")
    )
}

fn unpack(name: &str, deb: &Path) -> String {
    format!("{name} - - none < 1.0 all none {}", deb.display())
}

#[test]
fn parses_version_3() {
    let input = parse(&v3(&[
        "moinmoin-appliance - - none < 1.0-1 all none /srv/repo/./moinmoin-appliance_1.0-1_all.deb".into(),
        "libc6 2.36-9 amd64 same < 2.36-9+deb12u1 amd64 same /var/cache/apt/archives/libc6_2.36_amd64.deb".into(),
        "postfix 3.7 amd64 none = 3.7 amd64 none **CONFIGURE**".into(),
        "old 1 all foreign > - - none **REMOVE**".into(),
        "spaced - - none < 1 all none /tmp/with space/x.deb".into(),
    ]))
    .unwrap();
    assert_eq!(input.version, 3);
    assert_eq!(input.config("APT::Key=Odd"), Some("value%x"));
    assert_eq!(input.config("APT::Architecture"), Some("amd64"));
    let summary: Vec<(&str, Option<&str>, Option<&str>, &Action)> = input
        .actions
        .iter()
        .map(|a| {
            (
                a.package.as_str(),
                a.old_version.as_deref(),
                a.new_version.as_deref(),
                &a.action,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "moinmoin-appliance",
                None,
                Some("1.0-1"),
                &Action::Unpack("/srv/repo/./moinmoin-appliance_1.0-1_all.deb".into())
            ),
            (
                "libc6",
                Some("2.36-9"),
                Some("2.36-9+deb12u1"),
                &Action::Unpack("/var/cache/apt/archives/libc6_2.36_amd64.deb".into())
            ),
            ("postfix", Some("3.7"), Some("3.7"), &Action::Configure),
            ("old", Some("1"), None, &Action::Remove),
            (
                "spaced",
                None,
                Some("1"),
                &Action::Unpack("/tmp/with space/x.deb".into())
            ),
        ]
    );
}

#[test]
fn parses_versions_1_and_2_and_rejects_others() {
    let v2 =
        parse("VERSION 2\nA=b\n\nhello - < 2.10 ./hello_2.10_amd64.deb\nx 1 = 1 **CONFIGURE**\n")
            .unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(
        v2.actions[0].action,
        Action::Unpack("./hello_2.10_amd64.deb".into())
    );
    assert_eq!(v2.actions[1].action, Action::Configure);
    let v1 = parse("/var/cache/apt/archives/a.deb\n/var/cache/apt/archives/b.deb\n").unwrap();
    assert_eq!(v1.version, 1);
    assert_eq!(v1.actions.len(), 2);
    assert_eq!(
        parse("VERSION 9\n"),
        Err(ProtocolError::Version {
            line: 1,
            version: "9".into()
        })
    );
    assert!(matches!(
        parse("VERSION 3\n\nshort - - none\n"),
        Err(ProtocolError::Fields { line: 3, .. })
    ));
    assert_eq!(
        parse("VERSION 2\nnovalue\n\n"),
        Err(ProtocolError::Config { line: 2 })
    );
    assert_eq!(parse("").unwrap(), Input::default());
    assert_eq!(percent_decode("a%3Db%zz%4"), "a=b%zz%4");
}

#[test]
fn no_appliance_means_nothing_done() {
    let dir = tempfile::tempdir().unwrap();
    let debs: Vec<String> = (0..20)
        .map(|i| unpack(&format!("p{i}"), &plain(dir.path(), &format!("p{i}"))))
        .collect();
    let tools = Recorder::default();
    let mut reporter = Collected::default();
    let outcomes = run(
        &parse(&v3(&debs)).unwrap(),
        dir.path(),
        &tools,
        &mut reporter,
    )
    .unwrap();
    assert!(outcomes.is_empty());
    assert!(tools.selections.borrow().is_empty());
    assert!(reporter.infos.is_empty() && reporter.warnings.is_empty());
    assert!(
        !dir.path().join("var/lib/appliance").exists(),
        "no registry without an appliance"
    );
}

#[test]
fn an_appliance_is_seeded_before_dpkg() {
    let dir = tempfile::tempdir().unwrap();
    let deb = appliance(dir.path(), "demo-appliance", "1.0", Some(SEED));
    let other = plain(dir.path(), "postfix");
    let tools = Recorder::default();
    let mut reporter = Collected::default();
    let input = parse(&v3(&[
        unpack("postfix", &other),
        unpack("demo-appliance", &deb),
    ]))
    .unwrap();
    let outcomes = run(&input, dir.path(), &tools, &mut reporter).unwrap();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(tools.selections.borrow().as_slice(), [SEED]);
    assert_eq!(
        reporter.infos,
        ["Seeding demo-appliance 1.0: 2 answers applied"]
    );
    let state = Registry::new(dir.path())
        .state("demo-appliance")
        .unwrap()
        .unwrap();
    assert_eq!(state.seed, SEED);
    assert_eq!(state.applied_by, "apt-hook");
}

#[test]
fn configure_only_reads_the_unpacked_seed() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(dir.path());
    std::fs::create_dir_all(registry.seeds_dir()).unwrap();
    std::fs::write(registry.seed_path("demo-appliance").unwrap(), SEED).unwrap();
    let tools = Recorder::default();
    let mut reporter = Collected::default();
    let input = parse(&v3(&[
        "demo-appliance - - none < 1.0 all none **CONFIGURE**".into(),
    ]))
    .unwrap();
    run(&input, dir.path(), &tools, &mut reporter).unwrap();
    assert_eq!(tools.selections.borrow().as_slice(), [SEED]);
}

#[test]
fn a_bad_seed_stops_apt_naming_package_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let deb = appliance(
        dir.path(),
        "bad-appliance",
        "1.0",
        Some("postfix postfix/relayhost string x\npostfix postfix/x strin y\n"),
    );
    let tools = Recorder::default();
    let error = run(
        &parse(&v3(&[unpack("bad-appliance", &deb)])).unwrap(),
        dir.path(),
        &tools,
        &mut Collected::default(),
    )
    .unwrap_err();
    let text = crate::error_chain(&error);
    assert!(text.contains("`bad-appliance`"), "{text}");
    assert!(
        text.contains("/var/lib/appliance/seeds/bad-appliance.seed"),
        "{text}"
    );
    assert!(text.contains("line 2: unknown type `strin`"), "{text}");
    assert!(tools.selections.borrow().is_empty(), "nothing applied");
    assert!(
        Registry::new(dir.path())
            .state("bad-appliance")
            .unwrap()
            .is_none()
    );
}

#[test]
fn a_missing_seed_or_broken_appliance_stops_apt() {
    let dir = tempfile::tempdir().unwrap();
    let deb = appliance(dir.path(), "empty-appliance", "1.0", None);
    let error = run(
        &parse(&v3(&[unpack("empty-appliance", &deb)])).unwrap(),
        dir.path(),
        &Recorder::default(),
        &mut Collected::default(),
    )
    .unwrap_err();
    assert!(
        matches!(error, HookError::Shipped(ReadError::Missing { .. })),
        "{error}"
    );

    // An appliance whose data member is damaged.
    let control = "Package: broken-appliance\nVersion: 1\nProvides: virtual-appliance\n";
    let broken = DebBuilder::new(control)
        .raw_data("data.tar.xz", b"garbage")
        .write(dir.path());
    let error = run(
        &parse(&v3(&[unpack("broken-appliance", &broken)])).unwrap(),
        dir.path(),
        &Recorder::default(),
        &mut Collected::default(),
    )
    .unwrap_err();
    assert!(
        matches!(error, HookError::Shipped(ReadError::Deb { .. })),
        "{error}"
    );
}

#[test]
fn an_unreadable_ordinary_deb_is_only_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let junk = corrupt(dir.path(), "junk", b"not a deb");
    let mut reporter = Collected::default();
    let outcomes = run(
        &parse(&v3(&[unpack("junk", &junk)])).unwrap(),
        dir.path(),
        &Recorder::default(),
        &mut reporter,
    )
    .unwrap();
    assert!(outcomes.is_empty());
    assert_eq!(reporter.warnings.len(), 1);
    assert!(
        reporter.warnings[0].contains("junk.deb"),
        "{:?}",
        reporter.warnings
    );
}

#[test]
fn the_site_seed_is_applied_after_the_appliances_and_only_with_one() {
    let dir = tempfile::tempdir().unwrap();
    let deb = appliance(dir.path(), "demo-appliance", "1.0", Some(SEED));
    let site = dir.path().join("site.seed");
    let answer = "postfix postfix/relayhost string [mail.site.example]:25\n";
    fs_err::write(&site, answer).unwrap();
    let option = format!("{SITE_SEED}={}", site.display());
    let with_site = |lines: &[String]| v3(lines).replacen("\n\n", &format!("\n{option}\n\n"), 1);

    let tools = Recorder::default();
    let mut reporter = Collected::default();
    let input = parse(&with_site(&[unpack("demo-appliance", &deb)])).unwrap();
    run(&input, dir.path(), &tools, &mut reporter).unwrap();
    assert_eq!(tools.selections.borrow().as_slice(), [SEED, answer]);
    assert!(
        reporter.infos[1].contains("1 answer"),
        "{:?}",
        reporter.infos
    );

    // A transaction without an appliance leaves debconf alone, site seed or not.
    let tools = Recorder::default();
    let other = plain(dir.path(), "postfix");
    let input = parse(&with_site(&[unpack("postfix", &other)])).unwrap();
    run(&input, dir.path(), &tools, &mut Collected::default()).unwrap();
    assert!(tools.selections.borrow().is_empty());

    // A malformed or missing site seed stops APT, naming the file.
    fs_err::write(&site, "postfix postfix/relayhost strin x\n").unwrap();
    let tools = Recorder::default();
    let input = parse(&with_site(&[unpack("demo-appliance", &deb)])).unwrap();
    let error = run(
        &input,
        tempfile::tempdir().unwrap().path(),
        &tools,
        &mut Collected::default(),
    )
    .unwrap_err();
    assert!(matches!(error, HookError::SiteSeed(_)), "{error}");
    fs_err::remove_file(&site).unwrap();
    let error = run(
        &input,
        tempfile::tempdir().unwrap().path(),
        &tools,
        &mut Collected::default(),
    )
    .unwrap_err();
    assert!(error.to_string().contains("site.seed"), "{error}");
}

#[test]
fn a_bad_site_seed_stops_apt_before_any_answer() {
    let dir = tempfile::tempdir().unwrap();
    let deb = appliance(dir.path(), "demo-appliance", "1.0", Some(SEED));
    let site = dir.path().join("site.seed");
    fs_err::write(&site, "x y\n").unwrap();
    let text = v3(&[unpack("demo-appliance", &deb)]).replacen(
        "\n\n",
        &format!("\n{SITE_SEED}={}\n\n", site.display()),
        1,
    );
    let tools = Recorder::default();
    let error = run(
        &parse(&text).unwrap(),
        dir.path(),
        &tools,
        &mut Collected::default(),
    )
    .unwrap_err();
    assert!(matches!(error, HookError::SiteSeed(_)), "{error}");
    assert!(tools.selections.borrow().is_empty());
}

const MARKED: &str = "moin moin/admin-password password @secret:wiki-admin\nmoin moin/admin-password-again password @secret:wiki-admin\n";

#[test]
fn generated_secrets_are_announced_not_printed_and_a_literal_password_warns() {
    let dir = tempfile::tempdir().unwrap();
    let seed = format!("{SEED}{MARKED}");
    let deb = appliance(dir.path(), "demo-appliance", "1.0", Some(&seed));
    let tools = Recorder::default();
    let mut reporter = Collected::default();
    let input = parse(&v3(&[unpack("demo-appliance", &deb)])).unwrap();
    run(&input, dir.path(), &tools, &mut reporter).unwrap();
    let value = crate::secrets::Secrets::new(dir.path())
        .read("demo-appliance")
        .unwrap()["wiki-admin"]
        .clone();
    assert!(tools.selections.borrow()[0].contains(&value));
    let said = format!("{:?}{:?}", reporter.infos, reporter.warnings);
    assert!(said.contains("1 secret generated"), "{said}");
    assert!(
        !said.contains(&value),
        "the hook printed the secret: {said}"
    );
    assert!(reporter.warnings.is_empty(), "{said}");

    // A hand-built appliance with a literal password still installs, with a warning.
    let literal = format!("{SEED}moin moin/admin-password password hunter2\n");
    let deb = appliance(dir.path(), "old-appliance", "1.0", Some(&literal));
    let mut reporter = Collected::default();
    let input = parse(&v3(&[unpack("old-appliance", &deb)])).unwrap();
    run(&input, dir.path(), &Recorder::default(), &mut reporter).unwrap();
    assert_eq!(reporter.warnings.len(), 1, "{:?}", reporter.warnings);
    assert!(
        reporter.warnings[0].contains("`old-appliance`")
            && reporter.warnings[0].contains("line 3: moin/admin-password")
            && reporter.warnings[0].contains("shares that password"),
        "{:?}",
        reporter.warnings
    );
}

#[test]
fn the_site_seed_sets_a_generated_secret_for_every_question_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let seed = format!("{SEED}{MARKED}");
    let deb = appliance(dir.path(), "demo-appliance", "1.0", Some(&seed));
    let site = dir.path().join("site.seed");
    fs_err::write(&site, "moin moin/admin-password password the-site's-own\n").unwrap();
    let text = v3(&[unpack("demo-appliance", &deb)]).replacen(
        "\n\n",
        &format!("\n{SITE_SEED}={}\n\n", site.display()),
        1,
    );
    let tools = Recorder::default();
    run(
        &parse(&text).unwrap(),
        dir.path(),
        &tools,
        &mut Collected::default(),
    )
    .unwrap();
    assert_eq!(
        tools.selections.borrow()[1],
        "moin moin/admin-password password the-site's-own\nmoin moin/admin-password-again password the-site's-own\n"
    );
    let recorded = crate::secrets::Secrets::new(dir.path())
        .read("demo-appliance")
        .unwrap();
    assert_eq!(recorded["wiki-admin"], "the-site's-own");

    // A site seed asks for no generated secret: it gives values.
    fs_err::write(&site, "moin moin/admin-password password @secret:x\n").unwrap();
    let error = run(
        &parse(&text).unwrap(),
        tempfile::tempdir().unwrap().path(),
        &Recorder::default(),
        &mut Collected::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            error,
            HookError::SiteSeed(InvalidSeed {
                error: crate::seed::SeedError::MarkerInSiteSeed { line: 1 },
                ..
            })
        ),
        "{error}"
    );
}
