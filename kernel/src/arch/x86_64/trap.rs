//! The IDT and the Rust side of interrupt and exception entry.

use super::cpu;
use super::frame::{UserFrame, exception_name};
use super::gdt::{IST_DOUBLE_FAULT, IST_NMI, KERNEL_CS};
use super::{apic, timer};
use crate::arch::FaultInfo;
use crate::arch::hooks;
use crate::cell::BklCell;
use core::arch::asm;

/// Number of IDT vectors with an entry stub: the 32 exceptions, the 16 PIC IRQs and the
/// 16 local APIC vectors from `apic::FIRST_VECTOR` on.
pub const STUB_COUNT: usize = 64;
const _: () =
    assert!(apic::FIRST_VECTOR as usize == 48 && apic::LAST_VECTOR as usize == STUB_COUNT - 1);
/// Bytes between consecutive stubs in `trap.S`.
pub const STUB_SIZE: usize = 16;

const VECTOR_NMI: u8 = 2;
const VECTOR_NM: u8 = 7;
const VECTOR_DF: u8 = 8;
const VECTOR_GP: u8 = 13;
const VECTOR_PF: u8 = 14;
const VECTOR_MC: u8 = 18;
/// Exceptions occupy vectors 0..32; everything above is an interrupt.
const EXCEPTION_COUNT: u64 = 32;

unsafe extern "C" {
    static trap_stubs: u8;
}

/// One 16-byte IDT gate.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct Gate {
    low: u64,
    high: u64,
}

/// The IDT every CPU loads: written once by the boot CPU before any other CPU runs, only
/// read afterwards.
static IDT: BklCell<[Gate; 256]> = BklCell::new([Gate { low: 0, high: 0 }; 256]);

/// Fills the IDT and loads it on the boot CPU: interrupt gates (IF cleared on entry), DPL
/// 0, the double fault on its own IST stack, NMI and machine check on another (each CPU's
/// TSS names its own stacks).
pub fn init() {
    let stubs = (&raw const trap_stubs) as u64;
    for vector in 0..STUB_COUNT {
        let handler = stubs + (vector * STUB_SIZE) as u64;
        let ist = match vector as u8 {
            VECTOR_DF => IST_DOUBLE_FAULT,
            VECTOR_NMI | VECTOR_MC => IST_NMI,
            _ => 0,
        };
        let low = (handler & 0xffff)
            | (u64::from(KERNEL_CS) << 16)
            | (u64::from(ist) << 32)
            | (0x8e << 40) // Present, DPL 0, 64-bit interrupt gate.
            | (((handler >> 16) & 0xffff) << 48);
        // SAFETY: Runs once during early boot, before the IDT is loaded.
        unsafe {
            (*IDT.get())[vector] = Gate {
                low,
                high: handler >> 32,
            }
        };
    }
    load();
}

/// Loads the IDT [`init`] filled on the running CPU.
pub fn load() {
    #[repr(C, packed)]
    struct Pointer {
        limit: u16,
        base: u64,
    }
    let pointer = Pointer {
        limit: (core::mem::size_of::<[Gate; 256]>() - 1) as u16,
        base: IDT.get() as u64,
    };
    // SAFETY: The IDT is a static that lives forever and every present gate points at a stub.
    unsafe { asm!("lidt [{}]", in(reg) &raw const pointer, options(nostack, preserves_flags)) };
}

/// Called by `trap_common` with the saved frame of every interrupt and exception. From
/// user mode it takes the big kernel lock (released on the return path); an interrupt in
/// kernel mode (an idle loop) runs under the lock for its own duration.
pub extern "C" fn trap_dispatch(frame: *mut UserFrame) {
    // SAFETY: `trap_common` passes the frame it just saved on the current kernel stack.
    let frame = unsafe { hooks::EntryFrame::new(frame) };
    let (vector, from_user) = frame.with(|f| (f.vector, f.entered_from_user()));
    if from_user && !hooks::enter_from_user(crate::smp::Entry::Other) {
        // Another CPU stalled the thread: an interrupt still gets its end (handled as if
        // from the kernel, so it switches nothing), an exception recurs when the
        // instruction runs again.
        if vector >= EXCEPTION_COUNT {
            interrupt(vector, false);
        }
        hooks::abandon_entry();
        return;
    }
    match vector {
        vector if vector < EXCEPTION_COUNT => exception(frame),
        vector if from_user => interrupt(vector, true),
        vector => hooks::interrupt_in_kernel(|| interrupt(vector, false)),
    }
}

/// Sends an interrupt to its controller's handler: the 8259 PIC's or the local APIC's.
fn interrupt(vector: u64, from_user: bool) {
    if vector >= u64::from(apic::FIRST_VECTOR) {
        apic::interrupt(vector, from_user);
    } else {
        timer::interrupt(vector, from_user);
    }
}

fn exception(entry: hooks::EntryFrame) {
    let (vector, error_code, from_user) =
        entry.with(|f| (f.vector as u8, f.error_code, f.entered_from_user()));
    // A double fault reports CR2 too: when a kernel stack overflows, the #PF on the guard
    // page cannot push its frame there and becomes a #DF, with CR2 still in the guard.
    let address = if matches!(vector, VECTOR_PF | VECTOR_DF) {
        cpu::read_cr2()
    } else {
        0
    };
    if from_user && !matches!(vector, VECTOR_NM | VECTOR_DF | VECTOR_NMI | VECTOR_MC) {
        hooks::user_fault(
            entry,
            FaultInfo {
                vector,
                error_code,
                address,
            },
        );
        return;
    }
    // A kernel bug from here on: the frame is only read, to report it.
    entry.with(|frame| kernel_fault(frame, vector, address));
}

fn kernel_fault(frame: &UserFrame, vector: u8, address: u64) -> ! {
    if matches!(vector, VECTOR_PF | VECTOR_DF)
        && let Some(overflow) = crate::arch::current_stack_overflow(&[address, frame.rsp])
    {
        dump(frame, address);
        crate::arch::stack_overflow_panic(overflow, frame.rip, frame.rsp, address);
    }
    match vector {
        VECTOR_NM => {
            dump(frame, address);
            panic!(
                "lazy FPU reintroduced: #NM at rip {:#x}; CR0.TS must stay 0 because the FPU is switched eagerly",
                frame.rip
            );
        }
        VECTOR_DF => {
            dump(frame, address);
            panic!(
                "double fault at rip {:#x} with rsp {:#x}: most likely a kernel stack overflow \
                 (or a fault while delivering another)",
                frame.rip, frame.rsp
            );
        }
        _ => kernel_exception(frame, address),
    }
}

fn kernel_exception(frame: &UserFrame, address: u64) -> ! {
    dump(frame, address);
    if frame.vector == u64::from(VECTOR_PF) && crate::arch::is_unmapped_direct_page(address) {
        panic!(
            "kernel touched the unmapped direct-map page at {address:#x} (a kernel stack's guard \
             page, not the running thread's) at rip {:#x}",
            frame.rip
        );
    }
    panic!(
        "unexpected {} (vector {}) in {} mode at rip {:#x}, error code {:#x}, cr2 {:#x}",
        exception_name(frame.vector as u8),
        frame.vector,
        if frame.entered_from_user() {
            "user"
        } else {
            "kernel"
        },
        frame.rip,
        frame.error_code,
        address
    );
}

fn dump(f: &UserFrame, cr2: u64) {
    crate::println!(
        "exception {} ({}) error code {:#x}",
        f.vector,
        exception_name(f.vector as u8),
        f.error_code
    );
    crate::println!(
        "  rip {:#018x} cs {:#x} rflags {:#x} rsp {:#018x} ss {:#x} cr2 {:#018x}",
        f.rip,
        f.cs,
        f.rflags,
        f.rsp,
        f.ss,
        cr2
    );
    crate::println!(
        "  rax {:#018x} rbx {:#018x} rcx {:#018x} rdx {:#018x}",
        f.rax,
        f.rbx,
        f.rcx,
        f.rdx
    );
    crate::println!(
        "  rsi {:#018x} rdi {:#018x} rbp {:#018x} r8  {:#018x}",
        f.rsi,
        f.rdi,
        f.rbp,
        f.r8
    );
    crate::println!(
        "  r9  {:#018x} r10 {:#018x} r11 {:#018x} r12 {:#018x}",
        f.r9,
        f.r10,
        f.r11,
        f.r12
    );
    crate::println!(
        "  r13 {:#018x} r14 {:#018x} r15 {:#018x} cr3 {:#018x}",
        f.r13,
        f.r14,
        f.r15,
        cpu::read_cr3()
    );
}

/// Called by the return-to-user path when the frame's rip is not a canonical user
/// address: `iretq`/`sysretq` would fault in ring 0, so it is the thread's fault instead.
pub extern "C" fn bad_user_return(frame: *mut UserFrame) {
    // SAFETY: The return path passes the current thread's saved frame.
    let frame = unsafe { hooks::EntryFrame::new(frame) };
    let address = frame.with(|f| f.rip);
    hooks::user_fault(
        frame,
        FaultInfo {
            vector: VECTOR_GP,
            error_code: 0,
            address,
        },
    );
}

/// Called by the return-to-user path when the kernel stack canary does not match.
pub extern "C" fn kernel_stack_canary_failed() -> ! {
    panic!(
        "kernel stack overflow or PerCpuData layout drift: the bottom word of the current kernel stack \
         does not hold the per-CPU stack canary"
    );
}
