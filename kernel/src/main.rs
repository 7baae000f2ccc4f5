//! kernite: the capability microkernel's entry point and boot sequence.
#![no_std]
#![no_main]
// The arch self test replaces the scheduler and syscall layer, which then go unused.
#![cfg_attr(feature = "arch-selftest", allow(dead_code))]
// So do the kernel stack guard and kernel fault tests, which replace the root task.
#![cfg_attr(feature = "kstack-guard-test", allow(dead_code))]
#![cfg_attr(feature = "kernel-fault-test", allow(dead_code))]

mod arch;
mod bkl;
mod cell;
mod console;
mod generated;
mod ipc;
#[cfg(feature = "kernel-fault-test")]
mod kfault_test;
#[cfg(feature = "kstack-guard-test")]
mod kstack_test;
mod object;
mod panic;
mod rootserver;
mod sched;
#[cfg(feature = "arch-selftest")]
mod selftest;
mod smp;
mod syscall;
#[cfg(feature = "trace")]
mod trace;
mod usermem;

/// The boot image (root task and modules) packed by `cargo xtask build`. Its payload
/// offsets are 8-aligned relative to the start, so the start is page-aligned here.
#[repr(C, align(4096))]
struct BootImage<T: ?Sized>(T);

static BOOT_IMAGE: &BootImage<[u8]> = &BootImage(*include_bytes!(env!("KERNITE_BOOT_IMAGE")));

/// Rust entry point, called by the architecture's boot assembly on the boot stack.
#[unsafe(no_mangle)]
extern "C" fn kmain(boot_arg: usize) -> ! {
    let regions = arch::init_early(boot_arg);
    // Held from here until the first return to user mode (docs/ARCHITECTURE.md, "SMP and
    // the big kernel lock").
    bkl::acquire();
    println!(
        "{} ABI {}.{} fingerprint {:016x}",
        abi::ABI_NAME,
        abi::ABI_VERSION_MAJOR,
        abi::ABI_VERSION_MINOR,
        abi::ABI_FINGERPRINT
    );
    println!("{}", arch::describe_cpu());
    println!("physical memory map:");
    for r in regions {
        println!(
            "  {:#014x}..{:#014x} {:>9} KiB {}",
            r.base,
            r.base + r.len,
            r.len / 1024,
            if r.usable { "usable" } else { "reserved" }
        );
    }
    let kernel = arch::kernel_phys_range();
    println!(
        "kernel image at {:#x}..{:#x}, boot image {} bytes",
        kernel.start,
        kernel.end,
        BOOT_IMAGE.0.len()
    );

    arch::timer_init(abi::TICKS_PER_SEC);
    object::frames::init(regions, kernel);
    object::frames::map_ram_in_pages(regions);
    smp::start_secondaries();
    #[cfg(feature = "arch-selftest")]
    selftest::run(regions);
    #[cfg(not(feature = "arch-selftest"))]
    {
        #[cfg(feature = "kstack-guard-test")]
        kstack_test::run();
        #[cfg(feature = "kernel-fault-test")]
        kfault_test::run();
        // Builds the root task and enters the scheduler; interrupts (and so the timer)
        // start with the first return to user mode.
        #[cfg(not(any(feature = "kstack-guard-test", feature = "kernel-fault-test")))]
        rootserver::start(&BOOT_IMAGE.0)
    }
}

/// Powers the machine off on request, saying so first: the line is how `cargo xtask`
/// tells a shutdown the kernel asked for from QEMU failing with the same exit status.
fn power_off(code: u32) -> ! {
    smp::report_ticks();
    println!("shutdown requested with code {code}");
    arch::shutdown(code)
}
