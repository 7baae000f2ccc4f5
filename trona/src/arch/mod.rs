//! The one place that chooses trona's architecture code: the `_start` and thread entry stubs.

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "x86_64")]
mod x86_64;

#[cfg(target_arch = "aarch64")]
pub use aarch64::thread_entry_address;
#[cfg(target_arch = "x86_64")]
pub use x86_64::thread_entry_address;
