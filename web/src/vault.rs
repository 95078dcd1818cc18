//! The account's backups kept in the browser (IndexedDB `cachelab`, store
//! `backups`): the first group's available backups, its backup window and
//! retention, and the bucket's `.rdb` objects — saved when they change,
//! loaded into the first group when the page opens, so a reload keeps them
//! and a fresh group can be restored from one. The virtual clock the
//! backups are dated on is kept too (localStorage `cachelab-clock`, read
//! synchronously when the page starts): the account's time carries on
//! from the last visit, so a backup is never from the future and ages
//! toward its retention as before. A lab's sandbox never writes here (the
//! page stops saving once a lab rebuilds the group).

use std::cell::RefCell;

use cachelab_engine::backup::{Policy, Snapshot, Status};
use cachelab_engine::Millis;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::groups;

const DB: &str = "cachelab";
const STORE: &str = "backups";
const KEY: &str = "account";
const CLOCK: &str = "cachelab-clock";

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window().and_then(|w| w.local_storage().ok().flatten())
}

/// Where the virtual clock starts: where the last visit left it, or the
/// page's epoch.
pub fn start_clock() -> Millis {
    let saved = local_storage()
        .and_then(|s| s.get_item(CLOCK).ok().flatten())
        .and_then(|v| v.parse::<u64>().ok())
        .map(Millis);
    saved.map_or(crate::EPOCH, |t| t.max(crate::EPOCH))
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    pub snapshots: Vec<Snapshot>,
    pub bucket: Vec<(String, Vec<u8>)>,
    pub policy: Option<Policy>,
}

/// What identifies a saved state without copying its files: each
/// backup's name and size, the bucket's objects, the policy.
type Fingerprint = (Vec<(String, usize)>, Vec<String>, String, u32);

thread_local! {
    /// What was last saved (or loaded), to save only changes.
    static LAST: RefCell<Option<Fingerprint>> = const { RefCell::new(None) };
    /// False once a lab has rebuilt the group: its backups are not the
    /// account's.
    static SAVING: RefCell<bool> = const { RefCell::new(true) };
    /// The stored backups have been read (saving before would overwrite
    /// them with an empty list).
    static LOADED: RefCell<bool> = const { RefCell::new(false) };
}

/// A lab's sandbox from now on: nothing more is saved this visit.
pub fn stop_saving() {
    SAVING.with(|s| *s.borrow_mut() = false);
}

fn fingerprint() -> Option<Fingerprint> {
    groups::with_group(&groups::first(), |r| {
        let b = &r.control.backups;
        (
            b.snapshots
                .iter()
                .filter(|s| s.status == Status::Available)
                .map(|s| (s.name.clone(), s.rdb.len()))
                .collect(),
            b.bucket.keys().cloned().collect(),
            b.policy.window(),
            b.policy.retention_days,
        )
    })
}

fn current() -> Option<Saved> {
    groups::with_group(&groups::first(), |r| {
        let b = &r.control.backups;
        Saved {
            snapshots: b
                .snapshots
                .iter()
                .filter(|s| s.status == Status::Available)
                .cloned()
                .collect(),
            bucket: b
                .bucket
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            policy: Some(b.policy.clone()),
        }
    })
}

/// The database an open request produced.
fn db_of(req: &web_sys::IdbOpenDbRequest) -> Option<web_sys::IdbDatabase> {
    req.result()
        .ok()
        .and_then(|v| v.dyn_into::<web_sys::IdbDatabase>().ok())
}

fn open(then: impl FnOnce(web_sys::IdbDatabase) + 'static) {
    let Some(factory) = web_sys::window().and_then(|w| w.indexed_db().ok().flatten()) else {
        return;
    };
    let Ok(req) = factory.open_with_u32(DB, 1) else {
        return;
    };
    let upgrade = Closure::once_into_js({
        let req = req.clone();
        move || {
            if let Some(db) = db_of(&req) {
                let _ = db.create_object_store(STORE);
            }
        }
    });
    req.set_onupgradeneeded(Some(upgrade.unchecked_ref()));
    let ok = Closure::once_into_js({
        let req = req.clone();
        move || {
            if let Some(db) = db_of(&req) {
                then(db);
            }
        }
    });
    req.set_onsuccess(Some(ok.unchecked_ref()));
}

/// Saves the account's backups if they changed since the last save.
pub fn save_if_changed() {
    if !SAVING.with(|s| *s.borrow()) || !LOADED.with(|l| *l.borrow()) {
        return;
    }
    if let (Some(now), Some(store)) = (
        groups::with_group(&groups::first(), |r| r.now),
        local_storage(),
    ) {
        let _ = store.set_item(CLOCK, &now.0.to_string());
    }
    let Some(print) = fingerprint() else {
        return;
    };
    if LAST.with(|l| l.borrow().as_ref() == Some(&print)) {
        return;
    }
    let Some(now) = current() else {
        return;
    };
    let Ok(value) = serde_wasm_bindgen::to_value(&now) else {
        return;
    };
    LAST.with(|l| *l.borrow_mut() = Some(print));
    open(move |db| {
        let Ok(tx) =
            db.transaction_with_str_and_mode(STORE, web_sys::IdbTransactionMode::Readwrite)
        else {
            return;
        };
        if let Ok(store) = tx.object_store(STORE) {
            let _ = store.put_with_key(&value, &JsValue::from_str(KEY));
        }
    });
}

/// Reads the stored backups into the first group (those it does not have
/// yet), then allows saving.
pub fn load() {
    let done = || LOADED.with(|l| *l.borrow_mut() = true);
    if web_sys::window()
        .and_then(|w| w.indexed_db().ok().flatten())
        .is_none()
    {
        done();
        return;
    }
    open(move |db| {
        let Ok(store) = db
            .transaction_with_str(STORE)
            .and_then(|tx| tx.object_store(STORE))
        else {
            done();
            return;
        };
        let Ok(req) = store.get(&JsValue::from_str(KEY)) else {
            done();
            return;
        };
        let onload = Closure::once_into_js({
            let req = req.clone();
            move || {
                let saved: Option<Saved> = req
                    .result()
                    .ok()
                    .filter(|v| !v.is_undefined())
                    .and_then(|v| serde_wasm_bindgen::from_value(v).ok());
                if let Some(saved) = saved {
                    merge(&saved);
                }
                LAST.with(|l| *l.borrow_mut() = fingerprint());
                LOADED.with(|l| *l.borrow_mut() = true);
            }
        });
        req.set_onsuccess(Some(onload.unchecked_ref()));
        let onerror = Closure::once_into_js(move || LOADED.with(|l| *l.borrow_mut() = true));
        req.set_onerror(Some(onerror.unchecked_ref()));
    });
}

fn merge(saved: &Saved) {
    // A lab took the group over before the stored backups were read: they
    // stay stored, out of its sandbox.
    if !SAVING.with(|s| *s.borrow()) {
        return;
    }
    groups::with_group(&groups::first(), |r| {
        let b = &mut r.control.backups;
        // The policy first: an automatic backup counts for its window's day.
        if let Some(p) = &saved.policy {
            b.policy = p.clone();
        }
        for s in &saved.snapshots {
            b.keep(s.clone());
        }
        for (k, v) in &saved.bucket {
            b.bucket.entry(k.clone()).or_insert_with(|| v.clone());
        }
    });
}
