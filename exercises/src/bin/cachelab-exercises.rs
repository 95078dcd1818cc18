//! `cargo xtask exercises [--json] [--target redis://HOST:PORT] [--flush]`:
//! validates every content file, runs every lab (on the simulator, or with
//! `--target` the labs that need no control plane against a real server)
//! and every live question, and prints a summary; `--json` ends with one
//! JSON object on the last line. Exits non-zero when anything fails.
//! `--export PATH` writes the checked content as JSON (the page's
//! dist/learn.json) instead.

use std::collections::BTreeMap;
use std::process::ExitCode;

use cachelab_exercises::cluster::{ask_now, Query};
use cachelab_exercises::grade::run_step;
use cachelab_exercises::resp::RespCluster;
use cachelab_exercises::{live, sim::SimCluster, verify_on, verify_sim, LabRun};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let flush = args.iter().any(|a| a == "--flush");
    let target = args
        .iter()
        .position(|a| a == "--target")
        .map(|i| args.get(i + 1).cloned().unwrap_or_default());
    let bundle = match cachelab_exercises::bundle() {
        // `--export PATH`: the checked content as JSON, for the page
        // (`cargo xtask build` writes dist/learn.json with it).
        Ok(b) if args.first().is_some_and(|a| a == "--export") => {
            let Some(path) = args.get(1) else {
                eprintln!("--export PATH");
                return ExitCode::FAILURE;
            };
            let json = serde_json::to_string(&b).expect("the content serializes");
            if let Err(e) = std::fs::write(path, json) {
                eprintln!("{path}: {e}");
                return ExitCode::FAILURE;
            }
            return ExitCode::SUCCESS;
        }
        Ok(b) => b,
        Err(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            eprintln!("{} problems in the content", problems.len());
            if json {
                println!("{{\"ok\":false,\"problems\":{}}}", problems.len());
            }
            return ExitCode::FAILURE;
        }
    };
    if let Some(url) = &target {
        if let Err(e) = check_empty(url, flush) {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    }
    let settings = target.as_deref().map(read_settings).unwrap_or_default();
    let mut failed = Vec::new();
    let mut validated = 0;
    let mut skipped = 0;
    for lab in &bundle.labs {
        let run: LabRun = match &target {
            None => verify_sim(lab, 7),
            Some(url) => {
                if lab.needs_control() {
                    skipped += 1;
                    continue;
                }
                match prepare_target(url, &settings).and_then(|mut c| {
                    for step in &lab.scenario.setup {
                        run_step(&mut c, step).map_err(|e| format!("setup {step:?}: {e}"))?;
                    }
                    Ok(verify_on(lab, &mut c))
                }) {
                    Ok(run) => run,
                    Err(e) => {
                        eprintln!("{e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
        };
        if run.valid() {
            validated += 1;
            println!("✓ {:<36} {}", lab.id, lab.title);
        } else {
            println!("✗ {:<36} {}", lab.id, lab.title);
            if let Some(e) = &run.error {
                println!("    step failed: {e}");
            }
            for (when, outs) in [
                ("untouched", &run.before),
                ("after the solution", &run.after),
            ] {
                for o in outs {
                    println!(
                        "    {when}: {} {} — {}",
                        if o.ok { "✓" } else { "✗" },
                        o.what,
                        o.seen
                    );
                }
            }
            failed.push(lab.id.clone());
        }
    }
    if let Some(url) = &target {
        // Leave the server as the labs found it: empty, its settings back.
        if let Ok(mut c) = prepare_target(url, &settings) {
            restore(&mut c, &settings);
        }
    }
    // Live questions: each answered on its scenario (simulator only).
    let mut live_failed = 0;
    if target.is_none() {
        for q in &bundle.live {
            let answer =
                SimCluster::start(&q.scenario, 7).and_then(|mut c| live::answer_now(q, &mut c));
            match answer {
                Ok(a) => println!("✓ {:<36} {} ({})", q.id, a.options[a.correct], a.how),
                Err(e) => {
                    live_failed += 1;
                    println!("✗ {:<36} {e}", q.id);
                }
            }
        }
    }
    let mut topics: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for t in &bundle.topics {
        topics.insert(&t.id, (0, 0));
    }
    for q in &bundle.questions {
        topics.entry(&q.topic).or_default().0 += 1;
    }
    for l in &bundle.labs {
        topics.entry(&l.topic).or_default().1 += 1;
    }
    println!(
        "exercises: {} questions, {} live questions, {} labs: {validated} validated, {} failed{}{}",
        bundle.questions.len(),
        bundle.live.len(),
        bundle.labs.len(),
        failed.len(),
        if skipped > 0 {
            format!(", {skipped} need the control plane (skipped against a real server)")
        } else {
            String::new()
        },
        if live_failed > 0 {
            format!("; {live_failed} live questions failed")
        } else {
            String::new()
        },
    );
    if json {
        let topics_json: Vec<String> = topics
            .iter()
            .map(|(t, (q, l))| format!("\"{t}\":{{\"questions\":{q},\"labs\":{l}}}"))
            .collect();
        println!(
            "{{\"questions\":{},\"labs\":{},\"live_questions\":{},\"labs_validated\":{validated},\"labs_failed\":{},\"labs_skipped\":{skipped},\"live_failed\":{live_failed},\"topics\":{{{}}}}}",
            bundle.questions.len(),
            bundle.labs.len(),
            bundle.live.len(),
            failed.len(),
            topics_json.join(",")
        );
    }
    if failed.is_empty() && live_failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The settings labs may change (eviction labs set maxmemory and the
/// policy), read before the first lab so they can be put back.
fn read_settings(url: &str) -> Vec<(String, String)> {
    let Ok(mut c) = RespCluster::connect(url) else {
        return Vec::new();
    };
    ["maxmemory", "maxmemory-policy", "maxmemory-samples"]
        .iter()
        .filter_map(|name| {
            let argv = vec![
                b"CONFIG".to_vec(),
                b"GET".to_vec(),
                name.as_bytes().to_vec(),
            ];
            let reply = ask_now(
                &mut c,
                &Query::Redis {
                    via: "primary".into(),
                    argv,
                },
            )
            .ok()?;
            let value = reply.lines().nth(1)?.to_string();
            Some((name.to_string(), value))
        })
        .collect()
}

fn restore(c: &mut RespCluster, settings: &[(String, String)]) {
    for (name, value) in settings {
        let argv = vec![
            b"CONFIG".to_vec(),
            b"SET".to_vec(),
            name.as_bytes().to_vec(),
            value.as_bytes().to_vec(),
        ];
        let _ = ask_now(
            c,
            &Query::Redis {
                via: "primary".into(),
                argv,
            },
        );
    }
}

/// Refuses a server that holds keys before the first lab (emptying a
/// learner's data by surprise is not an option) unless `--flush` says so.
fn check_empty(url: &str, flush: bool) -> Result<(), String> {
    let mut c = RespCluster::connect(url)?;
    let argv = vec![b"DBSIZE".to_vec()];
    let keys = ask_now(
        &mut c,
        &Query::Redis {
            via: "primary".into(),
            argv,
        },
    )?;
    if keys != "0" && !flush {
        return Err(format!(
            "{} holds {keys} keys; the labs need an empty database: pass --flush to let them empty it",
            c.addr()
        ));
    }
    Ok(())
}

/// A real server ready for the next lab: emptied (it was empty, or
/// `--flush` allowed it, before the first lab), the settings a previous
/// lab changed put back, the statistics reset.
fn prepare_target(url: &str, settings: &[(String, String)]) -> Result<RespCluster, String> {
    let mut c = RespCluster::connect(url)?;
    let argv = vec![b"FLUSHALL".to_vec()];
    ask_now(
        &mut c,
        &Query::Redis {
            via: "primary".into(),
            argv,
        },
    )?;
    // Where CONFIG is allowed (ElastiCache refuses it; its parameter group
    // stays as it is).
    restore(&mut c, settings);
    for argv in [&["CONFIG", "RESETSTAT"][..], &["SLOWLOG", "RESET"]] {
        let argv = argv.iter().map(|a| a.as_bytes().to_vec()).collect();
        let _ = ask_now(
            &mut c,
            &Query::Redis {
                via: "primary".into(),
                argv,
            },
        );
    }
    Ok(c)
}
