//! What the tabs' consoles share: their lines (text, and a kind — cmd,
//! reply, error, hint — that colours them) and the output pane, kept
//! scrolled to the newest line. Each tab keeps its own prompt and what a
//! typed line does (RESP to a node, RESP following MOVED, Memcached text).

use leptos::prelude::*;

/// A console's lines: (text, kind).
pub type Lines = RwSignal<Vec<(String, &'static str)>>;

/// The output pane `id`: `lines` as `<pre class="line KIND">`, announced
/// to screen readers as a log, scrolled to the bottom when they change.
#[component]
pub fn ConsoleOutput(
    id: &'static str,
    #[prop(into)] lines: Signal<Vec<(String, &'static str)>>,
) -> impl IntoView {
    Effect::new(move |_| {
        lines.track();
        if let Some(el) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id(id))
        {
            el.set_scroll_top(el.scroll_height());
        }
    });
    view! {
        <div class="console-output" id=id role="log" aria-live="polite">
            {move || lines.get().into_iter().map(|(t, k)| view! { <pre class=format!("line {k}")>{t}</pre> }).collect_view()}
        </div>
    }
}
