//! The replication backlog drawn: the primary's stream as a line of
//! offsets, the window its backlog still holds (`repl-backlog-size`), and
//! each replica where its offset is — so a learner sees why a replica that
//! reconnects inside the window resyncs partially (+CONTINUE, a few bytes)
//! and one behind it, or from another history, needs a full sync
//! (+FULLRESYNC, the whole data set). The decision is the engine's own
//! (`History::psync`, what the primary answers), from the nodes' views.

use cachelab_engine::replication::NoContinue;
use cachelab_engine::ReplView;
use leptos::prelude::*;

/// One replica as the drawing needs it: name, role class, its view.
pub struct Replica {
    pub name: String,
    pub class: &'static str,
    pub view: Option<ReplView>,
}

fn size(b: u64) -> String {
    match b {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / (1 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KB", b as f64 / (1 << 10) as f64),
        b => format!("{b} B"),
    }
}

/// What a reconnect of this replica would cost now, in words.
fn verdict(primary: &ReplView, r: &ReplView) -> (bool, String) {
    match primary.history().psync(&r.replid, r.offset as i64 + 1) {
        Ok(()) => (
            true,
            format!(
                "offset {} is inside the backlog: a reconnect resyncs partially (+CONTINUE, {} of backlog)",
                r.offset,
                size(primary.offset.saturating_sub(r.offset))
            ),
        ),
        Err(NoContinue::BehindBacklog) => (
            false,
            format!(
                "offset {} is behind the backlog: a reconnect needs a full sync (+FULLRESYNC, the whole data set)",
                r.offset
            ),
        ),
        Err(NoContinue::OtherHistory) => (
            false,
            "another replication history: a reconnect needs a full sync (+FULLRESYNC)".into(),
        ),
    }
}

pub fn backlog_view(primary_name: String, primary: ReplView, replicas: Vec<Replica>) -> AnyView {
    const W: f64 = 560.0;
    let end = primary.offset.max(1);
    let x = move |o: u64| (o.min(end) as f64 / end as f64) * W;
    let (first, held) = primary.backlog.unwrap_or((primary.offset + 1, 0));
    let window = (first.saturating_sub(1), first.saturating_sub(1) + held);
    let caption = match primary.backlog {
        Some(_) if held > 0 => format!(
            "{primary_name}'s backlog ({} configured) holds stream bytes {}–{}: the last {} it sent",
            size(primary.backlog_size),
            first,
            window.1,
            size(held)
        ),
        Some(_) => format!(
            "{primary_name}'s backlog ({} configured) is empty: nothing written since it was created",
            size(primary.backlog_size)
        ),
        None => format!(
            "{primary_name} has no backlog yet (one is created when the first replica syncs)"
        ),
    };
    let marks: Vec<(String, &'static str, u64)> = replicas
        .iter()
        .filter_map(|r| r.view.as_ref().map(|v| (r.name.clone(), r.class, v.offset)))
        .collect();
    let rows: Vec<_> = replicas
        .into_iter()
        .map(|r| {
            let v = r.view.as_ref().map(|v| verdict(&primary, v));
            (r.name, r.class, v)
        })
        .collect();
    view! {
        <div class="backlog" id="backlog">
            <h3 title="repl-backlog-size: the primary keeps the last bytes of its replication stream. A replica that reconnects asks PSYNC <replid> <offset+1>; if those bytes are still in the backlog the primary answers +CONTINUE and sends just them, otherwise +FULLRESYNC and a whole RDB snapshot. Redis's default is 1 MB; a bigger backlog survives longer disconnections.">"Replication backlog"</h3>
            <svg class="backlog-bar" viewBox=format!("-6 0 {} 24", W + 12.0) role="img" aria-label=caption.clone()>
                <line x1="0" y1="12" x2=W y2="12" class="stream" />
                <rect x=x(window.0) y="5" width=(x(window.1) - x(window.0)).max(2.0) height="14" class="window">
                    <title>{caption.clone()}</title>
                </rect>
                <line x1=W y1="2" x2=W y2="22" class="head" />
                {marks.into_iter().map(|(n, c, o)| view! {
                    <g class=format!("mark {c}")>
                        <circle cx=x(o) cy="12" r="5"><title>{format!("{n} at offset {o}")}</title></circle>
                    </g>
                }).collect_view()}
            </svg>
            <p class="note">{caption}{format!(" · the primary is at offset {}", primary.offset)}</p>
            <ul class="backlog-rows">
                {rows.into_iter().map(|(n, c, v)| {
                    let (ok, text) = v.unwrap_or((false, "not running: it will start with a full sync".into()));
                    view! { <li class:partial=ok class:full=!ok><span class=format!("dot {c}")></span>{format!("{n}: {text}")}</li> }
                }).collect_view()}
            </ul>
        </div>
    }
    .into_any()
}
