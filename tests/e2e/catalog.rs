//! The catalog issue: valist and vainstall against APT's real cache of a Debian root.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::harness::{Root, TREE, needs, output_text, version};
use crate::seeds::{NONINTERACTIVE, assert_seeded, state_field};

/// `valist --json` run from outside, on the root's APT cache.
fn valist_outside(root: &Root, args: &[&str]) -> Value {
    let output = Command::new(Path::new(TREE).join("target/release/valist"))
        .arg("--root")
        .arg(&root.path)
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", output_text(&output));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", output_text(&output)))
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn valist_and_vainstall_without_the_hook() {
    needs("valist_and_vainstall_without_the_hook", &[]);
    let root = Root::fresh("vainstall");
    // Before: exactly our appliances, available, seeded, not installed.
    let listed = valist_outside(&root, &["--json"]);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["dokuwiki-appliance", "moinmoin-appliance"],
        "{listed}"
    );
    assert_eq!(listed[0]["version"], version("dokuwiki-appliance").as_str());
    for appliance in listed.as_array().unwrap() {
        assert_eq!(appliance["installed"], Value::Null);
        assert_eq!(appliance["seed"], true);
    }
    assert_eq!(
        valist_outside(&root, &["--json", "--installed"]),
        Value::Array(vec![])
    );

    // appliance-tools without its hook: vainstall seeds, then apt-get installs.
    root.ok(&format!("{NONINTERACTIVE} apt-get install -y -q appliance-tools && rm /etc/apt/apt.conf.d/05appliance"));
    let before = root.dpkg_state();

    // Not an appliance, and a typo: a clear error naming the appliances, nothing installed.
    let refused = root.run(&format!("{NONINTERACTIVE} vainstall -y postfix"));
    assert_eq!(refused.status.code(), Some(1), "{}", output_text(&refused));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("`postfix` is a package, but not an appliance"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: the appliances APT knows: dokuwiki-appliance"),
        "{stderr}"
    );
    let typo = root.run(&format!("{NONINTERACTIVE} vainstall -y dokuwiki-applance"));
    assert_eq!(typo.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&typo.stderr);
    assert!(
        stderr.contains("did you mean `dokuwiki-appliance`?"),
        "{stderr}"
    );
    let unknown = root.run(&format!(
        "{NONINTERACTIVE} vainstall -y no-such-thing-at-all"
    ));
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("not a package APT knows"));
    assert_eq!(
        root.dpkg_state(),
        before,
        "a refused vainstall changed the system"
    );

    // --json: the result alone on stdout, apt-get's own output on stderr.
    let installed = root.run(&format!(
        "{NONINTERACTIVE} vainstall --json -y dokuwiki-appliance"
    ));
    assert!(installed.status.success(), "{}", output_text(&installed));
    let result: Value = serde_json::from_slice(&installed.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", output_text(&installed)));
    assert_eq!(result["appliance"], "dokuwiki-appliance", "{result}");
    assert_eq!(result["installed"], true, "{result}");
    assert_eq!(result["seed"]["applied"], 29, "{result}");
    assert_eq!(result["seed"]["first_install"], true, "{result}");
    assert!(
        String::from_utf8_lossy(&installed.stderr).contains("Setting up dokuwiki-appliance"),
        "{}",
        output_text(&installed)
    );
    assert_seeded(&root);
    assert_eq!(state_field(&root, "Applied-By"), "vainstall");

    // After: installed, as the packaged valist inside the root and the one outside both say.
    let inside = root.ok("valist");
    assert!(
        inside
            .lines()
            .any(|l| l.starts_with("dokuwiki-appliance") && l.contains("[installed]")),
        "{inside}"
    );
    let installed = valist_outside(&root, &["--json", "--installed"]);
    assert_eq!(installed[0]["name"], "dokuwiki-appliance");
    assert_eq!(
        installed[0]["installed"],
        version("dokuwiki-appliance").as_str()
    );
}

/// `va-seed check` of every appliance whose seed we ship (`seeds/`), in `root` with appliance-tools
/// installed: each answers every high and critical question of the root's release.
pub(crate) fn check_every_shipped_seed(root: &Root) {
    for entry in std::fs::read_dir(Path::new(TREE).join("seeds")).unwrap() {
        let path = entry.unwrap().path();
        let appliance = path.file_stem().unwrap().to_string_lossy().into_owned();
        let output = root.run(&format!("va-seed check {appliance}"));
        assert!(
            output.status.success(),
            "the shipped seed of {appliance} fails:\n{}",
            output_text(&output)
        );
    }
}

#[test]
#[cfg_attr(not(appliance_e2e), ignore = "end-to-end: make test runs it")]
fn the_seed_check_passes_our_seeds_and_finds_each_problem() {
    needs(
        "the_seed_check_passes_our_seeds_and_finds_each_problem",
        &[],
    );
    let root = Root::fresh("seed-check");
    root.ok(&format!(
        "{NONINTERACTIVE} apt-get install -y -q appliance-tools"
    ));
    check_every_shipped_seed(&root);
    let shipped =
        std::fs::read_to_string(Path::new(TREE).join("seeds/dokuwiki-appliance.seed")).unwrap();
    let cases: [(&str, String, &str); 3] = [
        (
            "missing",
            shipped
                .lines()
                .filter(|l| !l.contains("postfix/relayhost"))
                .collect::<Vec<_>>()
                .join("\n"),
            "postfix: `postfix/relayhost` (priority high) is not answered",
        ),
        (
            "misspelt",
            shipped.replace("dokuwiki/wiki/title", "dokuwiki/wiki/titel"),
            "no package APT would install owns `dokuwiki/wiki/titel` (seeded for `dokuwiki`)",
        ),
        (
            "invalid",
            shipped.replace(
                "dokuwiki/wiki/policy select public",
                "dokuwiki/wiki/policy select everyone",
            ),
            "dokuwiki: `everyone` is not a choice of `dokuwiki/wiki/policy`",
        ),
    ];
    for (name, seed, expected) in cases {
        std::fs::write(root.path.join(format!("var/tmp/{name}.seed")), seed).unwrap();
        let output = root.run(&format!(
            "va-seed check --seed /var/tmp/{name}.seed dokuwiki-appliance"
        ));
        assert_eq!(
            output.status.code(),
            Some(1),
            "{name}:\n{}",
            output_text(&output)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains(expected),
            "{name}: expected `{expected}` in:\n{stdout}"
        );
        assert_eq!(
            stdout.lines().count(),
            1,
            "{name}: one problem only:\n{stdout}"
        );
    }
}
