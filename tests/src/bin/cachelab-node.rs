//! One cachelab node as its own process, for tests that must kill a
//! server the hard way (`kill -9`): `cachelab-node PORT [--name value]…`.
//! Cargo builds it with the tests (`CARGO_BIN_EXE_cachelab-node`).

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args
        .next()
        .and_then(|p| p.parse().ok())
        .expect("usage: cachelab-node PORT [--name value]…");
    let mut config = Vec::new();
    while let (Some(k), Some(v)) = (args.next(), args.next()) {
        config.push((k.trim_start_matches("--").to_string(), v));
    }
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let opts = cachelab_server::Options {
        config,
        ..Default::default()
    };
    cachelab_server::run_blocking_with(listener, opts, None, std::future::pending())
        .expect("the node runs");
}
