//! The syscall layer: `handle_syscall` and `KernelImpl`, which implements every syscall and
//! invocation of the generated `Kernel` trait.
//!
//! The generated dispatcher decodes registers, resolves the invoked capability and every
//! capability argument through [`Kernel::lookup`], checks the object types and rights the
//! schema declares for them and calls one method here. These methods check what the
//! schema leaves to the kernel (the grant right and rights subsets of copies, mapping
//! rights against the frame's) and return an `abi::Error` for every user mistake. Each
//! may return only the errors its schema entry declares; the dispatcher reports any other
//! through [`Kernel::undeclared_error`].

use abi::{
    CPtr, CapIdentity, DEBUG_WRITE_MAX, Error, IpcMessage, NUM_CPUS, NUM_PRIORITIES, ObjectType,
    PAGE_SIZE, Received, Rights, USER_TOP, UserAddr, UserRegisters,
};
use kerncore::{Cap, CapState, cdt};

// Every object type id and every rights bit fits its `CapIdentity` field, so
// `cnode_identify`'s narrowing casts lose nothing.
const _: () = {
    let mut i = 0;
    while i < ObjectType::ALL.len() {
        assert!(ObjectType::ALL[i] as u64 <= CapIdentity::OBJECT_TYPE_MAX as u64);
        i += 1;
    }
    assert!(Rights::ALL.bits() <= CapIdentity::RIGHTS_MAX as u64);
};

use crate::arch::{self, EntryFrame};
use crate::generated::dispatch::{Kernel, TrapResults, dispatch};
use crate::ipc::{self, Blocking, FaultOutcome, Target};
use crate::object::cnode::{self, PhysSlots, SlotRef};
use crate::object::tcb::Syscall;
use crate::object::vspace::{self, MapError};
use crate::object::{self, Revoked, debug, notification, tcb, untyped};
use crate::sched;
use crate::usermem::{self, Access, UserSlice};

/// Handles one `syscall` from user mode: decode, dispatch, write the result registers.
///
/// The thread's registers are reached only through its TCB (`tcb::with_user_frame`), one
/// access at a time, as every other path to them does (`Tcb.write_registers` on oneself,
/// or by another thread while this one is switched away).
///
/// An unknown syscall number of a thread with a fault handler goes to the handler as an
/// `UnknownSyscall` kernel message (`ipc::deliver_fault`); its reply resumes the thread
/// after the trap with the registers the handler left, and writes no results.
pub fn handle_syscall(frame: EntryFrame) {
    let thread = sched::account_user_entry();
    let user_frame = tcb::with_tcb(thread, |tcb| {
        tcb.syscall = Syscall::Active;
        tcb.user_frame
    });
    debug_assert!(
        user_frame == frame.as_ptr(),
        "the entry frame is not the running thread's saved frame"
    );
    let (number, args, ipc_input) = tcb::with_user_frame(thread, |frame| {
        (
            frame.syscall_number(),
            frame.syscall_args(),
            frame.ipc_input(),
        )
    });
    #[cfg(feature = "trace")]
    crate::trace::entry(thread, number, &args);
    let fast = ipc::fastpath_candidate(number)
        .then(|| ipc::fastpath(thread, number, &ipc_input))
        .flatten();
    let results = match fast {
        Some(result) => TrapResults::Ipc {
            status: result.as_ref().map_or_else(|error| error.code(), |_| 0),
            received: result.ok(),
        },
        None => dispatch(
            &mut KernelImpl { missing_level: 0 },
            number,
            args,
            ipc_input,
        ),
    };
    // Only a refused trap can be an unknown syscall, so the common path never asks.
    let refused = matches!(results, TrapResults::Plain([status, _]) if status != 0);
    if refused && abi::Syscall::try_from(number).is_err() && unknown_syscall_fault(thread, number) {
        // The handler's reply resumed the thread with the registers it left: no results.
        tcb::with_tcb(thread, |tcb| tcb.syscall = Syscall::Abandoned);
    }
    // The thread may have been switched away and back; if its registers were rewritten
    // meanwhile (`tcb::write_registers`), the results must not overwrite them. An IPC
    // interrupted before it did anything makes the syscall again.
    let syscall = tcb::with_tcb(thread, |tcb| {
        core::mem::replace(&mut tcb.syscall, Syscall::Idle)
    });
    let _written = match syscall {
        Syscall::Abandoned => false,
        Syscall::Restart => {
            tcb::with_user_frame(thread, |frame| frame.restart_syscall());
            false
        }
        Syscall::Active | Syscall::Idle => {
            tcb::with_user_frame(thread, |frame| match &results {
                TrapResults::Plain(registers) => frame.set_results(*registers),
                TrapResults::Ipc { status, received } => {
                    frame.set_ipc_results(*status, received.as_ref())
                }
            });
            true
        }
    };
    #[cfg(feature = "trace")]
    crate::trace::exit(thread, _written.then(|| traced_registers(&results)));
    sched::leave_to_user();
}

/// What a trace record shows of a trap's results: the status and value registers, or for
/// an IPC the status and the received badge.
#[cfg(feature = "trace")]
fn traced_registers(results: &TrapResults) -> [u64; 2] {
    match results {
        TrapResults::Plain(registers) => *registers,
        TrapResults::Ipc { status, received } => {
            [*status, received.as_ref().map_or(0, |r| r.badge)]
        }
    }
}

/// Offers an unknown syscall to the running thread's fault handler; whether the handler
/// took it (the thread then resumes, or stopped and was resumed, without results).
fn unknown_syscall_fault(thread: u64, number: u64) -> bool {
    let ip = tcb::with_user_frame(thread, |frame| frame.ip());
    let fault = abi::kernel_message::UnknownSyscall { ip, number };
    match ipc::deliver_fault(abi::kernel_message::UnknownSyscall::LABEL, &fault.encode()) {
        FaultOutcome::NoHandler => false,
        FaultOutcome::Resumed => true,
        FaultOutcome::Stopped => {
            crate::println!(
                "user fault: thread {thread:#x}, unknown syscall {number:#x} at ip {ip:#x}, its fault handler is gone"
            );
            sched::exit_current();
            true
        }
    }
}

/// Whether the thread of `authority` may give a thread `priority` as its priority or MCP:
/// `InvalidArgument` outside the priority range, `AboveMcp` above the authority's MCP.
fn check_mcp(priority: u8, authority: &Resolved) -> Result<(), Error> {
    if priority >= NUM_PRIORITIES {
        return Err(Error::InvalidArgument);
    }
    let mcp = tcb::with_tcb(authority.cap.object.paddr, |tcb| tcb.mcp);
    if priority > mcp {
        return Err(Error::AboveMcp);
    }
    Ok(())
}

/// A capability resolved in the current thread's CSpace, with where it lives.
#[derive(Clone, Copy, Debug)]
pub struct Resolved {
    /// The capability.
    pub cap: Cap,
    /// Its slot.
    pub slot: SlotRef,
}

/// The kernel side of the generated dispatcher.
pub struct KernelImpl {
    /// The level reported with the last `MissingTable` error.
    missing_level: u8,
}

impl KernelImpl {
    /// The location `cptr` names in the current thread's CSpace root: `InvalidCapability`
    /// for slot 0, an index outside the CNode, or a thread without a CSpace.
    fn slot_of(cptr: CPtr) -> Result<SlotRef, Error> {
        cnode::cspace_slot(sched::current(), cptr.0)
    }

    /// Places a capability derived from `source` in slot `dest_index` of `target`, as its
    /// child on the derivation tree.
    fn place_copy(
        target: &Resolved,
        dest_index: u64,
        source: &Resolved,
        copy: Cap,
    ) -> Result<(), Error> {
        let dest = cnode::dest_slot(&target.cap, dest_index)?;
        cnode::check_empty(dest)?;
        cnode::set(dest, Some(copy))?;
        cdt::insert_after(&mut PhysSlots, source.slot.paddr(), dest.paddr(), true);
        Ok(())
    }

    fn map_result<T>(&mut self, result: Result<T, MapError>) -> Result<T, Error> {
        result.map_err(|error| match error {
            MapError::Error(error) => error,
            MapError::Missing(level) => {
                self.missing_level = level;
                Error::MissingTable
            }
        })
    }

    /// Stores `cap` with a new mapping state back into its slot.
    fn record_mapping(
        resolved: &Resolved,
        mapping: Option<kerncore::Mapping>,
    ) -> Result<(), Error> {
        cnode::set(
            resolved.slot,
            Some(Cap {
                state: CapState::Mappable(mapping),
                ..resolved.cap
            }),
        )
    }
}

impl Kernel for KernelImpl {
    type Cap = Resolved;

    fn lookup(&mut self, cptr: CPtr) -> Result<Resolved, Error> {
        let slot = Self::slot_of(cptr)?;
        let cap = cnode::get(slot).ok_or(Error::InvalidCapability)?;
        Ok(Resolved { cap, slot })
    }

    fn object_type(cap: &Resolved) -> ObjectType {
        cap.cap.object.object_type
    }

    fn rights(cap: &Resolved) -> Rights {
        cap.cap.rights
    }

    fn error_value(&mut self, error: Error) -> u64 {
        if error == Error::MissingTable {
            u64::from(self.missing_level)
        } else {
            0
        }
    }

    fn undeclared_error(&mut self, entry: &'static str, error: Error) {
        // `cargo xtask test` fails a boot whose serial output holds this line.
        crate::println!(
            "ABI DRIFT: {entry} returned undeclared error {}",
            error.name()
        );
    }

    fn sys_null(&mut self) -> Result<(), Error> {
        Ok(())
    }

    fn sys_sched_yield(&mut self) -> Result<(), Error> {
        sched::yield_current();
        Ok(())
    }

    fn sys_debug_write(&mut self, buf: UserAddr, len: u64) -> Result<u64, Error> {
        let slice = UserSlice::prefix(buf, len, DEBUG_WRITE_MAX, Access::Read)?;
        slice.for_each_chunk(arch::console_write);
        Ok(slice.len())
    }

    fn sys_thread_exit(&mut self) -> Result<(), Error> {
        sched::exit_current();
        Ok(())
    }

    fn sys_ticks(&mut self) -> Result<u64, Error> {
        Ok(sched::ticks())
    }

    fn untyped_retype(
        &mut self,
        target: Resolved,
        object_type: ObjectType,
        size_bits: u8,
        dest_cnode: Resolved,
        dest_index: u64,
    ) -> Result<(), Error> {
        let dest = cnode::dest_slot(&dest_cnode.cap, dest_index)?;
        untyped::retype(&target.cap, target.slot, object_type, size_bits, dest)
    }

    fn untyped_describe(&mut self, target: Resolved) -> Result<u64, Error> {
        untyped::describe(&target.cap, target.slot)
    }

    fn tcb_configure(
        &mut self,
        target: Resolved,
        cspace: Resolved,
        vspace: Resolved,
    ) -> Result<(), Error> {
        let slot_bits = cnode::slot_bits(&cspace.cap)?;
        tcb::configure(
            target.cap.object.paddr,
            (cspace.cap.object.paddr, slot_bits),
            vspace.cap.object.paddr,
        )
    }

    fn tcb_resume(&mut self, target: Resolved) -> Result<(), Error> {
        let thread = target.cap.object.paddr;
        let configured = tcb::with_tcb(thread, |tcb| tcb.cspace != 0 && tcb.vspace != 0);
        if !configured {
            return Err(Error::IllegalOperation);
        }
        sched::resume(thread);
        Ok(())
    }

    fn tcb_suspend(&mut self, target: Resolved) -> Result<(), Error> {
        sched::suspend(target.cap.object.paddr);
        Ok(())
    }

    fn tcb_write_registers(&mut self, target: Resolved, regs: UserAddr) -> Result<(), Error> {
        let regs: UserRegisters = usermem::read(regs)?;
        tcb::write_registers(target.cap.object.paddr, &regs);
        Ok(())
    }

    fn tcb_set_affinity(&mut self, target: Resolved, cpu: u32) -> Result<(), Error> {
        // A CPU the kernel supports but that does not run is as invalid as one beyond
        // NUM_CPUS: a thread pinned there would never run.
        if cpu >= NUM_CPUS || !crate::smp::is_online(cpu as usize) {
            return Err(Error::InvalidArgument);
        }
        sched::set_affinity(target.cap.object.paddr, cpu as usize);
        Ok(())
    }

    fn tcb_read_registers(&mut self, target: Resolved, regs: UserAddr) -> Result<(), Error> {
        let value = tcb::read_registers(target.cap.object.paddr);
        usermem::write(regs, &value)
    }

    fn tcb_set_priority(
        &mut self,
        target: Resolved,
        priority: u8,
        authority: Resolved,
    ) -> Result<(), Error> {
        check_mcp(priority, &authority)?;
        sched::set_priority(target.cap.object.paddr, priority);
        Ok(())
    }

    fn tcb_set_mcp(&mut self, target: Resolved, mcp: u8, authority: Resolved) -> Result<(), Error> {
        check_mcp(mcp, &authority)?;
        tcb::with_tcb(target.cap.object.paddr, |tcb| tcb.mcp = mcp);
        Ok(())
    }

    fn tcb_bind_notification(
        &mut self,
        target: Resolved,
        notification: Resolved,
    ) -> Result<(), Error> {
        notification::bind(notification.cap.object.paddr, target.cap.object.paddr)
    }

    fn tcb_unbind_notification(&mut self, target: Resolved) -> Result<(), Error> {
        let thread = target.cap.object.paddr;
        match tcb::with_tcb(thread, |tcb| tcb.bound_notification) {
            0 => Err(Error::IllegalOperation),
            notification => {
                notification::unbind(notification, thread);
                Ok(())
            }
        }
    }

    fn tcb_get_cpu_times(&mut self, target: Resolved, times: UserAddr) -> Result<(), Error> {
        let value = tcb::with_tcb(target.cap.object.paddr, |tcb| tcb.times);
        usermem::write(times, &value)
    }

    fn vspace_map_frame(
        &mut self,
        target: Resolved,
        frame: Resolved,
        vaddr: u64,
        rights: Rights,
    ) -> Result<(), Error> {
        if frame.cap.mapping().is_some() {
            return Err(Error::AlreadyMapped);
        }
        if !frame.cap.rights.contains(rights) {
            return Err(Error::InsufficientRights);
        }
        let mapping = self.map_result(vspace::map_frame(
            target.cap.object.paddr,
            frame.cap.object.paddr,
            vaddr,
            rights,
            frame.slot.paddr(),
        ))?;
        Self::record_mapping(&frame, Some(mapping))
    }

    fn vspace_unmap_frame(&mut self, target: Resolved, frame: Resolved) -> Result<(), Error> {
        let mapping = frame.cap.mapping().ok_or(Error::NotMapped)?;
        if mapping.vspace != target.cap.object.paddr {
            return Err(Error::NotMapped);
        }
        vspace::unmap_frame_mapping(frame.cap.object.paddr, mapping, frame.slot.paddr());
        Self::record_mapping(&frame, None)
    }

    fn vspace_map_table(
        &mut self,
        target: Resolved,
        table: Resolved,
        vaddr: u64,
        level: u8,
    ) -> Result<(), Error> {
        if table.cap.mapping().is_some() {
            return Err(Error::AlreadyMapped);
        }
        let mapping = self.map_result(vspace::map_table(
            target.cap.object.paddr,
            table.cap.object.paddr,
            vaddr,
            level,
            table.slot.paddr(),
        ))?;
        Self::record_mapping(&table, Some(mapping))
    }

    fn vspace_lookup(&mut self, target: Resolved, vaddr: u64) -> Result<u64, Error> {
        vspace::lookup(target.cap.object.paddr, vaddr).map(|rights| rights.bits())
    }

    fn cnode_copy(
        &mut self,
        target: Resolved,
        dest_index: u64,
        src: Resolved,
        rights: Rights,
    ) -> Result<(), Error> {
        // kerncore checks the grant right again (defence in depth) and the rights subset.
        let copy = kerncore::cap::derive_copy(&src.cap, rights)?;
        Self::place_copy(&target, dest_index, &src, copy)
    }

    fn cnode_mint(
        &mut self,
        target: Resolved,
        dest_index: u64,
        src: Resolved,
        rights: Rights,
        badge: u64,
    ) -> Result<(), Error> {
        let copy = kerncore::cap::derive_mint(&src.cap, rights, badge)?;
        Self::place_copy(&target, dest_index, &src, copy)
    }

    fn cnode_move_cap(
        &mut self,
        target: Resolved,
        dest_index: u64,
        src: Resolved,
    ) -> Result<(), Error> {
        let dest = cnode::dest_slot(&target.cap, dest_index)?;
        cnode::check_empty(dest)?;
        cnode::set(dest, Some(src.cap))?;
        if let Some(mapping) = src.cap.mapping() {
            vspace::rehome(
                src.cap.object.paddr,
                mapping,
                src.slot.paddr(),
                dest.paddr(),
            );
        }
        cdt::move_node(&mut PhysSlots, src.slot.paddr(), dest.paddr());
        cnode::set(src.slot, None)
    }

    fn cnode_delete(&mut self, target: Resolved, index: u64) -> Result<(), Error> {
        let slot = cnode::dest_slot(&target.cap, index)?;
        object::delete(slot)
    }

    fn cnode_revoke(&mut self, target: Resolved, index: u64) -> Result<u64, Error> {
        let slot = cnode::dest_slot(&target.cap, index)?;
        Ok(match object::revoke(slot)? {
            Revoked::Done => 0,
            Revoked::Pending => 1,
        })
    }

    fn cnode_identify(&mut self, target: Resolved, index: u64) -> Result<CapIdentity, Error> {
        let slot = cnode::dest_slot(&target.cap, index)?;
        Ok(match cnode::peek(slot) {
            None => CapIdentity::new(),
            // Both fit (the constant assertion at the top of this file).
            Some((object, rights, _badge)) => CapIdentity::new()
                .with_object_type(object.object_type as u8)
                .with_rights(rights.bits() as u8),
        })
    }

    fn frame_physical_address(&mut self, target: Resolved) -> Result<u64, Error> {
        Ok(target.cap.object.paddr)
    }

    fn page_table_unmap(&mut self, target: Resolved) -> Result<(), Error> {
        let mapping = target.cap.mapping().ok_or(Error::NotMapped)?;
        if !vspace::table_is_empty(target.cap.object.paddr) {
            return Err(Error::Busy);
        }
        vspace::unmap_table_mapping(target.cap.object.paddr, mapping, target.slot.paddr());
        Self::record_mapping(&target, None)
    }

    fn notification_signal(&mut self, target: Resolved) -> Result<(), Error> {
        let bits = if target.cap.badge == 0 {
            1
        } else {
            target.cap.badge
        };
        notification::signal(target.cap.object.paddr, bits);
        Ok(())
    }

    fn notification_wait(&mut self, target: Resolved) -> Result<u64, Error> {
        notification::wait(target.cap.object.paddr)
    }

    fn notification_poll(&mut self, target: Resolved) -> Result<u64, Error> {
        notification::poll(target.cap.object.paddr)
    }

    fn tcb_set_ipc_buffer(&mut self, target: Resolved, vaddr: u64) -> Result<(), Error> {
        if vaddr >= USER_TOP || !vaddr.is_multiple_of(PAGE_SIZE) {
            return Err(Error::InvalidArgument);
        }
        tcb::with_tcb(target.cap.object.paddr, |tcb| tcb.ipc_buffer = vaddr);
        Ok(())
    }

    fn tcb_set_fault_handler(&mut self, target: Resolved, endpoint: u64) -> Result<(), Error> {
        tcb::with_tcb(target.cap.object.paddr, |tcb| tcb.fault_handler = endpoint);
        Ok(())
    }

    fn sys_send(&mut self, endpoint: Resolved, message: IpcMessage) -> Result<(), Error> {
        ipc::send(Target::of(&endpoint.cap), message, Blocking::Yes)
    }

    fn sys_nb_send(&mut self, endpoint: Resolved, message: IpcMessage) -> Result<(), Error> {
        ipc::send(Target::of(&endpoint.cap), message, Blocking::No)
    }

    fn sys_call(&mut self, endpoint: Resolved, message: IpcMessage) -> Result<Received, Error> {
        ipc::call(Target::of(&endpoint.cap), message)
    }

    fn sys_recv(&mut self, endpoint: Resolved) -> Result<Received, Error> {
        ipc::receive(endpoint.cap.object.paddr, Blocking::Yes, None)
    }

    fn sys_nb_recv(&mut self, endpoint: Resolved) -> Result<Received, Error> {
        ipc::receive(endpoint.cap.object.paddr, Blocking::No, None)
    }

    fn sys_reply(&mut self, message: IpcMessage) -> Result<(), Error> {
        let caller = ipc::reply(message)?;
        sched::make_runnable(caller);
        Ok(())
    }

    fn sys_reply_recv(
        &mut self,
        endpoint: Resolved,
        message: IpcMessage,
    ) -> Result<Received, Error> {
        ipc::reply_recv(endpoint.cap.object.paddr, message)
    }

    fn kernel_debug_check_frames(&mut self, _target: Resolved) -> Result<u64, Error> {
        debug::check_frames()
    }

    fn kernel_debug_check_mappings(&mut self, _target: Resolved) -> Result<u64, Error> {
        object::mapcheck::check_mappings()
    }

    fn kernel_debug_frame_count(&mut self, _target: Resolved, state: u8) -> Result<u64, Error> {
        debug::frame_count(state)
    }

    fn kernel_debug_fault_count(&mut self, _target: Resolved) -> Result<u64, Error> {
        Ok(sched::fault_count())
    }

    fn kernel_debug_current_cpu(&mut self, _target: Resolved) -> Result<u64, Error> {
        Ok(sched::current_cpu() as u64)
    }

    fn kernel_debug_shutdown(&mut self, _target: Resolved, code: u32) -> Result<(), Error> {
        crate::power_off(code)
    }
}
