//! `UserFrame`: the user registers saved on a thread's kernel stack at every entry from user mode.

use super::gdt::{USER_CS, USER_DS};

/// The `vector` value of a frame built by the `syscall` entry (not an IDT vector).
pub const SYSCALL_VECTOR: u64 = 0x100;

/// RFLAGS.IF.
const RFLAGS_IF: u64 = 1 << 9;
/// RFLAGS bit 1, which always reads as one.
const RFLAGS_FIXED: u64 = 1 << 1;

/// The saved user state of a thread, at the top of its kernel stack.
///
/// One layout serves both entries: the interrupt/exception stubs push `vector` and
/// `error_code` over the hardware frame, and the `syscall` entry builds the same hardware
/// frame by hand (with `vector` = [`SYSCALL_VECTOR`]). The assembly in `trap.S` and
/// `syscall.S` pushes and pops in exactly this order (lowest address first); the
/// `const` asserts below pin the offsets it relies on.
///
/// Every entry from user mode starts at the top of the thread's kernel stack, so a
/// thread's frame always sits at `kernel_stack_top - size_of::<UserFrame>()` (where
/// [`crate::arch::prepare_user_thread`] puts it). Outside `arch` the frame is reached only
/// through its methods: cs, ss and rflags stay what the kernel set (no IOPL for user mode).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct UserFrame {
    pub(super) r15: u64,
    pub(super) r14: u64,
    pub(super) r13: u64,
    pub(super) r12: u64,
    pub(super) r11: u64,
    pub(super) r10: u64,
    pub(super) r9: u64,
    pub(super) r8: u64,
    pub(super) rbp: u64,
    pub(super) rdi: u64,
    pub(super) rsi: u64,
    pub(super) rdx: u64,
    pub(super) rcx: u64,
    pub(super) rbx: u64,
    pub(super) rax: u64,
    /// IDT vector, or [`SYSCALL_VECTOR`].
    pub(super) vector: u64,
    /// The exception's error code, or 0.
    pub(super) error_code: u64,
    pub(super) rip: u64,
    pub(super) cs: u64,
    pub(super) rflags: u64,
    pub(super) rsp: u64,
    pub(super) ss: u64,
}

/// Offsets the assembly uses (it addresses the frame through these `const` operands).
pub const FRAME_VECTOR: usize = core::mem::offset_of!(UserFrame, vector);
pub const FRAME_RIP: usize = core::mem::offset_of!(UserFrame, rip);
pub const FRAME_CS: usize = core::mem::offset_of!(UserFrame, cs);
pub const FRAME_RFLAGS: usize = core::mem::offset_of!(UserFrame, rflags);
pub const FRAME_RSP: usize = core::mem::offset_of!(UserFrame, rsp);
pub const FRAME_RCX: usize = core::mem::offset_of!(UserFrame, rcx);
pub const FRAME_R11: usize = core::mem::offset_of!(UserFrame, r11);
const _: () = assert!(core::mem::size_of::<UserFrame>() == 22 * 8);
const _: () = assert!(core::mem::size_of::<UserFrame>().is_multiple_of(16));
const _: () = assert!(FRAME_VECTOR == 15 * 8 && FRAME_RIP == 17 * 8 && FRAME_RSP == 20 * 8);

impl UserFrame {
    /// A frame that enters user mode at address 0 with everything zero and interrupts on.
    pub fn new_user() -> Self {
        Self {
            cs: u64::from(USER_CS),
            ss: u64::from(USER_DS),
            rflags: RFLAGS_IF | RFLAGS_FIXED,
            vector: SYSCALL_VECTOR,
            ..Self::default()
        }
    }

    /// The user instruction pointer.
    pub fn ip(&self) -> u64 {
        self.rip
    }

    /// Sets where the thread resumes in user mode. The return path checks the address: a
    /// non-canonical one is reported to `crate::sched::user_fault` as a `#GP` (with the
    /// address) instead of being returned to, which would fault in ring 0.
    pub fn set_ip(&mut self, ip: u64) {
        self.rip = ip;
    }

    /// Moves the instruction pointer back onto the `syscall` instruction (2 bytes) that
    /// entered the kernel, so that the thread makes the same syscall again when it returns.
    pub fn restart_syscall(&mut self) {
        self.rip = self.rip.wrapping_sub(2);
    }

    /// The user stack pointer.
    pub fn sp(&self) -> u64 {
        self.rsp
    }

    /// Sets the user stack pointer.
    pub fn set_sp(&mut self, sp: u64) {
        self.rsp = sp;
    }

    /// C-ABI argument register `i` (0..6 = rdi, rsi, rdx, rcx, r8, r9): what a thread's
    /// entry function sees as its arguments (`UserRegisters.arg0..arg5`). Note that the
    /// syscall convention uses r10 instead of rcx; see [`Self::syscall_args`].
    pub fn arg(&self, i: usize) -> u64 {
        match i {
            0 => self.rdi,
            1 => self.rsi,
            2 => self.rdx,
            3 => self.rcx,
            4 => self.r8,
            5 => self.r9,
            _ => panic!("UserFrame::arg({i}): there are six argument registers"),
        }
    }

    /// Sets C-ABI argument register `i` (0..6 = rdi, rsi, rdx, rcx, r8, r9).
    pub fn set_arg(&mut self, i: usize, value: u64) {
        let reg = match i {
            0 => &mut self.rdi,
            1 => &mut self.rsi,
            2 => &mut self.rdx,
            3 => &mut self.rcx,
            4 => &mut self.r8,
            5 => &mut self.r9,
            _ => panic!("UserFrame::set_arg({i}): there are six argument registers"),
        };
        *reg = value;
    }

    // The trap registers (`syscall_number`, `syscall_args`, `set_results`, `ipc_input`,
    // `set_ipc_results`) are generated from schema.toml: `generated/trapregs.rs`.

    /// Whether the frame was saved on entry from user mode (CPL 3).
    pub fn entered_from_user(&self) -> bool {
        self.cs & 3 == 3
    }
}

/// The page-fault vector.
const PAGE_FAULT: u8 = 14;
/// The page-fault error code's bit for an instruction fetch.
const PF_INSTRUCTION_FETCH: u64 = 1 << 4;

/// Whether exception `vector` with `error_code` is a page fault, and if so whether it was
/// an instruction fetch.
pub fn memory_fault_kind(vector: u8, error_code: u64) -> Option<bool> {
    (vector == PAGE_FAULT).then_some(error_code & PF_INSTRUCTION_FETCH != 0)
}

/// The mnemonic of exception vector `vector`.
pub fn exception_name(vector: u8) -> &'static str {
    match vector {
        0 => "#DE divide error",
        1 => "#DB debug",
        2 => "NMI",
        3 => "#BP breakpoint",
        4 => "#OF overflow",
        5 => "#BR bound range",
        6 => "#UD invalid opcode",
        7 => "#NM device not available",
        8 => "#DF double fault",
        10 => "#TS invalid TSS",
        11 => "#NP segment not present",
        12 => "#SS stack fault",
        13 => "#GP general protection",
        14 => "#PF page fault",
        16 => "#MF x87 floating point",
        17 => "#AC alignment check",
        18 => "#MC machine check",
        19 => "#XM SIMD floating point",
        20 => "#VE virtualization",
        21 => "#CP control protection",
        _ => "reserved exception",
    }
}
