//! The one place that chooses trona's architecture code: the `_start` and thread entry stubs.

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "x86_64")]
mod x86_64;

unsafe extern "C" {
    /// The entry stub for extra threads, defined by each port's `global_asm!`.
    fn trona_thread_entry();
}

/// The address at which an extra thread starts (`UserRegisters::ip`).
pub fn thread_entry_address() -> u64 {
    trona_thread_entry as *const () as usize as u64
}
