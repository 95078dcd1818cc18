//! `cachelab-server --replicas N`: a replication group on consecutive ports,
//! each node on its own thread (as separate redis-server processes would
//! be), replicating over real TCP sockets, with the engine's control plane
//! running here: it health-checks the nodes, fails over, relaunches, and
//! reports each step on stdout in AWS's words.
//!
//! Admin commands on stdin: `kill PORT` (the node dies, its data with it),
//! `failover` (TestFailover), `reboot PORT`, `status`, `quit`.

use std::collections::HashMap;
use std::net::TcpListener as StdListener;
use std::thread::JoinHandle;
use std::time::Duration;

use cachelab_engine::control::{Action, Api, Control, ControlInput, Settings, CONTROL_ADDR};
use cachelab_engine::PeerMsg;
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;

use crate::{now, run_blocking_with, Admin, ControlTx, Options};

struct Running {
    admin: mpsc::UnboundedSender<Admin>,
    thread: JoinHandle<()>,
}

struct Group {
    control: Control,
    nodes: HashMap<String, Running>,
    control_tx: ControlTx,
    bind: String,
    printed: usize,
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

impl Group {
    fn launch(&mut self, addr: &str, replicaof: Option<String>) {
        self.terminate(addr);
        let port = port_of(addr);
        let listener = (0..50).find_map(|_| {
            StdListener::bind((self.bind.as_str(), port))
                .ok()
                .or_else(|| {
                    std::thread::sleep(Duration::from_millis(20));
                    None
                })
        });
        let Some(listener) = listener else {
            println!("[control] cannot listen on port {port}; node not launched");
            return;
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let opts = Options {
            announce: addr.to_string(),
            replicaof: replicaof.map(|p| {
                let (h, pt) = p.rsplit_once(':').unwrap_or((&p, "6379"));
                (h.to_string(), pt.parse().unwrap_or(6379))
            }),
            log_label: Some(format!(":{port}")),
            control: Some(self.control_tx.clone()),
            ..Options::default()
        };
        let thread = std::thread::spawn(move || {
            let _ = run_blocking_with(listener, opts, Some(rx), std::future::pending::<()>());
        });
        self.nodes
            .insert(addr.to_string(), Running { admin: tx, thread });
    }

    fn terminate(&mut self, addr: &str) {
        if let Some(r) = self.nodes.remove(addr) {
            let _ = r.admin.send(Admin::Stop);
            let _ = r.thread.join();
        }
    }

    fn run_actions(&mut self) {
        while let Some(a) = self.control.poll_action() {
            match a {
                Action::Send { to, msg } => {
                    if let Some(r) = self.nodes.get(&to) {
                        let _ = r.admin.send(Admin::Peer {
                            from: CONTROL_ADDR.into(),
                            msg,
                        });
                    }
                }
                Action::Launch {
                    addr, replicaof, ..
                } => {
                    println!(
                        "[control] launching node on port {}{}",
                        port_of(&addr),
                        replicaof
                            .as_deref()
                            .map(|p| format!(" as a replica of port {}", port_of(p)))
                            .unwrap_or_default()
                    );
                    self.launch(&addr, replicaof);
                }
                Action::Terminate { addr } => {
                    if self.nodes.contains_key(&addr) {
                        println!("[control] taking node on port {} offline", port_of(&addr));
                    }
                    self.terminate(&addr);
                }
                Action::ReplicaOf { addr, primary } => {
                    if let Some(r) = self.nodes.get(&addr) {
                        let p = primary.map(|p| {
                            let (h, pt) = p.rsplit_once(':').unwrap_or((&p, "6379"));
                            (h.to_string(), pt.parse().unwrap_or(6379))
                        });
                        let _ = r.admin.send(Admin::ReplicaOf(p));
                    }
                }
            }
        }
        let before = self.control.dns.primary.clone();
        while self.printed < self.control.events.len() {
            let e = &self.control.events[self.printed];
            println!("[control] {} {}: {}", e.source_type, e.source_id, e.message);
            self.printed += 1;
        }
        let _ = before;
    }

    fn status(&self) {
        for n in &self.control.nodes {
            println!(
                "[control] {} port {} {} {:?} {}",
                n.name,
                port_of(&n.addr),
                n.az,
                n.role,
                n.status.word()
            );
        }
        println!(
            "[control] primary endpoint -> {}; reader endpoint -> {:?}",
            self.control.dns.primary.as_deref().unwrap_or("(none)"),
            self.control.dns.readers
        );
    }
}

/// Runs a group of 1 primary and `replicas` replicas on `base_port`… until
/// Ctrl-C or `quit`.
pub fn run_group(bind: &str, base_port: u16, replicas: usize) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let azs = ["us-east-1a", "us-east-1b", "us-east-1c"];
        let host = if bind == "0.0.0.0" { "127.0.0.1" } else { bind };
        let specs: Vec<(&str, String)> = (0..=replicas)
            .map(|i| (azs[i % 3], format!("{host}:{}", base_port + i as u16)))
            .collect();
        let settings = Settings {
            launch_ms: 5_000,
            ..Settings::default()
        };
        let (control_tx, mut control_rx) = mpsc::unbounded_channel::<(String, PeerMsg)>();
        let mut g = Group {
            control: Control::with_addrs("cachelab", &specs, replicas > 0, settings),
            nodes: HashMap::new(),
            control_tx,
            bind: bind.to_string(),
            printed: 0,
        };
        g.control.create(now());
        g.run_actions();
        g.status();
        println!("[control] admin commands: kill PORT | reboot PORT | failover | status | quit");
        let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut last_primary = g.control.dns.primary.clone();
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = tick.tick() => {
                    g.control.handle(now(), ControlInput::Tick);
                }
                Some((from, msg)) = control_rx.recv() => {
                    let from: String = from;
                    g.control.handle(now(), ControlInput::Peer { from: &from, msg });
                }
                line = stdin.next_line() => {
                    let Ok(Some(line)) = line else {
                        // stdin closed: keep serving until Ctrl-C.
                        std::future::pending::<()>().await;
                        continue;
                    };
                    let words: Vec<&str> = line.split_whitespace().collect();
                    let addr_of = |p: &str| format!("{host}:{p}");
                    match words.as_slice() {
                        ["kill", p] => {
                            println!("[admin] killing the node on port {p}");
                            g.terminate(&addr_of(p));
                        }
                        ["reboot", p] => {
                            let id = g.control.nodes.iter().find(|n| n.addr == addr_of(p)).map(|n| n.id.clone());
                            if let Some(id) = id {
                                if let Err(e) = g.control.api(now(), Api::Reboot { id }) {
                                    println!("[admin] {}: {}", e.code, e.message);
                                }
                            }
                        }
                        ["failover"] => {
                            if let Err(e) = g.control.api(now(), Api::TestFailover) {
                                println!("[admin] {}: {}", e.code, e.message);
                            }
                        }
                        ["status"] => g.status(),
                        ["quit"] => break,
                        [] => {}
                        _ => println!("[admin] commands: kill PORT | reboot PORT | failover | status | quit"),
                    }
                }
            }
            g.run_actions();
            if g.control.dns.primary != last_primary {
                last_primary = g.control.dns.primary.clone();
                println!(
                    "[control] primary endpoint now resolves to {}",
                    last_primary.as_deref().unwrap_or("(nothing: writes fail)")
                );
            }
        }
        for addr in g.nodes.keys().cloned().collect::<Vec<_>>() {
            g.terminate(&addr);
        }
        Ok(())
    })
}
