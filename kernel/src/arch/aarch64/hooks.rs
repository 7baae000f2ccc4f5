//! Where the architecture layer calls into the rest of the kernel (or into the arch self test).

#[cfg(not(feature = "arch-selftest"))]
pub use crate::sched::{timer_tick, user_fault};
#[cfg(feature = "arch-selftest")]
pub use crate::selftest::{handle_syscall, timer_tick, user_fault};
#[cfg(not(feature = "arch-selftest"))]
pub use crate::syscall::handle_syscall;
