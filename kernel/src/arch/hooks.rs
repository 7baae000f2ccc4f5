//! Where the architecture ports call into the rest of the kernel (or into the arch self test), the same for every port.

#[cfg(not(feature = "arch-selftest"))]
pub use crate::sched::{timer_tick, user_fault};
#[cfg(feature = "arch-selftest")]
pub use crate::selftest::{handle_syscall, timer_tick, user_fault};
#[cfg(not(feature = "arch-selftest"))]
pub use crate::syscall::handle_syscall;
