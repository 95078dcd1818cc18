//! Backups on virtual days: the window, retention, the 20-per-node limit,
//! replica first, final backups, restore into a new group — and, on the
//! simulator, a restored group holding exactly the data of the moment.

use super::*;
use crate::control::Settings;
use crate::sim::Sim;

fn nodes() -> Vec<NodeInfo> {
    vec![
        NodeInfo {
            name: "demo-001".into(),
            addr: "a:6379".into(),
            primary: true,
            available: true,
            running: true,
        },
        NodeInfo {
            name: "demo-002".into(),
            addr: "b:6379".into(),
            primary: false,
            available: true,
            running: true,
        },
    ]
}

/// Runs the actions with a fake file (the node's name), and lets the
/// files reach the bucket.
fn finish(b: &mut Backups, now: Millis) {
    while let Some(BackupAction::Snapshot { name, addr }) = b.poll_action() {
        b.snapshot_done(now, &name, Ok(addr.into_bytes()));
    }
    b.settle(now.plus(transfer_ms(0)), &nodes());
}

const MIN: u64 = 60_000;
const HOUR: u64 = 60 * MIN;

#[test]
fn automatic_backups_come_in_the_window_and_go_after_retention() {
    let policy = Policy::parse("03:00-04:00", 2).unwrap();
    let mut b = Backups::new("demo", policy);
    let n = nodes();
    // Every 10 virtual minutes for five days.
    let mut t = 0;
    while t < 5 * DAY_MS {
        b.tick(Millis(t), &n);
        finish(&mut b, Millis(t));
        let autos: Vec<&Snapshot> = b
            .snapshots
            .iter()
            .filter(|s| s.kind == Kind::Automatic)
            .collect();
        // Taken once a day, at the window's start, from the replica.
        for s in &autos {
            assert_eq!(s.created.0 % DAY_MS, 3 * HOUR, "{}", s.name);
            assert_eq!(s.node, "demo-002");
        }
        // Never more than the retention's days of them.
        assert!(autos.len() <= 2, "{} at {t}", autos.len());
        t += 10 * MIN;
    }
    let names: Vec<&str> = b.snapshots.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "automatic.demo-1970-01-04-03-00",
            "automatic.demo-1970-01-05-03-00"
        ]
    );
    assert!(b
        .events
        .iter()
        .any(|(_, e)| e.contains("past its retention of 2 days")));
    // Retention 0 turns them off.
    b.policy = Policy::parse("03:00-04:00", 0).unwrap();
    b.tick(Millis(5 * DAY_MS + 3 * HOUR), &n);
    assert!(b.poll_action().is_none());
    assert!(b.snapshots.is_empty(), "retention 0 keeps none");
    // A window across midnight.
    let p = Policy::parse("23:30-00:30", 1).unwrap();
    assert!(p.in_window(Millis(DAY_MS - 10 * MIN)) && p.in_window(Millis(DAY_MS + 10 * MIN)));
    assert!(!p.in_window(Millis(DAY_MS + 40 * MIN)));
}

#[test]
fn manual_backups_limits_and_errors_in_aws_words() {
    let mut b = Backups::new("demo", Policy::default());
    let n = nodes();
    for i in 0..20 {
        b.create_manual(Millis(i * MIN), &format!("nightly-{i}"), &n)
            .unwrap();
    }
    let e = b
        .create_manual(Millis(21 * MIN), "one-more", &n)
        .unwrap_err();
    assert_eq!(e.code, "SnapshotQuotaExceededFault");
    // 24 hours after the first, a slot is free again.
    b.create_manual(Millis(DAY_MS + MIN), "one-more", &n)
        .unwrap();
    finish(&mut b, Millis(DAY_MS + MIN));
    assert_eq!(
        b.create_manual(Millis(DAY_MS + 2 * MIN), "one-more", &n)
            .unwrap_err()
            .code,
        "SnapshotAlreadyExistsFault"
    );
    assert_eq!(
        b.create_manual(Millis(0), "1bad", &n).unwrap_err().code,
        "InvalidParameterValue"
    );
    assert_eq!(
        b.create_manual(Millis(0), "bad--name", &n)
            .unwrap_err()
            .code,
        "InvalidParameterValue"
    );
    assert_eq!(
        b.delete(Millis(0), "nope").unwrap_err().code,
        "SnapshotNotFoundFault"
    );
    assert_eq!(
        Policy::parse("03:00-03:30", 1).unwrap_err().code,
        "InvalidParameterValue"
    );
    assert_eq!(
        Policy::parse("03:00-04:00", 36).unwrap_err().code,
        "InvalidParameterValue"
    );
    assert_eq!(memcached_refusal().code, "InvalidParameterCombination");
    // Manual backups are kept until deleted, whatever the retention.
    let mut t = DAY_MS;
    while t < 40 * DAY_MS {
        b.tick(Millis(t), &n);
        finish(&mut b, Millis(t));
        t += HOUR;
    }
    assert!(b.get("nightly-0").is_some());
    b.delete(Millis(t), "nightly-0").unwrap();
    assert!(b.get("nightly-0").is_none());
    // Without a replica, the primary is backed up.
    let only_primary = &n[..1];
    b.create_manual(Millis(t), "from-primary", only_primary)
        .unwrap();
    assert_eq!(b.get("from-primary").unwrap().node, "demo-001");
}

#[test]
fn deleting_the_group_keeps_manual_and_final_backups() {
    let mut b = Backups::new("demo", Policy::parse("00:00-01:00", 7).unwrap());
    let n = nodes();
    b.tick(Millis(10 * MIN), &n);
    b.create_manual(Millis(20 * MIN), "keep-me", &n).unwrap();
    finish(&mut b, Millis(20 * MIN));
    b.delete_group(Millis(HOUR), Some("demo-final"), &n)
        .unwrap();
    finish(&mut b, Millis(HOUR));
    let kinds: Vec<(&str, Kind)> = b
        .snapshots
        .iter()
        .map(|s| (s.name.as_str(), s.kind))
        .collect();
    assert_eq!(
        kinds,
        [("keep-me", Kind::Manual), ("demo-final", Kind::Final)]
    );
    // The final backup comes from the primary.
    assert_eq!(b.get("demo-final").unwrap().node, "demo-001");
    // Copies and exports.
    b.copy(Millis(HOUR), "keep-me", "keep-me-copy").unwrap();
    let code = |r: Result<(), ApiError>| r.unwrap_err().code;
    assert_eq!(
        code(b.copy(Millis(HOUR), "keep-me", "keep-me-copy")),
        "SnapshotAlreadyExistsFault"
    );
    assert_eq!(
        code(b.copy(Millis(HOUR), "keep-me", "bad--name")),
        "InvalidParameterValue"
    );
    assert_eq!(
        code(b.copy(Millis(HOUR), "nothing", "x")),
        "SnapshotNotFoundFault"
    );
    let object = b.export(Millis(HOUR), "keep-me-copy").unwrap();
    assert_eq!(object, "keep-me-copy-0001.rdb");
    assert_eq!(b.bucket[&object], b"b:6379");
    // A restore seeds a new group, never the same one.
    assert_eq!(
        b.restore(Millis(HOUR), "keep-me", "demo").unwrap_err().code,
        "ReplicationGroupAlreadyExists"
    );
    assert_eq!(
        b.restore(Millis(HOUR), "keep-me", "demo-restored").unwrap(),
        b"b:6379"
    );
}

#[test]
fn a_restored_group_holds_the_data_of_the_snapshot_moment() {
    let mut sim = Sim::new(3, &["us-east-1a", "us-east-1b"], true, Settings::default());
    sim.run_until(Millis(30_000));
    assert!(sim.control.healthy());
    let put = |sim: &mut Sim, k: &str, v: &str| {
        let argv = vec![
            b"SET".to_vec(),
            k.as_bytes().to_vec(),
            v.as_bytes().to_vec(),
        ];
        let ep = sim.control.dns.primary_endpoint.clone();
        sim.command(&ep, 0, &argv).expect("a reply");
    };
    for i in 0..50 {
        put(&mut sim, &format!("k{i}"), "before");
    }
    sim.run_until(Millis(31_000));
    let info: Vec<NodeInfo> = sim
        .control
        .nodes
        .iter()
        .map(|n| NodeInfo {
            name: n.name.clone(),
            addr: n.addr.clone(),
            primary: n.role == crate::control::Role::Primary,
            available: n.status == crate::control::NodeStatus::Available,
            running: n.status == crate::control::NodeStatus::Available,
        })
        .collect();
    let mut b = Backups::new("demo", Policy::default());
    b.create_manual(sim.now, "moment", &info).unwrap();
    let Some(BackupAction::Snapshot { name, addr }) = b.poll_action() else {
        panic!("a snapshot to take");
    };
    let source = &sim.hosts[&addr].node;
    let (digest, rdb) = (source.digest(), source.rdb(sim.now));
    b.snapshot_done(sim.now, &name, Ok(rdb));
    b.settle(sim.now.plus(60_000), &info);
    assert_eq!(
        b.get("moment").unwrap().node,
        "demo-002",
        "taken from the replica"
    );
    // The group changes afterwards; the restore has the moment's data.
    for i in 0..50 {
        put(&mut sim, &format!("k{i}"), "after");
    }
    let file = b.restore(sim.now, "moment", "demo-restored").unwrap();
    let mut restored = crate::Node::new(9);
    restored.load_rdb(&file, sim.now).unwrap();
    assert_eq!(restored.digest(), digest);
    assert_eq!(
        restored.get_string(0, b"k7").as_deref(),
        Some(&b"before"[..])
    );
}

// ---- through the control plane, on the simulator ----

fn put(sim: &mut Sim, k: &str, v: &str) {
    let argv = vec![
        b"SET".to_vec(),
        k.as_bytes().to_vec(),
        v.as_bytes().to_vec(),
    ];
    let ep = sim.control.dns.primary_endpoint.clone();
    sim.command(&ep, 0, &argv).expect("a reply");
}

fn healthy_sim(seed: u64) -> Sim {
    let mut sim = Sim::new(
        seed,
        &["us-east-1a", "us-east-1b", "us-east-1c"],
        true,
        Settings::default(),
    );
    sim.run_until(Millis(30_000));
    assert!(sim.control.healthy());
    sim
}

#[test]
fn create_snapshot_takes_a_replica_moment_and_restore_seeds_a_new_group() {
    for seed in 1..=4 {
        let mut sim = healthy_sim(seed);
        for i in 0..200 {
            put(&mut sim, &format!("k{i}"), "before");
        }
        sim.run_until(sim.now.plus(2_000));
        sim.api(crate::control::Api::CreateSnapshot {
            name: "moment".into(),
        })
        .unwrap();
        // The fork happened as the API answered: the file is the replica's
        // data now.
        let s = sim.control.backups.get("moment").unwrap().clone();
        assert_eq!(s.source_role, "replica");
        assert_eq!(s.status, Status::Creating);
        let source = sim.control.nodes.iter().find(|n| n.name == s.node).unwrap();
        let digest = sim.hosts[&source.addr].node.digest();
        for i in 0..200 {
            put(&mut sim, &format!("k{i}"), "after");
        }
        // Not restorable while the file is on its way to the bucket.
        let err = sim
            .restore("moment", "early", &["us-east-1a"], false)
            .err()
            .expect("refused while creating");
        assert_eq!(err.code, "SnapshotNotFoundFault");
        sim.run_until(s.ready_at.unwrap());
        assert_eq!(
            sim.control.backups.get("moment").unwrap().status,
            Status::Available
        );
        assert!(
            sim.control
                .events
                .iter()
                .any(|e| e.message
                    == "Backup of replication group demo succeeded for snapshot moment")
        );
        let mut restored = sim
            .restore(
                "moment",
                "demo-restored",
                &["us-east-1a", "us-east-1b"],
                true,
            )
            .unwrap();
        let until = restored.now.plus(60_000);
        restored.run_until(until);
        assert!(restored.control.healthy());
        assert_eq!(restored.control.group, "demo-restored");
        for n in &restored.control.nodes {
            assert_eq!(
                restored.hosts[&n.addr].node.digest(),
                digest,
                "seed {seed}: {}",
                n.name
            );
        }
        // The source group is untouched.
        let p = sim.control.dns.primary.clone().unwrap();
        assert_ne!(sim.hosts[&p].node.digest(), digest);
    }
}

#[test]
fn automatic_backups_start_exactly_at_the_window_and_expire_at_retention() {
    let mut sim = healthy_sim(7);
    sim.api(crate::control::Api::SetBackupPolicy {
        window: "00:10-01:10".into(),
        retention_days: 1,
    })
    .unwrap();
    sim.run_until(Millis(11 * MIN));
    let autos: Vec<Snapshot> = sim
        .control
        .backups
        .snapshots
        .iter()
        .filter(|s| s.kind == Kind::Automatic)
        .cloned()
        .collect();
    assert_eq!(autos.len(), 1);
    assert_eq!(
        autos[0].created,
        Millis(10 * MIN),
        "at the window's first moment"
    );
    assert_eq!(autos[0].name, "automatic.demo-1970-01-01-00-10");
    // Kept exactly one day.
    sim.run_until(Millis(DAY_MS + 10 * MIN - 1));
    assert!(sim
        .control
        .backups
        .get("automatic.demo-1970-01-01-00-10")
        .is_some());
    sim.run_until(Millis(DAY_MS + 10 * MIN + 1000));
    assert!(sim
        .control
        .backups
        .get("automatic.demo-1970-01-01-00-10")
        .is_none());
    assert!(sim
        .control
        .backups
        .get("automatic.demo-1970-01-02-00-10")
        .is_some());
}

#[test]
fn a_snapshot_during_a_failure_is_complete_or_reported_failed() {
    for seed in 1..=6 {
        let mut sim = healthy_sim(seed);
        for i in 0..100 {
            put(&mut sim, &format!("k{i}"), "v");
        }
        sim.run_until(sim.now.plus(2_000));
        sim.api(crate::control::Api::CreateSnapshot {
            name: "during".into(),
        })
        .unwrap();
        let s = sim.control.backups.get("during").unwrap().clone();
        // Kill the node taking it (odd seeds) or the primary (even seeds).
        let victim = if seed % 2 == 1 {
            sim.control
                .nodes
                .iter()
                .find(|n| n.name == s.node)
                .unwrap()
                .addr
                .clone()
        } else {
            sim.control.dns.primary.clone().unwrap()
        };
        sim.kill(&victim);
        sim.run_until(sim.now.plus(120_000));
        let after = sim.control.backups.get("during").unwrap();
        if seed % 2 == 1 {
            assert_eq!(after.status, Status::Failed, "seed {seed}");
            assert!(after.rdb.is_empty());
            assert!(sim.control.events.iter().any(|e| e
                .message
                .contains("was lost while the backup was being taken")));
        } else {
            // The replica it came from lived on (and may have been promoted).
            assert_eq!(after.status, Status::Available, "seed {seed}");
            let mut n = crate::Node::new(1);
            n.load_rdb(&after.rdb, sim.now).unwrap();
            for i in 0..100 {
                assert_eq!(
                    n.get_string(0, format!("k{i}").as_bytes()).as_deref(),
                    Some(&b"v"[..])
                );
            }
        }
    }
}

#[test]
fn a_deleted_groups_final_backup_completes_in_the_accounts_list() {
    // The final backup of group `old`, its file taken, moved to `demo`'s list.
    let mut old = Backups::new("old", Policy::default());
    old.delete_group(Millis(0), Some("old-final"), &nodes())
        .unwrap();
    finish_file_only(&mut old, Millis(0));
    let moved = old.get("old-final").unwrap().clone();
    assert_eq!(moved.kind, Kind::Final);
    assert_eq!(moved.status, Status::Creating);
    let mut account = Backups::new("demo", Policy::default());
    account.snapshots.push(moved);
    // Its node belongs to no group any more: it completes all the same.
    account.tick(Millis(transfer_ms(0) + 1), &[]);
    assert_eq!(account.get("old-final").unwrap().status, Status::Available);
}

/// The node hands its file over; the transfer is still under way.
fn finish_file_only(b: &mut Backups, now: Millis) {
    while let Some(BackupAction::Snapshot { name, addr }) = b.poll_action() {
        b.snapshot_done(now, &name, Ok(addr.into_bytes()));
    }
}

#[test]
fn deleting_a_group_on_the_simulator_takes_the_final_backup_from_the_primary() {
    let mut sim = healthy_sim(7);
    for i in 0..50 {
        put(&mut sim, &format!("k{i}"), "kept");
    }
    sim.api(crate::control::Api::CreateSnapshot {
        name: "manual-one".into(),
    })
    .unwrap();
    // An automatic backup in today's window, gone with the group.
    sim.run_until(Millis(DAY_MS));
    assert!(sim
        .control
        .backups
        .snapshots
        .iter()
        .any(|s| s.kind == Kind::Automatic));
    let primary = sim.control.dns.primary.clone().unwrap();
    let digest = sim.hosts[&primary].node.digest();
    let kept = sim.delete_group(Some("last-words")).unwrap();
    assert!(sim.hosts.is_empty(), "every node ended");
    assert!(kept.iter().all(|s| s.kind != Kind::Automatic));
    assert!(kept.iter().any(|s| s.name == "manual-one"));
    let last = kept.iter().find(|s| s.name == "last-words").unwrap();
    assert_eq!(
        (last.kind, last.source_role.as_str()),
        (Kind::Final, "primary")
    );
    // Its file is the primary's data at the deletion, whole.
    let mut n = crate::Node::new(1);
    n.load_rdb(&last.rdb, sim.now).unwrap();
    assert_eq!(n.digest(), digest);
    assert!(sim
        .control
        .events
        .iter()
        .any(|e| e.message.contains("Replication group demo deleted")));
}

#[test]
fn a_final_backup_needs_a_fresh_name() {
    let mut sim = healthy_sim(8);
    sim.api(crate::control::Api::CreateSnapshot {
        name: "taken".into(),
    })
    .unwrap();
    let err = sim.delete_group(Some("taken")).unwrap_err();
    assert_eq!(err.code, "SnapshotAlreadyExistsFault");
    assert!(!sim.hosts.is_empty(), "a refused delete ends nothing");
}

#[test]
fn a_kept_automatic_backup_is_its_windows_backup() {
    // The page reloaded in the window: the stored automatic backup comes
    // back, and the window does not take a second one that day.
    let policy = Policy::parse("03:00-04:00", 2).unwrap();
    let mut before = Backups::new("demo", policy.clone());
    before.tick(Millis(3 * HOUR), &nodes());
    finish(&mut before, Millis(3 * HOUR));
    let stored = before.snapshots.clone();
    assert_eq!(stored.len(), 1);
    let mut after = Backups::new("demo", policy);
    for s in stored.iter().chain(&stored) {
        after.keep(s.clone());
    }
    assert_eq!(after.snapshots.len(), 1, "kept once");
    after.tick(Millis(3 * HOUR + 20 * MIN), &nodes());
    assert!(after.poll_action().is_none(), "no second backup that day");
    // The next day's window takes the next one.
    after.tick(Millis(DAY_MS + 3 * HOUR), &nodes());
    assert!(after.poll_action().is_some());
}
