//! Crate `trona` (skeleton; its owner fills it in).
#![no_std]
