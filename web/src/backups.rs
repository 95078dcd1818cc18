//! The Backups panel of the shown replication group: ElastiCache's
//! automatic backups (window, retention) and manual ones on a timeline of
//! virtual days, each backup's progress while its file travels to the
//! bucket, Delete / Copy / Export / Download `.rdb` / Restore into a new
//! group, and Upload `.rdb` to seed a new group. Everything drawn is read
//! from the group's control plane (`Control::backups`) every refresh.

use cachelab_engine::backup::{stamp, Kind, Status, DAY_MS};
use cachelab_engine::control::Api;
use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use cachelab_engine::NodeView;

use crate::{groups, with_router};

const REFRESH_MS: u64 = 250;
/// The timeline shows two days back and one ahead.
const BACK_MS: u64 = 2 * DAY_MS;
const AHEAD_MS: u64 = DAY_MS;

#[derive(Clone, Debug, PartialEq)]
struct Row {
    name: String,
    kind: &'static str,
    status: &'static str,
    node: String,
    role: String,
    size: usize,
    created: u64,
    progress: f64,
    /// An automatic backup's deletion time (retention).
    expires: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Snap {
    now: u64,
    group: String,
    window: String,
    window_start: u32,
    window_len: u32,
    retention: u32,
    rows: Vec<Row>,
    bucket: Vec<(String, usize)>,
    /// The group's nodes (by slot, as the views are): name, primary?, up?
    nodes: Vec<(String, bool, bool)>,
}

fn snap() -> Snap {
    with_router(|r| {
        let b = &r.control.backups;
        let now = r.now;
        let keep = b.policy.retention_days as u64 * DAY_MS;
        Snap {
            now: now.0,
            group: r.control.group.clone(),
            window: b.policy.window(),
            window_start: b.policy.window_start,
            window_len: b.policy.window_len,
            retention: b.policy.retention_days,
            rows: b
                .snapshots
                .iter()
                .map(|s| Row {
                    name: s.name.clone(),
                    kind: match s.kind {
                        Kind::Automatic => "automatic",
                        Kind::Manual => "manual",
                        Kind::Final => "final",
                    },
                    status: match s.status {
                        Status::Creating => "creating",
                        Status::Available => "available",
                        Status::Failed => "failed",
                    },
                    node: s.node.clone(),
                    role: s.source_role.clone(),
                    size: s.rdb.len(),
                    created: s.created.0,
                    progress: s.progress(now),
                    expires: (s.kind == Kind::Automatic).then_some(s.created.0 + keep),
                })
                .collect(),
            bucket: b.bucket.iter().map(|(k, v)| (k.clone(), v.len())).collect(),
            nodes: r
                .control
                .nodes
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    (
                        n.name.clone(),
                        r.control.dns.primary.as_ref() == Some(&n.addr),
                        r.is_up(i),
                    )
                })
                .collect(),
        }
    })
    .unwrap_or_default()
}

/// A file the browser saves: `bytes` as `name`.
pub fn download_bytes(name: &str, bytes: &[u8]) {
    crate::files::save(name, bytes, "application/octet-stream");
}

fn size_words(n: usize) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MB", n as f64 / (1 << 20) as f64)
    } else if n >= 1024 {
        format!("{:.1} KB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}

/// A name for a new group that no group has yet: `base`, `base-2`, …
fn free_group_name(base: &str) -> String {
    let names = groups::names();
    (1..)
        .map(|i| {
            if i == 1 {
                base.to_string()
            } else {
                format!("{base}-{i}")
            }
        })
        .find(|n| !names.contains(n))
        .unwrap_or_else(|| base.to_string())
}

/// What a backup costs each node of the group, side by side: the last
/// fork's pause and the copy it holds while a file is being written, next
/// to what the node serves — why ElastiCache forks a read replica.
fn fork_costs(s: &Snap, views: &[Option<NodeView>]) -> impl IntoView {
    s.nodes
        .iter()
        .enumerate()
        .filter(|(_, (_, _, up))| *up)
        .map(|(i, (name, primary, _))| {
            let v = views.get(i).cloned().flatten();
            let fork = v.as_ref().map(|v| v.fork).unwrap_or_default();
            let used = v.as_ref().map_or(0, |v| v.used_memory);
            let taking = s
                .rows
                .iter()
                .find(|r| &r.node == name && r.status == "creating")
                .map(|r| r.name.clone());
            let role = if *primary { "primary" } else { "replica" };
            let busy = taking.is_some();
            let held = match &taking {
                Some(_) => size_words(fork.bytes as usize),
                None => "none".into(),
            };
            let pays = if *primary {
                "serves every write: while it pauses to fork, the application's writes wait"
            } else {
                "serves reads only: its pause delays replication a moment, never a write"
            };
            view! {
                <div class="cost-card" class:forking=busy data-node=name.clone() data-role=role
                    title="A background save forks the node: a pause (latest_fork_usec in INFO persistence) and a copy of the data held until the file is written (rdb_last_cow_size)">
                    <div><span class=format!("dot {role}")></span>" "<strong>{name.clone()}</strong>{format!(" · {role}")}</div>
                    <div class="cost-line">{format!("data {}", size_words(used))}</div>
                    <div class="cost-line fork-pause">{if fork.usec == 0 && fork.bytes == 0 { "no fork yet".to_string() } else { format!("last fork paused it {:.1} ms", fork.usec as f64 / 1000.0) }}</div>
                    <div class="cost-line">{format!("copy held now: {held}")}</div>
                    {taking.map(|b| view! { <div class="cost-line taking">{format!("writing backup {b}")}</div> })}
                    <div class="note">{pays}</div>
                </div>
            }
        })
        .collect_view()
}

#[component]
pub fn BackupsPanel(views: RwSignal<Vec<Option<NodeView>>>) -> impl IntoView {
    let s = RwSignal::new(snap());
    let error = RwSignal::new(String::new());
    let note = RwSignal::new(String::new());
    let new_name = RwSignal::new("before-release".to_string());
    let window = RwSignal::new("05:00-06:00".to_string());
    let retention = RwSignal::new("1".to_string());
    let restore_as = RwSignal::new(String::new());
    let copy_as = RwSignal::new(String::new());

    // The form follows the group's policy until the learner edits it.
    let refresh = move || {
        let n = snap();
        let old = s.get_untracked();
        if n == old {
            return;
        }
        if window.get_untracked() == old.window || old.window.is_empty() {
            window.set(n.window.clone());
        }
        if retention.get_untracked() == old.retention.to_string() || old.window.is_empty() {
            retention.set(n.retention.to_string());
        }
        s.set(n);
    };
    let tick = Closure::<dyn FnMut()>::new(move || {
        crate::vault::save_if_changed();
        refresh();
    });
    if let Some(w) = web_sys::window() {
        let _ = w.set_interval_with_callback_and_timeout_and_arguments_0(
            tick.as_ref().unchecked_ref(),
            REFRESH_MS as i32,
        );
    }
    tick.forget();

    let api = move |req: Api| {
        match with_router(|r| r.api(req)) {
            Some(Err(e)) => error.set(format!("{}: {}", e.code, e.message)),
            _ => error.set(String::new()),
        }
        refresh();
    };
    let set_policy = move |w: String| {
        let days: u32 = match retention.get_untracked().trim().parse() {
            Ok(d) => d,
            Err(_) => {
                error.set("InvalidParameterValue: The snapshot retention limit must be between 0 and 35 days.".into());
                return;
            }
        };
        api(Api::SetBackupPolicy {
            window: w,
            retention_days: days,
        });
    };
    let restore = move |backup: String| {
        let typed = restore_as.get_untracked();
        let name = if typed.trim().is_empty() {
            free_group_name(&format!("{}-restored", s.get_untracked().group))
        } else {
            typed.trim().to_string()
        };
        match groups::restore(&backup, &name) {
            Ok(()) => {
                error.set(String::new());
                note.set(format!("Replication group {name} is being created from backup {backup}. Pick it above the group to look inside."));
                restore_as.set(String::new());
            }
            Err(e) => error.set(format!("{}: {}", e.code, e.message)),
        }
    };
    let copy = move |source: String| {
        let typed = copy_as.get_untracked().trim().to_string();
        let target = if typed.is_empty() {
            format!("{}-copy", source.trim_start_matches("automatic."))
        } else {
            typed
        };
        api(Api::CopySnapshot { source, target });
        if error.get_untracked().is_empty() {
            copy_as.set(String::new());
        }
    };
    let download = move |name: String| {
        let bytes = with_router(|r| r.control.backups.get(&name).map(|b| b.rdb.clone())).flatten();
        if let Some(b) = bytes.filter(|b| !b.is_empty()) {
            download_bytes(&format!("{name}.rdb"), &b);
        }
    };
    let download_object = move |object: String| {
        let bytes = with_router(|r| r.control.backups.bucket.get(&object).cloned()).flatten();
        if let Some(b) = bytes {
            download_bytes(&object, &b);
        }
    };
    let upload = move |ev: leptos::ev::Event| {
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
        let file_name = file.name();
        let onload = Closure::once_into_js(move || {
            let Ok(buf) = r2.result() else {
                return;
            };
            let bytes = js_sys::Uint8Array::new(&buf).to_vec();
            if !bytes.starts_with(b"REDIS") {
                error.set(format!(
                    "{file_name} is not an RDB file (it does not start with REDIS)."
                ));
                return;
            }
            let name = free_group_name("uploaded");
            match groups::seed(&name, bytes, 1) {
                Ok(()) => {
                    error.set(String::new());
                    note.set(format!("Replication group {name} is being created from {file_name}. Pick it above the group to look inside."));
                }
                Err(e) => error.set(format!("{}: {}", e.code, e.message)),
            }
        });
        reader.set_onload(Some(onload.unchecked_ref()));
        let _ = reader.read_as_array_buffer(&file);
        input.set_value("");
    };

    // The timeline: [now - 2 days, now + 1 day], the window band each day,
    // a mark per backup.
    let timeline = move || {
        let v = s.get();
        let (w, h) = (640.0, 78.0);
        let from = v.now.saturating_sub(BACK_MS);
        let span = (BACK_MS + AHEAD_MS) as f64;
        let x = |t: u64| (t.saturating_sub(from) as f64 / span * w).clamp(0.0, w);
        let first_day = from / DAY_MS;
        let days = (first_day..=first_day + 3)
            .map(|d| {
                let start = d * DAY_MS;
                let band = start + v.window_start as u64 * 60_000;
                let band_end = band + v.window_len as u64 * 60_000;
                let label = stamp(cachelab_engine::Millis(start));
                view! {
                    <line x1=format!("{:.1}", x(start)) x2=format!("{:.1}", x(start)) y1="0" y2=h.to_string() stroke="#d5dae3"></line>
                    <text x=format!("{:.1}", x(start) + 3.0) y="11" font-size="10" fill="#5b6575">{label[..10].to_string()}</text>
                    <rect class="window-band" x=format!("{:.1}", x(band)) y="14" width=format!("{:.1}", (x(band_end) - x(band)).max(1.0)) height=(h - 14.0).to_string() fill="#e9e2fb">
                        <title>{format!("Backup window {} UTC: the automatic backup starts here", v.window)}</title>
                    </rect>
                }
            })
            .collect_view();
        let marks = v
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let cx = x(r.created);
                let cy = 26.0 + (i % 4) as f64 * 13.0;
                let color = match (r.status, r.kind) {
                    ("failed", _) => "var(--failed)",
                    (_, "automatic") => "#3b6fd6",
                    _ => "#7a4fd6",
                };
                let life = r.expires.map(|e| {
                    view! { <line x1=format!("{cx:.1}") x2=format!("{:.1}", x(e)) y1=format!("{cy:.1}") y2=format!("{cy:.1}") stroke=color stroke-width="2" stroke-dasharray="3 3" opacity="0.6"><title>{format!("{}: deleted after its retention", r.name)}</title></line> }
                });
                let fill = if r.status == "creating" { "#fff" } else { color };
                view! {
                    {life}
                    <circle class=format!("mark {}", r.status) cx=format!("{cx:.1}") cy=format!("{cy:.1}") r="5" fill=fill stroke=color stroke-width="2">
                        <title>{format!("{} ({} backup, {}) from {}", r.name, r.kind, r.status, r.node)}</title>
                    </circle>
                }
            })
            .collect_view();
        view! {
            <svg class="timeline" id="backup-timeline" viewBox=format!("0 0 {w} {h}") preserveAspectRatio="none" role="img"
                aria-label="Backups on a timeline of virtual days, with the backup window shaded">
                <rect x="0" y="0" width=w.to_string() height=h.to_string() fill="#fbfcfe" stroke="#dde2ea"></rect>
                {days}
                {marks}
                <line x1=format!("{:.1}", x(v.now)) x2=format!("{:.1}", x(v.now)) y1="0" y2=h.to_string() stroke="#1c2330" stroke-width="1.5"></line>
                <text x=format!("{:.1}", x(v.now) + 3.0) y=(h - 4.0).to_string() font-size="10" fill="#1c2330">"now"</text>
            </svg>
        }
    };

    let rows = move || {
        let v = s.get();
        if v.rows.is_empty() {
            return view! { <tr><td colspan="6" class="note">"No backups yet. Create one, or let the window pass with a retention above 0."</td></tr> }.into_any();
        }
        v.rows
            .into_iter()
            .map(|r| {
                let (n1, n2, n3, n4, n5) = (r.name.clone(), r.name.clone(), r.name.clone(), r.name.clone(), r.name.clone());
                let available = r.status == "available";
                let pct = (r.progress * 100.0).round();
                view! {
                    <tr class=format!("backup-row {}", r.status) data-backup=r.name.clone() data-status=r.status data-kind=r.kind>
                        <td><strong>{r.name.clone()}</strong><div class="note">{format!("{} · {} {}", r.kind, cachelab_engine::backup::date(cachelab_engine::Millis(r.created)), crate::fmt_clock(r.created))}</div></td>
                        <td title="The node that forked to write the file (a read replica when one is available)">
                            <span class=format!("dot {}", if r.role == "primary" { "primary" } else { "replica" })></span>{format!(" {} ({})", r.node, r.role)}
                        </td>
                        <td>{match r.status {
                            "creating" => view! {
                                <div class="progress" title="The fork is done; the file is on its way to S3">
                                    <span style=format!("width:{pct}%")></span>
                                </div>
                                <span class="note">{format!("creating {pct}%")}</span>
                            }.into_any(),
                            st => view! { <span class=format!("status {st}")>{st}</span> }.into_any(),
                        }}</td>
                        <td>{if r.size > 0 { size_words(r.size) } else { "–".into() }}</td>
                        <td class="backup-actions">
                            <button class="b-restore" disabled=!available on:click=move |_| restore(n1.clone())
                                title="Restore: a NEW replication group seeded from this backup (the group it came from is untouched)">"Restore"</button>
                            <button class="b-download" disabled=!available on:click=move |_| download(n2.clone())
                                title="Download the .rdb file: redis-server loads it">"Download .rdb"</button>
                            <button class="b-export" disabled=!available on:click=move |_| api(Api::ExportSnapshot { name: n3.clone() })
                                title="Export (CopySnapshot --target-bucket) to your S3 bucket">"Export"</button>
                            <button class="b-copy" disabled=!available on:click=move |_| copy(n4.clone())
                                title="CopySnapshot: a manual copy, kept until deleted (an automatic backup's copy outlives its retention); named as typed in Copy as">"Copy"</button>
                            <button class="b-delete" on:click=move |_| api(Api::DeleteSnapshot { name: n5.clone() })
                                title="DeleteSnapshot">"Delete"</button>
                        </td>
                    </tr>
                }
            })
            .collect_view()
            .into_any()
    };

    view! {
        <section class="panel backups" id="backups" aria-label="Backups">
            <h2>"Backups — snapshots of " <code>{move || s.get().group}</code></h2>
            <p class="legend">"A backup is Redis's own RDB file: a node forks, writes its data as of that moment, and ElastiCache stores the file in S3. "
                <span class="dot replica"></span>" taken from a read replica when there is one, "<span class="dot primary"></span>" from the primary otherwise. Memcached has no backups."</p>
            {timeline}
            <p class="legend"><span class="swatch window"></span>" backup window · "<span class="swatch auto"></span>" automatic (dashed: until deleted by retention) · "<span class="swatch manual"></span>" manual, kept until deleted · hollow: creating"</p>
            <div class="backup-forms">
                <div class="field" title="ModifyReplicationGroup --snapshot-window (UTC, at least 60 minutes) --snapshot-retention-limit (0-35 days; 0 turns automatic backups off)">
                    <label for="backup-window">"Window (UTC) "</label>
                    <input id="backup-window" class="short" prop:value=move || window.get() on:input=move |ev| window.set(event_target_value(&ev)) />
                    <label for="backup-retention">" retention (days) "</label>
                    <input id="backup-retention" class="quota" type="number" min="0" max="35" prop:value=move || retention.get() on:input=move |ev| retention.set(event_target_value(&ev)) />
                    <button id="backup-policy-apply" on:click=move |_| set_policy(window.get_untracked())>"Apply"</button>
                    <button id="backup-window-next" title="A window opening at the group clock's next minute: watch the automatic backup happen"
                        on:click=move |_| set_policy(cachelab_exercises::steps::backup_window("next", cachelab_engine::Millis(s.get_untracked().now)))>"Window from the next minute"</button>
                </div>
                <div class="field">
                    <label for="backup-name" title="CreateSnapshot: a manual backup, kept until you delete it (20 per node in 24 hours)">"Manual backup "</label>
                    <input id="backup-name" class="short" prop:value=move || new_name.get() on:input=move |ev| new_name.set(event_target_value(&ev)) />
                    <button id="backup-create" class="primary-action" on:click=move |_| api(Api::CreateSnapshot { name: new_name.get_untracked() })>"Create backup"</button>
                </div>
                <div class="field">
                    <label for="restore-as" title="The new group's id (Restore creates a new group; the default is <group>-restored)">"Restore as "</label>
                    <input id="restore-as" class="short" placeholder=move || free_group_name(&format!("{}-restored", s.get().group)) prop:value=move || restore_as.get() on:input=move |ev| restore_as.set(event_target_value(&ev)) />
                    <label for="copy-as" title="CopySnapshot --target-snapshot-name (the default is <backup>-copy)">" Copy as "</label>
                    <input id="copy-as" class="short" placeholder="<backup>-copy" prop:value=move || copy_as.get() on:input=move |ev| copy_as.set(event_target_value(&ev)) />
                    <label class="upload" title="Seed a new group from a dump made by redis-server (or a downloaded backup)">
                        " Upload .rdb → new group "
                        <input id="rdb-upload" type="file" accept=".rdb,application/octet-stream" on:change=upload />
                    </label>
                </div>
            </div>
            <p class="api-error" id="backup-error" role="alert">{move || error.get()}</p>
            <p class="note" id="backup-note" role="status">{move || note.get()}</p>
            <table class="backups-table" id="backup-table">
                <thead><tr><th>"backup"</th><th>"taken from"</th><th>"status"</th><th>"size"</th><th></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            <h3>"Who pays for a backup"</h3>
            <p class="legend">"Each node side by side: the pause of its last fork and the copy it holds while a backup's file is being written. A replica pays it where no application write waits."</p>
            <div class="cost-cards" id="fork-costs">{move || fork_costs(&s.get(), &views.get())}</div>
            <h3>"Bucket " <code>"s3://my-cachelab-backups"</code></h3>
            <ul class="bucket" id="bucket">
                {move || {
                    let v = s.get();
                    if v.bucket.is_empty() {
                        return view! { <li class="note">"Empty: Export puts a backup's .rdb file here."</li> }.into_any();
                    }
                    v.bucket.into_iter().map(|(o, n)| {
                        let o2 = o.clone();
                        view! { <li data-object=o.clone()><code>{o.clone()}</code>{format!(" · {}", size_words(n))}
                            <button class="b-download" on:click=move |_| download_object(o2.clone())>"Download"</button></li> }
                    }).collect_view().into_any()
                }}
            </ul>
        </section>
    }
}
