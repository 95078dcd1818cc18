//! `cargo run --release -p cachelab-engine --example cme_scale -- [--shards S]
//! [--replicas R] [--seconds T]`: how far the simulator scales a
//! cluster-mode group. Creates S shards × (1 + R) nodes (500 × 1 by default:
//! ElastiCache's largest cluster, 1,000 nodes) with the control plane on
//! virtual time, then runs T simulated seconds of a settled cluster (the
//! bus gossiping, health checks). Prints the wall time of each phase,
//! simulated seconds per wall second, and the process's peak memory.
//! `cargo xtask bench` (CACHELAB_BENCH=cluster) runs it for the figures.

use cachelab_engine::sim::cluster::ClusterSim;

fn usage() -> ! {
    eprintln!("usage: cme_scale [--shards S] [--replicas R] [--seconds T]");
    std::process::exit(2)
}

/// A line of /proc/self/status in MiB (Linux; "?" elsewhere).
fn status_mib(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or("?".into(), |kb| format!("{:.0} MiB", kb as f64 / 1024.0))
}

fn main() {
    let (mut shards, mut replicas, mut seconds) = (500usize, 1usize, 60u64);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let v: u64 = it
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| usage());
        match a.as_str() {
            "--shards" => shards = v as usize,
            "--replicas" => replicas = v as usize,
            "--seconds" => seconds = v,
            _ => usage(),
        }
    }
    let nodes = shards * (1 + replicas);
    let t0 = std::time::Instant::now();
    let mut sim = ClusterSim::cme(shards, replicas);
    let start = sim.now;
    // Created: every node launched, met, slots assigned, replicas attached
    // and every node answering cluster_state:ok.
    let limit = 3_600_000;
    while sim.cme.as_ref().is_some_and(|c| c.status != "available") && sim.now.0 - start.0 < limit {
        sim.advance(100);
    }
    let created_wall = t0.elapsed().as_secs_f64();
    let created_sim = (sim.now.0 - start.0) as f64 / 1000.0;
    let status = sim.cme.as_ref().map_or("none", |c| c.status);
    println!(
        "cme_scale: {shards} shards × {} nodes = {nodes} nodes: {status} after {created_sim:.1} simulated s in {created_wall:.1} s wall ({})",
        1 + replicas,
        status_mib("VmRSS")
    );
    if status != "available" {
        std::process::exit(1);
    }
    let t1 = std::time::Instant::now();
    sim.advance(seconds * 1000);
    let wall = t1.elapsed().as_secs_f64();
    println!(
        "cme_scale: {seconds} simulated s of the settled cluster in {wall:.1} s wall = {:.2} simulated s per wall s; peak RSS {}",
        seconds as f64 / wall,
        status_mib("VmHWM")
    );
}
