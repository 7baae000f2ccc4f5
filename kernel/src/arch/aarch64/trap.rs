//! Exception vectors and the Rust side of exception entry: dispatch, fault reports, panics.

use super::cpu::SPSR_MODE_MASK;
use super::frame::{self, EntryKind, UserFrame, class_sets_far, ec, exception_name};
use super::{syscall, timer};
use crate::arch::FaultInfo;
use crate::arch::hooks;
use crate::arch::{KERNEL_STACK_GUARD_SIZE, KERNEL_STACK_SIZE};
use crate::cell::PerCpu;
use crate::smp::MAX_CPUS;
use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{Readable, TTBR0_EL1, TTBR1_EL1, VBAR_EL1, Writeable};

core::arch::global_asm!(
    include_str!("generated/percpu.S"),
    include_str!("trap.S"),
    frame_size = const frame::FRAME_SIZE,
    frame_x30 = const frame::FRAME_X30,
    frame_pc = const frame::FRAME_PC,
    frame_tpidr = const frame::FRAME_TPIDR,
    frame_far = const frame::FRAME_FAR,
    kind_sync = const EntryKind::Sync as u64,
    kind_irq = const EntryKind::Irq as u64,
    kind_fiq = const EntryKind::Fiq as u64,
    kind_serror = const EntryKind::SError as u64,
    kernel_stack_size = const KERNEL_STACK_SIZE,
    stack_and_guard = const KERNEL_STACK_SIZE + KERNEL_STACK_GUARD_SIZE,
    guard_size = const KERNEL_STACK_GUARD_SIZE,
    emergency_stack = sym EMERGENCY_STACK,
    emergency_stack_shift = const EMERGENCY_STACK_SIZE.trailing_zeros(),
    stack_overflow = sym kernel_stack_overflow,
    spsr_mode_mask = const SPSR_MODE_MASK,
    el0_sync = sym el0_sync,
    el0_irq = sym el0_irq,
    el1_sync = sym el1_sync,
    el1_irq = sym el1_irq,
    unexpected = sym unexpected_exception,
    kernel_sp_mismatch = sym kernel_sp_mismatch,
    canary_failed = sym kernel_stack_canary_failed,
    not_a_user_frame = sym not_a_user_frame,
    leave_to_user = sym hooks::leave_to_user,
);

unsafe extern "C" {
    static exception_vectors: u8;
}

/// Size of the stack an exception taken at EL1 switches to when the running thread's
/// kernel stack overflowed (the counterpart of x86_64's double-fault IST stack).
const EMERGENCY_STACK_SIZE: usize = 16 * 1024;

// The overflow path finds a CPU's emergency stack by shifting its index.
const _: () = assert!(EMERGENCY_STACK_SIZE.is_power_of_two());
const _: () = assert!(KERNEL_STACK_GUARD_SIZE.is_multiple_of(1 << 12));
const _: () = assert!((KERNEL_STACK_SIZE + KERNEL_STACK_GUARD_SIZE).is_multiple_of(1 << 12));

#[repr(C, align(16))]
struct EmergencyStack([u8; EMERGENCY_STACK_SIZE]);

/// One per CPU, consecutive (`PerCpu` is the array itself), each used only by
/// `kernel_stack_overflow` in `trap.S` on its CPU, which never returns.
static EMERGENCY_STACK: PerCpu<EmergencyStack> =
    PerCpu::new([const { EmergencyStack([0; EMERGENCY_STACK_SIZE]) }; MAX_CPUS]);
const _: () = assert!(size_of::<EmergencyStack>() == EMERGENCY_STACK_SIZE);

/// Points the running CPU's VBAR_EL1 at the vector table.
pub fn init() {
    // The table in trap.S is 2 KiB aligned and handles every vector.
    VBAR_EL1.set((&raw const exception_vectors) as u64);
    barrier::isb(barrier::SY);
}

/// A synchronous exception from user mode: `svc`, or a fault for the scheduler. Takes the
/// big kernel lock first (`trap_return` releases it).
extern "C" fn el0_sync(frame: *mut UserFrame) {
    // SAFETY: `el0_sync_entry` passes the frame it just saved on the thread's kernel stack.
    let frame = unsafe { hooks::EntryFrame::new(frame) };
    let (class, esr, far) = frame.with(|f| (f.exception_class(), f.esr, f.far));
    let entry = match class {
        ec::SVC64 => crate::smp::Entry::Syscall,
        _ => crate::smp::Entry::Other,
    };
    if !hooks::enter_from_user(entry) {
        // Another CPU stalled the thread: a syscall is made again, an exception recurs.
        hooks::abandon_entry();
        return;
    }
    match class {
        ec::SVC64 => syscall::dispatch(frame),
        ec::FP_TRAP => frame.with(|f| lazy_fpu(f)),
        _ => {
            let address = if class_sets_far(class) { far } else { 0 };
            hooks::user_fault(
                frame,
                FaultInfo {
                    vector: class,
                    error_code: esr,
                    address,
                },
            );
        }
    }
}

/// An IRQ that interrupted user mode; under the big kernel lock, as every entry from user
/// mode.
extern "C" fn el0_irq(frame: *mut UserFrame) {
    let proceed = hooks::enter_from_user(crate::smp::Entry::Other);
    // SAFETY: `trap.S` passes the frame it just saved; only this read touches it.
    let from_user = unsafe { (*frame).entered_from_user() };
    // A stalled thread's interrupt still gets its end, handled as if from the kernel (it
    // switches nothing).
    timer::interrupt(from_user && proceed);
    if !proceed {
        hooks::abandon_entry();
    }
}

/// A synchronous exception in the kernel: always a kernel bug.
extern "C" fn el1_sync(frame: &mut UserFrame) -> ! {
    match frame.exception_class() {
        ec::FP_TRAP => lazy_fpu(frame),
        ec::UNKNOWN => super::power_off_without_semihosting(frame.pc),
        _ => {}
    }
    dump(frame);
    let sp = frame as *const UserFrame as u64 + frame::FRAME_SIZE as u64;
    if class_sets_far(frame.exception_class()) {
        if let Some(overflow) = crate::arch::current_stack_overflow(&[frame.far]) {
            crate::arch::stack_overflow_panic(overflow, frame.pc, sp, frame.far);
        }
        if crate::arch::is_unmapped_direct_page(frame.far) {
            panic!(
                "kernel touched the unmapped direct-map page at {:#x} (a kernel stack's guard \
                 page, not the running thread's) at pc {:#x}",
                frame.far, frame.pc
            );
        }
    }
    panic!(
        "unexpected {} (EC {:#x}) in kernel mode at pc {:#x}, ESR {:#x}, FAR {:#x}",
        exception_name(frame.exception_class()),
        frame.exception_class(),
        frame.pc,
        frame.esr,
        frame.far
    );
}

/// An exception taken at EL1 whose entry found the running thread's kernel stack in its
/// guard page (`CHECK_KERNEL_SP` in `trap.S`): runs on the emergency stack, with the
/// overflowed stack pointer in the frame's `tpidr` field.
extern "C" fn kernel_stack_overflow(frame: &mut UserFrame) -> ! {
    dump(frame);
    let sp = frame.tpidr;
    let far = if class_sets_far(frame.exception_class()) {
        frame.far
    } else {
        0
    };
    let frame_base = sp.wrapping_sub(frame::FRAME_SIZE as u64);
    match crate::arch::current_stack_overflow(&[sp, frame_base, far]) {
        Some(overflow) => crate::arch::stack_overflow_panic(overflow, frame.pc, sp, far),
        None => panic!(
            "kernel stack overflow check fired for sp {sp:#x}, which is not near the running \
             thread's guard page (PerCpuData kernel_sp changed under it)"
        ),
    }
}

/// An IRQ taken in the kernel (only in `halt_until_interrupt`, from an idle loop).
extern "C" fn el1_irq(frame: *mut UserFrame) {
    // SAFETY: As in `el0_irq`.
    let from_user = unsafe { (*frame).entered_from_user() };
    hooks::interrupt_in_kernel(|| timer::interrupt(from_user));
}

fn lazy_fpu(frame: &UserFrame) -> ! {
    dump(frame);
    panic!(
        "lazy FPU reintroduced: FP/SIMD trap (EC 0x07) at pc {:#x}; CPACR_EL1.FPEN must stay 0b11 because the FPU is switched eagerly",
        frame.pc
    );
}

/// FIQ, SError, and the vectors that are never used.
extern "C" fn unexpected_exception(frame: &mut UserFrame) -> ! {
    dump(frame);
    let kind = match frame.kind {
        k if k == EntryKind::Sync as u64 => "synchronous exception on an unused vector",
        k if k == EntryKind::Irq as u64 => "IRQ",
        k if k == EntryKind::Fiq as u64 => "FIQ",
        _ => "SError",
    };
    panic!(
        "unexpected {kind} from {} mode at pc {:#x}, ESR {:#x}",
        if frame.entered_from_user() {
            "user"
        } else {
            "kernel"
        },
        frame.pc,
        frame.esr
    );
}

fn dump(f: &UserFrame) {
    crate::println!(
        "exception: {} (EC {:#x}) ESR {:#x} FAR {:#018x}",
        exception_name(f.exception_class()),
        f.exception_class(),
        f.esr,
        f.far
    );
    crate::println!(
        "  pc {:#018x} pstate {:#x} sp_el0 {:#018x} kernel sp {:#018x}",
        f.pc,
        f.pstate,
        f.sp,
        f as *const UserFrame as usize + frame::FRAME_SIZE
    );
    for row in 0..8 {
        let mut line = [0u64; 4];
        let mut count = 0;
        for (i, value) in line.iter_mut().enumerate() {
            let reg = row * 4 + i;
            if reg < 31 {
                *value = f.x[reg];
                count += 1;
            }
        }
        crate::print!(" ");
        for (i, value) in line[..count].iter().enumerate() {
            crate::print!(" x{:<2} {:#018x}", row * 4 + i, value);
        }
        crate::println!();
    }
    crate::println!(
        "  ttbr0 {:#018x} ttbr1 {:#018x} tpidr_el0 {:#x}",
        TTBR0_EL1.get(),
        TTBR1_EL1.get(),
        f.tpidr
    );
}

/// Called by the return-to-user path when the frame is not at the top of the kernel stack
/// that `set_current_thread` announced.
extern "C" fn kernel_sp_mismatch(frame: &UserFrame) -> ! {
    panic!(
        "returning to user mode from a frame at {:p}, but the current thread's kernel stack top is elsewhere: \
         set_current_thread was not called for this thread, or its kernel stack is unbalanced",
        frame
    );
}

/// Called by the return-to-user path when the kernel stack canary does not match.
extern "C" fn kernel_stack_canary_failed() -> ! {
    panic!(
        "kernel stack overflow or PerCpuData layout drift: the bottom word of the current kernel stack \
         does not hold the per-CPU stack canary"
    );
}

/// Called by the return-to-user path when the frame's PSTATE is not EL0t.
extern "C" fn not_a_user_frame(frame: &UserFrame) -> ! {
    panic!(
        "returning to user mode with PSTATE {:#x}, which is not EL0t",
        frame.pstate
    );
}
