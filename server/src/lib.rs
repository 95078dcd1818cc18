//! cachelab-server: the sans-IO engine served over TCP by tokio.
//!
//! One `Node` lives on a single-threaded runtime (like Redis's event loop);
//! each connection task feeds it bytes and writes back what it returns.
//! Close requests addressed to another connection (CLIENT KILL) travel over
//! that connection's channel. A timer task ticks the node for active expiry.
//! Owns sockets, the clock and signals; knows nothing of commands.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use cachelab_engine::{ConnId, Input, Millis, Node, Output};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

fn now() -> Millis {
    Millis(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
    )
}

/// What the node wants a connection task to do.
enum ConnMsg {
    /// Bytes the node addressed to this connection while serving another.
    Bytes(Vec<u8>),
    Close,
}

struct Shared {
    node: Node,
    /// Channels to connection tasks, for outputs addressed to another connection.
    conns: HashMap<ConnId, mpsc::UnboundedSender<ConnMsg>>,
}

/// Serves one node on `listener` until `shutdown` completes. Must run inside
/// a `LocalSet` on a current-thread runtime (see `run_blocking`).
pub async fn serve(listener: TcpListener, port: u16, shutdown: impl Future<Output = ()>) {
    let mut node = Node::new(seed());
    node.start(now(), port);
    let shared = Rc::new(RefCell::new(Shared {
        node,
        conns: HashMap::new(),
    }));
    let ticker = tokio::task::spawn_local(ticker(shared.clone()));
    let mut next_conn = 1u64;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((sock, peer)) = accepted else { continue };
                let conn = ConnId(next_conn);
                next_conn += 1;
                tokio::task::spawn_local(connection(shared.clone(), sock, peer, conn));
            }
            _ = &mut shutdown => break,
        }
    }
    ticker.abort();
}

/// Binds `bind:port` and serves until `shutdown`, on the calling thread.
pub fn run_blocking(
    listener: std::net::TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let listener = TcpListener::from_std(listener)?;
        serve(listener, port, shutdown).await;
        Ok(())
    })
}

/// A seed from the process's own entropy: std's RandomState is randomly keyed per process.
fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(now().0);
    h.finish()
}

async fn ticker(shared: Rc<RefCell<Shared>>) {
    loop {
        let wait = {
            let mut s = shared.borrow_mut();
            let t = now();
            s.node.handle(t, Input::Tick);
            let events = drain(&mut s, None);
            debug_assert!(events.is_empty());
            s.node
                .poll_timeout()
                .map(|at| at.saturating_sub(now()))
                .unwrap_or(100)
        };
        tokio::time::sleep(std::time::Duration::from_millis(wait.clamp(1, 1000))).await;
    }
}

/// Drains the node's outputs: bytes for `me` are returned; closes for other
/// connections go to their tasks. Returns (bytes for me, close me?) flattened.
fn drain(s: &mut Shared, me: Option<ConnId>) -> Vec<Output> {
    let mut mine = Vec::new();
    while let Some(out) = s.node.poll_output() {
        match &out {
            Output::ToClient { conn, .. } | Output::CloseConn { conn } if Some(*conn) == me => {
                mine.push(out)
            }
            Output::CloseConn { conn } => {
                if let Some(tx) = s.conns.get(conn) {
                    let _ = tx.send(ConnMsg::Close);
                }
            }
            Output::ToClient { conn, bytes } => {
                if let Some(tx) = s.conns.get(conn) {
                    let _ = tx.send(ConnMsg::Bytes(bytes.clone()));
                }
            }
            Output::Event(_) => {}
        }
    }
    mine
}

/// Writes this connection's outputs; true when the connection must close.
async fn write_outputs(sock: &mut TcpStream, outs: Vec<Output>) -> bool {
    for out in outs {
        match out {
            Output::ToClient { bytes, .. } => {
                if sock.write_all(&bytes).await.is_err() {
                    return true;
                }
            }
            Output::CloseConn { .. } => return true,
            Output::Event(_) => {}
        }
    }
    false
}

async fn connection(
    shared: Rc<RefCell<Shared>>,
    mut sock: TcpStream,
    peer: SocketAddr,
    conn: ConnId,
) {
    let _ = sock.set_nodelay(true);
    let local = sock.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    {
        let mut s = shared.borrow_mut();
        s.conns.insert(conn, tx);
        s.node.handle(
            now(),
            Input::ConnOpened {
                conn,
                peer: peer.to_string(),
                local,
            },
        );
    }
    // Opening may itself answer (e.g. "max number of clients reached").
    let first = drain(&mut shared.borrow_mut(), Some(conn));
    let mut closing = write_outputs(&mut sock, first).await;
    let mut buf = vec![0u8; 64 * 1024];
    while !closing {
        let n = tokio::select! {
            r = sock.read(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
            msg = rx.recv() => match msg {
                Some(ConnMsg::Bytes(bytes)) => {
                    closing = sock.write_all(&bytes).await.is_err();
                    continue;
                }
                Some(ConnMsg::Close) | None => break,
            },
        };
        let outs = {
            let mut s = shared.borrow_mut();
            s.node.handle(
                now(),
                Input::ClientBytes {
                    conn,
                    bytes: &buf[..n],
                },
            );
            drain(&mut s, Some(conn))
        };
        closing = write_outputs(&mut sock, outs).await;
    }
    {
        let mut s = shared.borrow_mut();
        s.conns.remove(&conn);
        s.node.handle(now(), Input::ConnClosed { conn });
    }
    let _ = sock.shutdown().await;
}
