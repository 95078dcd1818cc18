//! `cachelab-server --replicas N`: a replication group on consecutive ports,
//! each node on its own thread (as separate redis-server processes would
//! be), replicating over real TCP sockets, with the engine's control plane
//! running here: it health-checks the nodes, fails over, relaunches, and
//! reports each step on stdout in AWS's words.
//!
//! Admin commands on stdin: `kill PORT` (the node dies, its data with it),
//! `failover` (TestFailover), `reboot PORT`, `status`, `quit`, and backups:
//! `backup NAME` (CreateSnapshot: a read replica's file when one is
//! available), `backups` (DescribeSnapshots), `delete-backup NAME`,
//! `copy-backup SRC DST`, `export NAME` (the `.rdb` object written to the
//! `--backup-dir` folder, the "bucket"; redis-server loads it),
//! `backup-window HH:MM-HH:MM DAYS` (window and retention), and
//! `delete-group [FINAL]` (DeleteReplicationGroup: with a final backup
//! when named — taken from the primary, stored, and written to the
//! backup folder as `FINAL-0001.rdb` — then every node ends and the
//! process exits). Automatic backups run daily in the window (UTC) while
//! the group runs.

use std::collections::HashMap;
use std::thread::JoinHandle;
use std::time::Duration;

use cachelab_engine::control::{Action, Api, Control, ControlInput, Settings, CONTROL_ADDR};
use cachelab_engine::PeerMsg;
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;

use crate::{now, run_blocking_with, Admin, ControlTx, Options, SnapshotTx};

struct Running {
    admin: mpsc::UnboundedSender<Admin>,
    thread: JoinHandle<()>,
}

struct Group {
    control: Control,
    nodes: HashMap<String, Running>,
    control_tx: ControlTx,
    snapshot_tx: SnapshotTx,
    /// The "bucket" exports are written to.
    backup_dir: std::path::PathBuf,
    bind: String,
    printed: usize,
    /// DeleteReplicationGroup called: the final backup awaited, if any.
    deleting: Option<Option<String>>,
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
        let listener = crate::bind_retrying(&self.bind, port);
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
                Action::Snapshot { name, addr } => {
                    let sent = self.nodes.get(&addr).is_some_and(|r| {
                        r.admin
                            .send(Admin::Snapshot {
                                name: name.clone(),
                                reply: self.snapshot_tx.clone(),
                            })
                            .is_ok()
                    });
                    if sent {
                        println!(
                            "[control] backup {name}: taking the file of the node on port {}",
                            port_of(&addr)
                        );
                    } else {
                        let why = format!("the node on port {} is not running", port_of(&addr));
                        self.control.snapshot_taken(now(), &name, Err(why));
                    }
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

/// DescribeSnapshots, one line each.
fn list_backups(c: &Control) {
    if c.backups.snapshots.is_empty() {
        println!("[admin] no backups");
    }
    for s in &c.backups.snapshots {
        println!(
            "[admin] {} {:?} {:?} from {} ({}) {} bytes",
            s.name,
            s.kind,
            s.status,
            s.node,
            s.source_role,
            s.rdb.len()
        );
    }
}

/// A backup admin command on stdin; false if `words` is not one.
fn backup_admin(g: &mut Group, words: &[&str]) -> bool {
    let api = |g: &mut Group, req: Api| {
        if let Err(e) = g.control.api(now(), req) {
            println!("[admin] {}: {}", e.code, e.message);
            return false;
        }
        true
    };
    let admin = matches!(
        words.first().copied(),
        Some(
            "backup"
                | "delete-backup"
                | "copy-backup"
                | "backup-window"
                | "export"
                | "delete-group"
        )
    );
    if admin && g.deleting.is_some() {
        println!(
            "[admin] InvalidReplicationGroupState: Replication group {} is not in available state (deleting).",
            g.control.group
        );
        return true;
    }
    match words {
        ["backup", name] => {
            api(
                g,
                Api::CreateSnapshot {
                    name: name.to_string(),
                },
            );
        }
        ["backups"] => list_backups(&g.control),
        ["delete-backup", name] => {
            api(
                g,
                Api::DeleteSnapshot {
                    name: name.to_string(),
                },
            );
        }
        ["copy-backup", source, target] => {
            api(
                g,
                Api::CopySnapshot {
                    source: source.to_string(),
                    target: target.to_string(),
                },
            );
        }
        ["backup-window", window, days] => {
            let Ok(retention_days) = days.parse() else {
                println!(
                    "[admin] InvalidParameterValue: the retention must be a number of days (0-35)"
                );
                return true;
            };
            api(
                g,
                Api::SetBackupPolicy {
                    window: window.to_string(),
                    retention_days,
                },
            );
        }
        ["delete-group"] | ["delete-group", _] => {
            let final_name = words.get(1).map(|s| s.to_string());
            match g.control.delete_group(now(), final_name.as_deref()) {
                Ok(()) => g.deleting = Some(final_name),
                Err(e) => println!("[admin] {}: {}", e.code, e.message),
            }
        }
        ["export", name] => {
            if api(
                g,
                Api::ExportSnapshot {
                    name: name.to_string(),
                },
            ) {
                write_bucket(g);
            }
        }
        _ => return false,
    }
    true
}

/// Writes an object of the bucket: temp file + rename, so a crash never
/// leaves half an object.
fn store(path: &std::path::Path, rdb: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, rdb).and_then(|_| std::fs::rename(&tmp, path))
}

/// The group being deleted may go: no final backup was asked for, or it
/// has been stored (written to the backup folder, the account's copy that
/// outlives this process) or has failed.
fn deleted(g: &Group, final_name: Option<&str>) -> bool {
    use cachelab_engine::backup::Status;
    if let Some(name) = final_name {
        let Some(s) = g.control.backups.get(name) else {
            return true;
        };
        match s.status {
            Status::Creating => return false,
            Status::Failed => println!("[admin] the final backup {name} failed: nothing kept"),
            Status::Available => {
                let path = g.backup_dir.join(format!("{name}-0001.rdb"));
                match store(&path, &s.rdb) {
                    Ok(()) => println!(
                        "[admin] final backup {name} kept in {} ({} bytes)",
                        path.display(),
                        s.rdb.len()
                    ),
                    Err(e) => println!("[admin] cannot write {}: {e}", path.display()),
                }
            }
        }
    }
    println!("[control] Replication group {} deleted", g.control.group);
    true
}

/// Writes the bucket's objects to `--backup-dir` (temp file + rename, so a
/// crash never leaves half an object).
fn write_bucket(g: &Group) {
    for (object, rdb) in &g.control.backups.bucket {
        let path = g.backup_dir.join(object);
        if path.exists() {
            continue;
        }
        match store(&path, rdb) {
            Ok(()) => println!("[admin] exported {} ({} bytes)", path.display(), rdb.len()),
            Err(e) => println!("[admin] cannot write {}: {e}", path.display()),
        }
    }
}

/// Runs a group of 1 primary and `replicas` replicas on `base_port`… until
/// Ctrl-C or `quit`. Exported backups go to `backup_dir`.
pub fn run_group(
    bind: &str,
    base_port: u16,
    replicas: usize,
    backup_dir: &std::path::Path,
) -> std::io::Result<()> {
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
        let (snapshot_tx, mut snapshot_rx) = mpsc::unbounded_channel();
        let mut g = Group {
            control: Control::with_addrs("cachelab", &specs, replicas > 0, settings),
            nodes: HashMap::new(),
            control_tx,
            snapshot_tx,
            backup_dir: backup_dir.to_path_buf(),
            bind: bind.to_string(),
            printed: 0,
            deleting: None,
        };
        g.control.create(now());
        g.run_actions();
        g.status();
        println!("[control] admin commands: kill PORT | reboot PORT | failover | status | quit | backup NAME | backups | delete-backup NAME | copy-backup SRC DST | export NAME | backup-window HH:MM-HH:MM DAYS | delete-group [FINAL]");
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
                Some((name, rdb)) = snapshot_rx.recv() => {
                    let name: String = name;
                    g.control.snapshot_taken(now(), &name, rdb);
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
                        w if backup_admin(&mut g, w) => {}
                        _ => println!("[admin] commands: kill PORT | reboot PORT | failover | status | quit | backup NAME | backups | delete-backup NAME | copy-backup SRC DST | export NAME | backup-window HH:MM-HH:MM DAYS | delete-group [FINAL]"),
                    }
                }
            }
            g.run_actions();
            if let Some(final_name) = g.deleting.clone() {
                if deleted(&g, final_name.as_deref()) {
                    break;
                }
            }
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
