//! Mock exam: questions drawn across the topics in proportion to each
//! topic's share of the question bank, a timer, a navigator, flags, no
//! feedback until the end; kept in localStorage so a reload resumes it.

use std::rc::Rc;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::practice::question_block;
use super::progress::{from_json, now_ms, storage, to_json};
use super::{bundle, st, topic_title};

const KEY: &str = "cachelab-learn-exam";
pub const DEFAULT_COUNT: usize = 30;
pub const DEFAULT_MINUTES: u32 = 45;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Exam {
    pub ids: Vec<String>,
    pub answers: Vec<Vec<usize>>,
    pub flags: Vec<bool>,
    /// Date.now() at the start.
    pub start: f64,
    pub minutes: u32,
    pub cur: usize,
    pub done: bool,
    pub ended: f64,
}

impl Exam {
    pub fn load() -> Option<Exam> {
        storage()
            .and_then(|s| s.get_item(KEY).ok().flatten())
            .and_then(|t| from_json::<Exam>(&t))
            // A damaged record is dropped rather than trusted.
            .filter(|e| {
                !e.ids.is_empty()
                    && e.answers.len() == e.ids.len()
                    && e.flags.len() == e.ids.len()
                    && e.cur < e.ids.len()
            })
    }

    fn save(&self) {
        if let (Some(s), Some(t)) = (storage(), to_json(self)) {
            let _ = s.set_item(KEY, &t);
        }
    }

    fn left_ms(&self, now: f64) -> f64 {
        (self.start + self.minutes as f64 * 60_000.0 - now).max(0.0)
    }

    fn correct(&self, i: usize) -> bool {
        let Some(q) = bundle().question(&self.ids[i]).cloned() else {
            return false;
        };
        let mut a = self.answers[i].clone();
        a.sort_unstable();
        a == q.answer()
    }
}

fn update(f: impl FnOnce(&mut Exam)) {
    st().exam.update(|e| {
        if let Some(e) = e {
            f(e);
            e.save();
        }
    });
}

/// Draws `n` questions: each topic gets its share (largest remainder).
pub fn start(n: usize, minutes: u32) {
    let b = bundle();
    let total = b.questions.len().max(1);
    let n = n.clamp(1, total);
    let mut shares: Vec<(usize, f64, &str)> = b
        .topics
        .iter()
        .map(|t| {
            let have = b.questions.iter().filter(|q| q.topic == t.id).count();
            let exact = have as f64 * n as f64 / total as f64;
            (exact.floor() as usize, exact - exact.floor(), t.id.as_str())
        })
        .collect();
    let mut left = n - shares.iter().map(|s| s.0).sum::<usize>();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|&a, &c| shares[c].1.total_cmp(&shares[a].1));
    for i in order {
        if left == 0 {
            break;
        }
        shares[i].0 += 1;
        left -= 1;
    }
    let mut ids = Vec::new();
    for (k, _, topic) in shares {
        let mut pool: Vec<&str> = b
            .questions
            .iter()
            .filter(|q| q.topic == topic)
            .map(|q| q.id.as_str())
            .collect();
        for _ in 0..k.min(pool.len()) {
            let j = (js_sys::Math::random() * pool.len() as f64) as usize;
            ids.push(pool.swap_remove(j.min(pool.len() - 1)).to_string());
        }
    }
    // Shuffle so topics are mixed, as in the real exam.
    for i in (1..ids.len()).rev() {
        let j = (js_sys::Math::random() * (i + 1) as f64) as usize;
        ids.swap(i, j.min(i));
    }
    if ids.is_empty() {
        return;
    }
    let e = Exam {
        answers: vec![Vec::new(); ids.len()],
        flags: vec![false; ids.len()],
        ids,
        start: now_ms(),
        minutes,
        cur: 0,
        done: false,
        ended: 0.0,
    };
    e.save();
    st().exam.set(Some(e));
}

fn finish() {
    let l = st();
    let Some(e) = l.exam.get_untracked() else {
        return;
    };
    if e.done {
        return;
    }
    l.progress.update(|p| {
        for i in 0..e.ids.len() {
            if !e.answers[i].is_empty() {
                p.record(&e.ids[i], e.correct(i));
            }
        }
        p.save();
    });
    update(|e| {
        e.done = true;
        e.ended = now_ms();
    });
}

/// Time up ends the exam.
pub fn tick() {
    let l = st();
    let over = l.exam.with_untracked(|e| {
        e.as_ref()
            .is_some_and(|e| !e.done && e.left_ms(now_ms()) <= 0.0)
    });
    if over {
        finish();
    }
}

pub fn pick(i: usize) {
    let Some(e) = st().exam.get_untracked().filter(|e| !e.done) else {
        return;
    };
    let Some(q) = bundle().question(&e.ids[e.cur]).cloned() else {
        return;
    };
    if i >= q.options.len() {
        return;
    }
    update(|e| {
        let a = &mut e.answers[e.cur];
        if q.choose <= 1 {
            *a = vec![i];
        } else if let Some(at) = a.iter().position(|&x| x == i) {
            a.remove(at);
        } else {
            a.push(i);
        }
    });
}

pub fn flag() {
    update(|e| {
        if !e.done {
            e.flags[e.cur] = !e.flags[e.cur];
        }
    });
}

pub fn go(d: isize) {
    update(|e| {
        if !e.done {
            e.cur = (e.cur as isize + d).clamp(0, e.ids.len() as isize - 1) as usize;
        }
    });
}

fn fmt_left(ms: f64) -> String {
    let s = (ms / 1000.0).ceil() as u64;
    format!("{:02}:{:02}", s / 60, s % 60)
}

fn setup_view() -> impl IntoView {
    let count = RwSignal::new(DEFAULT_COUNT.to_string());
    let minutes = RwSignal::new(DEFAULT_MINUTES.to_string());
    view! {
        <div class="exam-setup">
            <p class="note">"A mock exam: questions drawn from every topic in proportion to its share of the bank, a countdown, no feedback until you submit (or the time is up). Flag a question (f) to come back to it. An exam in progress survives a reload."</p>
            <div class="buttons">
                <label>"Questions "<input id="exam-count" type="number" min="1" max="178" prop:value=move || count.get() on:input=move |ev| count.set(event_target_value(&ev)) /></label>
                <label>"Minutes "<input id="exam-minutes" type="number" min="1" max="240" prop:value=move || minutes.get() on:input=move |ev| minutes.set(event_target_value(&ev)) /></label>
                <button id="exam-start" class="primary-action" on:click=move |_| {
                    let n = count.get_untracked().parse().unwrap_or(DEFAULT_COUNT);
                    let m = minutes.get_untracked().parse().unwrap_or(DEFAULT_MINUTES).max(1);
                    start(n, m);
                }>"Start exam"</button>
            </div>
        </div>
    }
}

fn running_view(e: Exam) -> impl IntoView {
    let l = st();
    let n = e.ids.len();
    let cur = e.cur;
    let answered = e.answers.iter().filter(|a| !a.is_empty()).count();
    let q = e.ids.get(cur).and_then(|id| bundle().question(id).cloned());
    let nav = (0..n)
        .map(|i| {
            let class = format!(
                "nav-q{}{}{}",
                if i == cur { " current" } else { "" },
                if e.answers[i].is_empty() { "" } else { " answered" },
                if e.flags[i] { " flagged" } else { "" }
            );
            let label = format!(
                "Question {}{}{}",
                i + 1,
                if e.answers[i].is_empty() { ", unanswered" } else { ", answered" },
                if e.flags[i] { ", flagged" } else { "" }
            );
            view! { <button class=class aria-label=label.clone() title=label data-i=i.to_string()
                on:click=move |_| update(|e| e.cur = i)>{(i + 1).to_string()}{e.flags[i].then_some("⚑")}</button> }
        })
        .collect_view();
    view! {
        <div class="exam-run" id="exam-run">
            <div class="exam-bar">
                <strong id="exam-pos">{format!("Question {} of {n}", cur + 1)}</strong>
                <span class="exam-answered">{format!("{answered} answered")}</span>
                <span class="exam-timer" id="exam-timer" title="Time left">{move || l.exam.with(|x| x.as_ref().map(|x| format!("Time left {}", fmt_left(x.left_ms(l.clock.get().max(x.start))))).unwrap_or_default())}</span>
            </div>
            <nav class="exam-nav" id="exam-nav" aria-label="Questions">{nav}<span class="nav-legend">"grey: answered · ⚑ flagged · click a number to go there"</span></nav>
            {q.map(|q| question_block(&q, e.answers[cur].clone(), false, Rc::new(pick)))}
            <div class="buttons q-actions">
                <button id="exam-prev" disabled=cur == 0 on:click=move |_| go(-1)>"← Previous"</button>
                <button id="exam-next" disabled=cur + 1 == n on:click=move |_| go(1)>"Next → (Enter)"</button>
                <button id="exam-flag" class:active=e.flags[cur] on:click=move |_| flag()>{if e.flags[cur] { "⚑ Flagged (f)" } else { "Flag for review (f)" }}</button>
                <button id="exam-submit" class="primary-action" on:click=move |_| finish()>{format!("Submit exam ({} unanswered)", n - answered)}</button>
            </div>
        </div>
    }
}

fn report_view(e: Exam) -> impl IntoView {
    let b = bundle();
    let n = e.ids.len();
    let right = (0..n).filter(|&i| e.correct(i)).count();
    let pct = right * 100 / n.max(1);
    let mut by_topic: Vec<(String, usize, usize)> = Vec::new();
    for t in &b.topics {
        let idx: Vec<usize> = (0..n)
            .filter(|&i| b.question(&e.ids[i]).is_some_and(|q| q.topic == t.id))
            .collect();
        if !idx.is_empty() {
            let r = idx.iter().filter(|&&i| e.correct(i)).count();
            by_topic.push((t.id.clone(), r, idx.len()));
        }
    }
    let used = ((e.ended - e.start) / 60_000.0).ceil().max(0.0) as u64;
    view! {
        <div class="exam-report" id="exam-report">
            <p class="score" id="exam-score"><strong>{format!("Score: {right} of {n} ({pct}%)")}</strong>{format!(" · {used} of {} minutes used", e.minutes)}</p>
            <table class="by-topic" id="exam-by-topic">
                <thead><tr><th>"topic"</th><th>"right"</th><th></th></tr></thead>
                <tbody>
                    {by_topic.into_iter().map(|(t, r, k)| view! {
                        <tr><td>{topic_title(&t)}</td><td>{format!("{r} of {k}")}</td><td class="bar-cell"><span class="topic-bar"><span style=format!("width:{}%", r * 100 / k)></span></span></td></tr>
                    }).collect_view()}
                </tbody>
            </table>
            <div class="buttons">
                <button id="exam-new" on:click=move |_| {
                    if let Some(s) = storage() { let _ = s.remove_item(KEY); }
                    st().exam.set(None);
                }>"New exam"</button>
            </div>
            <h3>"Review every answer"</h3>
            <ol class="exam-review">
                {(0..n).map(|i| {
                    let ok = e.correct(i);
                    let unanswered = e.answers[i].is_empty();
                    b.question(&e.ids[i]).cloned().map(|q| view! {
                        <li class=if ok { "review right" } else { "review wrong" }>
                            <p class="review-verdict">{if ok { "✓ Right" } else if unanswered { "✗ Not answered" } else { "✗ Wrong" }}{e.flags[i].then_some(" · ⚑ flagged")}</p>
                            {question_block(&q, e.answers[i].clone(), true, Rc::new(|_| {}))}
                        </li>
                    })
                }).collect_view()}
            </ol>
        </div>
    }
}

pub fn view() -> impl IntoView {
    let l = st();
    view! {
        <section class="learn-panel exam" aria-label="Mock exam">
            <h2>"Mock exam"</h2>
            {move || match l.exam.get() {
                None => setup_view().into_any(),
                Some(e) if e.done => report_view(e).into_any(),
                Some(e) => running_view(e).into_any(),
            }}
        </section>
    }
}
