//! A TCP proxy between `convene serve` and PostgreSQL that a test can break on purpose: cut
//! every connection, refuse new ones for a while (a server restart or a fail-over as the
//! client sees it), or let a `COMMIT` through and lose its reply (the connection dies after
//! the commit landed, before the client heard of it).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A `COMMIT` sent in PostgreSQL's simple-query protocol, as tokio-postgres sends it at the end
/// of a transaction: message `Q`, length 11 (4 + "COMMIT\0"), the text.
const COMMIT: &[u8] = b"Q\0\0\0\x0bCOMMIT\0";

struct Shared {
    upstream: SocketAddr,
    /// New connections are closed at once while set.
    refusing: AtomicBool,
    /// Nothing is relayed either way while set, and nothing is closed: a network partition
    /// (packets dropped silently) as both ends see it.
    frozen: AtomicBool,
    /// The next connection to send a COMMIT loses the reply and the connection.
    lose_next_commit: AtomicBool,
    /// ... and from then on new connections are refused (the server went down right after).
    refuse_after_lost_commit: AtomicBool,
    /// COMMITs whose reply is lost so far (counted as the COMMIT is passed on).
    lost_commits: AtomicUsize,
    /// Both ends of every live connection, to cut them all.
    live: Mutex<Vec<(TcpStream, TcpStream)>>,
}

/// The proxy; its thread runs until the test process ends.
pub(crate) struct TcpProxy {
    shared: Arc<Shared>,
    pub port: u16,
}

impl TcpProxy {
    /// Listens on a free local port and forwards each connection to `upstream`.
    pub(crate) fn start(upstream: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let shared = Arc::new(Shared {
            upstream,
            refusing: AtomicBool::new(false),
            frozen: AtomicBool::new(false),
            lose_next_commit: AtomicBool::new(false),
            refuse_after_lost_commit: AtomicBool::new(false),
            lost_commits: AtomicUsize::new(0),
            live: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if s.refusing.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(s.upstream) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                pipe(&s, client, server);
            }
        });
        TcpProxy { shared, port }
    }

    /// Cuts every open connection (both ends).
    pub(crate) fn cut_all(&self) {
        let live = std::mem::take(&mut *self.shared.live.lock().unwrap());
        for (a, b) in live {
            let _ = a.shutdown(Shutdown::Both);
            let _ = b.shutdown(Shutdown::Both);
        }
    }

    /// While `on`, nothing passes either way on any connection, old or new, and none is
    /// closed: the database is silent, as behind a partition.
    pub(crate) fn freeze(&self, on: bool) {
        self.shared.frozen.store(on, Ordering::SeqCst);
    }

    /// While `on`, new connections are closed as soon as they are accepted.
    pub(crate) fn refuse(&self, on: bool) {
        self.shared.refusing.store(on, Ordering::SeqCst);
    }

    /// The next COMMIT is delivered to the server, then its connection is cut before the
    /// reply reaches the client.
    pub(crate) fn lose_next_commit_reply(&self) {
        self.shared.refuse_after_lost_commit.store(false, Ordering::SeqCst);
        self.shared.lose_next_commit.store(true, Ordering::SeqCst);
    }

    /// As [`TcpProxy::lose_next_commit_reply`], and new connections are refused from that
    /// moment until [`TcpProxy::refuse`]`(false)`: the database went away right after the
    /// commit, so the client cannot find out whether it landed.
    pub(crate) fn lose_next_commit_reply_then_refuse(&self) {
        self.shared.refuse_after_lost_commit.store(true, Ordering::SeqCst);
        self.shared.lose_next_commit.store(true, Ordering::SeqCst);
    }

    pub(crate) fn lost_commits(&self) -> usize {
        self.shared.lost_commits.load(Ordering::SeqCst)
    }
}

/// Relays both directions of one connection on two threads.
fn pipe(shared: &Arc<Shared>, client: TcpStream, server: TcpStream) {
    let (Ok(c2), Ok(s2), Ok(c3), Ok(s3)) =
        (client.try_clone(), server.try_clone(), client.try_clone(), server.try_clone())
    else {
        return;
    };
    shared.live.lock().unwrap().push((c3, s3));
    // Set before a COMMIT is passed on, so its reply is swallowed rather than relayed.
    let mute = Arc::new(AtomicBool::new(false));
    let (sh, m) = (shared.clone(), mute.clone());
    std::thread::spawn(move || {
        let (mut from, mut to) = (client, server);
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf) {
            hold_while_frozen(&sh);
            let chunk = &buf[..n];
            let lose = chunk.windows(COMMIT.len()).any(|w| w == COMMIT)
                && sh.lose_next_commit.compare_exchange(true, false, Ordering::SeqCst, Ordering::SeqCst).is_ok();
            if lose {
                m.store(true, Ordering::SeqCst);
                sh.lost_commits.fetch_add(1, Ordering::SeqCst);
                if sh.refuse_after_lost_commit.load(Ordering::SeqCst) {
                    sh.refusing.store(true, Ordering::SeqCst);
                }
            }
            if to.write_all(chunk).is_err() {
                break;
            }
            if lose {
                // Time for the server to commit, then the connection dies unanswered (the other
                // direction closes it sooner if the reply comes first).
                std::thread::sleep(Duration::from_millis(300));
                break;
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    });
    let sh = shared.clone();
    std::thread::spawn(move || {
        let (mut from, mut to) = (s2, c2);
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf) {
            hold_while_frozen(&sh);
            if mute.load(Ordering::SeqCst) || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    });
}

/// Holds what was read until the proxy thaws.
fn hold_while_frozen(shared: &Shared) {
    while shared.frozen.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(20));
    }
}
