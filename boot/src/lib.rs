//! The boot handoff: the `BootInfo` page the kernel gives the root task, and the boot-image archive that carries the user programs.
//!
//! Two things cross the boot boundary and both are defined here, once, for the kernel,
//! trona and xtask:
//!
//! * [`BootInfo`] — one read-only page the kernel maps at `abi::BOOTINFO_VADDR` in the root
//!   task. It lists the untyped capabilities the root task received, the physical memory
//!   map and the boot modules (the other user programs, mapped read-only). It is
//!   `#[repr(C)]` with fixed-size arrays and `u64` fields only, so it has no padding and no
//!   pointers, and it reads the same on every architecture.
//! * The boot image ([`image`]) — an archive of named blobs that xtask packs on the host
//!   and the kernel links in with `include_bytes!`. Entry 0 is the root task's ELF; the
//!   rest become boot modules.
//!
//! Nothing here allocates or panics on bad input: readers validate and return errors.
#![cfg_attr(not(test), no_std)]

pub mod image;

pub use image::{BootImage, Entry, ImageError, packed_len, write_image};

/// `BootInfo::magic` for this layout: the bytes "KNTBOOT1" read as a little-endian `u64`.
///
/// Bump the trailing digit when the layout of [`BootInfo`] changes.
pub const MAGIC: u64 = u64::from_le_bytes(*b"KNTBOOT1");

/// Capacity of [`BootInfo::untyped`].
pub const MAX_UNTYPED: usize = 64;

/// Capacity of [`BootInfo::memory`].
pub const MAX_REGIONS: usize = 32;

/// Capacity of [`BootInfo::modules`].
pub const MAX_MODULES: usize = 8;

/// Bytes reserved for a module or image entry name (UTF-8, padded with NUL bytes).
pub const NAME_LEN: usize = 32;

/// The size of the page that holds a [`BootInfo`] (`abi::PAGE_SIZE`); the layout must fit in it.
const BOOTINFO_PAGE_BYTES: usize = abi::PAGE_SIZE as usize;

/// The boot information page, as the kernel writes it and the root task reads it.
///
/// Only the first `*_count` elements of each array are meaningful; use the accessor
/// methods ([`BootInfo::untyped`], [`BootInfo::memory`], [`BootInfo::modules`]), which
/// clamp a count to the array's capacity.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootInfo {
    /// Always [`MAGIC`].
    pub magic: u64,
    /// `abi::ABI_FINGERPRINT` of the kernel that wrote this page.
    pub abi_fingerprint: u64,
    /// Number of valid entries in `untyped`.
    pub untyped_count: u64,
    /// The untyped capabilities in the root CNode, in slot order.
    pub untyped: [UntypedDesc; MAX_UNTYPED],
    /// First empty root CNode slot after the untyped capabilities.
    pub first_free_slot: u64,
    /// Number of valid entries in `memory`.
    pub memory_region_count: u64,
    /// The physical memory map.
    pub memory: [MemoryRegion; MAX_REGIONS],
    /// Number of valid entries in `modules`.
    pub module_count: u64,
    /// The boot modules, mapped read-only in the root task.
    pub modules: [BootModule; MAX_MODULES],
    /// `abi::ABI_VERSION_MAJOR` of the kernel that wrote this page. Last, so that the
    /// offsets of every earlier field stay those older programs read; 0 from kernels
    /// that predate it.
    pub abi_version_major: u64,
    /// `abi::ABI_VERSION_MINOR` of that kernel (0 from kernels that predate it).
    pub abi_version_minor: u64,
    /// How many CPUs run, the boot CPU included (0 from kernels that predate it). After
    /// the version fields, for the same reason.
    pub cpu_count: u64,
}

/// One untyped capability handed to the root task.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UntypedDesc {
    /// The root CNode slot that holds the capability.
    pub slot: u64,
    /// Physical address of the first byte of the region.
    pub paddr: u64,
    /// log2 of the region's size in bytes.
    pub size_bits: u64,
}

/// One range of the physical memory map.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryRegion {
    /// Physical address of the first byte.
    pub base: u64,
    /// Length in bytes.
    pub len: u64,
    /// A [`MemoryKind`] code; read it with [`MemoryRegion::kind`].
    pub kind: u64,
}

/// What a [`MemoryRegion`] holds.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryKind {
    /// RAM that was free at boot; the kernel handed it to the root task as untyped memory.
    Usable = 1,
    /// RAM the kernel keeps: its image, the frame table, the root task's initial objects.
    Kernel = 2,
    /// Not RAM the kernel may use: firmware tables, device memory, holes.
    Reserved = 3,
}

/// A user program (or other blob) from the boot image, mapped read-only in the root task.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootModule {
    /// The module's name, UTF-8 padded with NUL bytes; read it with [`BootModule::name`].
    pub name: [u8; NAME_LEN],
    /// Where the module's bytes start in the root task's address space.
    pub vaddr: u64,
    /// Length of the module in bytes.
    pub len: u64,
}

/// Returned when a fixed-size [`BootInfo`] array has no room for another element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

const _: () = assert!(core::mem::size_of::<BootInfo>() <= BOOTINFO_PAGE_BYTES);
const _: () = assert!(core::mem::size_of::<UntypedDesc>() == 24);
const _: () = assert!(core::mem::size_of::<MemoryRegion>() == 24);
const _: () = assert!(core::mem::size_of::<BootModule>() == NAME_LEN + 16);

impl BootInfo {
    /// An empty page carrying [`MAGIC`], the given ABI fingerprint and this build's ABI
    /// version; the kernel fills it in.
    pub const fn new(abi_fingerprint: u64) -> BootInfo {
        BootInfo {
            magic: MAGIC,
            abi_fingerprint,
            untyped_count: 0,
            untyped: [UntypedDesc {
                slot: 0,
                paddr: 0,
                size_bits: 0,
            }; MAX_UNTYPED],
            first_free_slot: 0,
            memory_region_count: 0,
            memory: [MemoryRegion {
                base: 0,
                len: 0,
                kind: 0,
            }; MAX_REGIONS],
            module_count: 0,
            modules: [BootModule {
                name: [0; NAME_LEN],
                vaddr: 0,
                len: 0,
            }; MAX_MODULES],
            abi_version_major: abi::ABI_VERSION_MAJOR as u64,
            abi_version_minor: abi::ABI_VERSION_MINOR as u64,
            cpu_count: 0,
        }
    }

    /// Whether a program built for the ABI with `fingerprint` and version `major.minor`
    /// may run on the kernel that wrote this page: the very same ABI, or a later minor
    /// version of the same major one (minor versions only add; docs/abi-review.md).
    pub fn runs_abi(&self, fingerprint: u64, major: u64, minor: u64) -> bool {
        self.abi_fingerprint == fingerprint
            || (self.abi_version_major == major && self.abi_version_minor > minor)
    }

    /// Whether the page carries [`MAGIC`] and every count fits its array.
    pub fn is_valid(&self) -> bool {
        self.magic == MAGIC
            && self.untyped_count <= MAX_UNTYPED as u64
            && self.memory_region_count <= MAX_REGIONS as u64
            && self.module_count <= MAX_MODULES as u64
    }

    /// The untyped capabilities (the first `untyped_count`, clamped to the capacity).
    pub fn untyped(&self) -> &[UntypedDesc] {
        &self.untyped[..clamp(self.untyped_count, MAX_UNTYPED)]
    }

    /// The physical memory map (the first `memory_region_count`, clamped to the capacity).
    pub fn memory(&self) -> &[MemoryRegion] {
        &self.memory[..clamp(self.memory_region_count, MAX_REGIONS)]
    }

    /// The boot modules (the first `module_count`, clamped to the capacity).
    pub fn modules(&self) -> &[BootModule] {
        &self.modules[..clamp(self.module_count, MAX_MODULES)]
    }

    /// The boot module called `name`, if there is one.
    pub fn module(&self, name: &str) -> Option<&BootModule> {
        self.modules().iter().find(|module| module.name() == name)
    }

    /// Appends an untyped capability description.
    pub fn push_untyped(&mut self, desc: UntypedDesc) -> Result<(), Full> {
        let index = push_index(&mut self.untyped_count, MAX_UNTYPED)?;
        self.untyped[index] = desc;
        Ok(())
    }

    /// Appends a memory-map region.
    pub fn push_memory(&mut self, region: MemoryRegion) -> Result<(), Full> {
        let index = push_index(&mut self.memory_region_count, MAX_REGIONS)?;
        self.memory[index] = region;
        Ok(())
    }

    /// Appends a boot module.
    pub fn push_module(&mut self, module: BootModule) -> Result<(), Full> {
        let index = push_index(&mut self.module_count, MAX_MODULES)?;
        self.modules[index] = module;
        Ok(())
    }
}

impl MemoryRegion {
    /// A region of the given kind.
    pub const fn new(base: u64, len: u64, kind: MemoryKind) -> MemoryRegion {
        MemoryRegion {
            base,
            len,
            kind: kind as u64,
        }
    }

    /// The region's kind, or `None` for a code this build does not know.
    pub fn kind(&self) -> Option<MemoryKind> {
        MemoryKind::from_code(self.kind)
    }
}

impl MemoryKind {
    /// The kind with the given code, or `None` for an unknown code.
    pub fn from_code(code: u64) -> Option<MemoryKind> {
        [MemoryKind::Usable, MemoryKind::Kernel, MemoryKind::Reserved]
            .into_iter()
            .find(|kind| *kind as u64 == code)
    }
}

impl BootModule {
    /// A module entry; the name is truncated to [`NAME_LEN`] bytes at a character boundary.
    pub fn new(name: &str, vaddr: u64, len: u64) -> BootModule {
        BootModule {
            name: encode_name(name),
            vaddr,
            len,
        }
    }

    /// The module's bytes.
    ///
    /// # Safety
    ///
    /// Only in the root task the kernel booted with this entry, where the module is mapped
    /// read-only at `vaddr` for `len` bytes, and only while the task keeps it mapped.
    pub unsafe fn bytes(&self) -> &'static [u8] {
        // SAFETY: the caller's contract: the range is mapped, read-only and never written.
        unsafe { core::slice::from_raw_parts(self.vaddr as usize as *const u8, self.len as usize) }
    }

    /// The module's bytes as text, up to the first byte that is not UTF-8.
    ///
    /// # Safety
    ///
    /// As for [`BootModule::bytes`].
    pub unsafe fn text(&self) -> &'static str {
        // SAFETY: the caller's contract, passed on.
        let bytes = unsafe { self.bytes() };
        match core::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => core::str::from_utf8(&bytes[..error.valid_up_to()]).unwrap_or(""),
        }
    }

    /// The module's name: the bytes before the first NUL, cut at the first invalid UTF-8 byte.
    pub fn name(&self) -> &str {
        decode_name(&self.name)
    }
}

/// Encodes `name` as NUL-padded bytes, truncated to [`NAME_LEN`] at a character boundary.
pub fn encode_name(name: &str) -> [u8; NAME_LEN] {
    let mut end = name.len().min(NAME_LEN);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let mut bytes = [0; NAME_LEN];
    bytes[..end].copy_from_slice(&name.as_bytes()[..end]);
    bytes
}

/// Decodes a NUL-padded name: the bytes before the first NUL, cut at the first invalid UTF-8 byte.
pub fn decode_name(bytes: &[u8; NAME_LEN]) -> &str {
    let end = bytes.iter().position(|&byte| byte == 0).unwrap_or(NAME_LEN);
    match core::str::from_utf8(&bytes[..end]) {
        Ok(name) => name,
        // The prefix up to `valid_up_to` is valid UTF-8 by definition, so this cannot fail.
        Err(error) => core::str::from_utf8(&bytes[..error.valid_up_to()]).unwrap_or(""),
    }
}

fn clamp(count: u64, capacity: usize) -> usize {
    usize::try_from(count).map_or(capacity, |count| count.min(capacity))
}

fn push_index(count: &mut u64, capacity: usize) -> Result<usize, Full> {
    let index = clamp(*count, capacity);
    if index == capacity {
        return Err(Full);
    }
    *count = index as u64 + 1;
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_page_is_valid_and_empty() {
        let info = BootInfo::new(0x1234);
        assert!(info.is_valid());
        assert_eq!(info.abi_fingerprint, 0x1234);
        assert!(info.untyped().is_empty());
        assert!(info.memory().is_empty());
        assert!(info.modules().is_empty());
    }

    #[test]
    fn programs_run_on_the_same_abi_or_a_later_minor_version() {
        let mut kernel = BootInfo::new(0xabc);
        kernel.abi_version_major = 2;
        kernel.abi_version_minor = 3;
        let cases = [
            // (program fingerprint, major, minor, runs)
            (0xabc, 2, 3, true),
            (0xabc, 9, 9, true),
            (0xdef, 2, 2, true),
            (0xdef, 2, 0, true),
            (0xdef, 2, 3, false),
            (0xdef, 2, 4, false),
            (0xdef, 1, 2, false),
            (0xdef, 3, 0, false),
        ];
        for (fingerprint, major, minor, runs) in cases {
            assert_eq!(
                kernel.runs_abi(fingerprint, major, minor),
                runs,
                "{fingerprint:#x} {major}.{minor}"
            );
        }
    }

    #[test]
    fn push_fills_until_full() {
        let mut info = BootInfo::new(0);
        for i in 0..MAX_UNTYPED as u64 {
            let desc = UntypedDesc {
                slot: 16 + i,
                paddr: i << 20,
                size_bits: 20,
            };
            assert_eq!(info.push_untyped(desc), Ok(()));
        }
        let extra = UntypedDesc {
            slot: 99,
            paddr: 0,
            size_bits: 12,
        };
        assert_eq!(info.push_untyped(extra), Err(Full));
        assert_eq!(info.untyped().len(), MAX_UNTYPED);
        assert_eq!(info.untyped()[3].slot, 19);

        for _ in 0..MAX_MODULES {
            assert_eq!(info.push_module(BootModule::new("m", 0, 0)), Ok(()));
        }
        assert_eq!(info.push_module(BootModule::new("m", 0, 0)), Err(Full));
    }

    #[test]
    fn corrupt_counts_are_clamped_and_invalid() {
        let mut info = BootInfo::new(0);
        info.memory_region_count = u64::MAX;
        assert!(!info.is_valid());
        assert_eq!(info.memory().len(), MAX_REGIONS);
        info.memory_region_count = 0;
        info.magic = 0;
        assert!(!info.is_valid());
    }

    #[test]
    fn module_lookup_by_name() {
        let mut info = BootInfo::new(0);
        info.push_module(BootModule::new("abitest", 0x1000, 10))
            .unwrap();
        info.push_module(BootModule::new("bench", 0x2000, 0))
            .unwrap();
        assert_eq!(info.module("bench").map(|m| m.vaddr), Some(0x2000));
        assert_eq!(info.module("missing"), None);
    }

    #[test]
    fn names_round_trip_and_truncate() {
        check_name("init", "init");
        check_name("", "");
        check_name(&"x".repeat(40), &"x".repeat(NAME_LEN));
        // 'é' is two bytes: 31 ASCII bytes plus 'é' does not fit, so it is dropped whole.
        let long = format!("{}é", "a".repeat(31));
        check_name(&long, &"a".repeat(31));
    }

    #[test]
    fn invalid_utf8_name_is_cut() {
        let mut bytes = [0; NAME_LEN];
        bytes[..4].copy_from_slice(&[b'o', b'k', 0xff, b'x']);
        assert_eq!(decode_name(&bytes), "ok");
    }

    #[test]
    fn memory_kinds_decode() {
        assert_eq!(
            MemoryRegion::new(0, 4096, MemoryKind::Kernel).kind(),
            Some(MemoryKind::Kernel)
        );
        assert_eq!(
            MemoryRegion {
                base: 0,
                len: 0,
                kind: 0
            }
            .kind(),
            None
        );
        assert_eq!(MemoryKind::from_code(1), Some(MemoryKind::Usable));
        assert_eq!(MemoryKind::from_code(3), Some(MemoryKind::Reserved));
    }

    fn check_name(input: &str, expected: &str) {
        let module = BootModule::new(input, 0, 0);
        assert_eq!(module.name(), expected, "name {input:?}");
    }
}
