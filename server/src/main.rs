//! The `cachelab-server` command line: parses flags, binds, serves until Ctrl-C.

use std::net::SocketAddr;

struct Args {
    /// redis-server's configuration file (first argument; "-" is stdin).
    conf_file: Option<String>,
    replicas: Option<usize>,
    backup_dir: Option<String>,
    memcached: Option<usize>,
    memcached_port: u16,
    /// Megabytes per memcached node (memcached's -m).
    memcached_memory: Option<usize>,
    /// `--cluster SxR`: shards and replicas per shard.
    cluster: Option<(usize, usize)>,
    /// Every other `--name arg …`: a Redis configuration directive, one
    /// line of the configuration after the file's.
    options: Vec<(String, Vec<String>)>,
}

fn usage() -> ! {
    eprintln!("usage: cachelab-server [/path/to/redis.conf] [--port PORT] [--bind ADDR] [--NAME ARG…]… [--replicas N] [--cluster SxR] [--memcached N [--memcached-port P] [--memcached-memory MB]]\n  /path/to/redis.conf: read as redis-server reads it (\"-\" for stdin); the options after it override it\n  --NAME ARG…: a Redis configuration directive, as redis-server takes it (--dir /data --save \"\" --replicaof 10.0.0.1 6379)\n  defaults: --bind 127.0.0.1 --port 6379\n  --memcached N: N memcached nodes (1-60) on P, P+1, … (default 11211), each also answering\n                `config get cluster` as the ElastiCache configuration endpoint;\n                admin commands on stdin (add, remove PORT, kill PORT, replace PORT, status)\n  --memcached-memory MB: each node's memory limit (memcached's -m; default 64)\n  --replicas N: a replication group, primary on PORT and N (0-5) replicas on PORT+1..PORT+N,\n                with Multi-AZ automatic failover; admin commands on stdin (kill PORT, failover, status,\n                backup NAME, backups, export NAME, backup-window HH:MM-HH:MM DAYS, delete-group [FINAL])\n  --cluster SxR: cluster mode enabled, S shards (1-500) of a primary and R (0-5) replicas on PORT,\n                PORT+1, … (bus ports +10000), assembled by the control plane; admin commands on stdin\n                (status, kill PORT, restart PORT, failover SHARD, reshard FROM TO SLOTS, rebalance,\n                scale-out N, scale-in SHARD, quit)\n  --backup-dir DIR: with --replicas, the folder exported backups are written to (the \"bucket\"; default .)\n  -v, --version: the Redis version this server speaks");
    std::process::exit(2)
}

fn number<T: std::str::FromStr>(v: Option<String>) -> T {
    v.and_then(|p| p.parse().ok()).unwrap_or_else(|| usage())
}

fn parse_args() -> Args {
    let mut args = Args {
        conf_file: None,
        replicas: None,
        backup_dir: None,
        memcached: None,
        memcached_port: 11211,
        memcached_memory: None,
        cluster: None,
        options: Vec::new(),
    };
    let mut it = std::env::args().skip(1).peekable();
    // redis-server's first argument may be its configuration file.
    if let Some(first) = it.peek() {
        if first == "-" || !first.starts_with('-') {
            args.conf_file = it.next();
        }
    }
    while let Some(a) = it.next() {
        match a.as_str() {
            "-v" | "--version" => {
                println!("Redis server v=7.0.15 sha=00000000:0 malloc=libc bits=64 build=cachelab");
                std::process::exit(0);
            }
            "--memcached" => {
                let n: usize = number(it.next());
                if !(1..=60).contains(&n) {
                    eprintln!("--memcached: a cluster has 1 to 60 nodes");
                    std::process::exit(2);
                }
                args.memcached = Some(n);
            }
            "--memcached-memory" => {
                let mb: usize = number(it.next());
                if mb == 0 {
                    eprintln!("--memcached-memory: at least 1 MB");
                    std::process::exit(2);
                }
                args.memcached_memory = Some(mb << 20);
            }
            "--memcached-port" => args.memcached_port = number(it.next()),
            "--replicas" => {
                let n: usize = number(it.next());
                if n > 5 {
                    eprintln!("--replicas: a node group has at most 5 replicas");
                    std::process::exit(2);
                }
                args.replicas = Some(n);
            }
            "--backup-dir" => args.backup_dir = Some(it.next().unwrap_or_else(|| usage())),
            "--cluster" => {
                let spec = it.next().unwrap_or_else(|| usage());
                let parsed = spec
                    .split_once(['x', 'X'])
                    .and_then(|(s, r)| Some((s.parse::<usize>().ok()?, r.parse::<usize>().ok()?)));
                match parsed {
                    Some((s, r)) if (1..=500).contains(&s) && r <= 5 && s * (r + 1) <= 500 => {
                        args.cluster = Some((s, r));
                    }
                    _ => {
                        eprintln!("--cluster SxR: 1 to 500 shards of a primary and 0 to 5 replicas, at most 500 nodes (e.g. --cluster 3x1)");
                        std::process::exit(2);
                    }
                }
            }
            "-h" | "--help" => usage(),
            _ if a.starts_with("--") && a.len() > 2 => {
                // redis-server's `--name arg …`: the arguments up to the
                // next option.
                let mut values = Vec::new();
                while let Some(v) = it.next_if(|v| !(v.starts_with("--") && v.len() > 2)) {
                    values.push(v);
                }
                args.options.push((a[2..].to_string(), values));
            }
            _ => {
                eprintln!("unknown argument {a:?}");
                usage()
            }
        }
    }
    args
}

/// The configuration file's text, as redis-server opens it.
fn read_file(path: &str) -> Result<String, String> {
    let r = if path == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    };
    r.map_err(|e| {
        // strerror's words, without Rust's "(os error N)".
        let e = e.to_string();
        let e = e.split(" (os error").next().unwrap_or(&e).to_string();
        format!("Fatal error, can't open config file '{path}': {e}")
    })
}

fn main() {
    let args = parse_args();
    let file = match args.conf_file.as_deref().map(read_file).transpose() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let text = cachelab_server::conf::text(file.as_deref(), &args.options);
    let process = cachelab_server::conf::parse(&text, &read_file)
        .and_then(cachelab_server::conf::split)
        .and_then(|p| cachelab_server::check_config(&p.node).map(|_| p));
    let process = match process {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let bind = process.bind.clone().unwrap_or_else(|| "127.0.0.1".into());
    let port = process.port.unwrap_or(6379);
    if let Some(n) = args.memcached {
        if let Err(e) =
            cachelab_server::mcluster::run(&bind, args.memcached_port, n, args.memcached_memory)
        {
            eprintln!("cachelab-server: {e}");
            std::process::exit(1);
        }
        return;
    }
    if let Some((shards, replicas)) = args.cluster {
        let nodes = shards * (replicas + 1);
        println!(
            "cachelab-server: cluster mode enabled, {shards} shard(s) x {} node(s) on {bind}:{port}..{}, bus ports +10000. Ctrl-C to stop.",
            replicas + 1,
            port as usize + nodes - 1
        );
        if nodes > 90 {
            println!("cachelab-server: note: {nodes} nodes is above ElastiCache's default quota of 90 nodes per cluster (raised on request, up to 500)");
        }
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::stdin().lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let dir = std::env::current_dir().unwrap_or_else(|_| ".".into());
        if let Err(e) = cachelab_server::cme::run_cluster(&bind, port, shards, replicas, &dir, rx) {
            eprintln!("cachelab-server: {e}");
            std::process::exit(1);
        }
        return;
    }
    if let Some(n) = args.replicas {
        println!(
            "cachelab-server: replication group, primary on {bind}:{port}, {n} replica(s) on the next ports. Ctrl-C to stop."
        );
        let dir = std::path::PathBuf::from(args.backup_dir.as_deref().unwrap_or("."));
        if let Err(e) = cachelab_server::group::run_group(&bind, port, n, &dir) {
            eprintln!("cachelab-server: {e}");
            std::process::exit(1);
        }
        return;
    }
    cachelab_server::set_logfile(process.logfile.as_deref());
    if let Some(pidfile) = &process.pidfile {
        if let Err(e) = std::fs::write(pidfile, format!("{}\n", std::process::id())) {
            cachelab_server::log(false, &format!("Failed to write PID file: {e}"));
        }
    }
    let addr: SocketAddr = match format!("{bind}:{port}").parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bad address: {e}");
            std::process::exit(2);
        }
    };
    // redis-server's start-up lines.
    let pid = std::process::id();
    cachelab_server::log(false, "oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo");
    cachelab_server::log(
        false,
        &format!("Redis version=7.0.15, bits=64, commit=00000000, modified=0, pid={pid}, just started (cachelab-server)"),
    );
    cachelab_server::log(
        false,
        if args.conf_file.is_some() {
            "Configuration loaded"
        } else {
            "Warning: no config file specified, using the default config. In order to specify a config file use cachelab-server /path/to/redis.conf"
        },
    );
    let listener = match std::net::TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            cachelab_server::log(
                false,
                &format!("Warning: Could not create server TCP listening socket {addr}: {e}"),
            );
            cachelab_server::log(
                false,
                &format!("Failed listening on port {port} (TCP), aborting."),
            );
            std::process::exit(1);
        }
    };
    cachelab_server::log(false, &format!("Running mode=standalone, port={port}."));
    cachelab_server::log(false, "Server initialized");
    let opts = cachelab_server::Options {
        config: process
            .node
            .iter()
            .map(|l| (l.name.clone(), l.args.join(" ")))
            .collect(),
        replicaof: process.replicaof.clone(),
        ..Default::default()
    };
    let result = cachelab_server::run_blocking_with(listener, opts, None, async {
        let _ = tokio::signal::ctrl_c().await;
        cachelab_server::log(false, "Received SIGINT scheduling shutdown...");
    });
    if let Err(e) = result {
        eprintln!("cachelab-server: {e}");
        std::process::exit(1);
    }
}
