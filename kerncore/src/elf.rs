//! A minimal reader for static ELF64 little-endian executables: the header and the
//! loadable segments, validated against the file's bounds.
//!
//! The kernel uses it to load the root task. Every offset and size is checked before use,
//! so a malformed file is an error, never an out-of-bounds read.

use abi::Rights;

/// One PT_LOAD segment.
pub struct Segment<'a> {
    /// Virtual address of the first byte.
    pub vaddr: u64,
    /// Bytes in memory (the tail past `data` is zero).
    pub mem_size: u64,
    /// Bytes from the file.
    pub data: &'a [u8],
    /// Mapping rights from the segment flags.
    pub rights: Rights,
}

/// A parsed ELF64 little-endian executable.
pub struct Elf<'a> {
    bytes: &'a [u8],
    /// The entry point.
    pub entry: u64,
    phoff: usize,
    phentsize: usize,
    phnum: usize,
}

const PT_LOAD: u32 = 1;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const ET_EXEC: u16 = 2;
const PHDR_SIZE: usize = 56;

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

impl<'a> Elf<'a> {
    /// Checks the header (a static executable for `machine`, the ELF `e_machine`) and the
    /// program header table, including that every loadable segment lies inside the file.
    pub fn parse(bytes: &'a [u8], machine: u16) -> Result<Elf<'a>, &'static str> {
        if bytes.get(..4) != Some(b"\x7fELF".as_slice()) {
            return Err("no ELF magic");
        }
        if bytes.get(4) != Some(&2) || bytes.get(5) != Some(&1) {
            return Err("not ELF64 little-endian");
        }
        if u16_at(bytes, 16) != Some(ET_EXEC) {
            return Err("not a static (non-PIE) executable");
        }
        if u16_at(bytes, 18) != Some(machine) {
            return Err("not an executable for this architecture");
        }
        let entry = u64_at(bytes, 24).ok_or("truncated header")?;
        let phoff = usize::try_from(u64_at(bytes, 32).ok_or("truncated header")?)
            .map_err(|_| "bad phoff")?;
        let phentsize = usize::from(u16_at(bytes, 54).ok_or("truncated header")?);
        let phnum = usize::from(u16_at(bytes, 56).ok_or("truncated header")?);
        if phentsize < PHDR_SIZE {
            return Err("program headers too small");
        }
        let table_end = phnum
            .checked_mul(phentsize)
            .and_then(|len| len.checked_add(phoff));
        if table_end.is_none_or(|end| end > bytes.len()) {
            return Err("program headers outside the file");
        }
        let elf = Elf {
            bytes,
            entry,
            phoff,
            phentsize,
            phnum,
        };
        for index in 0..phnum {
            if elf.header_type(index) == PT_LOAD && elf.segment(index).is_none() {
                return Err("a loadable segment lies outside the file or wraps");
            }
        }
        Ok(elf)
    }

    fn header_type(&self, index: usize) -> u32 {
        u32_at(self.bytes, self.phoff + index * self.phentsize).unwrap_or(0)
    }

    fn segment(&self, index: usize) -> Option<Segment<'a>> {
        let at = self.phoff + index * self.phentsize;
        let flags = u32_at(self.bytes, at + 4)?;
        let offset = usize::try_from(u64_at(self.bytes, at + 8)?).ok()?;
        let vaddr = u64_at(self.bytes, at + 16)?;
        let file_size = usize::try_from(u64_at(self.bytes, at + 32)?).ok()?;
        let mem_size = u64_at(self.bytes, at + 40)?;
        let data = self.bytes.get(offset..offset.checked_add(file_size)?)?;
        vaddr.checked_add(mem_size)?;
        if (file_size as u64) > mem_size {
            return None;
        }
        let mut rights = Rights::READ;
        if flags & PF_W != 0 {
            rights = rights.union(Rights::WRITE);
        }
        if flags & PF_X != 0 {
            rights = rights.union(Rights::EXECUTE);
        }
        Some(Segment {
            vaddr,
            mem_size,
            data,
            rights,
        })
    }

    /// The loadable segments.
    pub fn segments(&self) -> impl Iterator<Item = Segment<'a>> + '_ {
        (0..self.phnum)
            .filter(|&index| self.header_type(index) == PT_LOAD)
            .filter_map(|index| self.segment(index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MACHINE: u16 = 62;

    /// One program header: (type, flags, offset, vaddr, file size, memory size).
    type Header = (u32, u32, u64, u64, u64, u64);

    /// An ELF file with `headers` and `payload` bytes after them.
    fn elf(machine: u16, headers: &[Header], payload: usize) -> Vec<u8> {
        let mut bytes = vec![0u8; 64 + headers.len() * PHDR_SIZE + payload];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = 2;
        bytes[5] = 1;
        bytes[16..18].copy_from_slice(&ET_EXEC.to_le_bytes());
        bytes[18..20].copy_from_slice(&machine.to_le_bytes());
        bytes[24..32].copy_from_slice(&0x40_1000u64.to_le_bytes());
        bytes[32..40].copy_from_slice(&64u64.to_le_bytes());
        bytes[54..56].copy_from_slice(&(PHDR_SIZE as u16).to_le_bytes());
        bytes[56..58].copy_from_slice(&(headers.len() as u16).to_le_bytes());
        for (index, &(kind, flags, offset, vaddr, file_size, mem_size)) in
            headers.iter().enumerate()
        {
            let at = 64 + index * PHDR_SIZE;
            bytes[at..at + 4].copy_from_slice(&kind.to_le_bytes());
            bytes[at + 4..at + 8].copy_from_slice(&flags.to_le_bytes());
            bytes[at + 8..at + 16].copy_from_slice(&offset.to_le_bytes());
            bytes[at + 16..at + 24].copy_from_slice(&vaddr.to_le_bytes());
            bytes[at + 32..at + 40].copy_from_slice(&file_size.to_le_bytes());
            bytes[at + 40..at + 48].copy_from_slice(&mem_size.to_le_bytes());
        }
        bytes
    }

    fn check_error(bytes: &[u8], expected: &str) {
        assert_eq!(Elf::parse(bytes, MACHINE).err(), Some(expected));
    }

    #[test]
    fn loadable_segments_with_rights() {
        let text = (PT_LOAD, PF_X | 4, 0, 0x40_0000, 0x10, 0x10);
        let note = (4, 4, 0, 0, 0, 0);
        let data = (PT_LOAD, PF_W | 4, 0x80, 0x40_2000, 0x8, 0x2000);
        let bytes = elf(MACHINE, &[text, note, data], 0x100);
        let parsed = Elf::parse(&bytes, MACHINE).unwrap();
        assert_eq!(parsed.entry, 0x40_1000);
        let segments: Vec<_> = parsed.segments().collect();
        assert_eq!(segments.len(), 2);
        assert_eq!(segments[0].vaddr, 0x40_0000);
        assert_eq!(segments[0].rights, Rights::READ.union(Rights::EXECUTE));
        assert_eq!(segments[0].data, &bytes[..0x10]);
        assert_eq!(segments[1].rights, Rights::READ.union(Rights::WRITE));
        assert_eq!((segments[1].data.len(), segments[1].mem_size), (8, 0x2000));
    }

    #[test]
    fn malformed_files_are_refused() {
        check_error(b"\x7fEL", "no ELF magic");
        let mut wrong_class = elf(MACHINE, &[], 0);
        wrong_class[4] = 1;
        check_error(&wrong_class, "not ELF64 little-endian");
        let mut shared_object = elf(MACHINE, &[], 0);
        shared_object[16] = 3;
        check_error(&shared_object, "not a static (non-PIE) executable");
        check_error(&elf(183, &[], 0), "not an executable for this architecture");
        check_error(&elf(MACHINE, &[], 0)[..40], "truncated header");
        let mut small_headers = elf(MACHINE, &[], 0);
        small_headers[54] = 32;
        check_error(&small_headers, "program headers too small");
        let mut many_headers = elf(MACHINE, &[], 0);
        many_headers[56] = 9;
        check_error(&many_headers, "program headers outside the file");
        let past_end = (PT_LOAD, 4, 0x60, 0x40_0000, 0x100, 0x100);
        check_error(
            &elf(MACHINE, &[past_end], 0x10),
            "a loadable segment lies outside the file or wraps",
        );
        let wraps = (PT_LOAD, 4, 0, u64::MAX - 0xf, 0, 0x100);
        check_error(
            &elf(MACHINE, &[wraps], 0),
            "a loadable segment lies outside the file or wraps",
        );
        let file_larger_than_memory = (PT_LOAD, 4, 0, 0x40_0000, 0x10, 0x8);
        check_error(
            &elf(MACHINE, &[file_larger_than_memory], 0x10),
            "a loadable segment lies outside the file or wraps",
        );
    }
}
