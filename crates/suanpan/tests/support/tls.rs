//! TLS for the tests: a throwaway CA and server certificate made with `openssl`, and a
//! rustls client that trusts that CA alone.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::client::{Request, Response};
use super::server::DataDir;

/// Runs `openssl ARGS` in `dir`; `false` only when there is no `openssl` to run.
fn openssl(dir: &DataDir, args: &[&str]) -> bool {
    let output = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir.path())
        .output();
    match output {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => panic!("cannot run openssl: {e}"),
        Ok(out) => {
            assert!(
                out.status.success(),
                "openssl {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            true
        }
    }
}

/// A test CA and a certificate for 127.0.0.1 and localhost signed by it (`ca.pem`,
/// `cert.pem`, `key.pem` in `dir`), made with the `openssl` command; `false` when there is
/// no `openssl`.
pub fn make_certificates(dir: &DataDir) -> bool {
    let extensions = "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n";
    std::fs::write(dir.path().join("leaf.ext"), extensions)
        .unwrap_or_else(|e| panic!("cannot write leaf.ext: {e}"));
    let steps = [
        "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
         -keyout ca.key -out ca.pem -days 2 -subj /CN=suanpan-test-CA",
        "req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
         -keyout key.pem -out leaf.csr -subj /CN=localhost",
        "x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
         -out cert.pem -days 2 -extfile leaf.ext",
    ];
    steps
        .iter()
        .all(|step| openssl(dir, &step.split_whitespace().collect::<Vec<_>>()))
}

/// A client that trusts only the test CA.
pub fn tls_client(ca: &Path) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let ca = CertificateDer::from_pem_file(ca).unwrap_or_else(|e| panic!("bad CA file: {e}"));
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).unwrap_or_else(|e| panic!("bad CA: {e}"));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| panic!("{e}"))
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// Sends one request over a new TLS connection to `localhost`.
pub fn send_tls(
    config: &Arc<rustls::ClientConfig>,
    addr: SocketAddr,
    request: &Request,
) -> Response {
    let name =
        rustls::pki_types::ServerName::try_from("localhost").unwrap_or_else(|e| panic!("{e}"));
    let conn =
        rustls::ClientConnection::new(config.clone(), name).unwrap_or_else(|e| panic!("{e}"));
    let tcp = TcpStream::connect(addr).unwrap_or_else(|e| panic!("{e}"));
    tcp.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    request
        .send_over(&mut stream)
        .unwrap_or_else(|e| panic!("no answer over TLS: {e}"))
}
