//! Integration tests: one binary (one link step), a module per area.

mod slt;
