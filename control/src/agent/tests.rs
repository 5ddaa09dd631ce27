use std::cell::RefCell;
use std::os::unix::fs::PermissionsExt;

use appliance::backup::Quiet;
use appliance::backup::store::BACKUP_DIR;

use super::*;

/// Records the programs the agent would run; `systemctl is-active` says nothing runs.
#[derive(Default)]
struct Recorder {
    runs: RefCell<Vec<String>>,
    /// What each run got on its standard input (empty: nothing).
    inputs: RefCell<Vec<String>>,
}

impl System for Recorder {
    fn run(&self, program: &str, arguments: &[&str]) -> Result<String, String> {
        let line = format!("{program} {}", arguments.join(" "));
        self.runs.borrow_mut().push(line);
        self.inputs.borrow_mut().push(String::new());
        if program == "systemctl" && arguments.first() == Some(&"is-active") {
            return Err("inactive".into());
        }
        Ok(String::new())
    }

    fn run_with_input(
        &self,
        program: &str,
        arguments: &[&str],
        input: &str,
    ) -> Result<String, String> {
        self.run(program, arguments)?;
        if let Some(last) = self.inputs.borrow_mut().last_mut() {
            input.clone_into(last);
        }
        Ok(format!("ran {}", arguments.join(" ")))
    }
}

fn root_with_plugin() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let plugins = root.path().join(appliance::plugin::PLUGIN_DIR);
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::write(
        plugins.join("wiki.yaml"),
        "appliance: wiki-appliance\nservices: [apache2]\n",
    )
    .unwrap();
    root
}

/// The agent of the system at `root` for the web user 998, running nothing but recording.
fn web_agent<'a>(root: &std::path::Path, recorder: &'a Recorder) -> Agent<'a> {
    Agent {
        root: root.to_owned(),
        web_uid: Some(998),
        system: recorder,
    }
}

fn ask(agent: &Agent<'_>, uid: Option<u32>, line: &str) -> (Response, Vec<u8>) {
    let mut output = Vec::new();
    agent
        .serve(
            uid,
            &mut std::io::Cursor::new(line.as_bytes().to_vec()),
            &mut output,
        )
        .unwrap();
    let end = output.iter().position(|b| *b == b'\n').unwrap();
    let response = serde_json::from_slice(&output[..end]).unwrap();
    (response, output[end + 1..].to_vec())
}

#[test]
fn strangers_are_refused_and_the_web_user_and_root_are_served() {
    let root = root_with_plugin();
    let recorder = Recorder::default();
    let agent = Agent {
        root: root.path().to_owned(),
        web_uid: Some(998),
        system: &recorder,
    };
    let restart = r#"{"op":"restart","service":"apache2"}"#;
    for uid in [Some(1000), Some(65534), None] {
        let (response, _) = ask(&agent, uid, restart);
        assert!(!response.ok, "{uid:?}");
    }
    assert!(
        recorder.runs.borrow().is_empty(),
        "nothing ran for strangers"
    );
    for uid in [998, 0] {
        let (response, _) = ask(&agent, Some(uid), restart);
        assert!(response.ok, "{response:?}");
    }
    assert_eq!(
        recorder.runs.borrow().as_slice(),
        [
            "systemctl restart -- apache2",
            "systemctl restart -- apache2"
        ]
    );
}

#[test]
fn hostile_requests_change_nothing() {
    let root = root_with_plugin();
    let store = root.path().join(BACKUP_DIR);
    std::fs::create_dir_all(&store).unwrap();
    std::fs::write(root.path().join("secret"), "root only").unwrap();
    let recorder = Recorder::default();
    let agent = Agent {
        root: root.path().to_owned(),
        web_uid: Some(998),
        system: &recorder,
    };
    let oversized = format!(
        "{{\"op\":\"restart\",\"service\":\"{}\"}}",
        "a".repeat(MAX_LINE)
    );
    for (line, reason) in [
        (r#"{"op":"restart","service":"sshd"}"#, "no plugin declares"),
        (r#"{"op":"restart","service":"../../x"}"#, "not a service"),
        (r#"{"op":"exec","argv":["/bin/sh"]}"#, "unknown variant"),
        (
            r#"{"op":"backup-open","name":"../../secret"}"#,
            "not the name",
        ),
        (r#"{"op":"backup-open","name":"missing.abf"}"#, "no backup"),
        (
            r#"{"op":"backup-delete","name":"missing.abf"}"#,
            "no backup",
        ),
        (
            r#"{"op":"backup-import","name":"missing.abf"}"#,
            "no uploaded backup",
        ),
        (
            r#"{"op":"augeas-set","path":"/files/etc/shadow/root/password","value":"x"}"#,
            "may set",
        ),
        (
            r#"{"op":"action","plugin":"wiki","action":"rm-rf"}"#,
            "declares no action",
        ),
        (oversized.as_str(), "longer than"),
        ("\u{0}\u{1}garbage", "not a request"),
    ] {
        let (response, rest) = ask(&agent, Some(998), line);
        assert!(!response.ok, "{line:.60}");
        let error = response.error.unwrap();
        assert!(error.contains(reason), "{line:.60}: {error}");
        assert!(rest.is_empty());
    }
    assert!(
        recorder.runs.borrow().is_empty(),
        "{:?}",
        recorder.runs.borrow()
    );
    assert_eq!(
        std::fs::read_to_string(root.path().join("secret")).unwrap(),
        "root only"
    );
}

#[test]
fn a_backup_is_listed_downloaded_imported_and_deleted() {
    let root = root_with_plugin();
    let system = root.path();
    std::fs::create_dir_all(system.join("srv/wiki")).unwrap();
    std::fs::write(system.join("srv/wiki/page"), "hello").unwrap();
    let upload = system.join(UPLOAD_DIR);
    std::fs::create_dir_all(&upload).unwrap();
    let info = appliance::backup::info::Info {
        appliance: "wiki-appliance".into(),
        appdata_dirs: vec!["/srv/wiki".into()],
        sysconf_dirs: Vec::new(),
        timestamp: "2026-11-26T04:00:00Z".into(),
        version: "1.0".into(),
        package_version: None,
        plugin: None,
    };
    appliance::backup::write::create(system, &info, &upload.join("mine.abf"), &Quiet).unwrap();
    std::fs::write(upload.join("broken.abf"), "not a zip").unwrap();
    let recorder = Recorder::default();
    // The uploads belong to the web user: this process plays it.
    let web = nix::unistd::geteuid().as_raw();
    let agent = Agent {
        root: system.to_owned(),
        web_uid: Some(web),
        system: &recorder,
    };
    let (response, _) = ask(
        &agent,
        Some(web),
        r#"{"op":"backup-import","name":"broken.abf"}"#,
    );
    assert!(!response.ok);
    assert!(
        !upload.join("broken.abf").exists(),
        "a refused upload is removed"
    );
    let (response, _) = ask(
        &agent,
        Some(web),
        r#"{"op":"backup-import","name":"mine.abf"}"#,
    );
    assert!(response.ok, "{response:?}");
    assert_eq!(response.data["origin"], "made on this system");
    let stored = system.join(BACKUP_DIR).join("mine.abf");
    assert_eq!(
        std::fs::metadata(&stored).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let (response, _) = ask(&agent, Some(web), r#"{"op":"backup-list"}"#);
    assert_eq!(response.data["backups"][0]["name"], "mine.abf");
    assert_eq!(response.data["backups"][0]["appliance"], "wiki-appliance");
    let (response, bytes) = ask(
        &agent,
        Some(web),
        r#"{"op":"backup-open","name":"mine.abf"}"#,
    );
    assert_eq!(response.data["size"].as_u64().unwrap(), bytes.len() as u64);
    assert_eq!(bytes, std::fs::read(&stored).unwrap());
    let (response, _) = ask(
        &agent,
        Some(web),
        r#"{"op":"backup-delete","name":"mine.abf"}"#,
    );
    assert!(response.ok);
    assert!(!stored.exists());
}

/// A plugin `wiki` with two settings and an action, and the file the settings are in.
fn wiki_plugin(system: &std::path::Path) {
    let plugins = system.join(appliance::plugin::PLUGIN_DIR);
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::write(
        plugins.join("wiki.yaml"),
        "appliance: wiki-appliance
settings:
  - {name: site-name, label: Wiki name, lens: Shellvars.lns, file: /etc/default/wiki, path: SITENAME, after: [[/usr/bin/systemctl, restart, wiki]]}
  - {name: port, label: Port, kind: number, lens: Shellvars.lns, file: /etc/default/wiki, path: PORT}
actions:
  - {name: rebuild-index, label: Rebuild the index, run: [/usr/bin/wiki, index-build]}
  - name: create-user
    label: Create a user
    parameters:
      - {name: name, label: User name}
      - {name: email, label: E-mail, kind: email}
      - {name: password, label: Password, kind: password}
    run: [/usr/bin/wiki, account-create]
",
    )
    .unwrap();
    std::fs::create_dir_all(system.join("etc/default")).unwrap();
    std::fs::write(system.join("etc/default/wiki"), "SITENAME=old\nPORT=80\n").unwrap();
}

#[test]
fn plugin_actions_and_settings_come_only_from_manifests_root_owns() {
    let root = tempfile::tempdir().unwrap();
    let system = root.path();
    let plugins = system.join(appliance::plugin::PLUGIN_DIR);
    wiki_plugin(system);
    let recorder = Recorder::default();
    let agent = Agent {
        root: system.to_owned(),
        web_uid: Some(998),
        system: &recorder,
    };
    let (response, _) = ask(
        &agent,
        Some(998),
        r#"{"op":"action","plugin":"wiki","action":"rebuild-index"}"#,
    );
    assert!(response.ok, "{response:?}");
    let (response, _) = ask(
        &agent,
        Some(998),
        r#"{"op":"plugin-settings","plugin":"wiki"}"#,
    );
    assert_eq!(response.data["site-name"], "old");
    let (response, _) = ask(
        &agent,
        Some(998),
        r#"{"op":"setting-set","plugin":"wiki","setting":"site-name","value":"new"}"#,
    );
    assert!(response.ok, "{response:?}");
    assert_eq!(
        std::fs::read_to_string(system.join("etc/default/wiki")).unwrap(),
        "SITENAME=new\nPORT=80\n"
    );
    for (line, reason) in [
        (
            r#"{"op":"setting-set","plugin":"wiki","setting":"port","value":"80; reboot"}"#,
            "whole number",
        ),
        (
            r#"{"op":"setting-set","plugin":"wiki","setting":"shell","value":"/bin/sh"}"#,
            "declares no setting",
        ),
        (
            r#"{"op":"action","plugin":"wiki","action":"rm-all"}"#,
            "declares no action",
        ),
        (
            r#"{"op":"action","plugin":"../x","action":"a"}"#,
            "not a plugin action",
        ),
        (
            r#"{"op":"action","plugin":"other","action":"a"}"#,
            "no plugin `other`",
        ),
    ] {
        let (response, _) = ask(&agent, Some(998), line);
        let error = response.error.unwrap_or_default();
        assert!(error.contains(reason), "{line}: {error}");
    }
    assert_eq!(
        recorder.runs.borrow().as_slice(),
        [
            "/usr/bin/wiki index-build",
            "/usr/bin/systemctl restart wiki"
        ]
    );
    // A manifest someone else may change says nothing that runs as root.
    std::fs::set_permissions(
        plugins.join("wiki.yaml"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    let (response, _) = ask(
        &agent,
        Some(998),
        r#"{"op":"action","plugin":"wiki","action":"rebuild-index"}"#,
    );
    assert!(
        response
            .error
            .unwrap()
            .contains("not owned and writable by root alone")
    );
    std::fs::set_permissions(
        plugins.join("wiki.yaml"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::os::unix::fs::chown(plugins.join("wiki.yaml"), Some(65534), None).unwrap();
    let (response, _) = ask(
        &agent,
        Some(998),
        r#"{"op":"action","plugin":"wiki","action":"rebuild-index"}"#,
    );
    assert!(!response.ok);
    assert_eq!(recorder.runs.borrow().len(), 2);
}

#[test]
fn action_parameters_are_checked_and_the_password_goes_on_standard_input_only() {
    let root = tempfile::tempdir().unwrap();
    let system = root.path();
    wiki_plugin(system);
    let recorder = Recorder::default();
    let agent = Agent {
        root: system.to_owned(),
        web_uid: Some(998),
        system: &recorder,
    };
    let (response, _) = ask(
        &agent,
        Some(998),
        r#"{"op":"action","plugin":"wiki","action":"create-user","parameters":{"name":"Alice","email":"alice@example.org","password":"hunter2 horse"}}"#,
    );
    assert!(response.ok, "{response:?}");
    assert_eq!(response.data["done"], "Create a user");
    assert_eq!(
        response.data["output"],
        "ran account-create Alice alice@example.org"
    );
    assert_eq!(
        recorder.runs.borrow().as_slice(),
        ["/usr/bin/wiki account-create Alice alice@example.org"]
    );
    assert_eq!(recorder.inputs.borrow().as_slice(), ["hunter2 horse\n"]);
    // An action without parameters still gets nothing on standard input.
    let (response, _) = ask(
        &agent,
        Some(998),
        r#"{"op":"action","plugin":"wiki","action":"rebuild-index"}"#,
    );
    assert!(response.ok, "{response:?}");
    assert_eq!(recorder.inputs.borrow()[1], "");
    let before = recorder.runs.borrow().len();
    for (parameters, reason) in [
        (
            r#"{"name":"Alice","email":"alice@example.org"}"#,
            "Password is required",
        ),
        (
            r#"{"name":"Alice","email":"alice@example.org","password":""}"#,
            "Password is required",
        ),
        (
            r#"{"name":"Alice","email":"alice@example.org","password":"hunter2","admin":"yes"}"#,
            "has no parameter `admin`",
        ),
        (
            r#"{"name":"Alice","email":"alice","password":"hunter2"}"#,
            "E-mail: `alice` is not a valid mail address",
        ),
        (
            r#"{"name":"Alice\u0007","email":"alice@example.org","password":"hunter2"}"#,
            "User name: ",
        ),
        (
            r#"{"name":"--all-users","email":"alice@example.org","password":"hunter2"}"#,
            "may not begin with `-`",
        ),
        (
            r#"{"name":"Alice","email":"alice@example.org","password":"hunter2\u001b[0m"}"#,
            "the password is not",
        ),
        (
            r#"{"name":"Alice","email":"alice@example.org","password":"hunter2\nroot"}"#,
            "one line",
        ),
        (
            r#"{"name":"Alice","email":"alice@example.org","../password":"hunter2"}"#,
            "not a parameter name",
        ),
    ] {
        let line = format!(
            r#"{{"op":"action","plugin":"wiki","action":"create-user","parameters":{parameters}}}"#
        );
        let (response, _) = ask(&agent, Some(998), &line);
        assert!(!response.ok, "{parameters}");
        let error = response.error.unwrap();
        assert!(error.contains(reason), "{parameters}: {error}");
        assert!(!error.contains("hunter2"), "a password repeated: {error}");
    }
    // An action that declares none takes none.
    let (response, _) = ask(
        &agent,
        Some(998),
        r#"{"op":"action","plugin":"wiki","action":"rebuild-index","parameters":{"all":"yes"}}"#,
    );
    assert!(response.error.unwrap().contains("has no parameter `all`"));
    assert_eq!(recorder.runs.borrow().len(), before, "nothing more ran");
}

#[test]
fn the_host_passes_standard_input_and_reports_a_failure() {
    let output = Host
        .run_with_input(
            "/bin/sh",
            &[
                "-c",
                "IFS= read -r secret; echo \"$1 got ${#secret}\"",
                "sh",
                "Alice",
            ],
            "hunter2\n",
        )
        .unwrap();
    assert_eq!(output, "Alice got 7\n");
    // A program that reads nothing is judged by its status, not by the pipe it left unread.
    let big = "x".repeat(1 << 20);
    assert_eq!(Host.run_with_input("/bin/true", &[], &big).unwrap(), "");
    let error = Host
        .run_with_input(
            "/bin/sh",
            &["-c", "echo 'error: no such user' >&2; exit 3", "sh", "Bob"],
            "hunter2\n",
        )
        .unwrap_err();
    assert!(
        error.contains("exit status: 3") && error.contains("error: no such user"),
        "{error}"
    );
    assert!(!error.contains("hunter2"), "{error}");
}

/// A system with a wiki, its manifest (root's), and an agent whose web user is this process.
fn wiki_system() -> (tempfile::TempDir, u32) {
    let root = tempfile::tempdir().unwrap();
    let system = root.path();
    let plugins = system.join(appliance::plugin::PLUGIN_DIR);
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::write(
        plugins.join("wiki.yaml"),
        "appliance: wiki-appliance\nbackup:\n  appdata: [/srv/wiki]\n  sysconf: [/etc/wiki]\n",
    )
    .unwrap();
    for (path, text) in [
        ("srv/wiki/page", "live\n"),
        ("etc/wiki/config", "live\n"),
        ("etc/cron.d/keep", "live\n"),
    ] {
        let path = system.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    std::fs::create_dir_all(system.join(UPLOAD_DIR)).unwrap();
    (root, nix::unistd::geteuid().as_raw())
}

/// A backup of `wiki-appliance` made on another system whose directories are `sysconf`.
fn foreign_backup(dir: &std::path::Path, out: &std::path::Path, sysconf: &str) {
    let source = dir.join("source");
    for (path, text) in [
        ("srv/wiki/page", "backed up\n"),
        ("etc/wiki/config", "backed up\n"),
        (
            "etc/cron.d/evil",
            "* * * * * root /bin/sh -c 'id > /tmp/owned'\n",
        ),
    ] {
        let path = source.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let info = appliance::backup::info::Info {
        appliance: "wiki-appliance".into(),
        appdata_dirs: vec!["/srv/wiki".into()],
        sysconf_dirs: vec![sysconf.into()],
        timestamp: "2026-11-26T04:00:00Z".into(),
        version: "1.0".into(),
        package_version: None,
        plugin: None,
    };
    appliance::backup::write::create(&source, &info, out, &Quiet).unwrap();
}

/// A wiki system (see [`wiki_system`]) whose web user uploaded `name`, a backup made elsewhere
/// (see [`foreign_backup`]).
fn wiki_system_with_upload(name: &str, sysconf: &str) -> (tempfile::TempDir, u32) {
    let (root, uid) = wiki_system();
    let dir = tempfile::tempdir().unwrap();
    foreign_backup(
        dir.path(),
        &root.path().join(UPLOAD_DIR).join(name),
        sysconf,
    );
    (root, uid)
}

/// The web user asks for `op` on the backup `name`, with `more` JSON fields.
fn on_backup(agent: &Agent<'_>, uid: u32, op: &str, name: &str, more: &str) -> Response {
    ask(
        agent,
        Some(uid),
        &format!(r#"{{"op":"{op}","name":"{name}"{more}}}"#),
    )
    .0
}

/// The web side uploads a backup naming `/etc/cron.d` and asks for its restore: refused, and
/// `/etc/cron.d` is as it was.
#[test]
fn an_uploaded_backup_cannot_replace_a_directory_no_manifest_declares() {
    let (root, uid) = wiki_system_with_upload("evil.abf", "/etc/cron.d");
    let system = root.path();
    let recorder = Recorder::default();
    let agent = Agent {
        root: system.to_owned(),
        web_uid: Some(uid),
        system: &recorder,
    };
    let response = on_backup(&agent, uid, "backup-import", "evil.abf", "");
    assert!(response.ok, "{response:?}");
    let response = on_backup(&agent, uid, "backup-restore", "evil.abf", "");
    assert!(!response.ok, "{response:?}");
    let error = response.error.unwrap_or_default();
    assert!(error.contains("`/etc/cron.d`"), "{error}");
    assert!(!system.join("etc/cron.d/evil").exists());
    assert_eq!(
        std::fs::read_to_string(system.join("etc/cron.d/keep")).unwrap(),
        "live\n"
    );
    assert_eq!(
        std::fs::read_to_string(system.join("srv/wiki/page")).unwrap(),
        "live\n"
    );

    // Without any manifest that accepts it, nothing is restored either.
    std::fs::remove_file(system.join(appliance::plugin::PLUGIN_DIR).join("wiki.yaml")).unwrap();
    let response = on_backup(&agent, uid, "backup-restore", "evil.abf", "");
    assert!(!response.ok, "{response:?}");
    assert!(!system.join("etc/cron.d/evil").exists());
}

/// An upload that is a second name of another file (a hard link the web user made to a file
/// only root may read) is refused, and nothing of it reaches the store.
#[test]
fn an_upload_is_taken_only_as_a_regular_file_of_one_link() {
    let (root, uid) = wiki_system();
    let system = root.path();
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.abf");
    foreign_backup(dir.path(), &secret, "/etc/wiki");
    let upload = system.join(UPLOAD_DIR);
    std::fs::hard_link(&secret, upload.join("linked.abf")).unwrap();
    std::os::unix::fs::symlink(&secret, upload.join("symlink.abf")).unwrap();
    let recorder = Recorder::default();
    let agent = Agent {
        root: system.to_owned(),
        web_uid: Some(uid),
        system: &recorder,
    };
    for (name, reason) in [("linked.abf", "link"), ("symlink.abf", "not a file")] {
        let response = on_backup(&agent, uid, "backup-import", name, "");
        assert!(!response.ok, "{name}: {response:?}");
        let error = response.error.unwrap_or_default();
        assert!(error.contains(reason), "{name}: {error}");
        assert!(!system.join(BACKUP_DIR).join(name).exists());
    }
    assert!(secret.exists(), "the file behind the link is left alone");
}

/// A backup made elsewhere (another system, the 2009 prototype): its application data is
/// restored through the agent, its system configuration only with the second confirmation that
/// names the risk. One made here restores whole.
#[test]
fn a_backup_from_elsewhere_restores_its_system_configuration_only_when_confirmed() {
    let (root, uid) = wiki_system_with_upload("old.abf", "/etc/wiki");
    let system = root.path();
    let recorder = Recorder::default();
    let agent = Agent {
        root: system.to_owned(),
        web_uid: Some(uid),
        system: &recorder,
    };
    let response = on_backup(&agent, uid, "backup-import", "old.abf", "");
    assert!(response.ok, "{response:?}");
    assert_eq!(response.data["origin"], "from elsewhere");
    let (response, _) = ask(&agent, Some(uid), r#"{"op":"backup-list"}"#);
    assert_eq!(response.data["backups"][0]["origin"], "from elsewhere");

    let response = on_backup(&agent, uid, "backup-restore", "old.abf", "");
    assert!(response.ok, "{response:?}");
    assert_eq!(response.data["sysconf-left-out"], true);
    assert_eq!(
        std::fs::read_to_string(system.join("srv/wiki/page")).unwrap(),
        "backed up\n"
    );
    assert_eq!(
        std::fs::read_to_string(system.join("etc/wiki/config")).unwrap(),
        "live\n"
    );

    let response = on_backup(
        &agent,
        uid,
        "backup-restore",
        "old.abf",
        r#","foreign-configuration-runs-as-root":true"#,
    );
    assert!(response.ok, "{response:?}");
    assert_eq!(response.data["sysconf-left-out"], false);
    assert_eq!(
        std::fs::read_to_string(system.join("etc/wiki/config")).unwrap(),
        "backed up\n"
    );

    // Made here: whole, without the second confirmation.
    std::fs::write(system.join("etc/wiki/config"), "made here\n").unwrap();
    let (response, _) = ask(&agent, Some(uid), r#"{"op":"backup-create"}"#);
    assert!(response.ok, "{response:?}");
    let name = response.data["name"].as_str().unwrap().to_owned();
    std::fs::write(system.join("etc/wiki/config"), "changed\n").unwrap();
    let response = on_backup(&agent, uid, "backup-restore", &name, "");
    assert!(response.ok, "{response:?}");
    assert_eq!(response.data["origin"], "made on this system");
    assert_eq!(
        std::fs::read_to_string(system.join("etc/wiki/config")).unwrap(),
        "made here\n"
    );
}

#[test]
fn unattended_updates_are_set_in_apts_configuration_and_the_timer() {
    let root = root_with_plugin();
    let recorder = Recorder::default();
    let agent = web_agent(root.path(), &recorder);
    let on =
        r#"{"op":"unattended","enable":true,"all-updates":false,"time":"03:30","reboot":true}"#;
    // Without unattended-upgrades there is nothing to turn on, and nothing is written.
    let (refused, _) = ask(&agent, Some(998), on);
    assert!(
        refused.error.as_deref().unwrap().contains("not installed"),
        "{refused:?}"
    );
    assert!(!root.path().join(crate::unattended::CONFIG).exists());
    let program = root.path().join(crate::unattended::PROGRAM);
    std::fs::create_dir_all(program.parent().unwrap()).unwrap();
    std::fs::write(&program, "#!/usr/bin/python3\n").unwrap();
    let (answer, _) = ask(&agent, Some(998), on);
    assert!(answer.ok, "{answer:?}");
    let config = std::fs::read_to_string(root.path().join(crate::unattended::CONFIG)).unwrap();
    assert!(config.contains("APT::Periodic::Unattended-Upgrade \"1\";"));
    assert!(config.contains("Unattended-Upgrade::Automatic-Reboot \"true\";"));
    assert!(
        !config.contains("label=Debian\";"),
        "security only: {config}"
    );
    let dropin =
        std::fs::read_to_string(root.path().join(crate::unattended::TIMER_DROPIN)).unwrap();
    assert!(dropin.contains("OnCalendar=*-*-* 03:30\n"));
    let runs = recorder.runs.borrow();
    assert!(
        runs.iter()
            .any(|r| r == "systemctl restart apt-daily-upgrade.timer"),
        "{runs:?}"
    );
    // A time that is not one is refused before anything runs.
    let (bad, _) = ask(
        &agent,
        Some(998),
        r#"{"op":"unattended","enable":false,"all-updates":false,"time":"3:30;rm","reboot":false}"#,
    );
    assert!(bad.error.unwrap().contains("not a time of day"));
}

#[test]
fn a_rollback_needs_a_safety_backup_not_yet_rolled_back() {
    let root = root_with_plugin();
    let recorder = Recorder::default();
    let agent = web_agent(root.path(), &recorder);
    let (nothing, _) = ask(&agent, Some(998), r#"{"op":"rollback"}"#);
    assert!(
        nothing.error.unwrap().contains("no safety backup"),
        "no job without a backup"
    );
    let dir = root.path().join(appliance::backup::safety::SAFETY_DIR);
    std::fs::create_dir_all(&dir).unwrap();
    let record = |rolled_back: Option<&str>| {
        serde_json::json!({
            "backup": "wiki-appliance-2026-11-30T031500Z.abf", "appliance": "wiki-appliance",
            "made": "2026-11-30T03:15:00Z", "guarded": ["apache2"],
            "transaction": [{"package": "apache2", "before": "2.4.1", "after": "2.4.2"}],
            "rolled_back": rolled_back,
        })
        .to_string()
    };
    std::fs::write(
        dir.join("wiki-appliance-2026-11-30T031500Z.json"),
        record(Some("2026-11-30T04:00:00Z")),
    )
    .unwrap();
    let (done, _) = ask(&agent, Some(998), r#"{"op":"rollback"}"#);
    assert!(done.error.unwrap().contains("was put back already"));
    // The history shows the transaction with its backup.
    std::fs::create_dir_all(root.path().join("var/log/apt")).unwrap();
    std::fs::write(
        root.path().join(crate::unattended::HISTORY),
        "Start-Date: 2026-11-30  03:15:00\nUpgrade: apache2:amd64 (2.4.1, 2.4.2)\nEnd-Date: 2026-11-30  03:15:09\n",
    )
    .unwrap();
    let (history, _) = ask(&agent, Some(998), r#"{"op":"history"}"#);
    let history: crate::agent::updates::History = history.into_answer().unwrap();
    assert_eq!(
        history.transactions[0].safety_backup.as_deref(),
        Some("wiki-appliance-2026-11-30T031500Z.abf")
    );
    assert_eq!(
        history.transactions[0].rolled_back.as_deref(),
        Some("2026-11-30T04:00:00Z")
    );
    assert!(recorder.runs.borrow().is_empty(), "no job was started");
}
