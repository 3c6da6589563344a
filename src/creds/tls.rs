//! TLS interception for exactly the HTTPS origins that carry a credential: a certificate
//! authority generated in memory for this run (its key never leaves the supervisor's memory;
//! only its certificate enters the sandbox, where the clients are told to trust it through
//! their own settings), a leaf certificate per intercepted host signed by it, and the
//! upstream side re-encrypted with full verification against the system roots or the CA
//! the user configured for the package manager.
//!
//! Crates: rustls (TLS, both sides, with the ring provider), rcgen (the CA and leaves),
//! rustls-native-certs (the system roots). No cryptography is written here.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("generating a certificate")]
    Generate(#[from] rcgen::Error),
    #[error("setting up TLS")]
    Rustls(#[from] rustls::Error),
    #[error("reading the CA certificates in {path}")]
    ReadRoots {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("no usable CA certificate in {0}")]
    NoRoots(String),
    #[error("{0} is not a valid TLS server name")]
    ServerName(String),
}

/// Where the upstream's certificate is verified against: the system's roots
/// (`rustls-native-certs`: `/etc/ssl/certs`, `SSL_CERT_FILE`) unless the user's CA setting
/// for the package manager replaces them (npm `cafile`, pip `cert`), plus CA files the user
/// adds to them (`NODE_EXTRA_CA_CERTS`), as the client itself would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    pub system: bool,
    pub files: Vec<PathBuf>,
}

impl Roots {
    pub fn system() -> Self {
        Roots {
            system: true,
            files: Vec::new(),
        }
    }

    /// What either trusts: for a host two clients reach with their own CA settings.
    pub fn union(&self, other: &Roots) -> Roots {
        let mut files = self.files.clone();
        for f in &other.files {
            if !files.contains(f) {
                files.push(f.clone());
            }
        }
        Roots {
            system: self.system || other.system,
            files,
        }
    }
}

impl std::fmt::Display for Roots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts: Vec<String> = self.files.iter().map(|p| p.display().to_string()).collect();
        if self.system {
            parts.insert(0, "the system's roots".into());
        }
        f.write_str(&parts.join(" and "))
    }
}

/// The run's certificate authority and TLS settings.
pub struct Interceptor {
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
    ca_pem: String,
    leaves: Mutex<HashMap<String, Arc<rustls::ServerConfig>>>,
    upstream: Arc<rustls::ClientConfig>,
    /// Hosts another client reaches with CA settings of its own (git's), and their roots.
    per_host: HashMap<String, (Roots, Arc<rustls::ClientConfig>)>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    roots: Roots,
}

impl std::fmt::Debug for Interceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interceptor")
            .field("roots", &self.roots)
            .finish_non_exhaustive()
    }
}

/// Validity of the CA and leaves: from a day ago (clock skew) to a week ahead; a run is
/// shorter than that and the key dies with it.
fn validity(params: &mut rcgen::CertificateParams) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(7);
}

impl Interceptor {
    pub fn new(roots: Roots) -> Result<Self, TlsError> {
        // ring rather than aws-lc-rs (rustls' default, which needs a C and cmake build):
        // deprecated in 0.23.48 only for lacking post-quantum key exchange.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let ca_key = rcgen::KeyPair::generate()?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            "safe-install per-run interception CA (trusted inside one sandbox only)",
        );
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params);
        let ca = params.self_signed(&ca_key)?;
        let ca_pem = ca.pem();
        let upstream = client_config(&provider, &roots)?;
        Ok(Interceptor {
            ca,
            ca_key,
            ca_pem,
            leaves: Mutex::new(HashMap::new()),
            upstream,
            per_host: HashMap::new(),
            provider,
            roots,
        })
    }

    /// Verify `host` (any port) against `roots` instead of the run's roots: a host another
    /// client reaches with CA settings of its own (git's `http.sslCAInfo`). A host set twice
    /// trusts both.
    pub fn set_host_roots(&mut self, host: &str, roots: Roots) -> Result<(), TlsError> {
        let host = host.to_ascii_lowercase();
        let roots = match self.per_host.get(&host) {
            Some((old, _)) => old.union(&roots),
            None => roots,
        };
        let config = client_config(&self.provider, &roots)?;
        self.per_host.insert(host, (roots, config));
        Ok(())
    }

    /// The roots `host` is verified against.
    pub fn roots_for(&self, host: &str) -> &Roots {
        self.per_host
            .get(&host.to_ascii_lowercase())
            .map(|(r, _)| r)
            .unwrap_or(&self.roots)
    }

    /// The CA certificate (public), for the clients inside.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn roots(&self) -> &Roots {
        &self.roots
    }

    /// The server side for `host`: a leaf for that name (or address) only, made once per run.
    pub fn server_config(&self, host: &str) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let mut leaves = self.leaves.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = leaves.get(host) {
            return Ok(Arc::clone(c));
        }
        let key = rcgen::KeyPair::generate()?;
        // Node checks a tunnelled IP-literal registry's certificate against "localhost" (no
        // SNI for addresses, and its agent passes no host name): the leaf for an address
        // names that too. It is trusted inside this sandbox only, where localhost is itself.
        let mut names = vec![host.to_string()];
        if host.parse::<std::net::IpAddr>().is_ok() {
            names.push("localhost".into());
        }
        let mut params = rcgen::CertificateParams::new(names)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, host);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params);
        let leaf = params.signed_by(&key, &self.ca, &self.ca_key)?;
        let chain = vec![leaf.der().clone(), self.ca.der().clone()];
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key_der)?;
        // HTTP/1.1 only: the proxy reads and rewrites each request head.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let config = Arc::new(config);
        leaves.insert(host.to_string(), Arc::clone(&config));
        Ok(config)
    }

    /// A client session to `host`, verified against [`Roots`].
    pub fn client(&self, host: &str) -> Result<rustls::ClientConnection, TlsError> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| TlsError::ServerName(host.to_string()))?;
        let config = self
            .per_host
            .get(&host.to_ascii_lowercase())
            .map(|(_, c)| c)
            .unwrap_or(&self.upstream);
        Ok(rustls::ClientConnection::new(Arc::clone(config), name)?)
    }
}

/// The upstream side's TLS settings, verifying against `roots`.
fn client_config(
    provider: &Arc<rustls::crypto::CryptoProvider>,
    roots: &Roots,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut store = rustls::RootCertStore::empty();
    if roots.system {
        let found = rustls_native_certs::load_native_certs();
        let (added, _) = store.add_parsable_certificates(found.certs);
        if added == 0 {
            return Err(TlsError::NoRoots("the system's certificate store".into()));
        }
    }
    for path in &roots.files {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|source| TlsError::ReadRoots {
                path: path.clone(),
                source,
            })?;
        let (added, _) = store.add_parsable_certificates(certs);
        if added == 0 {
            return Err(TlsError::NoRoots(path.display().to_string()));
        }
    }
    let mut upstream = rustls::ClientConfig::builder_with_provider(Arc::clone(provider))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(store)
        .with_no_client_auth();
    upstream.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(upstream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_chain_to_the_run_ca_and_name_the_host() {
        let i = Interceptor::new(Roots::system()).expect("interceptor");
        assert!(i.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        let a = i.server_config("127.0.0.1").expect("leaf");
        let b = i.server_config("127.0.0.1").expect("leaf");
        assert!(Arc::ptr_eq(&a, &b), "one leaf per host per run");
        i.server_config("registry.example.com").expect("leaf");
        // Two runs, two CAs.
        let j = Interceptor::new(Roots::system()).expect("interceptor");
        assert_ne!(i.ca_pem(), j.ca_pem());
    }

    #[test]
    fn a_user_ca_file_replaces_the_system_roots() {
        let other = Interceptor::new(Roots::system()).expect("interceptor");
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, other.ca_pem()).expect("write");
        let roots = Roots {
            system: false,
            files: vec![ca.clone()],
        };
        let i = Interceptor::new(roots.clone()).expect("interceptor");
        assert_eq!(i.roots(), &roots);
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").expect("write");
        assert!(Interceptor::new(Roots {
            system: true,
            files: vec![empty]
        })
        .is_err());
    }
}

#[cfg(test)]
mod upstream_tests {
    use super::*;
    use std::io::{Read, Write};
    use std::path::Path;

    /// A registry's CA and leaf as a user would have them (the test harness makes the same).
    fn registry_ca(dir: &Path) -> (PathBuf, rustls::ServerConfig) {
        let ca_key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "test registry CA");
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca = params.self_signed(&ca_key).expect("ca");
        let key = rcgen::KeyPair::generate().expect("key");
        let mut leaf =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
        leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let cert = leaf.signed_by(&key, &ca, &ca_key).expect("leaf");
        let path = dir.join("ca.pem");
        std::fs::write(&path, ca.pem()).expect("write");
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .expect("server config");
        (path, config)
    }

    #[test]
    fn the_upstream_is_verified_against_the_users_ca() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (ca, server) = registry_ca(dir.path());
        let server = Arc::new(server);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let t = std::thread::spawn(move || {
            for _ in 0..3 {
                let (tcp, _) = listener.accept().expect("accept");
                let conn = rustls::ServerConnection::new(Arc::clone(&server)).expect("conn");
                let mut s = rustls::StreamOwned::new(conn, tcp);
                let mut b = [0u8; 4];
                if s.read_exact(&mut b).is_ok() {
                    let _ = s.write_all(b"pong");
                    let _ = s.flush();
                }
            }
        });
        let connect = |roots: Roots| -> Result<Vec<u8>, String> {
            let i = Interceptor::new(roots).map_err(|e| e.to_string())?;
            let tcp =
                std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
            let mut s =
                rustls::StreamOwned::new(i.client("127.0.0.1").map_err(|e| e.to_string())?, tcp);
            s.write_all(b"ping").map_err(|e| e.to_string())?;
            let mut b = [0u8; 4];
            s.read_exact(&mut b).map_err(|e| e.to_string())?;
            Ok(b.to_vec())
        };
        assert_eq!(
            connect(Roots {
                system: false,
                files: vec![ca.clone()]
            }),
            Ok(b"pong".to_vec())
        );
        let refused = connect(Roots::system()).expect_err("not a system root");
        assert!(refused.contains("UnknownIssuer"), "{refused}");
        // Roots of its own for one host: that host only.
        let mut i = Interceptor::new(Roots::system()).expect("interceptor");
        i.set_host_roots(
            "127.0.0.1",
            Roots {
                system: false,
                files: vec![ca.clone()],
            },
        )
        .expect("host roots");
        assert_eq!(i.roots_for("127.0.0.1").files, std::slice::from_ref(&ca));
        assert_eq!(i.roots_for("registry.example.com"), &Roots::system());
        let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let mut s = rustls::StreamOwned::new(i.client("127.0.0.1").expect("client"), tcp);
        s.write_all(b"ping").expect("write");
        let mut b = [0u8; 4];
        s.read_exact(&mut b)
            .expect("verified against the host's roots");
        assert_eq!(&b, b"pong");
        t.join().expect("server");
    }
}
