//! Practice mode: one question at a time, instant feedback with every
//! option's explanation; and the question renderer the exam shares.

use std::rc::Rc;

use cachelab_exercises::content::{Difficulty, Question};
use leptos::prelude::*;

use super::{
    bundle, choose_words, current_notes, is_live, live, see, see_label, show_question, st,
    topic_of, topic_title,
};

pub fn difficulty_word(d: Difficulty) -> &'static str {
    match d {
        Difficulty::Easy => "easy",
        Difficulty::Medium => "medium",
        Difficulty::Hard => "hard",
    }
}

/// A question's stem and options. `reveal`: mark every option right or
/// wrong with its explanation.
pub fn question_block(
    q: &Question,
    picked: Vec<usize>,
    reveal: bool,
    on_pick: Rc<dyn Fn(usize)>,
) -> impl IntoView {
    let multi = q.choose > 1;
    let name = format!("q-{}", q.id);
    let options = q
        .options
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let chosen = picked.contains(&i);
            let class = match (reveal, o.correct, chosen) {
                (false, _, true) => "opt chosen",
                (false, _, false) => "opt",
                (true, true, _) => "opt right",
                (true, false, true) => "opt wrong",
                (true, false, false) => "opt",
            };
            let f = on_pick.clone();
            let mark = reveal.then(|| {
                let verdict = if o.correct { "✓ Correct" } else { "✗ Incorrect" };
                let yours = if chosen { " — your choice" } else { "" };
                view! {
                    <div class="why"><strong class=if o.correct { "verdict right" } else { "verdict wrong" }>{format!("{verdict}{yours}. ")}</strong>{o.why.clone()}</div>
                }
            });
            view! {
                <li class=class id=format!("opt-{i}") data-correct=reveal.then(|| o.correct.to_string()) data-chosen=chosen.to_string()>
                    <label>
                        <input type=if multi { "checkbox" } else { "radio" } name=name.clone()
                            prop:checked=chosen disabled=reveal
                            on:change=move |_| f(i) />
                        <span class="key" aria-hidden="true">{(i + 1).to_string()}</span>
                        <span class="opt-text">{o.text.clone()}</span>
                    </label>
                    {mark}
                </li>
            }
        })
        .collect_view();
    let choose = choose_words(q.choose);
    view! {
        <div class="question" data-qid=q.id.clone()>
            <p class="q-meta">
                <span class="q-topic">{topic_title(&q.topic)}</span>
                <span class=format!("q-diff {}", difficulty_word(q.difficulty))>{difficulty_word(q.difficulty)}</span>
            </p>
            <p class="stem">{q.stem.trim().to_string()}{(!choose.is_empty()).then(|| view! { <strong class="choose">{format!(" {choose}")}</strong> })}</p>
            <ul class="options">{options}</ul>
        </div>
    }
}

/// The questions the practice filter allows.
fn pool() -> Vec<String> {
    let l = st();
    let topic = l.topic.get_untracked();
    let b = bundle();
    // Each topic's questions, then its live questions (replication group).
    b.topics
        .iter()
        .filter(|t| topic.is_empty() || t.id == topic)
        .flat_map(|t| {
            let fixed = b
                .questions
                .iter()
                .filter(|q| q.topic == t.id)
                .map(|q| q.id.clone());
            let lives = b
                .live
                .iter()
                .filter(|q| q.topic == t.id && live::runs(q))
                .map(|q| q.id.clone());
            fixed.chain(lives).collect::<Vec<_>>()
        })
        .collect()
}

/// Picks the next question for the chosen order.
pub fn next() {
    let l = st();
    let b = bundle();
    let p = l.progress.get_untracked();
    let pool = pool();
    let cur = l.cur.get_untracked();
    let not_cur = |id: &&String| Some(*id) != cur.as_ref();
    let pick = match l.mode.get_untracked().as_str() {
        "due" => {
            let due = p.due(super::progress::now_ms());
            due.into_iter()
                .filter(|id| pool.contains(id))
                .find(|id| Some(id) != cur.as_ref())
        }
        "weakest" => {
            // Topics by last-answer accuracy, unanswered counting as 0 %.
            let mut topics: Vec<(f64, usize, String)> = b
                .topics
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let ids = b
                        .questions
                        .iter()
                        .filter(|q| q.topic == t.id)
                        .map(|q| q.id.as_str());
                    let (n, right) = p.tally(ids);
                    let acc = if n == 0 { 0.0 } else { right as f64 / n as f64 };
                    (acc, i, t.id.clone())
                })
                .collect();
            topics.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            topics.iter().find_map(|(_, _, t)| {
                let in_topic: Vec<&String> = pool
                    .iter()
                    .filter(|id| topic_of(id).as_ref() == Some(t))
                    .filter(not_cur)
                    .collect();
                in_topic
                    .iter()
                    .find(|id| !p.questions.contains_key(id.as_str()))
                    .or_else(|| {
                        in_topic.iter().find(|id| {
                            p.questions.get(id.as_str()).and_then(|s| s.last_correct())
                                == Some(false)
                        })
                    })
                    .map(|id| (*id).clone())
            })
        }
        _ => None,
    };
    let pick = pick.or_else(|| {
        // Path order: the first unanswered, else the longest unseen.
        pool.iter()
            .filter(not_cur)
            .find(|id| !p.questions.contains_key(id.as_str()))
            .cloned()
            .or_else(|| {
                pool.iter()
                    .filter(not_cur)
                    .min_by(|a, b| {
                        let t = |id: &String| {
                            p.questions
                                .get(id)
                                .and_then(|s| s.history.last().map(|h| h.0))
                                .unwrap_or(0.0)
                        };
                        t(a).total_cmp(&t(b))
                    })
                    .cloned()
            })
    });
    let due_empty = l.mode.get_untracked() == "due" && pick.is_none();
    show_question(if due_empty { None } else { pick });
}

pub fn pick(i: usize) {
    let l = st();
    if l.cur.get_untracked().is_some_and(|id| is_live(&id)) {
        live::pick(i);
        return;
    }
    if l.submitted.get_untracked() {
        return;
    }
    let Some(q) = l
        .cur
        .get_untracked()
        .and_then(|id| bundle().question(&id).cloned())
    else {
        return;
    };
    if i >= q.options.len() {
        return;
    }
    l.picked.update(|p| {
        if q.choose <= 1 {
            *p = vec![i];
        } else if let Some(at) = p.iter().position(|&x| x == i) {
            p.remove(at);
        } else {
            p.push(i);
        }
    });
}

pub fn submit() {
    let l = st();
    let Some(q) = l
        .cur
        .get_untracked()
        .and_then(|id| bundle().question(&id).cloned())
    else {
        return;
    };
    let mut picked = l.picked.get_untracked();
    if picked.len() != q.choose.max(1) || l.submitted.get_untracked() {
        return;
    }
    picked.sort_unstable();
    let correct = picked == q.answer();
    l.progress.update(|p| {
        p.record(&q.id, correct);
        p.save();
    });
    l.submitted.set(true);
}

/// Enter: submit, or the next question once answered.
pub fn enter() {
    if st().cur.get_untracked().is_some_and(|id| is_live(&id)) {
        if live::submitted() {
            next();
        } else {
            live::submit();
        }
        return;
    }
    if st().submitted.get_untracked() {
        next();
    } else {
        submit();
    }
}

pub fn view() -> impl IntoView {
    let l = st();
    let b = bundle();
    let topics = b.topics.clone();
    view! {
        <section class="learn-panel practice" aria-label="Practice">
            <div class="practice-bar">
                <label>"Topic "
                    <select id="practice-topic" on:change=move |ev| { l.topic.set(event_target_value(&ev)); next(); }>
                        <option value="" selected=move || l.topic.get().is_empty()>"All topics"</option>
                        {topics.into_iter().map(|t| {
                            let id = t.id.clone();
                            view! { <option value=t.id.clone() selected=move || l.topic.get() == id>{t.title.clone()}</option> }
                        }).collect_view()}
                    </select>
                </label>
                <label>" Order "
                    <select id="practice-mode" on:change=move |ev| { l.mode.set(event_target_value(&ev)); next(); }>
                        <option value="path" selected=move || l.mode.get() == "path">"Path order (unanswered first)"</option>
                        <option value="weakest" selected=move || l.mode.get() == "weakest">"Weakest topics first"</option>
                        <option value="due" selected=move || l.mode.get() == "due">"Due for review (SM-2)"</option>
                    </select>
                </label>
            </div>
            {move || {
                let lq = l.cur.get().and_then(|id| bundle().live.iter().find(|q| q.id == id).cloned());
                if let Some(lq) = lq {
                    return view! {
                        {live::view(lq)}
                        <div class="buttons q-actions">
                            <button id="practice-next" on:click=move |_| next()>"Next question"</button>
                        </div>
                    }.into_any();
                }
                let Some(q) = l.cur.get().and_then(|id| bundle().question(&id).cloned()) else {
                    let msg = if l.mode.get() == "due" {
                        "Nothing is due for review now. Questions you answer come back here on the SM-2 schedule (a wrong answer at once, a right one after 1, then 6 days, then longer)."
                    } else {
                        "No question matches this filter."
                    };
                    return view! { <p class="note" id="practice-empty">{msg}</p> }.into_any();
                };
                let submitted = l.submitted.get();
                let picked = l.picked.get();
                let mut sorted = picked.clone();
                sorted.sort_unstable();
                let correct = sorted == q.answer();
                let notes = current_notes(&q);
                let link = q.see.clone();
                let link2 = q.see.clone();
                let need = q.choose.max(1);
                view! {
                    <div class="q-card">
                        {submitted.then(|| view! {
                            <div class=if correct { "feedback right" } else { "feedback wrong" } id="practice-feedback" role="status">
                                <strong>{if correct { "✓ Right." } else { "✗ Not quite." }}</strong>
                                {if correct { " Each option below says why it is right or wrong — read the wrong ones too." } else { " The right answer is marked ✓ Correct below; each option says why it is right or wrong." }}
                            </div>
                        })}
                        {question_block(&q, picked.clone(), submitted, Rc::new(pick))}
                        {submitted.then(|| view! {
                            {notes.into_iter().map(|n| view! { <p class="current-note"><strong>"Current AWS documentation: "</strong>{n}</p> }).collect_view()}
                            <div class="see">
                                <button id="see-it" class="see-link" on:click=move |_| see(&link)>{see_label(&link2)}</button>
                                {move || { let r = l.see_ref.get(); (!r.is_empty()).then(|| view! { <span class="ref-text" id="ref-text">{format!("Read the ElastiCache guide's “{}” section.", r.replace('-', " "))}</span> }) }}
                            </div>
                        })}
                        <div class="buttons q-actions">
                            {if submitted {
                                view! { <button id="practice-next" class="primary-action" on:click=move |_| next()>"Next question (Enter)"</button> }.into_any()
                            } else {
                                view! {
                                    <button id="practice-submit" class="primary-action" disabled=picked.len() != need on:click=move |_| submit()>"Submit (Enter)"</button>
                                    <button id="practice-skip" on:click=move |_| next()>"Skip"</button>
                                }.into_any()
                            }}
                        </div>
                    </div>
                }.into_any()
            }}
        </section>
    }
}
