//! The one place in rootlib that depends on the target architecture: the stack pointer a new thread starts with.

/// The stack pointer to give a thread entering a function at `top` of its stack.
///
/// The System V x86_64 ABI expects `rsp + 8` to be 16-byte aligned at a function's first
/// instruction (as if a `call` had pushed a return address), so the entry sees one
/// word already used.
#[cfg(target_arch = "x86_64")]
pub fn entry_stack_pointer(top: u64) -> u64 {
    top - 8
}

/// The stack pointer to give a thread entering a function at `top` of its stack.
///
/// AArch64 requires `sp` to be 16-byte aligned at all times; `top` already is.
#[cfg(target_arch = "aarch64")]
pub fn entry_stack_pointer(top: u64) -> u64 {
    top
}
