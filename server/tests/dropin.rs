//! cachelab-server as a drop-in `redis-server` binary: a redis.conf read
//! as redis-server reads it, command-line directives (with several
//! arguments) overriding it, `logfile` and Redis's start-up lines, and a
//! bad configuration refused with the very words (and exit code) of
//! redis-server, line number included.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{free_base, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_cachelab-server");

/// Ends the server however the test ends.
struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn call(port: u16, cmd: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    s.write_all(format!("{cmd}\r\n").as_bytes()).ok()?;
    let mut buf = vec![0u8; 64 * 1024];
    let n = s.read(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn run(bin: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn a_bad_configuration_is_refused_as_redis_server_refuses_it() {
    let dir = std::env::temp_dir().join(format!("cachelab-dropin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.conf");
    std::fs::write(&bad, "port 7777\nfoo bar\n").unwrap();
    let bad2 = dir.join("bad2.conf");
    std::fs::write(&bad2, "port 7777\nsave\n").unwrap();
    let quotes = dir.join("quotes.conf");
    std::fs::write(&quotes, "# x\nrequirepass \"unbalanced\n").unwrap();
    let (bad, bad2, quotes) = (
        bad.to_string_lossy().into_owned(),
        bad2.to_string_lossy().into_owned(),
        quotes.to_string_lossy().into_owned(),
    );
    let cases: Vec<Vec<&str>> = vec![
        vec![&bad],
        vec!["--port", "7777", "--save", "10", "2", "--nonexist", "1"],
        vec![&bad2, "--maxmemory", "abc"],
        vec![&quotes],
    ];
    let redis = Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok();
    for args in cases {
        let (code, ours) = run(BIN, &args);
        assert_eq!(code, 1, "{args:?}: {ours}");
        assert!(
            ours.contains("*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***"),
            "{ours}"
        );
        if redis {
            let (rcode, theirs) = run("redis-server", &args);
            assert_eq!((code, ours.trim()), (rcode, theirs.trim()), "{args:?}");
        }
    }
    let (code, ours) = run(BIN, &["/nonexistent/redis.conf"]);
    assert_eq!(code, 1);
    assert!(
        ours.contains("Fatal error, can't open config file '/nonexistent/redis.conf': No such file or directory"),
        "{ours}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_redis_conf_with_overrides_logfile_and_replicaof() {
    let base = free_base(2);
    let dir = std::env::temp_dir().join(format!("cachelab-dropin-ok-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("redis.conf");
    let log = dir.join("redis.log");
    std::fs::write(
        &conf,
        format!(
            "# as a redis.conf would say it\nbind 127.0.0.1 -::1\nport {base}\nsave 60 1000\nmaxmemory 10mb\ndir {}\nlogfile {}\n",
            dir.display(),
            log.display()
        ),
    )
    .unwrap();
    let conf = conf.to_string_lossy().into_owned();
    let _primary = Kill(
        Command::new(BIN)
            .args([
                conf.as_str(),
                "--maxmemory-policy",
                "allkeys-lru",
                "--save",
                "3600",
                "1",
                "300",
                "100",
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("the server answers", 10, || call(base, "PING").is_some());
    assert!(call(base, "CONFIG GET save")
        .unwrap()
        .contains("3600 1 300 100"));
    assert!(call(base, "CONFIG GET maxmemory-policy")
        .unwrap()
        .contains("allkeys-lru"));
    assert!(call(base, "CONFIG GET maxmemory")
        .unwrap()
        .contains("10485760"));
    // Redis's start-up lines, in the log file.
    let text = std::fs::read_to_string(&log).unwrap();
    for line in [
        "Redis is starting",
        "Configuration loaded",
        "Ready to accept connections",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    assert_eq!(call(base, "SET k v").as_deref(), Some("+OK\r\n"));
    // A replica started as redis-server would start one: --replicaof HOST PORT.
    let port2 = (base + 1).to_string();
    let base_s = base.to_string();
    let replica = Kill(
        Command::new(BIN)
            .args([
                "--port",
                &port2,
                "--replicaof",
                "127.0.0.1",
                &base_s,
                "--dir",
                &dir.to_string_lossy(),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_until("the replica has the data", 10, || {
        call(base + 1, "GET k").as_deref() == Some("$1\r\nv\r\n")
    });
    drop(replica);
    let _ = std::fs::remove_dir_all(&dir);
}
