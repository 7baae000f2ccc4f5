//! The kernel panic handler: report on the console and stop the machine with a failure code.

use core::sync::atomic::{AtomicBool, Ordering};

/// Exit status a kernel panic hands to `arch::shutdown` (QEMU then exits with 3).
pub const PANIC_EXIT_CODE: u32 = 1;

static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    if PANICKING.swap(true, Ordering::Relaxed) {
        // A panic while reporting a panic: say so without formatting and stop.
        crate::arch::console_write(b"\nKERNEL PANIC (nested)\n");
        crate::arch::shutdown(PANIC_EXIT_CODE);
    }
    crate::println!("\nKERNEL PANIC: {info}");
    crate::arch::shutdown(PANIC_EXIT_CODE)
}
