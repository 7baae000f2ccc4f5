//! The generic error paths of `invoke`: bad capabilities, unknown labels, wrong object types, missing rights, out-of-range arguments.

use trona::substrate;
use trona::uapi::{
    CPtr, Error, Invocation, MAX_CNODE_BITS, NUM_CPUS, NUM_PRIORITIES, ObjectType, ROOT_CNODE_BITS,
    Rights,
};

use crate::ctx::{Ctx, KERNEL_DEBUG, SELF_TCB};
use crate::harness::{Failure, Outcome, ensure, err, ok};
use crate::tests::first_untyped;
use rootlib::{ROOT_CNODE, ROOT_VSPACE};

/// Empty slots and addresses outside the CSpace are invalid capabilities, as targets and as arguments.
pub fn invalid_capability(ctx: &mut Ctx) -> Outcome {
    let empty = ctx.empty_slot()?;
    let result = invalid_capability_checks(ctx, empty);
    ctx.release_slot(empty);
    result
}

fn invalid_capability_checks(ctx: &mut Ctx, empty: CPtr) -> Outcome {
    let invalid = Error::InvalidCapability;
    let beyond = CPtr(1 << ROOT_CNODE_BITS);
    err(
        "describe through an empty slot",
        substrate::untyped_describe(empty),
        invalid,
    )?;
    err(
        "describe beyond the CNode",
        substrate::untyped_describe(beyond),
        invalid,
    )?;
    err(
        "poll through u64::MAX",
        substrate::notification_poll(CPtr(u64::MAX)),
        invalid,
    )?;
    let label = Invocation::UntypedDescribe.label();
    err(
        "raw invoke of an empty slot",
        substrate::invoke(empty, label, [0; 4]),
        invalid,
    )?;
    let tcb = ctx.create(ObjectType::Tcb)?;
    let as_argument = substrate::tcb_configure(tcb, empty, ROOT_VSPACE);
    let beyond_argument = substrate::tcb_bind_notification(tcb, beyond);
    ctx.delete(tcb)?;
    err("an empty slot as the cspace argument", as_argument, invalid)?;
    err(
        "a slot beyond the CNode as an argument",
        beyond_argument,
        invalid,
    )
}

/// Labels outside the object's block, and undefined labels inside it, are refused.
pub fn unknown_label(ctx: &mut Ctx) -> Outcome {
    let tcb = ctx.create(ObjectType::Tcb)?;
    let result = unknown_label_checks(tcb);
    ctx.delete(tcb)?;
    result
}

fn unknown_label_checks(tcb: CPtr) -> Outcome {
    let block = ObjectType::Tcb.label_block();
    let undefined = |label: &u64| Invocation::decode(ObjectType::Tcb, *label).is_none();
    let (Some(first), Some(last)) = (
        block.clone().find(undefined),
        block.clone().rev().find(undefined),
    ) else {
        return Err(Failure::new(format_args!(
            "the Tcb label block {block:#x?} has no undefined label"
        )));
    };
    let first_of_all = ObjectType::ALL
        .iter()
        .map(|t| *t.label_block().start())
        .min()
        .unwrap_or(1);
    let probes = [
        ("the first undefined label inside the Tcb block", first),
        ("the last undefined label inside the Tcb block", last),
        ("the label just past the Tcb block", block.end() + 1),
        (
            "another object's label",
            Invocation::UntypedDescribe.label(),
        ),
        ("a label below every block", first_of_all - 1),
        ("u64::MAX", u64::MAX),
    ];
    for (what, label) in probes {
        err(
            what,
            substrate::invoke(tcb, label, [0; 4]),
            Error::InvalidLabel,
        )?;
    }
    Ok(())
}

/// A capability of the wrong type is refused: as an argument with WrongObjectType, as the
/// target with InvalidLabel (the target's type selects the labels that exist).
pub fn wrong_object_type(ctx: &mut Ctx) -> Outcome {
    let tcb = ctx.create(ObjectType::Tcb)?;
    let notification = ctx.create(ObjectType::Notification)?;
    let slot = ctx.empty_slot()?;
    let result = wrong_object_type_checks(ctx, tcb, notification, slot);
    ctx.release_slot(slot);
    ctx.delete(notification)?;
    ctx.delete(tcb)?;
    result
}

fn wrong_object_type_checks(ctx: &mut Ctx, tcb: CPtr, notification: CPtr, slot: CPtr) -> Outcome {
    let wrong = Error::WrongObjectType;
    err(
        "a VSpace as the cspace",
        substrate::tcb_configure(tcb, ROOT_VSPACE, ROOT_VSPACE),
        wrong,
    )?;
    err(
        "a Notification as the vspace",
        substrate::tcb_configure(tcb, ROOT_CNODE, notification),
        wrong,
    )?;
    err(
        "a CNode as the notification",
        substrate::tcb_bind_notification(tcb, ROOT_CNODE),
        wrong,
    )?;
    let untyped = first_untyped(ctx)?;
    let retype = substrate::untyped_retype(untyped, ObjectType::Frame, 0, tcb, slot.0);
    err("a Tcb as the destination CNode", retype, wrong)?;
    let vaddr = ctx.unmapped_address()?;
    let map = substrate::vspace_map_frame(ROOT_VSPACE, notification, vaddr, Rights::READ);
    err("a Notification as the frame", map, wrong)?;
    err(
        "Tcb.set_priority on a Notification",
        substrate::tcb_set_priority(notification, 1, SELF_TCB),
        Error::InvalidLabel,
    )?;
    err(
        "Untyped.describe on a Tcb",
        substrate::untyped_describe(tcb),
        Error::InvalidLabel,
    )
}

/// Each invocation checks its rights: a copy with fewer rights loses exactly those operations.
pub fn insufficient_rights(ctx: &mut Ctx) -> Outcome {
    let notification = ctx.create(ObjectType::Notification)?;
    let read_only = ctx.copy_with_rights(notification, Rights::READ)?;
    let result = insufficient_rights_checks(ctx, notification, read_only);
    ctx.delete(read_only)?;
    ctx.delete(notification)?;
    result
}

fn insufficient_rights_checks(ctx: &mut Ctx, notification: CPtr, read_only: CPtr) -> Outcome {
    let denied = Error::InsufficientRights;
    err(
        "signal through a read-only copy",
        substrate::notification_signal(read_only),
        denied,
    )?;
    err(
        "poll through a read-only copy",
        substrate::notification_poll(read_only),
        Error::WouldBlock,
    )?;

    let write_only = ctx.copy_with_rights(notification, Rights::WRITE)?;
    let poll = substrate::notification_poll(write_only);
    let signal = substrate::notification_signal(write_only);
    ctx.delete(write_only)?;
    err("poll through a write-only copy", poll, denied)?;
    ok("signal through a write-only copy", signal)?;
    ensure!(
        substrate::notification_poll(notification) == Ok(1),
        "the write-only signal did not arrive"
    );

    // An untyped copy names the region but only the original (which keeps the watermark)
    // retypes or describes; an untyped cannot be minted.
    let untyped = first_untyped(ctx)?;
    let untyped_copy = ctx.copy_with_rights(untyped, Rights::ALL)?;
    let frame_slot = ctx.empty_slot()?;
    let retype =
        substrate::untyped_retype(untyped_copy, ObjectType::Frame, 0, ROOT_CNODE, frame_slot.0);
    let describe = substrate::untyped_describe(untyped_copy);
    let mint_slot = ctx.empty_slot()?;
    let mint = substrate::cnode_mint(ROOT_CNODE, mint_slot.0, untyped, Rights::READ, 1);
    for (made, slot) in [(retype.is_ok(), frame_slot), (mint.is_ok(), mint_slot)] {
        if made {
            ctx.delete(slot)?;
        } else {
            ctx.release_slot(slot);
        }
    }
    ctx.delete(untyped_copy)?;
    err(
        "retype through an untyped copy",
        retype,
        Error::IllegalOperation,
    )?;
    err(
        "describe through an untyped copy",
        describe,
        Error::IllegalOperation,
    )?;
    err("mint an untyped capability", mint, Error::IllegalOperation)?;

    let tcb = ctx.create(ObjectType::Tcb)?;
    let tcb_read = ctx.copy_with_rights(tcb, Rights::READ)?;
    let set_priority = substrate::tcb_set_priority(tcb_read, 1, SELF_TCB);
    let mut regs = trona::uapi::UserRegisters::default();
    let read_registers =
        substrate::tcb_read_registers(tcb_read, crate::tests::address_of_mut(&mut regs));
    ctx.delete(tcb_read)?;
    ctx.delete(tcb)?;
    err("set_priority through a read-only TCB", set_priority, denied)?;
    ok("read_registers through a read-only TCB", read_registers)?;

    let vspace_read = ctx.copy_with_rights(ROOT_VSPACE, Rights::READ)?;
    let vaddr = ctx.unmapped_address()?;
    let lookup = substrate::vspace_lookup(vspace_read, vaddr);
    let frame = ctx.create(ObjectType::Frame)?;
    let map = substrate::vspace_map_frame(vspace_read, frame, vaddr, Rights::READ);
    ctx.delete(frame)?;
    ctx.delete(vspace_read)?;
    err(
        "lookup through a read-only VSpace",
        lookup,
        Error::NotMapped,
    )?;
    err("map_frame through a read-only VSpace", map, denied)?;

    let debug_read = ctx.copy_with_rights(KERNEL_DEBUG, Rights::READ)?;
    // Status 1, not 0: if the kernel wrongly obeyed, the run must end as a failure.
    let shutdown = substrate::kernel_debug_shutdown(debug_read, 1);
    let faults = substrate::kernel_debug_fault_count(debug_read);
    ctx.delete(debug_read)?;
    err("shutdown through a read-only KernelDebug", shutdown, denied)?;
    ok("fault_count through a read-only KernelDebug", faults)?;

    // Copying needs the grant right on the source.
    let no_grant = ctx.copy_with_rights(notification, Rights::READ.union(Rights::WRITE))?;
    let slot = ctx.empty_slot()?;
    let copy = substrate::cnode_copy(ROOT_CNODE, slot.0, no_grant, Rights::READ);
    let mint = substrate::cnode_mint(ROOT_CNODE, slot.0, no_grant, Rights::READ, 1);
    ctx.release_slot(slot);
    ctx.delete(no_grant)?;
    err("copy from a capability without grant", copy, denied)?;
    err("mint from a capability without grant", mint, denied)?;

    // A copy cannot gain rights its source lacks.
    let read_grant = ctx.copy_with_rights(notification, Rights::READ.union(Rights::GRANT))?;
    let slot = ctx.empty_slot()?;
    let widened = substrate::cnode_copy(
        ROOT_CNODE,
        slot.0,
        read_grant,
        Rights::READ.union(Rights::WRITE),
    );
    ctx.release_slot(slot);
    ctx.delete(read_grant)?;
    err(
        "copy asking for more rights than the source has",
        widened,
        denied,
    )
}

/// Arguments out of their type's or the schema's range are refused with InvalidArgument.
pub fn invalid_arguments(ctx: &mut Ctx) -> Outcome {
    let tcb = ctx.create(ObjectType::Tcb)?;
    let notification = ctx.create(ObjectType::Notification)?;
    let frame = ctx.create(ObjectType::Frame)?;
    let slot = ctx.empty_slot()?;
    let result = invalid_argument_checks(ctx, tcb, notification, frame, slot);
    ctx.release_slot(slot);
    ctx.delete(frame)?;
    ctx.delete(notification)?;
    ctx.delete(tcb)?;
    result
}

fn invalid_argument_checks(
    ctx: &mut Ctx,
    tcb: CPtr,
    notification: CPtr,
    frame: CPtr,
    slot: CPtr,
) -> Outcome {
    let invalid = Error::InvalidArgument;
    let set_priority = Invocation::TcbSetPriority.label();
    err(
        "a u8 argument of 256 (raw)",
        substrate::invoke(tcb, set_priority, [256, SELF_TCB.0, 0, 0]),
        invalid,
    )?;
    err(
        "priority NUM_PRIORITIES",
        substrate::tcb_set_priority(tcb, NUM_PRIORITIES, SELF_TCB),
        invalid,
    )?;
    err(
        "priority 255",
        substrate::tcb_set_priority(tcb, u8::MAX, SELF_TCB),
        invalid,
    )?;
    ok(
        "priority NUM_PRIORITIES - 1",
        substrate::tcb_set_priority(tcb, NUM_PRIORITIES - 1, SELF_TCB),
    )?;
    err(
        "affinity NUM_CPUS",
        substrate::tcb_set_affinity(tcb, NUM_CPUS),
        invalid,
    )?;
    let set_affinity = Invocation::TcbSetAffinity.label();
    err(
        "a u32 argument of 2^32 (raw)",
        substrate::invoke(tcb, set_affinity, [1 << 32, 0, 0, 0]),
        invalid,
    )?;

    let untyped = first_untyped(ctx)?;
    let retype = Invocation::UntypedRetype.label();
    // Only ids that no later minor version can give out (0 and numbers no schema would
    // reach), so that this suite still passes on kernels with more object types.
    let unknown_types = [0, 1 << 32, u64::MAX];
    for code in unknown_types {
        let result = substrate::invoke(untyped, retype, [code, 0, ROOT_CNODE.0, slot.0]);
        err("retype to an unknown object type (raw)", result, invalid)?;
    }
    let huge_cnode = substrate::untyped_retype(
        untyped,
        ObjectType::CNode,
        MAX_CNODE_BITS + 1,
        ROOT_CNODE,
        slot.0,
    );
    err("a CNode above MAX_CNODE_BITS", huge_cnode, invalid)?;
    let frame_type = ObjectType::Frame as u64;
    let wide_size = substrate::invoke(untyped, retype, [frame_type, 1 << 8, ROOT_CNODE.0, slot.0]);
    err("a size_bits of 256 (raw)", wide_size, invalid)?;

    let unknown_right = 1u64 << Rights::ALL.bits().trailing_ones();
    let vaddr = ctx.unmapped_address()?;
    let map_frame = Invocation::VSpaceMapFrame.label();
    let map = substrate::invoke(
        ROOT_VSPACE,
        map_frame,
        [frame.0, vaddr, Rights::READ.bits() | unknown_right, 0],
    );
    err("mapping rights with an unknown bit (raw)", map, invalid)?;
    err(
        "an unaligned mapping address",
        substrate::vspace_map_frame(ROOT_VSPACE, frame, vaddr + 8, Rights::READ),
        invalid,
    )?;
    let above =
        substrate::vspace_map_frame(ROOT_VSPACE, frame, trona::uapi::USER_TOP, Rights::READ);
    err("a mapping address at USER_TOP", above, invalid)?;
    let kernel = substrate::vspace_map_frame(
        ROOT_VSPACE,
        frame,
        crate::tests::KERNEL_ADDRESS,
        Rights::READ,
    );
    err("a mapping address in the kernel half", kernel, invalid)?;

    let copy = Invocation::CNodeCopy.label();
    let copy_rights =
        substrate::invoke(ROOT_CNODE, copy, [slot.0, notification.0, unknown_right, 0]);
    err(
        "copy rights with an unknown bit (raw)",
        copy_rights,
        invalid,
    )?;
    let mint_zero = substrate::cnode_mint(ROOT_CNODE, slot.0, notification, Rights::ALL, 0);
    err("mint with badge 0", mint_zero, invalid)?;

    let state_count = substrate::kernel_debug_frame_count(KERNEL_DEBUG, 4);
    err("frame_count of an unknown state", state_count, invalid)?;
    let shutdown = Invocation::KernelDebugShutdown.label();
    // Truncated to 32 bits this code would be 1, a failing exit, never a false pass.
    let wide_code = substrate::invoke(KERNEL_DEBUG, shutdown, [(1 << 32) | 1, 0, 0, 0]);
    err("a shutdown code of 2^32 + 1 (raw)", wide_code, invalid)?;
    Ok(())
}
