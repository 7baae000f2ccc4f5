//! Kernel console output: `print!` and `println!` over `arch::console_write`.

use core::fmt;

/// A `fmt::Write` sink that sends everything to the architecture console.
pub struct Console;

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        crate::arch::console_write(s.as_bytes());
        Ok(())
    }
}

/// Formats to the console; used by the macros.
pub fn print_args(args: fmt::Arguments<'_>) {
    // The console never fails, so the only error could come from a Display impl; ignore it
    // rather than lose the rest of the output.
    let _ = fmt::Write::write_fmt(&mut Console, args);
}

/// Prints to the kernel console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::print_args(format_args!($($arg)*)) };
}

/// Prints a line to the kernel console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::console::print_args(format_args!("{}\n", format_args!($($arg)*))) };
}
