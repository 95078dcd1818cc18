//! Every lab on the simulator, both ways: its check FAILS on the untouched
//! scenario and PASSES after its reference solution — so no check can be
//! vacuous. Deterministic: the simulator runs on virtual time from a seed.

#[test]
fn every_lab_fails_untouched_and_passes_after_its_solution() {
    let bundle = cachelab_exercises::bundle().unwrap_or_else(|p| {
        panic!(
            "{}",
            p.iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    let mut failures = Vec::new();
    for lab in &bundle.labs {
        let run = cachelab_exercises::verify_sim(lab, 7);
        if !run.valid() {
            failures.push(format!(
                "{}: error {:?}\n  before: {:?}\n  after: {:?}",
                lab.id, run.error, run.before, run.after
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
