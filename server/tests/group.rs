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

/// Inline commands on one connection, and their replies (each a single
/// line: simple, error or integer). WAIT counts the replicas that have
/// this connection's writes, so it goes on the connection that wrote.
fn calls(port: u16, cmds: &[&str]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let text: String = cmds.iter().map(|c| format!("{c}\r\n")).collect();
    s.write_all(text.as_bytes()).unwrap();
    let mut buf = vec![0u8; 4096];
    let mut out = Vec::new();
    let start = Instant::now();
    while out.windows(2).filter(|w| w == b"\r\n").count() < cmds.len()
        && start.elapsed() < Duration::from_secs(10)
    {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `cachelab-server ARGS` with its stdin (admin commands) and its stdout's
/// lines; the server ends with the returned guard.
fn start_group(args: &[&str]) -> (Kill, std::process::ChildStdin, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cachelab-server"))
        .args(args)
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
    let stdin = child.stdin.take().unwrap();
    (Kill(child), stdin, rx)
}

#[test]
fn a_killed_primary_fails_over_natively() {
    let base = free_base(3);
    let (_server, mut stdin, rx) = start_group(&["--port", &base.to_string(), "--replicas", "2"]);
    let info = |port: u16| call(port, "INFO replication").unwrap_or_default();
    // The control plane counts a replica once it has synced: only then is
    // it a failover candidate.
    let mut pending = vec!["nodes 0002", "nodes 0003"];
    let deadline = Instant::now() + Duration::from_secs(30);
    while !pending.is_empty() {
        assert!(
            Instant::now() < deadline,
            "replicas never available: {pending:?}"
        );
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if line.contains("Finished recovery for cache") {
                pending.retain(|n| !line.contains(n));
            }
        }
    }
    for r in [base + 1, base + 2] {
        wait_until("replicas in sync", 20, || {
            info(r).contains("master_link_status:up")
        });
    }
    assert!(info(base + 1).contains(&format!("master_port:{base}")));
    assert_eq!(calls(base, &["SET k v", "WAIT 2 2000"]), "+OK\r\n:2\r\n");
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
}

/// Waits for a stdout line containing `needle`; panics with what was seen.
fn expect_line(rx: &mpsc::Receiver<String>, needle: &str, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if line.contains(needle) {
                return line;
            }
            seen.push(line);
        }
    }
    panic!("no line with {needle:?}; stdout:\n{}", seen.join("\n"));
}

#[test]
fn a_backup_from_a_replica_exports_a_file_redis_server_format() {
    let base = free_base(2);
    let dir = std::env::temp_dir().join(format!("cachelab-backup-dir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let dir_arg = dir.to_string_lossy().into_owned();
    let (_server, mut stdin, rx) = start_group(&[
        "--port",
        &base.to_string(),
        "--replicas",
        "1",
        "--backup-dir",
        &dir_arg,
    ]);
    // The control plane counts the replica once it has synced.
    expect_line(&rx, "Finished recovery for cache nodes 0002", 30);
    assert_eq!(
        calls(base, &["SET price 10", "WAIT 1 2000"]),
        "+OK\r\n:1\r\n"
    );
    // Refused in AWS's words.
    writeln!(stdin, "backup bad--name").unwrap();
    expect_line(&rx, "InvalidParameterValue", 10);
    writeln!(stdin, "backup before-release").unwrap();
    // Taken from the replica (port base+1), available once stored.
    expect_line(
        &rx,
        &format!("taking the file of the node on port {}", base + 1),
        10,
    );
    expect_line(&rx, "succeeded for snapshot before-release", 40);
    writeln!(stdin, "export before-release").unwrap();
    expect_line(&rx, "exported", 10);
    let file = dir.join("before-release-0001.rdb");
    let bytes = std::fs::read(&file).expect("the exported object");
    assert!(bytes.starts_with(b"REDIS0010"), "an RDB file");
    // The file loads into a fresh node with the data of the moment.
    let mut n = cachelab_engine::Node::new(1);
    n.load_rdb(&bytes, cachelab_engine::Millis(0)).unwrap();
    assert_eq!(n.get_string(0, b"price").as_deref(), Some(&b"10"[..]));
    writeln!(stdin, "backups").unwrap();
    expect_line(
        &rx,
        "before-release Manual Available from cachelab-002 (replica)",
        10,
    );
    // DeleteReplicationGroup with a final backup: taken from the primary
    // after the last write, kept in the folder, then the process ends.
    assert_eq!(call(base, "SET price 11").as_deref(), Some("+OK\r\n"));
    writeln!(stdin, "delete-group before-release").unwrap();
    expect_line(&rx, "SnapshotAlreadyExistsFault", 10);
    writeln!(stdin, "delete-group last-words").unwrap();
    expect_line(&rx, "is being deleted", 10);
    writeln!(stdin, "backup too-late").unwrap();
    expect_line(&rx, "InvalidReplicationGroupState", 10);
    expect_line(&rx, "succeeded for snapshot last-words", 40);
    expect_line(&rx, "final backup last-words kept in", 10);
    expect_line(&rx, "Replication group cachelab deleted", 10);
    let bytes = std::fs::read(dir.join("last-words-0001.rdb")).expect("the final backup");
    let mut n = cachelab_engine::Node::new(1);
    n.load_rdb(&bytes, cachelab_engine::Millis(0)).unwrap();
    assert_eq!(n.get_string(0, b"price").as_deref(), Some(&b"11"[..]));
    // Every node ended with the group.
    let deadline = Instant::now() + Duration::from_secs(10);
    while call(base, "PING").is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(call(base, "PING").is_none(), "the primary still answers");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Ends the server however the test ends (a panic included).
struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
