//! `cachelab-server --cluster SxR`: a cluster-mode-enabled replication
//! group of S shards × (1 + R) nodes on consecutive ports (bus ports
//! 10000 above), each node on its own thread, assembled and changed by the
//! engine's CME control plane ([`cachelab_engine::control::cme::Cme`]),
//! whose commands travel over real TCP connections like any client's.
//! Clients (`redis-cli -c`, redis-py's RedisCluster, `redis-benchmark
//! --cluster`) discover the cluster from any node.
//!
//! Admin commands (stdin, or the channel given): `status`, `kill PORT`
//! (the node dies; its replica is elected by the others), `restart PORT`
//! (the node starts again from its nodes.conf and rejoins), `failover
//! SHARD` (TestFailover), `reshard FROM TO N` (N slots and their keys from
//! shard FROM's primary to shard TO's, online), `quit`.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use cachelab_engine::control::cme::{Cme, CmeAction};
use cachelab_engine::protocol::{parse_reply, Reply};
use tokio::sync::mpsc;

use crate::{now, run_blocking_with, Admin, Options};

struct Running {
    admin: mpsc::UnboundedSender<Admin>,
    thread: JoinHandle<()>,
}

struct Runtime {
    cme: Cme,
    bind: String,
    dir: std::path::PathBuf,
    nodes: HashMap<String, Running>,
    conns: HashMap<String, (TcpStream, Vec<u8>)>,
    printed: usize,
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

impl Runtime {
    fn config_file(port: u16) -> String {
        format!("nodes-{port}.conf")
    }

    /// A node on `addr` in cluster mode; `fresh` forgets its nodes.conf.
    fn launch(&mut self, addr: &str, cport: u16, fresh: bool) {
        self.terminate(addr);
        let port = port_of(addr);
        let file = Self::config_file(port);
        if fresh {
            let _ = std::fs::remove_file(self.dir.join(&file));
        }
        let listener = crate::bind_retrying(&self.bind, port);
        let Some(listener) = listener else {
            println!("[control] cannot listen on port {port}; node not launched");
            return;
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let dir = self.dir.to_string_lossy().into_owned();
        let mut opts = Options {
            log_label: Some(format!(":{port}")),
            ..Options::default()
        };
        for (k, v) in [
            ("cluster-enabled", "yes".to_string()),
            ("cluster-port", cport.to_string()),
            ("cluster-config-file", file),
            ("dir", dir),
            ("save", String::new()),
        ] {
            opts.config.push((k.into(), v));
        }
        let thread = std::thread::spawn(move || {
            let _ = run_blocking_with(listener, opts, Some(rx), std::future::pending::<()>());
        });
        self.nodes
            .insert(addr.to_string(), Running { admin: tx, thread });
    }

    fn terminate(&mut self, addr: &str) {
        self.conns.remove(addr);
        if let Some(r) = self.nodes.remove(addr) {
            let _ = r.admin.send(Admin::Stop);
            let _ = r.thread.join();
        }
    }

    /// One command to a node over TCP (a connection kept per node); a node
    /// that cannot be reached answers IOERR, as MIGRATE words it.
    fn call(&mut self, addr: &str, argv: &[Vec<u8>]) -> Reply {
        let ioerr =
            |e: &str| Reply::Error(format!("IOERR error or timeout talking to {addr}: {e}"));
        if !self.nodes.contains_key(addr) {
            return ioerr("the node is not running");
        }
        if !self.conns.contains_key(addr) {
            match TcpStream::connect(addr) {
                Ok(s) => {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                    self.conns.insert(addr.to_string(), (s, Vec::new()));
                }
                Err(e) => return ioerr(&e.to_string()),
            }
        }
        let Some((sock, buf)) = self.conns.get_mut(addr) else {
            return ioerr("no connection");
        };
        let req = cachelab_engine::protocol::request::encode_request(argv);
        if let Err(e) = sock.write_all(&req) {
            self.conns.remove(addr);
            return ioerr(&e.to_string());
        }
        loop {
            if let Ok(Some((r, n))) = parse_reply(buf) {
                buf.drain(..n);
                return r;
            }
            let mut chunk = [0u8; 65536];
            match sock.read(&mut chunk) {
                Ok(0) | Err(_) => {
                    self.conns.remove(addr);
                    return ioerr("connection lost");
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn run_actions(&mut self) {
        while let Some(a) = self.cme.poll_action() {
            match a {
                CmeAction::Launch { addr, cport, az } => {
                    println!("[control] launching node on port {} ({az})", port_of(&addr));
                    self.launch(&addr, cport, true);
                }
                CmeAction::Terminate { addr } => {
                    println!("[control] node on port {} removed", port_of(&addr));
                    self.terminate(&addr);
                }
                CmeAction::Command { tag, addr, argv } => {
                    let reply = self.call(&addr, &argv);
                    self.cme.reply(now(), tag, reply);
                }
            }
        }
        while self.printed < self.cme.events.len() {
            println!("[control] {}", self.cme.events[self.printed].1);
            self.printed += 1;
        }
    }

    /// The current primary of each shard (as the cluster says) and the
    /// slots it serves, told to the control plane first.
    fn refresh_roles(&mut self) -> Vec<(usize, Vec<u16>)> {
        let addrs: Vec<String> = self.cme.nodes.iter().map(|n| n.addr.clone()).collect();
        let nodes_text =
            addrs
                .iter()
                .find_map(|a| match self.call(a, &args(&["CLUSTER", "NODES"])) {
                    Reply::Bulk(b) | Reply::Verbatim(_, b) => {
                        Some(String::from_utf8_lossy(&b).into_owned())
                    }
                    _ => None,
                });
        let Some(text) = nodes_text else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            if f.len() < 8 || !f[2].contains("master") || f[2].contains("fail") {
                continue;
            }
            let Some(i) = self
                .cme
                .nodes
                .iter()
                .position(|n| n.id.as_deref() == Some(f[0]))
            else {
                continue;
            };
            let mut slots = Vec::new();
            for r in &f[8..] {
                if r.starts_with('[') {
                    continue;
                }
                let (a, b) = r.split_once('-').unwrap_or((r, r));
                if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                    slots.extend(a..=b);
                }
            }
            self.cme.set_primary(i);
            out.push((i, slots));
        }
        out
    }

    fn status(&mut self) {
        let addrs: Vec<(String, String)> = self
            .cme
            .nodes
            .iter()
            .map(|n| (n.name.clone(), n.addr.clone()))
            .collect();
        for (name, addr) in addrs {
            let line = match self.call(&addr, &args(&["CLUSTER", "NODES"])) {
                Reply::Bulk(b) | Reply::Verbatim(_, b) => String::from_utf8_lossy(&b)
                    .lines()
                    .find(|l| l.contains("myself"))
                    .map(|l| {
                        let f: Vec<&str> = l.split(' ').collect();
                        let role = if f[2].contains("master") {
                            "primary"
                        } else {
                            "replica"
                        };
                        let slots = f[8..].join(" ");
                        format!("{role} {slots}")
                    })
                    .unwrap_or_default(),
                _ => "down".to_string(),
            };
            println!("[control] {name} port {} {line}", port_of(&addr));
        }
    }

    fn admin(&mut self, line: &str) -> bool {
        let words: Vec<&str> = line.split_whitespace().collect();
        let addr_of = |p: &str| {
            let host = if self.bind == "0.0.0.0" {
                "127.0.0.1"
            } else {
                &self.bind
            };
            format!("{host}:{p}")
        };
        match words.as_slice() {
            ["status"] => self.status(),
            ["quit"] => return false,
            ["kill", p] => {
                let addr = addr_of(p);
                if self.nodes.contains_key(&addr) {
                    println!("[admin] node on port {p} killed");
                    self.terminate(&addr);
                } else {
                    println!("[admin] no running node on port {p}");
                }
            }
            ["restart", p] => {
                let addr = addr_of(p);
                match self.cme.index_of(&addr) {
                    Some(i) => {
                        let cport = self.cme.nodes[i].cport;
                        println!("[admin] node on port {p} restarting from its nodes.conf");
                        self.launch(&addr, cport, false);
                    }
                    None => println!("[admin] no node of the group on port {p}"),
                }
            }
            ["reboot", p] => {
                // RebootCacheCluster: refused in cluster mode, as the API does.
                let addr = addr_of(p);
                let name = self.cme.index_of(&addr).map(|i| self.cme.nodes[i].name.clone());
                if let Err(e) = self.cme.reboot(name.as_deref().unwrap_or(p)) {
                    println!("[admin] {}: {}", e.code, e.message);
                }
            }
            ["failover", s] => {
                let shard = s.parse::<usize>().unwrap_or(0);
                self.refresh_roles();
                if let Err(e) = self.cme.test_failover(now(), shard.wrapping_sub(1)) {
                    println!("[admin] {e}");
                }
            }
            ["reshard", from, to, n] => {
                let (Ok(from), Ok(to), Ok(n)) =
                    (from.parse::<usize>(), to.parse::<usize>(), n.parse::<usize>())
                else {
                    println!("[admin] usage: reshard FROM-SHARD TO-SHARD SLOTS");
                    return true;
                };
                let primaries = self.refresh_roles();
                let find = |s: usize| {
                    primaries
                        .iter()
                        .find(|(i, _)| self.cme.nodes[*i].shard + 1 == s)
                        .cloned()
                };
                match (find(from), find(to)) {
                    (Some((f, slots)), Some((t, _))) if f != t => {
                        let take: Vec<u16> = slots.iter().rev().take(n).rev().copied().collect();
                        let (fs, ts) = (self.cme.nodes[f].shard, self.cme.nodes[t].shard);
                        self.cme.move_slots(now(), fs, ts, &take);
                    }
                    _ => println!("[admin] no such shards with a live primary"),
                }
            }
            ["rebalance"] => {
                self.refresh_roles();
                match self.cme.rebalance(now()) {
                    Ok(0) => println!("[admin] the slots are already balanced"),
                    Ok(n) => println!("[admin] rebalancing: {n} slots to move"),
                    Err(e) => println!("[admin] {}: {}", e.code, e.message),
                }
            }
            ["scale-out", n] => {
                self.refresh_roles();
                let n = n.parse::<usize>().unwrap_or(0);
                if let Err(e) = self.cme.scale_out(now(), n) {
                    println!("[admin] {}: {}", e.code, e.message);
                }
            }
            ["scale-in", s] => {
                self.refresh_roles();
                let s = s.parse::<usize>().unwrap_or(0);
                if let Err(e) = self.cme.scale_in(now(), &[s.wrapping_sub(1)]) {
                    println!("[admin] {}: {}", e.code, e.message);
                }
            }
            [] => {}
            _ => println!(
                "[admin] commands: status | kill PORT | restart PORT | reboot PORT | failover SHARD | reshard FROM TO SLOTS | rebalance | scale-out N | scale-in SHARD | quit"
            ),
        }
        true
    }
}

fn args(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.as_bytes().to_vec()).collect()
}

/// Runs the group until `quit` (or the admin lines end and Ctrl-C): the
/// nodes on `base_port`… with their files in `dir`.
pub fn run_cluster(
    bind: &str,
    base_port: u16,
    shards: usize,
    replicas: usize,
    dir: &std::path::Path,
    lines: std_mpsc::Receiver<String>,
) -> std::io::Result<()> {
    let host = if bind == "0.0.0.0" { "127.0.0.1" } else { bind }.to_string();
    let per = replicas + 1;
    let cme = Cme::new(
        "cachelab",
        shards,
        replicas,
        &["us-east-1a", "us-east-1b", "us-east-1c"],
        move |s, n| {
            let port = base_port + (s * per + n) as u16;
            (format!("{host}:{port}"), port + 10000)
        },
    );
    let mut rt = Runtime {
        cme,
        bind: bind.to_string(),
        dir: dir.to_path_buf(),
        nodes: HashMap::new(),
        conns: HashMap::new(),
        printed: 0,
    };
    rt.cme.create(now());
    println!("[control] admin commands: status | kill PORT | restart PORT | failover SHARD | reshard FROM TO SLOTS | rebalance | scale-out N | scale-in SHARD | quit");
    loop {
        rt.run_actions();
        rt.cme.tick(now());
        match lines.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                if !rt.admin(&line) {
                    break;
                }
            }
            Err(std_mpsc::RecvTimeoutError::Timeout) => {}
            // No more admin lines: serve on until the process is stopped.
            Err(std_mpsc::RecvTimeoutError::Disconnected) => {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    let addrs: Vec<String> = rt.nodes.keys().cloned().collect();
    for a in addrs {
        rt.terminate(&a);
    }
    Ok(())
}
