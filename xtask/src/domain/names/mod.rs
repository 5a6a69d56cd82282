//! Names and identities parsed at the boundary: release names, commits, stages, and
//! the local user CI runs its unprivileged checks as.

pub mod build;
pub mod commit;
pub mod stage;
pub mod tag;
pub mod user;
