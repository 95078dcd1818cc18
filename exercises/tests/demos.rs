//! Every embeddable demo plays to its end on the simulator (two seeds):
//! each step's lines succeed and its expected text appears. Pending demos
//! say what they wait for.

use cachelab_exercises::demos::{demos, play_step};
use cachelab_exercises::sim::SimCluster;

#[test]
fn every_demo_plays_to_its_end_on_the_simulator() {
    let all = demos().expect("demos.toml is valid");
    let ids: Vec<&str> = all.iter().map(|d| d.id.as_str()).collect();
    for want in [
        "failover",
        "replication",
        "shards",
        "resharding",
        "snapshot",
        "memcached-node-loss",
        "cache-aside",
        "eviction",
        "pubsub",
        "leaderboard",
        "slow-subscriber",
    ] {
        assert!(ids.contains(&want), "no demo {want}");
    }
    for d in &all {
        let Some(scenario) = &d.scenario else {
            assert!(d.pending.as_ref().is_some_and(|p| p.len() > 20), "{}", d.id);
            continue;
        };
        for seed in [1, 7] {
            let mut c = SimCluster::start(scenario, seed)
                .unwrap_or_else(|e| panic!("{} (seed {seed}): {e}", d.id));
            for (i, step) in d.steps.iter().enumerate() {
                if let Err(e) = play_step(&mut c, step) {
                    panic!("{} (seed {seed}), step {}: {e}", d.id, i + 1);
                }
            }
        }
    }
}
