//! The deployment files checked offline: the Helm chart, the container images and the plain
//! manifests.

mod chart;
mod images;
mod manifests;
