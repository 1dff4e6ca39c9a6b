//! TLS to PostgreSQL, read as specs: given a URL's `sslmode` / `sslrootcert`, when convene
//! connects, then the connection is encrypted (or plain) as libpq would make it, or refused
//! with a message that names the mode and what to do.
//!
//! Against the test server (`CONVENE_TEST_DATABASE_URL`), which must have `ssl = on` — Debian's
//! default, with the self-signed "snakeoil" certificate naming the machine (here `localhost`).
//! The tests that need it are skipped with a note when the server reports `ssl = off`, and
//! fail instead under `CONVENE_REQUIRE_POSTGRES=1` (CI). The specs of a server that offers no
//! TLS at all run against a stand-in on a loopback port that answers the TLS request with `N`,
//! and need no PostgreSQL.

use crate::durability::{agent, free_port, start_serve};
use crate::pg;
use convene_engine::store::{PostgresOptions, PostgresStore, SslMode, StoreError};
use convene_engine::{Actor, EventStore, ExpectedVersion, NewEvent};
use serde_json::json;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

static SKIP_NOTICE: Once = Once::new();

/// The test server's URL and the certificate file it presents (`ssl_cert_file`), or `None`
/// (after a note on the terminal) when there is no test server or its `ssl` is off. Panics
/// under `CONVENE_REQUIRE_POSTGRES=1` when TLS cannot be tested.
pub async fn server() -> Option<(String, PathBuf)> {
    let url = pg::url()?;
    let client = PostgresOptions::from_url(&url)
        .expect("the test URL parses")
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test database: {e}"));
    let ssl: String = client.query_one("SHOW ssl", &[]).await.expect("SHOW ssl").get(0);
    let cert: String = client.query_one("SHOW ssl_cert_file", &[]).await.expect("SHOW ssl_cert_file").get(0);
    let cert = PathBuf::from(cert);
    let problem = if ssl != "on" {
        Some("the test server reports ssl = off".to_string())
    } else if std::fs::read(&cert).is_err() {
        Some(format!("the server's certificate {} cannot be read here", cert.display()))
    } else {
        None
    };
    match problem {
        None => Some((url, cert)),
        Some(p) => {
            if std::env::var(pg::REQUIRE_VAR).is_ok_and(|v| v == "1") {
                panic!(
                    "{}=1 but TLS cannot be tested: {p} (turn ssl on, as Debian's PostgreSQL has it)",
                    pg::REQUIRE_VAR
                );
            }
            SKIP_NOTICE.call_once(|| {
                let _ = writeln!(std::io::stderr(), "\nnote: PostgreSQL TLS tests SKIPPED: {p}\n");
            });
            None
        }
    }
}

/// `url` with more query parameters.
fn with(url: &str, params: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{params}")
}

/// `url` with its host replaced by `host`.
fn with_host(url: &str, host: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (userinfo, rest) = match rest.split_once('@') {
        Some((u, r)) => (format!("{u}@"), r),
        None => (String::new(), rest),
    };
    let after_host = rest.find([':', '/', '?']).map(|i| &rest[i..]).unwrap_or("");
    format!("{scheme}://{userinfo}{host}{after_host}")
}

fn unique_app() -> String {
    format!("convene-tls-{}", uuid::Uuid::now_v7().simple())
}

/// Connects through convene's connector (the one every store connection uses) and asks the
/// server whether this very connection is encrypted.
async fn connection_is_encrypted(url: &str) -> Result<bool, StoreError> {
    let client = PostgresOptions::from_url(url)?.connect().await?;
    Ok(client
        .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
        .await
        .expect("pg_stat_ssl")
        .get(0))
}

/// (backends, encrypted backends) of the sessions with `application_name = app`.
async fn backends_of(observer: &tokio_postgres::Client, app: &str) -> (i64, i64) {
    let row = observer
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE s.ssl) FROM pg_stat_activity a \
             JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = $1",
            &[&app],
        )
        .await
        .expect("pg_stat_activity");
    (row.get(0), row.get(1))
}

async fn observer(url: &str) -> tokio_postgres::Client {
    PostgresOptions::from_url(url).expect("URL").connect().await.expect("observer connection")
}

fn event(n: u64) -> NewEvent {
    NewEvent::new("NeedAssessed", &json!({"n": n, "说明": "加密连接"}), Actor::new("社工-1", "social_worker"))
}

fn tls_error(r: Result<bool, StoreError>) -> String {
    match r {
        Err(StoreError::Tls(m)) => m,
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Against the test server
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_encrypts_the_pool_the_writer_and_the_listener() {
    let Some((url, _)) = server().await else { return };
    // Given a store opened with sslmode=require, one pool connection, and a name of its own
    let app = unique_app();
    let schema = pg::unique_schema("tls_require");
    let options = PostgresOptions::from_url(&with(&url, &format!("sslmode=require&application_name={app}")))
        .expect("URL")
        .with_schema(&schema)
        .with_pool_size(1);
    assert_eq!(options.tls.mode(), SslMode::Require);
    let store = PostgresStore::open(options).await.expect("open over TLS");
    // When it appends (writer), reads (pool), and hears of an append by another instance
    // (which only its listener can tell it)
    let mut head = store.head();
    store.append("test-tls", ExpectedVersion::NoStream, vec![event(0)]).await.expect("append");
    assert_eq!(store.read_all(0, 10).await.expect("read").len(), 1);
    let other = PostgresStore::open(pg::options(&url, &schema)).await.expect("another instance");
    other.append("test-tls", ExpectedVersion::Exact(0), vec![event(1)]).await.expect("append elsewhere");
    other.close().await;
    tokio::time::timeout(Duration::from_secs(5), head.wait_for(|h| *h >= 2))
        .await
        .expect("the listener hears the other instance's append")
        .expect("watch");
    // Then its three connections are there, and every one of them is encrypted
    let observer = observer(&url).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let (all, encrypted) = loop {
        let (all, encrypted) = backends_of(&observer, &app).await;
        // The setup connections of `open` end on their own; the pool, the writer and the
        // listener stay.
        if all == 3 || Instant::now() > deadline {
            break (all, encrypted);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(all, 3, "pool + writer + listener");
    assert_eq!(encrypted, 3, "every connection of the store uses TLS");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_connects_encrypted_without_checking_the_certificate() {
    let Some((url, _)) = server().await else { return };
    // Given sslmode=require (the self-signed certificate is trusted by nobody), when convene connects
    // Then the connection is encrypted
    assert!(connection_is_encrypted(&with(&url, "sslmode=require")).await.expect("require connects"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_sslmode_the_default_prefer_encrypts_when_the_server_offers_tls() {
    let Some((url, _)) = server().await else { return };
    let options = PostgresOptions::from_url(&url).expect("URL");
    assert_eq!(options.tls.mode(), SslMode::Prefer);
    assert!(!options.tls.is_explicit());
    assert!(connection_is_encrypted(&url).await.expect("prefer connects"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_connects_plain() {
    let Some((url, _)) = server().await else { return };
    assert!(!connection_is_encrypted(&with(&url, "sslmode=disable")).await.expect("disable connects"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_ca_with_the_servers_certificate_as_root_connects() {
    let Some((url, cert)) = server().await else { return };
    // Given the certificate the server presents as the trusted root
    let url = with(&url, &format!("sslmode=verify-ca&sslrootcert={}", cert.display()));
    // When convene connects to 127.0.0.1 (a name the certificate does not list), then the
    // chain verifies and verify-ca does not check the name
    assert!(connection_is_encrypted(&url).await.expect("verify-ca connects"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_with_sslrootcert_checks_the_chain_as_verify_ca() {
    let Some((url, cert)) = server().await else { return };
    let good = with(&url, &format!("sslmode=require&sslrootcert={}", cert.display()));
    assert!(connection_is_encrypted(&good).await.expect("the server's own root verifies"));
    let bad = with(&url, &format!("sslmode=require&sslrootcert={}", unrelated_ca().display()));
    let m = tls_error(connection_is_encrypted(&bad).await);
    assert!(m.contains("sslmode=require + sslrootcert"), "{m}");
}

fn unrelated_ca() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/unrelated-ca.pem")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_ca_with_a_root_that_did_not_sign_the_certificate_is_refused_clearly() {
    let Some((url, _)) = server().await else { return };
    // Given a CA that signed nothing the server has
    let url = with(&url, &format!("sslmode=verify-ca&sslrootcert={}", unrelated_ca().display()));
    // When convene connects, then it refuses, in zh-CN and English, naming the mode, the
    // roots and what to do
    let m = tls_error(connection_is_encrypted(&url).await);
    for part in [
        "证书未通过验证",
        "不是由受信任的 CA 签发的",
        "sslmode=verify-ca",
        "not signed by a trusted certificate authority",
        &format!("sslrootcert={}", unrelated_ca().display()),
        "give the CA certificate that signed the server's certificate",
    ] {
        assert!(m.contains(part), "{part:?} missing from: {m}");
    }
    assert!(m.find("证书").unwrap() < m.find("certificate").unwrap(), "zh-CN first: {m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_by_ip_address_is_refused_and_by_the_certificates_name_connects() {
    let Some((url, cert)) = server().await else { return };
    // Given the server's certificate as root, and the server reached by 127.0.0.1
    let url = with_host(&url, "127.0.0.1");
    let full = with(&url, &format!("sslmode=verify-full&sslrootcert={}", cert.display()));
    // When convene connects with verify-full, then the host name check refuses the connection
    let m = tls_error(connection_is_encrypted(&full).await);
    for part in ["不是签发给 127.0.0.1 的", "sslmode=verify-full", "is not valid for 127.0.0.1", "sslmode=verify-ca"]
    {
        assert!(m.contains(part), "{part:?} missing from: {m}");
    }
    // And connecting by a name the certificate lists (when that name resolves to this machine)
    // succeeds
    let names = m
        .split_once("(it names: ")
        .and_then(|(_, r)| r.split_once(')'))
        .map(|(n, _)| n.split(", ").map(str::to_string).collect::<Vec<_>>())
        .unwrap_or_default();
    assert!(!names.is_empty(), "the message lists the certificate's names: {m}");
    let local = names.iter().find(|n| {
        use std::net::ToSocketAddrs;
        !n.contains('*') && (n.as_str(), 5432).to_socket_addrs().is_ok_and(|mut a| a.any(|a| a.ip().is_loopback()))
    });
    let Some(name) = local else {
        let _ = writeln!(
            std::io::stderr(),
            "note: no name of the certificate ({names:?}) resolves here; verify-full by name not tried"
        );
        return;
    };
    let by_name = with(&with_host(&url, name), &format!("sslmode=verify-full&sslrootcert={}", cert.display()));
    assert!(connection_is_encrypted(&by_name).await.expect("verify-full by the certificate's name connects"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_without_sslrootcert_uses_the_system_trust_store() {
    let Some((url, _)) = server().await else { return };
    let options = PostgresOptions::from_url(&with(&url, "sslmode=verify-full")).expect("URL");
    assert_eq!(options.tls.roots(), Some(&convene_engine::store::RootCerts::System));
    // 127.0.0.1 is in no certificate: whatever the system trusts, this is refused.
    let m = tls_error(connection_is_encrypted(&with(&with_host(&url, "127.0.0.1"), "sslmode=verify-full")).await);
    assert!(m.contains("sslmode=verify-full"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secrets_and_the_lease_connect_with_the_urls_tls_too() {
    let Some((url, _)) = server().await else { return };
    // Given a URL with sslmode=require and a name of its own
    let app = unique_app();
    let schema = pg::unique_schema("tls_secrets");
    let options = PostgresOptions::from_url(&with(&url, &format!("sslmode=require&application_name={app}")))
        .expect("URL")
        .with_schema(&schema);
    // When the secrets and a lease connect
    let secrets = convene_engine::store::PgSecrets::open(&options).await.expect("secrets over TLS");
    use convene_engine::secrets::Secrets;
    secrets.key_or_insert("p-1", &[7; 32]).await.expect("a key");
    let leases = convene_engine::lease::PgLeases::new(&options);
    use convene_engine::lease::LeaseProvider;
    let lease = leases.try_acquire("tls-test").await.expect("try").expect("held");
    // Then all their connections are encrypted
    let observer = observer(&url).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (all, encrypted) = backends_of(&observer, &app).await;
        // The secrets' pool (one connection after one call) and the lease's session.
        if all == 2 || Instant::now() > deadline {
            assert_eq!((all, encrypted), (2, 2), "secrets pool + lease, both encrypted");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(lease);
}

#[test]
fn serve_with_sslmode_require_runs_over_tls_and_with_a_failing_verify_full_says_why() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let Some((url, _)) = rt.block_on(server()) else { return };
    // Given `convene serve` on a fresh schema with sslmode=require and a name of its own
    let app = unique_app();
    let schema = pg::unique_schema("tls_serve");
    let db = with(&pg::url_with_schema(&url, &schema), &format!("sslmode=require&application_name={app}"));
    let data = tempfile::tempdir().expect("temporary directory");
    let server = start_serve(data.path(), free_port(), &[("CONVENE_DATABASE_URL", &db), ("CONVENE_DB_POOL_SIZE", "2")]);
    // When a client raises an issue through it
    let mut r = agent()
        .post(&format!("{}/v1/issues", server.base))
        .send_json(json!({
            "workflow_id": "community-issue",
            "actor": {"id": "r-1", "role": "resident"},
            "community": "wuhan/wuchang/zhongnan-street/dongting-community",
            "title": {"zh-CN": "加密连接的议题"},
            "category": "other",
            "households_affected": 3,
            "raised_by": {"name": "居民"}
        }))
        .expect("POST /v1/issues");
    assert_eq!(r.status(), 201, "{:?}", r.body_mut().read_to_string());
    // Then every connection the server holds to PostgreSQL is encrypted (pool, writer,
    // listener, leader lease, secrets), and there are at least those
    let (all, encrypted) = rt.block_on(async {
        let observer = observer(&url).await;
        backends_of(&observer, &app).await
    });
    assert!(all >= 4, "pool, writer, listener, lease and secrets connections: {all}");
    assert_eq!(encrypted, all, "every connection of convene serve uses TLS");
    drop(server);

    // And given verify-full to 127.0.0.1, whose name the certificate does not list, serve
    // refuses to start and says why, in both languages
    let db = with_host(&with(&pg::url_with_schema(&url, &schema), "sslmode=verify-full"), "127.0.0.1");
    let out = Command::new(crate::durability::convene_bin())
        .arg("--data")
        .arg(data.path())
        .args(["serve", "--insecure-dev", "--bind", &format!("127.0.0.1:{}", free_port())])
        .env("CONVENE_DATABASE_URL", &db)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run convene serve");
    assert!(!out.status.success(), "serve must not start");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("sslmode=verify-full") && stderr.contains("证书"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// Against a stand-in server that offers no TLS (no PostgreSQL needed)
// ---------------------------------------------------------------------------------------------

/// The code of PostgreSQL's SSLRequest message.
const SSL_REQUEST: u32 = 80_877_103;
/// Protocol 3.0 of a StartupMessage.
const PROTOCOL_3: u32 = 196_608;

/// A loopback port that answers one connection's SSLRequest with `N` (no TLS here) and reports
/// the codes of the first messages the client sent (SSLRequest, then StartupMessage).
fn no_tls_server() -> (u16, std::thread::JoinHandle<Vec<u32>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handle = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let mut codes = Vec::new();
        for _ in 0..2 {
            let mut head = [0u8; 8];
            if s.read_exact(&mut head).is_err() {
                break;
            }
            let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
            let code = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
            let mut rest = vec![0u8; len.saturating_sub(8)];
            let _ = s.read_exact(&mut rest);
            codes.push(code);
            if code == SSL_REQUEST {
                s.write_all(b"N").expect("answer N");
            } else {
                break;
            }
        }
        codes
    });
    (port, handle)
}

fn stand_in_url(port: u16, params: &str) -> String {
    format!("postgres://convene:convene@127.0.0.1:{port}/convene?connect_timeout=5&{params}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_against_a_server_without_tls_is_refused_clearly() {
    for mode in ["require", "verify-ca", "verify-full"] {
        // Given a server that offers no TLS
        let (port, server) = no_tls_server();
        // When convene connects with a mode that requires TLS
        let r = PostgresOptions::from_url(&stand_in_url(port, &format!("sslmode={mode}")))
            .expect("URL")
            .connect()
            .await
            .map(|_| ());
        // Then it refuses, naming the mode and the fix, zh-CN first, and sends nothing plain
        let m = match r {
            Err(StoreError::Tls(m)) => m,
            other => panic!("{mode}: expected a TLS error, got {other:?}"),
        };
        for part in ["不提供 TLS", &format!("sslmode={mode}"), "does not offer TLS", "ssl = on"] {
            assert!(m.contains(part), "{part:?} missing from: {m}");
        }
        assert!(m.find("不提供").unwrap() < m.find("does not offer").unwrap());
        assert_eq!(server.join().expect("stand-in"), vec![SSL_REQUEST], "{mode}: no startup message in plain");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefer_falls_back_to_plain_when_the_server_offers_no_tls() {
    // Given a server that offers no TLS, when convene connects with the default (prefer)
    let (port, server) = no_tls_server();
    let _ = PostgresOptions::from_url(&stand_in_url(port, "")).expect("URL").connect().await;
    // Then it asked for TLS, and on `N` went on in plain with its startup message
    assert_eq!(server.join().expect("stand-in"), vec![SSL_REQUEST, PROTOCOL_3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_never_asks_for_tls() {
    let (port, server) = no_tls_server();
    let _ = PostgresOptions::from_url(&stand_in_url(port, "sslmode=disable")).expect("URL").connect().await;
    assert_eq!(server.join().expect("stand-in"), vec![PROTOCOL_3]);
}

// ---------------------------------------------------------------------------------------------
// The URL
// ---------------------------------------------------------------------------------------------

fn invalid(url: &str) -> String {
    match PostgresOptions::from_url(url) {
        Err(StoreError::Invalid(m)) => m,
        other => panic!("{url}: expected an invalid URL, got {other:?}"),
    }
}

#[test]
fn the_url_carries_libpqs_ssl_parameters() {
    let base = "postgres://u:p@db.example:5432/convene";
    for (q, mode) in [
        ("", SslMode::Prefer),
        ("?sslmode=disable", SslMode::Disable),
        ("?sslmode=prefer", SslMode::Prefer),
        ("?sslmode=require", SslMode::Require),
        ("?schema=s1&sslmode=verify-ca&sslrootcert=CA", SslMode::VerifyCa),
    ] {
        let q = q.replace("CA", &unrelated_ca().display().to_string());
        let o = PostgresOptions::from_url(&format!("{base}{q}")).unwrap_or_else(|e| panic!("{q}: {e}"));
        assert_eq!(o.tls.mode(), mode, "{q}");
    }
    // sslrootcert is a path, percent-decoded like every URL parameter
    let o = PostgresOptions::from_url(&format!(
        "{base}?sslmode=verify-full&sslrootcert={}",
        unrelated_ca().display().to_string().replace('/', "%2F")
    ))
    .expect("URL");
    assert_eq!(o.tls.roots(), Some(&convene_engine::store::RootCerts::File(unrelated_ca())));
    assert!(format!("{o:?}").contains("verify-full"), "the mode is in the options' description");
}

#[test]
fn unusable_ssl_parameters_are_refused_with_what_to_use() {
    let base = "postgres://u:p@db.example:5432/convene";
    let m = invalid(&format!("{base}?sslmode=allow"));
    assert!(m.contains("sslmode=allow") && m.contains("prefer"), "{m}");
    let m = invalid(&format!("{base}?sslmode=verify_full"));
    assert!(m.contains("verify-full"), "{m}");
    let m = invalid(&format!("{base}?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem"));
    assert!(m.contains("无法读取 sslrootcert=/nonexistent/ca.pem") && m.contains("cannot read"), "{m}");
    let empty = tempfile::NamedTempFile::new().expect("temp file");
    let m = invalid(&format!("{base}?sslmode=verify-ca&sslrootcert={}", empty.path().display()));
    assert!(m.contains("no usable CA certificate"), "{m}");
    let m = invalid(&format!("{base}?sslcert=/c.pem&sslkey=/k.pem"));
    assert!(m.contains("sslcert") && m.contains("not supported"), "{m}");
}

/// No code of the product opens a PostgreSQL connection except through the store's connector,
/// so no path can stay plain (or unverified) by accident.
#[test]
fn every_connection_of_the_product_goes_through_the_connector() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let connector = Path::new("engine/src/store/postgres/mod.rs");
    let mut offences = Vec::new();
    let mut stack = vec![root.join("engine/src"), root.join("api/src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&root).expect("under the workspace").to_path_buf();
            let text = std::fs::read_to_string(&path).expect("read");
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                let anywhere = ["NoTls", "tokio_postgres::connect", "postgres::connect("];
                let outside_connector = ["Manager::from_config", ".connect(self.make_tls", "config.connect("];
                let bad = anywhere.iter().any(|p| code.contains(p))
                    || (rel != connector && outside_connector.iter().any(|p| code.contains(p)));
                if bad {
                    offences.push(format!("{}:{}: {}", rel.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(offences.is_empty(), "connections made around the connector:\n{}", offences.join("\n"));
}

/// A whole store over `sslmode=require` for the conformance suite (`store_conformance.rs`).
pub struct PostgresTls;

impl crate::store_conformance::StoreFactory for PostgresTls {
    fn open(&self, dir: &Path) -> Arc<dyn EventStore> {
        let url = pg::url().expect("the TLS suite runs only when the URL is set");
        let digest =
            uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, dir.to_string_lossy().as_bytes()).simple().to_string();
        let schema = format!("convene_tls_{}", &digest[..20]);
        let options = pg::options(&with(&url, "sslmode=require"), &schema);
        assert_eq!(options.tls.mode(), SslMode::Require);
        let store =
            tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(PostgresStore::open(options)))
                .unwrap_or_else(|e| panic!("cannot open the PostgreSQL store over TLS (schema {schema}): {e}"));
        Arc::new(store)
    }
}

/// Whether the TLS conformance run can run (a server with `ssl = on`); see [`server`].
pub fn available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        std::thread::spawn(|| tokio::runtime::Runtime::new().expect("runtime").block_on(server()).is_some())
            .join()
            .expect("probe")
    })
}
