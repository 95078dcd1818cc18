//! The `cachelab-server` command line: parses flags, binds, serves until Ctrl-C.

use std::net::SocketAddr;

struct Args {
    bind: String,
    port: u16,
    replicas: Option<usize>,
    backup_dir: Option<String>,
    memcached: Option<usize>,
    memcached_port: u16,
    /// Megabytes per memcached node (memcached's -m).
    memcached_memory: Option<usize>,
    /// Any other `--name value`: a Redis configuration directive.
    config: Vec<(String, String)>,
}

fn usage() -> ! {
    eprintln!("usage: cachelab-server [--port PORT] [--bind ADDR] [--NAME VALUE]… [--replicas N] [--memcached N [--memcached-port P] [--memcached-memory MB]]\n  --memcached N: N memcached nodes (1-60) on P, P+1, … (default 11211), each also answering\n                `config get cluster` as the ElastiCache configuration endpoint;\n                admin commands on stdin (add, remove PORT, kill PORT, replace PORT, status)\n  --memcached-memory MB: each node's memory limit (memcached's -m; default 64)\n  defaults: --bind 127.0.0.1 --port 6379\n  --NAME VALUE: a Redis configuration directive, as redis-server takes it (--dir /data --save \"\" --maxmemory 1gb)\n  --replicas N: a replication group, primary on PORT and N (0-5) replicas on PORT+1..PORT+N,\n                with Multi-AZ automatic failover; admin commands on stdin (kill PORT, failover, status,\n                backup NAME, backups, export NAME, backup-window HH:MM-HH:MM DAYS)\n  --backup-dir DIR: with --replicas, the folder exported backups are written to (the \"bucket\"; default .)");
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        bind: "127.0.0.1".into(),
        port: 6379,
        replicas: None,
        backup_dir: None,
        memcached: None,
        memcached_port: 11211,
        memcached_memory: None,
        config: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--port" => {
                args.port = it
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--bind" => args.bind = it.next().unwrap_or_else(|| usage()),
            "--memcached" => {
                let n: usize = it
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_else(|| usage());
                if !(1..=60).contains(&n) {
                    eprintln!("--memcached: a cluster has 1 to 60 nodes");
                    std::process::exit(2);
                }
                args.memcached = Some(n);
            }
            "--memcached-memory" => {
                let mb: usize = it
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_else(|| usage());
                if mb == 0 {
                    eprintln!("--memcached-memory: at least 1 MB");
                    std::process::exit(2);
                }
                args.memcached_memory = Some(mb << 20);
            }
            "--memcached-port" => {
                args.memcached_port = it
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--replicas" => {
                let n: usize = it
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_else(|| usage());
                if n > 5 {
                    eprintln!("--replicas: a node group has at most 5 replicas");
                    std::process::exit(2);
                }
                args.replicas = Some(n);
            }
            "--backup-dir" => args.backup_dir = Some(it.next().unwrap_or_else(|| usage())),
            "-h" | "--help" => usage(),
            _ if a.starts_with("--") && a.len() > 2 => {
                // redis-server's `--name value`: a config directive.
                let Some(v) = it.next() else {
                    eprintln!("{a}: a value is needed");
                    usage()
                };
                args.config.push((a[2..].to_string(), v));
            }
            _ => {
                eprintln!("unknown argument {a:?}");
                usage()
            }
        }
    }
    args
}

fn main() {
    let args = parse_args();
    if let Some(n) = args.memcached {
        if let Err(e) = cachelab_server::mcluster::run(
            &args.bind,
            args.memcached_port,
            n,
            args.memcached_memory,
        ) {
            eprintln!("cachelab-server: {e}");
            std::process::exit(1);
        }
        return;
    }
    if let Some(n) = args.replicas {
        println!(
            "cachelab-server: replication group, primary on {}:{}, {n} replica(s) on the next ports. Ctrl-C to stop.",
            args.bind, args.port
        );
        let dir = std::path::PathBuf::from(args.backup_dir.as_deref().unwrap_or("."));
        if let Err(e) = cachelab_server::group::run_group(&args.bind, args.port, n, &dir) {
            eprintln!("cachelab-server: {e}");
            std::process::exit(1);
        }
        return;
    }
    if let Err(e) = cachelab_server::check_config(&args.config) {
        eprintln!("\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n{e}");
        std::process::exit(1);
    }
    let addr: SocketAddr = match format!("{}:{}", args.bind, args.port).parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bad address: {e}");
            std::process::exit(2);
        }
    };
    let listener = match std::net::TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    println!("cachelab-server listening on {addr} (Redis 7.0 protocol). Ctrl-C to stop.");
    let opts = cachelab_server::Options {
        config: args.config,
        ..Default::default()
    };
    let result = cachelab_server::run_blocking_with(listener, opts, None, async {
        let _ = tokio::signal::ctrl_c().await;
        println!("cachelab-server: shutting down");
    });
    if let Err(e) = result {
        eprintln!("cachelab-server: {e}");
        std::process::exit(1);
    }
}
