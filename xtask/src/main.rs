//! `cargo xtask serve | build | test | bench | fuzz`: builds the playground (Rust →
//! wasm → wasm-bindgen → dist/), serves it, and runs every test. Installs
//! what it needs when missing: the wasm32 target, the exact wasm-bindgen-cli
//! matching Cargo.lock, and (as root, via apt-get/npm/pip) Chromium,
//! chromedriver, redis-server, redis-tools and the npm test packages.

mod bench;
mod native_tests;
mod pack;
mod redis_suite;
mod serve;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

pub type Result<T> = std::result::Result<T, String>;

/// Runs a command (in the workspace root unless it names a directory), failing with its name if it fails.
pub fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    eprintln!("$ {shown}");
    if cmd.get_current_dir().is_none() {
        cmd.current_dir(root());
    }
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("failed ({status}): {shown}"))
    }
}

pub fn output(cmd: &mut Command) -> Option<String> {
    cmd.output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
}

pub fn have(bin: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {bin}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn is_root() -> bool {
    output(Command::new("id").arg("-u"))
        .map(|s| s.trim() == "0")
        .unwrap_or(false)
}

pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// The wasm-bindgen version Cargo.lock pins (the CLI must match it exactly).
fn locked_wasm_bindgen() -> Result<String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock"))
        .map_err(|e| format!("Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(l) = lines.next() {
        if l == "name = \"wasm-bindgen\"" {
            if let Some(v) = lines.next().and_then(|v| v.strip_prefix("version = \"")) {
                return Ok(v.trim_end_matches('"').to_string());
            }
        }
    }
    Err("wasm-bindgen is not in Cargo.lock".into())
}

pub fn ensure_wasm_tools() -> Result<()> {
    let targets =
        output(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if !targets
        .lines()
        .any(|t| t.trim() == "wasm32-unknown-unknown")
    {
        run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }
    let want = locked_wasm_bindgen()?;
    let have_version = output(Command::new("wasm-bindgen").arg("--version")).unwrap_or_default();
    if !have_version.contains(&want) {
        eprintln!(
            "installing wasm-bindgen-cli {want} (have: {:?})",
            have_version.trim()
        );
        // Without --locked: with it, a locked dependency is missing from the registry.
        run(cargo().args(["install", "wasm-bindgen-cli", "--version", &want]))?;
    }
    Ok(())
}

/// Installs the system pieces the tests need, or says exactly what to install.
pub fn ensure_system() -> Result<()> {
    let apt: Vec<&str> = [
        ("chromium", "chromium"),
        ("chromedriver", "chromium-driver"),
        ("redis-server", "redis-server"),
        ("redis-cli", "redis-tools"),
        ("redis-benchmark", "redis-tools"),
        ("memcached", "memcached"),
        // libmemcached's command-line tools (Debian names them memc*).
        ("memccp", "libmemcached-tools"),
        // The reference interpreter cachelab-lua's differential test runs.
        ("lua5.1", "lua5.1"),
    ]
    .iter()
    .filter(|(bin, _)| !have(bin))
    .map(|(_, pkg)| *pkg)
    .collect();
    let mut apt = apt;
    apt.dedup();
    if !apt.is_empty() {
        if !is_root() {
            return Err(format!(
                "missing system packages; install them with: sudo apt-get install -y {}",
                apt.join(" ")
            ));
        }
        run(Command::new("apt-get").args(["update", "-q"]))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-q"])
            .args(&apt)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    // Debian's redis-server package starts a system service on 6379; the tests use
    // their own servers on free ports and never touch it.
    let py_redis = Command::new("python3")
        .args(["-c", "import redis"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !py_redis {
        if is_root() {
            run(Command::new("python3").args(["-m", "pip", "install", "-q", "redis==5.0.8"]))?;
        } else {
            return Err(
                "missing redis-py; install it with: python3 -m pip install redis==5.0.8".into(),
            );
        }
    }
    // pylibmc (libmemcached underneath) checks cachelab's ketama; it builds
    // against libmemcached-dev.
    let pylibmc = Command::new("python3")
        .args(["-c", "import pylibmc"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !pylibmc {
        if !is_root() {
            return Err("missing pylibmc; install it with: sudo apt-get install -y libmemcached-dev && python3 -m pip install pylibmc==1.6.3".into());
        }
        if !std::path::Path::new("/usr/include/libmemcached/memcached.h").exists() {
            run(Command::new("apt-get").args(["update", "-q"]))?;
            run(Command::new("apt-get")
                .args(["install", "-y", "-q", "libmemcached-dev"])
                .env("DEBIAN_FRONTEND", "noninteractive"))?;
        }
        run(Command::new("python3").args(["-m", "pip", "install", "-q", "pylibmc==1.6.3"]))?;
    }
    // pymemcache: an unmodified Python client against `--memcached`.
    let pymemcache = Command::new("python3")
        .args(["-c", "import pymemcache"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !pymemcache {
        if !is_root() {
            return Err(
                "missing pymemcache; install it with: python3 -m pip install pymemcache==4.0.0"
                    .into(),
            );
        }
        run(Command::new("python3").args(["-m", "pip", "install", "-q", "pymemcache==4.0.0"]))?;
    }
    let modules = root().join("tests/e2e/node_modules");
    if !modules.join("@playwright/test").exists() || !modules.join("memcached-elasticache").exists()
    {
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(root().join("tests/e2e")))?;
    }
    Ok(())
}

/// Features wasm-bindgen's output uses; wasm-opt must be told to keep them.
pub const WASM_OPT_FEATURES: &[&str] = &[
    "--enable-bulk-memory",
    "--enable-nontrapping-float-to-int",
    "--enable-sign-ext",
    "--enable-reference-types",
    "--enable-multivalue",
];

/// wasm-opt from the npm package `binaryen` (Debian's v108 miscompiles -Oz
/// output: `WebAssembly.Table.set(): Argument 1 is invalid for table`).
pub fn ensure_wasm_opt() -> Result<PathBuf> {
    let tools = root().join("target/tools");
    let bin = tools.join("node_modules/.bin/wasm-opt");
    if !bin.exists() {
        std::fs::create_dir_all(&tools).map_err(|e| e.to_string())?;
        run(Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--no-save",
                "binaryen@132.0.0",
            ])
            .current_dir(&tools))?;
    }
    Ok(bin)
}

/// `cargo build` of `packages` for wasm32 with `profile`.
fn build_wasm(profile: &str, packages: &[&str]) -> Result<()> {
    let mut cmd = cargo();
    cmd.args([
        "build",
        "--target",
        "wasm32-unknown-unknown",
        "--profile",
        profile,
    ]);
    for p in packages {
        cmd.args(["-p", p]);
    }
    run(&mut cmd)
}

/// The npm package's module (cachelab-npm, also the embeds'), built for
/// wasm32 with the size-first profile (`wasm-small`; `dev` for a debug
/// build); the `.wasm` wasm-bindgen takes.
pub fn build_npm_wasm(release: bool) -> Result<PathBuf> {
    let (profile, dir) = if release {
        ("wasm-small", "wasm-small")
    } else {
        ("dev", "debug")
    };
    build_wasm(profile, &["cachelab-npm"])?;
    Ok(root()
        .join("target/wasm32-unknown-unknown")
        .join(dir)
        .join("cachelab_npm.wasm"))
}

/// Builds the wasm modules and lays out dist/: the page's and the node
/// worker's in one cargo call (speed matters in a worker's engine), the
/// embeds' with the size-first profile.
pub fn build_web(release: bool) -> Result<PathBuf> {
    ensure_wasm_tools()?;
    let profile = if release { "wasm-release" } else { "dev" };
    build_wasm(profile, &["cachelab-web", "cachelab-wasm"])?;
    let npm = build_npm_wasm(release)?;
    let dir = if release { "wasm-release" } else { "debug" };
    let out = root().join("target/wasm32-unknown-unknown").join(dir);
    let dist = root().join("dist");
    std::fs::create_dir_all(dist.join("docs")).map_err(|e| e.to_string())?;
    // app: the page; node: a node's worker; cachelab_npm: the embeds'
    // worker (the npm package's module, the simulator playing a demo).
    for (wasm, name) in [
        (out.join("cachelab-web.wasm"), "app"),
        (out.join("cachelab_wasm.wasm"), "node"),
        (npm, "cachelab_npm"),
    ] {
        run(Command::new("wasm-bindgen")
            .args(["--target", "web", "--no-typescript", "--out-dir"])
            .arg(&dist)
            .args(["--out-name", name])
            .arg(wasm))?;
    }
    if release {
        let wasm_opt = ensure_wasm_opt()?;
        for name in ["app_bg.wasm", "node_bg.wasm", "cachelab_npm_bg.wasm"] {
            let file = dist.join(name);
            run(Command::new(&wasm_opt)
                .arg("-Oz")
                .args(WASM_OPT_FEATURES)
                .arg(&file)
                .arg("-o")
                .arg(&file))?;
        }
    }
    for (from, to) in [
        ("index.html", "index.html"),
        ("web/static/worker.js", "worker.js"),
        ("web/static/style.css", "style.css"),
        ("web/static/embed.js", "embed.js"),
        ("web/static/embed-worker.js", "embed-worker.js"),
        ("docs/embed.html", "docs/embed.html"),
    ] {
        std::fs::copy(root().join(from), dist.join(to)).map_err(|e| format!("copy {from}: {e}"))?;
    }
    // The learning content, checked, as JSON the Learn tab fetches when it
    // opens (kept out of the app's wasm).
    run(cargo()
        .args([
            "run",
            "-q",
            "-p",
            "cachelab-exercises",
            "--bin",
            "cachelab-exercises",
            "--",
            "--export",
        ])
        .arg(dist.join("learn.json")))?;
    eprintln!("built {}", dist.display());
    Ok(dist)
}

fn test() -> Result<()> {
    ensure_system()?;
    ensure_wasm_tools()?;
    run(cargo().args(["fmt", "--all", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--exclude",
        "cachelab-web",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(cargo().args([
        "clippy",
        "--target",
        "wasm32-unknown-unknown",
        "-p",
        "cachelab-web",
        "-p",
        "cachelab-wasm",
        "-p",
        "cachelab-npm",
        "--",
        "-D",
        "warnings",
    ]))?;
    // Native: unit tests, the differential tests against redis-server, the
    // server end to end, two test binaries at a time (native_tests.rs).
    // (cachelab-web is a browser-only crate: it is linted
    // for wasm32 above and tested end to end below.)
    native_tests::run_native_tests(2)?;
    // The simulator's fault soak: 500 seeds, in release (minutes in debug).
    sim(&["--seeds".into(), "500".into()])?;
    // wasm tests in headless Chromium.
    let webdriver = root().join("target/webdriver.json");
    std::fs::create_dir_all(root().join("target")).map_err(|e| e.to_string())?;
    std::fs::write(
        &webdriver,
        r#"{"goog:chromeOptions":{"binary":"/usr/bin/chromium","args":["headless","no-sandbox","disable-gpu","disable-quic","no-first-run","disable-background-networking","disable-component-update","disable-sync"]}}"#,
    )
    .map_err(|e| e.to_string())?;
    run(cargo()
        .args([
            "test",
            "--target",
            "wasm32-unknown-unknown",
            "-p",
            "cachelab-wasm",
        ])
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
            "wasm-bindgen-test-runner",
        )
        .env("CHROMEDRIVER", "/usr/bin/chromedriver")
        .env("WASM_BINDGEN_TEST_WEBDRIVER_JSON", &webdriver))?;
    // The npm package, packed, installed into a fresh folder, used by Node.js.
    pack::test_package(&pack::pack()?)?;
    // End to end: the real page, real workers, Playwright driving Chromium.
    let dist = build_web(true)?;
    let server = serve::spawn(&dist, 0)?;
    // The local Playwright CLI, run with node directly (npx may try to fetch it).
    run(Command::new("node")
        .args(["node_modules/@playwright/test/cli.js", "test"])
        .current_dir(root().join("tests/e2e"))
        .env("CACHELAB_URL", format!("http://127.0.0.1:{}/", server.port)))
    .map_err(|e| format!("{e} (screenshots and traces: tests/e2e/test-results)"))?;
    // fmt, clippy (native), clippy (wasm), native tests, sim, wasm tests, npm package, end to end.
    println!("suites: 8 passed, 0 failed");
    Ok(())
}

/// `cargo xtask fuzz [TARGET] [SECONDS]`: runs a cargo-fuzz target (not part
/// of CI). cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP lets the one stable
/// toolchain on these machines accept them.
fn fuzz(target: &str, seconds: &str) -> Result<()> {
    if output(cargo().args(["fuzz", "--version"])).is_none() {
        run(cargo().args(["install", "cargo-fuzz"]))?;
    }
    run(cargo()
        .args([
            "fuzz",
            "run",
            target,
            "--fuzz-dir",
            "fuzz",
            "--",
            &format!("-max_total_time={seconds}"),
            "-dict=fuzz/dict.txt",
        ])
        .env("RUSTC_BOOTSTRAP", "1"))
}

/// `cargo xtask sim [--seeds N] [--from S] [--seed S --trace]`: the
/// simulator's seeded fault schedules with every checker, in release.
fn sim(args: &[String]) -> Result<()> {
    run(cargo()
        .args([
            "run",
            "--release",
            "-q",
            "-p",
            "cachelab-engine",
            "--example",
            "sim",
            "--",
        ])
        .args(args))
}

/// `cargo xtask exercises [--json] [--target redis://HOST:PORT] [--flush]`:
/// the learning mode's content validated and every lab run (see
/// exercises/src/bin/cachelab-exercises.rs).
fn exercises(args: &[String]) -> Result<()> {
    run(cargo()
        .args([
            "run",
            "-q",
            "-p",
            "cachelab-exercises",
            "--bin",
            "cachelab-exercises",
            "--",
        ])
        .args(args))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port = args
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .and_then(|p| p.parse().ok());
    let result = match args.first().map(String::as_str) {
        Some("serve") => build_web(!args.iter().any(|a| a == "--debug"))
            .and_then(|dist| serve::serve_forever(&dist, port.unwrap_or(8080))),
        Some("build") => build_web(true).map(|_| ()),
        Some("pack") => pack::pack().map(|_| ()),
        Some("test") => test(),
        Some("native-tests") => native_tests::run_native_tests(2),
        Some("bench") => bench::run_all(),
        Some("sim") => sim(&args[1..]),
        Some("redis-suite") => redis_suite::run_suite(&args[1..]),
        Some("exercises") => exercises(&args[1..]),
        Some("fuzz") => fuzz(
            args.get(1).map(String::as_str).unwrap_or("resp_request"),
            args.get(2).map(String::as_str).unwrap_or("60"),
        ),
        _ => Err("usage: cargo xtask <serve [--port P] [--debug] | build | pack | test | native-tests | bench | sim [--seeds N] [--jobs J] [--from S] [--seed S --trace] | redis-suite PATH-TO-REDIS-SOURCE [--against-redis] [UNITS…] | exercises [--json] [--target redis://HOST:PORT] [--flush] | fuzz [resp_request|resp_reply] [SECONDS]>".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
