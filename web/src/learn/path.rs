//! The learning path (topics in order, progress per topic) and the
//! progress page (review queue, reset, export, import).

use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::progress::{from_json, to_json, Progress};
use super::{bundle, practice, st, Section};

pub fn view() -> impl IntoView {
    let l = st();
    move || {
        let b = bundle();
        let p = l.progress.get();
        let rows = b
            .topics
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let qs: Vec<&str> = b
                    .questions
                    .iter()
                    .filter(|q| q.topic == t.id)
                    .map(|q| q.id.as_str())
                    .collect();
                let labs: Vec<&str> = b
                    .labs
                    .iter()
                    .filter(|x| x.topic == t.id)
                    .map(|x| x.id.as_str())
                    .collect();
                let (answered, right) = p.tally(qs.iter().copied());
                let pct = (answered > 0).then(|| right * 100 / answered);
                let passed = labs.iter().filter(|x| p.labs.contains_key(**x)).count();
                let width = answered * 100 / qs.len().max(1);
                let tid = t.id.clone();
                let tid2 = t.id.clone();
                let labs_text = if !t.running {
                    "labs arrive with the feature (questions only for now)".to_string()
                } else if labs.is_empty() {
                    "no labs yet".to_string()
                } else {
                    format!("labs passed {passed}/{}", labs.len())
                };
                view! {
                    <li class="topic-row" data-topic=t.id.clone() class:not-running=!t.running>
                        <span class="topic-num">{i + 1}</span>
                        <div class="topic-main">
                            <div class="topic-title">{t.title.clone()}{(!t.running).then(|| view! { <span class="badge" title="The engine does not run this yet: the questions are here, the labs arrive with the feature">"questions only"</span> })}</div>
                            <div class="topic-bar" title=format!("{answered} of {} questions answered", qs.len())><span style=format!("width:{width}%")></span></div>
                            <div class="topic-stats">
                                {format!("answered {answered}/{} · ", qs.len())}
                                <span class="topic-correct">{pct.map(|p| format!("{p}% correct")).unwrap_or_else(|| "not started".into())}</span>
                                {format!(" · {labs_text}")}
                            </div>
                        </div>
                        <div class="topic-actions">
                            <button class="topic-practice" on:click=move |_| {
                                l.topic.set(tid.clone());
                                l.mode.set("path".into());
                                l.cur.set(None);
                                practice::next();
                                l.section.set(Section::Practice);
                            }>"Practice"</button>
                            {(t.running && !labs.is_empty()).then(|| view! {
                                <button class="topic-labs" on:click=move |_| { let _ = &tid2; l.section.set(Section::Labs); }>"Labs"</button>
                            })}
                        </div>
                    </li>
                }
            })
            .collect_view();
        view! {
            <section class="learn-panel" aria-label="Learning path">
                <h2>"Learning path"</h2>
                <p class="note">"For the AWS certification exams: the topics in order. Each has practice questions with every option explained; the running topics have labs you do on the live playground."</p>
                <ol class="topics" id="learning-path">{rows}</ol>
            </section>
        }
    }
}

fn download(name: &str, text: &str) {
    crate::files::save(name, text.as_bytes(), "application/json");
}

pub fn progress_view() -> impl IntoView {
    let l = st();
    let msg = RwSignal::new(String::new());
    let import = move |ev: leptos::ev::Event| {
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        else {
            return;
        };
        let Some(file) = input.files().and_then(|f| f.get(0)) else {
            return;
        };
        let Ok(reader) = web_sys::FileReader::new() else {
            return;
        };
        let r2 = reader.clone();
        let onload = Closure::once_into_js(move || {
            let text = r2
                .result()
                .ok()
                .and_then(|v| v.as_string())
                .unwrap_or_default();
            match from_json::<Progress>(&text) {
                Some(p) => {
                    p.save();
                    msg.set(format!(
                        "Imported: {} questions, {} labs.",
                        p.questions.len(),
                        p.labs.len()
                    ));
                    l.progress.set(p);
                }
                None => msg.set("That file is not a cachelab progress export.".into()),
            }
        });
        reader.set_onload(Some(onload.unchecked_ref()));
        let _ = reader.read_as_text(&file);
        input.set_value("");
    };
    view! {
        <section class="learn-panel" aria-label="Progress">
            <h2>"Progress & review"</h2>
            {move || {
                let p = l.progress.get();
                let b = bundle();
                let (answered, right) = p.tally(b.questions.iter().map(|q| q.id.as_str()));
                let due = p.due(l.clock.get()).len();
                let attempts: usize = p.questions.values().map(|s| s.history.len()).sum();
                view! {
                    <p id="progress-summary" class="progress-summary">
                        {format!("{answered} of {} questions answered ({attempts} answers in all), {right} right on the last try · {} of {} labs passed · ", b.questions.len(), p.labs.len(), b.labs.len())}
                        <strong id="review-due">{format!("{due} due for review")}</strong>
                    </p>
                }
            }}
            <div class="buttons">
                <button id="review-start" on:click=move |_| { l.mode.set("due".into()); l.topic.set(String::new()); l.cur.set(None); practice::next(); l.section.set(Section::Practice); }>"Review what is due"</button>
                <button id="progress-export" on:click=move |_| {
                    if let Some(t) = to_json(&l.progress.get_untracked()) {
                        download("cachelab-progress.json", &t);
                    }
                }>"Export progress (JSON)"</button>
                <label class="file-label">"Import progress: "<input id="progress-import" type="file" accept="application/json,.json" on:change=import /></label>
                <button id="progress-reset" class="danger" on:click=move |_| {
                    let ok = web_sys::window().and_then(|w| w.confirm_with_message("Forget every answer and lab result?").ok()).unwrap_or(false);
                    if ok {
                        let p = Progress::default();
                        p.save();
                        l.progress.set(p);
                        msg.set("Progress reset.".into());
                    }
                }>"Reset progress"</button>
            </div>
            <p class="note" role="status">{move || msg.get()}</p>
            <div class="help">
                <h3>"How the review queue works"</h3>
                <p>"Every answer is kept in this browser (localStorage). The review queue is scheduled with SM-2, the SuperMemo 2 spaced-repetition algorithm: a question you get right comes back after 1 day, then 6 days, then after the previous interval times its easiness factor (which starts at 2.5 and drops each time you get it wrong, never below 1.3); a question you get wrong is due again at once and its interval starts over."</p>
                <p>"“Weakest topics first” in Practice picks from the topic where your last answers were least often right (topics you have not started count as weakest)."</p>
            </div>
            {move || {
                let p = l.progress.get();
                let now = l.clock.get();
                let b = bundle();
                let mut rows: Vec<_> = p.questions.iter().collect();
                rows.sort_by(|a, c| a.1.due.total_cmp(&c.1.due));
                (!rows.is_empty()).then(|| view! {
                    <table class="history" id="history-table">
                        <thead><tr><th>"question"</th><th>"topic"</th><th title="Your answers, oldest first">"answers"</th><th title="SM-2: when it is due again">"next review"</th></tr></thead>
                        <tbody>
                            {rows.into_iter().take(40).map(|(id, s)| {
                                let q = b.question(id);
                                let lq = b.live.iter().find(|x| &x.id == id);
                                let stem: String = q.map(|q| q.stem.as_str()).or(lq.map(|x| x.stem.as_str())).map(|s| s.trim().chars().take(80).collect()).unwrap_or_else(|| id.clone());
                                let marks: String = s.history.iter().map(|h| if h.1 { '✓' } else { '✗' }).collect();
                                let days = (s.due - now) / 86_400_000.0;
                                let when = if days <= 0.0 { "due now".to_string() } else if days < 1.5 { "in 1 day".into() } else { format!("in {days:.0} days") };
                                view! { <tr><td>{stem}"…"</td><td>{super::topic_of(id).map(|t| super::topic_title(&t)).unwrap_or_default()}</td><td class="marks">{marks}</td><td>{when}</td></tr> }
                            }).collect_view()}
                        </tbody>
                    </table>
                })
            }}
        </section>
    }
}
