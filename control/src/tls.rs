//! TLS for the web service (rustls with the ring provider) and login by client certificate.
//!
//! The server asks for a client certificate without requiring one. A certificate logs its holder
//! in when `/etc/appliance-control/client-certs` maps it to a user:
//!
//! ```text
//! sha256:9F:86:D0:…  alice        # by fingerprint: the certificate itself is trusted
//! subject:CN=Bob,O=Example  bob   # by subject: only with --client-ca, which must have issued it
//! ```
//!
//! Without `--client-ca` any certificate is accepted at the TLS level, the client still proving
//! it holds its key; only the fingerprint then says who it is. A subject is compared as the
//! certificate encodes it (its RDNs, each a set of attribute types and values, in the order of
//! the DER), never as text: `CN=Bob\,O=Example` is one RDN and `CN=Bob,O=Example` two. The
//! certificate's issuer must be, byte for byte, the DER subject of one of the `--client-ca`
//! certificates.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use rustls::DistinguishedName;
use rustls::SignatureScheme;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use sha2::{Digest, Sha256};

/// Where the owner maps certificates to users, relative to the root.
pub const CLIENT_CERTS: &str = "etc/appliance-control/client-certs";

/// The hex SHA-256 of a certificate's DER bytes, lower case without colons.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// The subject of a certificate, as `CN=Bob, O=Example` (for people to read, never to compare).
pub fn subject(der: &[u8]) -> Option<String> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(certificate.subject().to_string())
}

/// A distinguished name as a certificate encodes it: its RDNs in DER order, each a sorted set of
/// (attribute type as a dotted OID, value).
type Name = Vec<Vec<(String, String)>>;

/// The dotted OID of an attribute type named in a DN (RFC 4514 section 3, and the usual others),
/// or given as a dotted OID.
fn attribute_oid(name: &str) -> Option<String> {
    let oid = match name.to_ascii_uppercase().as_str() {
        "CN" => "2.5.4.3",
        "SERIALNUMBER" => "2.5.4.5",
        "C" => "2.5.4.6",
        "L" => "2.5.4.7",
        "ST" => "2.5.4.8",
        "STREET" => "2.5.4.9",
        "O" => "2.5.4.10",
        "OU" => "2.5.4.11",
        "DC" => "0.9.2342.19200300.100.1.25",
        "UID" => "0.9.2342.19200300.100.1.1",
        "EMAILADDRESS" => "1.2.840.113549.1.9.1",
        dotted
            if !dotted.is_empty()
                && dotted
                    .split('.')
                    .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) =>
        {
            return Some(dotted.to_owned());
        }
        _ => return None,
    };
    Some(oid.to_owned())
}

/// Parses `CN=Bob,O=Example` (`,` between RDNs, `+` inside one, `\` escaping the next
/// character) into a [`Name`], in the order written.
fn parse_name(text: &str) -> Result<Name, String> {
    let mut name = Vec::new();
    let mut rdn = Vec::new();
    let mut part = String::new();
    let mut escaped = false;
    let finish = |part: &mut String, rdn: &mut Vec<(String, String)>| -> Result<(), String> {
        let (kind, value) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}` is not `TYPE=value`"))?;
        let oid = attribute_oid(kind.trim())
            .ok_or_else(|| format!("`{}` is not an attribute type", kind.trim()))?;
        rdn.push((oid, value.trim().to_owned()));
        part.clear();
        Ok(())
    };
    for c in text.trim().chars() {
        if escaped {
            part.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' || c == '+' {
            finish(&mut part, &mut rdn)?;
            if c == ',' {
                rdn.sort();
                name.push(std::mem::take(&mut rdn));
            }
        } else {
            part.push(c);
        }
    }
    if escaped {
        return Err("the name ends in `\\`".into());
    }
    finish(&mut part, &mut rdn)?;
    rdn.sort();
    name.push(rdn);
    Ok(name)
}

/// The certificate's subject as a [`Name`], and its issuer's DER; `None` for a certificate that
/// does not parse or whose subject holds a value that is not a string.
fn subject_and_issuer(der: &[u8]) -> Option<(Name, Vec<u8>)> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
    let mut name = Vec::new();
    for rdn in certificate.subject().iter_rdn() {
        let mut set = Vec::new();
        for attribute in rdn.iter() {
            set.push((
                attribute.attr_type().to_id_string(),
                attribute.as_str().ok()?.to_owned(),
            ));
        }
        set.sort();
        name.push(set);
    }
    Some((name, certificate.issuer().as_raw().to_vec()))
}

/// The owner's client CAs (`--client-ca`), read once: the roots the handshake checks client
/// certificates against, and their DER subjects, the issuers a subject mapping believes.
#[derive(Debug, Clone)]
pub struct ClientCa {
    path: std::path::PathBuf,
    roots: Vec<CertificateDer<'static>>,
    /// The DER subjects of [`ClientCa::roots`].
    pub subjects: Vec<Vec<u8>>,
}

impl ClientCa {
    /// The CA certificates in `path` (PEM).
    pub fn load(path: &Path) -> Result<Self, String> {
        let roots: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(Iterator::collect)
            .map_err(|e| format!("cannot read the client CA `{}`: {e}", path.display()))?;
        let subjects = roots
            .iter()
            .map(|der| {
                x509_parser::parse_x509_certificate(der)
                    .map(|(_, certificate)| certificate.subject().as_raw().to_vec())
                    .map_err(|e| format!("`{}`: {e}", path.display()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            path: path.to_owned(),
            roots,
            subjects,
        })
    }
}

/// The certificate-to-user map.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ClientCerts {
    by_fingerprint: HashMap<String, String>,
    by_subject: HashMap<Name, String>,
}

impl ClientCerts {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut map = Self::default();
        for (index, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let number = index + 1;
            let (key, user) = line.rsplit_once(char::is_whitespace).ok_or(format!(
                "line {number}: expected `sha256:HEX USER` or `subject:DN USER`"
            ))?;
            let user = user.trim().to_owned();
            if !crate::users::valid_name(&user) {
                return Err(format!("line {number}: `{user}` is not a user name"));
            }
            if let Some(hex) = key.trim().strip_prefix("sha256:") {
                let hex: String = hex
                    .chars()
                    .filter(|c| *c != ':')
                    .collect::<String>()
                    .to_lowercase();
                if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!(
                        "line {number}: a SHA-256 fingerprint has 64 hex digits"
                    ));
                }
                map.by_fingerprint.insert(hex, user);
            } else if let Some(subject) = key.trim().strip_prefix("subject:") {
                let name = parse_name(subject).map_err(|e| format!("line {number}: {e}"))?;
                map.by_subject.insert(name, user);
            } else {
                return Err(format!("line {number}: expected `sha256:` or `subject:`"));
            }
        }
        Ok(map)
    }

    /// Reads the map under `root`; no file maps nobody.
    pub fn load(root: &Path) -> Result<Self, String> {
        match std::fs::read_to_string(root.join(CLIENT_CERTS)) {
            Ok(text) => Self::parse(&text).map_err(|e| format!("`/{CLIENT_CERTS}` {e}")),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(error) => Err(format!("cannot read `/{CLIENT_CERTS}`: {error}")),
        }
    }

    /// The user a certificate logs in as. `issuers`: the DER subjects of the `--client-ca`
    /// certificates, which the handshake checked the certificate against; a subject is believed
    /// only from a certificate one of them issued.
    pub fn user_for(&self, der: &[u8], issuers: &[Vec<u8>]) -> Option<String> {
        if let Some(user) = self.by_fingerprint.get(&fingerprint(der)) {
            return Some(user.clone());
        }
        let (subject, issuer) = subject_and_issuer(der)?;
        if !issuers.contains(&issuer) {
            return None;
        }
        self.by_subject.get(&subject).cloned()
    }
}

/// Asks for a client certificate without requiring one; with a CA, only certificates it signed
/// pass the handshake.
#[derive(Debug)]
struct OptionalClientCert {
    ca: Option<Arc<dyn ClientCertVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for OptionalClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.ca.as_ref().map_or(&[], |ca| ca.root_hint_subjects())
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match &self.ca {
            Some(ca) => ca.verify_client_cert(end_entity, intermediates, now),
            // Pinned by fingerprint in the application; possession of the key is still proven
            // by the handshake signature below.
            None => Ok(ClientCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The server's TLS configuration from PEM files.
pub fn server_config(
    certificate: &Path,
    key: &Path,
    client_ca: Option<&ClientCa>,
) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(certificate)
        .and_then(Iterator::collect)
        .map_err(|e| {
            format!(
                "cannot read the certificate `{}`: {e}",
                certificate.display()
            )
        })?;
    if chain.is_empty() {
        return Err(format!("`{}` holds no certificate", certificate.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read the key `{}`: {e}", key.display()))?;
    let ca = match client_ca {
        Some(ca) => {
            let path = ca.path.display();
            let mut roots = rustls::RootCertStore::empty();
            for certificate in &ca.roots {
                roots
                    .add(certificate.clone())
                    .map_err(|e| format!("`{path}`: {e}"))?;
            }
            Some(
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .allow_unauthenticated()
                    .build()
                    .map_err(|e| format!("the client CA `{path}`: {e}"))?,
            )
        }
        None => None,
    };
    let verifier = Arc::new(OptionalClientCert {
        ca,
        algorithms: provider.signature_verification_algorithms,
    });
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| format!("the certificate and key do not go together: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Certificates made with openssl in `dir`: two CAs, and leaves signed by one of them, by
    /// name; returns each one's DER.
    fn certificates(dir: &Path) -> HashMap<&'static str, Vec<u8>> {
        let script = r#"set -e
            ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "$2" -keyout $1.key -out $1.pem 2>/dev/null; }
            leaf() { openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "$2" -keyout $1.key -out $1.csr 2>/dev/null
                     openssl x509 -req -in $1.csr -CA $3.pem -CAkey $3.key -days 2 -out $1.pem 2>/dev/null; }
            ca ca '/CN=Example CA'
            ca other '/CN=Other CA'
            leaf bob '/CN=Bob/O=Example' ca
            leaf one-rdn '/CN=Bob,O=Example' ca
            leaf bob-elsewhere '/CN=Bob/O=Example' other
        "#;
        let status = std::process::Command::new("sh")
            .args(["-c", script])
            .current_dir(dir)
            .status()
            .unwrap();
        assert!(status.success());
        ["ca", "other", "bob", "one-rdn", "bob-elsewhere"]
            .into_iter()
            .map(|name| {
                let pem = dir.join(format!("{name}.pem"));
                let der = CertificateDer::from_pem_file(&pem).unwrap();
                (name, der.to_vec())
            })
            .collect()
    }

    #[test]
    fn a_subject_maps_only_the_certificate_with_that_structure_from_the_ca() {
        let dir = tempfile::tempdir().unwrap();
        let certificates = certificates(dir.path());
        let ca = ClientCa::load(&dir.path().join("ca.pem")).unwrap().subjects;
        let map = ClientCerts::parse("subject:CN=Bob,O=Example bob\n").unwrap();
        assert_eq!(
            map.user_for(&certificates["bob"], &ca).as_deref(),
            Some("bob")
        );
        // One RDN whose CN reads `Bob,O=Example`: the same string, another subject.
        assert_eq!(map.user_for(&certificates["one-rdn"], &ca), None);
        // The same subject from another issuer, or with no CA given.
        assert_eq!(map.user_for(&certificates["bob-elsewhere"], &ca), None);
        assert_eq!(map.user_for(&certificates["bob"], &[]), None);
        // The one RDN can be mapped, escaped, and then only it.
        let map = ClientCerts::parse("subject:CN=Bob\\,O=Example bob\n").unwrap();
        assert_eq!(
            map.user_for(&certificates["one-rdn"], &ca).as_deref(),
            Some("bob")
        );
        assert_eq!(map.user_for(&certificates["bob"], &ca), None);
        // Spaces after the commas and lower-case types name the same subject.
        let map = ClientCerts::parse("subject:cn=Bob, o=Example bob\n").unwrap();
        assert!(map.user_for(&certificates["bob"], &ca).is_some());
        for (line, reason) in [
            ("subject:XX=Bob bob\n", "not an attribute type"),
            ("subject:CN bob\n", "TYPE=value"),
        ] {
            let error = ClientCerts::parse(line).unwrap_err();
            assert!(error.contains(reason), "{line}: {error}");
        }
    }

    #[test]
    fn the_map_parses_and_finds_users_by_fingerprint_and_by_subject_only_with_a_ca() {
        let der = b"not really a certificate";
        let print = fingerprint(der);
        let colons: Vec<String> = print
            .as_bytes()
            .chunks(2)
            .map(|c| String::from_utf8_lossy(c).to_uppercase())
            .collect();
        let map = ClientCerts::parse(&format!(
            "# owners' certificates\nsha256:{}  alice\nsubject:CN=Bob,O=Example bob # via the CA\n",
            colons.join(":")
        ))
        .unwrap();
        assert_eq!(map.user_for(der, &[]).as_deref(), Some("alice"));
        assert_eq!(map.user_for(b"another", &[b"any issuer".to_vec()]), None);
        for (text, reason) in [
            ("sha256:abcd alice\n", "64 hex"),
            ("md5:00 alice\n", "expected `sha256:`"),
            ("alice\n", "expected"),
            (&format!("sha256:{print} Alice\n"), "user name"),
        ] {
            let error = ClientCerts::parse(text).unwrap_err();
            assert!(error.contains(reason), "{text}: {error}");
        }
    }
}
