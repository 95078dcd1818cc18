//! cachelab-exercises: the learning mode's content and its checker.
//!
//! * `content` — topics, the seed's facts, questions, labs and live
//!   questions as data (the TOML files of this folder), and the rules they
//!   keep.
//! * `steps` — the language of lab setups and reference solutions.
//! * `cluster` — the one trait for "a live cluster I can query and
//!   control"; `sim` implements it on the engine's simulator, `resp` on a
//!   real server (native only), and the page's router in `web/`.
//! * `demos` — the embeddable demos' scripted scenarios (`demos.toml`).
//! * `grade` — a lab's predicates asked and judged; `live` — live
//!   questions answered from the cluster.
//!
//! No I/O of its own except `resp` (a TCP client for `--target`).

pub mod cluster;
pub mod cme;
pub mod content;
pub mod demos;
pub mod grade;
pub mod live;
#[cfg(not(target_arch = "wasm32"))]
pub mod resp;
pub mod sim;
pub mod steps;

use content::{Bundle, Lab, Problem};
use grade::{grade_now, passed, run_step, Outcome};

macro_rules! files {
    ($($path:literal),* $(,)?) => {
        /// Every content file, compiled in (the page reads these).
        pub const FILES: &[(&str, &str)] = &[$(($path, include_str!(concat!("../", $path)))),*];
    };
}

files!(
    "topics.toml",
    "seed_facts.toml",
    "questions/basics.toml",
    "questions/use-cases.toml",
    "questions/replication.toml",
    "questions/memcached.toml",
    "questions/strategies.toml",
    "questions/eviction.toml",
    "questions/scaling.toml",
    "questions/monitoring.toml",
    "questions/backups.toml",
    "questions/security.toml",
    "questions/cluster-mode.toml",
    "questions/beyond.toml",
    "labs/replication.toml",
    "labs/memcached.toml",
    "labs/use-cases.toml",
    "labs/strategies.toml",
    "labs/eviction.toml",
    "labs/monitoring.toml",
    "labs/basics.toml",
    "labs/scaling.toml",
    "labs/backups.toml",
    "labs/cluster-mode.toml",
    "live/replication.toml",
    "live/memcached.toml",
    "live/monitoring.toml",
);

/// The compiled-in content, checked.
pub fn bundle() -> Result<Bundle, Vec<Problem>> {
    Bundle::parse(FILES)
}

/// A lab verified on a cluster: its check on the untouched scenario, and
/// after the reference solution.
#[derive(Clone, Debug)]
pub struct LabRun {
    pub before: Vec<Outcome>,
    pub after: Vec<Outcome>,
    /// A setup or solution step that failed.
    pub error: Option<String>,
}

impl LabRun {
    /// The check fails untouched and passes after the solution: it cannot
    /// be vacuous.
    pub fn valid(&self) -> bool {
        self.error.is_none() && !passed(&self.before) && passed(&self.after)
    }
}

/// Verifies a lab on a cluster already in its scenario (setup done).
pub fn verify_on(lab: &Lab, c: &mut dyn cluster::Cluster) -> LabRun {
    let before = grade_now(&lab.check, c);
    let mut error = None;
    for step in &lab.solution {
        if let Err(e) = run_step(c, step) {
            error = Some(format!("{step:?}: {e}"));
            break;
        }
    }
    let after = grade_now(&lab.check, c);
    LabRun {
        before,
        after,
        error,
    }
}

/// Verifies a lab on the simulator (seeded: the same run every time).
pub fn verify_sim(lab: &Lab, seed: u64) -> LabRun {
    match sim::SimCluster::start(&lab.scenario, seed) {
        Ok(mut c) => verify_on(lab, &mut c),
        Err(e) => LabRun {
            before: Vec::new(),
            after: Vec::new(),
            error: Some(e),
        },
    }
}
