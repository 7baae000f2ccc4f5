//! The scheduler tick: PIT channel 0 through the 8259 PIC, remapped to vectors 32..48.

use super::cpu::{inb, outb};
use crate::arch::hooks;

/// First vector of the master PIC (IRQ 0).
pub const IRQ_BASE: u64 = 32;
const TIMER_VECTOR: u64 = IRQ_BASE;
const MASTER_SPURIOUS_VECTOR: u64 = IRQ_BASE + 7;
const SLAVE_SPURIOUS_VECTOR: u64 = IRQ_BASE + 15;

const PIC1_COMMAND: u16 = 0x20;
const PIC1_DATA: u16 = 0x21;
const PIC2_COMMAND: u16 = 0xa0;
const PIC2_DATA: u16 = 0xa1;
const PIC_EOI: u8 = 0x20;
const PIC_READ_ISR: u8 = 0x0b;

const PIT_CHANNEL0: u16 = 0x40;
const PIT_COMMAND: u16 = 0x43;
/// Channel 0, low then high byte, mode 2 (rate generator), binary.
const PIT_MODE_RATE: u8 = 0x34;
/// The PIT input clock in Hz.
const PIT_HZ: u64 = 1_193_182;

/// Remaps the PIC, unmasks only IRQ 0 and starts the PIT at `ticks_per_sec`
/// (`abi::TICKS_PER_SEC`). Interrupts stay disabled until user mode or the idle loop.
pub fn init(ticks_per_sec: u64) {
    assert!(ticks_per_sec > 0, "timer rate must be positive");
    let divisor = (PIT_HZ + ticks_per_sec / 2) / ticks_per_sec;
    assert!(
        (1..=0xffff).contains(&divisor),
        "{ticks_per_sec} ticks per second is outside what the PIT can generate"
    );
    // SAFETY: These ports belong to the 8259 PICs and the PIT, which only this module
    // programs; interrupts are disabled while they are reconfigured.
    unsafe {
        // ICW1: edge triggered, cascade, ICW4 follows.
        outb(PIC1_COMMAND, 0x11);
        outb(PIC2_COMMAND, 0x11);
        // ICW2: vector bases.
        outb(PIC1_DATA, IRQ_BASE as u8);
        outb(PIC2_DATA, (IRQ_BASE + 8) as u8);
        // ICW3: slave on IRQ 2.
        outb(PIC1_DATA, 1 << 2);
        outb(PIC2_DATA, 2);
        // ICW4: 8086 mode.
        outb(PIC1_DATA, 0x01);
        outb(PIC2_DATA, 0x01);
        // Masks: only the timer (IRQ 0) on the master; everything on the slave masked.
        outb(PIC1_DATA, !1u8);
        outb(PIC2_DATA, 0xff);

        outb(PIT_COMMAND, PIT_MODE_RATE);
        outb(PIT_CHANNEL0, (divisor & 0xff) as u8);
        outb(PIT_CHANNEL0, (divisor >> 8) as u8);
    }
}

/// Handles an interrupt vector at or above [`IRQ_BASE`].
pub fn interrupt(vector: u64, from_user: bool) {
    match vector {
        TIMER_VECTOR => {
            // Acknowledge first: the scheduler may switch threads and return much later.
            end_of_interrupt(vector);
            hooks::timer_tick(from_user);
        }
        MASTER_SPURIOUS_VECTOR if !in_service(PIC1_COMMAND, 7) => {}
        SLAVE_SPURIOUS_VECTOR if !in_service(PIC2_COMMAND, 7) => {
            // The master did see a real cascade interrupt and needs its acknowledgement.
            // SAFETY: An EOI to the master PIC only ends its in-service cascade IRQ.
            unsafe { outb(PIC1_COMMAND, PIC_EOI) };
        }
        vector => {
            // Only IRQ 0 is unmasked, so anything else is a lost race with a mask change.
            crate::println!("warning: unexpected interrupt vector {vector}");
            end_of_interrupt(vector);
        }
    }
}

fn in_service(command_port: u16, irq: u8) -> bool {
    // SAFETY: OCW3 "read ISR" followed by a read of the same port has no other effect.
    unsafe {
        outb(command_port, PIC_READ_ISR);
        inb(command_port) & (1 << irq) != 0
    }
}

fn end_of_interrupt(vector: u64) {
    // SAFETY: EOIs only end the in-service interrupt on the PICs.
    unsafe {
        if vector >= IRQ_BASE + 8 {
            outb(PIC2_COMMAND, PIC_EOI);
        }
        outb(PIC1_COMMAND, PIC_EOI);
    }
}
