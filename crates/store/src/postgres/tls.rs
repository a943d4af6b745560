//! TLS to PostgreSQL, as the URL's `sslmode` asks, with rustls (aws-lc-rs), the provider the
//! workspace already uses for its own server.
//!
//! tokio-postgres knows `disable`, `prefer` and `require` only, and refuses the other libpq
//! parameters, so `sslmode` and `sslrootcert` are taken out of the URL here and the driver is
//! told only whether to ask for TLS. The modes mean what they mean to libpq:
//!
//! - `disable`: plain TCP.
//! - `prefer` (the default): TLS if the server offers it, else plain; the certificate is not
//!   checked (unless `sslrootcert` names a file, which makes it as `verify-ca`).
//! - `require`: TLS or no connection; the certificate is checked as for `prefer`.
//! - `verify-ca`: TLS, and the certificate must chain to a trusted root.
//! - `verify-full`: as `verify-ca`, and the certificate must name the host connected to.
//!
//! The trusted roots are the file `sslrootcert` names (PEM), or the platform's
//! (`sslrootcert=system`, or none given).

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::SslMode as DriverSslMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

use crate::postgres::PgError;

/// The URL's `sslmode`, as libpq names it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(text: &str) -> Result<SslMode, PgError> {
        match text {
            "disable" => Ok(SslMode::Disable),
            "prefer" => Ok(SslMode::Prefer),
            "require" => Ok(SslMode::Require),
            "verify-ca" => Ok(SslMode::VerifyCa),
            "verify-full" => Ok(SslMode::VerifyFull),
            // libpq's `allow` tries plain first: a downgrade we do not offer.
            other => Err(PgError::Io(format!(
                "bad PostgreSQL URL: sslmode {other:?} is not one of disable, prefer, require, verify-ca, verify-full"
            ))),
        }
    }
}

/// A PostgreSQL URL split into what the driver reads and how to make its TLS.
pub struct PgUrl {
    pub config: tokio_postgres::Config,
    pub tls: PgTls,
}

/// Parses a URL (`postgres://…?sslmode=verify-full&sslrootcert=ca.pem`, or the `key=value`
/// form), taking out the TLS parameters the driver does not know.
pub fn parse_url(url: &str) -> Result<PgUrl, PgError> {
    let (rest, mode, root) = split_tls_params(url);
    let mode = SslMode::parse(mode.as_deref().unwrap_or("prefer"))?;
    let mut config: tokio_postgres::Config = rest
        .parse()
        .map_err(|e| PgError::Io(format!("bad PostgreSQL URL: {e}")))?;
    config.ssl_mode(match mode {
        SslMode::Disable => DriverSslMode::Disable,
        SslMode::Prefer => DriverSslMode::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => DriverSslMode::Require,
    });
    let roots = match root.as_deref() {
        None | Some("system") => Roots::Platform,
        Some(file) => Roots::File(PathBuf::from(file)),
    };
    let check = match (mode, &roots) {
        (SslMode::Disable, _) => None,
        (SslMode::VerifyFull, _) => Some(Check::Full),
        (SslMode::VerifyCa, _) | (_, Roots::File(_)) => Some(Check::Ca),
        (SslMode::Prefer | SslMode::Require, Roots::Platform) => Some(Check::Encryption),
    };
    let tls = match check {
        None => PgTls { config: None },
        Some(check) => PgTls {
            config: Some(Arc::new(client_config(check, &roots)?)),
        },
    };
    Ok(PgUrl { config, tls })
}

/// Takes `sslmode` and `sslrootcert` out of a URL's query (or a `key=value` string).
fn split_tls_params(url: &str) -> (String, Option<String>, Option<String>) {
    let (mut mode, mut root) = (None, None);
    let mut take = |pair: &str| -> bool {
        match pair.split_once('=') {
            Some(("sslmode", v)) => mode = Some(v.to_string()),
            Some(("sslrootcert", v)) => root = Some(percent_decode(v)),
            _ => return false,
        }
        true
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return (url.to_string(), None, None);
        };
        let kept: Vec<&str> = query.split('&').filter(|p| !take(p)).collect();
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        (rest, mode, root)
    } else {
        let kept: Vec<&str> = url.split_whitespace().filter(|p| !take(p)).collect();
        (kept.join(" "), mode, root)
    }
}

/// `%XX` escapes in a URL's value (a file path may hold `/` written as `%2F`).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

enum Roots {
    Platform,
    File(PathBuf),
}

#[derive(Clone, Copy)]
enum Check {
    /// The session is encrypted, the server not authenticated (libpq's `require`).
    Encryption,
    Ca,
    Full,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn client_config(check: Check, roots: &Roots) -> Result<ClientConfig, PgError> {
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> = match check {
        Check::Encryption => Arc::new(EncryptionOnly(provider.clone())),
        Check::Ca | Check::Full => {
            let webpki = WebPkiServerVerifier::builder_with_provider(
                Arc::new(root_store(roots)?),
                provider.clone(),
            )
            .build()
            .map_err(|e| PgError::Io(format!("PostgreSQL TLS roots: {e}")))?;
            match check {
                Check::Full => webpki,
                _ => Arc::new(AnyName(webpki)),
            }
        }
    };
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PgError::Io(format!("PostgreSQL TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

fn root_store(roots: &Roots) -> Result<RootCertStore, PgError> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::File(path) => {
            let shown = path.display();
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| PgError::Io(format!("cannot read sslrootcert {shown}: {e}")))?;
            for cert in certs {
                let cert =
                    cert.map_err(|e| PgError::Io(format!("bad sslrootcert {shown}: {e}")))?;
                store.add(cert).map_err(|e| {
                    PgError::Io(format!("bad certificate in sslrootcert {shown}: {e}"))
                })?;
            }
        }
        Roots::Platform => {
            // Unreadable entries are skipped, as every client of the platform's store does.
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
        }
    }
    if store.is_empty() {
        return Err(PgError::Io(
            "no trusted root certificate for PostgreSQL TLS (sslrootcert)".into(),
        ));
    }
    Ok(store)
}

/// `verify-ca`: the chain must reach a trusted root, whatever host name it names.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            // The name is checked last, once the chain and dates are good.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer` and `require` without roots: any certificate, though the handshake's signatures
/// are still checked (the session is then private to whoever holds that certificate's key).
#[derive(Debug)]
struct EncryptionOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptionOnly {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// What tokio-postgres calls to wrap each new connection in TLS (none for `disable`, whose
/// driver mode never asks).
#[derive(Clone)]
pub struct PgTls {
    config: Option<Arc<ClientConfig>>,
}

impl<S> MakeTlsConnect<S> for PgTls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = PgTlsStream<S>;
    type TlsConnect = PgTlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<PgTlsConnect, io::Error> {
        let name = ServerName::try_from(domain.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(PgTlsConnect {
            config: self.config.clone(),
            name,
        })
    }
}

/// One connection's TLS. The driver makes one for every connection, `disable` included, and
/// uses it only when its mode asks for TLS.
pub struct PgTlsConnect {
    config: Option<Arc<ClientConfig>>,
    name: ServerName<'static>,
}

type Handshake<S> = Pin<Box<dyn Future<Output = io::Result<PgTlsStream<S>>> + Send>>;

impl<S> TlsConnect<S> for PgTlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = PgTlsStream<S>;
    type Error = io::Error;
    type Future = Handshake<S>;

    fn connect(self, stream: S) -> Handshake<S> {
        Box::pin(async move {
            let config = self.config.ok_or_else(|| {
                io::Error::other("TLS asked for with sslmode=disable (a bug in Suanpan)")
            })?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(self.name, stream)
                .await?;
            Ok(PgTlsStream(tls))
        })
    }
}

pub struct PgTlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for PgTlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        // SCRAM's channel binding is not offered: the server is authenticated by the
        // certificate check above, not by the password exchange.
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for PgTlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for PgTlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tls_parameters_leave_the_url_and_the_rest_stays() {
        let (rest, mode, root) = split_tls_params(
            "postgres://u@h:5432/d?sslmode=verify-full&options=-csearch_path%3Ds&sslrootcert=%2Ftmp%2Fca.pem",
        );
        assert_eq!(rest, "postgres://u@h:5432/d?options=-csearch_path%3Ds");
        assert_eq!(mode.as_deref(), Some("verify-full"));
        assert_eq!(root.as_deref(), Some("/tmp/ca.pem"));
        let (rest, mode, root) = split_tls_params("host=h dbname=d sslmode=disable");
        assert_eq!(
            (rest.as_str(), mode.as_deref(), root),
            ("host=h dbname=d", Some("disable"), None)
        );
    }

    #[test]
    fn an_unknown_sslmode_is_refused_in_one_sentence() {
        let err = parse_url("postgres://u@h/d?sslmode=allow").err();
        assert!(err.is_some_and(|e| e.to_string().contains("sslmode \"allow\"")));
        let err = parse_url("postgres://u@h/d?sslmode=verify-ca&sslrootcert=/nonexistent").err();
        assert!(err.is_some_and(|e| e.to_string().contains("sslrootcert /nonexistent")));
    }
}
