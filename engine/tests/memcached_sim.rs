//! ElastiCache for Memcached in the simulator: McNodes behind an
//! auto-discovery client. Node loss costs the failed node's share of the
//! keys (about 1/N with ketama) and nothing else; a cache-aside workload's
//! hit rate drops by about that much and recovers as the cache re-warms.

use cachelab_engine::memcached::client::{CacheAside, Distribution, FailurePolicy};
use cachelab_engine::sim::memcached::McCluster;

fn cluster(n: usize, dist: Distribution, policy: FailurePolicy) -> McCluster {
    McCluster::new(7, n, dist, policy, CacheAside::new(7, 10_000, 200, 0))
}

/// Stores `keys` through the client; returns each key's node.
fn preload(c: &mut McCluster, keys: usize) -> Vec<String> {
    (0..keys)
        .map(|i| {
            let key = format!("key:{i}");
            let node = c.client.server_for(key.as_bytes()).unwrap().to_string();
            let r = c
                .request(&node, format!("set {key} 0 0 1\r\nv\r\n").as_bytes())
                .unwrap();
            assert_eq!(r, b"STORED\r\n");
            node
        })
        .collect()
}

fn hits(c: &mut McCluster, keys: usize) -> usize {
    (0..keys)
        .filter(|i| {
            let key = format!("key:{i}");
            let Some(node) = c.client.server_for(key.as_bytes()).map(str::to_string) else {
                return false;
            };
            c.request(&node, format!("get {key}\r\n").as_bytes())
                .is_some_and(|r| r.starts_with(b"VALUE"))
        })
        .count()
}

#[test]
fn losing_a_node_loses_about_one_nth_of_the_keys() {
    const KEYS: usize = 100_000;
    for n in [3, 20] {
        let mut shares = Vec::new();
        // Every node of 3; 5 of the 20 (each run stores 100,000 keys).
        let victims: Vec<usize> = (0..n).step_by(if n > 3 { 4 } else { 1 }).collect();
        for &victim in &victims {
            let mut c = cluster(n, Distribution::Ketama, FailurePolicy::KeepListed);
            assert_eq!(c.client.live().len(), n, "auto discovery found the nodes");
            let owner = preload(&mut c, KEYS);
            let addr = c.client.live()[victim].clone();
            c.kill(&addr);
            let lost = KEYS - hits(&mut c, KEYS);
            let share = lost as f64 / KEYS as f64;
            // Exactly the victim's keys are lost; every other key still hits.
            assert_eq!(lost, owner.iter().filter(|o| **o == addr).count());
            shares.push(share);
        }
        let expected = 1.0 / n as f64;
        let worst = shares
            .iter()
            .map(|s| (s - expected).abs())
            .fold(0.0, f64::max);
        eprintln!(
            "{n} nodes: share lost per failed node {:?} (1/N = {expected:.3}), worst {:.1} pp off",
            shares
                .iter()
                .map(|s| format!("{:.3}", s))
                .collect::<Vec<_>>(),
            worst * 100.0
        );
        if victims.len() == n {
            let mean = shares.iter().sum::<f64>() / n as f64;
            assert!((mean - expected).abs() < 1e-9);
        }
        // Ketama's 160 points per server keep every node's share within 2
        // points of 1/N for these clusters' addresses (the control plane's,
        // as the playground uses). The ring depends on the addresses: other
        // 3-node lists put one node up to about 2.2 points off (pylibmc
        // computes the same shares), so the mean is checked too.
        let mean_off =
            shares.iter().map(|s| (s - expected).abs()).sum::<f64>() / shares.len() as f64;
        assert!(mean_off < 0.02, "{n} nodes: {mean_off} off 1/N on average");
        assert!(worst < 0.02, "{n} nodes: a node holds {worst} off 1/N");
    }
}

#[test]
fn ejecting_a_node_remaps_only_its_keys() {
    const KEYS: usize = 100_000;
    for dist in [Distribution::Ketama, Distribution::Modulo] {
        let mut c = cluster(5, dist, FailurePolicy::Eject);
        let owner = preload(&mut c, KEYS);
        let victim = c.client.live()[2].clone();
        c.kill(&victim);
        assert!(
            c.client.node_failed(&victim),
            "ejected on its first failure"
        );
        let mut moved = 0;
        for (i, old) in owner.iter().enumerate() {
            let new = c.client.server_for(format!("key:{i}").as_bytes()).unwrap();
            assert_ne!(new, victim);
            if new != old {
                moved += 1;
                if dist == Distribution::Ketama {
                    assert_eq!(*old, victim, "ketama moved a survivor's key");
                }
            }
        }
        let victims = owner.iter().filter(|o| **o == victim).count();
        eprintln!(
            "{dist:?}: ejecting 1 of 5 nodes moved {moved} of {KEYS} keys ({victims} were on it)"
        );
        match dist {
            Distribution::Ketama => assert_eq!(moved, victims),
            // Modulo remaps almost everything: (n-1)/n of the survivors' keys too.
            Distribution::Modulo => assert!(moved as f64 / KEYS as f64 > 0.7),
        }
    }
}

#[test]
fn adding_a_node_bumps_the_version_and_moves_about_one_nth() {
    let mut c = cluster(4, Distribution::Ketama, FailurePolicy::KeepListed);
    assert_eq!(c.discovery.config.version, 1);
    let before: Vec<String> = (0..20_000)
        .map(|i| {
            c.client
                .server_for(format!("key:{i}").as_bytes())
                .unwrap()
                .to_string()
        })
        .collect();
    let added = c.add_node();
    assert_eq!(c.control.config.version, 2);
    // The client learns of it on its next poll.
    c.run(61_000);
    assert_eq!(c.discovery.config.version, 2);
    assert_eq!(c.client.live().len(), 5);
    let moved: Vec<usize> = (0..20_000)
        .filter(|i| c.client.server_for(format!("key:{i}").as_bytes()).unwrap() != before[*i])
        .collect();
    for i in &moved {
        assert_eq!(
            c.client.server_for(format!("key:{i}").as_bytes()),
            Some(added.as_str())
        );
    }
    let share = moved.len() as f64 / 20_000.0;
    assert!((0.12..0.28).contains(&share), "moved {share}");
    c.remove_node(&added);
    assert_eq!(c.control.config.version, 3);
}

#[test]
fn cache_aside_hit_rate_drops_by_one_nth_and_recovers() {
    let n = 4;
    let mut c = McCluster::new(
        3,
        n,
        Distribution::Ketama,
        FailurePolicy::KeepListed,
        CacheAside::new(3, 2_000, 500, 0),
    );
    c.run(60_000);
    let warm = c.workload.seconds[50..60]
        .iter()
        .map(|s| s.hit_rate())
        .sum::<f64>()
        / 10.0;
    assert!(warm > 0.95, "warm cache hit rate {warm}");
    let victim = c.client.live()[1].clone();
    let share = c.items().iter().find(|(a, _)| *a == victim).unwrap().1 as f64
        / c.items().iter().map(|(_, i)| *i).sum::<usize>() as f64;
    c.kill(&victim);
    c.run(5_000);
    let dead = c.workload.seconds[61..65]
        .iter()
        .map(|s| s.hit_rate())
        .sum::<f64>()
        / 4.0;
    let errors: u64 = c.workload.seconds[61..65].iter().map(|s| s.errors).sum();
    assert!(errors > 0, "requests to the dead node fail");
    let drop = warm - dead;
    eprintln!("hit rate {warm:.3} warm, {dead:.3} with 1 of {n} nodes dead (the node held {share:.3} of the items)");
    assert!(
        (drop - share).abs() < 0.06,
        "drop {drop} vs the node's share {share}"
    );
    // ElastiCache replaces it, empty: misses, then re-warms.
    c.replace(&victim);
    c.run(1_000);
    let cold = c.workload.seconds.last().unwrap().hit_rate();
    c.run(60_000);
    let rewarmed = c.workload.seconds.last().unwrap().hit_rate();
    eprintln!("after replacement: {cold:.3}, 60 s later {rewarmed:.3}");
    assert!(cold < warm - 0.05);
    assert!(rewarmed > warm - 0.03);
}
