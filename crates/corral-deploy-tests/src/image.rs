//! `images/Dockerfile` as `dockerfile-parse` reads it, the `.dockerignore`, and the binaries the
//! workspace builds (`cargo metadata`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

use crate::python::{arg, bridge};
use crate::repo;

/// One instruction, continuation lines joined.
#[derive(Clone, Debug, Deserialize)]
pub struct Instruction {
    pub instruction: String,
    pub value: String,
}

/// One `FROM … AS name` stage and its instructions.
#[derive(Clone, Debug, Deserialize)]
pub struct Stage {
    pub name: Option<String>,
    pub from: String,
    pub instructions: Vec<Instruction>,
}

impl Stage {
    /// The values of every `instruction` of this stage, in order.
    pub fn values_of(&self, instruction: &str) -> Vec<&str> {
        self.instructions
            .iter()
            .filter(|i| i.instruction == instruction)
            .map(|i| i.value.as_str())
            .collect()
    }

    /// The value of the last `instruction` of this stage (the one in force).
    pub fn last(&self, instruction: &str) -> Option<&str> {
        self.values_of(instruction).last().copied()
    }

    /// `ENV` settings of this stage (both `ENV K=V K2=V2` and `ENV K V`).
    pub fn env(&self) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for value in self.values_of("ENV") {
            if value.contains('=') {
                for pair in value.split_whitespace() {
                    if let Some((key, val)) = pair.split_once('=') {
                        env.insert(key.to_string(), val.trim_matches('"').to_string());
                    }
                }
            } else if let Some((key, val)) = value.split_once(char::is_whitespace) {
                env.insert(key.to_string(), val.trim().to_string());
            }
        }
        env
    }
}

/// A parsed Dockerfile.
#[derive(Clone, Debug, Deserialize)]
pub struct Dockerfile {
    pub stages: Vec<Stage>,
}

impl Dockerfile {
    /// Parses `path` with dockerfile-parse.
    pub fn parse(path: &Path) -> Dockerfile {
        assert!(path.is_file(), "{} does not exist", path.display());
        bridge(&["dockerfile", arg(path)], &Value::Null)
    }

    /// The stage named `name`.
    pub fn stage(&self, name: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.name.as_deref() == Some(name))
    }

    /// The chain of stages `name` is built on, itself first, ending at an external image.
    pub fn lineage(&self, name: &str) -> Vec<&Stage> {
        let mut chain = Vec::new();
        let mut current = self.stage(name);
        while let Some(stage) = current {
            assert!(
                chain.len() <= self.stages.len(),
                "stage {name} has a cyclic FROM chain"
            );
            chain.push(stage);
            current = self.stage(&stage.from);
        }
        chain
    }

    /// Every instruction of every stage, with its stage.
    pub fn instructions(&self) -> impl Iterator<Item = (&Stage, &Instruction)> {
        self.stages
            .iter()
            .flat_map(|s| s.instructions.iter().map(move |i| (s, i)))
    }
}

/// For each path of the build context: whether `.dockerignore` leaves it out.
pub fn dockerignore_excludes(paths: &[&str]) -> BTreeMap<String, bool> {
    let ignore = repo::root().join(".dockerignore");
    assert!(ignore.is_file(), "{} does not exist", ignore.display());
    let mut argv = vec!["dockerignore", arg(&ignore)];
    argv.extend_from_slice(paths);
    bridge(&argv, &Value::Null)
}

fn cargo_metadata() -> Value {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(repo::root())
        .output()
        .expect("running cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("cargo metadata JSON")
}

/// Every binary target of the workspace, mapped to its package (`cargo metadata --no-deps`).
pub fn workspace_binaries() -> BTreeMap<String, String> {
    let metadata = cargo_metadata();
    let mut binaries = BTreeMap::new();
    for package in metadata["packages"].as_array().expect("packages") {
        let package_name = package["name"].as_str().expect("package name");
        for target in package["targets"].as_array().expect("targets") {
            let is_bin = target["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"));
            if is_bin {
                let bin = target["name"].as_str().expect("target name");
                binaries.insert(bin.to_string(), package_name.to_string());
            }
        }
    }
    binaries
}

/// The manifest of every workspace member, relative to the workspace root.
pub fn workspace_manifests() -> Vec<String> {
    let metadata = cargo_metadata();
    let root = repo::root();
    metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|package| {
            let manifest = Path::new(package["manifest_path"].as_str().expect("manifest_path"));
            manifest
                .strip_prefix(&root)
                .unwrap_or_else(|_| panic!("{} is outside the workspace", manifest.display()))
                .to_str()
                .expect("UTF-8 path")
                .to_string()
        })
        .collect()
}

/// The exec-form (`["a", "b"]`) of an ENTRYPOINT or CMD, or `None` for the shell form.
pub fn exec_form(value: &str) -> Option<Vec<String>> {
    serde_json::from_str(value).ok()
}
