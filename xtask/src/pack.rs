//! `cargo xtask pack`: the npm package `cachelab` — the `cachelab-npm`
//! crate built for wasm32 (the `wasm-small` profile), wasm-bindgen's module (`--target web`, which
//! Node.js 18+ loads too), wasm-opt, the JavaScript API and types from
//! `npm/js/` — laid out in `target/npm/package/` and packed by `npm pack`
//! into `target/npm/cachelab-VERSION.tgz` (not published). The package's
//! test (`tests/npm/`) installs that file into a fresh folder and uses it.

use std::path::PathBuf;
use std::process::Command;

use crate::{ensure_wasm_opt, ensure_wasm_tools, root, run, Result, WASM_OPT_FEATURES};

/// Builds and packs the package; returns the `.tgz`.
pub fn pack() -> Result<PathBuf> {
    ensure_wasm_tools()?;
    let wasm = crate::build_npm_wasm(true)?;
    let out = root().join("target/npm");
    let pkg = out.join("package");
    let _ = std::fs::remove_dir_all(&pkg);
    std::fs::create_dir_all(&pkg).map_err(|e| e.to_string())?;
    run(Command::new("wasm-bindgen")
        .args(["--target", "web", "--no-typescript", "--out-dir"])
        .arg(&pkg)
        .args(["--out-name", "cachelab_npm"])
        .arg(&wasm))?;
    let file = pkg.join("cachelab_npm_bg.wasm");
    run(Command::new(ensure_wasm_opt()?)
        .arg("-Oz")
        .args(WASM_OPT_FEATURES)
        .arg(&file)
        .arg("-o")
        .arg(&file))?;
    for name in ["index.js", "index.d.ts", "package.json", "README.md"] {
        std::fs::copy(root().join("npm/js").join(name), pkg.join(name))
            .map_err(|e| format!("copy npm/js/{name}: {e}"))?;
    }
    let name = crate::output(
        Command::new("npm")
            .args(["pack", "--silent", "--pack-destination"])
            .arg(&out)
            .current_dir(&pkg),
    )
    .ok_or("npm pack failed")?;
    let tgz = out.join(name.trim());
    if !tgz.exists() {
        return Err(format!("npm pack made no {}", tgz.display()));
    }
    eprintln!("packed {}", tgz.display());
    Ok(tgz)
}

/// The package's test: the `.tgz` installed with `npm install` into a
/// fresh folder, and `tests/npm/cluster.test.mjs` run there by Node.js's
/// own test runner.
pub fn test_package(tgz: &std::path::Path) -> Result<()> {
    let dir = install(tgz, "try")?;
    let test = dir.join("cluster.test.mjs");
    std::fs::copy(root().join("tests/npm/cluster.test.mjs"), &test)
        .map_err(|e| format!("copy tests/npm/cluster.test.mjs: {e}"))?;
    run(Command::new("node")
        .arg("--test")
        .arg(&test)
        .current_dir(&dir))
}

/// A fresh folder `target/npm/NAME` (an ES-module project) with the
/// `.tgz` installed in it by `npm install`, as a user would; the folder.
pub fn install(tgz: &std::path::Path, name: &str) -> Result<PathBuf> {
    let dir = root().join("target/npm").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::write(
        dir.join("package.json"),
        "{\"private\":true,\"type\":\"module\"}\n",
    )
    .map_err(|e| e.to_string())?;
    run(Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--offline"])
        .arg(tgz)
        .current_dir(&dir))?;
    Ok(dir)
}
