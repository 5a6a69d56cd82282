//! The AMIs: Packer's files and provisioners, promotion of tested images, and which accounts may launch them.

pub mod access;
pub mod accounts;
pub mod customers;
pub mod packages;
pub mod packer;
pub mod promotion;
pub mod provisioning;
