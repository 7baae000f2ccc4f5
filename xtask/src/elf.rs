//! Shrinking user ELF files for the boot image: keep what a loader reads, drop section headers and debug info.

use anyhow::{Result, bail, ensure};

const ELF_MAGIC: &[u8; 4] = b"\x7fELF";
const CLASS_64: u8 = 2;
const LITTLE_ENDIAN: u8 = 1;
const HEADER_LEN: usize = 64;
const PROGRAM_HEADER_LEN: usize = 56;

/// Returns the part of a 64-bit little-endian ELF file that its program headers use: the
/// ELF header, the program header table and every segment's file bytes. Section headers
/// and everything only they describe (symbols, debug info) are dropped, and the header's
/// section-table fields are zeroed. The original file stays in `target/` for debuggers.
pub fn loadable_only(file: &[u8]) -> Result<Vec<u8>> {
    ensure!(
        file.len() >= HEADER_LEN && &file[..4] == ELF_MAGIC,
        "not an ELF file"
    );
    ensure!(
        file[4] == CLASS_64 && file[5] == LITTLE_ENDIAN,
        "not a 64-bit little-endian ELF file"
    );
    let program_headers = read_u64(file, 0x20)?;
    let entry_len = u64::from(read_u16(file, 0x36)?);
    let count = u64::from(read_u16(file, 0x38)?);
    ensure!(
        entry_len as usize >= PROGRAM_HEADER_LEN,
        "program headers are too short"
    );

    let table_end = program_headers + entry_len * count;
    let mut end = table_end.max(HEADER_LEN as u64);
    for index in 0..count {
        let header = usize::try_from(program_headers + index * entry_len)?;
        let offset = read_u64(file, header + 8)?;
        let file_size = read_u64(file, header + 32)?;
        let Some(segment_end) = offset.checked_add(file_size) else {
            bail!("segment {index} wraps around");
        };
        end = end.max(segment_end);
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

fn read_u16(file: &[u8], at: usize) -> Result<u16> {
    match file.get(at..at + 2) {
        Some(bytes) => Ok(u16::from_le_bytes(bytes.try_into()?)),
        None => bail!("ELF file is truncated"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF: header, two program headers, 0x40 bytes of segment data, then
    /// 0x100 bytes standing in for sections, with a section table offset set.
    fn sample() -> Vec<u8> {
        let mut file = vec![0u8; 0x200];
        file[..4].copy_from_slice(ELF_MAGIC);
        file[4] = CLASS_64;
        file[5] = LITTLE_ENDIAN;
        file[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        file[0x28..0x30].copy_from_slice(&0x180u64.to_le_bytes());
        file[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        file[0x38..0x3a].copy_from_slice(&2u16.to_le_bytes());
        file[0x3c..0x3e].copy_from_slice(&5u16.to_le_bytes());
        let segments = [(0xb0u64, 0x20u64), (0xd0, 0x30)];
        for (index, (offset, size)) in segments.into_iter().enumerate() {
            let header = 64 + index * 56;
            file[header..header + 4].copy_from_slice(&1u32.to_le_bytes());
            file[header + 8..header + 16].copy_from_slice(&offset.to_le_bytes());
            file[header + 32..header + 40].copy_from_slice(&size.to_le_bytes());
        }
        file
    }

    #[test]
    fn keeps_headers_and_segments_only() {
        let stripped = loadable_only(&sample()).unwrap();
        assert_eq!(stripped.len(), 0x100);
        assert_eq!(&stripped[..0x28], &sample()[..0x28]);
        assert_eq!(read_u64(&stripped, 0x28).unwrap(), 0);
        assert_eq!(read_u16(&stripped, 0x3c).unwrap(), 0);
    }

    #[test]
    fn rejects_malformed_files() {
        type Corruption = fn(&mut Vec<u8>);
        let cases: [(&str, Corruption); 4] = [
            ("not an ELF", |f| f[0] = 0),
            ("32-bit", |f| f[4] = 1),
            ("truncated", |f| f.truncate(0xc0)),
            ("wrapping segment", |f| {
                f[64 + 32..64 + 40].copy_from_slice(&u64::MAX.to_le_bytes())
            }),
        ];
        for (what, corrupt) in cases {
            let mut file = sample();
            corrupt(&mut file);
            assert!(loadable_only(&file).is_err(), "{what}");
        }
    }
}
