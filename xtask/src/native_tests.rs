//! The native tests, two test binaries at a time. `cargo test` runs its
//! binaries one after another, and most of ours either wait on sockets
//! (the differential tests against redis-server and memcached) or keep one
//! core busy with a seeded simulation, so two side by side take about half
//! the time. Each binary runs as `cargo test` runs it: from its package's
//! folder, with the package's CARGO_* variables, all its tests; its output
//! is printed whole when it ends, and every binary runs even after one
//! fails. The slowest binaries start first.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::{cargo, root, run, Result};

/// A test executable cargo built, and where it runs from.
struct TestBinary {
    /// "cachelab-engine tests/cme.rs"-like: the package and the target.
    name: String,
    target: String,
    exe: PathBuf,
    dir: PathBuf,
    package: String,
}

/// Test targets known to take the longest (tens of seconds or more): they
/// start first, so the two lanes end together.
const SLOW_FIRST: &[&str] = &[
    "labs",
    "cluster",
    "cachelab_engine",
    "sim",
    "cme",
    "group",
    "geo",
    "memcached_sim",
    "eviction",
    "hyperloglog",
    "sort_lcs",
    "getkeys",
    "notifications",
];

fn built_test_binaries() -> Result<Vec<TestBinary>> {
    let out = cargo()
        .args([
            "test",
            "--workspace",
            "--exclude",
            "cachelab-web",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(root())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot start cargo test --no-run: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo test --no-run failed ({})", out.status));
    }
    let mut found = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" || msg["profile"]["test"] != true {
            continue;
        }
        let Some(exe) = msg["executable"].as_str() else {
            continue;
        };
        let manifest = PathBuf::from(msg["manifest_path"].as_str().unwrap_or_default());
        let dir = manifest.parent().map(PathBuf::from).unwrap_or_else(root);
        let package = msg["package_id"]
            .as_str()
            .map(package_name)
            .unwrap_or_default();
        let target = msg["target"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let src = msg["target"]["src_path"]
            .as_str()
            .and_then(|p| p.strip_prefix(dir.to_str()?))
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string();
        found.push(TestBinary {
            name: format!("{package} {src}"),
            target,
            exe: PathBuf::from(exe),
            dir,
            package,
        });
    }
    if found.is_empty() {
        return Err("cargo test --no-run built no test binary".into());
    }
    found.sort_by_key(|b| {
        SLOW_FIRST
            .iter()
            .position(|s| *s == b.target)
            .unwrap_or(SLOW_FIRST.len())
    });
    Ok(found)
}

/// The package's name in a package id: "path+file:///…/engine#cachelab-engine@0.1.0",
/// "path+file:///…/xtask#0.1.0" (named as its folder), or the older
/// "cachelab-engine 0.1.0 (path+file:///…)".
fn package_name(id: &str) -> String {
    match id.rsplit_once('#') {
        Some((_, tail)) if tail.contains('@') => tail.split('@').next().unwrap_or(tail).into(),
        Some((url, _)) => url.rsplit('/').next().unwrap_or(url).into(),
        None => id.split(' ').next().unwrap_or(id).into(),
    }
}

/// Builds every native test binary, runs them `lanes` at a time, then the
/// doc tests through cargo.
pub fn run_native_tests(lanes: usize) -> Result<()> {
    let started = Instant::now();
    let queue = Arc::new(Mutex::new(VecDeque::from(built_test_binaries()?)));
    let results = Arc::new(Mutex::new(Vec::<(String, f64, bool)>::new()));
    let mut handles = Vec::new();
    for _ in 0..lanes.max(1) {
        let (queue, results) = (queue.clone(), results.clone());
        handles.push(std::thread::spawn(move || loop {
            let Some(b) = queue.lock().expect("queue").pop_front() else {
                return;
            };
            let t = Instant::now();
            let out = Command::new(&b.exe)
                .current_dir(&b.dir)
                .env("CARGO_MANIFEST_DIR", &b.dir)
                .env("CARGO_PKG_NAME", &b.package)
                .stdin(Stdio::null())
                .output();
            let secs = t.elapsed().as_secs_f64();
            let ok = out.as_ref().is_ok_and(|o| o.status.success());
            // One binary's whole output at a time.
            let mut r = results.lock().expect("results");
            eprintln!("── {} ({secs:.1} s) ──", b.name);
            match &out {
                Ok(o) => {
                    print!("{}", String::from_utf8_lossy(&o.stdout));
                    eprint!("{}", String::from_utf8_lossy(&o.stderr));
                }
                Err(e) => eprintln!("cannot start {}: {e}", b.exe.display()),
            }
            r.push((b.name, secs, ok));
        }));
    }
    for h in handles {
        h.join().map_err(|_| "a test lane panicked".to_string())?;
    }
    let mut results = std::mem::take(&mut *results.lock().expect("results"));
    results.sort_by(|a, b| b.1.total_cmp(&a.1));
    eprintln!(
        "native tests: {} binaries in {:.0} s on {lanes} lanes; slowest: {}",
        results.len(),
        started.elapsed().as_secs_f64(),
        results
            .iter()
            .take(6)
            .map(|(n, s, _)| format!("{n} {s:.0} s"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| !r.2)
        .map(|r| r.0.as_str())
        .collect();
    if !failed.is_empty() {
        return Err(format!("native tests failed in: {}", failed.join(", ")));
    }
    run(cargo().args(["test", "--workspace", "--exclude", "cachelab-web", "--doc"]))
}
