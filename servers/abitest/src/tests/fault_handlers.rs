//! Fault handlers: page faults, exceptions and unknown syscalls become messages to a thread's fault endpoint, and the reply resumes it.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use trona::ipc;
use trona::substrate;
use trona::uapi::kernel_message::{FaultReply, UnknownSyscall, UserException, VmFault};
use trona::uapi::{CPtr, Error, IpcMessage, MessageInfo, ObjectType, Received, Rights};

use crate::arch;
use crate::ctx::{Ctx, DEFAULT_TIMEOUT_TICKS};
use crate::harness::{Failure, Outcome, ensure, ok};

/// The value the faulting thread stores once its page is there.
const STORED: u64 = 0x00c0_ffee;

/// The address the faulting thread touches.
static TARGET: AtomicU64 = AtomicU64::new(0);
/// Set once the faulting thread went past its fault.
static RESUMED: AtomicBool = AtomicBool::new(false);
/// Set by the recovery function a handler resumes a thread at.
static RECOVERED: AtomicBool = AtomicBool::new(false);

extern "C" fn store_to_target(_: u64) -> ! {
    arch::write_word(TARGET.load(Ordering::Acquire), STORED);
    RESUMED.store(true, Ordering::Release);
    trona::exit()
}

extern "C" fn run_invalid_instruction(_: u64) -> ! {
    arch::invalid_instruction();
    RESUMED.store(true, Ordering::Release);
    trona::exit()
}

extern "C" fn recovered() -> ! {
    RECOVERED.store(true, Ordering::Release);
    trona::exit()
}

/// The syscall number the unknown-syscall test makes: above every syscall of the schema.
const UNKNOWN_NUMBER: u64 = 0x7777;

extern "C" fn unknown_syscall(_: u64) -> ! {
    let _ = trona::raw::trap(UNKNOWN_NUMBER, [0; 6]);
    RESUMED.store(true, Ordering::Release);
    trona::exit()
}

/// A thread at `entry` whose faults go to `endpoint` (a capability address in the suite's
/// CSpace, which the thread shares), started.
fn faulting_thread(
    ctx: &mut Ctx,
    entry: extern "C" fn(u64) -> !,
    endpoint: CPtr,
) -> Result<rootlib::Thread, Failure> {
    let thread = ctx.create_thread(entry, 0)?;
    let started = substrate::tcb_set_fault_handler(thread.tcb, endpoint.0)
        .and_then(|()| substrate::tcb_resume(thread.tcb));
    if let Err(error) = started {
        ctx.destroy(thread)?;
        return Err(Failure::new(format_args!(
            "starting the faulting thread: {}",
            error.name()
        )));
    }
    Ok(thread)
}

/// A tiny pager: the thread's store to an unmapped page arrives as a VmFault with the
/// address; the handler maps a frame there and replies, and the store completes.
pub fn pager_maps_and_resumes(ctx: &mut Ctx) -> Outcome {
    RESUMED.store(false, Ordering::Relaxed);
    let address = ctx.unmapped_address()?;
    TARGET.store(address, Ordering::Release);
    let endpoint = ctx.create(ObjectType::Endpoint)?;
    let before = ctx.fault_count()?;
    let thread = faulting_thread(ctx, store_to_target, endpoint)?;
    let fault = substrate::recv(endpoint);
    let frame = ctx.create(ObjectType::Frame)?;
    let mapped = ctx
        .res
        .map_frame(
            rootlib::ROOT_VSPACE,
            frame,
            address,
            Rights::READ.union(Rights::WRITE),
        )
        .map_err(Failure::from);
    let replied = substrate::reply(&IpcMessage::default());
    let resumed = ctx.wait_until(DEFAULT_TIMEOUT_TICKS, || RESUMED.load(Ordering::Acquire));
    let value = if mapped.is_ok() {
        arch::read_word(address)
    } else {
        0
    };
    let after = ctx.fault_count()?;
    ctx.destroy(thread)?;
    let unmapped = substrate::vspace_unmap_frame(rootlib::ROOT_VSPACE, frame);
    ctx.delete(frame)?;
    ctx.delete(endpoint)?;
    let fault = ok("recv the fault", fault)?;
    let vm = decode_vm_fault(&fault)?;
    ensure!(
        vm.address == address && vm.instruction_fetch == 0 && vm.ip != 0,
        "VmFault {{ ip: {:#x}, address: {:#x}, instruction_fetch: {} }} for a store to {address:#x}",
        vm.ip,
        vm.address,
        vm.instruction_fetch
    );
    mapped?;
    ok("reply to the fault", replied)?;
    ok("unmap", unmapped)?;
    ensure!(resumed, "the thread did not go on after the reply");
    ensure!(value == STORED, "the resumed store wrote {value:#x}");
    ensure!(
        after == before + 1,
        "{} faults counted, expected 1",
        after - before
    );
    Ok(())
}

fn decode_vm_fault(fault: &Received) -> Result<VmFault, Failure> {
    let info = fault.message.info;
    ensure!(
        info.label() == VmFault::LABEL,
        "the fault message has label {:#x}, expected VmFault {:#x}",
        info.label(),
        VmFault::LABEL
    );
    let length = usize::from(info.length());
    VmFault::decode(&fault.message.regs[..length.min(fault.message.regs.len())])
        .ok_or_else(|| Failure::new(format_args!("a VmFault of {length} words")))
}

/// An undefined instruction arrives as a UserException; the handler's reply names a new
/// instruction pointer, where the thread carries on.
pub fn exception_resumes_at_new_ip(ctx: &mut Ctx) -> Outcome {
    RESUMED.store(false, Ordering::Relaxed);
    RECOVERED.store(false, Ordering::Relaxed);
    let endpoint = ctx.create(ObjectType::Endpoint)?;
    let thread = faulting_thread(ctx, run_invalid_instruction, endpoint)?;
    let fault = substrate::recv(endpoint);
    let resume = FaultReply {
        ip: recovered as *const () as usize as u64,
    };
    let words = resume.encode();
    let reply = ipc::short(0, &words).unwrap_or_default();
    let replied = substrate::reply(&reply);
    let recovered = ctx.wait_until(DEFAULT_TIMEOUT_TICKS, || RECOVERED.load(Ordering::Acquire));
    ctx.destroy(thread)?;
    ctx.delete(endpoint)?;
    let fault = ok("recv the exception", fault)?;
    let info = fault.message.info;
    ensure!(
        info.label() == UserException::LABEL,
        "the exception arrived with label {:#x}",
        info.label()
    );
    let length = usize::from(info.length());
    let exception = UserException::decode(&fault.message.regs[..length])
        .ok_or_else(|| Failure::new(format_args!("a UserException of {length} words")))?;
    ensure!(exception.ip != 0, "the exception's ip is 0");
    ok("reply with a new ip", replied)?;
    ensure!(recovered, "the thread did not resume at the new ip");
    ensure!(
        !RESUMED.load(Ordering::Acquire),
        "the thread went past its undefined instruction"
    );
    Ok(())
}

/// An unknown syscall of a thread with a fault handler arrives as UnknownSyscall with the
/// number; the reply resumes the thread after the trap.
pub fn unknown_syscall_goes_to_handler(ctx: &mut Ctx) -> Outcome {
    RESUMED.store(false, Ordering::Relaxed);
    let endpoint = ctx.create(ObjectType::Endpoint)?;
    let thread = faulting_thread(ctx, unknown_syscall, endpoint)?;
    let fault = substrate::recv(endpoint);
    let replied = substrate::reply(&IpcMessage::default());
    let resumed = ctx.wait_until(DEFAULT_TIMEOUT_TICKS, || RESUMED.load(Ordering::Acquire));
    ctx.destroy(thread)?;
    ctx.delete(endpoint)?;
    let fault = ok("recv the unknown syscall", fault)?;
    let info = fault.message.info;
    let length = usize::from(info.length());
    let decoded = (info.label() == UnknownSyscall::LABEL)
        .then(|| UnknownSyscall::decode(&fault.message.regs[..length]))
        .flatten();
    let Some(decoded) = decoded else {
        return Err(Failure::new(format_args!(
            "expected an UnknownSyscall message, got {info:?}"
        )));
    };
    ensure!(
        decoded.number == UNKNOWN_NUMBER,
        "UnknownSyscall carries number {:#x}",
        decoded.number
    );
    ok("reply", replied)?;
    ensure!(
        resumed,
        "the thread did not go on after its unknown syscall"
    );
    Ok(())
}

/// The thread stops as it did without a handler when its fault handler names no
/// endpoint, an endpoint without write, or an endpoint destroyed while the fault waits.
pub fn unusable_handlers_stop_the_thread(ctx: &mut Ctx) -> Outcome {
    let endpoint = ctx.create(ObjectType::Endpoint)?;
    let read_only = ctx.copy_with_rights(endpoint, Rights::READ)?;
    let notification = ctx.create(ObjectType::Notification)?;
    let empty = ctx.empty_slot()?;
    let mut result = Ok(());
    for (what, handler) in [
        ("an empty slot", empty),
        ("a notification", notification),
        ("a read-only endpoint", read_only),
    ] {
        RESUMED.store(false, Ordering::Relaxed);
        let before = ctx.fault_count()?;
        let thread = faulting_thread(ctx, run_invalid_instruction, handler)?;
        let counted = ctx.wait_until(DEFAULT_TIMEOUT_TICKS, || {
            ctx.fault_count().is_ok_and(|now| now > before)
        });
        ctx.wait_until(2, || RESUMED.load(Ordering::Acquire));
        let nothing_queued = substrate::nb_recv(endpoint);
        ctx.destroy(thread)?;
        if result.is_ok() {
            result = check_stopped(what, counted, nothing_queued);
        }
    }
    // A fault queued on an endpoint that is then destroyed.
    RESUMED.store(false, Ordering::Relaxed);
    let doomed = ctx.create(ObjectType::Endpoint)?;
    let thread = faulting_thread(ctx, run_invalid_instruction, doomed)?;
    ctx.wait_until(3, || false);
    ctx.delete(doomed)?;
    ctx.wait_until(3, || RESUMED.load(Ordering::Acquire));
    ctx.destroy(thread)?;
    ctx.release_slot(empty);
    ctx.delete(notification)?;
    ctx.delete(read_only)?;
    ctx.delete(endpoint)?;
    result?;
    ensure!(
        !RESUMED.load(Ordering::Acquire),
        "a thread whose fault endpoint was destroyed went on"
    );
    Ok(())
}

fn check_stopped(what: &str, counted: bool, queued: Result<Received, Error>) -> Outcome {
    ensure!(
        counted,
        "with {what} as fault handler the fault was not counted"
    );
    ensure!(
        !RESUMED.load(Ordering::Acquire),
        "with {what} as fault handler the thread went past its fault"
    );
    ensure!(
        queued == Err(Error::WouldBlock),
        "with {what} as fault handler a message arrived: {queued:?}"
    );
    Ok(())
}

/// The generated kernel-message layouts round-trip.
pub fn kernel_message_layouts(_: &mut Ctx) -> Outcome {
    let fault = VmFault {
        ip: 1,
        address: 2,
        instruction_fetch: 1,
        status: 4,
    };
    let words = fault.encode();
    ensure!(
        VmFault::decode(&words) == Some(fault),
        "VmFault does not round-trip"
    );
    ensure!(
        VmFault::decode(&words[..words.len() - 1]).is_none(),
        "a short VmFault decoded"
    );
    let info = MessageInfo::new().with_label(VmFault::LABEL).with_length(3);
    ensure!(
        MessageInfo::from_bits(info.bits()) == Some(info),
        "MessageInfo does not round-trip"
    );
    Ok(())
}
