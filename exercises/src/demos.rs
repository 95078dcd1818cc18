//! The embeddable demos' scenarios (`demos.toml`): short scripted stories
//! for docs pages — a cluster, then steps, each a caption and the lines it
//! runs in the labs' step language ([`crate::steps`]) — read, checked, and
//! played on any [`Cluster`] (the simulator here and in the npm package's
//! tests; the page's workers in the embed).

use serde::{Deserialize, Serialize};

use crate::cluster::Cluster;
use crate::content::Scenario;
use crate::grade::run_step;
use crate::steps::Step as Line;

/// The demos, compiled in.
pub const DEMOS_TOML: &str = include_str!("../demos.toml");

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Demo {
    /// The name an embed asks for (`<cachelab-demo scenario="failover">`).
    pub id: String,
    pub title: String,
    /// The cluster it starts from (absent for a pending demo).
    #[serde(default)]
    pub scenario: Option<Scenario>,
    /// Why it cannot run yet (what cachelab lacks); it then has no steps.
    #[serde(default)]
    pub pending: Option<String>,
    #[serde(default, rename = "step")]
    pub steps: Vec<DemoStep>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoStep {
    /// What the reader is told while it runs.
    pub caption: String,
    /// Its lines, in the labs' step language.
    pub run: Vec<String>,
    /// Text the last line's output must contain.
    #[serde(default)]
    pub expect: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    demo: Vec<Demo>,
}

/// Every demo, checked: ids unique (lowercase a-z, 0-9, '-'), every
/// runnable demo with a scenario and at least two steps, each step with a
/// caption and lines that parse; a pending demo with its reason and no
/// steps.
pub fn demos() -> Result<Vec<Demo>, String> {
    parse(DEMOS_TOML)
}

pub fn parse(text: &str) -> Result<Vec<Demo>, String> {
    let file: File = toml::from_str(text).map_err(|e| format!("demos.toml: {e}"))?;
    let mut seen = std::collections::BTreeSet::new();
    for d in &file.demo {
        let at = format!("demos.toml: demo {:?}", d.id);
        if d.id.is_empty()
            || !d
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(format!("{at}: an id is lowercase a-z, 0-9 and '-'"));
        }
        if !seen.insert(d.id.clone()) {
            return Err(format!("{at}: the id is used twice"));
        }
        match (&d.pending, &d.scenario) {
            (Some(why), _) if why.trim().is_empty() => {
                return Err(format!("{at}: `pending` must say what is missing"))
            }
            (Some(_), _) if !d.steps.is_empty() || d.scenario.is_some() => {
                return Err(format!("{at}: a pending demo has no scenario and no steps"))
            }
            (Some(_), _) => continue,
            (None, None) => return Err(format!("{at}: a `scenario` is needed")),
            (None, Some(s)) => {
                if !matches!(s.kind.as_str(), "replication" | "cluster" | "memcached") {
                    return Err(format!("{at}: unknown scenario kind {:?}", s.kind));
                }
            }
        }
        if d.steps.len() < 2 {
            return Err(format!(
                "{at}: a demo tells its story in at least two steps"
            ));
        }
        for (i, s) in d.steps.iter().enumerate() {
            if s.caption.trim().is_empty() || s.run.is_empty() {
                return Err(format!("{at}, step {}: a caption and lines to run", i + 1));
            }
            for line in &s.run {
                Line::parse(line).map_err(|e| format!("{at}, step {}: {line:?}: {e}", i + 1))?;
            }
        }
    }
    Ok(file.demo)
}

/// Plays one step on `c`: its lines in order; the last one's output, or
/// the first failure (a line that failed, or the expected text missing).
pub fn play_step(c: &mut dyn Cluster, step: &DemoStep) -> Result<String, String> {
    let mut last = String::new();
    for line in &step.run {
        last = run_step(c, line).map_err(|e| format!("{line}: {e}"))?;
    }
    if let Some(want) = &step.expect {
        if !last.contains(want.as_str()) {
            return Err(format!(
                "{}: expected {want:?} in {last:?}",
                step.run.last().map_or("", String::as_str)
            ));
        }
    }
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_demos_are_refused_with_the_reason() {
        let one = |body: &str| parse(&format!("[[demo]]\n{body}")).unwrap_err();
        assert!(one("id = \"A b\"\ntitle = \"t\"").contains("lowercase"));
        assert!(one("id = \"x\"\ntitle = \"t\"").contains("`scenario` is needed"));
        assert!(one(
            "id = \"x\"\ntitle = \"t\"\nscenario = { kind = \"replication\" }\n[[demo.step]]\ncaption = \"c\"\nrun = [\"GET k\"]"
        )
        .contains("at least two steps"));
        assert!(one(
            "id = \"x\"\ntitle = \"t\"\nscenario = { kind = \"replication\" }\n[[demo.step]]\ncaption = \"c\"\nrun = [\"!explode\"]\n[[demo.step]]\ncaption = \"c\"\nrun = [\"GET k\"]"
        )
        .contains("step 1"));
        assert!(one("id = \"x\"\ntitle = \"t\"\npending = \" \"").contains("must say"));
        assert!(one("id = \"x\"\ntitle = \"t\"\ncolour = \"red\"").contains("unknown field"));
    }
}
