//! The only way the kernel reads or writes user memory: validated user slices.
//!
//! A [`UserSlice`] is a byte range of the current thread's address space that was checked
//! when it was made: below `abi::USER_TOP`, not wrapping, and every page mapped user-
//! accessible with the needed rights in the thread's VSpace (found by walking its page
//! tables). Copies go through the kernel's direct map of the physical frames, never
//! through user addresses. The kernel is not preemptible and runs one CPU, so nothing can
//! change the mappings between the check and the copy. Every failure is
//! `Error::InvalidUserPointer`.

use abi::{CpuTimes, Error, PAGE_SIZE, Rights, USER_TOP, UserAddr, UserRegisters};

use crate::arch::mmu;
use crate::object::tcb;
use crate::object::{phys_ptr, vspace};
use crate::sched;

/// What the kernel will do with a user slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read it (copy in): pages must be readable.
    Read,
    /// Write it (copy out): pages must be writable.
    Write,
}

/// A validated range of the current thread's user memory.
#[derive(Clone, Copy, Debug)]
pub struct UserSlice {
    addr: u64,
    len: u64,
    root: u64,
}

impl UserSlice {
    /// Validates `len` bytes at `addr` in the current thread's address space for `access`.
    pub fn new(addr: UserAddr, len: u64, access: Access) -> Result<UserSlice, Error> {
        let addr = addr.0;
        let end = addr.checked_add(len).ok_or(Error::InvalidUserPointer)?;
        if end > USER_TOP {
            return Err(Error::InvalidUserPointer);
        }
        let root = tcb::with_tcb(sched::current(), |tcb| tcb.vspace);
        if root == 0 {
            return Err(Error::InvalidUserPointer);
        }
        let needed = match access {
            Access::Read => Rights::READ,
            Access::Write => Rights::WRITE,
        };
        let mut page = addr & !(PAGE_SIZE - 1);
        while page < end {
            let entry = vspace::leaf(root, page).ok_or(Error::InvalidUserPointer)?;
            if !mmu::entry_rights(entry).contains(needed) {
                return Err(Error::InvalidUserPointer);
            }
            page += PAGE_SIZE;
        }
        Ok(UserSlice { addr, len, root })
    }

    /// Validates the first `max` bytes of a `len`-byte request at `addr` (all of it when
    /// shorter): the whole request must still lie below `USER_TOP` without wrapping, but
    /// only the pages of the prefix are walked, so the work is bounded by `max`.
    pub fn prefix(addr: UserAddr, len: u64, max: u64, access: Access) -> Result<UserSlice, Error> {
        match addr.0.checked_add(len) {
            Some(end) if end <= USER_TOP => UserSlice::new(addr, len.min(max), access),
            _ => Err(Error::InvalidUserPointer),
        }
    }

    /// The slice's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Calls `f` with the kernel pointer and length of each page-bounded piece, in order.
    fn for_each_piece(&self, mut f: impl FnMut(*mut u8, usize)) {
        let mut addr = self.addr;
        let end = self.addr + self.len;
        while addr < end {
            let page_end = (addr & !(PAGE_SIZE - 1)) + PAGE_SIZE;
            let piece_end = page_end.min(end);
            // Validated in `new`; nothing can unmap it since (see the module docs).
            let entry = vspace::leaf(self.root, addr).expect("validated user page vanished");
            let paddr = mmu::entry_paddr(entry) + (addr & (PAGE_SIZE - 1));
            f(phys_ptr::<u8>(paddr), (piece_end - addr) as usize);
            addr = piece_end;
        }
    }

    /// Copies the slice into `dst`, whose length must equal the slice's.
    pub fn copy_in(&self, dst: &mut [u8]) {
        assert_eq!(
            dst.len() as u64,
            self.len,
            "copy_in buffer does not match the user slice"
        );
        let mut done = 0;
        self.for_each_piece(|src, len| {
            // SAFETY: `src` points at `len` bytes of a user frame through the direct map
            // (validated readable), and `dst` has room for them.
            unsafe { core::ptr::copy_nonoverlapping(src, dst[done..done + len].as_mut_ptr(), len) };
            done += len;
        });
    }

    /// Copies `src`, whose length must equal the slice's, into the slice.
    pub fn copy_out(&self, src: &[u8]) {
        assert_eq!(
            src.len() as u64,
            self.len,
            "copy_out buffer does not match the user slice"
        );
        let mut done = 0;
        self.for_each_piece(|dst, len| {
            // SAFETY: `dst` points at `len` bytes of a user frame (validated writable); the
            // kernel's buffer cannot overlap user frames.
            unsafe { core::ptr::copy_nonoverlapping(src[done..done + len].as_ptr(), dst, len) };
            done += len;
        });
    }

    /// Calls `f` with each page-bounded piece of the slice, read-only, in order.
    pub fn for_each_chunk(&self, mut f: impl FnMut(&[u8])) {
        self.for_each_piece(|ptr, len| {
            // SAFETY: `ptr` points at `len` validated bytes of a user frame; the kernel only
            // reads them while `f` runs, and no user code runs meanwhile.
            f(unsafe { core::slice::from_raw_parts(ptr, len) })
        });
    }
}

/// A `#[repr(C)]` structure of `u64` fields that crosses the user boundary by value.
///
/// # Safety
/// Every bit pattern must be a valid value and the type must have no padding.
pub unsafe trait Plain: Copy + Default {}

// SAFETY: Generated `#[repr(C)]` structures of u64 fields only.
unsafe impl Plain for UserRegisters {}
// SAFETY: As above.
unsafe impl Plain for CpuTimes {}

/// Reads a `T` from user memory.
pub fn read<T: Plain>(addr: UserAddr) -> Result<T, Error> {
    let slice = UserSlice::new(addr, core::mem::size_of::<T>() as u64, Access::Read)?;
    let mut value = T::default();
    // SAFETY: T is Plain: any bytes form a valid value, and the slice has T's size.
    let bytes = unsafe {
        core::slice::from_raw_parts_mut((&raw mut value).cast::<u8>(), core::mem::size_of::<T>())
    };
    slice.copy_in(bytes);
    Ok(value)
}

/// Writes a `T` to user memory.
pub fn write<T: Plain>(addr: UserAddr, value: &T) -> Result<(), Error> {
    let slice = UserSlice::new(addr, core::mem::size_of::<T>() as u64, Access::Write)?;
    // SAFETY: T is Plain (no padding), so all its bytes are initialised.
    let bytes = unsafe {
        core::slice::from_raw_parts((value as *const T).cast::<u8>(), core::mem::size_of::<T>())
    };
    slice.copy_out(bytes);
    Ok(())
}

/// The IPC buffer of `thread` (its `Tcb::ipc_buffer`), if it is set and mapped user-
/// accessible with the rights `access` needs in the thread's own VSpace; a kernel pointer
/// through the direct map.
///
/// The buffer is page-aligned and fits one page (`tcb_set_ipc_buffer` checks the address,
/// a const assertion the size), so one page walk validates all of it. The pointer is valid
/// until the kernel next changes a mapping or returns to user mode.
pub fn ipc_buffer(thread: u64, access: Access) -> Option<*mut abi::IpcBuffer> {
    let (root, vaddr) = tcb::with_tcb(thread, |tcb| (tcb.vspace, tcb.ipc_buffer));
    if root == 0 || vaddr == 0 {
        return None;
    }
    let needed = match access {
        Access::Read => Rights::READ,
        Access::Write => Rights::READ | Rights::WRITE,
    };
    let entry = vspace::leaf(root, vaddr)?;
    if !mmu::entry_rights(entry).contains(needed) {
        return None;
    }
    Some(phys_ptr::<abi::IpcBuffer>(mmu::entry_paddr(entry)))
}

const _: () = assert!(core::mem::size_of::<abi::IpcBuffer>() as u64 <= PAGE_SIZE);
