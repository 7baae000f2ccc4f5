//! The boot CPU's scheduler tick: PIT channel 0 through the 8259 PIC, remapped to vectors 32..48; and busy waits timed by the PIT's counter.

use pic8259::ChainedPics;
use x86_64::instructions::port::Port;

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::hooks;
use crate::cell::BklCell;

/// First vector of the master PIC (IRQ 0).
pub const IRQ_BASE: u64 = 32;
const TIMER_VECTOR: u64 = IRQ_BASE;
const MASTER_SPURIOUS_VECTOR: u64 = IRQ_BASE + 7;
const SLAVE_SPURIOUS_VECTOR: u64 = IRQ_BASE + 15;

const PIC1_COMMAND: u16 = 0x20;
const PIC2_COMMAND: u16 = 0xa0;
/// OCW3 "read in-service register" (the `pic8259` crate has no ISR read, which telling a
/// spurious IRQ 7/15 from a real one needs).
const PIC_READ_ISR: u8 = 0x0b;

/// The two 8259s, remapped to vectors [`IRQ_BASE`]..[`IRQ_BASE`] + 16. They interrupt
/// only the boot CPU (through its local APIC's LINT0), whose handlers hold the big kernel
/// lock.
// SAFETY: The offsets lie above the 32 exception vectors and do not overlap.
static PICS: BklCell<ChainedPics> =
    BklCell::new(unsafe { ChainedPics::new(IRQ_BASE as u8, IRQ_BASE as u8 + 8) });

const PIT_CHANNEL0: u16 = 0x40;
const PIT_COMMAND: u16 = 0x43;
/// Channel 0, low then high byte, mode 2 (rate generator), binary.
const PIT_MODE_RATE: u8 = 0x34;
/// The PIT input clock in Hz.
const PIT_HZ: u64 = 1_193_182;
/// Channel 0, counter latch command.
const PIT_LATCH_CHANNEL0: u8 = 0x00;

/// The reload value of channel 0 (0 before [`init`]).
static DIVISOR: AtomicU64 = AtomicU64::new(0);

/// Remaps the PIC, unmasks only IRQ 0 and starts the PIT at `ticks_per_sec`
/// (`abi::TICKS_PER_SEC`). Interrupts stay disabled until user mode or the idle loop.
pub fn init(ticks_per_sec: u64) {
    assert!(ticks_per_sec > 0, "timer rate must be positive");
    let divisor = (PIT_HZ + ticks_per_sec / 2) / ticks_per_sec;
    assert!(
        (1..=0xffff).contains(&divisor),
        "{ticks_per_sec} ticks per second is outside what the PIT can generate"
    );
    DIVISOR.store(divisor, Ordering::Relaxed);
    // SAFETY: These ports belong to the 8259 PICs and the PIT, which only this module
    // programs; interrupts are disabled while they are reconfigured, and nothing else
    // holds a reference to PICS.
    unsafe {
        let pics = &mut *PICS.get();
        pics.initialize();
        // Only the timer (IRQ 0) on the master; everything on the slave masked.
        pics.write_masks(!1u8, 0xff);
        Port::<u8>::new(PIT_COMMAND).write(PIT_MODE_RATE);
        let mut channel0 = Port::<u8>::new(PIT_CHANNEL0);
        channel0.write((divisor & 0xff) as u8);
        channel0.write((divisor >> 8) as u8);
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
            // The master did see a real cascade interrupt and needs its acknowledgement:
            // an EOI for any master IRQ (the cascade is IRQ 2) goes to the master alone.
            end_of_interrupt(IRQ_BASE + 2);
        }
        vector => {
            // Only IRQ 0 is unmasked, so anything else is a lost race with a mask change.
            crate::println!("warning: unexpected interrupt vector {vector}");
            end_of_interrupt(vector);
        }
    }
}

/// Spins until `done` holds or `micros` microseconds have passed, timed by polling PIT
/// channel 0 (which [`init`] must have started); returns whether `done` held. Only the
/// boot CPU uses the PIT, with the big kernel lock held.
pub fn spin_wait(micros: u64, mut done: impl FnMut() -> bool) -> bool {
    let divisor = DIVISOR.load(Ordering::Relaxed);
    assert!(divisor != 0, "PIT busy wait before timer::init");
    let wanted = micros.saturating_mul(PIT_HZ) / 1_000_000;
    let mut elapsed = 0;
    let mut last = read_counter();
    loop {
        if done() {
            return true;
        }
        if elapsed >= wanted {
            return false;
        }
        core::hint::spin_loop();
        // The counter runs down from the divisor to 1 and reloads; polls come far more
        // often than once per period, so one reload at most lies between two reads.
        let now = read_counter();
        elapsed += if now <= last {
            last - now
        } else {
            last + divisor - now
        };
        last = now;
    }
}

/// Channel 0's current count.
fn read_counter() -> u64 {
    // SAFETY: The latch command freezes channel 0's count for the two reads that follow;
    // it does not disturb the counting.
    unsafe {
        Port::<u8>::new(PIT_COMMAND).write(PIT_LATCH_CHANNEL0);
        let mut channel0 = Port::<u8>::new(PIT_CHANNEL0);
        let low = u64::from(channel0.read());
        let high = u64::from(channel0.read());
        (high << 8) | low
    }
}

fn in_service(command_port: u16, irq: u8) -> bool {
    let mut port = Port::<u8>::new(command_port);
    // SAFETY: OCW3 "read ISR" followed by a read of the same port has no other effect.
    unsafe {
        port.write(PIC_READ_ISR);
        port.read() & (1 << irq) != 0
    }
}

fn end_of_interrupt(vector: u64) {
    // SAFETY: EOIs only end the in-service interrupt on the PICs; nothing else holds a
    // reference to PICS (the big kernel lock, and interrupts are off in the kernel).
    unsafe { (*PICS.get()).notify_end_of_interrupt(vector as u8) };
}
