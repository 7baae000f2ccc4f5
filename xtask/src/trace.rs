//! The syscall trace (`run --trace`, `test --trace`): builds kernels with the `trace` feature and decodes their hex records with the schema into lines like `[t1] invoke Tcb.set_priority(target=cap 0x3, priority=32, authority=cap 0x3) -> Ok`.
//!
//! The kernel prints `\x01E<thread>:<number>:<args…>` at a trap's entry and
//! `\x01R<thread>:<status>:<value>` (or `\x01A<thread>`, abandoned) at its return
//! (kernel/src/trace.rs). [`Demux`] takes them out of the console stream, joining the user
//! text around them, so the test protocol sees the lines programs printed; [`Decoder`]
//! turns them into lines, with names, typed arguments and results from abigen's model.

use crate::build::{BuildRequest, ImageMode, build_with_features};
use crate::cargo::{Profile, workspace_root};
use crate::qemu::boot_captured;
use crate::targets::{Arch, DEFAULT_CPUS, Program};
use anyhow::{Result, anyhow};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The kernel feature that makes it emit records.
pub const KERNEL_FEATURE: &str = "trace";

/// Starts every record.
const MARKER: char = '\u{1}';

/// What `--trace[=FILTER]` asked for, once per process.
static TRACE: OnceLock<Mutex<Tracer>> = OnceLock::new();

/// Turns tracing on for every kernel this process builds and every boot it captures.
/// `filter` is a comma-separated list of words; an empty list traces every entry.
pub fn enable(filter: &str) -> Result<()> {
    let model = abigen::load(workspace_root().join("schema.toml"))
        .map_err(|diagnostics| anyhow!("{diagnostics}"))?;
    let tracer = Tracer {
        demux: Demux::default(),
        decoder: Decoder::new(model, Filter::parse(filter)),
    };
    let _ = TRACE.set(Mutex::new(tracer));
    Ok(())
}

/// The kernel features tracing needs (none when it is off).
pub fn kernel_features() -> &'static [&'static str] {
    if TRACE.get().is_some() {
        &[KERNEL_FEATURE]
    } else {
        &[]
    }
}

/// Takes one line of a captured boot: prints its decoded records (each prefixed with
/// `label`) and returns the user lines it completes.
pub fn serial_line(label: &str, line: String) -> Vec<String> {
    let Some(tracer) = TRACE.get() else {
        return vec![line];
    };
    let mut tracer = tracer
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let Tracer { demux, decoder } = &mut *tracer;
    let (records, user) = demux.feed(&line);
    for record in records {
        for decoded in decoder.record(&record) {
            println!("[{label}] {decoded}");
        }
    }
    user.into_iter().collect()
}

/// Ends a captured boot: prints the calls that never returned.
pub fn end_of_boot(label: &str) {
    if let Some(tracer) = TRACE.get() {
        let mut tracer = tracer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for decoded in tracer.decoder.finish() {
            println!("[{label}] {decoded}");
        }
    }
}

/// The in-QEMU check of the trace: boots init on a tracing kernel (whatever `--trace`
/// says) and demands the decoded lines of calls init is known to make. Returns the
/// problems found (empty: passed).
pub fn check_init_trace(arch: Arch, profile: Profile, timeout: Duration) -> Result<Vec<String>> {
    let request = BuildRequest {
        arch,
        profile,
        root: Program::Init,
        mode: ImageMode::Normal,
    };
    let label = format!("{arch} init traced");
    if TRACE.get().is_some() {
        // `--trace` already takes the records out of every captured boot and prints them.
        println!("[{label}] skipped: --trace prints every boot's trace instead");
        return Ok(Vec::new());
    }
    let kernel = build_with_features(request, &[KERNEL_FEATURE])?.kernel;
    let boot = boot_captured(arch, &kernel, DEFAULT_CPUS, &label, timeout)?;
    let model = abigen::load(workspace_root().join("schema.toml"))
        .map_err(|diagnostics| anyhow!("{diagnostics}"))?;
    let mut demux = Demux::default();
    let mut decoder = Decoder::new(model, Filter::default());
    let mut decoded = Vec::new();
    let mut user = Vec::new();
    for line in &boot.lines {
        let (records, line) = demux.feed(line);
        user.extend(line);
        for record in records {
            decoded.extend(decoder.record(&record));
        }
    }
    decoded.extend(decoder.finish());
    let report = crate::protocol::SerialReport::parse(user.iter().map(String::as_str));
    let mut problems = report.judge_drift(report.judge_init(boot.exit)).problems;
    for want in expected_init_calls() {
        if !decoded.iter().any(|line| line.starts_with(&want)) {
            problems.push(format!("the trace lacks `{want}…`"));
        }
    }
    if problems.is_empty() {
        println!(
            "[{label}] {} traps decoded, every expected call found",
            decoded.len()
        );
    }
    Ok(problems)
}

/// The starts of decoded lines init's root thread (`t1`) must produce: its priority, the
/// frame checker, the wait for its second thread, the shutdown (which never returns).
fn expected_init_calls() -> Vec<String> {
    let tcb = abi::ROOT_SLOT_TCB;
    let debug = abi::ROOT_SLOT_KERNEL_DEBUG;
    let priority = abi::NUM_PRIORITIES / 2;
    let invoke = abi::Syscall::Invoke.name();
    vec![
        format!(
            "[t1] {invoke} {}(target=cap {tcb:#x}, priority={priority}, authority=cap {tcb:#x}) -> Ok",
            abi::Invocation::TcbSetPriority.name()
        ),
        format!(
            "[t1] {invoke} {}(target=cap {debug:#x}) -> Ok(frames=",
            abi::Invocation::KernelDebugCheckFrames.name()
        ),
        format!("[t1] {}(buf=0x", abi::Syscall::DebugWrite.name()),
        format!(
            "[t1] {invoke} {}(target=cap {debug:#x}, code=0) -> (no return)",
            abi::Invocation::KernelDebugShutdown.name()
        ),
    ]
}

struct Tracer {
    demux: Demux,
    decoder: Decoder,
}

/// Splits serial lines into records and the user's own lines.
#[derive(Debug, Default)]
pub struct Demux {
    /// User text of a line a record interrupted, waiting for the rest of the line.
    pending: String,
}

impl Demux {
    /// Takes one line (without its newline): returns the records in it and the user line
    /// it completes, if any.
    pub fn feed(&mut self, line: &str) -> (Vec<String>, Option<String>) {
        let line = line.trim_end_matches('\r');
        match line.find(MARKER) {
            Some(at) => {
                self.pending.push_str(&line[..at]);
                (vec![line[at + MARKER.len_utf8()..].to_string()], None)
            }
            None => {
                let mut user = std::mem::take(&mut self.pending);
                user.push_str(line);
                (Vec::new(), Some(user))
            }
        }
    }
}

/// Which entries to show: words matched against the entry's names.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    words: Vec<String>,
}

impl Filter {
    /// `Tcb,debug_write`: comma-separated words; empty shows everything.
    pub fn parse(text: &str) -> Filter {
        Filter {
            words: text
                .split(',')
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .map(str::to_ascii_lowercase)
                .collect(),
        }
    }

    /// Whether a call of `names` (syscall name, then the invocation's object, name and
    /// display name when it is one) is shown: a word equal to one of them, or contained
    /// in the display name.
    fn shows(&self, names: &[&str]) -> bool {
        self.words.is_empty()
            || self.words.iter().any(|word| {
                names.iter().any(|name| {
                    let name = name.to_ascii_lowercase();
                    name == *word || name.contains(word.as_str())
                })
            })
    }
}

/// Turns records into decoded lines, pairing each entry with its return per thread.
pub struct Decoder {
    model: abigen::Model,
    filter: Filter,
    /// Small thread numbers, in order of first appearance, by TCB address.
    threads: HashMap<u64, usize>,
    /// Per thread, the decoded call waiting for its return (and whether it is shown).
    open: HashMap<u64, (String, bool)>,
    /// Entries that have a result, by decoded call, for `Ok(<result>=…)`.
    result_names: HashMap<u64, Option<String>>,
}

impl Decoder {
    pub fn new(model: abigen::Model, filter: Filter) -> Decoder {
        Decoder {
            model,
            filter,
            threads: HashMap::new(),
            open: HashMap::new(),
            result_names: HashMap::new(),
        }
    }

    /// Takes one record (without the marker); returns the lines it completes.
    pub fn record(&mut self, record: &str) -> Vec<String> {
        let mut chars = record.chars();
        let kind = chars.next();
        let fields: Option<Vec<u64>> = chars
            .as_str()
            .split(':')
            .map(|f| u64::from_str_radix(f, 16).ok())
            .collect();
        let Some(fields) = fields.filter(|f| !f.is_empty()) else {
            return vec![format!(
                "(malformed trace record `{}`)",
                record.escape_debug()
            )];
        };
        let thread = fields[0];
        let mut out = Vec::new();
        match (kind, fields.len()) {
            (Some('E'), 8) => {
                if let Some((call, shown)) = self.open.remove(&thread) {
                    out.extend(shown.then(|| format!("{call} -> (did not return)")));
                }
                let mut args = [0; 6];
                args.copy_from_slice(&fields[2..8]);
                let (call, shown, result) = self.call(thread, fields[1], &args);
                self.result_names.insert(thread, result);
                self.open.insert(thread, (call, shown));
            }
            (Some('R'), 3) => {
                if let Some((call, shown)) = self.open.remove(&thread) {
                    let result = self.result_names.remove(&thread).flatten();
                    let outcome = self.outcome(fields[1], fields[2], result.as_deref());
                    out.extend(shown.then(|| format!("{call} -> {outcome}")));
                }
            }
            (Some('A'), 1) => {
                if let Some((call, shown)) = self.open.remove(&thread) {
                    out.extend(
                        shown.then(|| {
                            format!("{call} -> (abandoned: its registers were rewritten)")
                        }),
                    );
                }
            }
            _ => out.push(format!(
                "(malformed trace record `{}`)",
                record.escape_debug()
            )),
        }
        out
    }

    /// The calls still open at the end of a boot (`thread_exit`, a shutdown, a block).
    pub fn finish(&mut self) -> Vec<String> {
        let mut open: Vec<(u64, (String, bool))> = self.open.drain().collect();
        open.sort_by_key(|(thread, _)| self.threads.get(thread).copied());
        open.into_iter()
            .filter(|(_, (_, shown))| *shown)
            .map(|(_, (call, _))| format!("{call} -> (no return)"))
            .collect()
    }

    /// `[t1] invoke Tcb.set_priority(target=cap 0x3, priority=32, …)`, whether the filter
    /// shows it, and the entry's result name.
    fn call(
        &mut self,
        thread: u64,
        number: u64,
        args: &[u64; 6],
    ) -> (String, bool, Option<String>) {
        let next = self.threads.len() + 1;
        let t = *self.threads.entry(thread).or_insert(next);
        let model = &self.model;
        let Some(syscall) = model.syscalls.iter().find(|s| s.number == number) else {
            let shown = self.filter.shows(&["unknown"]);
            return (format!("[t{t}] syscall {number:#x} (unknown)"), shown, None);
        };
        if syscall.kind != abigen::SyscallKind::Invoke {
            let shown = self.filter.shows(&[&syscall.name]);
            let text = format!(
                "[t{t}] {}({})",
                syscall.name,
                params(model, &syscall.args, args)
            );
            return (text, shown, syscall.results.first().map(|r| r.name.clone()));
        }
        let own = syscall.args.len();
        let label = args.get(1).copied().unwrap_or(0);
        let Some(invocation) = model.invocations.iter().find(|i| i.label == label) else {
            let shown = self.filter.shows(&[&syscall.name, "unknown"]);
            let text = format!(
                "[t{t}] {}(target=cap {:#x}, label={label:#x} (unknown))",
                syscall.name, args[0]
            );
            return (text, shown, None);
        };
        let display = invocation.display_name();
        let shown = self.filter.shows(&[
            &syscall.name,
            &invocation.object,
            &invocation.name,
            &display,
        ]);
        let mut rendered = format!("target=cap {:#x}", args[0]);
        let payload = params(model, &invocation.args, &args[own..]);
        if !payload.is_empty() {
            rendered.push_str(", ");
            rendered.push_str(&payload);
        }
        let text = format!("[t{t}] {} {display}({rendered})", syscall.name);
        (
            text,
            shown,
            invocation.results.first().map(|r| r.name.clone()),
        )
    }

    /// `Ok`, `Ok(written=5)` or `Err(InsufficientRights)`.
    fn outcome(&self, status: u64, value: u64, result: Option<&str>) -> String {
        if status == 0 {
            return match result {
                Some(name) => format!("Ok({name}={value})"),
                None => "Ok".to_string(),
            };
        }
        match self.model.errors.iter().find(|e| e.code == status) {
            Some(error) => format!("Err({})", error.name),
            None => format!("Err(code {status})"),
        }
    }
}

/// `name=value, …` for the registers of `params`, each shown as its type says.
fn params(model: &abigen::Model, params: &[abigen::Param], registers: &[u64]) -> String {
    params
        .iter()
        .zip(registers)
        .map(|(param, &value)| format!("{}={}", param.name, typed(model, &param.ty, value)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One register shown as its schema type: integers in decimal (hex from 0x10000 on), `cap 0x…`, hex addresses,
/// object type names, flag names.
fn typed(model: &abigen::Model, ty: &abigen::Type, value: u64) -> String {
    use abigen::Type;
    match ty {
        Type::Int(_) if value < 0x1_0000 => value.to_string(),
        Type::Int(_) => format!("{value:#x}"),
        Type::Bool => match value {
            0 => "false".to_string(),
            1 => "true".to_string(),
            other => format!("{other} (not a bool)"),
        },
        Type::Cap => format!("cap {value:#x}"),
        Type::Uaddr => format!("{value:#x}"),
        Type::ObjectType => match model.objects.iter().find(|o| o.id == value) {
            Some(object) => object.name.clone(),
            None => format!("{value} (no object type)"),
        },
        Type::Flags(set) => {
            let Some(set) = model.flag_set(set) else {
                return format!("{value:#x}");
            };
            let names: Vec<&str> = set
                .bits
                .iter()
                .filter(|bit| value & (1 << bit.bit) != 0)
                .map(|bit| bit.name.as_str())
                .collect();
            let unknown = value & !set.all_bits();
            match (names.is_empty(), unknown) {
                (true, 0) => "(none)".to_string(),
                (false, 0) => names.join("|"),
                (_, unknown) => format!("{}|{unknown:#x} (unknown bits)", names.join("|")),
            }
        }
        Type::Bitfield(name) => {
            let Some(bitfield) = model.bitfield(name) else {
                return format!("{value:#x}");
            };
            let mut fields: Vec<String> = bitfield
                .fields
                .iter()
                .map(|f| format!("{}={}", f.name, (value & f.mask()) >> f.lsb))
                .collect();
            let reserved = value & bitfield.reserved();
            if reserved != 0 {
                fields.push(format!("{reserved:#x} (reserved bits)"));
            }
            format!("{{{}}}", fields.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoder(filter: &str) -> Decoder {
        let model =
            abigen::load(workspace_root().join("schema.toml")).expect("schema.toml is valid");
        Decoder::new(model, Filter::parse(filter))
    }

    /// Records as the kernel prints them (user text around them), and the decoded lines
    /// and user lines that must come out.
    #[test]
    fn recorded_records_decode() {
        let priority = abi::label::TCB_SET_PRIORITY;
        let invoke = abi::sys::INVOKE;
        let debug_write = abi::sys::DEBUG_WRITE;
        let denied = abi::Error::InsufficientRights.code();
        let copy = abi::label::CNODE_COPY;
        let exit = abi::sys::THREAD_EXIT;
        let serial = [
            format!("TEST x ... \u{1}E5000:{invoke:x}:3:{priority:x}:20:3:0:0"),
            "\u{1}R5000:0:0".to_string(),
            "ok".to_string(),
            format!("\u{1}E6000:{debug_write:x}:400000:5:0:0:0:0"),
            "hello".to_string(),
            "\u{1}R6000:0:5".to_string(),
            format!("\u{1}E5000:{invoke:x}:1:{copy:x}:20:7:9:0"),
            format!("\u{1}R5000:{denied:x}:0"),
            format!("\u{1}E6000:{exit:x}:0:0:0:0:0:0"),
            "\u{1}E5000:99:0:0:0:0:0:0".to_string(),
            "\u{1}A5000".to_string(),
            "done".to_string(),
        ];
        let cases: [(&str, &[&str]); 3] = [
            (
                "",
                &[
                    "[t1] invoke Tcb.set_priority(target=cap 0x3, priority=32, authority=cap 0x3) -> Ok",
                    "[t2] debug_write(buf=0x400000, len=5) -> Ok(written=5)",
                    "[t1] invoke CNode.copy(target=cap 0x1, dest_index=32, src=cap 0x7, rights=read|grant) -> Err(InsufficientRights)",
                    "[t1] syscall 0x99 (unknown) -> (abandoned: its registers were rewritten)",
                    "[t2] thread_exit() -> (no return)",
                ],
            ),
            (
                "Tcb",
                &[
                    "[t1] invoke Tcb.set_priority(target=cap 0x3, priority=32, authority=cap 0x3) -> Ok",
                ],
            ),
            (
                "debug_write,copy",
                &["[t2] debug_write(", "[t1] invoke CNode.copy("],
            ),
        ];
        for (filter, expected) in cases {
            let mut demux = Demux::default();
            let mut decoder = decoder(filter);
            let mut decoded = Vec::new();
            let mut user = Vec::new();
            for line in &serial {
                let (records, line) = demux.feed(line);
                user.extend(line);
                for record in records {
                    decoded.extend(decoder.record(&record));
                }
            }
            decoded.extend(decoder.finish());
            assert_eq!(user, ["TEST x ... ok", "hello", "done"], "user lines");
            assert_eq!(
                decoded.len(),
                expected.len(),
                "filter `{filter}`: {decoded:#?}"
            );
            for (line, want) in decoded.iter().zip(expected) {
                assert!(
                    line.starts_with(want),
                    "filter `{filter}`: `{line}` is not `{want}`"
                );
            }
        }
    }
}
