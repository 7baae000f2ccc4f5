"""kernite's gdb commands (loaded by `cargo xtask gdb`): kernite-percpu, kernite-thread, kernite-syscall and short breakpoints, decoded with the schema's facts in generated/schema.py."""

import os
import sys

import gdb

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "generated"))
import schema  # noqa: E402  (generated from schema.toml by `cargo xtask gen`)

MASK = (1 << 64) - 1

# Short names for the usual breakpoints: name -> (kernel function, what it is).
BREAKPOINTS = {
    "kb-syscall": ("kernel::syscall::handle_syscall", "every trap from user mode"),
    "kb-fault": ("kernel::sched::user_fault", "a user fault"),
    "kb-panic": ("kernel::panic::panic", "a kernel panic"),
    "kb-tick": ("kernel::sched::timer_tick", "every timer tick"),
}


def arch():
    """The schema's name of the target's architecture."""
    name = gdb.selected_inferior().architecture().name()
    return "aarch64" if "aarch64" in name else "x86_64"


def read_u64(address):
    """The 64-bit word at a kernel virtual address."""
    memory = gdb.selected_inferior().read_memory(address, 8)
    return int.from_bytes(bytes(memory), "little")


def symbol_address(name):
    """The address of a kernel symbol (whatever language the current frame is in)."""
    text = gdb.execute("info address %s" % name, to_string=True)
    for word in text.replace(".", " ").split():
        if word.startswith("0x"):
            return int(word, 16)
    raise gdb.GdbError("no address for %s: %s" % (name, text.strip()))


# The register that holds the per-CPU block's address while the kernel runs (x86_64:
# GS after the entry's swapgs; aarch64: TPIDR_EL1).
PERCPU_REGISTERS = {"x86_64": ["gs_base"], "aarch64": ["TPIDR_EL1", "tpidr_el1"]}


def percpu_block():
    """The per-CPU block's address, from the register the entry assembly uses; checked
    against the block's own `self_ptr` field."""
    fields, _size = schema.PERCPU[arch()]
    self_offset = dict((name, offset) for name, offset, _s, _c in fields).get("self_ptr")
    for register in PERCPU_REGISTERS[arch()]:
        try:
            base = int(gdb.parse_and_eval("$" + register)) & MASK
        except gdb.error:
            continue
        if base == 0:
            continue
        if self_offset is None or read_u64(base + self_offset) == base:
            return base
        raise gdb.GdbError(
            "$%s = %#x is not the per-CPU block (its self_ptr differs): is the CPU in user mode?"
            % (register, base)
        )
    raise gdb.GdbError("this gdb shows none of %s" % ", ".join(PERCPU_REGISTERS[arch()]))


def percpu_fields():
    """(name, value) of every PerCpuData field, laid out as the schema says."""
    fields, _size = schema.PERCPU[arch()]
    base = percpu_block()
    out = []
    for name, offset, size, count in fields:
        if size != 8:
            raise gdb.GdbError("field %s: only u64 fields are decoded" % name)
        values = [read_u64(base + offset + 8 * i) for i in range(count)]
        out.append((name, values[0] if count == 1 else values))
    return out


def current_tcb():
    """The running TCB's kernel virtual address, through the direct map."""
    paddr = dict(percpu_fields())["current_thread"]
    if paddr == 0:
        raise gdb.GdbError("no thread is running (current_thread = 0)")
    base = read_u64(symbol_address("KERNITE_DIRECT_MAP_BASE"))
    return paddr, (base + paddr) & MASK


def typed(type_name, value):
    """One register shown as its schema type."""
    if type_name == "cap":
        return "cap %#x" % value
    if type_name == "uaddr":
        return "%#x" % value
    if type_name == "ObjectType":
        return schema.OBJECT_TYPES.get(value, "%d (no object type)" % value)
    if type_name in schema.FLAGS:
        names = [bit for bit, index in schema.FLAGS[type_name] if value >> index & 1]
        return "|".join(names) if names else "(none)"
    if type_name in schema.BITFIELDS:
        fields = schema.BITFIELDS[type_name]
        shown = ["%s=%d" % (f, value >> lsb & ((1 << width) - 1)) for f, lsb, width in fields]
        return "{%s}" % ", ".join(shown)
    if type_name == "bool":
        return {0: "false", 1: "true"}.get(value, "%d (not a bool)" % value)
    return str(value) if value < 0x10000 else "%#x" % value


def decode_trap(number, args, ipc=None):
    """`invoke Tcb.set_priority(target=cap 0x3, priority=32, authority=cap 0x3)`; an IPC
    syscall shows `ipc` = (capability, info, [message registers])."""
    entry = schema.SYSCALLS.get(number)
    if entry is None:
        return "syscall %#x (unknown)" % number
    name, is_invoke, params, _result = entry
    if number in schema.IPC_SYSCALLS and ipc is not None:
        sends, _receives = schema.IPC_SYSCALLS[number]
        capability, info, regs = ipc
        shown = ["%s=cap %#x" % (p, capability) for p, _t in params]
        if sends:
            shown.append("info=" + typed(schema.IPC_INFO, info))
            shown.append("regs=[%s]" % ", ".join("%#x" % r for r in regs))
        return "%s(%s)" % (name, ", ".join(shown))
    if not is_invoke:
        shown = ", ".join("%s=%s" % (p, typed(t, v)) for (p, t), v in zip(params, args))
        return "%s(%s)" % (name, shown)
    own = len(params)
    label = args[1]
    invocation = schema.INVOCATIONS.get(label)
    if invocation is None:
        return "%s(target=cap %#x, label=%#x (unknown))" % (name, args[0], label)
    display, payload, _result = invocation
    shown = ["target=cap %#x" % args[0]]
    shown += ["%s=%s" % (p, typed(t, v)) for (p, t), v in zip(payload, args[own:])]
    return "%s %s(%s)" % (name, display, ", ".join(shown))


def frame_register(frame, register):
    """A saved user register of the UserFrame `frame` by its schema name (`rdi`, `x8`)."""
    if register.startswith("x") and register[1:].isdigit():
        return int(frame["x"][int(register[1:])]) & MASK
    return int(frame[register]) & MASK


class Percpu(gdb.Command):
    """kernite-percpu: the current CPU's PerCpuData, decoded with the schema's layout."""

    def __init__(self):
        super().__init__("kernite-percpu", gdb.COMMAND_DATA)

    def invoke(self, argument, from_tty):
        base = percpu_block()
        print("PerCpuData (%s) at %#x:" % (arch(), base))
        for name, value in percpu_fields():
            if isinstance(value, list):
                print("  %-18s [%s]" % (name, ", ".join("%#x" % v for v in value)))
            else:
                print("  %-18s %#x" % (name, value))


class Thread(gdb.Command):
    """kernite-thread: the running TCB, reached through the direct map."""

    def __init__(self):
        super().__init__("kernite-thread", gdb.COMMAND_DATA)

    def invoke(self, argument, from_tty):
        paddr, virt = current_tcb()
        print("current TCB: physical %#x, direct map %#x" % (paddr, virt))
        tcb = gdb.parse_and_eval("*(%#x as *const kernel::object::tcb::Tcb)" % virt)
        print(tcb.format_string(pretty_structs=True, max_elements=8))


class Syscall(gdb.Command):
    """kernite-syscall: the trap the running thread is in, decoded with the schema."""

    def __init__(self):
        super().__init__("kernite-syscall", gdb.COMMAND_DATA)

    def invoke(self, argument, from_tty):
        _paddr, virt = current_tcb()
        tcb = gdb.parse_and_eval("*(%#x as *const kernel::object::tcb::Tcb)" % virt)
        frame = tcb["user_frame"].dereference()
        number_register, arg_registers, _results = schema.TRAPS[arch()]
        number = frame_register(frame, number_register)
        args = [frame_register(frame, r) for r in arg_registers]
        ipc = None
        if arch() in schema.IPC_REGISTERS:
            capability, info, messages = schema.IPC_REGISTERS[arch()]
            ipc = (
                frame_register(frame, capability),
                frame_register(frame, info),
                [frame_register(frame, r) for r in messages],
            )
        print("trap: " + decode_trap(number, args, ipc))


class Break(gdb.Command):
    """A short name for a breakpoint on a usual place in the kernel."""

    def __init__(self, name, function, what):
        super().__init__(name, gdb.COMMAND_BREAKPOINTS)
        self.function = function
        self.__doc__ = "%s: break on %s (%s)." % (name, what, function)

    def invoke(self, argument, from_tty):
        gdb.Breakpoint(self.function)


Percpu()
Thread()
Syscall()
for short, (function, what) in BREAKPOINTS.items():
    Break(short, function, what)
print("kernite: kernite-percpu, kernite-thread, kernite-syscall, %s" % ", ".join(BREAKPOINTS))
