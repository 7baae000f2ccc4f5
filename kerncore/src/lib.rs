//! Crate `kerncore` (skeleton; its owner fills it in).
#![cfg_attr(not(test), no_std)]
