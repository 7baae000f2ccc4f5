//! The PL011 UART of QEMU virt: the kernel console (polled output only).

/// Physical address of the PL011 on the virt machine.
const PL011_PADDR: u64 = 0x0900_0000;
const DATA: usize = 0x00;
const FLAGS: usize = 0x18;
const CONTROL: usize = 0x30;
const FLAGS_TX_FULL: u32 = 1 << 5;
/// UARTEN | TXE | RXE.
const CONTROL_ENABLE: u32 = (1 << 0) | (1 << 8) | (1 << 9);

fn register(offset: usize) -> *mut u32 {
    (super::phys_to_virt(PL011_PADDR) + offset) as *mut u32
}

/// Enables the UART's transmitter (QEMU needs no baud rate setup).
pub fn init() {
    // SAFETY: The PL011 sits in the device block of the direct map; only the kernel drives it.
    unsafe { register(CONTROL).write_volatile(CONTROL_ENABLE) };
}

/// Sends one byte, waiting while the transmitter is full.
pub fn put(byte: u8) {
    // SAFETY: Polling the flag register and writing the data register only sends the byte.
    unsafe {
        while register(FLAGS).read_volatile() & FLAGS_TX_FULL != 0 {
            core::hint::spin_loop();
        }
        register(DATA).write_volatile(u32::from(byte));
    }
}
