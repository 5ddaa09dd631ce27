use super::*;

use std::os::unix::fs::PermissionsExt as _;

fn ready() -> Before {
    Before {
        release: Some("bookworm".into()),
        free: 8 << 30,
        kept: 1 << 30,
        ..Before::default()
    }
}

#[test]
fn a_healthy_up_to_date_bookworm_system_with_room_can_move() {
    assert!(problems(&ready()).is_empty(), "{:?}", problems(&ready()));
}

#[test]
fn each_reason_not_to_move_is_said_with_its_way_out() {
    for (before, said) in [
        (
            Before {
                release: None,
                ..ready()
            },
            "release is unknown",
        ),
        (
            Before {
                release: Some("trixie".into()),
                ..ready()
            },
            "runs trixie, which va-upgrade-release does not upgrade from",
        ),
        (
            Before {
                audit: "The following packages are only half configured".into(),
                ..ready()
            },
            "dpkg --configure -a",
        ),
        (
            Before {
                pending: vec!["nginx".into(), "moin".into()],
                ..ready()
            },
            "2 updates of this release are not installed yet (nginx, moin)",
        ),
        (
            Before {
                unhealthy: vec!["moinmoin-appliance: 1 check of 2 failed".into()],
                ..ready()
            },
            "does not work now",
        ),
        (
            Before {
                free: 2 << 30,
                kept: 3 << 30,
                ..ready()
            },
            "2.0 GiB free, and the upgrade needs 4.0 GiB",
        ),
    ] {
        let problems = problems(&before);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains(said), "{problems:?}");
    }
}

#[test]
fn the_installs_of_a_simulation_are_its_inst_lines() {
    let simulation = "\
Reading package lists...
Building dependency tree...
The following packages will be upgraded:
  moin nginx
Inst moin [2.0] (2.1 Debian:12.12/oldstable [all])
Inst nginx [1.22.1-9] (1.22.1-9+deb12u1 Debian-Security:12/oldstable-security [amd64])
Inst libnew1 (1.0 Debian:12.12/oldstable [amd64])
Conf moin (2.1 Debian:12.12/oldstable [all])
";
    assert_eq!(simulated_installs(simulation), ["moin", "nginx", "libnew1"]);
    assert!(simulated_installs("0 upgraded, 0 newly installed").is_empty());
}

#[test]
fn the_sources_files_are_read_and_written_as_apt_reads_them() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join(SOURCES_DIR)).unwrap();
    std::fs::write(
        r.join(SOURCES_LIST),
        "deb http://deb.debian.org/debian bookworm main\n",
    )
    .unwrap();
    std::fs::write(
        r.join(SOURCES_DIR).join("debian.sources"),
        "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n",
    )
    .unwrap();
    std::fs::write(
        r.join(SOURCES_DIR).join("example.list"),
        "deb https://packages.example.org/debian bookworm main\n",
    )
    .unwrap();
    // Files APT does not read.
    std::fs::write(
        r.join(SOURCES_DIR).join("old.list.save"),
        "deb x bookworm main\n",
    )
    .unwrap();
    std::fs::write(
        r.join(SOURCES_DIR).join("bad name.list"),
        "deb x bookworm main\n",
    )
    .unwrap();
    let names: Vec<String> = sources_files(r)
        .unwrap()
        .iter()
        .map(|p| p.strip_prefix(r).unwrap().display().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "etc/apt/sources.list",
            "etc/apt/sources.list.d/debian.sources",
            "etc/apt/sources.list.d/example.list"
        ]
    );
    let policy = "\
 500 http://deb.debian.org/debian bookworm/main amd64 Packages
     release v=12.12,o=Debian,a=oldstable,n=bookworm,l=Debian,c=main,b=amd64
 500 http://deb.debian.org/debian bookworm-updates/main amd64 Packages
     release v=12-updates,o=Debian,a=oldstable-updates,n=bookworm-updates,l=Debian,c=main,b=amd64
 500 https://packages.example.org/debian bookworm/main amd64 Packages
     release o=Example,a=bookworm,n=bookworm,l=Example,c=main,b=amd64
";
    let origins = sources::Origins::from_policy(policy);
    let moved = move_sources(r, &origins, "bookworm", "trixie").unwrap();
    assert_eq!(moved.len(), 3);
    assert_eq!(moved[2].1.left.len(), 1);
    assert_eq!(
        moved[2].1.left[0].place,
        "/etc/apt/sources.list.d/example.list:1"
    );
    std::fs::set_permissions(r.join(SOURCES_LIST), std::fs::Permissions::from_mode(0o640)).unwrap();
    assert_eq!(write_sources(&moved).unwrap(), 2);
    assert_eq!(
        std::fs::read_to_string(r.join(SOURCES_LIST)).unwrap(),
        "deb http://deb.debian.org/debian trixie main\n"
    );
    assert!(
        std::fs::read_to_string(r.join(SOURCES_DIR).join("debian.sources"))
            .unwrap()
            .contains("Suites: trixie trixie-updates\n")
    );
    assert_eq!(
        std::fs::read_to_string(r.join(SOURCES_DIR).join("example.list")).unwrap(),
        "deb https://packages.example.org/debian bookworm main\n"
    );
    assert_eq!(
        std::fs::metadata(r.join(SOURCES_LIST))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o640
    );
}

#[test]
fn a_rollback_puts_back_the_files_and_the_data_the_upgrades_transaction_backed_up() {
    use crate::backup::safety;
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let plugins = r.join(crate::plugin::PLUGIN_DIR);
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::write(
        plugins.join("wiki.yaml"),
        "appliance: wiki-appliance\npackages: [wiki]\nbackup:\n  appdata: [/var/lib/wiki]\n",
    )
    .unwrap();
    std::fs::create_dir_all(r.join("var/lib/wiki")).unwrap();
    std::fs::write(r.join("var/lib/wiki/page.txt"), "a page").unwrap();
    std::fs::create_dir_all(r.join("usr/bin")).unwrap();
    std::fs::write(r.join("usr/bin/wiki"), "wiki for bookworm").unwrap();
    std::fs::create_dir_all(r.join("var/lib/appliance")).unwrap();
    let error = roll_back(r, &mut || ()).unwrap_err();
    assert!(matches!(error, RollBackError::Snapshot(_)), "{error}");

    snapshot::take(r, "bookworm", &[("usr", snapshot::Keep::Link)]).unwrap();
    // The upgrade's transaction: the hook's safety backup, then dpkg and the new release's
    // scripts, which change the data.
    let hook = crate::seed::hook::parse(
        "VERSION 3\nAPT::Architecture=amd64\n\n\
         wiki 1 all none > 2 all none /var/cache/apt/archives/wiki_2_all.deb\n",
    )
    .unwrap();
    let made = safety::before_transaction(&hook, r, &mut crate::Collected::default()).unwrap();
    assert_eq!(made.len(), 1);
    std::fs::write(r.join("usr/bin/wiki.dpkg-new"), "wiki for trixie").unwrap();
    crate::atomic::write(&r.join("usr/bin/wiki"), b"wiki for trixie", 0o755).unwrap();
    std::fs::write(r.join("var/lib/wiki/page.txt"), "migrated").unwrap();

    let mut between = 0;
    let done = roll_back(r, &mut || between += 1).unwrap();
    assert_eq!(between, 1);
    assert_eq!(done.from, "bookworm");
    assert_eq!(done.data.as_deref(), Some(made[0].path.as_path()));
    assert_eq!(
        std::fs::read_to_string(r.join("usr/bin/wiki")).unwrap(),
        "wiki for bookworm"
    );
    assert!(!r.join("usr/bin/wiki.dpkg-new").exists());
    assert_eq!(
        std::fs::read_to_string(r.join("var/lib/wiki/page.txt")).unwrap(),
        "a page"
    );
    let (_, record) = safety::list(r).unwrap().pop().unwrap();
    assert!(record.rolled_back.is_some());
    // Again: the files are as they were, and the data is not restored twice.
    let again = roll_back(r, &mut || ()).unwrap();
    assert_eq!(again.files, snapshot::PutBack::default());
    assert_eq!(again.data, None);
}

#[test]
fn the_files_changed_in_place_are_the_verify_lines_of_a_digest_but_configuration() {
    let verify = "\
??5??????   /usr/lib/locale/locale-archive
??5?????? c /etc/moin/nginx-site.conf
missing     /usr/share/doc/x/README
????????? c /etc/default/foo
??5??????   /usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache
";
    assert_eq!(
        changed_in_place(verify),
        [
            "/usr/lib/locale/locale-archive",
            "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache"
        ]
    );
    assert!(changed_in_place("").is_empty());
}
