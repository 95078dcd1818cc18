//! Labs on the live replication group: the scenario rebuilt and set up
//! through the router, the task and hints, and the Check — the lab's
//! predicates graded by `cachelab_exercises::grade::Grader` through
//! [`RouterCluster`], which asks the page's worker nodes on connections of
//! its own and reads the router's control plane.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};

use cachelab_engine::control::{Api, NodeStatus};
use cachelab_engine::protocol::{encode_request, parse_reply};
use cachelab_engine::ConnId;
use cachelab_exercises::cluster::{reply_text, Cluster, ClusterView, Query, Ticket};
use cachelab_exercises::content::Lab;
use cachelab_exercises::grade::{Grader, Outcome};
use cachelab_exercises::steps::{Action, Step};
use leptos::prelude::*;

use super::{bundle, reset_group, st, topic_title, Section};
use crate::with_router;

/// How long (real time) a query waits for its node.
const ASK_TIMEOUT_MS: f64 = 4000.0;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabState {
    pub id: String,
    /// "setup" while the scenario is being built, "ready", or an error.
    pub phase: String,
    /// What the setup is doing now.
    pub status: String,
    pub hints: usize,
    /// The reference solution is shown (after the last hint).
    pub solution: bool,
    pub outcomes: Vec<Outcome>,
    pub checking: bool,
    /// Main-thread work of the last Check (ms), and its wall time.
    pub grade_ms: f64,
    pub grade_wall_ms: f64,
    pub checked: bool,
}

impl LabState {
    pub fn passed(&self) -> bool {
        self.checked && !self.outcomes.is_empty() && self.outcomes.iter().all(|o| o.ok)
    }
}

fn perf_now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or(0.0)
}

struct Ask {
    ticket: Ticket,
    slot: usize,
    buf: Vec<u8>,
    at: f64,
    via: String,
}

#[derive(Default)]
struct Asks {
    next_conn: u64,
    next_ticket: Ticket,
    open: BTreeMap<u64, Ask>,
    answers: BTreeMap<Ticket, Result<String, String>>,
}

struct Setup {
    lab: Lab,
    /// A live question this scenario is built for (no lab dock then).
    live: Option<String>,
    steps: VecDeque<String>,
    /// A command's ticket awaited, or a virtual time to reach.
    waiting_ticket: Option<Ticket>,
    waiting_until: Option<u64>,
    healthy: bool,
}

struct Grading {
    grader: Grader,
    work: f64,
    started: f64,
}

thread_local! {
    static ASKS: RefCell<Asks> = RefCell::new(Asks { next_conn: 1 << 40, ..Asks::default() });
    static SETUP: RefCell<Option<Setup>> = const { RefCell::new(None) };
    static GRADING: RefCell<Option<Grading>> = const { RefCell::new(None) };
    /// The setup running is for a live question.
    static FOR_LIVE: RefCell<bool> = const { RefCell::new(false) };
}

/// The page's replication group as a [`Cluster`]: queries go on their own
/// connection to the endpoint or node and are answered from the worker
/// replies as they arrive; the view is the router's control plane.
pub struct RouterCluster;

impl Cluster for RouterCluster {
    fn ask(&mut self, q: &Query) -> Ticket {
        let ticket = ASKS.with(|a| {
            let mut a = a.borrow_mut();
            a.next_ticket += 1;
            a.next_ticket
        });
        let fail = |e: String| {
            ASKS.with(|a| a.borrow_mut().answers.insert(ticket, Err(e)));
            ticket
        };
        let Query::Redis { via, argv } = q else {
            return fail("Memcached queries are not graded on the replication group".into());
        };
        let target = with_router(|r| {
            let c = &r.control;
            let pick = (js_sys::Math::random() * 16.0) as usize;
            let addr = match via.as_str() {
                "primary" => c.resolve(&c.dns.primary_endpoint.clone(), pick),
                "reader" => c.resolve(&c.dns.reader_endpoint.clone(), pick),
                node => c
                    .nodes
                    .iter()
                    .find(|n| n.name == node && n.status != NodeStatus::Deleted)
                    .map(|n| n.addr.clone()),
            };
            let slot = addr.and_then(|a| c.nodes.iter().position(|n| n.addr == a));
            match slot {
                Some(s) if r.is_up(s) => Ok(s),
                _ => Err(format!(
                    "Could not connect to {via}: it resolves to no running node"
                )),
            }
        })
        .unwrap_or_else(|| Err("no replication group".into()));
        let slot = match target {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let conn = ASKS.with(|a| {
            let mut a = a.borrow_mut();
            a.next_conn += 1;
            let conn = a.next_conn;
            a.open.insert(
                conn,
                Ask {
                    ticket,
                    slot,
                    buf: Vec::new(),
                    at: perf_now(),
                    via: via.clone(),
                },
            );
            conn
        });
        with_router(|r| {
            r.open(slot, ConnId(conn));
            r.client_bytes(slot, ConnId(conn), encode_request(argv));
        });
        ticket
    }

    fn answer(&mut self, t: Ticket) -> Option<Result<String, String>> {
        // Queries whose node has not answered in time fail.
        let now = perf_now();
        let late: Vec<(u64, usize)> = ASKS.with(|a| {
            let mut a = a.borrow_mut();
            let late: Vec<u64> = a
                .open
                .iter()
                .filter(|(_, q)| now - q.at > ASK_TIMEOUT_MS)
                .map(|(c, _)| *c)
                .collect();
            late.into_iter()
                .filter_map(|c| {
                    let q = a.open.remove(&c)?;
                    a.answers.insert(
                        q.ticket,
                        Err(format!(
                            "no answer through {} within 4 s (is the node paused or cut off?)",
                            q.via
                        )),
                    );
                    Some((c, q.slot))
                })
                .collect()
        });
        for (c, slot) in late {
            with_router(|r| r.close(slot, ConnId(c)));
        }
        ASKS.with(|a| a.borrow_mut().answers.remove(&t))
    }

    fn view(&mut self) -> ClusterView {
        with_router(|r| ClusterView::of_group(&r.control)).unwrap_or_default()
    }

    /// Control actions for scenario setups. `!wait` is carried out by the
    /// setup runner (virtual time passes with the page's clock).
    fn act(&mut self, a: &Action) -> Result<(), String> {
        let node = |r: &crate::router::Router, name: &str| {
            let name = if name == "primary" {
                let p = r.control.dns.primary.clone();
                r.control
                    .nodes
                    .iter()
                    .find(|n| Some(&n.addr) == p.as_ref())
                    .map(|n| n.name.clone())
                    .unwrap_or_default()
            } else {
                name.to_string()
            };
            r.control
                .nodes
                .iter()
                .position(|n| n.name == name && n.status != NodeStatus::Deleted)
                .ok_or_else(|| format!("no node {name}"))
        };
        let api = |r: &mut crate::router::Router, req: Api| {
            r.api(req).map_err(|e| format!("{}: {}", e.code, e.message))
        };
        with_router(|r| match a {
            Action::TestFailover => api(r, Api::TestFailover),
            Action::Kill(n) => {
                let s = node(r, n)?;
                r.kill(s);
                Ok(())
            }
            Action::Reboot(n) => {
                let s = node(r, n)?;
                let id = r.control.nodes[s].id.clone();
                api(r, Api::Reboot { id })
            }
            Action::AddReplica(az) => {
                let az = az
                    .clone()
                    .unwrap_or_else(|| crate::AZS[r.control.nodes.len() % 3].to_string());
                api(r, Api::AddReplica { az })
            }
            Action::RemoveReplica(n) => {
                let s = node(r, n)?;
                let id = r.control.nodes[s].id.clone();
                api(r, Api::RemoveReplica { id })
            }
            Action::MultiAz(on) => api(r, Api::SetMultiAz(*on)),
            Action::Isolate(n) => {
                let s = node(r, n)?;
                r.isolate(s);
                Ok(())
            }
            Action::Heal => {
                r.heal();
                Ok(())
            }
            Action::Az { az, up } => {
                r.set_az(az, *up);
                Ok(())
            }
            other => Err(format!("{other:?} is not an action of this playground")),
        })
        .unwrap_or_else(|| Err("no replication group".into()))
    }
}

/// A worker's reply bytes: answers a query if the connection is ours.
pub fn on_reply(conn: ConnId, bytes: &[u8]) {
    let done = ASKS.with(|a| {
        let mut a = a.borrow_mut();
        let q = a.open.get_mut(&conn.0)?;
        q.buf.extend_from_slice(bytes);
        let Ok(Some((reply, _))) = parse_reply(&q.buf) else {
            return None;
        };
        let q = a.open.remove(&conn.0)?;
        a.answers.insert(q.ticket, Ok(reply_text(&reply)));
        Some(q.slot)
    });
    if let Some(slot) = done {
        with_router(|r| r.close(slot, conn));
    }
}

/// A connection of ours closed before its answer.
pub fn on_closed(conn: ConnId) {
    ASKS.with(|a| {
        let mut a = a.borrow_mut();
        if let Some(q) = a.open.remove(&conn.0) {
            a.answers.insert(
                q.ticket,
                Err(format!("the connection through {} closed", q.via)),
            );
        }
    });
}

/// Opens a lab: switches to its tab, rebuilds the group as its scenario
/// says, and runs the setup steps.
pub fn start(id: &str) {
    let l = st();
    let Some(lab) = bundle().lab(id).cloned() else {
        return;
    };
    if lab.scenario.kind != "replication" {
        // Memcached labs are listed, not run yet: show the list.
        l.on.set(true);
        l.section.set(Section::Labs);
        return;
    }
    l.on.set(false);
    l.mc.set(false);
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
    ASKS.with(|a| {
        let mut a = a.borrow_mut();
        a.open.clear();
        a.answers.clear();
    });
    reset_group(lab.scenario.replicas, lab.scenario.multi_az);
    if live.is_none() {
        l.lab.set(Some(LabState {
            id: lab.id.clone(),
            phase: "setup".into(),
            status: "Starting the replication group…".into(),
            ..LabState::default()
        }));
    }
    FOR_LIVE.with(|f| *f.borrow_mut() = live.is_some());
    set_status("setup", "Starting the replication group…".into());
    SETUP.with(|s| {
        *s.borrow_mut() = Some(Setup {
            steps: lab.scenario.setup.iter().cloned().collect(),
            lab,
            live,
            waiting_ticket: None,
            waiting_until: None,
            healthy: false,
        })
    });
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
    let mut c = RouterCluster;
    loop {
        if !s.healthy {
            let ok = with_router(|r| {
                r.control.healthy()
                    && (0..r.control.nodes.len())
                        .all(|i| r.control.nodes[i].status == NodeStatus::Deleted || r.is_up(i))
            })
            .unwrap_or(false);
            if !ok {
                break;
            }
            s.healthy = true;
        }
        if let Some(t) = s.waiting_ticket {
            match c.answer(t) {
                None => break,
                Some(Err(e)) => {
                    set_status("error", format!("Setup failed: {e}. Press Reset scenario."));
                    return;
                }
                Some(Ok(_)) => s.waiting_ticket = None,
            }
        }
        if let Some(until) = s.waiting_until {
            if with_router(|r| r.now.0).unwrap_or(0) < until {
                // Virtual time runs faster while a setup waits (as 10x does).
                with_router(|r| r.advance(200));
                break;
            }
            s.waiting_until = None;
        }
        let Some(step) = s.steps.pop_front() else {
            if let Some(id) = s.live.take() {
                super::live::ask(&id);
                return;
            }
            set_status(
                "ready",
                format!(
                    "Ready: the group is in the lab's starting state{}. Do the task with the console and the group's buttons below, then press Check.",
                    if s.lab.scenario.setup.is_empty() {
                        String::new()
                    } else {
                        format!(" (set up with: {})", s.lab.scenario.setup.join(" · "))
                    }
                ),
            );
            return;
        };
        set_status("setup", format!("Setting up: {step}"));
        match Step::parse(&step) {
            Ok(Step::Command { via, argv }) => {
                s.waiting_ticket = Some(c.ask(&Query::Redis { via, argv }));
            }
            Ok(Step::Act(Action::Wait(ms))) => {
                s.waiting_until = with_router(|r| r.now.0 + ms);
            }
            Ok(Step::Act(a)) => {
                if let Err(e) = c.act(&a) {
                    set_status("error", format!("Setup step {step} failed: {e}"));
                    return;
                }
            }
            Ok(Step::Memcached { .. }) | Err(_) => {
                set_status("error", format!("Setup step {step} cannot run here"));
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
    let grader = Grader::start(&lab.check, &mut RouterCluster);
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
    let out = g.grader.poll(&mut RouterCluster);
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
            .filter(|t| b.labs.iter().any(|x| x.topic == t.id))
            .map(|t| {
                let labs = b
                    .labs
                    .iter()
                    .filter(|x| x.topic == t.id)
                    .map(|x| {
                        let id = x.id.clone();
                        let runs = x.scenario.kind == "replication";
                        let passed = p.labs.contains_key(&x.id);
                        view! {
                            <li class="lab-row" data-lab=x.id.clone() class:passed=passed>
                                <div class="lab-title">{passed.then_some("✓ ")}{x.title.clone()}
                                    <span class=format!("q-diff {}", super::practice::difficulty_word(x.difficulty))>{super::practice::difficulty_word(x.difficulty)}</span>
                                </div>
                                {if runs {
                                    view! { <button class="lab-start" id=format!("lab-start-{}", x.id) on:click=move |_| start(&id)>{if passed { "Do it again" } else { "Start lab" }}</button> }.into_any()
                                } else {
                                    view! { <span class="note">"Runs on the Memcached cluster: its Check is not wired to the page yet (use the Memcached tab to explore)."</span> }.into_any()
                                }}
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
                <p class="note">"A lab resets the Redis tab's replication group to its scenario and docks its task above the group. Do the task with the console and the buttons, then press Check: the page asks the live nodes and the control plane whether each goal holds."</p>
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
                        <p class=phase_class id="lab-status">{s.status.clone()}</p>
                        <ol class="hints" id="lab-hints">
                            {shown.into_iter().map(|h| view! { <li>{h}</li> }).collect_view()}
                        </ol>
                        {(no_more_hints && !s.solution).then(|| view! {
                            <button id="lab-solution" class="see-link" on:click=move |_| l.lab.update(|s| if let Some(s) = s { s.solution = true; })>"Show the reference solution"</button>
                        })}
                        {s.solution.then(|| view! {
                            <div class="solution" id="lab-solution-steps">
                                <strong>"Reference solution"</strong>" (console lines; @reader sends through the reader endpoint, !actions are the group's buttons, !wait lets virtual time pass):"
                                <pre>{solution.join("\n")}</pre>
                            </div>
                        })}
                    </div>
                    <div class="lab-check">
                        <div class="buttons">
                            <button id="lab-check" class="primary-action" disabled=check_off on:click=move |_| check()
                                title="Ask the live nodes and the control plane whether each goal holds (nothing is changed)">{if s.checking { "Checking…" } else { "Check" }}</button>
                            <button id="lab-hint" disabled=no_more_hints on:click=move |_| hint()>{format!("Hint (h) {}/{}", s.hints, hints_total)}</button>
                            <button id="lab-reset" on:click=move |_| start(&id) title="Rebuild the group as the lab starts">"Reset scenario"</button>
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
