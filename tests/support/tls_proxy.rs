//! A TLS-terminating proxy with a freshly generated CA, placed in front of
//! the ES-API server so the service's https settings (custom CA, client
//! certificate, auth headers) are exercised for real. It records the
//! decrypted start of each request so a test can check what was sent.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, RootCertStore};

/// PEM files of a generated CA and certificates signed by it.
pub struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// A CA, a server certificate for `localhost`/`127.0.0.1`, and a client
    /// certificate.
    pub fn generate() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "sluice test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA cert");
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).expect("writing PEM");
        write("ca.pem", ca_cert.pem());
        for (name, sans) in [
            ("server", vec!["localhost".to_owned(), "127.0.0.1".to_owned()]),
            ("client", vec!["sluice-client".to_owned()]),
        ] {
            let key = KeyPair::generate().expect("key");
            let mut params = CertificateParams::new(sans).expect("params");
            params.distinguished_name.push(DnType::CommonName, name);
            let cert = params.signed_by(&key, &issuer).expect("sign");
            write(&format!("{name}.pem"), cert.pem());
            write(&format!("{name}-key.pem"), key.serialize_pem());
        }
        Pki { dir }
    }

    /// Path of a PEM file: `ca.pem`, `server.pem`, `server-key.pem`,
    /// `client.pem`, `client-key.pem`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn certs(path: &Path) -> Vec<CertificateDer<'static>> {
    let pem = std::fs::read_to_string(path).expect("PEM");
    pem::parse_many(pem)
        .expect("PEM")
        .into_iter()
        .map(|p| CertificateDer::from(p.contents().to_vec()))
        .collect()
}

fn key(path: &Path) -> PrivateKeyDer<'static> {
    let pem = std::fs::read_to_string(path).expect("PEM");
    let p = pem::parse(pem).expect("PEM key");
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(p.contents().to_vec()))
}

/// The running proxy.
pub struct TlsProxy {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
}

impl TlsProxy {
    /// Terminates TLS with the PKI's server certificate and forwards to the
    /// plain-HTTP `upstream`. With `require_client_cert`, connections
    /// without a certificate signed by the CA are refused.
    pub fn start(pki: &Pki, upstream: &str, require_client_cert: bool) -> TlsProxy {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .expect("TLS versions");
        let builder = if require_client_cert {
            let mut roots = RootCertStore::empty();
            for c in certs(&pki.path("ca.pem")) {
                roots.add(c).expect("CA");
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let config = builder
            .with_single_cert(certs(&pki.path("server.pem")), key(&pki.path("server-key.pem")))
            .expect("server cert");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_owned();
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        std_listener.set_nonblocking(true).expect("non-blocking");
        let addr = std_listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen_in = Arc::clone(&seen);
        // Its own thread and runtime, so it works from any test (async or
        // not) and keeps serving while a test blocks.
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("proxy runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
                loop {
                    let Ok((tcp, _)) = listener.accept().await else {
                        continue;
                    };
                    let acceptor = acceptor.clone();
                    let upstream = upstream.clone();
                    let seen = Arc::clone(&seen_in);
                    tokio::spawn(async move {
                        let Ok(tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let Ok(mut up) = tokio::net::TcpStream::connect(&upstream).await else {
                            return;
                        };
                        let (mut tls_r, mut tls_w) = tokio::io::split(tls);
                        let (mut up_r, mut up_w) = up.split();
                        let to_upstream = async {
                            let mut buf = vec![0u8; 16 * 1024];
                            loop {
                                let n = match tls_r.read(&mut buf).await {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => n,
                                };
                                // Connections are kept alive: record every
                                // chunk that starts a request.
                                let chunk = &buf[..n];
                                if [&b"GET "[..], b"POST ", b"PUT ", b"HEAD ", b"DELETE "]
                                    .iter()
                                    .any(|m| chunk.starts_with(m))
                                {
                                    let head = String::from_utf8_lossy(&chunk[..n.min(4096)]).into_owned();
                                    seen.lock().unwrap_or_else(|p| p.into_inner()).push(head);
                                }
                                if up_w.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                            let _ = up_w.shutdown().await;
                        };
                        let to_client = async {
                            let _ = tokio::io::copy(&mut up_r, &mut tls_w).await;
                            let _ = tls_w.shutdown().await;
                        };
                        tokio::join!(to_upstream, to_client);
                    });
                }
            });
        });
        TlsProxy { addr, seen }
    }

    /// `https://localhost:<port>`: the certificate names `localhost`.
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    /// The decrypted start of every request so far.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
