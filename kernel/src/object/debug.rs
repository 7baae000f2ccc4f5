//! The KernelDebug object: frame-table checks and counts, the fault count, and shutdown.

use abi::Error;
use kerncore::StateClass;

use super::frames::with_table;

/// Runs the three-state checker over the whole frame table; returns the frames it verified
/// to be in one of the three states (the RAM; holes in the memory map are not counted).
/// A failure is a broken kernel invariant: it is reported on the console and to the caller.
pub fn check_frames() -> Result<u64, Error> {
    with_table(|table| table.check()).map_err(|error| {
        crate::println!("frame table check FAILED: {error:?}");
        Error::IllegalOperation
    })
}

/// The number of frames in one state: 0 Free, 1 UntypedReserved, 2 typed, 3 unusable (not
/// RAM the kernel may use: holes, firmware and device ranges the frame table spans).
pub fn frame_count(state: u8) -> Result<u64, Error> {
    let class = match state {
        0 => StateClass::Free,
        1 => StateClass::UntypedReserved,
        2 => StateClass::Typed,
        3 => StateClass::Unusable,
        _ => return Err(Error::InvalidArgument),
    };
    Ok(with_table(|table| table.count(class)))
}
