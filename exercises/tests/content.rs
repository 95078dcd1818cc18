//! The content's rules: every file parses, ids are unique, every question
//! has exactly `choose` correct options and an explanation for each, every
//! link resolves, every seed fact is taught, and the compiled-in file list
//! is the folder's.

use cachelab_exercises::content::Bundle;

#[test]
fn the_content_keeps_its_rules() {
    match cachelab_exercises::bundle() {
        Ok(b) => {
            assert!(b.questions.len() >= 150, "{} questions", b.questions.len());
        }
        Err(problems) => {
            let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            panic!("{} problems:\n{}", text.len(), text.join("\n"));
        }
    }
}

#[test]
fn every_file_in_the_folder_is_compiled_in() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut on_disk = Vec::new();
    for dir in ["", "questions", "labs", "live"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            // demos.toml is the demos' own (`demos::DEMOS_TOML`), not the
            // learning content's.
            if p.extension().is_some_and(|x| x == "toml")
                && !p.ends_with("Cargo.toml")
                && !p.ends_with("demos.toml")
            {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                on_disk.push(rel);
            }
        }
    }
    on_disk.sort();
    let mut listed: Vec<String> = cachelab_exercises::FILES
        .iter()
        .map(|(p, _)| p.to_string())
        .collect();
    listed.sort();
    assert_eq!(on_disk, listed, "add new files to FILES in src/lib.rs");
}

#[test]
fn a_bad_file_is_refused_with_file_line_and_field() {
    let topics = r#"[[topic]]
id = "memcached"
title = "Memcached"
running = true
"#;
    let bad = r#"topic = "memcached"

[[question]]
id = "q1"
difficulty = "easy"
choose = 1
stem = "?"
teaches = ["ref:memcached"]
see = "playground:memcached"
options = [
  { text = "a", correct = true },
]
"#;
    let err =
        Bundle::parse(&[("topics.toml", topics), ("questions/memcached.toml", bad)]).unwrap_err();
    assert_eq!(err[0].file, "questions/memcached.toml");
    assert_eq!(err[0].field, "why");
    // The options array (line 11) holding the table that lacks it (12).
    assert!((11..=12).contains(&err[0].line), "{}", err[0]);
    // A rule broken in a well-formed file: named with its line too.
    let wrong = bad.replace(
        "correct = true }",
        "correct = false, why = \"because it is so\" }",
    );
    let err = Bundle::parse(&[
        ("topics.toml", topics),
        ("questions/memcached.toml", &wrong),
    ])
    .unwrap_err();
    let text: Vec<String> = err.iter().map(|p| p.to_string()).collect();
    assert!(
        text.iter()
            .any(|t| t.starts_with("questions/memcached.toml:3: options:")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.starts_with("questions/memcached.toml:3: choose:")),
        "{text:?}"
    );
}
