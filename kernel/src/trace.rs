//! Syscall trace records (feature `trace`): one compact hex line per trap entry and return, decoded by `cargo xtask run --trace` with the schema.
//!
//! The kernel knows no names here: an entry record is `\x01E<thread>:<number>:<arg0>:…:<arg5>`
//! and a return record `\x01R<thread>:<status>:<value>` or `\x01A<thread>` (the syscall was
//! abandoned: its registers were rewritten), each ending with a newline, every field in
//! lowercase hex; `<thread>` is the TCB's physical address. The records go to the debug
//! console with interrupts off, so they never interleave with each other; xtask strips
//! them out of the user's text (docs/CONTRACTS.md, "Syscall trace records").

#[cfg(not(debug_assertions))]
compile_error!(
    "the `trace` feature is for debug kernels only: release and benchmark builds must not trace"
);

/// Starts every record; xtask splits the console stream at it.
const MARKER: u8 = 0x01;

/// Longest record: marker, kind, 9 fields of 16 digits with separators, newline.
const RECORD_MAX: usize = 2 + 9 * 17 + 1;

/// Records a trap's entry: the thread, the number register and the argument registers.
pub fn entry(thread: u64, number: u64, args: &[u64]) {
    let mut record = Record::new(b'E', thread);
    record.field(number);
    for &arg in args {
        record.field(arg);
    }
    record.emit();
}

/// Records a trap's return: the result registers, or that they were not written.
pub fn exit(thread: u64, results: Option<[u64; 2]>) {
    match results {
        Some([status, value]) => {
            let mut record = Record::new(b'R', thread);
            record.field(status);
            record.field(value);
            record.emit();
        }
        None => Record::new(b'A', thread).emit(),
    }
}

/// A record being built on the stack.
struct Record {
    bytes: [u8; RECORD_MAX],
    len: usize,
}

impl Record {
    fn new(kind: u8, thread: u64) -> Record {
        let mut record = Record {
            bytes: [0; RECORD_MAX],
            len: 0,
        };
        record.push(MARKER);
        record.push(kind);
        record.hex(thread);
        record
    }

    fn push(&mut self, byte: u8) {
        if self.len < RECORD_MAX {
            self.bytes[self.len] = byte;
            self.len += 1;
        }
    }

    fn field(&mut self, value: u64) {
        self.push(b':');
        self.hex(value);
    }

    /// `value` in lowercase hex without leading zeros.
    fn hex(&mut self, value: u64) {
        let digits = (64 - value.leading_zeros()).div_ceil(4).max(1);
        for shift in (0..digits).rev() {
            let nibble = ((value >> (shift * 4)) & 0xf) as u8;
            self.push(if nibble < 10 {
                b'0' + nibble
            } else {
                b'a' + nibble - 10
            });
        }
    }

    fn emit(mut self) {
        self.push(b'\n');
        crate::arch::console_write(&self.bytes[..self.len]);
    }
}
