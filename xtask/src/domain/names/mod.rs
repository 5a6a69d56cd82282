//! Names and identities parsed at the boundary: release names, commits, stages.

pub mod build;
pub mod commit;
pub mod stage;
pub mod tag;
