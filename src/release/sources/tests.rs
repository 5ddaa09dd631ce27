use super::*;

/// `apt-cache policy` of a Debian 12 appliance system: Debian's archive and its security archive,
/// the appliances' repository, a third party's repository with the same codename, and one APT has
/// no Release file of.
const POLICY: &str = "\
Package files:
 100 /var/lib/dpkg/status
     release a=now
 500 file:/srv/appliance-repo bookworm/main amd64 Packages
     release o=virtual-appliance-tools,a=bookworm,n=bookworm,l=virtual-appliance-tools,c=main,b=amd64
 500 https://packages.example.org/debian bookworm/main amd64 Packages
     release o=Example,a=bookworm,n=bookworm,l=Example,c=main,b=amd64
     origin packages.example.org
 500 http://security.debian.org/debian-security bookworm-security/main amd64 Packages
     release v=12,o=Debian,a=oldstable-security,n=bookworm-security,l=Debian-Security,c=main,b=amd64
     origin security.debian.org
 500 http://deb.debian.org/debian bookworm-updates/main amd64 Packages
     release v=12-updates,o=Debian,a=oldstable-updates,n=bookworm-updates,l=Debian,c=main,b=amd64
     origin deb.debian.org
 500 http://deb.debian.org/debian bookworm/non-free-firmware amd64 Packages
     release v=12.12,o=Debian,a=oldstable,n=bookworm,l=Debian,c=non-free-firmware,b=amd64
     origin deb.debian.org
 500 http://deb.debian.org/debian bookworm/main amd64 Packages
     release v=12.12,o=Debian,a=oldstable,n=bookworm,l=Debian,c=main,b=amd64
     origin deb.debian.org
Pinned packages:
";

fn origins() -> Origins {
    Origins::from_policy(POLICY)
}

#[test]
fn origins_come_from_each_archives_release_line() {
    let origins = origins();
    for (uri, suite, origin) in [
        ("http://deb.debian.org/debian", "bookworm", Some("Debian")),
        ("http://deb.debian.org/debian/", "bookworm", Some("Debian")),
        (
            "http://deb.debian.org/debian",
            "bookworm-updates",
            Some("Debian"),
        ),
        (
            "http://security.debian.org/debian-security",
            "bookworm-security",
            Some("Debian"),
        ),
        (
            "file:/srv/appliance-repo",
            "bookworm",
            Some("virtual-appliance-tools"),
        ),
        (
            "https://packages.example.org/debian",
            "bookworm",
            Some("Example"),
        ),
        ("https://unknown.example.net/debian", "bookworm", None),
        ("http://deb.debian.org/debian", "bookworm-backports", None),
    ] {
        assert_eq!(origins.of(uri, suite), origin, "{uri} {suite}");
    }
}

#[test]
fn the_next_suite_of_each_kind() {
    for (suite, next) in [
        ("bookworm", Some("trixie")),
        ("bookworm-updates", Some("trixie-updates")),
        ("bookworm-security", Some("trixie-security")),
        ("bookworm-backports", Some("trixie-backports")),
        ("bookworm-proposed-updates", Some("trixie-proposed-updates")),
        ("bookworm/updates", Some("trixie-security")),
        ("bookworm-", None),
        ("bookwormish", None),
        ("stable", None),
        ("trixie", None),
        ("./", None),
    ] {
        assert_eq!(
            next_suite(suite, "bookworm", "trixie").as_deref(),
            next,
            "{suite}"
        );
    }
    assert_eq!(next_codename("bookworm"), Some("trixie"));
    assert_eq!(next_codename("trixie"), None);
}

#[test]
fn one_line_entries_of_debian_and_ours_move_the_rest_stays_byte_for_byte() {
    let text = "\
# Debian's, as the installer writes them
deb http://deb.debian.org/debian bookworm main non-free-firmware
deb-src http://deb.debian.org/debian bookworm main non-free-firmware
deb http://security.debian.org/debian-security bookworm-security main non-free-firmware
  deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]   http://deb.debian.org/debian/   bookworm-updates main # comment bookworm
# deb http://deb.debian.org/debian bookworm-backports main
deb [signed-by=/etc/apt/keyrings/example.asc] https://packages.example.org/debian bookworm main
deb https://unknown.example.net/debian bookworm main
deb file:/srv/appliance-repo bookworm main
deb http://deb.debian.org/debian trixie main
deb [broken http://deb.debian.org/debian bookworm main
no newline at the end bookworm";
    let moved = move_one_line(
        "/etc/apt/sources.list",
        text,
        &origins(),
        "bookworm",
        "trixie",
    );
    assert_eq!(
        moved.text,
        "\
# Debian's, as the installer writes them
deb http://deb.debian.org/debian trixie main non-free-firmware
deb-src http://deb.debian.org/debian trixie main non-free-firmware
deb http://security.debian.org/debian-security trixie-security main non-free-firmware
  deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]   http://deb.debian.org/debian/   trixie-updates main # comment bookworm
# deb http://deb.debian.org/debian bookworm-backports main
deb [signed-by=/etc/apt/keyrings/example.asc] https://packages.example.org/debian bookworm main
deb https://unknown.example.net/debian bookworm main
deb file:/srv/appliance-repo trixie main
deb http://deb.debian.org/debian trixie main
deb [broken http://deb.debian.org/debian bookworm main
no newline at the end bookworm"
    );
    let places: Vec<&str> = moved.moved.iter().map(|e| e.place.as_str()).collect();
    assert_eq!(
        places,
        [
            "/etc/apt/sources.list:2",
            "/etc/apt/sources.list:3",
            "/etc/apt/sources.list:4",
            "/etc/apt/sources.list:5",
            "/etc/apt/sources.list:9"
        ]
    );
    // The third party's entries are listed, with what APT knows of their origin.
    assert_eq!(
        moved.left,
        [
            Entry {
                place: "/etc/apt/sources.list:7".into(),
                uri: "https://packages.example.org/debian".into(),
                suite: "bookworm".into(),
                origin: Some("Example".into()),
            },
            Entry {
                place: "/etc/apt/sources.list:8".into(),
                uri: "https://unknown.example.net/debian".into(),
                suite: "bookworm".into(),
                origin: None,
            },
        ]
    );
}

#[test]
fn deb822_stanzas_move_their_suites_and_keep_everything_else() {
    let text = "\
# Debian's, as the installer of Debian 13 writes them
Types: deb deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main non-free-firmware
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.debian.org/debian-security
suites:   bookworm-security
# a comment inside the stanza: bookworm
Components: main

Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Enabled: no
Components: main

Types: deb
URIs: https://packages.example.org/debian
Suites: bookworm
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 bookworm
 -----END PGP PUBLIC KEY BLOCK-----

Types: deb
URIs: file:/srv/appliance-repo
Suites:
 bookworm
Components: main
";
    let moved = move_deb822(
        "/etc/apt/sources.list.d/debian.sources",
        text,
        &origins(),
        "bookworm",
        "trixie",
    );
    assert_eq!(
        moved.text,
        "\
# Debian's, as the installer of Debian 13 writes them
Types: deb deb-src
URIs: http://deb.debian.org/debian
Suites: trixie trixie-updates
Components: main non-free-firmware
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.debian.org/debian-security
suites:   trixie-security
# a comment inside the stanza: bookworm
Components: main

Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Enabled: no
Components: main

Types: deb
URIs: https://packages.example.org/debian
Suites: bookworm
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 bookworm
 -----END PGP PUBLIC KEY BLOCK-----

Types: deb
URIs: file:/srv/appliance-repo
Suites:
 trixie
Components: main
"
    );
    assert_eq!(moved.moved.len(), 4, "{:?}", moved.moved);
    assert_eq!(moved.left.len(), 1, "{:?}", moved.left);
    assert_eq!(
        moved.left[0].place,
        "/etc/apt/sources.list.d/debian.sources:22"
    );
}

#[test]
fn a_stanza_mixing_debian_and_a_third_party_stays_whole() {
    let text = "Types: deb\nURIs: http://deb.debian.org/debian https://packages.example.org/debian\nSuites: bookworm\nComponents: main\n";
    let moved = move_deb822("x.sources", text, &origins(), "bookworm", "trixie");
    assert_eq!(moved.text, text);
    assert_eq!(moved.left.len(), 1);
    assert!(moved.moved.is_empty());
}
