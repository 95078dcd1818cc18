//! Seeded fault schedules: a seed picks the group's shape, the network's
//! behaviour, a workload and a list of faults; [`run`] plays it and checks.

use super::{NetConfig, Sim, RECOVERY_BOUND_MS};
use crate::control::{Api, Settings, CONTROL_ADDR};
use crate::rng::Rng;
use crate::time::Millis;

/// A seed whose trace hash is recorded: native tests and the wasm test in
/// headless Chromium both replay it and must get exactly this hash. When
/// the simulator's behaviour changes on purpose, update the constant.
pub const GOLDEN_SEED: u64 = 3;
pub const GOLDEN_TRACE_HASH: u64 = 0x4701_e7d9_1df6_2910;

/// What one seed did and found.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub seed: u64,
    pub description: String,
    pub trace_hash: u64,
    pub violations: Vec<String>,
    /// The last trace lines (all of them with `full_trace`).
    pub trace: Vec<String>,
    pub acked: usize,
    pub lost: usize,
    pub lost_after_wait: usize,
    pub promotions: usize,
    pub events: u64,
    /// Simulated node-milliseconds.
    pub node_ms: u64,
    /// Backups that ended available, and failed.
    pub backups: (usize, usize),
}

#[derive(Clone, Debug)]
enum Fault {
    KillPrimary,
    KillReplica,
    Pause {
        ms: u64,
    },
    Isolate {
        node: usize,
        ms: u64,
    },
    CutPrimaryFromControl {
        ms: u64,
    },
    CutReplicaFromPrimary {
        ms: u64,
    },
    AzOutage {
        ms: u64,
    },
    TestFailover,
    Reboot {
        node: usize,
    },
    Lossy {
        drop: u32,
        dup: u32,
        ms: u64,
    },
    /// The primary dies while a replica is cut off: the failover happens
    /// during a partition.
    KillDuringPartition {
        ms: u64,
    },
    /// CreateSnapshot: a manual backup taken amid the faults (complete or
    /// reported failed, checked at the end).
    Backup {
        n: usize,
    },
}

/// Plays seed `seed` and runs every checker.
pub fn run(seed: u64, full_trace: bool) -> Outcome {
    let mut rng = Rng::new(seed ^ 0x5ce7_a210);
    let azs_all = ["us-east-1a", "us-east-1b", "us-east-1c"];
    let nodes = match rng.below(10) {
        0 => 1,
        1 => 2,
        2 => 4,
        3 => 6,
        _ => 3,
    };
    let azs: Vec<&str> = (0..nodes).map(|i| azs_all[i % 3]).collect();
    let multi_az = nodes > 1 && rng.below(5) != 0;
    // One seed in four is a single primary crash on a clean network: the
    // WAIT guarantee is checked there.
    let single = nodes > 1 && multi_az && rng.below(4) == 0;
    let mut sim = Sim::new(seed, &azs, multi_az, Settings::default());
    if full_trace {
        sim.keep_full_trace();
    }
    let primary_ep = sim.control.dns.primary_endpoint.clone();
    sim.add_writer(&primary_ep, false);
    sim.add_writer(&primary_ep, true);
    let mut faults: Vec<(u64, Fault)> = Vec::new();
    if single {
        faults.push((5_000 + rng.below(20_000) as u64, Fault::KillPrimary));
    } else {
        if rng.below(3) == 0 {
            sim.net = NetConfig {
                min_delay_ms: 1,
                max_delay_ms: 1 + rng.below(40) as u64,
                drop_per_mille: rng.below(30) as u32,
                dup_per_mille: rng.below(30) as u32,
            };
        }
        for _ in 0..1 + rng.below(4) {
            let at = 5_000 + rng.below(50_000) as u64;
            let ms = 1_000 + rng.below(20_000) as u64;
            let f = match rng.below(11) {
                10 => Fault::KillDuringPartition { ms },
                0 | 1 => Fault::KillPrimary,
                2 => Fault::KillReplica,
                3 => Fault::Pause { ms },
                4 => Fault::Isolate {
                    node: rng.below(nodes),
                    ms,
                },
                5 => Fault::CutPrimaryFromControl { ms },
                6 => Fault::CutReplicaFromPrimary { ms },
                7 => Fault::AzOutage { ms: ms * 2 },
                8 => Fault::TestFailover,
                _ => {
                    if rng.below(2) == 0 {
                        Fault::Reboot {
                            node: rng.below(nodes),
                        }
                    } else {
                        Fault::Lossy {
                            drop: 50 + rng.below(200) as u32,
                            dup: rng.below(100) as u32,
                            ms,
                        }
                    }
                }
            };
            faults.push((at, f));
        }
    }
    // Backups amid the faults, from their own generator (the fault
    // schedule of a seed stays what it was).
    let mut backup_rng = Rng::new(seed ^ 0xbac4_0b5e);
    if backup_rng.below(2) == 0 {
        for n in 0..1 + backup_rng.below(3) {
            faults.push((5_000 + backup_rng.below(55_000) as u64, Fault::Backup { n }));
        }
    }
    faults.sort_by_key(|(t, _)| *t);
    let description = format!(
        "{nodes} node(s) in {:?}, Multi-AZ {}, net {:?}, faults {:?}",
        azs,
        if multi_az { "on" } else { "off" },
        sim.net,
        faults
    );
    let base_net = sim.net.clone();
    // Heal actions: (time, what).
    let mut heals: Vec<(u64, Heal)> = Vec::new();
    let mut last_fault_end = 0u64;
    for (at, f) in faults {
        run_heals(&mut sim, &mut heals, at, &base_net);
        sim.run_until(Millis(at));
        let primary = sim.control.dns.primary.clone();
        let replicas = sim.control.dns.readers.clone();
        let addr_of = |sim: &Sim, i: usize| sim.control.nodes.get(i).map(|n| n.addr.clone());
        let end = match f {
            Fault::KillPrimary => {
                if let Some(p) = primary {
                    sim.kill(&p);
                }
                at
            }
            Fault::KillReplica => {
                if let Some(r) = replicas.first() {
                    sim.kill(r);
                }
                at
            }
            Fault::Pause { ms } => {
                if let Some(p) = primary {
                    sim.pause(&p, true);
                    heals.push((at + ms, Heal::Resume(p)));
                }
                at + ms
            }
            Fault::Isolate { node, ms } => {
                if let Some(a) = addr_of(&sim, node) {
                    sim.isolate(&a);
                    heals.push((at + ms, Heal::Network));
                }
                at + ms
            }
            Fault::CutPrimaryFromControl { ms } => {
                if let Some(p) = primary {
                    sim.cut(&p, CONTROL_ADDR);
                    heals.push((at + ms, Heal::Network));
                }
                at + ms
            }
            Fault::CutReplicaFromPrimary { ms } => {
                if let (Some(p), Some(r)) = (primary, replicas.first()) {
                    sim.cut(&p, r);
                    heals.push((at + ms, Heal::Network));
                }
                at + ms
            }
            Fault::AzOutage { ms } => {
                let az = sim
                    .control
                    .primary()
                    .map(|p| p.az.clone())
                    .unwrap_or_else(|| "us-east-1a".into());
                sim.az(&az, false);
                heals.push((at + ms, Heal::Az(az)));
                at + ms
            }
            Fault::TestFailover => {
                let _ = sim.api(Api::TestFailover);
                at
            }
            Fault::Reboot { node } => {
                if let Some(n) = sim.control.nodes.get(node) {
                    let id = n.id.clone();
                    let _ = sim.api(Api::Reboot { id });
                }
                at
            }
            Fault::KillDuringPartition { ms } => {
                if let (Some(p), Some(r)) = (primary, replicas.last()) {
                    sim.isolate(r);
                    sim.kill(&p);
                    heals.push((at + ms, Heal::Network));
                }
                at + ms
            }
            Fault::Backup { n } => {
                // Refused when no node can take it (the event says so).
                let _ = sim.api(Api::CreateSnapshot {
                    name: format!("amid-faults-{n}"),
                });
                at
            }
            Fault::Lossy { drop, dup, ms } => {
                sim.net.drop_per_mille = drop;
                sim.net.dup_per_mille = dup;
                heals.push((at + ms, Heal::Net));
                at + ms
            }
        };
        last_fault_end = last_fault_end.max(end);
    }
    run_heals(&mut sim, &mut heals, u64::MAX, &base_net);
    // Faults have stopped: the group must heal within the bound. Writes go
    // on for most of it, then stop so replicas can catch up.
    let end = last_fault_end.max(sim.now.0) + RECOVERY_BOUND_MS;
    sim.run_until(Millis(end - 15_000));
    sim.stop_clients();
    sim.run_until(Millis(end));
    sim.quiesce(2_000);
    sim.check_invariants();
    sim.check_final(single);
    let (lost, lost_after_wait) = sim.lost_writes();
    Outcome {
        seed,
        description,
        trace_hash: sim.trace_hash(),
        violations: sim.violations.clone(),
        trace: sim.trace_lines().cloned().collect(),
        acked: sim.writes.len(),
        lost,
        lost_after_wait,
        promotions: sim.promotions.len(),
        events: sim.events(),
        node_ms: sim.node_ms,
        backups: {
            let b = &sim.control.backups.snapshots;
            let count = |st| b.iter().filter(|s| s.status == st).count();
            (
                count(crate::backup::Status::Available),
                count(crate::backup::Status::Failed),
            )
        },
    }
}

#[derive(Clone, Debug)]
enum Heal {
    Resume(String),
    Network,
    Az(String),
    Net,
}

/// Applies the heals due up to `until` (all of them with `u64::MAX`).
fn run_heals(sim: &mut Sim, heals: &mut Vec<(u64, Heal)>, until: u64, base: &NetConfig) {
    heals.sort_by_key(|(t, _)| *t);
    while let Some((t, _)) = heals.first() {
        if *t > until {
            break;
        }
        let (t, h) = heals.remove(0);
        sim.run_until(Millis(t.max(sim.now.0)));
        match h {
            Heal::Resume(a) => sim.pause(&a, false),
            Heal::Network => sim.heal(),
            Heal::Az(az) => sim.az(&az, true),
            Heal::Net => sim.net = base.clone(),
        }
    }
}
