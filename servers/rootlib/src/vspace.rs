//! Virtual address bookkeeping and frame mappings that create their own page tables on demand.

use trona::substrate;
use trona::uapi::{CPtr, Error, ObjectType, PAGE_SIZE, Rights};

use crate::{BuildError, ROOT_VSPACE, Resources};

/// The most pages one [`Region`] can hold.
pub const MAX_REGION_PAGES: usize = 32;

/// A bump allocator of page-aligned virtual addresses; each allocation is followed by
/// one never-mapped guard page.
pub struct VirtualRange {
    next: u64,
    end: u64,
}

impl VirtualRange {
    /// The range `start..end`; both must be page-aligned user addresses.
    pub const fn new(start: u64, end: u64) -> VirtualRange {
        VirtualRange { next: start, end }
    }

    /// Reserves `pages` pages and returns the first address.
    pub fn take(&mut self, pages: u64) -> Result<u64, BuildError> {
        let bytes = pages.checked_add(1).and_then(|p| p.checked_mul(PAGE_SIZE));
        let end = bytes.and_then(|b| self.next.checked_add(b));
        match end {
            Some(end) if end <= self.end => {
                let start = self.next;
                self.next = end;
                Ok(start)
            }
            _ => Err(BuildError::OutOfAddressSpace),
        }
    }
}

/// Consecutive pages backed by frames the caller owns, mapped in the caller's address space.
pub struct Region {
    /// Address of the first page.
    pub vaddr: u64,
    frames: [CPtr; MAX_REGION_PAGES],
    pages: usize,
}

impl Region {
    /// The frame capabilities, one per page, in address order.
    pub fn frames(&self) -> &[CPtr] {
        &self.frames[..self.pages]
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.pages as u64 * PAGE_SIZE
    }

    /// Whether the region has no pages.
    pub fn is_empty(&self) -> bool {
        self.pages == 0
    }

    /// The first address past the region.
    pub fn end(&self) -> u64 {
        self.vaddr + self.len()
    }
}

impl Resources {
    /// Maps `frame` at `vaddr` in `vspace`, first creating whatever page tables are missing.
    ///
    /// Each missing level costs one PageTable retype: the table is offered to the
    /// lowest level first, and `MissingTable` from `VSpace.map_table` means a higher
    /// level is missing too, so the same table moves up until it fits.
    pub fn map_frame(
        &mut self,
        vspace: CPtr,
        frame: CPtr,
        vaddr: u64,
        rights: Rights,
    ) -> Result<(), BuildError> {
        loop {
            match substrate::vspace_map_frame(vspace, frame, vaddr, rights) {
                Ok(()) => return Ok(()),
                Err(Error::MissingTable) => self.add_table(vspace, vaddr)?,
                Err(error) => return Err(BuildError::Kernel(error)),
            }
        }
    }

    /// Installs one new page table for `vaddr` at the lowest level whose parent exists.
    pub fn add_table(&mut self, vspace: CPtr, vaddr: u64) -> Result<(), BuildError> {
        let table = self.retype(ObjectType::PageTable, 0)?;
        let mut level = 1u8;
        loop {
            match substrate::vspace_map_table(vspace, table, vaddr, level) {
                Ok(()) => return Ok(()),
                Err(Error::MissingTable) if level < u8::MAX => level += 1,
                Err(error) => {
                    // The table never got installed; give its memory back before reporting.
                    let _ = self.delete(table);
                    return Err(BuildError::Kernel(error));
                }
            }
        }
    }

    /// Creates `pages` fresh zeroed frames and maps them at a new address in the root task's own address space.
    pub fn map_new_region(&mut self, pages: usize, rights: Rights) -> Result<Region, BuildError> {
        if pages > MAX_REGION_PAGES {
            return Err(BuildError::TooLarge);
        }
        let vaddr = self.va.take(pages as u64)?;
        let mut region = Region {
            vaddr,
            frames: [CPtr(0); MAX_REGION_PAGES],
            pages: 0,
        };
        for index in 0..pages {
            let page_vaddr = vaddr + index as u64 * PAGE_SIZE;
            let frame = match self.retype(ObjectType::Frame, 0) {
                Ok(frame) => frame,
                Err(error) => {
                    let _ = self.release_region(region);
                    return Err(error);
                }
            };
            if let Err(error) = self.map_frame(ROOT_VSPACE, frame, page_vaddr, rights) {
                let _ = self.delete(frame);
                let _ = self.release_region(region);
                return Err(error);
            }
            region.frames[index] = frame;
            region.pages = index + 1;
        }
        Ok(region)
    }

    /// Unmaps and deletes every frame of a region made by [`Resources::map_new_region`].
    pub fn release_region(&mut self, region: Region) -> Result<(), BuildError> {
        let mut result = Ok(());
        for &frame in region.frames() {
            let unmapped =
                substrate::vspace_unmap_frame(ROOT_VSPACE, frame).map_err(BuildError::Kernel);
            let deleted = self.delete(frame);
            result = result.and(unmapped).and(deleted);
        }
        result
    }
}
