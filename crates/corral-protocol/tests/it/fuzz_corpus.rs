//! Replays the fuzz corpus and the inputs that once crashed a fuzz target
//! (`fuzz/corpus/<target>/`, `fuzz/regressions/<target>/`) through the fuzz
//! targets' own checks, so every test run holds the parsers to what fuzzing
//! found, without libFuzzer or a fuzzing run (docs/FUZZING.md).

use std::path::{Path, PathBuf};

#[path = "../../../../fuzz/src/lib.rs"]
mod checks;

/// A fuzz target's checks: panics on a failure.
type Check = fn(&[u8]);

const TARGETS: [(&str, Check); 5] = [
    ("envelope", checks::envelope),
    ("event", checks::event),
    ("auth", checks::auth),
    ("decode", checks::decode),
    ("security_report", checks::security_report),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs every file of `kind/<target>/` through the target's checks; a panic
/// names the file.
fn replay(kind: &str) -> usize {
    let mut count = 0;
    for (target, check) in TARGETS {
        for file in inputs(&fuzz_dir().join(kind).join(target)) {
            let data = std::fs::read(&file).expect("a readable input");
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{target}: {} fails", file.display());
            count += 1;
        }
    }
    count
}

#[test]
fn corpus_passes_the_fuzz_checks() {
    // the corpus is committed, seeded from the fixtures: an empty one means
    // the path is wrong, not that all is well
    for (target, _) in TARGETS {
        let dir = fuzz_dir().join("corpus").join(target);
        assert!(!inputs(&dir).is_empty(), "{} is empty", dir.display());
    }
    assert!(replay("corpus") > 0);
}

#[test]
fn regressions_pass_the_fuzz_checks() {
    replay("regressions");
}
