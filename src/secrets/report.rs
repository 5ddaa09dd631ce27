//! What `va-seed secrets` shows root: each generated secret with what it opens, and the
//! fingerprint of appliance-control's certificate.

use std::path::Path;

use fs_err as fs;

use super::{SecretError, Secrets, marker};
use crate::seed::registry::Registry;

/// Where appliance-control keeps its TLS certificate, relative to the root.
pub const CONTROL_CERTIFICATE: &str = "etc/appliance-control/tls/cert.pem";

/// One generated secret, as `va-seed secrets` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub name: String,
    pub value: String,
    /// What it opens, from the plugin manifest: `the wiki's administrator`.
    pub opens: Option<String>,
    pub login: Option<String>,
    /// With the system's host name in place of `{host}`.
    pub url: Option<String>,
    /// The seeded questions it answers.
    pub questions: Vec<String>,
}

/// The generated secrets of one appliance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplianceSecrets {
    pub appliance: String,
    pub secrets: Vec<Shown>,
}

/// What root needs to log in: the generated secrets of `only` (or of every appliance), each with
/// what it opens, and problems met on the way (a manifest that does not parse) as warnings.
pub fn report(
    root: &Path,
    only: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<Vec<ApplianceSecrets>, SecretError> {
    let store = Secrets::new(root);
    let registry = Registry::new(root);
    let host = host_name(root);
    // A broken manifest leaves its descriptions out, said in a warning; the others are used.
    let mut manifests = Vec::new();
    match crate::plugin::Manifest::each(root) {
        Ok(each) => {
            for (_, manifest) in each {
                match manifest {
                    Ok(manifest) => manifests.push(manifest),
                    Err(error) => warnings.push(crate::error_chain(&error)),
                }
            }
        }
        Err(error) => warnings.push(crate::error_chain(&error)),
    }
    let appliances = match only {
        Some(name) => vec![name.to_owned()],
        None => store.appliances()?,
    };
    let mut out = Vec::new();
    for appliance in appliances {
        let values = store.read(&appliance)?;
        // Which questions each secret answers, from the record of the applied seed: shown when
        // it can be read, a warning when not (the values are the store's in any case).
        let seed = match registry.state(&appliance) {
            Ok(state) => state
                .and_then(|state| crate::seed::Seed::parse(&state.seed).ok())
                .unwrap_or_default(),
            Err(error) => {
                warnings.push(crate::error_chain(&error));
                crate::seed::Seed::default()
            }
        };
        let secrets = values
            .into_iter()
            .map(|(name, value)| {
                let info = manifests
                    .iter()
                    .filter(|m| m.appliance == appliance)
                    .flat_map(|m| &m.secrets)
                    .find(|s| s.name == name);
                Shown {
                    questions: seed
                        .entries
                        .iter()
                        .filter(|e| marker(&e.value) == Some(name.as_str()))
                        .map(|e| e.question.clone())
                        .collect(),
                    opens: info.map(|i| i.opens.clone()),
                    login: info.and_then(|i| i.login.clone()),
                    url: info
                        .and_then(|i| i.url.as_ref())
                        .map(|u| u.replace("{host}", &host)),
                    name,
                    value,
                }
            })
            .collect();
        out.push(ApplianceSecrets { appliance, secrets });
    }
    Ok(out)
}

/// The system's host name: `/etc/hostname` of the root, else the kernel's.
fn host_name(root: &Path) -> String {
    fs::read_to_string(root.join("etc/hostname"))
        .ok()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .or_else(|| {
            nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
        })
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The SHA-256 fingerprint (`AB:CD:…`, as browsers show it) of the first certificate in the PEM
/// file at `path`; `None` when there is no such file.
pub fn certificate_fingerprint(path: &Path) -> Result<Option<String>, SecretError> {
    use base64::Engine as _;
    use sha2::Digest as _;
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(SecretError::Io {
                what: "read",
                path: path.to_owned(),
                source,
            });
        }
    };
    let bad = || SecretError::Io {
        what: "read a certificate from",
        path: path.to_owned(),
        source: std::io::Error::other("no PEM certificate in it"),
    };
    let body = text
        .split("-----BEGIN CERTIFICATE-----")
        .nth(1)
        .and_then(|rest| rest.split("-----END CERTIFICATE-----").next())
        .ok_or_else(bad)?;
    let base64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(base64)
        .map_err(|_| bad())?;
    let digest = sha2::Sha256::digest(&der);
    Ok(Some(
        digest
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::Kernel;

    #[test]
    fn the_report_says_what_each_secret_opens() {
        let root = tempfile::tempdir().unwrap();
        let registry = Registry::new(root.path());
        let lock = registry.lock().unwrap();
        let seed = "m m/admin-password password @secret:wiki-admin\nm m/again password @secret:wiki-admin\nc c/p password @secret:other\n";
        crate::secrets::record_seed(&registry, &lock, "x-appliance", seed);
        let store = Secrets::of(&registry);
        let values = store
            .resolve(&lock, "x-appliance", &["wiki-admin", "other"], &mut Kernel)
            .unwrap()
            .values;
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::write(root.path().join("etc/hostname"), "wiki\n").unwrap();
        let plugins = root.path().join(crate::plugin::PLUGIN_DIR);
        std::fs::create_dir_all(&plugins).unwrap();
        std::fs::write(
            plugins.join("x.yaml"),
            "appliance: x-appliance\nsecrets:\n  - name: wiki-admin\n    opens: the wiki's administrator\n    login: WikiAdmin\n    url: http://{host}/\n",
        )
        .unwrap();
        std::fs::write(plugins.join("broken.yaml"), "appliance: [\n").unwrap();
        let mut warnings = Vec::new();
        let report = report(root.path(), None, &mut warnings).unwrap();
        // The broken manifest is named; the other one still describes its secrets.
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("broken.yaml"), "{warnings:?}");
        assert_eq!(report.len(), 1);
        let shown = &report[0].secrets;
        assert_eq!(shown[1].name, "wiki-admin");
        assert_eq!(shown[1].value, values["wiki-admin"]);
        assert_eq!(shown[1].login.as_deref(), Some("WikiAdmin"));
        assert_eq!(shown[1].url.as_deref(), Some("http://wiki/"));
        assert_eq!(shown[1].questions, ["m/admin-password", "m/again"]);
        assert_eq!(shown[0].name, "other");
        assert_eq!(shown[0].opens, None);
        assert_eq!(shown[0].questions, ["c/p"]);
    }

    #[test]
    fn certificate_fingerprints_are_those_openssl_prints() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            certificate_fingerprint(&dir.path().join("none.pem")).unwrap(),
            None
        );
        let cert = dir.path().join("cert.pem");
        let made = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args(["-nodes", "-days", "1", "-subj", "/CN=test", "-keyout"])
            .arg(dir.path().join("key.pem"))
            .arg("-out")
            .arg(&cert)
            .output()
            .unwrap();
        assert!(made.status.success(), "{made:?}");
        let openssl = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(&cert)
            .output()
            .unwrap();
        let expected = String::from_utf8_lossy(&openssl.stdout);
        let expected = expected.trim().rsplit('=').next().unwrap().to_owned();
        assert_eq!(certificate_fingerprint(&cert).unwrap(), Some(expected));
        std::fs::write(&cert, "not a certificate").unwrap();
        assert!(certificate_fingerprint(&cert).is_err());
    }
}
