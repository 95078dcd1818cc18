//! The learner's progress in localStorage: every answer given, labs
//! passed, and a review schedule per question.
//!
//! The review queue is scheduled with SM-2, the SuperMemo 2 algorithm
//! (P. A. Woźniak, "Optimization of learning", 1990; published as
//! <https://super-memory.com/english/ol/sm2.htm>): each question keeps an
//! easiness factor EF (starting at 2.5, never below 1.3), a repetition
//! count n and an interval I. A correct answer (quality 5) gives
//! I = 1 day, then 6 days, then I × EF; a wrong one (quality 2) resets
//! n to 0 and I to 1 day. After each answer
//! EF' = EF + (0.1 − (5 − q)(0.08 + (5 − q)·0.02)).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

const KEY: &str = "cachelab-learn-progress";
const DAY_MS: f64 = 86_400_000.0;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QStat {
    /// Every answer: (Date.now() ms, correct).
    #[serde(default)]
    pub history: Vec<(f64, bool)>,
    /// SM-2 easiness factor.
    pub ef: f64,
    /// SM-2 repetition count (correct answers in a row).
    pub reps: u32,
    /// SM-2 interval, days.
    pub interval: f64,
    /// When the question is due again (Date.now() ms).
    pub due: f64,
}

impl Default for QStat {
    fn default() -> Self {
        QStat {
            history: Vec::new(),
            ef: 2.5,
            reps: 0,
            interval: 0.0,
            due: 0.0,
        }
    }
}

impl QStat {
    /// One SM-2 step for an answer given at `now`.
    pub fn answer(&mut self, correct: bool, now: f64) {
        self.history.push((now, correct));
        let q: f64 = if correct { 5.0 } else { 2.0 };
        if correct {
            self.interval = match self.reps {
                0 => 1.0,
                1 => 6.0,
                _ => (self.interval * self.ef).round(),
            };
            self.reps += 1;
        } else {
            self.reps = 0;
            self.interval = 1.0;
        }
        self.ef = (self.ef + (0.1 - (5.0 - q) * (0.08 + (5.0 - q) * 0.02))).max(1.3);
        // A wrong answer comes back in this session's queue at once; a
        // right one after its interval.
        self.due = if correct {
            now + self.interval * DAY_MS
        } else {
            now
        };
    }

    pub fn last_correct(&self) -> Option<bool> {
        self.history.last().map(|h| h.1)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Format version of this record.
    #[serde(default)]
    pub version: u32,
    #[serde(default)]
    pub questions: BTreeMap<String, QStat>,
    /// Labs whose check passed, with when.
    #[serde(default)]
    pub labs: BTreeMap<String, f64>,
}

pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

pub fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

pub fn to_json<T: Serialize>(v: &T) -> Option<String> {
    let js = v
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .ok()?;
    js_sys::JSON::stringify(&js).ok()?.as_string()
}

pub fn from_json<T: for<'de> Deserialize<'de>>(s: &str) -> Option<T> {
    let js = js_sys::JSON::parse(s).ok()?;
    serde_wasm_bindgen::from_value(js).ok()
}

impl Progress {
    pub fn load() -> Progress {
        storage()
            .and_then(|s| s.get_item(KEY).ok().flatten())
            .and_then(|t| from_json(&t))
            .unwrap_or_default()
    }

    pub fn save(&self) {
        if let (Some(s), Some(t)) = (storage(), to_json(self)) {
            let _ = s.set_item(KEY, &t);
        }
    }

    pub fn record(&mut self, id: &str, correct: bool) {
        self.version = 1;
        self.questions
            .entry(id.to_string())
            .or_default()
            .answer(correct, now_ms());
    }

    /// (answered questions, correct last answers) among `ids`.
    pub fn tally<'a>(&self, ids: impl Iterator<Item = &'a str>) -> (usize, usize) {
        let mut answered = 0;
        let mut right = 0;
        for id in ids {
            if let Some(s) = self.questions.get(id) {
                answered += 1;
                if s.last_correct() == Some(true) {
                    right += 1;
                }
            }
        }
        (answered, right)
    }

    /// Answered questions due for review now, soonest first.
    pub fn due(&self, now: f64) -> Vec<String> {
        let mut v: Vec<(&String, &QStat)> = self
            .questions
            .iter()
            .filter(|(_, s)| !s.history.is_empty() && s.due <= now)
            .collect();
        v.sort_by(|a, b| a.1.due.total_cmp(&b.1.due));
        v.into_iter().map(|(k, _)| k.clone()).collect()
    }
}
