//! The AMIs: Packer's files and provisioners, promotion of tested images, which accounts may launch them, and their lifecycle.

pub mod access;
pub mod accounts;
pub mod customers;
pub mod lifecycle;
pub mod packages;
pub mod packer;
pub mod promotion;
pub mod provisioning;
