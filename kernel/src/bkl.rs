//! The big kernel lock: one spin lock a CPU holds whenever it runs kernel code, taken on every entry from user mode and every interrupt, released on the way out.
//!
//! The rules (docs/ARCHITECTURE.md, "SMP and the big kernel lock"):
//! - Every entry from user mode (syscall, exception, interrupt) takes the lock before it
//!   touches anything shared ([`crate::arch::hooks`]); the return-to-user path of each
//!   port releases it after its last access (`hooks::leave_to_user`, called from the
//!   entry assembly). A thread switch inside the kernel keeps it: the lock belongs to the
//!   CPU, not to the thread, so a thread that was switched out in the kernel resumes with
//!   the lock held and gives it up on its own way out, and a fresh thread, which starts on
//!   the return-to-user path, releases the lock its predecessor took.
//! - The boot CPU takes it in `kmain` and keeps it until its first return to user mode.
//! - Idling (`arch::enable_interrupts_and_halt`) releases it while the CPU waits; the
//!   interrupt that wakes it takes it for the handler ([`crate::arch::hooks::interrupt_in_kernel`])
//!   and the idle loop takes it again before it goes on (a secondary CPU's idle
//!   interrupts touch only its tick count and requests and take no lock).
//! - A CPU waiting for the lock answers the requests other CPUs made of it
//!   (`smp::handle_requests`: TLB shootdown, stall), since the holder may wait for them.
//! - Kernel code runs with interrupts disabled, so a CPU never takes the lock twice;
//!   exceptions in kernel mode are kernel bugs and panic without touching the lock.
//!
//! The lock is `spin`'s test-and-set `SpinMutex`, not its fair `TicketMutex`: under QEMU
//! with more virtual CPUs than host cores (the test machines), a ticket lock hands the
//! lock to the next waiter in line even while the host has that waiter descheduled, and
//! every CPU behind it waits too. Measured on a 2-core host, the arch self test with
//! `-smp 4` took 1.7 to 6.8 s with the ticket lock and 0.6 s with this one. A CPU could in
//! principle lose every race for the lock; kernel paths are short, so in practice each
//! waiter gets it soon.

use core::sync::atomic::{AtomicUsize, Ordering};

use spin::mutex::SpinMutex;

/// The lock itself; its guard is never kept (the lock is released elsewhere, often on
/// another path than the one that took it), so it is unlocked explicitly.
static LOCK: SpinMutex<()> = SpinMutex::new(());

/// The index of the CPU holding the lock plus one, 0 while nobody holds it; for the
/// checks below and for debuggers.
static HOLDER: AtomicUsize = AtomicUsize::new(0);

/// Takes the lock for the running CPU, waiting while another CPU holds it. Panics if this
/// CPU holds it already (a kernel entry nested in kernel code: a broken invariant).
pub fn acquire() {
    let cpu = crate::arch::cpu_index();
    assert!(
        HOLDER.load(Ordering::Relaxed) != cpu + 1,
        "CPU {cpu} takes the big kernel lock it already holds (a kernel entry from kernel code \
         outside an idle loop)"
    );
    // While it waits, the CPU answers the requests of the holder (`smp::handle_requests`):
    // a holder that waits for a TLB shootdown or a stall of this CPU would otherwise wait
    // for ever, since interrupts are disabled here.
    loop {
        if let Some(guard) = LOCK.try_lock() {
            core::mem::forget(guard);
            break;
        }
        while LOCK.is_locked() {
            crate::smp::handle_requests();
            core::hint::spin_loop();
        }
    }
    HOLDER.store(cpu + 1, Ordering::Relaxed);
}

/// Gives the lock up. Panics if the running CPU does not hold it.
pub fn release() {
    let cpu = crate::arch::cpu_index();
    let holder = HOLDER.load(Ordering::Relaxed);
    assert!(
        holder == cpu + 1,
        "CPU {cpu} releases the big kernel lock, which {}",
        Holder(holder)
    );
    HOLDER.store(0, Ordering::Relaxed);
    // SAFETY: The running CPU holds the lock (checked above) and forgot its guard in
    // `acquire`; nothing else releases it.
    unsafe { LOCK.force_unlock() };
}

/// Says who holds the lock, for panic messages.
struct Holder(usize);

impl core::fmt::Display for Holder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            0 => f.write_str("nobody holds"),
            holder => write!(f, "CPU {} holds", holder - 1),
        }
    }
}
