//! COM1 16550 UART: the kernel console (polled output only).

use super::cpu::{inb, outb};

const COM1: u16 = 0x3f8;
const DATA: u16 = COM1;
const INTERRUPT_ENABLE: u16 = COM1 + 1;
const FIFO_CONTROL: u16 = COM1 + 2;
const LINE_CONTROL: u16 = COM1 + 3;
const MODEM_CONTROL: u16 = COM1 + 4;
const LINE_STATUS: u16 = COM1 + 5;
const LINE_STATUS_THR_EMPTY: u8 = 1 << 5;

/// Programs COM1 for 115200 baud, 8N1, FIFOs on, no interrupts.
pub fn init() {
    // SAFETY: These ports belong to the COM1 UART, which only the kernel drives.
    unsafe {
        outb(INTERRUPT_ENABLE, 0x00);
        outb(LINE_CONTROL, 0x80); // Divisor latch access.
        outb(DATA, 0x01); // Divisor 1 = 115200 baud (low byte).
        outb(INTERRUPT_ENABLE, 0x00); // Divisor high byte.
        outb(LINE_CONTROL, 0x03); // 8 bits, no parity, one stop bit.
        outb(FIFO_CONTROL, 0xc7); // Enable and clear FIFOs.
        outb(MODEM_CONTROL, 0x03); // DTR and RTS.
    }
}

/// Sends one byte, waiting while the transmitter is full.
pub fn put(byte: u8) {
    // SAFETY: Polling the line status and writing the data register of COM1 has no effect
    // beyond sending the byte.
    unsafe {
        while inb(LINE_STATUS) & LINE_STATUS_THR_EMPTY == 0 {
            core::hint::spin_loop();
        }
        outb(DATA, byte);
    }
}
