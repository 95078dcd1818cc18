//! `cargo xtask redis-suite PATH-TO-REDIS-SOURCE [--against-redis] [UNITS…]`:
//! Redis's own Tcl test suite (the `tests/` folder of a redis 7.0 source
//! tree, which is not part of this repository) run against a fresh
//! `cachelab-server` per unit as an external server, with the tags an
//! external server cannot serve denied as Redis's own external CI denies
//! them (see `TAGS`; tests tagged `external:skip` skip themselves).
//! `--against-redis` runs the same units against Debian's redis-server, for
//! the baseline. Prints one summary line per unit and the failed tests.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{cargo, root, run, Result};

/// Every unit that runs against an external server (the list).
pub const UNITS: &[&str] = &[
    "type/string",
    "type/incr",
    "type/list",
    "type/list-2",
    "type/list-3",
    "type/set",
    "type/zset",
    "type/hash",
    "type/stream",
    "type/stream-cgroups",
    "expire",
    "keyspace",
    "scan",
    "info-command",
    "protocol",
    "quit",
    "multi",
    "pubsub",
    "geo",
    "bitops",
    "bitfield",
    "hyperloglog",
    "dump",
    "sort",
    "introspection",
    "introspection-2",
    "tracking",
    "scripting",
    "functions",
    "other",
    "slowlog",
    "pause",
    "lazyfree",
];

/// Denied tags: Redis's external CI's `-slow` and `-needs:debug`, and
/// `needs:repl` (tests that read the replication stream with SYNC, which
/// cachelab's replicas do not speak: they use their own PeerMsg link).
const TAGS: &str = "-slow -needs:repl -needs:debug";

/// Tests skipped by name, each for a subsystem this issue leaves to its own
/// (ACL, CLUSTER) or one an external server cannot
/// show; the same list is skipped against redis-server for the baseline.
const SKIP: &[(&str, &str)] = &[
    ("Script ACL check", "ACL (its own issue)"),
    (
        "RESET clears authenticated state",
        "ACL SETUSER (its own issue)",
    ),
    (
        "CLUSTER RESET can not be invoke from within a script",
        "CLUSTER (cluster mode)",
    ),
    (
        "COMMAND LIST FILTERBY PATTERN - list all commands/subcommands",
        "lists CLUSTER subcommands",
    ),
    (
        "CONFIG SET rollback on apply error",
        "needs the runtime to fail listening on a used port",
    ),
];

/// A unit that has not finished after this long is stopped and reported.
const UNIT_LIMIT: Duration = Duration::from_secs(420);

struct Outcome {
    ok: usize,
    err: Vec<String>,
    exception: Option<String>,
    timed_out: bool,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(6399)
}

fn wait_for_port(port: u16) -> bool {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn start_server(against_redis: bool, port: u16, dir: &Path) -> Result<Child> {
    let mut cmd = if against_redis {
        let mut c = Command::new("redis-server");
        c.args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--enable-debug-command", "yes", "--dir"])
        .arg(dir);
        c
    } else {
        let mut c = Command::new(root().join("target/release/cachelab-server"));
        c.args(["--port", &port.to_string(), "--bind", "127.0.0.1"]);
        c
    };
    cmd.current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the server: {e}"))
}

fn run_unit(source: &Path, unit: &str, port: u16) -> Result<(Outcome, String)> {
    let mut child = Command::new("tclsh")
        .arg("tests/test_helper.tcl")
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--tags", TAGS, "--single", &format!("unit/{unit}")])
        .args(["--clients", "1", "--timeout", "120"])
        .args(SKIP.iter().flat_map(|(name, _)| ["--skiptest", name]))
        .current_dir(source)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start tclsh (apt-get install tcl): {e}"))?;
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let mut timed_out = false;
    loop {
        if child.try_wait().map_err(|e| e.to_string())?.is_some() {
            break;
        }
        if started.elapsed() > UNIT_LIMIT {
            timed_out = true;
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = reader.join().unwrap_or_default();
    let mut out = Outcome {
        ok: 0,
        err: Vec::new(),
        exception: None,
        timed_out,
    };
    for line in text.lines() {
        let line = strip_ansi(line);
        let line = line.as_str();
        if line.starts_with("[ok]:") {
            out.ok += 1;
        } else if let Some(rest) = line.strip_prefix("[err]:") {
            out.err.push(rest.trim().to_string());
        } else if line.starts_with("[exception]") {
            out.exception = Some(line.to_string());
        } else if line.starts_with("[TIMEOUT]") {
            // The test client gave up waiting for a reply: the test in
            // progress (named on a later line) failed, the unit stopped.
            out.exception = Some("test client TIMEOUT".to_string());
            out.err.push("TIMEOUT (the unit stopped here)".to_string());
        } else if let Some((_, name)) = line.split_once("=> (IN PROGRESS) ") {
            if let Some(last) = out.err.last_mut().filter(|e| e.starts_with("TIMEOUT")) {
                *last = format!("{name}: TIMEOUT (the unit stopped here)");
            }
        }
    }
    Ok((out, text))
}

/// The line without its terminal colour codes (`ESC [ … m`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

pub fn run_suite(args: &[String]) -> Result<()> {
    let Some(source) = args.first().map(PathBuf::from) else {
        return Err("usage: cargo xtask redis-suite PATH-TO-REDIS-SOURCE [--against-redis] [UNITS…] (the redis 7.0.15 source tree; its tests/ folder is Redis's)".into());
    };
    if !source.join("tests/test_helper.tcl").exists() {
        return Err(format!(
            "{} has no tests/test_helper.tcl: point at a redis 7.0 source tree",
            source.display()
        ));
    }
    let against_redis = args.iter().any(|a| a == "--against-redis");
    let mut units: Vec<String> = args[1..]
        .iter()
        .filter(|a| !a.starts_with("--"))
        .cloned()
        .collect();
    if units.is_empty() {
        units = UNITS.iter().map(|u| u.to_string()).collect();
    }
    if !against_redis {
        run(cargo().args(["build", "--release", "-q", "-p", "cachelab-server"]))?;
    }
    let logs = root().join("target/redis-suite");
    std::fs::create_dir_all(&logs).map_err(|e| e.to_string())?;
    let (mut total_ok, mut total_err) = (0, 0);
    let mut failed_units = 0;
    for unit in &units {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("cachelab-suite-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut server = start_server(against_redis, port, &dir)?;
        if !wait_for_port(port) {
            let _ = server.kill();
            return Err(format!("the server did not listen on {port}"));
        }
        let result = run_unit(&source, unit, port);
        let _ = server.kill();
        let _ = server.wait();
        let (o, text) = result?;
        let log = logs.join(format!(
            "{}{}.log",
            unit.replace('/', "-"),
            if against_redis { "-redis" } else { "" }
        ));
        let _ = std::fs::write(&log, &text);
        total_ok += o.ok;
        total_err += o.err.len();
        let trouble = if o.timed_out {
            " STALLED (stopped after 420 s)".to_string()
        } else if let Some(e) = &o.exception {
            format!(" EXCEPTION {e}")
        } else {
            String::new()
        };
        if !o.err.is_empty() || !trouble.is_empty() {
            failed_units += 1;
        }
        println!("{unit:<22} {:>4} ok {:>4} err{trouble}", o.ok, o.err.len());
        for e in &o.err {
            println!("    [err] {e}");
        }
    }
    for (name, why) in SKIP {
        println!("skipped: {name} — {why}");
    }
    println!(
        "redis-suite ({}): {total_ok} passed, {total_err} failed, {failed_units} of {} units with failures (logs: {})",
        if against_redis { "redis-server" } else { "cachelab-server" },
        units.len(),
        logs.display()
    );
    Ok(())
}
