//! Offline checks of Corral's deployment files: the Helm chart (`charts/corral`), the plain
//! manifests (`manifests/`) and the image build (`images/Dockerfile`).
//!
//! No cluster and no Docker engine run here, so the tests drive the real tools offline: the
//! Helm v4 engine (PyPI `helm-python-sdk`), `kubernetes-validate`'s schemas of the oldest and
//! newest Kubernetes it knows, `jsonschema` against the CRD's `openAPIV3Schema`,
//! `dockerfile-parse` and `cargo metadata`. A missing tool fails a test, never skips it. The
//! Python tools live in the virtualenv that `cargo xtask test` prepares (`CORRAL_TEST_PYTHON`);
//! a thin bridge, `py/deploy_check.py`, returns what they report as JSON and the tests decide.
//!
//! This crate holds test helpers only:
//! - [`repo`]: where the files under test are.
//! - [`contract`]: the facts of `K8S-CONTRACT` the files must agree on (ports, images, RBAC).
//! - [`chart`]: lint, render and values checks of the chart, and the matrix of values.
//! - [`kube`]: `kubernetes-validate`, CRD-schema validation, YAML reading, object lookups.
//! - [`image`]: the parsed Dockerfile, `.dockerignore` and the workspace's binaries.

pub mod chart;
pub mod contract;
pub mod image;
pub mod kube;
mod python;
pub mod repo;

pub use python::python;
