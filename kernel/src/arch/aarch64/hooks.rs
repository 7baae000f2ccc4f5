//! Where the architecture layer calls into the rest of the kernel (or into the arch self test).

#[cfg(feature = "arch-selftest")]
pub use super::selftest::{handle_syscall, timer_tick, user_fault};
#[cfg(not(feature = "arch-selftest"))]
pub use crate::sched::{timer_tick, user_fault};
#[cfg(not(feature = "arch-selftest"))]
pub use crate::syscall::handle_syscall;
