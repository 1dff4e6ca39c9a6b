//! TLS to PostgreSQL: libpq's `sslmode` and `sslrootcert`, over rustls (ring provider).
//!
//! Every connection convene makes to PostgreSQL — the read pool, the writer, the LISTEN
//! listener, the leader lease, the secrets pool, schema setup, `convene migrate`, `convene
//! bench`'s clean-up — goes through [`super::Connector`], which takes its TLS from the
//! [`TlsOptions`] of the store URL. No other code in the engine or the binary opens a
//! connection (a test in `tests/src/pg_tls.rs` keeps it so).
//!
//! | `sslmode` | encrypted | certificate checked |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (**the default**, as libpq's) | when the server offers TLS, else plain | no (with `sslrootcert`: the chain, as `verify-ca`) |
//! | `require` | always, else refused | no (with `sslrootcert`: the chain, as `verify-ca`, like libpq) |
//! | `verify-ca` | always | chain up to a trusted root |
//! | `verify-full` | always | chain, and the host name (or IP address) of the URL |
//!
//! Trusted roots: `sslrootcert=/path/ca.pem` (every PEM certificate in the file), or
//! `sslrootcert=system` (the operating system's store, as OpenSSL finds it: `SSL_CERT_FILE` /
//! `SSL_CERT_DIR`, else `/etc/ssl/certs`). Without `sslrootcert`, `verify-ca` and `verify-full`
//! use the system store (libpq would read `~/.postgresql/root.crt`, which a service rarely
//! has). Where convene differs from libpq, on purpose: `prefer` falls back to a plain
//! connection only when the server says it offers no TLS; a TLS handshake that fails (a
//! certificate that does not verify against a given `sslrootcert`) is an error, not a silent
//! retry in plain text that an attacker in the middle could provoke. `allow` is not supported
//! (use `prefer` or `disable`), nor are client certificates (`sslcert`, `sslkey`). Over a Unix
//! socket there is no TLS, whatever the mode (as in libpq).

use super::StoreError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_cert_signed_by_trust_anchor};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// libpq's `sslmode`, the modes convene supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Never TLS.
    Disable,
    /// TLS when the server offers it, plain otherwise (libpq's default, and convene's).
    #[default]
    Prefer,
    /// TLS or no connection; the certificate is not checked (unless `sslrootcert` is given).
    Require,
    /// TLS, with a certificate chain up to a trusted root.
    VerifyCa,
    /// TLS, with a trusted chain and a certificate issued for the host connected to.
    VerifyFull,
}

impl SslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// Parses a URL's `sslmode` value.
    pub fn parse(s: &str) -> Result<SslMode, StoreError> {
        match s {
            "disable" => Ok(SslMode::Disable),
            "prefer" => Ok(SslMode::Prefer),
            "require" => Ok(SslMode::Require),
            "verify-ca" => Ok(SslMode::VerifyCa),
            "verify-full" => Ok(SslMode::VerifyFull),
            "allow" => Err(StoreError::Invalid(
                "sslmode=allow 不受支持：请用 prefer（能加密就加密）或 disable / \
                 sslmode=allow is not supported: use prefer (encrypt when the server offers TLS) or disable"
                    .into(),
            )),
            other => Err(StoreError::Invalid(format!(
                "未知的 sslmode={other:?}：可用 disable、prefer、require、verify-ca、verify-full / \
                 unknown sslmode={other:?}: use disable, prefer, require, verify-ca or verify-full"
            ))),
        }
    }

    /// Whether this mode refuses a connection without TLS.
    pub fn requires_tls(self) -> bool {
        matches!(self, SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

impl std::fmt::Display for SslMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the trusted roots come from (`sslrootcert`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCerts {
    /// Every PEM certificate in this file.
    File(PathBuf),
    /// The operating system's trust store (`sslrootcert=system`, and the default of the
    /// `verify-*` modes).
    System,
}

impl RootCerts {
    fn describe(&self) -> String {
        match self {
            RootCerts::File(p) => format!("sslrootcert={}", p.display()),
            RootCerts::System => "系统信任库 / the system's trust store".into(),
        }
    }
}

/// What the certificate check amounts to, given the mode and the roots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// Encrypted, the server not authenticated (`prefer`, `require`).
    None,
    /// The chain up to a trusted root (`verify-ca`; `require`/`prefer` with `sslrootcert`).
    Chain,
    /// The chain and the host name (`verify-full`).
    ChainAndHost,
}

/// The TLS settings of a PostgreSQL URL, with the rustls configuration made from them (roots
/// read once, when the URL is parsed).
#[derive(Clone)]
pub struct TlsOptions {
    mode: SslMode,
    /// Whether the URL named the mode (else [`SslMode::Prefer`], the default).
    explicit: bool,
    roots: Option<RootCerts>,
    verification: Verification,
    /// The rustls configuration (made for `disable` too, where it is never used).
    client: Arc<ClientConfig>,
}

impl Default for TlsOptions {
    /// `prefer`, no roots: what a URL without `sslmode` gets.
    fn default() -> TlsOptions {
        TlsOptions::new(SslMode::Prefer, None).expect("prefer without roots") // cannot fail: no roots to read, and ring has the default protocol versions
    }
}

impl std::fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsOptions")
            .field("sslmode", &self.mode.as_str())
            .field("sslrootcert", &self.roots)
            .field("verification", &self.verification)
            .finish()
    }
}

impl TlsOptions {
    /// Settings for `mode` with the roots of `sslrootcert` (`None`: not given). Reads the
    /// roots now; fails with a message naming the file when they cannot be used.
    pub fn new(mode: SslMode, sslrootcert: Option<RootCerts>) -> Result<TlsOptions, StoreError> {
        let verification = match (mode, &sslrootcert) {
            (SslMode::Disable, _) => Verification::None,
            (SslMode::Prefer | SslMode::Require, None) => Verification::None,
            (SslMode::Prefer | SslMode::Require | SslMode::VerifyCa, Some(_)) | (SslMode::VerifyCa, None) => {
                Verification::Chain
            }
            (SslMode::VerifyFull, _) => Verification::ChainAndHost,
        };
        let roots = match verification {
            Verification::None => sslrootcert,
            _ => Some(sslrootcert.unwrap_or(RootCerts::System)),
        };
        let client = Arc::new(client_config(verification, roots.as_ref())?);
        Ok(TlsOptions { mode, explicit: false, roots, verification, client })
    }

    pub(crate) fn explicit(mut self) -> TlsOptions {
        self.explicit = true;
        self
    }

    pub fn mode(&self) -> SslMode {
        self.mode
    }

    /// Whether the URL named the mode.
    pub fn is_explicit(&self) -> bool {
        self.explicit
    }

    /// The roots certificates are checked against (`None`: not checked).
    pub fn roots(&self) -> Option<&RootCerts> {
        match self.verification {
            Verification::None => None,
            _ => self.roots.as_ref(),
        }
    }

    pub fn verification(&self) -> Verification {
        self.verification
    }

    pub(crate) fn client_config(&self) -> &Arc<ClientConfig> {
        &self.client
    }

    /// `sslmode=…` as the operator wrote it (or the default), with what it checks, for messages.
    pub fn describe(&self) -> String {
        let mode = if self.explicit {
            format!("sslmode={}", self.mode)
        } else {
            format!("sslmode={} (默认 / default)", self.mode)
        };
        match (self.mode, self.verification) {
            (SslMode::Prefer | SslMode::Require, Verification::Chain) => {
                format!("{mode} + sslrootcert (按 verify-ca 验证 / verified as verify-ca)")
            }
            _ => mode,
        }
    }
}

/// The crypto provider of every TLS connection to PostgreSQL: ring, named explicitly so that
/// another provider compiled in (the KurrentDB client brings aws-lc-rs) changes nothing.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn client_config(verification: Verification, roots: Option<&RootCerts>) -> Result<ClientConfig, StoreError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Invalid(format!("TLS configuration: {e}")))?;
    let mut config = match verification {
        Verification::None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Verifier { provider, roots: None }))
            .with_no_client_auth(),
        Verification::Chain => {
            let store = Arc::new(load_roots(roots.unwrap_or(&RootCerts::System))?);
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Verifier { provider, roots: Some(store) }))
                .with_no_client_auth()
        }
        Verification::ChainAndHost => {
            let store = Arc::new(load_roots(roots.unwrap_or(&RootCerts::System))?);
            let verifier = WebPkiServerVerifier::builder_with_provider(store, provider)
                .build()
                .map_err(|e| StoreError::Invalid(format!("TLS configuration: {e}")))?;
            builder.with_webpki_verifier(verifier).with_no_client_auth()
        }
    };
    // As libpq 17 does: the protocol name, which a server doing direct TLS negotiation
    // (`sslnegotiation=direct`) requires and any other server ignores.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(config)
}

fn load_roots(roots: &RootCerts) -> Result<RootCertStore, StoreError> {
    let mut store = RootCertStore::empty();
    match roots {
        RootCerts::File(path) => {
            let certs = read_pem_certs(path)?;
            let (added, _ignored) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(StoreError::Invalid(format!(
                    "sslrootcert={} 中没有可用的 CA 证书 / sslrootcert={} holds no usable CA certificate",
                    path.display(),
                    path.display()
                )));
            }
        }
        RootCerts::System => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                let errors: Vec<String> = found.errors.iter().map(|e| e.to_string()).collect();
                return Err(StoreError::Invalid(format!(
                    "系统信任库中没有证书，无法验证 PostgreSQL 服务器证书：请安装 ca-certificates，或用 \
                     sslrootcert=/path/ca.pem 指定签发服务器证书的 CA / the system's trust store holds no \
                     certificate to verify the PostgreSQL server with: install ca-certificates, or give the CA \
                     that signed the server's certificate as sslrootcert=/path/ca.pem{}",
                    if errors.is_empty() { String::new() } else { format!(" ({})", errors.join("; ")) }
                )));
            }
        }
    }
    Ok(store)
}

fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, StoreError> {
    let bytes = std::fs::read(path).map_err(|e| {
        StoreError::Invalid(format!(
            "无法读取 sslrootcert={}：{e} / cannot read sslrootcert={}: {e}",
            path.display(),
            path.display()
        ))
    })?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes).collect::<Result<_, _>>().map_err(|e| {
        StoreError::Invalid(format!(
            "sslrootcert={} 不是 PEM 证书文件：{e} / sslrootcert={} is not a PEM certificate file: {e}",
            path.display(),
            path.display()
        ))
    })?;
    Ok(certs)
}

/// The certificate check of `prefer`/`require` (none) and of `verify-ca` (the chain, not the
/// name). The handshake signature is verified in every case: the server proves it holds the
/// key of the certificate it presented.
#[derive(Debug)]
struct Verifier {
    provider: Arc<CryptoProvider>,
    /// `None`: accept any certificate.
    roots: Option<Arc<RootCertStore>>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = ParsedCertificate::try_from(end_entity)?;
            verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.provider.signature_verification_algorithms.all,
            )?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// The operator's message for a connection that failed because of TLS (`None`: not a TLS
/// failure). zh-CN first, English beside it; names the mode and what to do.
pub(crate) fn explain(e: &tokio_postgres::Error, tls: &TlsOptions, target: &str, host: &str) -> Option<String> {
    let mode = tls.describe();
    if let Some(err) = find_rustls_error(e) {
        return Some(match err {
            rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            ) => {
                let names: Vec<String> = match err {
                    rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
                        presented, ..
                    }) => presented.iter().filter_map(|n| presented_name(n)).collect(),
                    _ => vec![],
                };
                // A certificate with its name only in the subject's CN lists none here: rustls,
                // like browsers, checks subjectAltName only.
                let presented = if names.is_empty() { "-".to_string() } else { names.join(", ") };
                format!(
                    "PostgreSQL 服务器 {target} 的证书不是签发给 {host} 的（证书上的名称：{presented}），{mode} 拒绝连接。\
                     请用证书上列出的名称连接（该名称须能解析到服务器），或改用 sslmode=verify-ca（只验证签发机构，不验证主机名）/ \
                     the certificate of the PostgreSQL server at {target} is not valid for {host} (it names: {presented}), \
                     so {mode} refuses the connection: connect by a name the certificate lists (one that resolves to the \
                     server), or use sslmode=verify-ca to check the issuer only"
                )
            }
            rustls::Error::InvalidCertificate(cert) => {
                let (zh, en) = certificate_reason(cert);
                let roots = tls.roots().map(RootCerts::describe).unwrap_or_else(|| "-".into());
                format!(
                    "PostgreSQL 服务器 {target} 的证书未通过验证（{mode}）：{zh}（信任的根证书：{roots}）。\
                     请用 sslrootcert=/path/ca.pem 给出签发服务器证书的 CA 证书，或在确实可信的网络中改用 sslmode=require（加密但不验证证书）/ \
                     the certificate of the PostgreSQL server at {target} does not verify under {mode}: {en} (trusted roots: {roots}); \
                     give the CA certificate that signed the server's certificate as sslrootcert=/path/ca.pem, or, only on a \
                     network you trust, use sslmode=require (encrypted, certificate not checked)"
                )
            }
            other => format!(
                "与 PostgreSQL 服务器 {target} 的 TLS 握手失败（{mode}）：{other} / \
                 the TLS handshake with the PostgreSQL server at {target} failed under {mode}: {other}"
            ),
        });
    }
    if chain_mentions(e, "server does not support TLS") {
        return Some(format!(
            "PostgreSQL 服务器 {target} 不提供 TLS，而 {mode} 要求加密连接。请在服务器上启用 TLS（postgresql.conf 中 ssl = on，\
             并配置 ssl_cert_file 与 ssl_key_file），或仅在可信网络中改用 sslmode=prefer 或 sslmode=disable / \
             the PostgreSQL server at {target} does not offer TLS, but {mode} requires an encrypted connection: enable TLS \
             on the server (ssl = on in postgresql.conf, with ssl_cert_file and ssl_key_file), or, only on a network you \
             trust, use sslmode=prefer or sslmode=disable"
        ));
    }
    if let Some(io) = find_io_error(e)
        && io.get_ref().is_some_and(|inner| inner.is::<rustls::pki_types::InvalidDnsNameError>())
    {
        return Some(format!(
            "{host} 不能用作 TLS 的服务器名（{mode}）/ {host} cannot be used as the TLS server name under {mode}"
        ));
    }
    None
}

/// A name as rustls reports it (`DnsName("db.example")`, `IpAddress(10.0.0.5)`), as the
/// operator would type it in a URL; `None` for names that cannot be connected to.
fn presented_name(n: &str) -> Option<String> {
    if let Some(dns) = n.strip_prefix("DnsName(\"").and_then(|r| r.strip_suffix("\")")) {
        return Some(dns.to_string());
    }
    if let Some(ip) = n.strip_prefix("IpAddress(").and_then(|r| r.strip_suffix(')')) {
        return Some(ip.to_string());
    }
    (n != "DirectoryName").then(|| n.to_string())
}

fn certificate_reason(e: &CertificateError) -> (String, String) {
    let (zh, en): (&str, &str) = match e {
        CertificateError::UnknownIssuer => {
            ("不是由受信任的 CA 签发的", "it is not signed by a trusted certificate authority")
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => ("证书已过期", "it has expired"),
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            ("证书尚未生效", "it is not valid yet")
        }
        CertificateError::BadSignature => ("证书签名无效", "its signature is invalid"),
        CertificateError::Revoked => ("证书已被吊销", "it has been revoked"),
        CertificateError::BadEncoding => ("证书编码有误", "it is malformed"),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            ("证书不能用于服务器身份验证", "it is not valid for server authentication")
        }
        other => return (format!("{other:?}"), format!("{other:?}")),
    };
    (zh.into(), en.into())
}

fn find_io_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(x) = cur {
        if let Some(io) = x.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cur = x.source();
    }
    None
}

fn find_rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(x) = cur {
        if let Some(r) = x.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        // tokio-rustls reports a handshake failure as an io::Error around the rustls::Error,
        // and io::Error's `source` skips the error it wraps.
        if let Some(r) = x
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|i| i.downcast_ref::<rustls::Error>())
        {
            return Some(r);
        }
        cur = x.source();
    }
    None
}

fn chain_mentions(e: &(dyn std::error::Error + 'static), needle: &str) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(x) = cur {
        if x.to_string().contains(needle) {
            return true;
        }
        cur = x.source();
    }
    false
}

/// Decodes `%XX` in a URL parameter value (paths in `sslrootcert`); malformed escapes stay
/// as they are, and bytes that are not UTF-8 are replaced.
pub(crate) fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_rustls_reports_them_read_as_an_operator_types_them() {
        assert_eq!(presented_name("DnsName(\"db.example.cn\")").as_deref(), Some("db.example.cn"));
        assert_eq!(presented_name("IpAddress(10.0.0.5)").as_deref(), Some("10.0.0.5"));
        assert_eq!(presented_name("DirectoryName"), None);
    }

    #[test]
    fn url_values_are_percent_decoded() {
        assert_eq!(percent_decode("%2Fetc%2Fconvene%2Fca.pem"), "/etc/convene/ca.pem");
        assert_eq!(percent_decode("/plain/path%"), "/plain/path%");
        assert_eq!(percent_decode("%e4%b8%ad.pem"), "中.pem");
    }

    #[test]
    fn what_each_mode_checks() {
        // A CA certificate of the tests (signed nothing; any root does here).
        let ca =
            || Some(RootCerts::File(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/unrelated-ca.pem")));
        let v = |m, r| TlsOptions::new(m, r).expect("roots readable").verification();
        assert_eq!(v(SslMode::Disable, None), Verification::None);
        assert_eq!(v(SslMode::Prefer, None), Verification::None);
        assert_eq!(v(SslMode::Require, None), Verification::None);
        assert_eq!(v(SslMode::Prefer, ca()), Verification::Chain);
        assert_eq!(v(SslMode::Require, ca()), Verification::Chain);
        assert_eq!(v(SslMode::VerifyCa, ca()), Verification::Chain);
        assert_eq!(v(SslMode::VerifyFull, ca()), Verification::ChainAndHost);
    }
}
