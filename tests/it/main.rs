//! Integration tests: one binary (one link step), a module per area.

mod bad_input;
mod buckets;
mod clients;
#[cfg(feature = "cluster")]
mod cluster;
mod delta;
mod end_to_end;
mod helpers;
mod hostile;
mod layout;
mod nightly;
mod object_storage;
mod reconcile;
mod slt;
mod sql;
mod traces;
