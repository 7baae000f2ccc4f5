//! A minimal reader of static ELF64 executables: the header, the entry point and the loadable segments.

use trona::uapi::{Rights, USER_TOP};

/// The `e_machine` value of the architecture this program runs on.
#[cfg(target_arch = "x86_64")]
const MACHINE: u16 = 62;
/// The `e_machine` value of the architecture this program runs on.
#[cfg(target_arch = "aarch64")]
const MACHINE: u16 = 183;

const HEADER_LEN: usize = 64;
const PROGRAM_HEADER_LEN: usize = 56;
const CLASS_64: u8 = 2;
const DATA_LITTLE_ENDIAN: u8 = 1;
const TYPE_EXECUTABLE: u16 = 2;
const SEGMENT_LOAD: u32 = 1;
const FLAG_EXECUTE: u32 = 1;
const FLAG_WRITE: u32 = 2;
const FLAG_READ: u32 = 4;

/// Why an image is not a loadable executable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Shorter than the ELF header.
    TooShort,
    /// The first four bytes are not `\x7fELF`.
    BadMagic,
    /// Not a 64-bit little-endian file.
    WrongClass,
    /// Not a static executable (`ET_EXEC`).
    NotExecutable,
    /// Built for another architecture.
    WrongMachine,
    /// The program header table lies outside the file or has an unexpected entry size.
    BadProgramHeaders,
    /// A segment's file bytes lie outside the file, or its file size exceeds its memory size.
    SegmentOutsideFile,
    /// A segment does not lie entirely in user space.
    SegmentOutsideUserSpace,
}

/// A parsed ELF64 executable borrowing its bytes.
pub struct Elf<'a> {
    bytes: &'a [u8],
    entry: u64,
    program_headers: usize,
    program_header_count: usize,
}

/// One `PT_LOAD` segment.
pub struct Segment<'a> {
    /// Virtual address of the segment's first byte.
    pub vaddr: u64,
    /// Bytes the segment occupies in memory; the part past `file.len()` is zero.
    pub mem_len: u64,
    /// The bytes copied from the file.
    pub file: &'a [u8],
    /// The mapping rights its flags ask for.
    pub rights: Rights,
}

impl<'a> Elf<'a> {
    /// Checks the header and the program header table.
    pub fn parse(bytes: &'a [u8]) -> Result<Elf<'a>, ElfError> {
        if bytes.len() < HEADER_LEN {
            return Err(ElfError::TooShort);
        }
        if bytes[..4] != *b"\x7fELF" {
            return Err(ElfError::BadMagic);
        }
        if bytes[4] != CLASS_64 || bytes[5] != DATA_LITTLE_ENDIAN {
            return Err(ElfError::WrongClass);
        }
        if read_u16(bytes, 16) != Some(TYPE_EXECUTABLE) {
            return Err(ElfError::NotExecutable);
        }
        if read_u16(bytes, 18) != Some(MACHINE) {
            return Err(ElfError::WrongMachine);
        }
        let entry = read_u64(bytes, 24).ok_or(ElfError::TooShort)?;
        let offset = read_u64(bytes, 32).ok_or(ElfError::TooShort)?;
        let entry_len = read_u16(bytes, 54).ok_or(ElfError::TooShort)?;
        let count = read_u16(bytes, 56).ok_or(ElfError::TooShort)?;
        if usize::from(entry_len) != PROGRAM_HEADER_LEN {
            return Err(ElfError::BadProgramHeaders);
        }
        let offset = usize::try_from(offset).map_err(|_| ElfError::BadProgramHeaders)?;
        let table_end = usize::from(count)
            .checked_mul(PROGRAM_HEADER_LEN)
            .and_then(|len| offset.checked_add(len))
            .ok_or(ElfError::BadProgramHeaders)?;
        if table_end > bytes.len() {
            return Err(ElfError::BadProgramHeaders);
        }
        Ok(Elf {
            bytes,
            entry,
            program_headers: offset,
            program_header_count: usize::from(count),
        })
    }

    /// The entry point's virtual address.
    pub fn entry(&self) -> u64 {
        self.entry
    }

    /// The `PT_LOAD` segments in file order, each validated.
    pub fn segments(&self) -> impl Iterator<Item = Result<Segment<'a>, ElfError>> + '_ {
        (0..self.program_header_count).filter_map(move |index| {
            let header = self.program_headers + index * PROGRAM_HEADER_LEN;
            match read_u32(self.bytes, header) {
                Some(SEGMENT_LOAD) => Some(self.segment(header)),
                _ => None,
            }
        })
    }

    fn segment(&self, header: usize) -> Result<Segment<'a>, ElfError> {
        let field =
            |offset| read_u64(self.bytes, header + offset).ok_or(ElfError::BadProgramHeaders);
        let flags = read_u32(self.bytes, header + 4).ok_or(ElfError::BadProgramHeaders)?;
        let file_offset = field(8)?;
        let vaddr = field(16)?;
        let file_len = field(32)?;
        let mem_len = field(40)?;
        if file_len > mem_len {
            return Err(ElfError::SegmentOutsideFile);
        }
        let file = usize::try_from(file_offset)
            .ok()
            .zip(usize::try_from(file_len).ok())
            .and_then(|(start, len)| self.bytes.get(start..start.checked_add(len)?))
            .ok_or(ElfError::SegmentOutsideFile)?;
        match vaddr.checked_add(mem_len) {
            Some(end) if end <= USER_TOP => {}
            _ => return Err(ElfError::SegmentOutsideUserSpace),
        }
        let mut rights = Rights::empty();
        for (flag, right) in [
            (FLAG_READ, Rights::READ),
            (FLAG_WRITE, Rights::WRITE),
            (FLAG_EXECUTE, Rights::EXECUTE),
        ] {
            if flags & flag != 0 {
                rights = rights.union(right);
            }
        }
        Ok(Segment {
            vaddr,
            mem_len,
            file,
            rights,
        })
    }
}

fn read_u16(bytes: &[u8], offset: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        bytes.get(offset..offset.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn read_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        bytes.get(offset..offset.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn read_u64(bytes: &[u8], offset: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        bytes.get(offset..offset.checked_add(8)?)?.try_into().ok()?,
    ))
}
