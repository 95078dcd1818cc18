//! `cachelab-server --replicas 2`, end to end over real sockets: the
//! replicas sync, a write replicates, `kill PORT` on stdin takes the primary
//! away, and the control plane fails over, reporting on stdout.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;
use common::{free_base, wait_until};

/// One inline command and its reply (simple, error, integer or bulk).
fn call(port: u16, cmd: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    s.write_all(format!("{cmd}\r\n").as_bytes()).ok()?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(500) {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&out);
                let whole = match text.as_bytes().first() {
                    Some(b'$') => text
                        .split_once("\r\n")
                        .and_then(|(h, rest)| {
                            h[1..]
                                .parse::<i64>()
                                .ok()
                                .map(|n| n < 0 || rest.len() >= n as usize + 2)
                        })
                        .unwrap_or(false),
                    _ => text.ends_with("\r\n"),
                };
                if whole {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[test]
fn a_killed_primary_fails_over_natively() {
    let base = free_base(3);
    let mut child = Command::new(env!("CARGO_BIN_EXE_cachelab-server"))
        .args(["--port", &base.to_string(), "--replicas", "2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the server starts");
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut stdin = child.stdin.take().unwrap();
    let info = |port: u16| call(port, "INFO replication").unwrap_or_default();
    for r in [base + 1, base + 2] {
        wait_until("replicas in sync", 20, || {
            info(r).contains("master_link_status:up")
        });
    }
    assert!(info(base + 1).contains(&format!("master_port:{base}")));
    assert_eq!(call(base, "SET k v").as_deref(), Some("+OK\r\n"));
    assert_eq!(call(base, "WAIT 2 2000").as_deref(), Some(":2\r\n"));
    assert_eq!(call(base + 1, "GET k").as_deref(), Some("$1\r\nv\r\n"));
    assert_eq!(
        call(base + 2, "SET x 1").as_deref(),
        Some("-READONLY You can't write against a read only replica.\r\n")
    );
    writeln!(stdin, "kill {base}").unwrap();
    stdin.flush().unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut promoted = None;
    while Instant::now() < deadline && promoted.is_none() {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if line.contains("Failover from primary node cachelab-001 to replica node") {
                promoted = Some(line.clone());
            }
            seen.push(line);
        }
    }
    let line =
        promoted.unwrap_or_else(|| panic!("no failover reported; stdout:\n{}", seen.join("\n")));
    let new = if line.contains("cachelab-002") {
        base + 1
    } else {
        base + 2
    };
    wait_until("the promoted replica is a primary", 10, || {
        info(new).contains("role:master")
    });
    assert_eq!(
        call(new, "GET k").as_deref(),
        Some("$1\r\nv\r\n"),
        "the data survived"
    );
    assert_eq!(call(new, "SET after failover").as_deref(), Some("+OK\r\n"));
    let _ = child.kill();
    let _ = child.wait();
}
