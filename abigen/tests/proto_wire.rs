//! Host tests of trona's protocol wire format: `trona/src/proto/wire.rs` (pure, no syscalls) built against the real abi crate, running the unit tests it carries.

// Only its unit tests run here; the rest of the API is for trona and the generated code.
#[allow(dead_code)]
#[path = "../../trona/src/proto/wire.rs"]
mod wire;
