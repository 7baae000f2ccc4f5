//! Creates the root task from the boot image and hands it all free memory as untyped capabilities.
//!
//! Order of work, so that the three-state invariant holds throughout:
//! 1. A *boot untyped* just large enough for the root task's objects is made from `Free`
//!    memory (`Free` → `UntypedReserved`), and every root object is retyped from it (so
//!    they are typed objects with a parent, like any other): CNode, VSpace, TCB, page
//!    tables, the ELF image frames, the stack, the BootInfo page and the module copies.
//! 2. All remaining `Free` RAM becomes top-level untyped capabilities in power-of-two,
//!    size-aligned chunks, from `ROOT_SLOT_FIRST_FREE` on, listed in BootInfo.
//! 3. The scheduler starts the root thread at the ELF entry with the BootInfo address as
//!    its first argument.

use abi::{
    BOOTINFO_VADDR, Error, NUM_PRIORITIES, ObjectType, PAGE_BITS, PAGE_SIZE, PAGE_TABLE_SIZE_BITS,
    ROOT_CNODE_BITS, ROOT_SLOT_CNODE, ROOT_SLOT_FIRST_FREE, ROOT_SLOT_KERNEL_DEBUG, ROOT_SLOT_TCB,
    ROOT_SLOT_VSPACE, Rights, TCB_SIZE_BITS, USER_TOP, UserRegisters,
};
use boot::{BootImage, BootInfo, BootModule, MemoryKind, MemoryRegion, UntypedDesc};
use kerncore::elf::{Elf, Segment};
use kerncore::{Cap, FrameRange, FrameState, ObjectRef, UntypedState, aligned_chunks};

use crate::arch;
use crate::object::cnode::{self, SlotRef};
use crate::object::vspace::{self, MapError};
use crate::object::{frames, phys_ptr, tcb, untyped};
use crate::sched;

/// Pages of the root task's stack.
pub const ROOT_STACK_PAGES: u64 = 32;
/// The first address above the root task's stack; an unmapped guard page lies below the stack.
pub const ROOT_STACK_TOP: u64 = BOOTINFO_VADDR - 0x10_0000;
/// The root thread's priority: the middle, so tests can create threads above and below it.
pub const ROOT_PRIORITY: u8 = NUM_PRIORITIES / 2;

/// Builds the root task and starts scheduling it. Panics if the boot image or its root ELF
/// is malformed or memory is too small: the system cannot start without its root task.
pub fn start(boot_image: &'static [u8]) -> ! {
    let image = BootImage::parse(boot_image)
        .unwrap_or_else(|error| panic!("boot image is invalid: {error:?}"));
    let root = image.root_task();
    let elf = Elf::parse(root.data, arch::ELF_MACHINE)
        .unwrap_or_else(|error| panic!("root task {:?} is not a usable ELF: {error}", root.name));

    let mut builder = Builder::new(boot_untyped_bits(&elf, &image));
    let cnode = builder.create(ObjectType::CNode, ROOT_CNODE_BITS);
    let vspace = builder.create(ObjectType::VSpace, 0);
    let thread = builder.create(ObjectType::Tcb, 0);
    let root_cnode = SlotRef {
        cnode: cnode.object.paddr,
        slot_bits: ROOT_CNODE_BITS,
        index: 0,
    };
    let slot = |index| SlotRef {
        index,
        ..root_cnode
    };
    let kernel_debug = Cap::new_object(
        ObjectRef {
            object_type: ObjectType::KernelDebug,
            paddr: 0,
        },
        0,
    );
    for (index, cap) in [
        (ROOT_SLOT_CNODE, cnode),
        (ROOT_SLOT_VSPACE, vspace),
        (ROOT_SLOT_TCB, thread),
        (ROOT_SLOT_KERNEL_DEBUG, kernel_debug),
    ] {
        cnode::set(slot(index), Some(cap)).expect("root CNode slot");
    }
    let root_vspace = vspace.object.paddr;
    tcb::configure(
        thread.object.paddr,
        (cnode.object.paddr, ROOT_CNODE_BITS),
        root_vspace,
    )
    .expect("root TCB configure");

    // The image, the stack, BootInfo and the modules.
    for segment in elf.segments() {
        builder.load_segment(root_vspace, &segment);
    }
    let stack_bottom = ROOT_STACK_TOP - ROOT_STACK_PAGES * PAGE_SIZE;
    for page in 0..ROOT_STACK_PAGES {
        builder.map_new_page(
            root_vspace,
            stack_bottom + page * PAGE_SIZE,
            Rights::READ.union(Rights::WRITE),
        );
    }
    let info_frame = builder.map_new_page(root_vspace, BOOTINFO_VADDR, Rights::READ);
    let mut info = BootInfo::new(abi::ABI_FINGERPRINT);
    let mut next_vaddr = BOOTINFO_VADDR + PAGE_SIZE;
    for module in image.modules() {
        let vaddr = next_vaddr;
        next_vaddr = builder.load_bytes(root_vspace, vaddr, module.data, Rights::READ);
        if info
            .push_module(BootModule::new(
                module.name,
                vaddr,
                module.data.len() as u64,
            ))
            .is_err()
        {
            crate::println!(
                "warning: boot module {:?} does not fit in BootInfo",
                module.name
            );
        }
    }
    crate::println!(
        "root task {:?}: entry {:#x}, {} KiB boot untyped, {} KiB left in it",
        root.name,
        elf.entry,
        (1u64 << builder.untyped.size_bits) / 1024,
        builder.untyped.free_bytes() / 1024
    );

    // Everything else becomes untyped memory.
    let first_free_slot =
        hand_out_untyped(&mut info, |index, cap| cnode::set(slot(index), Some(cap)));
    info.first_free_slot = first_free_slot;
    info.cpu_count = crate::smp::running() as u64;
    fill_memory_map(&mut info);
    // SAFETY: The BootInfo frame was just retyped for this purpose; BootInfo fits a page.
    unsafe { phys_ptr::<BootInfo>(info_frame).write(info) };

    let registers = UserRegisters {
        ip: elf.entry,
        sp: ROOT_STACK_TOP,
        arg0: BOOTINFO_VADDR,
        ..UserRegisters::default()
    };
    tcb::write_registers(thread.object.paddr, &registers);
    tcb::with_tcb(thread.object.paddr, |tcb| {
        tcb.priority = ROOT_PRIORITY;
        tcb.mcp = NUM_PRIORITIES - 1;
    });
    match frames::with_table(|table| table.check()) {
        Ok(count) => crate::println!("{}; checker verified {count} frames", frames::describe()),
        Err(error) => panic!("three-state invariant broken after boot: {error:?}"),
    }
    sched::start(thread.object.paddr)
}

/// The log2 size of the boot untyped: room for every root object, rounded up.
fn boot_untyped_bits(elf: &Elf<'_>, image: &BootImage<'_>) -> u8 {
    let pages = |bytes: u64| bytes.div_ceil(PAGE_SIZE);
    let mut data_pages = ROOT_STACK_PAGES + 1;
    let mut ranges = 2;
    for segment in elf.segments() {
        data_pages += pages(segment.vaddr % PAGE_SIZE + segment.mem_size);
        ranges += 1;
    }
    for module in image.modules() {
        data_pages += pages(module.data.len() as u64);
        ranges += 1;
    }
    // Every mapped range may need a table at each of the three levels at both of its ends,
    // plus one last-level table per 2 MiB it spans.
    let tables = ranges * 6 + data_pages / 512;
    let table_bytes = 1u64 << PAGE_TABLE_SIZE_BITS;
    let fixed =
        (1u64 << (ROOT_CNODE_BITS + abi::CNODE_SLOT_BITS)) + (1 << TCB_SIZE_BITS) + table_bytes;
    let bytes = fixed + data_pages * PAGE_SIZE + tables * table_bytes;
    bytes.next_power_of_two().trailing_zeros() as u8
}

/// Allocates the root task's objects from the boot untyped.
struct Builder {
    untyped: UntypedState,
}

impl Builder {
    /// Makes the boot untyped: a `Free`, size-aligned run of `2^bits` bytes.
    fn new(bits: u8) -> Builder {
        let frames_wanted = 1u64 << (bits - PAGE_BITS as u8);
        let span = frames::with_table(|table| table.span());
        let first = (span.first.next_multiple_of(frames_wanted)..span.first + span.count)
            .step_by(frames_wanted as usize)
            .find(|&first| {
                frames::with_table(|table| {
                    (first..first + frames_wanted)
                        .all(|frame| table.state(frame) == Some(FrameState::Free))
                })
            })
            .unwrap_or_else(|| {
                panic!(
                    "no free, aligned {} KiB of RAM for the root task",
                    (1u64 << bits) / 1024
                )
            });
        let range = FrameRange {
            first,
            count: frames_wanted,
        };
        frames::with_table(|table| table.reserve_for_untyped(range))
            .expect("boot untyped range was checked free");
        let untyped =
            UntypedState::new(first << PAGE_BITS, bits, 1).expect("boot untyped is aligned");
        Builder { untyped }
    }

    fn create(&mut self, object_type: ObjectType, size_bits: u8) -> Cap {
        untyped::create(&mut self.untyped, object_type, size_bits).unwrap_or_else(|error| {
            panic!("boot untyped too small for the root task's {object_type:?}: {error:?}")
        })
    }

    /// Maps a new zeroed frame at `vaddr`, creating page tables as needed; returns its address.
    fn map_new_page(&mut self, root: u64, vaddr: u64, rights: Rights) -> u64 {
        let frame = self.create(ObjectType::Frame, 0).object.paddr;
        loop {
            match vspace::map_frame(root, frame, vaddr, rights, vspace::BOOT_OWNER) {
                Ok(_) => return frame,
                Err(MapError::Missing(level)) => {
                    let table = self.create(ObjectType::PageTable, 0).object.paddr;
                    if let Err(error) =
                        vspace::map_table(root, table, vaddr, level, vspace::BOOT_OWNER)
                    {
                        panic!("root task page table at level {level} for {vaddr:#x}: {error:?}");
                    }
                }
                Err(MapError::Error(error)) => panic!("root task mapping at {vaddr:#x}: {error:?}"),
            }
        }
    }

    /// The frame mapped at page `vaddr`, mapping a new one with `rights` if there is none.
    fn page_at(&mut self, root: u64, vaddr: u64, rights: Rights) -> u64 {
        match vspace::leaf(root, vaddr) {
            Some(entry) => arch::mmu::entry_paddr(entry),
            None => self.map_new_page(root, vaddr, rights),
        }
    }

    /// Copies `bytes` to fresh pages from `vaddr` (page-aligned) on; returns the next free
    /// page-aligned address after them.
    fn load_bytes(&mut self, root: u64, vaddr: u64, bytes: &[u8], rights: Rights) -> u64 {
        let mut offset = 0;
        while offset < bytes.len() {
            let frame = self.map_new_page(root, vaddr + offset as u64, rights);
            let len = (bytes.len() - offset).min(PAGE_SIZE as usize);
            copy_to_frame(frame, 0, &bytes[offset..offset + len]);
            offset += PAGE_SIZE as usize;
        }
        vaddr + (bytes.len() as u64).div_ceil(PAGE_SIZE) * PAGE_SIZE
    }

    /// Maps and fills one loadable segment; the bytes past the file's end stay zero (bss).
    fn load_segment(&mut self, root: u64, segment: &Segment<'_>) {
        let end = segment.vaddr + segment.mem_size;
        assert!(
            end <= USER_TOP,
            "root task segment at {:#x} reaches into the kernel half",
            segment.vaddr
        );
        let mut page = segment.vaddr & !(PAGE_SIZE - 1);
        while page < end {
            let frame = self.page_at(root, page, segment.rights);
            let copy_start = page.max(segment.vaddr);
            let copy_end = (page + PAGE_SIZE).min(segment.vaddr + segment.data.len() as u64);
            if copy_start < copy_end {
                let from = (copy_start - segment.vaddr) as usize;
                let to = (copy_end - segment.vaddr) as usize;
                copy_to_frame(frame, copy_start - page, &segment.data[from..to]);
            }
            page += PAGE_SIZE;
        }
    }
}

fn copy_to_frame(frame: u64, offset: u64, bytes: &[u8]) {
    assert!(
        offset + bytes.len() as u64 <= PAGE_SIZE,
        "copy past the end of a frame"
    );
    // SAFETY: The frame was just retyped for the root task and is only reached through the
    // direct map here; the copy stays inside it (checked above).
    unsafe {
        core::ptr::copy_nonoverlapping(bytes.as_ptr(), phys_ptr::<u8>(frame + offset), bytes.len())
    };
}

/// Turns every run of `Free` frames into size-aligned power-of-two untyped capabilities,
/// stored through `store` from `ROOT_SLOT_FIRST_FREE` on and listed in `info`. Returns the
/// first slot after them.
fn hand_out_untyped(
    info: &mut BootInfo,
    mut store: impl FnMut(u64, Cap) -> Result<(), Error>,
) -> u64 {
    let slot_limit = 1u64 << ROOT_CNODE_BITS;
    let mut slot = ROOT_SLOT_FIRST_FREE;
    let mut left_free = 0;
    let mut from = 0;
    while let Some(run) = frames::with_table(|table| table.next_free_run(from)) {
        from = run.first + run.count;
        for chunk in aligned_chunks(run) {
            if slot >= slot_limit || info.untyped_count as usize >= boot::MAX_UNTYPED {
                left_free += chunk.count;
                continue;
            }
            let size_bits = (chunk.count.ilog2() + PAGE_BITS as u32) as u8;
            let paddr = chunk.first << PAGE_BITS;
            frames::with_table(|table| table.reserve_for_untyped(chunk)).expect("the run was free");
            let untyped = UntypedState::new(paddr, size_bits, 1).expect("chunks are size-aligned");
            store(slot, Cap::new_untyped(untyped)).expect("root CNode slot for an untyped");
            let desc = UntypedDesc {
                slot,
                paddr,
                size_bits: u64::from(size_bits),
            };
            info.push_untyped(desc).expect("room was checked");
            slot += 1;
        }
    }
    if left_free != 0 {
        crate::println!(
            "warning: {left_free} free frames left out: no room for more untyped capabilities"
        );
    }
    slot
}

/// Lists the physical memory map in BootInfo: firmware RAM as usable or reserved, and the
/// kernel image as kernel memory.
fn fill_memory_map(info: &mut BootInfo) {
    for region in frames::memory_map() {
        let kind = if region.usable {
            MemoryKind::Usable
        } else {
            MemoryKind::Reserved
        };
        if info
            .push_memory(MemoryRegion::new(region.base, region.len, kind))
            .is_err()
        {
            break;
        }
    }
    let kernel = arch::kernel_phys_range();
    let _ = info.push_memory(MemoryRegion::new(
        kernel.start,
        kernel.end - kernel.start,
        MemoryKind::Kernel,
    ));
}
