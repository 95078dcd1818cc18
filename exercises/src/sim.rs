//! The checker's cluster on the engine's simulator: a replication group
//! (`Sim`, with its control plane) or a Memcached cluster (`McCluster`),
//! in virtual time, answering every query at once. What `cargo xtask
//! exercises` and the tests grade labs on.

use cachelab_engine::control::{Api, NodeStatus, Settings};
use cachelab_engine::memcached::client::{CacheAside, Distribution, FailurePolicy};
use cachelab_engine::memcached::control::McNodeState;
use cachelab_engine::protocol::Reply;
use cachelab_engine::sim::cluster::ClusterSim;
use cachelab_engine::sim::memcached::McCluster;
use cachelab_engine::sim::Sim;
use cachelab_engine::Millis;

use crate::cluster::{reply_text, Cluster, ClusterView, Query, Ticket};
use crate::cme::Fault;
use crate::content::Scenario;
use crate::grade::run_step;
use crate::steps::{memcached_bytes, Action};

const AZS: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];

enum Inner {
    Redis(Box<Sim>),
    Memcached(Box<McCluster>),
    /// A cluster-mode-enabled group driven by its control plane.
    Cme(Box<ClusterSim>),
}

pub struct SimCluster {
    inner: Inner,
    /// Groups restored from the group's backups (`!restore`), each its own
    /// simulator kept at the same virtual time.
    restored: Vec<Sim>,
    answers: Vec<Option<Result<String, String>>>,
    /// Rotates reads over the reader endpoint's replicas.
    pick: usize,
    /// Connections that stay open (`sub> SUBSCRIBE news`): the simulator's
    /// session id by name.
    sessions: std::collections::BTreeMap<String, usize>,
}

impl SimCluster {
    /// The scenario's cluster, healthy, with its setup steps run.
    pub fn start(s: &Scenario, seed: u64) -> Result<SimCluster, String> {
        let inner = match s.kind.as_str() {
            "cluster" => {
                let mut sim = ClusterSim::cme_seeded(s.shards, s.replicas, seed);
                let mut t = 0;
                while sim.cme.as_ref().is_some_and(|c| c.status != "available") && t < 120_000 {
                    sim.advance(500);
                    t += 500;
                }
                if t >= 120_000 {
                    return Err("the cluster-mode group did not become available".into());
                }
                // Gossip carries the replicas' roles to every node.
                sim.advance(5_000);
                Inner::Cme(Box::new(sim))
            }
            "memcached" => Inner::Memcached(Box::new(McCluster::new(
                seed,
                s.nodes,
                Distribution::Ketama,
                FailurePolicy::KeepListed,
                CacheAside::new(seed, 1000, 0, 300),
            ))),
            _ => {
                let azs: Vec<&str> = (0..=s.replicas).map(|i| AZS[i % 3]).collect();
                let mut sim = Sim::new(seed, &azs, s.multi_az, Settings::default());
                let mut t = 0;
                while !sim.control.healthy() && t < 120_000 {
                    t += 1000;
                    sim.run_until(Millis(t));
                }
                if !sim.control.healthy() {
                    return Err("the replication group did not become available".into());
                }
                Inner::Redis(Box::new(sim))
            }
        };
        let mut c = SimCluster {
            inner,
            restored: Vec::new(),
            answers: Vec::new(),
            pick: 0,
            sessions: Default::default(),
        };
        for step in &s.setup {
            run_step(&mut c, step).map_err(|e| format!("setup {step:?}: {e}"))?;
        }
        Ok(c)
    }

    pub fn now(&self) -> Millis {
        match &self.inner {
            Inner::Redis(s) => s.now,
            Inner::Memcached(m) => m.now,
            Inner::Cme(c) => c.now,
        }
    }

    /// A command to a cluster-mode group: through a cluster client that
    /// follows MOVED and ASK (`cluster`, `primary`), the configuration
    /// endpoint (any live node, no redirects followed), or a node.
    fn cme(&mut self, via: &str, argv: &[Vec<u8>]) -> Result<Reply, String> {
        let Inner::Cme(sim) = &mut self.inner else {
            return Err("not a cluster-mode group".into());
        };
        let cme = sim.cme.as_ref().ok_or("no control plane")?;
        self.pick += 1;
        let (start, follow) = crate::cme::start(cme, via, self.pick)?;
        let port =
            port_of(&start).ok_or_else(|| format!("Could not connect to {via}: no such node"))?;
        if !sim.is_up(port) {
            return Err(format!("Could not connect to {via}: the node is down"));
        }
        Ok(if follow {
            sim.follow(port, argv)
        } else {
            sim.command(port, argv)
        })
    }

    /// A cluster-mode action, by the control plane or on the network.
    fn cme_act(sim: &mut ClusterSim, a: &Action) -> Result<(), String> {
        let now = sim.now;
        let cme = sim.cme.as_mut().ok_or("no control plane")?;
        let port = |addr: &str| port_of(addr).ok_or_else(|| format!("no node at {addr}"));
        match crate::cme::act(cme, now, a)? {
            Fault::None => {}
            Fault::Wait(ms) => sim.advance(ms),
            Fault::Kill(addr) => sim.kill(port(&addr)?),
            Fault::Isolate(addr) => sim.isolate(port(&addr)?),
            Fault::Heal => sim.heal(),
            Fault::AzDown(addrs) => {
                for a in addrs {
                    sim.kill(port(&a)?);
                }
            }
        }
        Ok(())
    }

    /// A command to a replication group or a cluster-mode group, through
    /// `via` (an endpoint — `primary`, `reader`, `cluster` — or a node's
    /// name); its reply as the engine gave it. `Err`: nothing answered
    /// (no such node, the node is down, the command blocked).
    pub fn request(&mut self, via: &str, argv: &[Vec<u8>]) -> Result<Reply, String> {
        if matches!(self.inner, Inner::Cme(_)) {
            return self.cme(via, argv);
        }
        let Inner::Redis(main) = &mut self.inner else {
            return Err("this is a Memcached cluster: use mc commands".into());
        };
        // A restored group by its name (its primary endpoint) or one of
        // its nodes; the lab's group otherwise.
        let owner =
            |s: &Sim| s.control.group == via || s.control.nodes.iter().any(|n| n.name == via);
        let (sim, via_ep) = match self.restored.iter_mut().find(|s| owner(s)) {
            Some(s) => {
                let group = s.control.group == via;
                (s, if group { "primary" } else { via })
            }
            None => (main.as_mut(), via),
        };
        let name = endpoint(sim, via_ep)?;
        self.pick += 1;
        let running = sim
            .control
            .resolve(&name, self.pick)
            .is_some_and(|addr| sim.hosts.contains_key(&addr));
        if !running {
            return Err(format!(
                "Could not connect to {via}: it resolves to no running node"
            ));
        }
        sim.command(&name, self.pick, argv)
            .map(|(_, r)| r)
            .ok_or_else(|| {
                format!("{via} gave no reply at once (a blocking command, or a paused node)")
            })
    }

    /// A memcached text-protocol request (`get k`, `set k 0 0 1\r\nv`)
    /// to a node by id, or to the node the client's hashing picks for its
    /// key (`client`); the reply, trimmed.
    pub fn memcached(&mut self, node: &str, line: &str) -> Result<String, String> {
        let Inner::Memcached(mc) = &mut self.inner else {
            return Err("this is a replication group: mc commands need Memcached".into());
        };
        let addr = if node == "client" {
            let key = line.split_whitespace().nth(1).unwrap_or("");
            mc.client
                .server_for(key.as_bytes())
                .map(str::to_string)
                .ok_or("the client knows no nodes yet")?
        } else {
            mc.control
                .nodes
                .iter()
                .find(|n| n.id == node && n.state != McNodeState::Removed)
                .map(|n| n.addr.clone())
                .ok_or_else(|| format!("no node {node}"))?
        };
        let reply = mc
            .request(&addr, &memcached_bytes(line))
            .ok_or_else(|| format!("node {node} does not answer (it failed)"))?;
        Ok(String::from_utf8_lossy(&reply).trim_end().to_string())
    }

    fn node_addr(&mut self, arg: &str) -> Result<(String, String), String> {
        let view = self.view();
        let name = view
            .node_name(arg)
            .ok_or_else(|| format!("no node {arg}"))?;
        match &self.inner {
            Inner::Redis(sim) => sim
                .control
                .nodes
                .iter()
                .find(|n| n.name == name)
                .map(|n| (n.id.clone(), n.addr.clone()))
                .ok_or_else(|| format!("no node {arg}")),
            Inner::Memcached(mc) => mc
                .control
                .nodes
                .iter()
                .find(|n| n.id == name)
                .map(|n| (n.id.clone(), n.addr.clone()))
                .ok_or_else(|| format!("no node {arg}")),
            Inner::Cme(_) => {
                Err("a cluster-mode group's nodes are named in its own actions".into())
            }
        }
    }
}

impl Cluster for SimCluster {
    fn ask(&mut self, q: &Query) -> Ticket {
        let a = match q {
            Query::Redis { via, argv } => self.request(via, argv).map(|r| reply_text(&r)),
            Query::Memcached { node, line } => self.memcached(node, line),
        };
        self.answers.push(Some(a));
        self.answers.len() - 1
    }

    fn answer(&mut self, t: Ticket) -> Option<Result<String, String>> {
        self.answers.get_mut(t).and_then(Option::take)
    }

    fn session(&mut self, name: &str, via: &str, argv: &[Vec<u8>]) -> Result<String, String> {
        let Inner::Redis(sim) = &mut self.inner else {
            return Err("a connection that stays open (NAME> …) needs a replication group".into());
        };
        let id = match self.sessions.get(name) {
            Some(&id) => id,
            None if argv.is_empty() => {
                return Err(format!(
                    "no connection {name} yet: {name}> COMMAND opens it"
                ))
            }
            None => {
                let addr = endpoint(sim, via)?;
                self.pick += 1;
                let id = sim.open_session(&addr, self.pick).ok_or_else(|| {
                    format!("Could not connect to {via}: it resolves to no running node")
                })?;
                self.sessions.insert(name.to_string(), id);
                id
            }
        };
        let quit = argv
            .first()
            .is_some_and(|c| c.eq_ignore_ascii_case(b"quit"));
        if !argv.is_empty() && !sim.session_send(id, argv) {
            self.sessions.remove(name);
            return Ok("Error: Server closed the connection".into());
        }
        let (replies, open) = sim.session_read(id);
        let mut out: Vec<String> = replies
            .iter()
            .map(|r| cachelab_engine::protocol::cli::format_reply(r, false))
            .collect();
        if quit || !open {
            sim.close_session(id);
            self.sessions.remove(name);
            if !quit {
                out.push("Error: Server closed the connection".into());
            }
        }
        Ok(if out.is_empty() {
            "(nothing has arrived)".into()
        } else {
            out.join("\n")
        })
    }

    fn view(&mut self) -> ClusterView {
        match &self.inner {
            Inner::Redis(sim) => ClusterView {
                groups: self
                    .restored
                    .iter()
                    .map(|s| s.control.group.clone())
                    .collect(),
                ..ClusterView::of_group(&sim.control)
            },
            Inner::Memcached(mc) => ClusterView::of_memcached(&mc.control),
            Inner::Cme(sim) => match sim.cme.as_ref() {
                Some(c) => ClusterView::of_cme(c),
                None => ClusterView::default(),
            },
        }
    }

    fn act(&mut self, a: &Action) -> Result<(), String> {
        if let Inner::Cme(sim) = &mut self.inner {
            return SimCluster::cme_act(sim, a);
        }
        let api_err = |e: cachelab_engine::control::ApiError| format!("{}: {}", e.code, e.message);
        match a {
            Action::Wait(ms) => {
                match &mut self.inner {
                    Inner::Redis(sim) => {
                        let until = sim.now.plus(*ms);
                        sim.run_until(until);
                        for r in &mut self.restored {
                            r.run_until(until);
                        }
                    }
                    Inner::Memcached(mc) => mc.run(*ms),
                    Inner::Cme(sim) => sim.advance(*ms),
                }
                return Ok(());
            }
            Action::McDiscover => {
                if let Inner::Memcached(mc) = &mut self.inner {
                    mc.poll_discovery();
                    return Ok(());
                }
            }
            Action::McAdd => {
                if let Inner::Memcached(mc) = &mut self.inner {
                    if mc
                        .control
                        .nodes
                        .iter()
                        .filter(|n| n.state != McNodeState::Removed)
                        .count()
                        >= mc.control.max_nodes
                    {
                        return Err("NodeQuotaForClusterExceeded".into());
                    }
                    mc.add_node();
                    return Ok(());
                }
            }
            _ => {}
        }
        let node = match a {
            Action::Kill(n)
            | Action::Reboot(n)
            | Action::RemoveReplica(n)
            | Action::Isolate(n)
            | Action::McRemove(n)
            | Action::McKill(n)
            | Action::McReplace(n) => Some(self.node_addr(n)?),
            _ => None,
        };
        let pair = match a {
            Action::Cut(x, y) => Some((self.node_addr(x)?.1, self.node_addr(y)?.1)),
            _ => None,
        };
        match (&mut self.inner, a) {
            (Inner::Redis(sim), _) => match a {
                Action::Cut(..) => {
                    let (x, y) = pair.expect("resolved");
                    sim.cut(&x, &y);
                    sim.cut(&y, &x);
                    Ok(())
                }
                Action::TestFailover => sim.api(Api::TestFailover).map_err(api_err),
                Action::Kill(_) => {
                    sim.kill(&node.expect("node").1);
                    Ok(())
                }
                Action::Reboot(_) => sim
                    .api(Api::Reboot {
                        id: node.expect("node").0,
                    })
                    .map_err(api_err),
                Action::AddReplica(az) => {
                    let az = az
                        .clone()
                        .unwrap_or_else(|| AZS[sim.control.nodes.len() % 3].to_string());
                    sim.api(Api::AddReplica { az }).map_err(api_err)
                }
                Action::RemoveReplica(_) => sim
                    .api(Api::RemoveReplica {
                        id: node.expect("node").0,
                    })
                    .map_err(api_err),
                Action::MultiAz(on) => sim.api(Api::SetMultiAz(*on)).map_err(api_err),
                Action::Isolate(_) => {
                    sim.isolate(&node.expect("node").1);
                    Ok(())
                }
                Action::Heal => {
                    sim.heal();
                    Ok(())
                }
                Action::Az { az, up } => {
                    sim.az(az, *up);
                    Ok(())
                }
                Action::Backup(name) => sim
                    .api(Api::CreateSnapshot { name: name.clone() })
                    .map_err(api_err),
                Action::DeleteBackup(name) => sim
                    .api(Api::DeleteSnapshot { name: name.clone() })
                    .map_err(api_err),
                Action::CopyBackup { source, target } => sim
                    .api(Api::CopySnapshot {
                        source: source.clone(),
                        target: target.clone(),
                    })
                    .map_err(api_err),
                Action::ExportBackup(name) => sim
                    .api(Api::ExportSnapshot { name: name.clone() })
                    .map_err(api_err),
                Action::BackupPolicy {
                    window,
                    retention_days,
                } => sim
                    .api(Api::SetBackupPolicy {
                        window: crate::steps::backup_window(window, sim.now),
                        retention_days: *retention_days,
                    })
                    .map_err(api_err),
                Action::Restore { backup, group } => {
                    if self.restored.iter().any(|s| &s.control.group == group) {
                        return Err(format!(
                            "ReplicationGroupAlreadyExists: Replication group {group} already exists."
                        ));
                    }
                    // The new group: the source's size and Multi-AZ.
                    let n = sim.control.nodes.len().min(3);
                    let azs: Vec<&str> = (0..n).map(|i| AZS[i % 3]).collect();
                    let multi_az = sim.control.multi_az;
                    let r = sim
                        .restore(backup, group, &azs, multi_az)
                        .map_err(api_err)?;
                    self.restored.push(r);
                    Ok(())
                }
                Action::DeleteGroup {
                    group,
                    final_backup,
                } => {
                    let Some(i) = self.restored.iter().position(|s| &s.control.group == group)
                    else {
                        return Err(if &sim.control.group == group {
                            format!("InvalidParameterValue: the lab keeps its group {group}: delete a group restored from a backup")
                        } else {
                            format!("ReplicationGroupNotFoundFault: Replication group {group} not found.")
                        });
                    };
                    if let Some(f) = final_backup {
                        if sim.control.backups.get(f).is_some() {
                            return Err(format!(
                                "SnapshotAlreadyExistsFault: Snapshot {f} already exists."
                            ));
                        }
                    }
                    let kept = self.restored[i]
                        .delete_group(final_backup.as_deref())
                        .map_err(api_err)?;
                    self.restored.remove(i);
                    // Its manual and final backups stay with the account.
                    sim.control.adopt_backups(group, kept);
                    Ok(())
                }
                _ => Err(format!("{a:?} needs a Memcached cluster")),
            },
            (Inner::Memcached(mc), _) => match a {
                Action::McRemove(_) => {
                    mc.remove_node(&node.expect("node").1);
                    Ok(())
                }
                Action::McKill(_) => {
                    mc.kill(&node.expect("node").1);
                    Ok(())
                }
                Action::McReplace(_) => {
                    mc.replace(&node.expect("node").1);
                    Ok(())
                }
                _ => Err(format!("{a:?} needs a replication group")),
            },
            (Inner::Cme(_), _) => Err(format!(
                "{a:?} is not something a cluster-mode group does here"
            )),
        }
    }
}

/// What a client connects to for `via` in a replication group: the
/// primary or reader endpoint's name, or a node's own address.
fn endpoint(sim: &Sim, via: &str) -> Result<String, String> {
    let dns = &sim.control.dns;
    match via {
        "primary" => Ok(dns.primary_endpoint.clone()),
        "reader" => Ok(dns.reader_endpoint.clone()),
        node => sim
            .control
            .nodes
            .iter()
            .find(|n| n.name == node && n.status != NodeStatus::Deleted)
            .map(|n| n.addr.clone())
            .ok_or_else(|| format!("no node named {node}")),
    }
}

/// The port of a simulated node's "127.0.0.1:PORT".
fn port_of(addr: &str) -> Option<u16> {
    addr.rsplit(':').next().and_then(|p| p.parse().ok())
}
