//! Builds a process from untyped memory: its own VSpace, CNode and TCB, the segments of an ELF image, a stack and an IPC buffer.

use core::fmt;

use crate::{BuildError, ROOT_TCB, ROOT_VSPACE, Resources};
use trona::substrate;
use trona::uapi::{
    CPtr, ObjectType, PAGE_SIZE, Rights, START_INFO_VADDR, StartInfo, UserAddr, UserRegisters,
};

use kerncore::elf::Elf;

/// The ELF `e_machine` of the architecture init runs on.
#[cfg(target_arch = "x86_64")]
const ELF_MACHINE: u16 = 62;
/// The ELF `e_machine` of the architecture init runs on.
#[cfg(target_arch = "aarch64")]
const ELF_MACHINE: u16 = 183;

/// Where a new process's stack ends (its first push goes just below this address).
const STACK_TOP: u64 = 0x0000_7000_0000_0000;

/// How large a new process's stack is.
const STACK_PAGES: u64 = 8;

/// Where a new process's IPC buffer is mapped (read-write) and set (`Tcb.set_ipc_buffer`).
pub const IPC_BUFFER_VADDR: u64 = STACK_TOP + PAGE_SIZE;

/// What a new process gets besides its image.
pub struct ProcessSpec<'a> {
    /// The program's ELF image.
    pub image: &'a [u8],
    /// log2 of the slot count of its CNode.
    pub cnode_bits: u8,
    /// Its scheduling priority.
    pub priority: u8,
    /// What its first argument register holds.
    pub start: Start<'a>,
}

/// What a new process starts with in its first argument register.
#[derive(Clone, Copy)]
pub enum Start<'a> {
    /// This word, and no start page (the convention of the suite's own helpers).
    Word(u64),
    /// The process start convention: this page mapped read-only at `START_INFO_VADDR`,
    /// and that address.
    Info(&'a StartInfo),
}

/// A process that has been built and started.
pub struct Process {
    /// Its only thread.
    pub tcb: CPtr,
    /// Its CNode, the root of its CSpace.
    pub cnode: CPtr,
    /// Its address space.
    pub vspace: CPtr,
}

/// Why building a process failed.
pub enum LoadError {
    /// The image is not a loadable executable (the reader says why).
    Elf(&'static str),
    /// Creating or mapping an object failed.
    Build(BuildError),
}

impl From<BuildError> for LoadError {
    fn from(error: BuildError) -> LoadError {
        LoadError::Build(error)
    }
}

impl From<trona::uapi::Error> for LoadError {
    fn from(error: trona::uapi::Error) -> LoadError {
        LoadError::Build(BuildError::Kernel(error))
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Elf(reason) => write!(f, "bad ELF image: {reason}"),
            LoadError::Build(error) => write!(f, "{error}"),
        }
    }
}

/// Creates the process's objects and loads its image; `grant` then fills its CNode before it starts.
pub fn create(
    res: &mut Resources,
    spec: &ProcessSpec<'_>,
    grant: impl FnOnce(&Process) -> Result<(), LoadError>,
) -> Result<Process, LoadError> {
    let elf = Elf::parse(spec.image, ELF_MACHINE).map_err(LoadError::Elf)?;
    let process = Process {
        vspace: res.retype(ObjectType::VSpace, 0)?,
        cnode: res.retype(ObjectType::CNode, spec.cnode_bits)?,
        tcb: res.retype(ObjectType::Tcb, 0)?,
    };
    load_segments(res, &elf, process.vspace)?;
    let read_write = Rights::READ.union(Rights::WRITE);
    for page in 0..STACK_PAGES {
        let frame = res.retype(ObjectType::Frame, 0)?;
        res.map_frame(
            process.vspace,
            frame,
            STACK_TOP - (page + 1) * PAGE_SIZE,
            read_write,
        )?;
    }
    let buffer = res.retype(ObjectType::Frame, 0)?;
    res.map_frame(process.vspace, buffer, IPC_BUFFER_VADDR, read_write)?;
    substrate::tcb_set_ipc_buffer(process.tcb, IPC_BUFFER_VADDR)?;
    let arg = match spec.start {
        Start::Word(word) => word,
        Start::Info(info) => {
            map_start_page(res, process.vspace, info)?;
            START_INFO_VADDR
        }
    };
    grant(&process)?;
    substrate::tcb_configure(process.tcb, process.cnode, process.vspace)?;
    let regs = UserRegisters {
        ip: elf.entry,
        sp: STACK_TOP,
        arg0: arg,
        ..UserRegisters::default()
    };
    substrate::tcb_write_registers(process.tcb, UserAddr(&regs as *const UserRegisters as u64))?;
    substrate::tcb_set_priority(process.tcb, spec.priority, ROOT_TCB)?;
    substrate::tcb_resume(process.tcb)?;
    Ok(process)
}

/// Maps a read-only copy of `info` at `START_INFO_VADDR` in `vspace`.
fn map_start_page(res: &mut Resources, vspace: CPtr, info: &StartInfo) -> Result<(), LoadError> {
    const _: () = assert!(core::mem::size_of::<StartInfo>() as u64 <= PAGE_SIZE);
    let scratch = res.va.take(1)?;
    let frame = res.retype(ObjectType::Frame, 0)?;
    res.map_frame(
        ROOT_VSPACE,
        frame,
        scratch,
        Rights::READ.union(Rights::WRITE),
    )?;
    // SAFETY: the scratch page is mapped read-write in this address space just above, only
    // this function uses it, and a StartInfo fits in it (the assertion above); the frame is
    // fresh, so the write is aligned page memory no reference points into.
    unsafe { core::ptr::write_volatile(scratch as usize as *mut StartInfo, *info) };
    finish_page(
        res,
        vspace,
        PendingPage {
            vaddr: START_INFO_VADDR,
            frame,
            rights: Rights::READ,
        },
    )
}

/// A page being filled: mapped at the scratch address in init, not yet in the child.
struct PendingPage {
    vaddr: u64,
    frame: CPtr,
    rights: Rights,
}

/// Copies every `PT_LOAD` segment into fresh frames and maps them into `vspace`.
///
/// Each frame is mapped at one scratch address in init while its bytes are copied, then
/// unmapped and mapped into the child with the segment's rights. A page shared by two
/// segments stays at the scratch address until the last segment that touches it is
/// copied, and gets the union of their rights.
fn load_segments(res: &mut Resources, elf: &Elf<'_>, vspace: CPtr) -> Result<(), LoadError> {
    let scratch = res.va.take(1)?;
    let mut pending: Option<PendingPage> = None;
    for segment in elf.segments() {
        let first_page = segment.vaddr & !(PAGE_SIZE - 1);
        let end = segment.vaddr + segment.mem_size;
        let mut page = first_page;
        while page < end {
            match &mut pending {
                Some(current) if current.vaddr == page => {
                    current.rights = current.rights.union(segment.rights)
                }
                _ => {
                    if let Some(done) = pending.take() {
                        finish_page(res, vspace, done)?;
                    }
                    let frame = res.retype(ObjectType::Frame, 0)?;
                    res.map_frame(
                        ROOT_VSPACE,
                        frame,
                        scratch,
                        Rights::READ.union(Rights::WRITE),
                    )?;
                    pending = Some(PendingPage {
                        vaddr: page,
                        frame,
                        rights: segment.rights,
                    });
                }
            }
            copy_into_page(scratch, page, segment.vaddr, segment.data);
            page += PAGE_SIZE;
        }
    }
    if let Some(done) = pending {
        finish_page(res, vspace, done)?;
    }
    Ok(())
}

/// Copies the part of `file` (which starts at `file_vaddr`) that falls in the page at `page` into the scratch mapping.
fn copy_into_page(scratch: u64, page: u64, file_vaddr: u64, file: &[u8]) {
    let file_end = file_vaddr + file.len() as u64;
    let start = page.max(file_vaddr);
    let end = (page + PAGE_SIZE).min(file_end);
    if start >= end {
        return;
    }
    let source = &file[(start - file_vaddr) as usize..(end - file_vaddr) as usize];
    let destination = (scratch + (start - page)) as *mut u8;
    // SAFETY: the scratch page is mapped read-write in this address space, only this
    // function writes it, and `start - page + source.len() <= PAGE_SIZE`, so the copy
    // stays inside that page; the source is the read-only boot module, which cannot overlap it.
    unsafe { core::ptr::copy_nonoverlapping(source.as_ptr(), destination, source.len()) };
}

/// Moves a filled page from the scratch address to its place in the child.
fn finish_page(res: &mut Resources, vspace: CPtr, page: PendingPage) -> Result<(), LoadError> {
    substrate::vspace_unmap_frame(ROOT_VSPACE, page.frame)?;
    res.map_frame(vspace, page.frame, page.vaddr, page.rights)?;
    Ok(())
}
