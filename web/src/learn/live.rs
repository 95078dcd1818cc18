//! Live questions in practice: the question's scenario is built on the
//! Redis tab's replication group or the Memcached tab's cluster, then
//! `cachelab_exercises::live::LiveAsk` computes the options and the answer
//! from the live nodes and the control plane (through [`PageCluster`]).

use std::cell::RefCell;

use cachelab_exercises::content::LiveQuestion;
use cachelab_exercises::live::{LiveAnswer, LiveAsk};
use leptos::prelude::*;

use super::clusters::PageCluster;
use super::labs::build_for_live;
use super::practice::difficulty_word;
use super::{bundle, current_notes_of, see, see_label, st, topic_title};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveState {
    pub id: String,
    pub phase: String,
    pub status: String,
    pub answer: Option<Result<LiveAnswer, String>>,
    pub picked: Option<usize>,
    pub submitted: bool,
}

thread_local! {
    static ASKING: RefCell<Option<LiveAsk>> = const { RefCell::new(None) };
}

/// Whether the page can answer this live question.
pub fn runs(q: &LiveQuestion) -> bool {
    matches!(q.scenario.kind.as_str(), "replication" | "memcached")
}

/// What the question's scenario is built on, in words.
fn built_on(q: &LiveQuestion) -> &'static str {
    if q.scenario.kind == "memcached" {
        "the Memcached tab's cluster"
    } else {
        "the Redis tab's replication group"
    }
}

pub fn status(phase: &str, status: String) {
    st().live.update(|s| {
        if let Some(s) = s {
            s.phase = phase.into();
            s.status = status;
        }
    });
}

/// Builds the question's scenario, then asks.
pub fn begin(id: &str) {
    let Some(q) = bundle().live.iter().find(|q| q.id == id).cloned() else {
        return;
    };
    ASKING.with(|a| *a.borrow_mut() = None);
    st().live.set(Some(LiveState {
        id: id.to_string(),
        phase: "setup".into(),
        status: format!("Building the scenario on {}…", built_on(&q)),
        ..LiveState::default()
    }));
    build_for_live(id, &q.scenario);
}

/// The scenario is ready: the queries go out.
pub fn ask(id: &str) {
    let Some(q) = bundle().live.iter().find(|q| q.id == id).cloned() else {
        return;
    };
    status("asking", "Asking the live nodes…".into());
    let a = LiveAsk::start(&q, &mut PageCluster);
    ASKING.with(|s| *s.borrow_mut() = Some(a));
}

pub fn tick() {
    let Some(mut a) = ASKING.with(|s| s.borrow_mut().take()) else {
        return;
    };
    match a.poll(&mut PageCluster) {
        None => ASKING.with(|s| *s.borrow_mut() = Some(a)),
        Some(r) => st().live.update(|s| {
            if let Some(s) = s {
                s.phase = "ready".into();
                s.answer = Some(r);
            }
        }),
    }
}

pub fn pick(i: usize) {
    st().live.update(|s| {
        if let Some(s) = s {
            let n = s
                .answer
                .as_ref()
                .and_then(|a| a.as_ref().ok())
                .map_or(0, |a| a.options.len());
            if !s.submitted && i < n {
                s.picked = Some(i);
            }
        }
    });
}

pub fn submit() {
    let l = st();
    let Some(s) = l.live.get_untracked() else {
        return;
    };
    let (Some(p), Some(Ok(a))) = (s.picked, &s.answer) else {
        return;
    };
    if s.submitted {
        return;
    }
    let correct = p == a.correct;
    l.progress.update(|pr| {
        pr.record(&s.id, correct);
        pr.save();
    });
    l.live.update(|s| {
        if let Some(s) = s {
            s.submitted = true;
        }
    });
}

pub fn submitted() -> bool {
    st().live.get_untracked().is_some_and(|s| s.submitted)
}

pub fn view(q: LiveQuestion) -> impl IntoView {
    let l = st();
    let id = q.id.clone();
    let id2 = q.id.clone();
    let link = q.see.clone();
    let link2 = q.see.clone();
    let notes = current_notes_of(&q.teaches);
    let explain = q.explain.clone();
    let on = built_on(&q);
    view! {
        <div class="q-card live-q">
            <div class="question" data-qid=q.id.clone()>
                <p class="q-meta">
                    <span class="q-topic">{topic_title(&q.topic)}</span>
                    <span class=format!("q-diff {}", difficulty_word(q.difficulty))>{difficulty_word(q.difficulty)}</span>
                    <span class="live-badge" title="The options and the answer are computed from the live cluster when asked">"live"</span>
                </p>
                <p class="stem">{q.stem.trim().to_string()}</p>
            </div>
            {move || {
                let s = l.live.get().filter(|s| s.id == id);
                let Some(s) = s else {
                    let id = id2.clone();
                    return view! {
                        <p class="note">{format!("This question is answered from the live cluster: its scenario is built on {on} (which resets it), then the options and the answer are read off the nodes and the control plane.")}</p>
                        <div class="buttons"><button id="live-start" class="primary-action" on:click=move |_| begin(&id)>"Build the scenario and ask"</button></div>
                    }.into_any();
                };
                match s.answer.clone() {
                    None => view! { <p class=format!("lab-status {}", s.phase) id="live-status">{s.status.clone()}</p> }.into_any(),
                    Some(Err(e)) => view! { <p class="lab-status error" id="live-status">{format!("The live cluster could not answer: {e}")}</p> }.into_any(),
                    Some(Ok(a)) => {
                        let right = s.picked == Some(a.correct);
                        let opts = a.options.iter().enumerate().map(|(i, o)| {
                            let chosen = s.picked == Some(i);
                            let class = match (s.submitted, i == a.correct, chosen) {
                                (false, _, true) => "opt chosen",
                                (true, true, _) => "opt right",
                                (true, false, true) => "opt wrong",
                                _ => "opt",
                            };
                            view! {
                                <li class=class id=format!("opt-{i}") data-correct=s.submitted.then(|| (i == a.correct).to_string())>
                                    <label>
                                        <input type="radio" name="live-q" prop:checked=chosen disabled=s.submitted on:change=move |_| pick(i) />
                                        <span class="key" aria-hidden="true">{(i + 1).to_string()}</span>
                                        <span class="opt-text">{o.clone()}</span>
                                    </label>
                                </li>
                            }
                        }).collect_view();
                        let unpicked = s.picked.is_none();
                        view! {
                            {s.submitted.then(|| view! {
                                <div class=if right { "feedback right" } else { "feedback wrong" } id="practice-feedback" role="status">
                                    <strong>{if right { "✓ Right." } else { "✗ Not quite." }}</strong>
                                    {format!(" The live cluster says: {}.", a.options[a.correct])}
                                </div>
                            })}
                            <ul class="options">{opts}</ul>
                            {s.submitted.then(|| view! {
                                <p class="why live-why"><strong>"Why: "</strong>{explain.clone()}</p>
                                <p class="note live-how"><strong>"How the page found it: "</strong>{a.how.clone()}</p>
                            })}
                            {(!s.submitted).then(|| view! {
                                <div class="buttons q-actions"><button id="practice-submit" class="primary-action" disabled=unpicked on:click=move |_| submit()>"Submit (Enter)"</button></div>
                            })}
                        }.into_any()
                    }
                }
            }}
            {move || l.live.get().is_some_and(|s| s.submitted).then(|| {
                let link = link.clone();
                view! {
                    {notes.clone().into_iter().map(|n| view! { <p class="current-note"><strong>"Current AWS documentation: "</strong>{n}</p> }).collect_view()}
                    <div class="see">
                        <button id="see-it" class="see-link" on:click=move |_| see(&link)>{see_label(&link2)}</button>
                    </div>
                }
            })}
        </div>
    }
}
