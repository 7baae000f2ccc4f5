//! `UserFrame`: the registers saved on a thread's kernel stack at every exception entry.

use super::cpu::{SPSR_EL0T, SPSR_MODE_MASK};

/// How the exception that built a frame arrived (its vector table slot, without the level).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum EntryKind {
    /// A synchronous exception: `svc`, an abort, an undefined instruction...
    Sync = 0,
    /// An IRQ.
    Irq = 1,
    /// An FIQ.
    Fiq = 2,
    /// An SError.
    SError = 3,
}

/// The saved state of a thread, at the top of its kernel stack.
///
/// One layout serves every entry (`svc`, IRQ, aborts, from EL0 or EL1). `trap.S` stores
/// and loads it through the `FRAME_*` offsets below (passed as `const` operands), so the
/// assembly follows any change here.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct UserFrame {
    /// x0..x30.
    pub x: [u64; 31],
    /// SP_EL0: the user stack pointer.
    pub sp: u64,
    /// ELR_EL1: where the thread resumes.
    pub pc: u64,
    /// SPSR_EL1: the saved PSTATE.
    pub pstate: u64,
    /// TPIDR_EL0: the user thread pointer.
    pub tpidr: u64,
    /// ESR_EL1 at entry (the exception syndrome).
    pub esr: u64,
    /// FAR_EL1 at entry (meaningful for aborts only).
    pub far: u64,
    /// The [`EntryKind`] of the entry, as its `u64` value.
    pub kind: u64,
}

/// Offsets the assembly uses.
pub const FRAME_SIZE: usize = core::mem::size_of::<UserFrame>();
pub const FRAME_X30: usize = core::mem::offset_of!(UserFrame, x) + 30 * 8;
pub const FRAME_SP: usize = core::mem::offset_of!(UserFrame, sp);
pub const FRAME_PC: usize = core::mem::offset_of!(UserFrame, pc);
pub const FRAME_TPIDR: usize = core::mem::offset_of!(UserFrame, tpidr);
pub const FRAME_FAR: usize = core::mem::offset_of!(UserFrame, far);
// trap.S stores (x30, sp), (pc, pstate), (tpidr, esr) and (far, kind) as pairs.
const _: () = assert!(FRAME_SP == FRAME_X30 + 8);
const _: () = assert!(core::mem::offset_of!(UserFrame, pstate) == FRAME_PC + 8);
const _: () = assert!(core::mem::offset_of!(UserFrame, esr) == FRAME_TPIDR + 8);
const _: () = assert!(core::mem::offset_of!(UserFrame, kind) == FRAME_FAR + 8);
const _: () = assert!(core::mem::offset_of!(UserFrame, x) == 0);
const _: () = assert!(FRAME_SIZE.is_multiple_of(16));

impl UserFrame {
    /// A frame that enters user mode (EL0t, interrupts unmasked) at address 0 with every
    /// register zero.
    pub fn new_user() -> Self {
        Self {
            pstate: SPSR_EL0T,
            kind: EntryKind::Sync as u64,
            ..Self::default()
        }
    }

    /// The user instruction pointer.
    pub fn ip(&self) -> u64 {
        self.pc
    }

    /// Sets where the thread resumes in user mode. An address user mode cannot execute
    /// (a kernel address, one above the 48-bit range) faults in user mode on the way back,
    /// and is reported to `crate::sched::user_fault` as an instruction abort with that
    /// address: `eret` to it cannot harm the kernel.
    pub fn set_ip(&mut self, ip: u64) {
        self.pc = ip;
    }

    /// Moves the instruction pointer back onto the `svc` instruction (4 bytes) that entered
    /// the kernel, so that the thread makes the same syscall again when it returns.
    pub fn restart_syscall(&mut self) {
        self.pc = self.pc.wrapping_sub(4);
    }

    /// The user stack pointer.
    pub fn sp(&self) -> u64 {
        self.sp
    }

    /// Sets the user stack pointer.
    pub fn set_sp(&mut self, sp: u64) {
        self.sp = sp;
    }

    /// C-ABI argument register `i` (0..6 = x0..x5): what a thread's entry function sees as
    /// its arguments (`UserRegisters.arg0..arg5`). The syscall convention uses the same
    /// registers.
    pub fn arg(&self, i: usize) -> u64 {
        assert!(
            i < 6,
            "UserFrame::arg({i}): there are six argument registers"
        );
        self.x[i]
    }

    /// Sets C-ABI argument register `i` (0..6 = x0..x5).
    pub fn set_arg(&mut self, i: usize, value: u64) {
        assert!(
            i < 6,
            "UserFrame::set_arg({i}): there are six argument registers"
        );
        self.x[i] = value;
    }

    // The trap registers (`syscall_number`, `syscall_args`, `set_results`, `ipc_input`,
    // `set_ipc_results`) are generated from schema.toml: `generated/trapregs.rs`.

    /// Whether the frame was saved on entry from user mode (EL0t).
    pub fn entered_from_user(&self) -> bool {
        self.pstate & SPSR_MODE_MASK == SPSR_EL0T
    }

    /// The exception class of the saved syndrome (ESR_EL1.EC).
    pub fn exception_class(&self) -> u8 {
        ((self.esr >> 26) & 0x3f) as u8
    }
}

/// Exception classes (ESR_EL1.EC) the kernel tells apart.
pub mod ec {
    /// An unknown reason, including undefined instructions.
    pub const UNKNOWN: u8 = 0x00;
    /// FP/SIMD access trapped by CPACR_EL1.FPEN.
    pub const FP_TRAP: u8 = 0x07;
    /// Illegal execution state.
    pub const ILLEGAL_STATE: u8 = 0x0e;
    /// `svc` from AArch64.
    pub const SVC64: u8 = 0x15;
    /// System register access trapped.
    pub const SYSREG: u8 = 0x18;
    /// Instruction abort from EL0.
    pub const INSTRUCTION_ABORT_LOWER: u8 = 0x20;
    /// Instruction abort from EL1.
    pub const INSTRUCTION_ABORT_SAME: u8 = 0x21;
    /// PC alignment fault.
    pub const PC_ALIGNMENT: u8 = 0x22;
    /// Data abort from EL0.
    pub const DATA_ABORT_LOWER: u8 = 0x24;
    /// Data abort from EL1.
    pub const DATA_ABORT_SAME: u8 = 0x25;
    /// SP alignment fault.
    pub const SP_ALIGNMENT: u8 = 0x26;
    /// Trapped floating-point exception.
    pub const FP_EXCEPTION: u8 = 0x2c;
    /// SError.
    pub const SERROR: u8 = 0x2f;
    /// `brk` from AArch64.
    pub const BRK64: u8 = 0x3c;
}

/// Whether FAR_EL1 holds the faulting address for exception class `class`.
pub fn class_sets_far(class: u8) -> bool {
    matches!(
        class,
        ec::INSTRUCTION_ABORT_LOWER
            | ec::INSTRUCTION_ABORT_SAME
            | ec::PC_ALIGNMENT
            | ec::DATA_ABORT_LOWER
            | ec::DATA_ABORT_SAME
    )
}

/// Whether exception class `class` is an abort on a user access to memory, and if so
/// whether it was an instruction fetch (the syndrome is not needed to tell).
pub fn memory_fault_kind(class: u8, _syndrome: u64) -> Option<bool> {
    match class {
        ec::INSTRUCTION_ABORT_LOWER => Some(true),
        ec::DATA_ABORT_LOWER => Some(false),
        _ => None,
    }
}

/// The name of exception class `class`.
pub fn exception_name(class: u8) -> &'static str {
    match class {
        ec::UNKNOWN => "undefined instruction",
        ec::FP_TRAP => "FP/SIMD access trap",
        ec::ILLEGAL_STATE => "illegal execution state",
        ec::SVC64 => "svc",
        ec::SYSREG => "trapped system register access",
        ec::INSTRUCTION_ABORT_LOWER => "instruction abort from EL0",
        ec::INSTRUCTION_ABORT_SAME => "instruction abort from EL1",
        ec::PC_ALIGNMENT => "PC alignment fault",
        ec::DATA_ABORT_LOWER => "data abort from EL0",
        ec::DATA_ABORT_SAME => "data abort from EL1",
        ec::SP_ALIGNMENT => "SP alignment fault",
        ec::FP_EXCEPTION => "floating-point exception",
        ec::SERROR => "SError",
        ec::BRK64 => "brk",
        _ => "other exception",
    }
}
