//! The boot-image archive: named blobs packed by xtask on the host and unpacked by the kernel.
//!
//! Layout (all integers little-endian `u64`):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | [`IMAGE_MAGIC`] (`"KNTIMG01"`) |
//! | 8 | 8 | entry count, 1 to [`MAX_ENTRIES`] |
//! | 16 | 8 | total length of the image in bytes |
//! | 24 | 48 × count | entries: name (`NAME_LEN` bytes, UTF-8, NUL-padded), payload offset, payload length |
//! | … | | payloads, in entry order, each at an offset that is a multiple of 8, zero padding between |
//!
//! Entry 0 is the root task's ELF; the others become boot modules. Names are non-empty,
//! unique and free of NUL bytes. [`BootImage::parse`] checks every rule above and returns
//! an [`ImageError`] for any violation; it never panics and never allocates.
//!
//! Offsets are relative to the start of the image, so a payload is 8-byte aligned in
//! memory only if the image itself is; a reader that needs aligned access should place
//! the image at an 8-byte-aligned address (or copy the payload, as an ELF loader does).

use crate::{MAX_MODULES, NAME_LEN, decode_name};

/// The first eight bytes of every boot image.
pub const IMAGE_MAGIC: [u8; 8] = *b"KNTIMG01";

/// Most entries an image may hold: the root task plus one per boot module.
pub const MAX_ENTRIES: usize = 1 + MAX_MODULES;

/// Payload offsets are multiples of this.
pub const PAYLOAD_ALIGN: usize = 8;

const HEADER_LEN: usize = 24;
const ENTRY_LEN: usize = NAME_LEN + 16;

/// One named blob of a boot image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The entry's name: non-empty UTF-8 of at most `NAME_LEN` bytes, without NUL.
    pub name: &'a str,
    /// The payload.
    pub data: &'a [u8],
}

/// A validated boot image, borrowed from its bytes.
#[derive(Clone, Copy, Debug)]
pub struct BootImage<'a> {
    bytes: &'a [u8],
    count: usize,
}

/// Why an image could not be read or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageError {
    /// The bytes are shorter than the header or the entry table.
    Truncated,
    /// The image does not start with [`IMAGE_MAGIC`].
    BadMagic,
    /// The image has no entries, so no root task.
    NoEntries,
    /// More than [`MAX_ENTRIES`] entries.
    TooManyEntries,
    /// The header's total length differs from the number of bytes given.
    LengthMismatch,
    /// The entry's payload starts inside the header or table, or before the previous payload ends.
    OverlappingPayload { index: usize },
    /// The entry's payload offset is not a multiple of [`PAYLOAD_ALIGN`].
    MisalignedPayload { index: usize },
    /// The entry's payload extends past the end of the image.
    PayloadOutOfBounds { index: usize },
    /// The entry's name is empty, too long, not UTF-8, or contains a NUL byte.
    BadName { index: usize },
    /// The entry's name repeats an earlier entry's name.
    DuplicateName { index: usize },
    /// The output buffer given to [`write_image`] is smaller than [`packed_len`].
    BufferTooSmall,
}

impl core::fmt::Display for ImageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ImageError::Truncated => write!(f, "boot image is truncated"),
            ImageError::BadMagic => write!(f, "boot image has a bad magic number"),
            ImageError::NoEntries => write!(f, "boot image has no entries (no root task)"),
            ImageError::TooManyEntries => {
                write!(f, "boot image has more than {MAX_ENTRIES} entries")
            }
            ImageError::LengthMismatch => {
                write!(f, "boot image length differs from its header")
            }
            ImageError::OverlappingPayload { index } => {
                write!(
                    f,
                    "boot image entry {index} overlaps the table or an earlier payload"
                )
            }
            ImageError::MisalignedPayload { index } => {
                write!(
                    f,
                    "boot image entry {index} is not {PAYLOAD_ALIGN}-byte aligned"
                )
            }
            ImageError::PayloadOutOfBounds { index } => {
                write!(
                    f,
                    "boot image entry {index} extends past the end of the image"
                )
            }
            ImageError::BadName { index } => write!(
                f,
                "boot image entry {index} has an empty, over-long ({NAME_LEN} bytes max), \
                 non-UTF-8 or NUL-containing name"
            ),
            ImageError::DuplicateName { index } => {
                write!(f, "boot image entry {index} repeats an earlier name")
            }
            ImageError::BufferTooSmall => write!(f, "output buffer is too small for the image"),
        }
    }
}

impl<'a> BootImage<'a> {
    /// Validates `bytes` as a boot image.
    pub fn parse(bytes: &'a [u8]) -> Result<BootImage<'a>, ImageError> {
        let magic = bytes
            .get(..IMAGE_MAGIC.len())
            .ok_or(ImageError::Truncated)?;
        if magic != IMAGE_MAGIC {
            return Err(ImageError::BadMagic);
        }
        let count = read_u64(bytes, 8).ok_or(ImageError::Truncated)?;
        let total_len = read_u64(bytes, 16).ok_or(ImageError::Truncated)?;
        if count == 0 {
            return Err(ImageError::NoEntries);
        }
        if count > MAX_ENTRIES as u64 {
            return Err(ImageError::TooManyEntries);
        }
        // `count` is at most MAX_ENTRIES here, so these conversions and products are small.
        let count = count as usize;
        let table_end = HEADER_LEN + count * ENTRY_LEN;
        if bytes.len() < table_end {
            return Err(ImageError::Truncated);
        }
        if total_len != bytes.len() as u64 {
            return Err(ImageError::LengthMismatch);
        }

        let image = BootImage { bytes, count };
        let mut previous_end = table_end as u64;
        for index in 0..count {
            let raw = image.raw_entry(index).ok_or(ImageError::Truncated)?;
            if raw.offset < previous_end {
                return Err(ImageError::OverlappingPayload { index });
            }
            if raw.offset % PAYLOAD_ALIGN as u64 != 0 {
                return Err(ImageError::MisalignedPayload { index });
            }
            let end = raw.offset.checked_add(raw.len);
            if end.is_none_or(|end| end > total_len) {
                return Err(ImageError::PayloadOutOfBounds { index });
            }
            previous_end = raw.offset + raw.len;
            let name = valid_name(raw.name).ok_or(ImageError::BadName { index })?;
            for earlier in 0..index {
                let earlier_name = image.raw_entry(earlier).map(|raw| decode_name(raw.name));
                if earlier_name == Some(name) {
                    return Err(ImageError::DuplicateName { index });
                }
            }
        }
        Ok(image)
    }

    /// Number of entries, root task included (at least 1).
    pub fn len(&self) -> usize {
        self.count
    }

    /// Always false: a valid image holds at least the root task.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The entry at `index`, or `None` past the end.
    pub fn entry(&self, index: usize) -> Option<Entry<'a>> {
        if index >= self.count {
            return None;
        }
        let raw = self.raw_entry(index)?;
        let start = usize::try_from(raw.offset).ok()?;
        let len = usize::try_from(raw.len).ok()?;
        let data = self.bytes.get(start..start.checked_add(len)?)?;
        Some(Entry {
            name: decode_name(raw.name),
            data,
        })
    }

    /// Entry 0: the root task's ELF.
    pub fn root_task(&self) -> Entry<'a> {
        // `parse` guarantees at least one in-bounds entry; the fallback is unreachable.
        self.entry(0).unwrap_or(Entry {
            name: "",
            data: &[],
        })
    }

    /// Every entry after the root task: the boot modules.
    pub fn modules(&self) -> impl Iterator<Item = Entry<'a>> + 'a {
        let image = *self;
        (1..self.count).filter_map(move |index| image.entry(index))
    }

    /// Every entry, root task first.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'a>> + 'a {
        let image = *self;
        (0..self.count).filter_map(move |index| image.entry(index))
    }

    fn raw_entry(&self, index: usize) -> Option<RawEntry<'a>> {
        let at = HEADER_LEN + index * ENTRY_LEN;
        let name = self.bytes.get(at..at + NAME_LEN)?.try_into().ok()?;
        let offset = read_u64(self.bytes, at + NAME_LEN)?;
        let len = read_u64(self.bytes, at + NAME_LEN + 8)?;
        Some(RawEntry { name, offset, len })
    }
}

/// The number of bytes [`write_image`] needs for `entries`.
pub fn packed_len(entries: &[Entry<'_>]) -> Result<usize, ImageError> {
    Ok(layout(entries)?.total_len)
}

/// Packs `entries` (root task first) into `out`, returning the number of bytes written.
///
/// Bytes of `out` past the returned length are left untouched; padding inside the image
/// is written as zeros.
pub fn write_image(entries: &[Entry<'_>], out: &mut [u8]) -> Result<usize, ImageError> {
    let layout = layout(entries)?;
    let out = out
        .get_mut(..layout.total_len)
        .ok_or(ImageError::BufferTooSmall)?;
    out.fill(0);
    out[..8].copy_from_slice(&IMAGE_MAGIC);
    out[8..16].copy_from_slice(&(entries.len() as u64).to_le_bytes());
    out[16..24].copy_from_slice(&(layout.total_len as u64).to_le_bytes());

    let mut offset = layout.table_end;
    for (index, entry) in entries.iter().enumerate() {
        offset = offset.next_multiple_of(PAYLOAD_ALIGN);
        let at = HEADER_LEN + index * ENTRY_LEN;
        out[at..at + entry.name.len()].copy_from_slice(entry.name.as_bytes());
        out[at + NAME_LEN..at + NAME_LEN + 8].copy_from_slice(&(offset as u64).to_le_bytes());
        let len = entry.data.len() as u64;
        out[at + NAME_LEN + 8..at + ENTRY_LEN].copy_from_slice(&len.to_le_bytes());
        out[offset..offset + entry.data.len()].copy_from_slice(entry.data);
        offset += entry.data.len();
    }
    Ok(layout.total_len)
}

struct RawEntry<'a> {
    name: &'a [u8; NAME_LEN],
    offset: u64,
    len: u64,
}

struct Layout {
    table_end: usize,
    total_len: usize,
}

/// Checks the writer's input and computes where everything goes.
fn layout(entries: &[Entry<'_>]) -> Result<Layout, ImageError> {
    if entries.is_empty() {
        return Err(ImageError::NoEntries);
    }
    if entries.len() > MAX_ENTRIES {
        return Err(ImageError::TooManyEntries);
    }
    let table_end = HEADER_LEN + entries.len() * ENTRY_LEN;
    let mut end = table_end;
    for (index, entry) in entries.iter().enumerate() {
        let name = entry.name;
        if name.is_empty() || name.len() > NAME_LEN || name.contains('\0') {
            return Err(ImageError::BadName { index });
        }
        if entries[..index].iter().any(|earlier| earlier.name == name) {
            return Err(ImageError::DuplicateName { index });
        }
        end = end
            .next_multiple_of(PAYLOAD_ALIGN)
            .checked_add(entry.data.len())
            .ok_or(ImageError::PayloadOutOfBounds { index })?;
    }
    Ok(Layout {
        table_end,
        total_len: end,
    })
}

/// The name in a NUL-padded field, if it is non-empty UTF-8 with nothing but NULs after it.
fn valid_name(bytes: &[u8; NAME_LEN]) -> Option<&str> {
    let end = bytes.iter().position(|&byte| byte == 0).unwrap_or(NAME_LEN);
    if end == 0 || bytes[end..].iter().any(|&byte| byte != 0) {
        return None;
    }
    core::str::from_utf8(&bytes[..end]).ok()
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let field = bytes.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(field.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    const ELF: &[u8] = b"\x7fELF root task bytes";
    const MODULE: &[u8] = b"abitest";

    fn pack(entries: &[Entry<'_>]) -> Vec<u8> {
        let mut out = vec![0xaa; packed_len(entries).unwrap()];
        let written = write_image(entries, &mut out).unwrap();
        assert_eq!(written, out.len());
        out
    }

    fn sample() -> Vec<u8> {
        pack(&[
            Entry {
                name: "init",
                data: ELF,
            },
            Entry {
                name: "abitest",
                data: MODULE,
            },
            Entry {
                name: "empty",
                data: &[],
            },
        ])
    }

    fn put_u64(bytes: &mut [u8], at: usize, value: u64) {
        bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
    }

    /// Applies `corrupt` to a valid sample image and expects `parse` to report `expected`.
    fn check_malformed(corrupt: impl FnOnce(&mut Vec<u8>), expected: ImageError) {
        let mut bytes = sample();
        corrupt(&mut bytes);
        assert_eq!(
            BootImage::parse(&bytes).map(|image| image.len()),
            Err(expected)
        );
    }

    #[test]
    fn round_trip() {
        let bytes = sample();
        let image = BootImage::parse(&bytes).unwrap();
        assert_eq!(image.len(), 3);
        assert_eq!(
            image.root_task(),
            Entry {
                name: "init",
                data: ELF
            }
        );
        let modules: Vec<_> = image.modules().collect();
        assert_eq!(
            modules,
            [
                Entry {
                    name: "abitest",
                    data: MODULE
                },
                Entry {
                    name: "empty",
                    data: &[]
                }
            ]
        );
        assert_eq!(image.entries().count(), 3);
        assert_eq!(image.entry(3), None);
        for index in 0..image.len() {
            let offset = read_u64(&bytes, HEADER_LEN + index * ENTRY_LEN + NAME_LEN).unwrap();
            assert_eq!(offset % PAYLOAD_ALIGN as u64, 0, "entry {index}");
        }
    }

    #[test]
    fn root_only_image_has_no_modules() {
        let bytes = pack(&[Entry {
            name: "abitest",
            data: ELF,
        }]);
        let image = BootImage::parse(&bytes).unwrap();
        assert_eq!(image.root_task().name, "abitest");
        assert_eq!(image.modules().count(), 0);
    }

    #[test]
    fn malformed_images_are_rejected() {
        let table_end = (HEADER_LEN + 3 * ENTRY_LEN) as u64;
        let entry = |index: usize| HEADER_LEN + index * ENTRY_LEN;
        check_malformed(|b| b.truncate(5), ImageError::Truncated);
        check_malformed(|b| b[0] = b'X', ImageError::BadMagic);
        check_malformed(|b| put_u64(b, 8, 0), ImageError::NoEntries);
        check_malformed(
            |b| put_u64(b, 8, MAX_ENTRIES as u64 + 1),
            ImageError::TooManyEntries,
        );
        check_malformed(|b| put_u64(b, 8, u64::MAX), ImageError::TooManyEntries);
        check_malformed(
            |b| b.truncate(HEADER_LEN + ENTRY_LEN),
            ImageError::Truncated,
        );
        check_malformed(|b| b.push(0), ImageError::LengthMismatch);
        check_malformed(|b| put_u64(b, 16, 0), ImageError::LengthMismatch);
        check_malformed(
            |b| put_u64(b, entry(0) + NAME_LEN, 0),
            ImageError::OverlappingPayload { index: 0 },
        );
        check_malformed(
            |b| put_u64(b, entry(1) + NAME_LEN, table_end),
            ImageError::OverlappingPayload { index: 1 },
        );
        check_malformed(
            |b| put_u64(b, entry(0) + NAME_LEN, table_end + 1),
            ImageError::MisalignedPayload { index: 0 },
        );
        check_malformed(
            |b| put_u64(b, entry(2) + NAME_LEN + 8, 1 << 40),
            ImageError::PayloadOutOfBounds { index: 2 },
        );
        check_malformed(
            |b| put_u64(b, entry(2) + NAME_LEN + 8, u64::MAX),
            ImageError::PayloadOutOfBounds { index: 2 },
        );
        check_malformed(|b| b[entry(1)] = 0, ImageError::BadName { index: 1 });
        check_malformed(|b| b[entry(1) + 1] = 0xff, ImageError::BadName { index: 1 });
        check_malformed(
            |b| b[entry(0) + NAME_LEN - 1] = b'z',
            ImageError::BadName { index: 0 },
        );
        check_malformed(
            |b| b[entry(2)..entry(2) + 5].copy_from_slice(b"init\0"),
            ImageError::DuplicateName { index: 2 },
        );
    }

    #[test]
    fn every_truncation_and_byte_flip_is_handled() {
        let bytes = sample();
        for len in 0..bytes.len() {
            assert!(
                BootImage::parse(&bytes[..len]).is_err(),
                "truncated to {len}"
            );
        }
        for at in 0..bytes.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut corrupt = bytes.clone();
                corrupt[at] ^= flip;
                // Any outcome is fine except a panic; an accepted image must stay in bounds.
                if let Ok(image) = BootImage::parse(&corrupt) {
                    for entry in image.entries() {
                        assert!(!entry.name.is_empty());
                        assert!(entry.data.len() <= corrupt.len());
                    }
                    assert_eq!(image.entries().count(), image.len());
                }
            }
        }
    }

    #[test]
    fn writer_rejects_bad_input() {
        let long = "n".repeat(NAME_LEN + 1);
        let too_many = [Entry {
            name: "x",
            data: &[],
        }; MAX_ENTRIES + 1];
        let cases: &[(&[Entry<'_>], ImageError)] = &[
            (&[], ImageError::NoEntries),
            (&too_many, ImageError::TooManyEntries),
            (
                &[Entry {
                    name: "",
                    data: ELF,
                }],
                ImageError::BadName { index: 0 },
            ),
            (
                &[Entry {
                    name: &long,
                    data: ELF,
                }],
                ImageError::BadName { index: 0 },
            ),
            (
                &[Entry {
                    name: "a\0b",
                    data: ELF,
                }],
                ImageError::BadName { index: 0 },
            ),
            (
                &[
                    Entry {
                        name: "a",
                        data: ELF,
                    },
                    Entry {
                        name: "a",
                        data: ELF,
                    },
                ],
                ImageError::DuplicateName { index: 1 },
            ),
        ];
        for (entries, expected) in cases {
            assert_eq!(packed_len(entries), Err(*expected), "{entries:?}");
        }
        let mut small = [0; 8];
        let entries = [Entry {
            name: "init",
            data: ELF,
        }];
        assert_eq!(
            write_image(&entries, &mut small),
            Err(ImageError::BufferTooSmall)
        );
    }

    #[test]
    fn name_of_exactly_name_len_bytes_round_trips() {
        let name = "n".repeat(NAME_LEN);
        let bytes = pack(&[Entry {
            name: &name,
            data: ELF,
        }]);
        assert_eq!(BootImage::parse(&bytes).unwrap().root_task().name, name);
    }
}
