//! Prints the TrackerInstance CRD as YAML:
//! `cargo run -p corral-operator --bin crdgen > manifests/crd.yaml`.

fn main() {
    print!("{}", corral_operator::crd_yaml());
}
