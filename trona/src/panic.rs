//! The panic handler for user programs: print the panic on the debug console, then end the thread.

use core::fmt::Write;
use core::panic::PanicInfo;

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    let mut console = crate::Console::new();
    // `Console::write_str` never fails.
    let _ = match info.location() {
        Some(location) => writeln!(
            console,
            "PANIC at {}:{}: {}",
            location.file(),
            location.line(),
            info.message()
        ),
        None => writeln!(console, "PANIC: {}", info.message()),
    };
    drop(console);
    crate::exit()
}
