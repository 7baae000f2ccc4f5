//! Crate `abigen` (skeleton; its owner fills it in).
