//! The debug console: `print!`/`println!` over the `debug_write` syscall, buffered so one call is usually one trap.

use crate::substrate;
use abi::UserAddr;
use core::fmt;

/// Bytes collected before a trap; a line shorter than this reaches the console in one piece.
const BUFFER_LEN: usize = 256;

/// A formatter that sends its output to the kernel debug console.
///
/// Output is collected in a small buffer and written when the buffer fills, at each
/// newline, and when the `Console` is dropped, so that lines from different threads do
/// not interleave mid-line (as long as they fit the buffer).
pub struct Console {
    buffer: [u8; BUFFER_LEN],
    len: usize,
}

impl Console {
    /// An empty console writer.
    pub const fn new() -> Console {
        Console {
            buffer: [0; BUFFER_LEN],
            len: 0,
        }
    }

    /// Writes the buffered bytes to the kernel debug console.
    pub fn flush(&mut self) {
        write_all(&self.buffer[..self.len]);
        self.len = 0;
    }
}

impl Default for Console {
    fn default() -> Console {
        Console::new()
    }
}

impl fmt::Write for Console {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for &byte in text.as_bytes() {
            if self.len == BUFFER_LEN {
                self.flush();
            }
            self.buffer[self.len] = byte;
            self.len += 1;
            if byte == b'\n' {
                self.flush();
            }
        }
        Ok(())
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Writes `bytes` with as many `debug_write` traps as it takes; gives up on an error.
fn write_all(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        let address = UserAddr(bytes.as_ptr() as usize as u64);
        match substrate::debug_write(address, bytes.len() as u64) {
            Ok(written) if written > 0 => {
                let written = usize::try_from(written)
                    .unwrap_or(bytes.len())
                    .min(bytes.len());
                bytes = &bytes[written..];
            }
            // The console is the only place to report a console failure; drop the output.
            _ => return,
        }
    }
}

/// Formats `args` onto the debug console; the implementation of [`print!`](crate::print).
#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    let mut console = Console::new();
    // `Console::write_str` never fails, so neither does formatting into it.
    let _ = fmt::Write::write_fmt(&mut console, args);
}

/// Prints to the kernel debug console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::_print(::core::format_args!($($arg)*))
    };
}

/// Prints to the kernel debug console, with a newline.
#[macro_export]
macro_rules! println {
    () => {
        $crate::_print(::core::format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::_print(::core::format_args!("{}\n", ::core::format_args!($($arg)*)))
    };
}
