//! Labs on the live playground — the Redis tab's replication group or the
//! Memcached tab's cluster: the scenario rebuilt and set up through the
//! page's router, the task and hints, and the Check — the lab's predicates
//! graded by `cachelab_exercises::grade::Grader` through
//! [`PageCluster`](super::clusters::PageCluster), which asks the page's
//! worker nodes on connections of its own and reads the control plane.

use std::cell::RefCell;
use std::collections::VecDeque;

use cachelab_engine::control::NodeStatus;
use cachelab_exercises::cluster::{Cluster, Query, Ticket};
use cachelab_exercises::content::Lab;
use cachelab_exercises::grade::{Grader, Outcome};
use cachelab_exercises::steps::{Action, Step};
use leptos::prelude::*;

use super::clusters::{forget_asks, kind, perf_now, Kind, PageCluster};
pub use super::clusters::{on_closed, on_cme_reply, on_mc_reply, on_reply};
use super::{bundle, reset_group, st, topic_title, Section};
use crate::groups::with_group;
use crate::memcached::with_mc;
use crate::shards::with_cme;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabState {
    pub id: String,
    /// "setup" while the scenario is being built, "ready", or an error.
    pub phase: String,
    /// What the setup is doing now.
    pub status: String,
    /// What a starting cluster still waits for (the status's tooltip).
    pub waiting: String,
    pub hints: usize,
    /// The reference solution is shown (after the last hint).
    pub solution: bool,
    pub outcomes: Vec<Outcome>,
    pub checking: bool,
    /// Main-thread work of the last Check (ms), and its wall time.
    pub grade_ms: f64,
    pub grade_wall_ms: f64,
    pub checked: bool,
    /// "replication", "memcached" or "cluster": the tab the lab is docked on.
    pub kind: String,
}

impl LabState {
    pub fn passed(&self) -> bool {
        self.checked && !self.outcomes.is_empty() && self.outcomes.iter().all(|o| o.ok)
    }
}

struct Setup {
    lab: Lab,
    /// A live question this scenario is built for (no lab dock then).
    live: Option<String>,
    steps: VecDeque<String>,
    /// A command's ticket awaited, or a virtual time to reach.
    waiting_ticket: Option<Ticket>,
    waiting_until: Option<u64>,
    /// The client's auto discovery was asked to poll: wait for its answer.
    waiting_discovery: bool,
    healthy: bool,
    /// The steps are the reference solution being played: Check follows.
    solution: bool,
}

struct Grading {
    grader: Grader,
    work: f64,
    started: f64,
}

thread_local! {
    static SETUP: RefCell<Option<Setup>> = const { RefCell::new(None) };
    static GRADING: RefCell<Option<Grading>> = const { RefCell::new(None) };
    /// The setup running is for a live question.
    static FOR_LIVE: RefCell<bool> = const { RefCell::new(false) };
}

/// Opens a lab: switches to its tab, rebuilds the group or the Memcached
/// cluster as its scenario says, and runs the setup steps.
pub fn start(id: &str) {
    let l = st();
    let Some(lab) = bundle().lab(id).cloned() else {
        return;
    };
    l.on.set(false);
    l.mc.set(lab.scenario.kind == "memcached");
    l.cme.set(lab.scenario.kind == "cluster");
    l.live.set(None);
    build(lab, None);
}

/// Builds a live question's scenario on the group (the Learn tab stays).
pub fn build_for_live(id: &str, scenario: &cachelab_exercises::content::Scenario) {
    let lab = Lab {
        id: String::new(),
        topic: String::new(),
        title: String::new(),
        difficulty: cachelab_exercises::content::Difficulty::Easy,
        teaches: Vec::new(),
        scenario: scenario.clone(),
        task: String::new(),
        hints: Vec::new(),
        solution: Vec::new(),
        debrief: String::new(),
        check: Vec::new(),
        file: String::new(),
        line: 0,
    };
    st().lab.set(None);
    build(lab, Some(id.to_string()));
}

fn build(lab: Lab, live: Option<String>) {
    let l = st();
    GRADING.with(|g| *g.borrow_mut() = None);
    let k = Kind::of(&lab.scenario.kind);
    forget_asks(k);
    let starting = match k {
        Kind::Group => {
            reset_group(lab.scenario.replicas, lab.scenario.multi_az);
            "Starting the replication group…"
        }
        Kind::Memcached => {
            crate::memcached::reset_for_lab(lab.scenario.nodes);
            "Starting the Memcached cluster…"
        }
        Kind::Cme => {
            crate::shards::reset_for_lab(lab.scenario.shards, lab.scenario.replicas);
            "Starting the cluster-mode group…"
        }
    };
    if live.is_none() {
        l.lab.set(Some(LabState {
            id: lab.id.clone(),
            phase: "setup".into(),
            status: starting.into(),
            kind: lab.scenario.kind.clone(),
            ..LabState::default()
        }));
    }
    FOR_LIVE.with(|f| *f.borrow_mut() = live.is_some());
    set_status("setup", starting.into());
    SETUP.with(|s| {
        *s.borrow_mut() = Some(Setup {
            steps: lab.scenario.setup.iter().cloned().collect(),
            lab,
            live,
            waiting_ticket: None,
            waiting_until: None,
            waiting_discovery: false,
            healthy: false,
            solution: false,
        })
    });
}

/// Plays the lab's reference solution on the live cluster, step by step
/// (the status line names each), then checks.
pub fn play_solution() {
    let Some(state) = st().lab.get_untracked() else {
        return;
    };
    if state.phase != "ready" || SETUP.with(|s| s.borrow().is_some()) {
        return;
    }
    let Some(lab) = bundle().lab(&state.id).cloned() else {
        return;
    };
    FOR_LIVE.with(|f| *f.borrow_mut() = false);
    set_status("setup", "Playing the reference solution…".into());
    SETUP.with(|s| {
        *s.borrow_mut() = Some(Setup {
            steps: lab.solution.iter().cloned().collect(),
            lab,
            live: None,
            waiting_ticket: None,
            waiting_until: None,
            waiting_discovery: false,
            healthy: true,
            solution: true,
        })
    });
}

/// Whether the cluster is up: every node running and (Memcached) the
/// client holding the current node list.
fn healthy() -> bool {
    match kind() {
        Kind::Group => {
            workers_up()
                && with_group(&crate::groups::first(), |r| r.control.healthy()).unwrap_or(false)
        }
        Kind::Memcached => with_mc(|r| {
            // The client discovers the nodes once at start; later polls
            // are the scenario's (`!mc-discover`) or the clock's.
            let discovered = r.discovery.config.version > 0;
            if !discovered && !r.config_pending() && r.all_ready() {
                r.poll_discovery();
            }
            r.all_ready() && discovered && !r.config_pending()
        })
        .unwrap_or(false),
        Kind::Cme => with_cme(|r| r.cme.status == "available" && r.all_ok()).unwrap_or(false),
    }
}

/// What a starting cluster still waits for: nodes whose worker has not
/// started, or that the control plane does not list as available yet.
fn not_settled() -> String {
    let waits: Vec<String> = match kind() {
        Kind::Group => with_group(&crate::groups::first(), |r| {
            (0..r.control.nodes.len())
                .filter_map(|i| {
                    let n = &r.control.nodes[i];
                    if n.status == NodeStatus::Deleted {
                        None
                    } else if !r.is_ready(i) {
                        Some(format!("{}: its worker is starting", n.name))
                    } else if n.status != NodeStatus::Available {
                        Some(format!("{}: {}", n.name, n.status.word()))
                    } else {
                        None
                    }
                })
                .collect()
        })
        .unwrap_or_default(),
        Kind::Memcached => with_mc(|r| {
            if r.all_ready() {
                vec!["the client's auto discovery".into()]
            } else {
                vec!["a node's worker is starting".into()]
            }
        })
        .unwrap_or_default(),
        Kind::Cme => with_cme(|r| {
            let mut w: Vec<String> = r
                .cme
                .nodes
                .iter()
                .filter(|n| !r.is_ready(&n.addr))
                .map(|n| format!("{}: its worker is starting", n.name))
                .collect();
            w.push(format!(
                "the group is {}; the control plane is {}",
                r.cme.status,
                r.cme.doing()
            ));
            w
        })
        .unwrap_or_default(),
    };
    if waits.is_empty() {
        "Waiting for the group's endpoints".into()
    } else {
        format!("Waiting for {}", waits.join("; "))
    }
}

fn set_waiting(text: String) {
    if FOR_LIVE.with(|f| *f.borrow()) {
        return;
    }
    st().lab
        .maybe_update(|s| match s.as_mut().filter(|s| s.waiting != text) {
            Some(s) => {
                s.waiting = text;
                true
            }
            None => false,
        });
}

/// Whether every node of the lab's cluster has its worker running.
fn workers_up() -> bool {
    match kind() {
        Kind::Group => with_group(&crate::groups::first(), |r| {
            (0..r.control.nodes.len())
                .all(|i| r.control.nodes[i].status == NodeStatus::Deleted || r.is_ready(i))
        })
        .unwrap_or(false),
        Kind::Memcached => with_mc(|r| r.all_ready()).unwrap_or(false),
        Kind::Cme => {
            with_cme(|r| !r.cme.nodes.is_empty() && r.cme.nodes.iter().all(|n| r.is_ready(&n.addr)))
                .unwrap_or(false)
        }
    }
}

/// The virtual time of the lab's cluster.
fn now_ms() -> u64 {
    match kind() {
        Kind::Group => with_group(&crate::groups::first(), |r| r.now.0),
        Kind::Memcached => with_mc(|r| r.now.0),
        Kind::Cme => with_cme(|r| r.now.0),
    }
    .unwrap_or(0)
}

fn advance(ms: u64) {
    match kind() {
        Kind::Group => crate::groups::advance_all(ms),
        Kind::Memcached => {
            with_mc(|r| r.advance(ms));
        }
        Kind::Cme => {
            with_cme(|r| r.advance(ms));
        }
    }
}

fn set_status(phase: &str, status: String) {
    if FOR_LIVE.with(|f| *f.borrow()) {
        super::live::status(phase, status);
        return;
    }
    st().lab.update(|s| {
        if let Some(s) = s {
            s.phase = phase.into();
            s.status = status;
        }
    });
}

/// Driven by the Learn timer: the setup's next step, the Check's answers.
pub fn tick() {
    setup_tick();
    grade_tick();
}

fn setup_tick() {
    let Some(mut s) = SETUP.with(|s| s.borrow_mut().take()) else {
        return;
    };
    let mut c = PageCluster;
    loop {
        if !s.healthy {
            if !healthy() {
                // A group just started settles (replicas sync, the cluster
                // bus agrees, a new primary's writable delay passes) in
                // virtual time: once all its workers run, that time runs
                // ten times faster too.
                if workers_up() && kind() != Kind::Memcached {
                    advance(400);
                }
                set_waiting(not_settled());
                break;
            }
            s.healthy = true;
            set_waiting(String::new());
        }
        if s.waiting_discovery {
            if with_mc(|r| r.config_pending()).unwrap_or(false) {
                break;
            }
            s.waiting_discovery = false;
        }
        if let Some(t) = s.waiting_ticket {
            match c.answer(t) {
                None => break,
                Some(Err(e)) => {
                    set_status("error", format!("Step failed: {e}. Press Reset scenario."));
                    return;
                }
                Some(Ok(_)) => s.waiting_ticket = None,
            }
        }
        if let Some(until) = s.waiting_until {
            if now_ms() < until {
                // Virtual time runs ten times faster while a setup waits
                // (as the 10x button does: 400 ms each 40 ms tick). Faster
                // is not safe: a restored group's workers start in real
                // time, and a lab checks them after its wait.
                advance(400);
                break;
            }
            // A cluster-mode group's control plane moves slots as fast as
            // its commands come back from the workers, not by the virtual
            // clock: a wait lasts until what it waits for is done and every
            // node says cluster_state:ok (time runs on at the normal pace
            // meanwhile, up to 10 minutes more).
            if kind() == Kind::Cme
                && now_ms() < until + 600_000
                && with_cme(|r| r.cme.status != "available" || !r.all_ok()).unwrap_or(false)
            {
                advance(40);
                break;
            }
            s.waiting_until = None;
        }
        let Some(step) = s.steps.pop_front() else {
            if let Some(id) = s.live.take() {
                super::live::ask(&id);
                return;
            }
            if s.solution {
                set_status(
                    "ready",
                    format!(
                        "The reference solution ran: {}. Checking…",
                        s.lab.solution.join(" · ")
                    ),
                );
                check();
                return;
            }
            set_status(
                "ready",
                format!(
                    "Ready: the {} is in the lab's starting state{}. Do the task with the console and the buttons below, then press Check.",
                    if kind() == Kind::Memcached { "cluster" } else { "group" },
                    if s.lab.scenario.setup.is_empty() {
                        String::new()
                    } else {
                        format!(" (set up with: {})", s.lab.scenario.setup.join(" · "))
                    }
                ),
            );
            return;
        };
        let doing = if s.solution {
            "Solution step"
        } else {
            "Setting up"
        };
        set_status("setup", format!("{doing}: {step}"));
        match Step::parse(&step) {
            Ok(Step::Command { via, argv }) => {
                s.waiting_ticket = Some(c.ask(&Query::Redis { via, argv }));
            }
            Ok(Step::Memcached { node, line }) => {
                s.waiting_ticket = Some(c.ask(&Query::Memcached { node, line }));
            }
            Ok(Step::Session { .. }) => {
                set_status(
                    "error",
                    format!("Step {step} failed: a lab cannot keep a connection open"),
                );
                return;
            }
            Ok(Step::Act(Action::Wait(ms))) => {
                s.waiting_until = Some(now_ms() + ms);
            }
            Ok(Step::Act(a)) => {
                if let Err(e) = c.act(&a) {
                    set_status("error", format!("Step {step} failed: {e}"));
                    return;
                }
                // A node being added or replaced starts its worker; the
                // client's poll answers later.
                s.waiting_discovery = a == Action::McDiscover;
                s.healthy = !matches!(a, Action::McAdd | Action::McReplace(_));
            }
            Err(e) => {
                set_status("error", format!("Step {step} cannot run: {e}"));
                return;
            }
        }
    }
    SETUP.with(|slot| *slot.borrow_mut() = Some(s));
}

/// Check: asks the predicates' queries; answers are collected as they come.
pub fn check() {
    let l = st();
    let Some(state) = l.lab.get_untracked() else {
        return;
    };
    let Some(lab) = bundle().lab(&state.id).cloned() else {
        return;
    };
    if GRADING.with(|g| g.borrow().is_some()) {
        return;
    }
    let t0 = perf_now();
    let grader = Grader::start(&lab.check, &mut PageCluster);
    let work = perf_now() - t0;
    GRADING.with(|g| {
        *g.borrow_mut() = Some(Grading {
            grader,
            work,
            started: t0,
        })
    });
    l.lab.update(|s| {
        if let Some(s) = s {
            s.checking = true;
        }
    });
    grade_tick();
}

fn grade_tick() {
    let Some(mut g) = GRADING.with(|g| g.borrow_mut().take()) else {
        return;
    };
    let t0 = perf_now();
    let out = g.grader.poll(&mut PageCluster);
    let t1 = perf_now();
    g.work += t1 - t0;
    let Some(outcomes) = out else {
        GRADING.with(|slot| *slot.borrow_mut() = Some(g));
        return;
    };
    let l = st();
    let mut passed_id = None;
    l.lab.update(|s| {
        if let Some(s) = s {
            s.outcomes = outcomes;
            s.checking = false;
            s.checked = true;
            s.grade_ms = g.work;
            s.grade_wall_ms = t1 - g.started;
            if s.passed() {
                passed_id = Some(s.id.clone());
            }
        }
    });
    if let Some(id) = passed_id {
        l.progress.update(|p| {
            p.labs.entry(id).or_insert_with(super::progress::now_ms);
            p.save();
        });
    }
}

pub fn hint() {
    let l = st();
    let n = l
        .lab
        .get_untracked()
        .and_then(|s| bundle().lab(&s.id).map(|x| x.hints.len()))
        .unwrap_or(0);
    l.lab.update(|s| {
        if let Some(s) = s {
            s.hints = (s.hints + 1).min(n);
        }
    });
}

/// The labs, by topic (the Learn tab's Labs section).
pub fn list() -> impl IntoView {
    let l = st();
    move || {
        let b = bundle();
        let p = l.progress.get();
        let groups = b
            .topics
            .iter()
            // A topic the page does not run yet (cluster mode) keeps its
            // labs for the checker until it does.
            .filter(|t| t.running && b.labs.iter().any(|x| x.topic == t.id))
            .map(|t| {
                let labs = b
                    .labs
                    .iter()
                    .filter(|x| x.topic == t.id)
                    .map(|x| {
                        let id = x.id.clone();
                        let passed = p.labs.contains_key(&x.id);
                        view! {
                            <li class="lab-row" data-lab=x.id.clone() class:passed=passed>
                                <div class="lab-title">{passed.then_some("✓ ")}{x.title.clone()}
                                    <span class=format!("q-diff {}", super::practice::difficulty_word(x.difficulty))>{super::practice::difficulty_word(x.difficulty)}</span>
                                </div>
                                <span class="lab-on" title="The tab the lab runs on">{match x.scenario.kind.as_str() { "memcached" => "Memcached tab", "cluster" => "Cluster mode tab", _ => "Redis tab" }}</span>
                                <button class="lab-start" id=format!("lab-start-{}", x.id) on:click=move |_| start(&id)>{if passed { "Do it again" } else { "Start lab" }}</button>
                            </li>
                        }
                    })
                    .collect_view();
                view! {
                    <h3>{topic_title(&t.id)}</h3>
                    <ul class="labs">{labs}</ul>
                }
            })
            .collect_view();
        view! {
            <section class="learn-panel" aria-label="Labs">
                <h2>"Labs"</h2>
                <p class="note">"A lab resets the Redis tab's replication group (or the Memcached tab's cluster) to its scenario and docks its task above it. Do the task with the console and the buttons, then press Check: the page asks the live nodes and the control plane whether each goal holds."</p>
                {groups}
            </section>
        }
    }
}

/// The active lab, docked above the replication group on the Redis tab.
#[component]
pub fn LabDock() -> impl IntoView {
    let l = st();
    move || {
        let s = l.lab.get()?;
        let lab = bundle().lab(&s.id).cloned()?;
        let hints_total = lab.hints.len();
        let solution = lab.solution.clone();
        let shown: Vec<String> = lab.hints.iter().take(s.hints).cloned().collect();
        let passed = s.passed();
        let no_more_hints = s.hints >= hints_total;
        let check_off = s.phase != "ready" || s.checking;
        let phase_class = format!("lab-status {}", s.phase);
        let id = lab.id.clone();
        Some(view! {
            <aside class="lab-dock" id="lab-dock" aria-label="Lab" data-lab=lab.id.clone() data-passed=passed.to_string()
                data-grade-ms=format!("{:.2}", s.grade_ms) data-grade-wall-ms=format!("{:.0}", s.grade_wall_ms)>
                <div class="lab-head">
                    <span class="lab-kind">"Lab"</span>
                    <h2>{lab.title.clone()}</h2>
                    <span class="lab-topic">{topic_title(&lab.topic)}</span>
                    <button id="lab-leave" class="lab-leave" title="Back to the list of labs (the group stays as it is)"
                        on:click=move |_| { l.lab.set(None); SETUP.with(|x| *x.borrow_mut() = None); l.section.set(Section::Labs); l.on.set(true); }>"← All labs"</button>
                </div>
                <div class="lab-body">
                    <div class="lab-task">
                        <p class="task" id="lab-task">{lab.task.trim().to_string()}</p>
                        <p class=phase_class id="lab-status" title=s.waiting.clone()>{s.status.clone()}</p>
                        <ol class="hints" id="lab-hints">
                            {shown.into_iter().map(|h| view! { <li>{h}</li> }).collect_view()}
                        </ol>
                        {(no_more_hints && !s.solution).then(|| view! {
                            <button id="lab-solution" class="see-link" on:click=move |_| l.lab.update(|s| if let Some(s) = s { s.solution = true; })>"Show the reference solution"</button>
                        })}
                        {s.solution.then(|| view! {
                            <div class="solution" id="lab-solution-steps">
                                <strong>"Reference solution"</strong>{if s.kind == "memcached" { " (console lines: mc NODE sends to that node, mc client through the application's client; !actions are the cluster's buttons, !wait lets virtual time pass):" } else if s.kind == "cluster" { " (console lines go through a cluster client that follows MOVED and ASK; @config sends through the configuration endpoint only, @NODE to one node; !actions are the group's buttons, !wait lets virtual time pass):" } else { " (console lines; @reader sends through the reader endpoint, !actions are the group's buttons, !wait lets virtual time pass):" }}
                                <pre>{solution.join("\n")}</pre>
                                <button id="lab-play-solution" disabled=s.phase != "ready" on:click=move |_| play_solution()
                                    title="Run these steps on the live cluster, one by one, then Check">"Play it on the cluster"</button>
                            </div>
                        })}
                    </div>
                    <div class="lab-check">
                        <div class="buttons">
                            <button id="lab-check" class="primary-action" disabled=check_off on:click=move |_| check()
                                title="Ask the live nodes and the control plane whether each goal holds (nothing is changed)">{if s.checking { "Checking…" } else { "Check" }}</button>
                            <button id="lab-hint" disabled=no_more_hints on:click=move |_| hint()>{format!("Hint (h) {}/{}", s.hints, hints_total)}</button>
                            <button id="lab-reset" on:click=move |_| start(&id) title="Rebuild the cluster as the lab starts">"Reset scenario"</button>
                        </div>
                        {(!s.outcomes.is_empty()).then(|| view! {
                            <ul class="outcomes" id="lab-outcomes">
                                {s.outcomes.iter().map(|o| view! {
                                    <li class=if o.ok { "outcome ok" } else { "outcome bad" } data-ok=o.ok.to_string()>
                                        <span class="mark">{if o.ok { "✓" } else { "✗" }}</span>
                                        <span class="what">{o.what.clone()}</span>
                                        <span class="seen">{format!("seen: {}", o.seen.strip_prefix("seen: ").unwrap_or(&o.seen).replace('\n', " "))}</span>
                                    </li>
                                }).collect_view()}
                            </ul>
                            <p class="note grade-time">{format!("Checked in {:.0} ms ({:.1} ms of page work).", s.grade_wall_ms, s.grade_ms)}</p>
                        })}
                    </div>
                </div>
                {passed.then(|| view! {
                    <div class="debrief" id="lab-debrief">
                        <strong>"✓ Lab passed. "</strong>{lab.debrief.trim().to_string()}
                    </div>
                })}
            </aside>
        })
    }
}
