//! The kernel console over each port's UART: `console_write`, with the `\n` to `\r\n` translation every port needs.

use super::console_put;

/// Writes bytes to the kernel console, turning `\n` into `\r\n`.
pub fn console_write(bytes: &[u8]) {
    for &b in bytes {
        if b == b'\n' {
            console_put(b'\r');
        }
        console_put(b);
    }
}
