//! The signed repository (`make repo`): roots install our packages from it as a user's server
//! does, with the `.sources` file it ships, and APT refuses it when the signature or an index
//! does not hold.

use crate::harness::{Root, needs, output_text};

const SOURCES: &str = "/etc/apt/sources.list.d/appliance-tools.sources";

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn apt_verifies_the_signed_repository_and_refuses_a_changed_one() {
    needs(
        "apt_verifies_the_signed_repository_and_refuses_a_changed_one",
        &[],
    );
    let root = Root::fresh("repository");
    // The file a user drops in: deb822, its key inline, nothing trusted without a signature.
    let sources = root.ok(&format!("cat {SOURCES}"));
    assert!(
        sources.contains("Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----"),
        "{sources}"
    );
    let all = root.ok("cat /etc/apt/sources.list.d/* 2>/dev/null");
    assert!(!all.contains("trusted"), "{all}");
    let release = root.ok(". /etc/os-release; cat /srv/apt/dists/$VERSION_CODENAME/Release");
    assert!(release.contains("Acquire-By-Hash: yes"), "{release}");
    assert!(
        !release.contains("SHA1:") && !release.contains("MD5Sum:"),
        "{release}"
    );
    // Verified: fetched and listed from the signed repository (Root::fresh ran apt-get update).
    let update = root.ok("apt-get update 2>&1");
    assert!(update.contains("copy:/srv/apt"), "{update}");
    assert!(!update.contains("W:") && !update.contains("E:"), "{update}");
    let policy = root.ok("apt-cache policy moinmoin-appliance");
    assert!(policy.contains("copy:/srv/apt"), "{policy}");
    root.ok(&format!("cp {SOURCES} /root/good.sources"));

    // Signed by another key: refused, and the index is not used.
    let other = root.run(&format!(
        "sed -i '/^Signed-By:/,$d' {SOURCES} \
         && echo 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' >> {SOURCES} \
         && rm -f /var/lib/apt/lists/*srv_apt* && apt-get update 2>&1"
    ));
    let said = output_text(&other);
    assert!(said.contains("NO_PUBKEY"), "{said}");
    let policy = root.ok("apt-cache policy moinmoin-appliance");
    assert!(!policy.contains("copy:/srv/apt"), "{policy}");

    // The right key, but an index changed after it was signed: refused, nothing taken from it.
    let changed = root.run(&format!(
        r#". /etc/os-release
        cp -a /srv/apt /srv/changed
        dists=/srv/changed/dists/$VERSION_CODENAME
        binary=$(dirname "$(ls "$dists"/main/binary-*/Packages)")
        sed -i 's/^Package: moinmoin-appliance$/Package: moinmoin-appliance-changed/' "$binary/Packages"
        rm "$binary/Packages.gz" "$binary/Packages.xz"
        gzip -kn "$binary/Packages" && xz -k "$binary/Packages"
        grep -A3 '^SHA256:' "$dists/Release" | tail -n 3 | while read -r sum size name; do
            cp "$dists/$name" "$binary/by-hash/SHA256/$sum"
        done
        sed 's|^URIs: .*|URIs: copy:/srv/changed|' /root/good.sources > {SOURCES}
        rm -f /var/lib/apt/lists/*srv_* && apt-get update 2>&1"#
    ));
    let said = output_text(&changed);
    assert!(
        said.contains("Hash Sum mismatch") || said.contains("File has unexpected size"),
        "{said}"
    );
    let policy = root.ok("apt-cache policy moinmoin-appliance-changed");
    assert!(
        !policy.contains("Candidate"),
        "a changed index is not used: {policy}"
    );
}
