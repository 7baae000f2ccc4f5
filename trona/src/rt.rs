//! Program start and end: the Rust side of `_start`, the `entry!` macro, `exit`, and the root task's boot-info accessor.

use crate::substrate;
use boot::BootInfo;

unsafe extern "C" {
    /// The program's entry function, defined by [`entry!`](crate::entry).
    safe fn __trona_main(arg: u64) -> !;
}

/// Declares the program's entry function: `fn(u64) -> !`.
///
/// trona's `_start` calls it with the thread's first argument register; see the crate
/// documentation for what that word means. Use it exactly once, in the binary crate.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        extern "C" fn __trona_main(arg: u64) -> ! {
            let main: fn(u64) -> ! = $main;
            main(arg)
        }
    };
}

/// Called by the `_start` stub with the first argument register and an aligned stack.
pub(crate) extern "C" fn start(arg: u64) -> ! {
    __trona_main(arg)
}

/// Called by the thread entry stub when a thread's entry function returns.
pub(crate) extern "C" fn exit_from_asm() -> ! {
    exit()
}

/// Ends the calling thread.
pub fn exit() -> ! {
    loop {
        // `thread_exit` does not return when it succeeds. If the kernel ever refused, there
        // is nothing better to do than to ask again.
        let _ = substrate::thread_exit();
    }
}

/// Why [`boot_info`] found no usable boot-information page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootInfoError {
    /// The argument is not `uapi::BOOTINFO_VADDR`: this thread is not the root task.
    NotRootTask,
    /// The page does not start with `boot::MAGIC` or has a count larger than its array.
    Corrupt,
    /// The kernel was built from a different `schema.toml` that is neither this build's
    /// ABI nor a later minor version of its major one (its fingerprint is attached).
    AbiMismatch { kernel_fingerprint: u64 },
}

/// The boot-information page the kernel mapped for the root task.
///
/// Pass the argument `main` received. The page is checked for `boot::MAGIC`, counts that
/// fit their arrays, and a kernel ABI this build runs on: the same fingerprint, or a later
/// minor version of the same major version (`BootInfo::runs_abi`).
///
/// # Safety
///
/// Call this only in the root task, and only while the page at `uapi::BOOTINFO_VADDR` is
/// still mapped as the kernel left it (read-only, never unmapped by the program). Another
/// program may have other memory, or nothing, at that address.
pub unsafe fn boot_info(arg: u64) -> Result<&'static BootInfo, BootInfoError> {
    if arg != abi::BOOTINFO_VADDR {
        return Err(BootInfoError::NotRootTask);
    }
    // SAFETY: the caller guarantees this is the root task, where the kernel maps a
    // page-aligned, read-only `BootInfo` at BOOTINFO_VADDR that stays mapped. Every bit
    // pattern is a valid `BootInfo` (integers and byte arrays only).
    let info = unsafe { &*(arg as usize as *const BootInfo) };
    if !info.is_valid() {
        return Err(BootInfoError::Corrupt);
    }
    let (major, minor) = (
        u64::from(abi::ABI_VERSION_MAJOR),
        u64::from(abi::ABI_VERSION_MINOR),
    );
    if !info.runs_abi(abi::ABI_FINGERPRINT, major, minor) {
        return Err(BootInfoError::AbiMismatch {
            kernel_fingerprint: info.abi_fingerprint,
        });
    }
    Ok(info)
}
