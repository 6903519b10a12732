//! `images/Dockerfile`, checked offline: no Docker engine runs here, so the file is parsed
//! (dockerfile-parse) and compared with the workspace (`cargo metadata`) and the contract.

use std::collections::BTreeSet;
use std::path::Path;

use corral_deploy_tests::contract::{IMAGES, NONROOT_ID, REGISTRY, TAG};
use corral_deploy_tests::image::{self, Dockerfile, Stage};
use corral_deploy_tests::repo;

fn dockerfile() -> Dockerfile {
    Dockerfile::parse(&repo::dockerfile())
}

/// The `--bin NAME` arguments of a command line.
fn bin_flags(command: &str) -> BTreeSet<String> {
    let words: Vec<&str> = command.split_whitespace().collect();
    words
        .windows(2)
        .filter(|pair| pair[0] == "--bin")
        .map(|pair| pair[1].to_string())
        .collect()
}

fn contract_binaries() -> BTreeSet<String> {
    IMAGES.iter().map(|i| i.binary.to_string()).collect()
}

/// Splits `COPY [--flags] SRC… DEST` into flags, sources and destination.
fn copy_parts(value: &str) -> (Vec<&str>, Vec<&str>, &str) {
    let words: Vec<&str> = value.split_whitespace().collect();
    let (flags, rest): (Vec<&str>, Vec<&str>) = words.iter().partition(|w| w.starts_with("--"));
    let (dest, sources) = rest.split_last().expect("COPY needs a destination");
    (flags, sources.to_vec(), dest)
}

#[test]
fn every_image_runs_its_binary_as_nonroot_on_its_port() {
    let file = dockerfile();
    for spec in IMAGES {
        let stage = file
            .stage(spec.target)
            .unwrap_or_else(|| panic!("no stage `{}` to build with --target", spec.target));
        let base = file
            .lineage(spec.target)
            .last()
            .expect("a base")
            .from
            .clone();
        assert!(
            base.starts_with("debian:bookworm-slim") || base.starts_with("gcr.io/distroless/cc"),
            "{} is built on {base}, not a slim runtime",
            spec.target
        );

        assert_eq!(
            stage.last("USER"),
            Some(format!("{NONROOT_ID}:{NONROOT_ID}").as_str()),
            "{} must end as USER {NONROOT_ID}:{NONROOT_ID}",
            spec.target
        );
        let exposed: Vec<&str> = stage
            .values_of("EXPOSE")
            .into_iter()
            .flat_map(str::split_whitespace)
            .collect();
        assert_eq!(
            exposed,
            [spec.port.to_string()],
            "EXPOSE of {}",
            spec.target
        );
        assert_eq!(
            stage.env().get("CORRAL_BIND").map(String::as_str),
            Some(format!("0.0.0.0:{}", spec.port).as_str()),
            "CORRAL_BIND of {}",
            spec.target
        );

        let entrypoint = stage
            .last("ENTRYPOINT")
            .and_then(image::exec_form)
            .unwrap_or_else(|| panic!("{} needs an exec-form ENTRYPOINT", spec.target));
        let program = Path::new(&entrypoint[0]);
        assert_eq!(
            program.file_name().and_then(|n| n.to_str()),
            Some(spec.binary),
            "{} runs {entrypoint:?}",
            spec.target
        );
        // The entrypoint is the binary copied from the build stage.
        let copied = stage.values_of("COPY").into_iter().any(|value| {
            let (flags, sources, dest) = copy_parts(value);
            flags.contains(&"--from=builder")
                && sources
                    .iter()
                    .any(|s| s.ends_with(&format!("/{}", spec.binary)))
                && Path::new(dest) == program
        });
        assert!(
            copied,
            "{} does not copy {} from the builder to {}",
            spec.target,
            spec.binary,
            program.display()
        );
    }
}

#[test]
fn image_binaries_are_binaries_of_the_workspace() {
    let binaries = image::workspace_binaries();
    for spec in IMAGES {
        let package = binaries.get(spec.binary).unwrap_or_else(|| {
            panic!(
                "no workspace package builds a binary `{}` (binaries: {:?})",
                spec.binary,
                binaries.keys().collect::<Vec<_>>()
            )
        });
        assert_eq!(
            package, spec.binary,
            "the package of binary {}",
            spec.binary
        );
    }
}

#[test]
fn every_binary_is_built_once_in_release_mode_on_cached_dependencies() {
    let file = dockerfile();
    let builds: Vec<(&Stage, &str)> = file
        .instructions()
        .filter(|(_, i)| i.instruction == "RUN" && i.value.contains("cargo build"))
        .map(|(s, i)| (s, i.value.as_str()))
        .collect();
    assert_eq!(
        builds.len(),
        1,
        "one `cargo build` for all images: {builds:?}"
    );
    let (builder, build) = builds[0];
    assert_eq!(builder.name.as_deref(), Some("builder"));
    for flag in ["--release", "--locked"] {
        assert!(
            build.split_whitespace().any(|w| w == flag),
            "cargo build lacks {flag}: {build}"
        );
    }
    assert_eq!(
        bin_flags(build),
        contract_binaries(),
        "binaries of `cargo build`"
    );
    let offline = file
        .lineage("builder")
        .iter()
        .any(|s| s.env().get("SQLX_OFFLINE").map(String::as_str) == Some("true"));
    assert!(offline, "the builder needs SQLX_OFFLINE=true");

    // Dependencies are cooked from the recipe before the sources are copied in, with the same
    // binaries and flags as the build, so the cached layer is the one the build reuses.
    let position = |pred: &dyn Fn(&str, &str) -> bool| {
        builder
            .instructions
            .iter()
            .position(|i| pred(&i.instruction, &i.value))
    };
    let cook = position(&|i, v| i == "RUN" && v.contains("cargo chef cook"))
        .expect("a `cargo chef cook` step in the builder");
    let sources = position(&|i, v| i == "COPY" && !v.contains("--from") && v.starts_with(". "))
        .expect("the sources copied into the builder");
    let compile = position(&|i, v| i == "RUN" && v.contains("cargo build")).expect("the build");
    assert!(
        cook < sources && sources < compile,
        "cook, then copy sources, then build"
    );
    let cook_command = &builder.instructions[cook].value;
    assert_eq!(
        bin_flags(cook_command),
        contract_binaries(),
        "binaries of `cargo chef cook`"
    );
    for flag in ["--release", "--locked"] {
        assert!(cook_command.contains(flag), "cargo chef cook lacks {flag}");
    }
    let install = file.instructions().any(|(_, i)| {
        i.instruction == "RUN" && i.value.contains("cargo install cargo-chef --locked")
    });
    assert!(
        install,
        "cargo-chef is installed from crates.io with --locked"
    );
}

#[test]
fn copied_paths_exist_and_reach_the_build_context() {
    let file = dockerfile();
    let root = repo::root();
    let mut earlier: BTreeSet<String> = BTreeSet::new();
    let mut context_sources = BTreeSet::new();
    for stage in &file.stages {
        for instruction in &stage.instructions {
            if instruction.instruction != "COPY" && instruction.instruction != "ADD" {
                continue;
            }
            let (flags, sources, _) = copy_parts(&instruction.value);
            match flags.iter().find_map(|f| f.strip_prefix("--from=")) {
                Some(from) => assert!(
                    earlier.contains(from),
                    "COPY --from={from} in stage {:?} names no earlier stage",
                    stage.name
                ),
                None => {
                    for source in sources {
                        assert!(
                            root.join(source).exists(),
                            "COPY source {source} does not exist in the build context"
                        );
                        context_sources.insert(source.to_string());
                    }
                }
            }
        }
        if let Some(name) = &stage.name {
            earlier.insert(name.clone());
        }
    }
    assert!(
        !context_sources.is_empty(),
        "nothing is copied from the build context"
    );

    // What the build reads must not be dockerignored; what it never reads should be.
    let mut needed: Vec<String> = vec![
        "Cargo.toml".into(),
        "Cargo.lock".into(),
        ".cargo/config.toml".into(),
    ];
    needed.extend(image::workspace_manifests());
    needed.extend(context_sources.iter().filter(|s| *s != ".").cloned());
    let unneeded = [
        "target",
        "target/release/corral",
        ".git",
        "tests/sdk/node_modules",
    ];
    let mut paths: Vec<&str> = needed.iter().map(String::as_str).collect();
    paths.extend(unneeded);
    let excluded = image::dockerignore_excludes(&paths);
    for path in &needed {
        assert!(
            !excluded[path.as_str()],
            ".dockerignore leaves out {path}, which the build needs"
        );
    }
    for path in unneeded {
        assert!(excluded[path], ".dockerignore should leave out {path}");
    }
}

#[test]
fn images_have_no_healthcheck() {
    let file = dockerfile();
    let healthchecks: Vec<_> = file
        .instructions()
        .filter(|(_, i)| i.instruction == "HEALTHCHECK")
        .collect();
    assert!(
        healthchecks.is_empty(),
        "Kubernetes probes the binaries; no HEALTHCHECK: {healthchecks:?}"
    );
}

#[test]
fn the_embedded_image_keeps_its_data_in_a_volume() {
    let file = dockerfile();
    let stage = file.stage("corral").expect("the embedded image's stage");
    let volumes: Vec<&str> = stage.values_of("VOLUME");
    assert!(
        volumes
            .iter()
            .any(|v| *v == "/data" || v.contains("\"/data\"")),
        "VOLUME /data: {volumes:?}"
    );
    let env = stage.env();
    assert_eq!(
        env.get("CORRAL_DATA_DIR").map(String::as_str),
        Some("/data")
    );
    assert_eq!(
        env.get("CORRAL_BIND").map(String::as_str),
        Some("0.0.0.0:8000")
    );
    assert_eq!(
        stage.last("CMD").and_then(image::exec_form),
        Some(vec!["serve".to_string()])
    );
    // The data directory must be writable by the non-root user before the volume is mounted.
    let owned = stage
        .values_of("RUN")
        .iter()
        .any(|run| run.contains("/data") && run.contains(&NONROOT_ID.to_string()));
    assert!(owned, "/data must belong to {NONROOT_ID}");
}

#[test]
fn the_readme_shows_how_to_build_every_image() {
    let readme =
        std::fs::read_to_string(repo::root().join("images/README.md")).expect("images/README.md");
    for spec in IMAGES {
        let command = format!(
            "--target {} -t {REGISTRY}/{}:{TAG}",
            spec.target, spec.image
        );
        assert!(
            readme.contains(&command),
            "images/README.md lacks `{command}`"
        );
    }
    assert!(
        readme.contains("-f images/Dockerfile"),
        "the README names the Dockerfile"
    );
}
