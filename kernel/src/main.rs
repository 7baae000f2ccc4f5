//! kernite: the capability microkernel's entry point and boot sequence.
#![no_std]
#![no_main]

mod arch;
mod console;
mod panic;

/// Rust entry point, called by the architecture's boot assembly on the boot stack.
#[unsafe(no_mangle)]
extern "C" fn kmain(boot_arg: usize) -> ! {
    let regions = arch::init_early(boot_arg);
    println!("kernite boot");
    println!("physical memory map:");
    for r in regions {
        println!(
            "  {:#014x}..{:#014x} {:>8} KiB {}",
            r.base,
            r.base + r.len,
            r.len / 1024,
            if r.usable { "usable" } else { "reserved" }
        );
    }
    let k = arch::kernel_phys_range();
    println!("kernel image {:#x}..{:#x}", k.start, k.end);
    arch::shutdown(0x10)
}
