//! Kernel console output: `print!` and `println!` over `arch::console_write`, one CPU at a time.

use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Held while a CPU prints, so lines of different CPUs do not interleave. Taken only once
/// secondary CPUs start (before that only the boot CPU runs, and its per-CPU block, which
/// the lock's owner check reads, may not exist yet).
static LOCK: spin::Mutex<()> = spin::Mutex::new(());

/// The index of the CPU holding [`LOCK`] plus one, 0 while it is free.
static HOLDER: AtomicUsize = AtomicUsize::new(0);

/// How many times a CPU tries the lock before it prints anyway: a CPU that stopped while
/// printing (a panic in a `Display` impl, a CPU halted by a fault) must not silence the
/// others, least of all a panic report.
const LOCK_ATTEMPTS: u32 = 10_000_000;

/// A `fmt::Write` sink that sends everything to the architecture console.
pub struct Console;

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        crate::arch::console_write(s.as_bytes());
        Ok(())
    }
}

/// Formats to the console; used by the macros. The whole text goes out under the console
/// lock; a CPU that already holds it (a panic while it printed) prints without it.
pub fn print_args(args: fmt::Arguments<'_>) {
    let guard = if crate::smp::multiprocessor() {
        lock()
    } else {
        None
    };
    // The console never fails, so the only error could come from a Display impl; ignore it
    // rather than lose the rest of the output.
    let _ = fmt::Write::write_fmt(&mut Console, args);
    if let Some(guard) = guard {
        HOLDER.store(0, Ordering::Relaxed);
        drop(guard);
    }
}

/// Takes the console lock for the running CPU; `None` when this CPU holds it already or
/// another CPU did not give it up in time.
fn lock() -> Option<spin::MutexGuard<'static, ()>> {
    let me = crate::arch::cpu_index() + 1;
    if HOLDER.load(Ordering::Relaxed) == me {
        return None;
    }
    for _ in 0..LOCK_ATTEMPTS {
        if let Some(guard) = LOCK.try_lock() {
            HOLDER.store(me, Ordering::Relaxed);
            return Some(guard);
        }
        core::hint::spin_loop();
    }
    None
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
