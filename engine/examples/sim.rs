//! `cargo xtask sim --seeds N [--from S] [--seed S --trace] [--jobs J]`:
//! plays seeded fault schedules against a simulated replication group and
//! checks every invariant. A failing seed prints its schedule and a
//! one-line-per-event trace, and the process exits non-zero. Seeds are
//! independent: J threads (one per core by default) share them, and the
//! report is in seed order whatever the threads' pace.

use cachelab_engine::sim::scenario;

fn main() {
    let mut seeds = 500u64;
    let mut from = 1u64;
    let mut trace = false;
    let mut jobs = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut num = || {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage())
        };
        match a.as_str() {
            "--seeds" => seeds = num(),
            "--from" => from = num(),
            "--seed" => {
                from = num();
                seeds = 1;
            }
            "--trace" => trace = true,
            "--jobs" => jobs = num().max(1),
            _ => usage(),
        }
    }
    let started = std::time::Instant::now();
    let (mut failed, mut acked, mut lost, mut promotions, mut node_ms, mut events) =
        (0, 0, 0, 0, 0u64, 0u64);
    let (mut backups_ok, mut backups_failed) = (0, 0);
    let jobs = jobs.min(seeds.max(1));
    let mut outcomes: Vec<scenario::Outcome> = std::thread::scope(|scope| {
        let lanes: Vec<_> = (0..jobs)
            .map(|lane| {
                scope.spawn(move || {
                    (from + lane..from + seeds)
                        .step_by(jobs as usize)
                        .map(|seed| {
                            let mut o = scenario::run(seed, trace);
                            if !trace && o.violations.is_empty() {
                                o.trace.clear();
                            }
                            o
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        lanes
            .into_iter()
            .flat_map(|l| l.join().expect("a simulation thread panicked"))
            .collect()
    });
    outcomes.sort_by_key(|o| o.seed);
    for o in outcomes {
        let seed = o.seed;
        acked += o.acked;
        lost += o.lost;
        promotions += o.promotions;
        node_ms += o.node_ms;
        events += o.events;
        backups_ok += o.backups.0;
        backups_failed += o.backups.1;
        if trace {
            for l in &o.trace {
                println!("{l}");
            }
        }
        if seeds == 1 {
            println!(
                "seed {seed}: trace hash {:#018x}, {} acknowledged writes, {} lost",
                o.trace_hash, o.acked, o.lost
            );
        }
        if !o.violations.is_empty() {
            failed += 1;
            println!("seed {seed} FAILED: {}", o.description);
            for v in &o.violations {
                println!("  violation: {v}");
            }
            if !trace {
                println!("  last {} trace lines:", o.trace.len());
                for l in &o.trace {
                    println!("  {l}");
                }
                println!("  rerun: cargo xtask sim --seed {seed} --trace");
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "sim: {seeds} seeds from {from}: {} passed, {failed} failed; {acked} acknowledged writes, {lost} lost in {promotions} history changes (all accounted); {backups_ok} backups taken amid faults complete and {backups_failed} reported failed (none half there); {events} events; {:.0} simulated node-seconds per wall second",
        seeds - failed,
        node_ms as f64 / 1000.0 / secs
    );
    if failed > 0 {
        std::process::exit(1);
    }
}

fn usage() -> ! {
    eprintln!("usage: sim [--seeds N] [--from S] [--seed S --trace] [--jobs J]");
    std::process::exit(2)
}
