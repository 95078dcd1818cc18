//! `cachelab-server --memcached N`: an ElastiCache for Memcached cluster on
//! consecutive ports, one thread per node (as separate memcached processes
//! would be). Every node answers `config get cluster` — any of them can be
//! the configuration endpoint — with the node list and a version that grows
//! on every add or remove, as ElastiCache's does.
//!
//! Admin commands on stdin: `add` (a node on the next free port), `remove
//! PORT`, `kill PORT` (the node dies with its data, and stays listed, as a
//! failed node does while ElastiCache replaces it), `replace PORT` (a new,
//! empty node at the same endpoint), `status`, `quit`.

use std::collections::BTreeMap;
use std::net::TcpListener as StdListener;
use std::thread::JoinHandle;
use std::time::Duration;

use cachelab_engine::memcached::ClusterConfig;
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;

use crate::{run_blocking_with, Admin, Options};

struct Running {
    admin: mpsc::UnboundedSender<Admin>,
    thread: JoinHandle<()>,
}

pub struct Cluster {
    bind: String,
    host: String,
    memory: Option<usize>,
    pub config: ClusterConfig,
    /// Running nodes by port (a killed node is listed but not running).
    nodes: BTreeMap<u16, Running>,
}

impl Cluster {
    fn listed(&self, port: u16) -> bool {
        self.config.nodes.iter().any(|(_, _, p)| *p == port)
    }

    fn launch(&mut self, port: u16) -> std::io::Result<()> {
        self.stop(port);
        let listener = (0..50)
            .find_map(|_| {
                StdListener::bind((self.bind.as_str(), port))
                    .ok()
                    .or_else(|| {
                        std::thread::sleep(Duration::from_millis(20));
                        None
                    })
            })
            .ok_or_else(|| std::io::Error::other(format!("cannot listen on port {port}")))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let opts = Options {
            memcached: true,
            cluster: Some(self.config.clone()),
            memory: self.memory,
            ..Options::default()
        };
        let thread = std::thread::spawn(move || {
            let _ = run_blocking_with(listener, opts, Some(rx), std::future::pending::<()>());
        });
        self.nodes.insert(port, Running { admin: tx, thread });
        Ok(())
    }

    fn stop(&mut self, port: u16) {
        if let Some(r) = self.nodes.remove(&port) {
            let _ = r.admin.send(Admin::Stop);
            let _ = r.thread.join();
        }
    }

    /// Every running node learns the new configuration.
    fn publish(&self) {
        for r in self.nodes.values() {
            let _ = r.admin.send(Admin::Cluster(self.config.clone()));
        }
    }

    /// A node as the configuration lists it: host name, IP, port. The host
    /// name is the address too (clients such as memcached-elasticache
    /// connect by it, and "localhost" may resolve to ::1, where nothing
    /// listens).
    fn entry(&self, port: u16) -> (String, String, u16) {
        (self.host.clone(), self.host.clone(), port)
    }

    pub fn add(&mut self) -> std::io::Result<u16> {
        if self.config.nodes.len() >= 60 {
            return Err(std::io::Error::other(
                "NodeQuotaForClusterExceeded: a cluster has at most 60 nodes",
            ));
        }
        let mut port = self.config.nodes.iter().map(|n| n.2).max().unwrap_or(11210) + 1;
        while StdListener::bind((self.bind.as_str(), port)).is_err() {
            port += 1;
        }
        self.config.nodes.push(self.entry(port));
        self.config.version += 1;
        self.launch(port)?;
        self.publish();
        Ok(port)
    }

    pub fn remove(&mut self, port: u16) -> Result<(), String> {
        if !self.listed(port) {
            return Err(format!("no node on port {port}"));
        }
        if self.config.nodes.len() == 1 {
            return Err("InvalidParameterValue: a cluster needs at least one node".into());
        }
        self.stop(port);
        self.config.nodes.retain(|n| n.2 != port);
        self.config.version += 1;
        self.publish();
        Ok(())
    }

    pub fn kill(&mut self, port: u16) -> Result<(), String> {
        if !self.nodes.contains_key(&port) {
            return Err(format!("no running node on port {port}"));
        }
        self.stop(port);
        Ok(())
    }

    pub fn replace(&mut self, port: u16) -> Result<(), String> {
        if !self.listed(port) {
            return Err(format!("no node on port {port}"));
        }
        self.launch(port).map_err(|e| e.to_string())
    }

    fn status(&self) {
        println!(
            "[cluster] configuration version {}, {} node(s)",
            self.config.version,
            self.config.nodes.len()
        );
        for (_, ip, port) in &self.config.nodes {
            let state = if self.nodes.contains_key(port) {
                "available"
            } else {
                "failed (listed until replaced)"
            };
            println!("[cluster] node {ip}:{port} {state}");
        }
    }
}

/// Runs `n` memcached nodes from `base` until Ctrl-C or `quit`.
pub fn run(bind: &str, base: u16, n: usize, memory: Option<usize>) -> std::io::Result<()> {
    let host = if bind == "0.0.0.0" { "127.0.0.1" } else { bind }.to_string();
    let mut c = Cluster {
        bind: bind.to_string(),
        host: host.clone(),
        memory,
        config: ClusterConfig {
            version: 1,
            nodes: Vec::new(),
        },
        nodes: BTreeMap::new(),
    };
    c.config.nodes = (0..n).map(|i| c.entry(base + i as u16)).collect();
    for i in 0..n {
        c.launch(base + i as u16)?;
        println!(
            "memcached node {} listening on {bind}:{}",
            i + 1,
            base + i as u16
        );
    }
    println!(
        "configuration endpoint: any node, `config get cluster` (version {})",
        c.config.version
    );
    println!(
        "[cluster] admin commands: add | remove PORT | kill PORT | replace PORT | status | quit"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                line = stdin.next_line() => {
                    let Ok(Some(line)) = line else {
                        // stdin closed: keep serving until Ctrl-C.
                        let _ = tokio::signal::ctrl_c().await;
                        break;
                    };
                    let words: Vec<&str> = line.split_whitespace().collect();
                    let port = |p: &str| p.parse::<u16>().map_err(|_| format!("bad port {p:?}"));
                    let r: Result<(), String> = match words.as_slice() {
                        ["add"] => c.add().map(|p| {
                            println!("[cluster] added node {host}:{p}; configuration version {}", c.config.version);
                        }).map_err(|e| e.to_string()),
                        ["remove", p] => port(p).and_then(|p| c.remove(p)).map(|_| {
                            println!("[cluster] removed node; configuration version {}", c.config.version);
                        }),
                        ["kill", p] => port(p).and_then(|p| c.kill(p)).map(|_| {
                            println!("[cluster] node on port {} failed: its items are gone; it stays listed until replaced", words[1]);
                        }),
                        ["replace", p] => port(p).and_then(|p| c.replace(p)).map(|_| {
                            println!("[cluster] node on port {} replaced: empty, same endpoint", words[1]);
                        }),
                        ["status"] => {
                            c.status();
                            Ok(())
                        }
                        ["quit"] => break,
                        // Memcached has no backups: refused as ElastiCache refuses it.
                        ["backup", ..] | ["backups"] | ["export", ..] | ["backup-window", ..] => {
                            let e = cachelab_engine::backup::memcached_refusal();
                            Err(format!("{}: {}", e.code, e.message))
                        }
                        [] => Ok(()),
                        _ => Err("commands: add | remove PORT | kill PORT | replace PORT | status | quit".into()),
                    };
                    if let Err(e) = r {
                        println!("[cluster] {e}");
                    }
                }
            }
        }
    });
    for p in c.nodes.keys().copied().collect::<Vec<_>>() {
        c.stop(p);
    }
    Ok(())
}
