//! The digest worker of the cluster shape.
