//! COM1 16550 UART: the kernel console (polled output only), through the `uart_16550` crate.

use uart_16550::backend::PioBackend;
use uart_16550::{BaudRate, Config, Uart16550};

use crate::cell::BklCell;

const COM1: u16 = 0x3f8;

/// Set once in early boot; afterwards `crate::console`'s lock lets one CPU at a time print.
static UART: BklCell<Option<Uart16550<PioBackend>>> = BklCell::new(None);

/// Programs COM1 for 115200 baud, 8N1, FIFOs on, no interrupts. Without a UART (QEMU
/// always has one) the console stays silent.
pub fn init() {
    // SAFETY: COM1's eight ports belong to the UART, which only the kernel drives.
    let Ok(mut uart) = (unsafe { Uart16550::new_port(COM1) }) else {
        return;
    };
    let config = Config {
        baud_rate: BaudRate::Baud115200,
        ..Config::DEFAULT
    };
    if uart.init(config).is_ok() {
        // SAFETY: Called once in early boot, before anything prints.
        unsafe { *UART.get() = Some(uart) };
    }
}

/// Sends one byte, waiting while the transmitter is full.
pub fn put(byte: u8) {
    // SAFETY: The console lock lets one CPU at a time print, with interrupts off in the
    // kernel: no other reference to the UART is live while this runs (a panic report that
    // could not get the lock only adds bytes to a polled UART).
    if let Some(uart) = unsafe { (*UART.get()).as_mut() } {
        uart.send_bytes_exact(&[byte]);
    }
}
