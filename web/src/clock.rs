//! The virtual clock's controls that the Memcached and cluster-mode views
//! share: a ticker that advances a view's cluster while its tab shows, and
//! the "Virtual time" panel (the clock, Pause, +1 s, 1x, 10x).

use leptos::prelude::*;
use wasm_bindgen::prelude::*;

/// Real milliseconds between ticks.
pub const TICK_MS: u64 = 100;

/// Every tick while `active`: `advance(virtual ms)` unless paused (at the
/// chosen speed), then `refresh()`.
pub fn run_while_shown(
    active: RwSignal<bool>,
    paused: RwSignal<bool>,
    speed: RwSignal<u64>,
    advance: impl Fn(u64) + 'static,
    refresh: impl Fn() + 'static,
) {
    let tick = Closure::<dyn FnMut()>::new(move || {
        if !active.get_untracked() {
            return;
        }
        if !paused.get_untracked() {
            advance(TICK_MS * speed.get_untracked());
        }
        refresh();
    });
    if let Some(w) = web_sys::window() {
        let _ = w.set_interval_with_callback_and_timeout_and_arguments_0(
            tick.as_ref().unchecked_ref(),
            TICK_MS as i32,
        );
    }
    tick.forget();
}

/// The "Virtual time" panel: `now` (ms) as a clock, and the controls;
/// `step` lets one virtual second pass at once.
pub fn panel(
    now: impl Fn() -> u64 + Send + Sync + 'static,
    paused: RwSignal<bool>,
    speed: RwSignal<u64>,
    step: impl Fn() + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <section class="time" aria-label="Virtual time">
            <h2>"Virtual time"</h2>
            <div class="clock">{move || crate::fmt_clock(now())}
                <span class="state">{move || if paused.get() { " paused".to_string() } else { format!(" ×{}", speed.get()) }}</span></div>
            <div class="buttons">
                <button on:click=move |_| paused.update(|p| *p = !*p)>{move || if paused.get() { "Resume" } else { "Pause" }}</button>
                <button on:click=move |_| step()>"+1 s"</button>
                <button class:active=move || speed.get() == 1 on:click=move |_| speed.set(1)>"1x"</button>
                <button class:active=move || speed.get() == 10 on:click=move |_| speed.set(10)>"10x"</button>
            </div>
        </section>
    }
}
