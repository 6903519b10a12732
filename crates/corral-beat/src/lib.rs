//! Migrations and schedules (purge, partition upkeep, rollups) of the cluster shape.
