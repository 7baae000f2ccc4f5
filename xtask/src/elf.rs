//! Shrinking user ELF files for the boot image: keep what a loader reads, drop section headers and debug info.

use abi::PAGE_SIZE;
use anyhow::{Context, Result, bail, ensure};

const ELF_MAGIC: &[u8; 4] = b"\x7fELF";
const CLASS_64: u8 = 2;
const LITTLE_ENDIAN: u8 = 1;
const HEADER_LEN: usize = 64;
const PROGRAM_HEADER_LEN: usize = 56;
const PT_LOAD: u32 = 1;
const PF_X: u32 = 1;
const PF_W: u32 = 2;

/// The fields of one program header that the checks need.
struct Segment {
    kind: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    file_size: u64,
}

/// Returns the part of a 64-bit little-endian ELF file that its program headers use: the
/// ELF header, the program header table and every segment's file bytes. Section headers
/// and everything only they describe (symbols, debug info) are dropped, and the header's
/// section-table fields are zeroed. The original file stays in `target/` for debuggers.
///
/// Also enforces what `trona/user.ld` promises the loader: every loadable segment starts
/// on a page boundary (in memory and in the file) and none is both writable and executable.
pub fn loadable_only(file: &[u8]) -> Result<Vec<u8>> {
    ensure!(
        file.len() >= HEADER_LEN && &file[..4] == ELF_MAGIC,
        "not an ELF file"
    );
    ensure!(
        file[4] == CLASS_64 && file[5] == LITTLE_ENDIAN,
        "not a 64-bit little-endian ELF file"
    );
    let table = read_u64(file, 0x20)?;
    let entry_len = u64::from(read_u16(file, 0x36)?);
    let count = u64::from(read_u16(file, 0x38)?);
    ensure!(
        entry_len as usize >= PROGRAM_HEADER_LEN,
        "program headers are too short"
    );

    let table_end = entry_len
        .checked_mul(count)
        .and_then(|len| len.checked_add(table))
        .context("the program header table wraps around")?;
    let mut end = table_end.max(HEADER_LEN as u64);
    for index in 0..count {
        // `table + index * entry_len` stays below `table_end`, which did not overflow.
        let header = usize::try_from(table + index * entry_len)?;
        let segment = Segment {
            kind: read_u32(file, header)?,
            flags: read_u32(file, header + 4)?,
            offset: read_u64(file, header + 8)?,
            vaddr: read_u64(file, header + 16)?,
            file_size: read_u64(file, header + 32)?,
        };
        if segment.kind == PT_LOAD {
            ensure!(
                segment.flags & (PF_W | PF_X) != PF_W | PF_X,
                "segment {index} at {:#x} is both writable and executable",
                segment.vaddr
            );
            ensure!(
                segment.vaddr.is_multiple_of(PAGE_SIZE) && segment.offset.is_multiple_of(PAGE_SIZE),
                "segment {index} at {:#x} does not start on a page boundary",
                segment.vaddr
            );
        }
        let segment_end = segment.offset.checked_add(segment.file_size);
        end = end.max(segment_end.with_context(|| format!("segment {index} wraps around"))?);
    }
    let end = usize::try_from(end)?;
    ensure!(
        end <= file.len(),
        "a segment extends past the end of the file"
    );

    let mut out = file[..end].to_vec();
    out[0x28..0x30].fill(0); // e_shoff
    out[0x3c..0x40].fill(0); // e_shnum, e_shstrndx
    Ok(out)
}

fn read_u64(file: &[u8], at: usize) -> Result<u64> {
    match file.get(at..at + 8) {
        Some(bytes) => Ok(u64::from_le_bytes(bytes.try_into()?)),
        None => bail!("ELF file is truncated"),
    }
}

fn read_u32(file: &[u8], at: usize) -> Result<u32> {
    match file.get(at..at + 4) {
        Some(bytes) => Ok(u32::from_le_bytes(bytes.try_into()?)),
        None => bail!("ELF file is truncated"),
    }
}

fn read_u16(file: &[u8], at: usize) -> Result<u16> {
    match file.get(at..at + 2) {
        Some(bytes) => Ok(u16::from_le_bytes(bytes.try_into()?)),
        None => bail!("ELF file is truncated"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PF_R: u32 = 4;

    /// The byte offset of program header `index` in `sample()`.
    fn header(index: usize) -> usize {
        64 + index * 56
    }

    /// A minimal ELF: header, two program headers (text R+X at file offset 0x1000, data
    /// R+W at 0x2000), segment data, then bytes standing in for sections, with a section
    /// table offset set.
    fn sample() -> Vec<u8> {
        let mut file = vec![0u8; 0x2200];
        file[..4].copy_from_slice(ELF_MAGIC);
        file[4] = CLASS_64;
        file[5] = LITTLE_ENDIAN;
        file[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        file[0x28..0x30].copy_from_slice(&0x2100u64.to_le_bytes());
        file[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        file[0x38..0x3a].copy_from_slice(&2u16.to_le_bytes());
        file[0x3c..0x3e].copy_from_slice(&5u16.to_le_bytes());
        let segments = [
            (PF_R | PF_X, 0x1000u64, 0x40_0000u64, 0x20u64),
            (PF_R | PF_W, 0x2000, 0x40_1000, 0x30),
        ];
        for (index, (flags, offset, vaddr, size)) in segments.into_iter().enumerate() {
            let at = header(index);
            file[at..at + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
            file[at + 4..at + 8].copy_from_slice(&flags.to_le_bytes());
            file[at + 8..at + 16].copy_from_slice(&offset.to_le_bytes());
            file[at + 16..at + 24].copy_from_slice(&vaddr.to_le_bytes());
            file[at + 32..at + 40].copy_from_slice(&size.to_le_bytes());
        }
        file
    }

    #[test]
    fn keeps_headers_and_segments_only() {
        let stripped = loadable_only(&sample()).unwrap();
        assert_eq!(stripped.len(), 0x2030);
        assert_eq!(&stripped[..0x28], &sample()[..0x28]);
        assert_eq!(&stripped[0x30..0x3c], &sample()[0x30..0x3c]);
        assert_eq!(read_u64(&stripped, 0x28).unwrap(), 0);
        assert_eq!(read_u16(&stripped, 0x3c).unwrap(), 0);
    }

    #[test]
    fn rejects_malformed_files() {
        type Corruption = fn(&mut Vec<u8>);
        let cases: [(&str, Corruption); 7] = [
            ("not an ELF", |f| f[0] = 0),
            ("32-bit", |f| f[4] = 1),
            ("truncated", |f| f.truncate(0x2010)),
            ("wrapping segment", |f| {
                let at = header(1) + 32;
                f[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
            }),
            ("wrapping table", |f| {
                f[0x20..0x28].copy_from_slice(&u64::MAX.to_le_bytes())
            }),
            ("writable code", |f| {
                let at = header(0) + 4;
                f[at..at + 4].copy_from_slice(&(PF_R | PF_W | PF_X).to_le_bytes());
            }),
            ("unaligned data", |f| {
                let at = header(1) + 16;
                f[at..at + 8].copy_from_slice(&0x40_1800u64.to_le_bytes());
            }),
        ];
        for (what, corrupt) in cases {
            let mut file = sample();
            corrupt(&mut file);
            assert!(loadable_only(&file).is_err(), "{what}");
        }
    }
}
