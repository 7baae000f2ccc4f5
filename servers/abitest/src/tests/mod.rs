//! The test table: every test of the suite, in the order they run, with the schema entries each covers.

mod attacks;
mod capargs;
mod cdt;
mod cnode;
mod errors;
mod fault_handlers;
mod faults;
mod ipc;
mod kdebug;
mod lifetimes;
mod notification;
mod process;
mod protocols;
mod sched;
mod smp;
mod syscalls;
mod tcb;
mod untyped;
mod usermem;
mod vspace;

use trona::protocols::Message as M;
use trona::uapi::{CPtr, Error, Invocation as I, Syscall, UserAddr};

pub use ipc::own_ipc_buffer;

use crate::ctx::Ctx;
use crate::harness::{Entry, Failure, Outcome, Test, ensure};

/// An address in the kernel half of every address space.
pub const KERNEL_ADDRESS: u64 = 0xffff_8000_0000_0000;

/// An address above user space that is not canonical on x86_64 (and beyond 48 bits on aarch64).
pub const NON_CANONICAL_ADDRESS: u64 = 0x0000_8000_0000_0000;

const fn sys(syscall: Syscall) -> Entry {
    Entry::Sys(syscall)
}

const fn inv(invocation: I) -> Entry {
    Entry::Inv(invocation)
}

const fn msg(message: M) -> Entry {
    Entry::Msg(message)
}

/// Every test, in run order; `check_frames_at_end` stays last.
pub static TESTS: &[Test] = &[
    Test {
        name: "null",
        covers: &[sys(Syscall::Null)],
        run: syscalls::null,
    },
    Test {
        name: "ticks_advance",
        covers: &[sys(Syscall::Ticks)],
        run: syscalls::ticks_advance,
    },
    Test {
        name: "cpu_count",
        covers: &[],
        run: smp::cpu_count,
    },
    Test {
        name: "debug_write",
        covers: &[sys(Syscall::DebugWrite)],
        run: syscalls::debug_write,
    },
    Test {
        name: "unknown_syscall",
        covers: &[],
        run: unknown_syscall,
    },
    Test {
        name: "sched_yield",
        covers: &[sys(Syscall::SchedYield)],
        run: syscalls::sched_yield,
    },
    Test {
        name: "thread_exit",
        covers: &[sys(Syscall::ThreadExit)],
        run: syscalls::thread_exit,
    },
    Test {
        name: "invalid_capability",
        covers: &[
            sys(Syscall::Invoke),
            inv(I::UntypedDescribe),
            inv(I::NotificationPoll),
        ],
        run: errors::invalid_capability,
    },
    Test {
        name: "unknown_label",
        covers: &[sys(Syscall::Invoke)],
        run: errors::unknown_label,
    },
    Test {
        name: "wrong_object_type",
        covers: &[
            inv(I::TcbConfigure),
            inv(I::TcbBindNotification),
            inv(I::UntypedRetype),
            inv(I::VSpaceMapFrame),
        ],
        run: errors::wrong_object_type,
    },
    Test {
        name: "insufficient_rights",
        covers: &[
            inv(I::CNodeCopy),
            inv(I::CNodeMint),
            inv(I::NotificationSignal),
            inv(I::NotificationPoll),
            inv(I::UntypedRetype),
            inv(I::UntypedDescribe),
            inv(I::KernelDebugShutdown),
            inv(I::KernelDebugFaultCount),
        ],
        run: errors::insufficient_rights,
    },
    Test {
        name: "cap_argument_rights",
        covers: &[
            inv(I::UntypedRetype),
            inv(I::TcbConfigure),
            inv(I::TcbBindNotification),
            inv(I::TcbUnbindNotification),
            inv(I::VSpaceMapFrame),
            inv(I::VSpaceUnmapFrame),
            inv(I::VSpaceMapTable),
            inv(I::CNodeCopy),
            inv(I::CNodeMint),
            inv(I::CNodeMoveCap),
            inv(I::KernelDebugCheckFrames),
        ],
        run: capargs::rights,
    },
    Test {
        name: "cap_argument_types",
        covers: &[
            inv(I::UntypedRetype),
            inv(I::TcbBindNotification),
            inv(I::VSpaceUnmapFrame),
            inv(I::VSpaceMapTable),
            inv(I::CNodeCopy),
            inv(I::CNodeMint),
            inv(I::CNodeMoveCap),
            inv(I::KernelDebugCheckFrames),
        ],
        run: capargs::types,
    },
    Test {
        name: "invalid_arguments",
        covers: &[
            inv(I::TcbSetPriority),
            inv(I::TcbSetAffinity),
            inv(I::UntypedRetype),
            inv(I::VSpaceMapFrame),
            inv(I::CNodeCopy),
            inv(I::CNodeMint),
            inv(I::KernelDebugFrameCount),
            inv(I::KernelDebugShutdown),
        ],
        run: errors::invalid_arguments,
    },
    Test {
        name: "bad_user_buffers",
        covers: &[
            sys(Syscall::DebugWrite),
            inv(I::TcbWriteRegisters),
            inv(I::TcbReadRegisters),
            inv(I::TcbGetCpuTimes),
        ],
        run: usermem::bad_buffers,
    },
    Test {
        name: "retype_every_type",
        covers: &[inv(I::UntypedRetype), inv(I::CNodeDelete)],
        run: untyped::retype_every_type,
    },
    Test {
        name: "retype_accounting",
        covers: &[inv(I::UntypedRetype), inv(I::UntypedDescribe)],
        run: untyped::retype_accounting,
    },
    Test {
        name: "untyped_reclaim_after_delete",
        covers: &[
            inv(I::UntypedRetype),
            inv(I::UntypedDescribe),
            inv(I::CNodeDelete),
        ],
        run: untyped::reclaim_after_delete,
    },
    Test {
        name: "cnode_copy_mint_move_delete",
        covers: &[
            inv(I::CNodeCopy),
            inv(I::CNodeMint),
            inv(I::CNodeMoveCap),
            inv(I::CNodeDelete),
        ],
        run: cnode::copy_mint_move_delete,
    },
    Test {
        name: "cnode_child",
        covers: &[inv(I::CNodeCopy), inv(I::CNodeMint), inv(I::CNodeDelete)],
        run: cnode::child_cnode,
    },
    Test {
        name: "cnode_identify",
        covers: &[inv(I::CNodeIdentify)],
        run: cnode::identify,
    },
    Test {
        name: "notification_signal_poll_wait",
        covers: &[
            inv(I::NotificationSignal),
            inv(I::NotificationPoll),
            inv(I::NotificationWait),
        ],
        run: notification::signal_poll_wait,
    },
    Test {
        name: "notification_wait_blocks",
        covers: &[inv(I::NotificationWait), inv(I::NotificationSignal)],
        run: notification::wait_blocks_until_signalled,
    },
    Test {
        name: "notification_one_signal_one_waiter",
        covers: &[inv(I::NotificationWait), inv(I::NotificationSignal)],
        run: notification::one_signal_wakes_one_waiter,
    },
    Test {
        name: "notification_suspended_waiter",
        covers: &[inv(I::NotificationWait), inv(I::TcbSuspend)],
        run: notification::suspended_waiter_stays_suspended,
    },
    Test {
        name: "tcb_configure",
        covers: &[inv(I::TcbConfigure)],
        run: tcb::configure,
    },
    Test {
        name: "tcb_registers",
        covers: &[inv(I::TcbWriteRegisters), inv(I::TcbReadRegisters)],
        run: tcb::registers,
    },
    Test {
        name: "tcb_resume_suspend",
        covers: &[inv(I::TcbResume), inv(I::TcbSuspend)],
        run: tcb::resume_suspend,
    },
    Test {
        name: "tcb_redirect_suspended_thread",
        covers: &[
            inv(I::TcbSuspend),
            inv(I::TcbWriteRegisters),
            inv(I::TcbResume),
        ],
        run: tcb::redirect_suspended_thread,
    },
    Test {
        name: "tcb_priority_affinity",
        covers: &[inv(I::TcbSetPriority), inv(I::TcbSetAffinity)],
        run: tcb::priority_and_affinity,
    },
    Test {
        name: "tcb_lower_own_priority",
        covers: &[inv(I::TcbSetPriority), inv(I::TcbResume)],
        run: tcb::lower_own_priority,
    },
    Test {
        name: "tcb_bind_notification",
        covers: &[inv(I::TcbBindNotification), inv(I::TcbUnbindNotification)],
        run: tcb::bind_notification,
    },
    Test {
        name: "tcb_cpu_times",
        covers: &[inv(I::TcbGetCpuTimes)],
        run: tcb::cpu_times,
    },
    Test {
        name: "vspace_map_lookup_unmap",
        covers: &[
            inv(I::VSpaceMapFrame),
            inv(I::VSpaceLookup),
            inv(I::VSpaceUnmapFrame),
        ],
        run: vspace::map_lookup_unmap,
    },
    Test {
        name: "frame_physical_address",
        covers: &[inv(I::FramePhysicalAddress)],
        run: vspace::physical_address,
    },
    Test {
        name: "vspace_tables",
        covers: &[
            inv(I::VSpaceMapTable),
            inv(I::PageTableUnmap),
            inv(I::VSpaceMapFrame),
        ],
        run: vspace::tables,
    },
    Test {
        name: "vspace_shared_mapping",
        covers: &[
            inv(I::VSpaceMapFrame),
            inv(I::CNodeCopy),
            inv(I::VSpaceLookup),
        ],
        run: vspace::shared_mapping,
    },
    Test {
        name: "vspace_in_use_is_busy",
        covers: &[
            inv(I::VSpaceMapTable),
            inv(I::VSpaceMapFrame),
            inv(I::CNodeDelete),
        ],
        run: vspace::vspace_in_use_is_busy,
    },
    Test {
        name: "missing_table_level",
        covers: &[inv(I::VSpaceMapFrame)],
        run: vspace::missing_table_level,
    },
    Test {
        name: "fault_unmapped_read",
        covers: &[inv(I::KernelDebugFaultCount)],
        run: faults::unmapped_read,
    },
    Test {
        name: "fault_kernel_timer_access",
        covers: &[],
        run: faults::kernel_timer_access,
    },
    Test {
        name: "fault_undefined_instruction",
        covers: &[inv(I::KernelDebugFaultCount)],
        run: faults::undefined_instruction,
    },
    Test {
        name: "fault_read_only_write",
        covers: &[inv(I::KernelDebugFaultCount)],
        run: faults::read_only_write,
    },
    Test {
        name: "fault_read_after_unmap",
        covers: &[inv(I::VSpaceUnmapFrame), inv(I::KernelDebugFaultCount)],
        run: faults::read_after_unmap,
    },
    Test {
        name: "fault_read_after_table_detach",
        covers: &[inv(I::VSpaceUnmapFrame), inv(I::KernelDebugFaultCount)],
        run: faults::read_after_table_detach,
    },
    Test {
        name: "tcb_redirect_waiting_thread",
        covers: &[inv(I::TcbWriteRegisters)],
        run: tcb::redirect_waiting_thread,
    },
    Test {
        name: "preemption",
        covers: &[sys(Syscall::Ticks), inv(I::TcbGetCpuTimes)],
        run: sched::preemption,
    },
    Test {
        name: "fpu_state_survives_preemption",
        covers: &[],
        run: sched::fpu_state_survives_preemption,
    },
    Test {
        name: "frame_states",
        covers: &[
            inv(I::KernelDebugCheckFrames),
            inv(I::KernelDebugFrameCount),
        ],
        run: kdebug::frame_states,
    },
    Test {
        name: "own_objects_are_busy",
        covers: &[inv(I::CNodeDelete)],
        run: lifetimes::own_objects_are_busy,
    },
    Test {
        name: "busy_until_released",
        covers: &[
            inv(I::CNodeDelete),
            inv(I::TcbBindNotification),
            inv(I::TcbUnbindNotification),
        ],
        run: lifetimes::busy_until_released,
    },
    Test {
        name: "delete_mapped_frame",
        covers: &[inv(I::CNodeDelete), inv(I::VSpaceLookup)],
        run: lifetimes::delete_mapped_frame,
    },
    Test {
        name: "delete_blocked_thread",
        covers: &[
            inv(I::CNodeDelete),
            inv(I::NotificationWait),
            inv(I::NotificationSignal),
        ],
        run: lifetimes::delete_blocked_thread,
    },
    Test {
        name: "top_level_untyped_to_free",
        covers: &[inv(I::CNodeDelete), inv(I::KernelDebugFrameCount)],
        run: lifetimes::top_level_untyped_to_free,
    },
    Test {
        name: "copy_trees_and_revoke",
        covers: &[inv(I::CNodeRevoke), inv(I::CNodeCopy), inv(I::CNodeMint)],
        run: cdt::copy_trees_and_revoke,
    },
    Test {
        name: "last_capability_destroys",
        covers: &[inv(I::CNodeDelete), inv(I::FramePhysicalAddress)],
        run: cdt::last_capability_destroys,
    },
    Test {
        name: "revoke_untyped_with_live_objects",
        covers: &[
            inv(I::CNodeRevoke),
            inv(I::UntypedRetype),
            inv(I::UntypedDescribe),
            inv(I::VSpaceMapTable),
            inv(I::VSpaceMapFrame),
            inv(I::TcbBindNotification),
            inv(I::CNodeMoveCap),
        ],
        run: cdt::revoke_untyped_with_live_objects,
    },
    Test {
        name: "revoke_refusals",
        covers: &[inv(I::CNodeRevoke)],
        run: cdt::revoke_refusals,
    },
    Test {
        name: "holds_pin_across_revoke",
        covers: &[inv(I::CNodeRevoke), inv(I::TcbConfigure)],
        run: cdt::holds_pin_across_revoke,
    },
    Test {
        name: "revoke_reclaims_a_self_held_cnode",
        covers: &[inv(I::CNodeRevoke), inv(I::CNodeCopy), inv(I::CNodeDelete)],
        run: cdt::revoke_reclaims_a_self_held_cnode,
    },
    Test {
        name: "attack_detached_table_is_emptied",
        covers: &[],
        run: attacks::detached_table_is_emptied,
    },
    Test {
        name: "attack_nested_detach_empties_every_level",
        covers: &[],
        run: attacks::nested_detach_empties_every_level,
    },
    Test {
        name: "attack_unmap_removes_only_its_own_mapping",
        covers: &[],
        run: attacks::unmap_removes_only_its_own_mapping,
    },
    Test {
        name: "attack_moved_mapping_is_removed_by_its_new_slot",
        covers: &[inv(I::KernelDebugCheckMappings)],
        run: attacks::moved_mapping_is_removed_by_its_new_slot,
    },
    Test {
        name: "attack_mapping_boundaries",
        covers: &[],
        run: attacks::mapping_boundaries,
    },
    Test {
        name: "attack_deleting_a_cnode_empties_it",
        covers: &[],
        run: attacks::deleting_a_cnode_empties_it,
    },
    Test {
        name: "attack_cnode_deletion_reclaims_a_closed_set",
        covers: &[],
        run: attacks::cnode_deletion_reclaims_a_closed_set,
    },
    Test {
        name: "attack_cnode_nesting_is_bounded",
        covers: &[],
        run: attacks::cnode_nesting_is_bounded,
    },
    Test {
        name: "attack_priorities_are_bounded_by_mcp",
        covers: &[inv(I::TcbSetMcp), inv(I::TcbSetPriority)],
        run: attacks::priorities_are_bounded_by_mcp,
    },
    Test {
        name: "ipc_send_and_receive",
        covers: &[sys(Syscall::Send), sys(Syscall::Recv)],
        run: ipc::send_and_receive,
    },
    Test {
        name: "ipc_queued_send_and_non_blocking",
        covers: &[sys(Syscall::NbSend), sys(Syscall::NbRecv)],
        run: ipc::queued_send_and_non_blocking,
    },
    Test {
        name: "ipc_call_and_reply_same_space",
        covers: &[sys(Syscall::Call), sys(Syscall::Reply)],
        run: ipc::call_and_reply_same_space,
    },
    Test {
        name: "ipc_call_across_address_spaces",
        covers: &[sys(Syscall::ReplyRecv)],
        run: ipc::call_across_address_spaces,
    },
    Test {
        name: "ipc_long_messages",
        covers: &[inv(I::TcbSetIpcBuffer)],
        run: ipc::long_messages,
    },
    Test {
        name: "ipc_capability_transfer",
        covers: &[],
        run: ipc::capability_transfer,
    },
    Test {
        name: "ipc_transfer_stops_at_a_bad_receive_slot",
        covers: &[],
        run: ipc::transfer_stops_at_a_bad_receive_slot,
    },
    Test {
        name: "ipc_refusals",
        covers: &[],
        run: ipc::refusals,
    },
    Test {
        name: "ipc_destruction_cancels_waiters",
        covers: &[],
        run: ipc::destruction_cancels_waiters,
    },
    Test {
        name: "ipc_revoke_with_waiters",
        covers: &[],
        run: ipc::revoke_with_waiters,
    },
    Test {
        name: "ipc_bound_notification_through_recv",
        covers: &[],
        run: ipc::bound_notification_through_recv,
    },
    Test {
        name: "ipc_suspended_receiver_restarts",
        covers: &[],
        run: ipc::suspended_receiver_restarts,
    },
    Test {
        name: "ipc_pair_does_not_starve_others",
        covers: &[],
        run: ipc::pair_does_not_starve_others,
    },
    Test {
        name: "ipc_transferred_capability_is_revocable",
        covers: &[],
        run: ipc::transferred_capability_is_revocable,
    },
    Test {
        name: "ipc_unmapped_sender_buffer_truncates",
        covers: &[],
        run: ipc::unmapped_sender_buffer_truncates,
    },
    Test {
        name: "ipc_buffer_and_reply_refusals",
        covers: &[],
        run: ipc::buffer_and_reply_refusals,
    },
    Test {
        name: "fault_pager_maps_and_resumes",
        covers: &[inv(I::TcbSetFaultHandler)],
        run: fault_handlers::pager_maps_and_resumes,
    },
    Test {
        name: "fault_exception_resumes_at_new_ip",
        covers: &[],
        run: fault_handlers::exception_resumes_at_new_ip,
    },
    Test {
        name: "fault_unknown_syscall_goes_to_handler",
        covers: &[],
        run: fault_handlers::unknown_syscall_goes_to_handler,
    },
    Test {
        name: "fault_unusable_handlers_stop_the_thread",
        covers: &[],
        run: fault_handlers::unusable_handlers_stop_the_thread,
    },
    Test {
        name: "fault_kernel_message_layouts",
        covers: &[],
        run: fault_handlers::kernel_message_layouts,
    },
    // SMP (issue 10): every CPU, on -smp 1 as well as 4.
    Test {
        name: "smp_affinity",
        covers: &[inv(I::TcbSetAffinity), inv(I::KernelDebugCurrentCpu)],
        run: smp::affinity,
    },
    Test {
        name: "smp_migration",
        covers: &[inv(I::TcbSetAffinity)],
        run: smp::migration,
    },
    Test {
        name: "smp_cross_cpu_ipc",
        covers: &[sys(Syscall::Call), sys(Syscall::ReplyRecv)],
        run: smp::cross_cpu_ipc,
    },
    Test {
        name: "smp_cross_cpu_notification",
        covers: &[inv(I::NotificationSignal), inv(I::NotificationWait)],
        run: smp::cross_cpu_notification,
    },
    Test {
        name: "smp_tlb_shootdown",
        covers: &[inv(I::VSpaceUnmapFrame)],
        run: smp::tlb_shootdown,
    },
    Test {
        name: "smp_fpu_across_migrations",
        covers: &[],
        run: smp::fpu_across_migrations,
    },
    Test {
        name: "smp_idle_and_wake",
        covers: &[inv(I::NotificationWait)],
        run: smp::idle_and_wake,
    },
    Test {
        name: "smp_remote_control",
        covers: &[
            inv(I::TcbSuspend),
            inv(I::TcbResume),
            inv(I::TcbReadRegisters),
            inv(I::TcbWriteRegisters),
        ],
        run: smp::remote_control,
    },
    Test {
        name: "smp_concurrent_frames",
        covers: &[
            inv(I::UntypedRetype),
            inv(I::VSpaceMapFrame),
            inv(I::VSpaceUnmapFrame),
            inv(I::CNodeDelete),
        ],
        run: smp::concurrent_frames,
    },
    Test {
        name: "protocol_echo_every_message",
        covers: &[
            msg(M::EchoPing),
            msg(M::EchoScalars),
            msg(M::EchoRecord),
            msg(M::EchoKey),
            msg(M::EchoBytes),
            msg(M::EchoText),
            msg(M::EchoSignal),
            msg(M::EchoGive),
            msg(M::EchoMaybe),
            msg(M::EchoNote),
            msg(M::EchoLastNote),
            msg(M::EchoRefuse),
        ],
        run: protocols::echo_every_message,
    },
    Test {
        name: "protocol_echo_malformed_messages",
        covers: &[
            msg(M::EchoScalars),
            msg(M::EchoBytes),
            msg(M::EchoText),
            msg(M::EchoSignal),
        ],
        run: protocols::echo_malformed_messages,
    },
    Test {
        name: "protocol_echo_handshake_versions",
        covers: &[msg(M::EchoPing)],
        run: protocols::echo_handshake_versions,
    },
    Test {
        name: "process_spawn_exit_wait",
        covers: &[
            msg(M::ProcessSpawn),
            msg(M::ProcessExit),
            msg(M::ProcessWait),
            msg(M::ProcessPid),
        ],
        run: process::spawn_exit_wait,
    },
    Test {
        name: "process_args_pid_console",
        covers: &[
            msg(M::ProcessSpawn),
            msg(M::ProcessPid),
            msg(M::ConsoleWrite),
        ],
        run: process::args_pid_console,
    },
    Test {
        name: "process_spawn_with_caps",
        covers: &[msg(M::ProcessSpawn)],
        run: process::spawn_with_caps,
    },
    Test {
        name: "process_nested_and_faulting",
        covers: &[msg(M::ProcessSpawn), msg(M::ProcessWait)],
        run: process::nested_and_faulting,
    },
    Test {
        name: "process_table_and_blocking_wait",
        covers: &[msg(M::ProcessSpawn), msg(M::ProcessWait)],
        run: process::table_and_blocking_wait,
    },
    Test {
        name: "process_refusals",
        covers: &[
            msg(M::ProcessSpawn),
            msg(M::ProcessWait),
            msg(M::ProcessPid),
        ],
        run: process::refusals,
    },
    Test {
        name: "process_console_write",
        covers: &[msg(M::ConsoleWrite)],
        run: process::console_write,
    },
    Test {
        name: "check_frames_at_end",
        covers: &[
            inv(I::KernelDebugCheckFrames),
            inv(I::KernelDebugFrameCount),
        ],
        run: kdebug::check_frames_at_end,
    },
];

/// Syscall numbers outside the ABI, including retired ones, are refused with InvalidSyscall.
///
/// Only numbers that stay unassigned in every later minor version are probed (the first
/// gap, which is a retired number, and numbers no schema would give out), so that this
/// suite still passes on kernels with more syscalls (`cargo xtask test --compat`).
fn unknown_syscall(_: &mut Ctx) -> Outcome {
    let first_gap = (0..)
        .find(|&number| Syscall::try_from(number).is_err())
        .unwrap_or(u64::MAX);
    for number in [first_gap, 1 << 63, u64::MAX] {
        let [status, value] = trona::raw::trap(number, [0; 6]);
        let expected = Error::InvalidSyscall.code();
        ensure!(
            status == expected && value == 0,
            "syscall {number:#x} returned [{status}, {value}], expected [{expected}, 0]"
        );
    }
    Ok(())
}

/// The largest untyped capability the suite holds.
pub fn first_untyped(ctx: &Ctx) -> Result<CPtr, Failure> {
    match ctx.res.untyped.caps().first() {
        Some(&cap) => Ok(cap),
        None => Err(Failure::new(format_args!(
            "the boot information lists no untyped memory"
        ))),
    }
}

/// The address of a value the kernel will read.
pub fn address_of<T>(value: &T) -> UserAddr {
    UserAddr(value as *const T as usize as u64)
}

/// The address of a value the kernel will write.
pub fn address_of_mut<T>(value: &mut T) -> UserAddr {
    UserAddr(value as *mut T as usize as u64)
}
