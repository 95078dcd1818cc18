//! Architecture invariant: the engine is sans-IO. It depends on no runtime,
//! reads no clock, spawns no thread and opens no socket.

use std::path::Path;

fn engine() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .join("engine")
}

#[test]
fn engine_depends_on_no_io_runtime() {
    let manifest = std::fs::read_to_string(engine().join("Cargo.toml")).expect("engine/Cargo.toml");
    for dep in [
        "tokio",
        "wasm-bindgen",
        "web-sys",
        "js-sys",
        "gloo",
        "getrandom",
        "mio",
        "async-std",
        "rand",
    ] {
        let declared = manifest.lines().any(|l| {
            let l = l.trim_start();
            l.starts_with(&format!("{dep} "))
                || l.starts_with(&format!("{dep}="))
                || l.starts_with(&format!("{dep}."))
        });
        assert!(
            !declared,
            "engine/Cargo.toml depends on {dep}: the engine must stay sans-IO"
        );
    }
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("readable").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn engine_reads_no_clock_and_opens_no_socket() {
    let forbidden = [
        "Instant::now",
        "SystemTime::now",
        "thread::spawn",
        "thread::sleep",
        "std::net",
        "std::fs",
        "RandomState",
        "std::process",
    ];
    let mut files = Vec::new();
    rust_files(&engine().join("src"), &mut files);
    assert!(files.len() > 10);
    for f in files {
        let text = std::fs::read_to_string(&f).expect("readable");
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for bad in forbidden {
                assert!(
                    !line.contains(bad),
                    "{}:{}: uses {bad}; the engine must stay sans-IO",
                    f.display(),
                    n + 1
                );
            }
        }
    }
}
