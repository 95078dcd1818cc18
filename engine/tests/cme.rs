//! The CME control plane (`control::cme`) driving real cluster-mode nodes
//! on virtual time (`sim::cluster`): create, TestFailover, online
//! resharding (move, scale out, scale in, rebalance) while a client keeps
//! writing through MOVED and ASK, replicas added and removed, the quota,
//! failed nodes replaced, and migrations that roll forward when a primary
//! dies in the middle of one.

use std::collections::BTreeMap;

use cachelab_engine::control::cme::Cme;
use cachelab_engine::protocol::{split_args, Reply};
use cachelab_engine::sim::cluster::{cme_port, ClusterSim};
use cachelab_engine::store::slots::key_slot;

fn cme(sim: &ClusterSim) -> &Cme {
    sim.cme.as_ref().expect("a control plane")
}

fn cme_mut(sim: &mut ClusterSim) -> &mut Cme {
    sim.cme.as_mut().expect("a control plane")
}

fn ok() -> Reply {
    Reply::Simple("OK".into())
}

/// A group of `shards` × (1 + `replicas`), available.
fn group(shards: usize, replicas: usize) -> ClusterSim {
    let mut sim = ClusterSim::cme(shards, replicas);
    wait_available(&mut sim, 30_000);
    sim
}

/// Virtual time passes until the control plane is done (or panics with
/// its events), and then for gossip to carry the last changes to every
/// node.
fn wait_available(sim: &mut ClusterSim, max_ms: u64) {
    let mut waited = 0;
    while cme(sim).status != "available" {
        assert!(
            waited < max_ms,
            "still {}: {}\n{:#?}",
            cme(sim).status,
            cme(sim).doing(),
            cme(sim).events
        );
        sim.advance(500);
        waited += 500;
    }
    sim.advance(5_000);
}

fn live_ports(sim: &ClusterSim) -> Vec<u16> {
    let addrs: Vec<u16> = cme(sim)
        .nodes
        .iter()
        .filter_map(|n| n.addr.rsplit(':').next()?.parse().ok())
        .collect();
    addrs.into_iter().filter(|&p| sim.is_up(p)).collect()
}

/// A cluster client (`ClusterSim::follow`: MOVED, ASK with ASKING) that
/// also waits out TRYAGAIN (a multi-key command during a slot's move).
fn call(sim: &mut ClusterSim, start: u16, line: &str) -> Reply {
    let argv = split_args(line.as_bytes()).expect("balanced");
    for _ in 0..20 {
        let r = sim.follow(start, &argv);
        if !matches!(&r, Reply::Error(e) if e.starts_with("TRYAGAIN")) {
            return r;
        }
        sim.advance(100);
    }
    panic!("{line}: TRYAGAIN too often")
}

/// The slot table every live node has: identical everywhere (given up to
/// a minute of gossip: a node hears of a slot's new owner only from that
/// owner), every slot served by exactly one primary; slots per primary id.
fn agreed_slots(sim: &mut ClusterSim) -> BTreeMap<String, usize> {
    let mut last = String::new();
    for _ in 0..12 {
        match slot_tables(sim) {
            Ok(counts) => return counts,
            Err(e) => last = e,
        }
        sim.advance(5_000);
    }
    panic!("{last}");
}

fn slot_tables(sim: &mut ClusterSim) -> Result<BTreeMap<String, usize>, String> {
    let mut tables = Vec::new();
    for p in live_ports(sim) {
        let nodes = sim.text(p, "CLUSTER NODES");
        let mut owner = vec![String::new(); 16384];
        for l in nodes.lines() {
            let f: Vec<&str> = l.split(' ').collect();
            if !f[2].contains("master") {
                continue;
            }
            for r in &f[8..] {
                if r.starts_with('[') {
                    continue;
                }
                let (a, b) = r.split_once('-').unwrap_or((r, r));
                let (a, b): (usize, usize) = (a.parse().expect("slot"), b.parse().expect("slot"));
                for (s, o) in owner.iter_mut().enumerate().take(b + 1).skip(a) {
                    if !o.is_empty() {
                        return Err(format!("{p}: slot {s} twice:\n{nodes}"));
                    }
                    *o = f[0].to_string();
                }
            }
        }
        if owner.iter().any(|o| o.is_empty()) {
            return Err(format!("{p}: a slot nobody serves:\n{nodes}"));
        }
        let info = sim.text(p, "CLUSTER INFO");
        if !info.contains("cluster_state:ok") {
            return Err(format!("{p}: {info}"));
        }
        tables.push((p, owner));
    }
    for (p, t) in &tables[1..] {
        if let Some(s) = (0..16384).find(|&s| t[s] != tables[0].1[s]) {
            return Err(format!(
                "{p} and {} disagree on slot {s}: {} vs {}\n{}",
                tables[0].0,
                t[s],
                tables[0].1[s],
                sim.text(*p, "CLUSTER NODES"),
            ));
        }
    }
    let mut counts = BTreeMap::new();
    for o in &tables[0].1 {
        *counts.entry(o.clone()).or_insert(0) += 1;
    }
    Ok(counts)
}

fn write_keys(sim: &mut ClusterSim, from: usize, to: usize) {
    for i in from..to {
        assert_eq!(
            call(sim, 7000, &format!("SET key:{i} v{i}")),
            ok(),
            "key:{i}"
        );
    }
}

fn assert_keys(sim: &mut ClusterSim, to: usize) {
    for i in 0..to {
        assert_eq!(
            call(sim, 7000, &format!("GET key:{i}")),
            Reply::Bulk(format!("v{i}").into_bytes()),
            "key:{i}"
        );
    }
}

fn has_event(sim: &ClusterSim, text: &str) -> bool {
    cme(sim).events.iter().any(|(_, e)| e.contains(text))
}

fn my_id(sim: &mut ClusterSim, port: u16) -> String {
    sim.text(port, "CLUSTER MYID")
}

/// The CME control plane on virtual time: it assembles 3 shards × 2 nodes
/// from empty nodes, reshards 50 slots with their keys from shard 1 to
/// shard 2 while the keys stay readable, and fails shard 3 over.
#[test]
fn the_cme_control_plane_creates_reshards_and_fails_over() {
    let mut sim = group(3, 1);
    for p in [7000, 7001, 7006, 7007, 7012, 7013] {
        let info = sim.text(p, "CLUSTER INFO");
        assert!(info.contains("cluster_state:ok"), "{p}: {info}");
        assert!(info.contains("cluster_size:3"), "{p}: {info}");
    }
    let (id7000, id7001) = (my_id(&mut sim, 7000), my_id(&mut sim, 7001));
    let nodes = sim.text(7000, "CLUSTER NODES");
    assert!(
        nodes
            .lines()
            .any(|l| l.starts_with(&id7001) && l.contains(&format!("slave {id7000}"))),
        "{nodes}"
    );
    // Keys in the slots that move: 0..50 are shard 1's.
    let mut keys = Vec::new();
    for i in 0..5000 {
        let k = format!("k{i}");
        if key_slot(k.as_bytes()) < 50 {
            assert_eq!(sim.line(7000, &format!("SET {k} {i}")), ok());
            keys.push((k, i));
        }
    }
    assert!(keys.len() > 10);
    let slots: Vec<u16> = (0..50).collect();
    let now = sim.now;
    cme_mut(&mut sim).move_slots(now, 0, 1, &slots);
    assert_eq!(cme(&sim).status, "modifying");
    wait_available(&mut sim, 10_000);
    assert!(has_event(
        &sim,
        "Resharding of replication group demo completed"
    ));
    for (k, i) in &keys {
        assert_eq!(
            sim.line(7000, &format!("GET {k}")),
            Reply::Error(format!("MOVED {} 127.0.0.1:7006", key_slot(k.as_bytes())))
        );
        assert_eq!(
            sim.line(7006, &format!("GET {k}")),
            Reply::Bulk(i.to_string().into_bytes())
        );
    }
    assert_eq!(sim.line(7000, "CLUSTER COUNTKEYSINSLOT 0"), Reply::Int(0));
    assert_eq!(cme(&sim).slots_of(1).len(), 5462 + 50);
    // TestFailover on shard 3: 7013 takes over from 7012.
    let now = sim.now;
    cme_mut(&mut sim)
        .test_failover(now, 2)
        .expect("shard 3 has a replica");
    sim.advance(5000);
    let id7013 = my_id(&mut sim, 7013);
    let nodes = sim.text(7000, "CLUSTER NODES");
    assert!(
        nodes
            .lines()
            .any(|l| l.starts_with(&id7013) && l.contains("master")),
        "{nodes}"
    );
    assert!(
        has_event(
            &sim,
            "Failover from primary node demo-0003-001 to replica node demo-0003-002 completed"
        ),
        "{:#?}",
        cme(&sim).events
    );
    assert_eq!(
        cme(&sim).primary_of(2),
        cme(&sim).index_of("127.0.0.1:7013")
    );
    // The configuration endpoint resolves to every node in turn.
    let cfg = cme(&sim).configuration_endpoint();
    assert_eq!(cfg, "demo.xyz123.clustercfg.use1.cache.amazonaws.com:6379");
    let resolved: std::collections::BTreeSet<String> =
        (0..6).filter_map(|k| cme(&sim).resolve(&cfg, k)).collect();
    assert_eq!(resolved.len(), 6);
}

/// Scale out 3 → 4 shards while a client writes (keys keep landing on
/// slots that are moving), then in 4 → 3 by removing one of the first
/// shards: even slots after each, every key readable, the removed nodes
/// gone and forgotten.
#[test]
fn scale_out_and_in_keep_every_key_and_even_slots() {
    let mut sim = group(3, 1);
    write_keys(&mut sim, 0, 2000);
    let now = sim.now;
    cme_mut(&mut sim).scale_out(now, 1).expect("scale out");
    assert_eq!(cme(&sim).status, "modifying");
    assert_eq!(cme(&sim).nodes.len(), 8);
    let mut written = 2000;
    while cme(&sim).status != "available" {
        assert!(written < 20_000, "{:#?}", cme(&sim).events);
        sim.advance(200);
        write_keys(&mut sim, written, written + 20);
        written += 20;
    }
    let r = cme(&sim);
    assert!(has_event(
        &sim,
        "Resharding of replication group demo completed"
    ));
    for s in 0..4 {
        assert_eq!(r.slots_of(s).len(), 4096, "shard {s}");
    }
    let counts = agreed_slots(&mut sim);
    assert_eq!(counts.len(), 4);
    assert!(counts.values().all(|&n| n == 4096), "{counts:?}");
    // The new shard's replica follows its primary.
    let id = my_id(&mut sim, cme_port(3, 0));
    let nodes = sim.text(7000, "CLUSTER NODES");
    let replica = format!(
        "127.0.0.1:{}@{} slave {id}",
        cme_port(3, 1),
        cme_port(3, 1) + 10000
    );
    assert!(nodes.contains(&replica), "shard 4's replica:\n{nodes}");
    assert_keys(&mut sim, written);

    let now = sim.now;
    cme_mut(&mut sim).scale_in(now, &[1]).expect("scale in");
    wait_available(&mut sim, 120_000);
    assert_eq!(cme(&sim).shards(), vec![0, 2, 3]);
    assert_eq!(cme(&sim).nodes.len(), 6);
    for gone in [cme_port(1, 0), cme_port(1, 1)] {
        assert!(!sim.is_up(gone), "{gone} still runs");
    }
    let counts = agreed_slots(&mut sim);
    assert_eq!(counts.len(), 3);
    assert!(
        counts.values().all(|&n| n == 5462 || n == 5461),
        "{counts:?}"
    );
    assert_eq!(sim.text(7000, "CLUSTER NODES").lines().count(), 6);
    assert_keys(&mut sim, written);
}

/// Rebalance after a lopsided manual move; nothing to do when even.
#[test]
fn rebalance_evens_the_slots_again() {
    let mut sim = group(3, 0);
    write_keys(&mut sim, 0, 500);
    let now = sim.now;
    let slots: Vec<u16> = (0..1000).collect();
    cme_mut(&mut sim).move_slots(now, 0, 1, &slots);
    wait_available(&mut sim, 60_000);
    assert_eq!(cme(&sim).slots_of(1).len(), 6462);
    let now = sim.now;
    assert_eq!(cme_mut(&mut sim).rebalance(now), Ok(1001));
    wait_available(&mut sim, 60_000);
    let counts = agreed_slots(&mut sim);
    let mut n: Vec<usize> = counts.values().copied().collect();
    n.sort();
    assert_eq!(n, vec![5461, 5461, 5462]);
    let now = sim.now;
    assert_eq!(cme_mut(&mut sim).rebalance(now), Ok(0));
    assert!(has_event(&sim, "already balanced"));
    assert_keys(&mut sim, 500);
}

/// A replica added to a shard syncs its data and serves READONLY reads;
/// removed, it is gone from every node's table. Limits: five replicas per
/// shard, the node quota, no removing a primary, one change at a time.
#[test]
fn replicas_come_and_go_within_the_limits() {
    let mut sim = group(2, 0);
    write_keys(&mut sim, 0, 200);
    let now = sim.now;
    let name = cme_mut(&mut sim).add_replica(now, 0).expect("a replica");
    assert_eq!(name, "demo-0001-002");
    // One change at a time.
    let now = sim.now;
    let busy = cme_mut(&mut sim).add_replica(now, 0).unwrap_err();
    assert_eq!(busy.code, "InvalidReplicationGroupState");
    wait_available(&mut sim, 30_000);
    assert!(has_event(&sim, "Added cache node demo-0001-002"));
    let primary = my_id(&mut sim, 7000);
    let nodes = sim.text(7001, "CLUSTER NODES");
    assert!(
        nodes.contains(&format!("myself,slave {primary}")),
        "{nodes}"
    );
    assert_eq!(sim.line(7001, "READONLY"), ok());
    let k = (0..200)
        .find(|i| key_slot(format!("key:{i}").as_bytes()) < 8192)
        .expect("a key of shard 1");
    assert_eq!(
        sim.line(7001, &format!("GET key:{k}")),
        Reply::Bulk(format!("v{k}").into_bytes())
    );

    let now = sim.now;
    let err = cme_mut(&mut sim)
        .remove_replica(now, "demo-0001-001")
        .unwrap_err();
    assert_eq!(
        err.message,
        "Cache node demo-0001-001 is the primary; only replicas can be removed."
    );
    let now = sim.now;
    cme_mut(&mut sim)
        .remove_replica(now, "demo-0001-002")
        .expect("removed");
    wait_available(&mut sim, 30_000);
    assert!(!sim.is_up(7001));
    assert_eq!(sim.text(7000, "CLUSTER NODES").lines().count(), 2);

    // Five replicas at most.
    for _ in 0..5 {
        let now = sim.now;
        cme_mut(&mut sim).add_replica(now, 1).expect("room");
        wait_available(&mut sim, 30_000);
    }
    let now = sim.now;
    let err = cme_mut(&mut sim).add_replica(now, 1).unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.message.as_str()),
        (
            "InvalidParameterValue",
            "A node group can have at most 5 replicas."
        )
    );
    // The node quota.
    cme_mut(&mut sim).settings.node_quota = 7;
    let now = sim.now;
    let err = cme_mut(&mut sim).add_replica(now, 0).unwrap_err();
    assert_eq!(err.code, "NodeQuotaForClusterExceeded");
    let now = sim.now;
    let err = cme_mut(&mut sim).scale_out(now, 1).unwrap_err();
    assert_eq!(err.code, "NodeQuotaForClusterExceeded");
    assert_eq!(agreed_slots(&mut sim).len(), 2);
    assert_keys(&mut sim, 200);
}

/// Failed nodes are replaced at their endpoints: a replica comes back
/// empty and resyncs; a primary's replica is elected by the bus, then the
/// old primary's replacement follows it. Events in AWS's words.
#[test]
fn failed_nodes_are_replaced() {
    let mut sim = group(3, 1);
    write_keys(&mut sim, 0, 1000);
    sim.kill(7001);
    sim.advance(40_000);
    wait_available(&mut sim, 30_000);
    assert!(has_event(
        &sim,
        "demo-0001-002: Recovering cache nodes 0001"
    ));
    assert!(has_event(
        &sim,
        "demo-0001-002: Finished recovery for cache nodes 0001"
    ));
    let primary = my_id(&mut sim, 7000);
    let nodes = sim.text(7001, "CLUSTER NODES");
    assert!(
        nodes.contains(&format!("myself,slave {primary}")),
        "{nodes}"
    );
    assert!(!nodes.contains("fail"), "{nodes}");

    // A primary: 7007 is elected, 7006's replacement follows it.
    sim.kill(7006);
    sim.advance(40_000);
    wait_available(&mut sim, 30_000);
    assert!(
        has_event(
            &sim,
            "Failover from primary node demo-0002-001 to replica node demo-0002-002 completed"
        ),
        "{:#?}",
        cme(&sim).events
    );
    assert!(has_event(
        &sim,
        "demo-0002-001: Finished recovery for cache nodes 0001"
    ));
    let new_primary = my_id(&mut sim, 7007);
    let nodes = sim.text(7006, "CLUSTER NODES");
    assert!(
        nodes.contains(&format!("myself,slave {new_primary}")),
        "{nodes}"
    );
    assert_eq!(agreed_slots(&mut sim).len(), 3);
    assert_eq!(sim.text(7000, "CLUSTER NODES").lines().count(), 6);
    assert_keys(&mut sim, 1000);
}

/// An AZ outage: its nodes die (shard 0001's primary and shard 0003's
/// replica); two primaries of three are alive, a majority, so shard 0001's
/// replica in another AZ is elected and every slot stays served. The
/// replacements wait for the zone, then come back in it as replicas.
#[test]
fn an_az_outage_fails_over_and_replaces_in_the_zone_once_it_is_back() {
    let mut sim = group(3, 1);
    write_keys(&mut sim, 0, 600);
    sim.az("us-east-1a", false);
    assert!(!sim.is_up(7000) && !sim.is_up(7013));
    sim.advance(60_000);
    let events = format!("{:#?}", cme(&sim).events);
    assert!(
        has_event(
            &sim,
            "Failover from primary node demo-0001-001 to replica node demo-0001-002 completed"
        ),
        "{events}"
    );
    for n in ["demo-0001-001", "demo-0003-002"] {
        assert!(
            has_event(
                &sim,
                &format!("{n}: its replacement waits until us-east-1a is available")
            ),
            "{events}"
        );
    }
    assert!(
        !sim.is_up(7000) && !sim.is_up(7013),
        "nothing is launched in a zone that is down"
    );
    assert_eq!(agreed_slots(&mut sim).len(), 3);
    // Every key is still served (asked first of a node that is up).
    for i in 0..600 {
        assert_eq!(
            call(&mut sim, 7001, &format!("GET key:{i}")),
            Reply::Bulk(format!("v{i}").into_bytes()),
            "key:{i}"
        );
    }

    sim.az("us-east-1a", true);
    sim.advance(10_000);
    wait_available(&mut sim, 60_000);
    for (node, primary) in [(7000, 7001), (7013, 7012)] {
        let p = my_id(&mut sim, primary);
        let nodes = sim.text(node, "CLUSTER NODES");
        assert!(nodes.contains(&format!("myself,slave {p}")), "{nodes}");
        assert!(!nodes.contains("fail"), "{nodes}");
    }
    assert!(has_event(
        &sim,
        "demo-0003-002: Finished recovery for cache nodes 0001"
    ));
    assert_keys(&mut sim, 600);
}

/// A shard with no replica: its slots go down with its primary (writes
/// refused with CLUSTERDOWN), and its replacement serves them again, empty
/// — the keys of that shard are lost, the others' are not.
#[test]
fn a_shard_without_a_replica_comes_back_empty() {
    let mut sim = group(3, 0);
    write_keys(&mut sim, 0, 600);
    sim.kill(7006);
    // Failed (15 s node timeout), not yet replaced.
    sim.advance(20_000);
    assert_eq!(cme(&sim).status, "modifying");
    let k = (0..600)
        .find(|i| (5461..10923).contains(&key_slot(format!("key:{i}").as_bytes())))
        .expect("a key of shard 2");
    let r = sim.line(7000, &format!("GET key:{k}"));
    assert!(
        matches!(&r, Reply::Error(e) if e.starts_with("CLUSTERDOWN")),
        "{r:?}"
    );
    sim.advance(20_000);
    wait_available(&mut sim, 30_000);
    assert!(has_event(
        &sim,
        "demo-0002-001: Finished recovery for cache nodes 0001"
    ));
    assert_eq!(agreed_slots(&mut sim).len(), 3);
    assert_shard_two_came_back_empty(&mut sim, 600, "");
}

/// Keys `key:0` … `key:{n-1}` (written by `write_keys`): those of shard
/// 0002's slots (5461–10922) gone, every other one kept.
fn assert_shard_two_came_back_empty(sim: &mut ClusterSim, n: usize, context: &str) {
    for i in 0..n {
        let slot = key_slot(format!("key:{i}").as_bytes());
        let want = if (5461..10923).contains(&slot) {
            Reply::Nil
        } else {
            Reply::Bulk(format!("v{i}").into_bytes())
        };
        assert_eq!(
            call(sim, 7000, &format!("GET key:{i}")),
            want,
            "{context}key:{i}"
        );
    }
}

/// A shard whose primary and replica are both lost with their hosts (the
/// others hear nothing until they next write to them, as on the page's
/// network) or with their processes: nobody is left to elect, the cluster
/// goes down, the other primaries agree the primary failed, and
/// ElastiCache replaces both nodes — the shard comes back empty, the
/// others' keys kept. For several seeds: the gossip's random picks decide
/// who hears of which failure when (the replica may be found failed while
/// the primary's replacement waits for an election nobody can win).
#[test]
fn a_shard_that_loses_every_host_is_replaced_empty() {
    for seed in 0..8u64 {
        let mut sim = ClusterSim::cme_seeded(3, 1, seed);
        wait_available(&mut sim, 30_000);
        write_keys(&mut sim, 0, 300);
        // Even seeds: the hosts vanish; odd: the processes die.
        for port in [7006, 7007] {
            if seed % 2 == 0 {
                sim.lose(port);
            } else {
                sim.kill(port);
            }
        }
        let mut waited = 0;
        while !has_event(
            &sim,
            "demo-0002-001: Finished recovery for cache nodes 0001",
        ) {
            if waited >= 120_000 {
                let nodes: String = [7000u16, 7001, 7012, 7013]
                    .iter()
                    .map(|&p| format!("{p}:\n{}", sim.text(p, "CLUSTER NODES")))
                    .collect();
                panic!(
                    "seed {seed}: {}\n{:#?}\n{nodes}",
                    cme(&sim).doing(),
                    cme(&sim).events
                );
            }
            sim.advance(500);
            waited += 500;
        }
        wait_available(&mut sim, 60_000);
        assert_eq!(agreed_slots(&mut sim).len(), 3, "seed {seed}");
        assert_shard_two_came_back_empty(&mut sim, 300, &format!("seed {seed}: "));
    }
}

/// RebootCacheCluster is refused in cluster mode, in the API's words, and
/// changes nothing.
#[test]
fn a_reboot_is_refused_in_cluster_mode() {
    let mut sim = group(2, 0);
    write_keys(&mut sim, 0, 50);
    let events = cme(&sim).events.len();
    let e = cme(&sim).reboot("demo-0002-001").unwrap_err();
    assert_eq!(e.code, "InvalidParameterCombination");
    assert!(
        e.message.starts_with(
            "Rebooting is not supported on Valkey or Redis OSS (cluster mode enabled) clusters."
        ),
        "{}",
        e.message
    );
    let e = cme(&sim).reboot("demo-0009-001").unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.message.as_str()),
        (
            "CacheClusterNotFound",
            "CacheCluster demo-0009-001 not found."
        )
    );
    sim.advance(5_000);
    assert_eq!(cme(&sim).status, "available");
    assert_eq!(cme(&sim).events.len(), events);
    assert_keys(&mut sim, 50);
}

/// A resharding whose source primary dies in the middle: the bus elects
/// its replica, the control plane asks who the primaries are now and the
/// slot's steps start over on them; the move completes, every slot has
/// one primary, no key is lost. The same with the target's primary.
#[test]
fn a_migration_rolls_forward_when_a_primary_dies() {
    for victim in [7000u16, 7006] {
        let mut sim = group(3, 1);
        write_keys(&mut sim, 0, 3000);
        let now = sim.now;
        let slots: Vec<u16> = (0..400).collect();
        cme_mut(&mut sim).move_slots(now, 0, 1, &slots);
        while cme(&sim)
            .reshard
            .as_ref()
            .is_some_and(|r| r.slots_done < 100)
        {
            sim.advance(100);
        }
        sim.kill(victim);
        sim.advance(40_000);
        wait_available(&mut sim, 120_000);
        assert!(
            has_event(&sim, "starts over on the shards' current primaries"),
            "{victim}: {:#?}",
            cme(&sim).events
        );
        assert!(has_event(
            &sim,
            "Resharding of replication group demo completed"
        ));
        assert_eq!(cme(&sim).slots_of(1).len(), 5462 + 400);
        let counts = agreed_slots(&mut sim);
        let mut n: Vec<usize> = counts.values().copied().collect();
        n.sort();
        assert_eq!(n, vec![5061, 5461, 5862], "{victim}");
        assert_keys(&mut sim, 3000);
    }
}

/// A cluster client's write: the reply and the port that gave it.
fn call_at(sim: &mut ClusterSim, start: u16, line: &str) -> (Reply, u16) {
    let argv = split_args(line.as_bytes()).expect("balanced");
    let mut port = start;
    for _ in 0..5 {
        let r = sim.command(port, &argv);
        match &r {
            Reply::Error(e) if e.starts_with("MOVED ") => {
                port = e
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .expect("port");
            }
            Reply::Error(e) if e.starts_with("ASK ") => {
                let to: u16 = e
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .expect("port");
                let _ = sim.command(to, &[b"ASKING".to_vec()]);
                return (sim.command(to, &argv), to);
            }
            _ => return (r, port),
        }
    }
    (Reply::Error("ERR redirected too often".into()), port)
}

/// Seeded faults while a resharding runs: every second a fault may strike
/// — a node killed (the control plane replaces it), or cut off from the
/// others for a while — one at a time, while a client writes new keys
/// through any live node. Once healed and available: every slot has
/// exactly one primary and every node agrees, the resharding finished, and
/// no acknowledged write is lost — except writes acknowledged while a node
/// was cut off (the async-replication window a partition opens: the cut-off
/// primary acknowledges writes its replica never sees before it is
/// elected). Kills alone lose nothing here: replication on this network is
/// immediate.
#[test]
fn seeded_faults_during_resharding_keep_the_invariants() {
    use cachelab_engine::rng::Rng;
    for seed in 1..=4u64 {
        let mut rng = Rng::new(seed);
        let mut sim = group(3, 1);
        let ports: Vec<u16> = vec![7000, 7001, 7006, 7007, 7012, 7013];
        let from = rng.below(3);
        let to = (from + 1 + rng.below(2)) % 3;
        let slots: Vec<u16> = cme(&sim).slots_of(from).into_iter().take(300).collect();
        let now = sim.now;
        cme_mut(&mut sim).move_slots(now, from, to, &slots);
        let mut acked: Vec<(usize, bool)> = Vec::new();
        let mut fault: Option<(u16, bool, u64)> = None; // (port, cut off?, until)
        let (mut kills, mut cuts) = (0, 0);
        for second in 0..60u64 {
            for _ in 0..5 {
                let i = acked.len();
                let start = ports[rng.below(ports.len())];
                let start = if sim.is_up(start) { start } else { 7000 };
                let (r, _) = call_at(&mut sim, start, &format!("SET f{seed}:{i} v{i}"));
                if r == ok() {
                    acked.push((i, fault.is_some_and(|f| f.1)));
                } else {
                    acked.push((usize::MAX, false));
                }
                sim.advance(200);
            }
            match fault {
                Some((_, true, until)) if second >= until => {
                    sim.heal();
                    fault = None;
                }
                Some((p, false, until)) if second >= until && sim.is_up(p) => fault = None,
                None if rng.below(10) == 0 => {
                    let p = ports[rng.below(ports.len())];
                    if rng.below(2) == 0 {
                        sim.kill(p);
                        kills += 1;
                        fault = Some((p, false, second + 30));
                    } else {
                        sim.isolate(p);
                        cuts += 1;
                        fault = Some((p, true, second + 5 + rng.below(15) as u64));
                    }
                }
                _ => {}
            }
        }
        if fault.is_some_and(|f| f.1) {
            sim.heal();
        }
        sim.advance(60_000);
        wait_available(&mut sim, 180_000);
        let counts = agreed_slots(&mut sim);
        assert_eq!(counts.len(), 3, "seed {seed}: {counts:?}");
        assert_eq!(
            cme(&sim).slots_of(to).len(),
            if to == 1 { 5462 } else { 5461 } + 300,
            "seed {seed}: {:#?}",
            cme(&sim).events
        );
        let (mut lost_in_window, mut checked) = (0, 0);
        for (i, in_window) in acked {
            if i == usize::MAX {
                continue;
            }
            checked += 1;
            let r = call(&mut sim, 7000, &format!("GET f{seed}:{i}"));
            if r != Reply::Bulk(format!("v{i}").into_bytes()) {
                assert!(
                    in_window,
                    "seed {seed}: f{seed}:{i} acknowledged outside any partition and lost: {r:?}"
                );
                lost_in_window += 1;
            }
        }
        eprintln!(
            "seed {seed}: {kills} kills, {cuts} cuts, {checked} acknowledged writes, {lost_in_window} lost in a partition's window"
        );
    }
}

/// The seeded cluster-mode run hashes to the recorded value natively, as
/// the wasm test checks it does in Chromium: a change to what the bus or
/// the control plane do shows here first (update the constant with it).
#[test]
fn the_golden_cluster_mode_run_has_the_recorded_trace_hash() {
    assert_eq!(
        cachelab_engine::sim::cluster::golden(1),
        cachelab_engine::sim::cluster::GOLDEN_CME_TRACE_HASH
    );
}
