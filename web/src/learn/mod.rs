//! The Learn tab: a learning path by topic, practice questions with
//! instant feedback, labs graded on the live replication group, mock
//! exams, and progress with SM-2 spaced repetition — all from the content
//! of `cachelab-exercises` (questions, labs, seed facts).
//!
//! Nothing here keeps a copy of the cluster: labs are graded by asking the
//! live nodes through the page's routers and reading the control planes
//! (`clusters::PageCluster`).

mod clusters;
mod exam;
pub mod labs;
mod live;
mod path;
mod practice;
mod progress;

use std::cell::RefCell;
use std::rc::Rc;

use cachelab_exercises::content::{Bundle, Question};
use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

pub use labs::LabDock;
use progress::Progress;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Path,
    Practice,
    Labs,
    Exam,
    Progress,
}

/// The Learn area's state: signals only (Copy), shared through a
/// thread-local so the lab dock on the Redis tab reaches it too.
#[derive(Clone, Copy)]
pub struct Learn {
    /// The Memcached tab is showing.
    pub mc: RwSignal<bool>,
    /// The cluster-mode tab is showing.
    pub cme: RwSignal<bool>,
    /// The Learn tab is showing.
    pub on: RwSignal<bool>,
    pub section: RwSignal<Section>,
    pub progress: RwSignal<Progress>,
    /// Practice filter: a topic id, or empty for all.
    pub topic: RwSignal<String>,
    /// Practice order: "path", "weakest", "due".
    pub mode: RwSignal<String>,
    pub cur: RwSignal<Option<String>>,
    pub picked: RwSignal<Vec<usize>>,
    pub submitted: RwSignal<bool>,
    /// A `ref:` link's section, shown as reference text.
    pub see_ref: RwSignal<String>,
    pub lab: RwSignal<Option<labs::LabState>>,
    /// The live question being asked, its options once computed.
    pub live: RwSignal<Option<live::LiveState>>,
    pub exam: RwSignal<Option<exam::Exam>>,
    /// Date.now(), refreshed every half second (the exam's timer).
    pub clock: RwSignal<f64>,
}

thread_local! {
    /// The content, once fetched (empty until then).
    static BUNDLE: RefCell<Rc<Bundle>> = RefCell::new(Rc::new(Bundle::default()));
    /// Bumped when the content arrives: `bundle()` readers re-run.
    static LOADED: RefCell<Option<RwSignal<u32>>> = const { RefCell::new(None) };
    /// What to do once the content is in (a deep link).
    static WAITING: RefCell<Vec<Box<dyn FnOnce()>>> = RefCell::new(Vec::new());
    static FETCHING: RefCell<bool> = const { RefCell::new(false) };
    static STATE: RefCell<Option<Learn>> = const { RefCell::new(None) };
    /// Rebuilds the Redis tab's replication group: (replicas, Multi-AZ).
    static RESET: RefCell<Option<ResetFn>> = const { RefCell::new(None) };
}

/// The content as `cargo xtask build` exported it (dist/learn.json:
/// `cachelab_exercises::bundle()`, parsed and checked), fetched when the
/// Learn tab first opens — it stays out of the app's wasm.
#[derive(serde::Deserialize)]
struct Content {
    topics: Vec<cachelab_exercises::content::Topic>,
    facts: Vec<cachelab_exercises::content::Fact>,
    questions: Vec<Question>,
    labs: Vec<cachelab_exercises::content::Lab>,
    live: Vec<cachelab_exercises::content::LiveQuestion>,
}

fn parse_content(text: &str) -> Result<Bundle, String> {
    let v = js_sys::JSON::parse(text).map_err(|e| format!("{e:?}"))?;
    let c: Content = serde_wasm_bindgen::from_value(v).map_err(|e| e.to_string())?;
    Ok(Bundle {
        topics: c.topics,
        facts: c.facts,
        questions: c.questions,
        labs: c.labs,
        live: c.live,
    })
}

/// Runs `then` once the content is in, fetching it the first time.
pub fn with_content(then: impl FnOnce() + 'static) {
    if !bundle_untracked().topics.is_empty() {
        then();
        return;
    }
    WAITING.with(|w| w.borrow_mut().push(Box::new(then)));
    if FETCHING.with(|f| std::mem::replace(&mut *f.borrow_mut(), true)) {
        return;
    }
    let Some(window) = web_sys::window() else {
        return;
    };
    let fail = |e: String| {
        web_sys::console::error_1(&format!("cachelab: learning content: {e}").into());
        FETCHING.with(|f| *f.borrow_mut() = false);
    };
    let on_text = Closure::once(move |text: JsValue| {
        match parse_content(&text.as_string().unwrap_or_default()) {
            Ok(b) => {
                BUNDLE.with(|x| *x.borrow_mut() = Rc::new(b));
                if let Some(sig) = LOADED.with(|l| *l.borrow()) {
                    sig.update(|n| *n += 1);
                }
                for f in WAITING.with(|w| std::mem::take(&mut *w.borrow_mut())) {
                    f();
                }
            }
            Err(e) => fail(e),
        }
    });
    let on_response = Closure::once(move |resp: JsValue| {
        let text = resp
            .dyn_into::<web_sys::Response>()
            .ok()
            .filter(|r| r.ok())
            .and_then(|r| r.text().ok());
        match text {
            Some(p) => {
                let _ = p.then(&on_text);
                on_text.forget();
            }
            None => fail("learn.json could not be read".into()),
        }
    });
    let on_error = Closure::once(move |e: JsValue| fail(format!("{e:?}")));
    let _ = window
        .fetch_with_str("learn.json")
        .then(&on_response)
        .catch(&on_error);
    on_response.forget();
    on_error.forget();
}

fn bundle_untracked() -> Rc<Bundle> {
    BUNDLE.with(|b| b.borrow().clone())
}

/// The content (empty until fetched); reactive readers re-run when it
/// arrives.
pub fn bundle() -> Rc<Bundle> {
    if let Some(sig) = LOADED.with(|l| *l.borrow()) {
        sig.track();
    }
    bundle_untracked()
}

/// The scenario kind of the lab in progress ("replication", "memcached",
/// "cluster": the tab it is docked on), `None` without one.
pub fn lab_kind() -> Option<String> {
    st().lab.with(|s| s.as_ref().map(|s| s.kind.clone()))
}

/// The scenario kind the tab shown runs.
pub fn tab_kind(l: &Learn) -> &'static str {
    if l.mc.get() {
        "memcached"
    } else if l.cme.get() {
        "cluster"
    } else {
        "replication"
    }
}

pub fn st() -> Learn {
    STATE.with(|s| s.borrow().expect("learn::init ran"))
}

/// Called by the page with its tab signals and the group's reset.
pub fn init(mc: RwSignal<bool>, cme: RwSignal<bool>, on: RwSignal<bool>, reset: ResetFn) -> Learn {
    let l = Learn {
        mc,
        cme,
        on,
        section: RwSignal::new(Section::Path),
        progress: RwSignal::new(Progress::load()),
        topic: RwSignal::new(String::new()),
        mode: RwSignal::new("path".into()),
        cur: RwSignal::new(None),
        picked: RwSignal::new(Vec::new()),
        submitted: RwSignal::new(false),
        see_ref: RwSignal::new(String::new()),
        lab: RwSignal::new(None),
        live: RwSignal::new(None),
        exam: RwSignal::new(exam::Exam::load()),
        clock: RwSignal::new(progress::now_ms()),
    };
    STATE.with(|s| *s.borrow_mut() = Some(l));
    RESET.with(|r| *r.borrow_mut() = Some(reset));
    LOADED.with(|x| *x.borrow_mut() = Some(RwSignal::new(0)));
    // The content comes when the Learn tab first opens.
    Effect::new(move |_| {
        if l.on.get() {
            with_content(|| {});
        }
    });
    // One timer drives the lab's setup and Check and the exam's clock.
    let tick = Closure::<dyn FnMut()>::new(move || {
        labs::tick();
        live::tick();
        // The clock signal moves once a second (the exam's timer).
        let now = progress::now_ms();
        if (now / 1000.0).floor() != (l.clock.get_untracked() / 1000.0).floor() {
            l.clock.set(now);
        }
        exam::tick();
    });
    if let Some(w) = web_sys::window() {
        let _ = w.set_interval_with_callback_and_timeout_and_arguments_0(
            tick.as_ref().unchecked_ref(),
            40,
        );
        let keys = Closure::<dyn FnMut(web_sys::KeyboardEvent)>::new(on_key);
        let _ = w.add_event_listener_with_callback("keydown", keys.as_ref().unchecked_ref());
        keys.forget();
    }
    tick.forget();
    // A deep link (?learn, ?lab=, ?exam, ?q=) waits for the content.
    let search = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default();
    if ["learn", "lab=", "exam", "q="]
        .iter()
        .any(|p| search.contains(p))
    {
        with_content(move || deep_link(l));
    }
    l
}

/// Rebuilds the replication group: (replicas, Multi-AZ).
pub type ResetFn = Rc<dyn Fn(usize, bool)>;

pub fn reset_group(replicas: usize, multi_az: bool) {
    let f = RESET.with(|r| r.borrow().clone());
    if let Some(f) = f {
        f(replicas, multi_az);
    }
}

/// `?learn`, `?lab=ID`, `?exam[&n=N&min=M]`, `?q=ID`.
fn deep_link(l: Learn) {
    let Some(search) = web_sys::window().and_then(|w| w.location().search().ok()) else {
        return;
    };
    let params: Vec<(String, String)> = search
        .trim_start_matches('?')
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (
                k.to_string(),
                js_sys::decode_uri_component(v)
                    .ok()
                    .and_then(|v| v.as_string())
                    .unwrap_or_default(),
            ),
            None => (p.to_string(), String::new()),
        })
        .collect();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if let Some(id) = get("lab") {
        if bundle().lab(&id).is_some() {
            labs::start(&id);
            return;
        }
    }
    if get("exam").is_some() {
        l.on.set(true);
        l.section.set(Section::Exam);
        let running = l.exam.get_untracked().is_some_and(|e| !e.done);
        if !running {
            let n = get("n")
                .and_then(|v| v.parse().ok())
                .unwrap_or(exam::DEFAULT_COUNT);
            let m = get("min")
                .and_then(|v| v.parse().ok())
                .unwrap_or(exam::DEFAULT_MINUTES);
            exam::start(n, m);
        }
        return;
    }
    if let Some(id) = get("q") {
        if bundle().question(&id).is_some() || is_live(&id) {
            l.on.set(true);
            l.topic.set(String::new());
            show_question(Some(id));
            l.section.set(Section::Practice);
            return;
        }
    }
    if get("learn").is_some() {
        l.on.set(true);
        l.section.set(Section::Path);
    }
}

pub fn show_question(id: Option<String>) {
    let l = st();
    l.cur.set(id);
    l.picked.set(Vec::new());
    l.submitted.set(false);
    l.see_ref.set(String::new());
    l.live.set(None);
}

/// Whether an id is a live question the page can answer.
pub fn is_live(id: &str) -> bool {
    bundle().live.iter().any(|q| q.id == id && live::runs(q))
}

/// A question's or a live question's topic.
pub fn topic_of(id: &str) -> Option<String> {
    let b = bundle();
    b.question(id)
        .map(|q| q.topic.clone())
        .or_else(|| b.live.iter().find(|q| q.id == id).map(|q| q.topic.clone()))
}

/// Whether a key press belongs to a text field (the console, the exam's
/// settings), where our shortcuts must not fire.
fn typing(ev: &web_sys::KeyboardEvent) -> bool {
    let Some(t) = ev.target() else {
        return false;
    };
    if let Some(i) = t.dyn_ref::<web_sys::HtmlInputElement>() {
        return !matches!(i.type_().as_str(), "radio" | "checkbox");
    }
    t.dyn_ref::<web_sys::Element>()
        .is_some_and(|e| matches!(e.tag_name().as_str(), "TEXTAREA" | "SELECT"))
}

fn on_button(ev: &web_sys::KeyboardEvent) -> bool {
    ev.target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        .is_some_and(|e| e.tag_name() == "BUTTON")
}

/// Keyboard: 1–6 choose, Enter submit/next, f flag (exam), h hint (lab).
fn on_key(ev: web_sys::KeyboardEvent) {
    if typing(&ev) || ev.ctrl_key() || ev.meta_key() || ev.alt_key() {
        return;
    }
    let Some(l) = STATE.with(|s| *s.borrow()) else {
        return;
    };
    let key = ev.key();
    if l.on.get_untracked() {
        let section = l.section.get_untracked();
        let digit = key.parse::<usize>().ok().filter(|d| (1..=6).contains(d));
        match section {
            Section::Practice => match (digit, key.as_str()) {
                (Some(d), _) => practice::pick(d - 1),
                (None, "Enter") if !on_button(&ev) => {
                    ev.prevent_default();
                    practice::enter();
                }
                _ => {}
            },
            Section::Exam => match (digit, key.as_str()) {
                (Some(d), _) => exam::pick(d - 1),
                (None, "f" | "F") => exam::flag(),
                (None, "Enter") if !on_button(&ev) => {
                    ev.prevent_default();
                    exam::go(1);
                }
                _ => {}
            },
            _ => {}
        }
    } else if (key == "h" || key == "H")
        && l.lab
            .get_untracked()
            .is_some_and(|s| s.kind == untrack(|| tab_kind(&l)))
    {
        labs::hint();
    }
}

/// The number word of "Choose two."
pub fn choose_words(n: usize) -> &'static str {
    match n {
        2 => "Choose two.",
        3 => "Choose three.",
        4 => "Choose four.",
        _ => "",
    }
}

pub fn topic_title(id: &str) -> String {
    bundle()
        .topic(id)
        .map(|t| t.title.clone())
        .unwrap_or_else(|| id.to_string())
}

/// Clicks an element of the page by id (the recipes' buttons).
fn click_id(id: &str) {
    if let Some(el) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(id))
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
    {
        el.click();
    }
}

/// Follows a question's `see` link.
pub fn see(link: &str) {
    let l = st();
    let (kind, id) = link.split_once(':').unwrap_or((link, ""));
    match kind {
        "lab" => labs::start(id),
        "recipe" => {
            l.on.set(false);
            l.mc.set(false);
            l.cme.set(false);
            let target = format!("recipe-{id}");
            set_timeout(
                move || {
                    click_id(&target);
                    if let Some(el) = web_sys::window()
                        .and_then(|w| w.document())
                        .and_then(|d| d.get_element_by_id("use-cases"))
                    {
                        el.scroll_into_view();
                    }
                },
                std::time::Duration::from_millis(60),
            );
        }
        "playground" => {
            l.on.set(false);
            l.mc.set(id == "memcached");
            l.cme.set(id == "cluster");
        }
        // An embeddable demo, played in a tab of its own.
        "demo" => {
            if let Some(w) = web_sys::window() {
                let _ = w.open_with_url_and_target(&format!("?embed={id}"), "_blank");
            }
        }
        _ => l.see_ref.set(id.to_string()),
    }
}

/// The words of a `see` link's button.
pub fn see_label(link: &str) -> String {
    let (kind, id) = link.split_once(':').unwrap_or((link, ""));
    match kind {
        "lab" => format!(
            "See it: open the lab “{}”",
            bundle()
                .lab(id)
                .map(|l| l.title.clone())
                .unwrap_or_default()
        ),
        "recipe" => format!("See it: run the “{id}” recipe on the Redis tab"),
        "playground" if id == "memcached" => "See it: open the Memcached playground".into(),
        "playground" if id == "cluster" => "See it: open the cluster-mode playground".into(),
        "playground" => "See it: open the replication group playground".into(),
        "demo" => format!("See it: play the “{id}” demo (a new tab)"),
        _ => format!("Reference: {}", id.replace('-', " ")),
    }
}

/// The `current` notes of the seed facts a question teaches.
pub fn current_notes(q: &Question) -> Vec<String> {
    current_notes_of(&q.teaches)
}

pub fn current_notes_of(teaches: &[String]) -> Vec<String> {
    let b = bundle();
    teaches
        .iter()
        .filter_map(|t| t.strip_prefix("seed:"))
        .filter_map(|id| b.facts.iter().find(|f| f.id == id))
        .filter_map(|f| f.current.clone())
        .collect()
}

/// The Learn tab.
#[component]
pub fn LearnView() -> impl IntoView {
    let l = st();
    let tab = move |s: Section, id: &'static str, label: &'static str, tip: &'static str| {
        view! {
            <button id=id role="tab" class="learn-nav" aria-selected=move || (l.section.get() == s).to_string()
                class:active=move || l.section.get() == s title=tip
                on:click=move |_| {
                    l.section.set(s);
                    if s == Section::Practice && l.cur.get_untracked().is_none() {
                        practice::next();
                    }
                }>{label}</button>
        }
    };
    view! {
        <div class="learn" id="learn">
            <nav class="learn-tabs" role="tablist" aria-label="Learn">
                {tab(Section::Path, "learn-path-tab", "Learning path", "The topics in order, with your progress in each")}
                {tab(Section::Practice, "learn-practice-tab", "Practice", "One question at a time, with every option explained")}
                {tab(Section::Labs, "learn-labs-tab", "Labs", "Tasks on the live replication group or Memcached cluster, checked by asking its nodes")}
                {tab(Section::Exam, "learn-exam-tab", "Mock exam", "A timed exam across the topics; feedback at the end")}
                {tab(Section::Progress, "learn-progress-tab", "Progress & review", "Your answers, the review queue, export and import")}
                <span class="learn-keys" title="Keyboard shortcuts">"Keys: 1–6 choose · Enter submit/next · f flag (exam) · h hint (lab)"</span>
            </nav>
            {move || match l.section.get() {
                Section::Path => path::view().into_any(),
                Section::Practice => practice::view().into_any(),
                Section::Labs => labs::list().into_any(),
                Section::Exam => exam::view().into_any(),
                Section::Progress => path::progress_view().into_any(),
            }}
        </div>
    }
}
