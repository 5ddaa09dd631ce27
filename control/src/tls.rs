//! TLS for the web service (rustls with the ring provider) and login by client certificate.
//!
//! The server asks for a client certificate without requiring one. A certificate logs its holder
//! in when `/etc/appliance-control/client-certs` maps it to a user:
//!
//! ```text
//! sha256:9F:86:D0:…  alice        # by fingerprint: the certificate itself is trusted
//! subject:CN=Bob,O=Example  bob   # by subject: only with --client-ca, which must have signed it
//! ```
//!
//! Without `--client-ca` any certificate is accepted at the TLS level, the client still proving
//! it holds its key; only the fingerprint then says who it is.

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

/// The subject of a certificate, as `CN=Bob, O=Example` (RFC 4514 order as written).
pub fn subject(der: &[u8]) -> Option<String> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(certificate.subject().to_string())
}

fn normal_subject(text: &str) -> String {
    text.split(',')
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The certificate-to-user map.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ClientCerts {
    by_fingerprint: HashMap<String, String>,
    by_subject: HashMap<String, String>,
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
                map.by_subject.insert(normal_subject(subject), user);
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

    /// The user a certificate logs in as. `ca_checked`: the certificate chains to the configured
    /// CA, so its subject can be believed.
    pub fn user_for(&self, der: &[u8], ca_checked: bool) -> Option<String> {
        if let Some(user) = self.by_fingerprint.get(&fingerprint(der)) {
            return Some(user.clone());
        }
        if ca_checked {
            let subject = normal_subject(&subject(der)?);
            return self.by_subject.get(&subject).cloned();
        }
        None
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
    client_ca: Option<&Path>,
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
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for certificate in CertificateDer::pem_file_iter(path)
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(|e| format!("cannot read the client CA `{}`: {e}", path.display()))?
            {
                roots
                    .add(certificate)
                    .map_err(|e| format!("`{}`: {e}", path.display()))?;
            }
            Some(
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .allow_unauthenticated()
                    .build()
                    .map_err(|e| format!("the client CA `{}`: {e}", path.display()))?,
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
        assert_eq!(map.user_for(der, false).as_deref(), Some("alice"));
        assert_eq!(map.user_for(b"another", true), None);
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
