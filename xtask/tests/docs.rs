//! The documents cannot go stale: lists drawn from the tree and every command output they show are checked here.
//!
//! Two kinds of marks, both invisible in rendered Markdown:
//!
//! - `<!-- begin KEY -->…<!-- end KEY -->` encloses text rendered from the tree (the plain
//!   syscalls of schema.toml, the abitest modules); it must equal the rendering.
//! - `<!-- check: STEP -->` before a fenced block replays a document on a scratch copy of
//!   the repository, in document order: `run` runs the block's `$ cargo xtask …` commands
//!   and compares what they print with the block; `schema-has` requires the block's text
//!   in the scratch schema.toml; `schema-replaces-previous` puts it in place of the
//!   previous such block's text; `contains PATH` requires it in the scratch file PATH, and
//!   `excerpt PATH` in the repository's own file PATH (source code a document quotes).
//!   Without a block, `<!-- check: edit PATH: OLD => NEW -->` edits a scratch file (`\n`
//!   stands for a line break), `<!-- check: do ARGS -->` runs `cargo xtask ARGS`
//!   without showing what it prints, `<!-- check: bump minor -->` (or `major`) raises
//!   `[abi].version` whatever it is, and `<!-- check: reset -->` puts the scratch copy
//!   back as it started. `run-has ARGS` requires every line of the block (an excerpt) in
//!   what `cargo xtask ARGS` prints.
//!
//! Run with `KERNITE_BLESS_DOCS=1` to rewrite the rendered lists and the `run` outputs
//! in place, then review the diff.
//!
//! Besides, every workspace member and every xtask command must appear in the maps of
//! README.md, docs/CONTRACTS.md and docs/ARCHITECTURE.md, and every `NAME.md` mentioned
//! must exist.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The checkout this test was built from.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the repository root")
        .to_path_buf()
}

fn blessing() -> bool {
    std::env::var_os("KERNITE_BLESS_DOCS").is_some()
}

const BLESS_HINT: &str = "if the change is intended, run \
     `KERNITE_BLESS_DOCS=1 cargo test -p xtask --test docs` and review the diff";

/// One document, rewritten in place when blessing.
struct Doc {
    path: PathBuf,
    text: String,
    changed: bool,
}

impl Doc {
    fn open(relative: &str) -> Doc {
        let path = repo().join(relative);
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{relative}: {e}"));
        Doc {
            path,
            text,
            changed: false,
        }
    }

    fn name(&self) -> String {
        self.path
            .strip_prefix(repo())
            .unwrap_or(&self.path)
            .display()
            .to_string()
    }

    /// Checks (or, blessing, rewrites) the text between the `KEY` marks.
    fn check_rendered(&mut self, key: &str, expected: &str) -> Result<(), String> {
        let begin = format!("<!-- begin {key} -->");
        let end = format!("<!-- end {key} -->");
        let start = self
            .text
            .find(&begin)
            .ok_or_else(|| format!("{}: no `{begin}` mark", self.name()))?
            + begin.len();
        let stop = start
            + self.text[start..]
                .find(&end)
                .ok_or_else(|| format!("{}: no `{end}` mark", self.name()))?;
        self.replace_or_fail(start..stop, expected, key)
    }

    fn replace_or_fail(
        &mut self,
        range: std::ops::Range<usize>,
        expected: &str,
        what: &str,
    ) -> Result<(), String> {
        if self.text[range.clone()] == *expected {
            return Ok(());
        }
        if blessing() {
            self.text.replace_range(range, expected);
            self.changed = true;
            return Ok(());
        }
        Err(format!(
            "{}: `{what}` is stale; {BLESS_HINT}.\n--- the document says:\n{}\n--- the tree says:\n{expected}",
            self.name(),
            &self.text[range]
        ))
    }

    fn save(&self) {
        if self.changed {
            fs::write(&self.path, &self.text).expect("rewriting the document");
        }
    }
}

/// The plain syscalls (all but `invoke`), as the bird's-eye view lists them.
fn plain_syscalls() -> String {
    let model = abigen::load(repo().join("schema.toml")).expect("schema.toml is valid");
    let names: Vec<String> = model
        .syscalls
        .iter()
        .filter(|syscall| syscall.kind == abigen::SyscallKind::Plain)
        .map(|syscall| format!("`{}`", syscall.name))
        .collect();
    names.join(", ")
}

/// A table of the abitest test modules and the first paragraph of their `//!` comments.
fn abitest_modules() -> String {
    let dir = repo().join("servers/abitest/src/tests");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("reading the abitest tests")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .filter(|path| path.file_name().is_some_and(|name| name != "mod.rs"))
        .collect();
    files.sort();
    let mut table = String::from("\n| module | what it tests |\n|---|---|\n");
    for path in files {
        let text = fs::read_to_string(&path).expect("reading a test module");
        let summary: Vec<&str> = text
            .lines()
            .map_while(|line| line.strip_prefix("//!"))
            .map(str::trim)
            .take_while(|line| !line.is_empty())
            .collect();
        let name = path.file_name().unwrap().to_string_lossy();
        table.push_str(&format!("| `{name}` | {} |\n", summary.join(" ")));
    }
    table
}

#[test]
fn rendered_lists_match_the_tree() {
    let mut doc = Doc::open("docs/ARCHITECTURE.md");
    let problems: Vec<String> = [
        doc.check_rendered("plain-syscalls", &plain_syscalls()),
        doc.check_rendered("abitest-modules", &abitest_modules()),
    ]
    .into_iter()
    .filter_map(Result::err)
    .collect();
    doc.save();
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// Every `NAME.md` a document or a source comment mentions exists in the repository.
#[test]
fn mentioned_documents_exist() {
    let root = repo();
    let mut files = vec![root.join("README.md")];
    let mut stack = vec![
        root.join("docs"),
        root.join("kernel"),
        root.join("kerncore"),
        root.join("xtask/src"),
        root.join("servers"),
        root.join("trona/src"),
        root.join("boot/src"),
    ];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .is_some_and(|ext| ext == "md" || ext == "rs")
            {
                files.push(path);
            }
        }
    }
    let exists = |name: &str| root.join(name).exists() || root.join("docs").join(name).exists();
    let mut dangling = Vec::new();
    for path in files {
        let text = fs::read_to_string(&path).unwrap_or_default();
        for (number, line) in text.lines().enumerate() {
            for word in line.split(|c: char| !(c.is_ascii_alphanumeric() || "._-".contains(c))) {
                let Some(stem) = word.strip_suffix(".md") else {
                    continue;
                };
                let is_name = !stem.is_empty() && !stem.contains('.');
                if is_name && !exists(word) {
                    let shown = path.strip_prefix(&root).unwrap_or(&path).display();
                    dangling.push(format!("{shown}:{}: {word}", number + 1));
                }
            }
        }
    }
    assert!(
        dangling.is_empty(),
        "mentions of documents that are not in the repository:\n  {}",
        dangling.join("\n  ")
    );
}

/// A scratch copy of the repository holding what the documented commands read and write:
/// Cargo.toml, schema.toml and every generated file, committed and tagged as the current
/// ABI release.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let scratch = Scratch {
            dir: tempfile::tempdir().expect("creating a scratch checkout"),
        };
        let root = repo();
        let model = abigen::load(root.join("schema.toml")).expect("schema.toml is valid");
        let mut paths = vec!["schema.toml".to_string()];
        paths.extend(abigen::render_all(&model).into_iter().map(|(path, _)| path));
        for path in paths {
            let to = scratch.path().join(&path);
            fs::create_dir_all(to.parent().unwrap()).unwrap();
            fs::copy(root.join(&path), &to).unwrap_or_else(|e| panic!("copying {path}: {e}"));
        }
        fs::write(scratch.path().join("Cargo.toml"), "[workspace]\n").unwrap();
        let tag = format!(
            "abi-v{}.{}",
            model.abi.version_major, model.abi.version_minor
        );
        scratch.git(&["init", "--quiet"]);
        scratch.git(&["add", "."]);
        scratch.git(&["commit", "--quiet", "-m", "the current tree"]);
        scratch.git(&["tag", "-a", &tag, "-m", "the current ABI release"]);
        scratch
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn git(&self, args: &[&str]) {
        let status = Command::new("git")
            .args([
                "-c",
                "user.name=docs test",
                "-c",
                "user.email=docs@example.invalid",
            ])
            .args(args)
            .current_dir(self.path())
            .status()
            .expect("running git");
        assert!(status.success(), "git {args:?} failed");
    }

    fn read(&self, path: &str) -> String {
        fs::read_to_string(self.path().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn write(&self, path: &str, text: &str) {
        fs::write(self.path().join(path), text).unwrap_or_else(|e| panic!("{path}: {e}"));
    }

    /// Runs `cargo xtask ARGS` (the xtask binary) here; returns what it printed, stdout
    /// and stderr interleaved as on a terminal.
    fn xtask(&self, args: &[String]) -> String {
        let output = Command::new("sh")
            .args(["-c", "exec \"$0\" \"$@\" 2>&1", env!("CARGO_BIN_EXE_xtask")])
            .args(args)
            .current_dir(self.path())
            .output()
            .expect("running the xtask binary");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

/// Splits a command line into words: whitespace separates, double quotes group.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut in_word = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                }
                in_word = false;
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// `text` (a schema) with its `version = "MAJOR.MINOR"` line raised: `part` is `minor` or
/// `major` (which resets the minor version to 0).
fn bump_version(text: &str, part: &str) -> String {
    let start = text.find("\nversion = \"").expect("a version line") + "\nversion = \"".len();
    let end = start + text[start..].find('"').expect("a closing quote");
    let (major, minor) = text[start..end].split_once('.').expect("MAJOR.MINOR");
    let (major, minor): (u32, u32) = (major.parse().unwrap(), minor.parse().unwrap());
    let version = match part {
        "minor" => format!("{major}.{}", minor + 1),
        "major" => format!("{}.0", major + 1),
        _ => panic!("`bump {part}`: bump minor or bump major"),
    };
    format!("{}{version}{}", &text[..start], &text[end..])
}

/// A fenced block after a check mark: the byte range of its contents in the document.
fn fenced_block(text: &str, from: usize) -> Option<std::ops::Range<usize>> {
    let open = from + text[from..].find("```")?;
    let start = open + text[open..].find('\n')? + 1;
    let end = start + text[start..].find("```")?;
    Some(start..end)
}

/// Replays every `<!-- check: … -->` step of the document at `relative`.
fn replay(relative: &str) {
    let mut doc = Doc::open(relative);
    let scratch = Scratch::new();
    let mut problems = Vec::new();
    let mut previous_schema_block: Option<String> = None;
    let mark = "<!-- check: ";
    let mut at = 0;
    while let Some(found) = doc.text[at..].find(mark) {
        let step_start = at + found + mark.len();
        let step_end = step_start + doc.text[step_start..].find(" -->").expect("closed mark");
        let step = doc.text[step_start..step_end].to_string();
        at = step_end;
        if let Some(edit) = step.strip_prefix("edit ") {
            let (path, change) = edit.split_once(": ").expect("edit PATH: OLD => NEW");
            let (old, new) = change.split_once(" => ").expect("edit PATH: OLD => NEW");
            let (old, new) = (old.replace("\\n", "\n"), new.replace("\\n", "\n"));
            let text = scratch.read(path);
            if text.matches(&old).count() == 1 {
                scratch.write(path, &text.replacen(&old, &new, 1));
            } else {
                problems.push(format!(
                    "{relative}: the mark `check: edit {path}: …` expects `{old}` once in \
                     {path}; update the mark to the file as it is now"
                ));
            }
            continue;
        }
        if let Some(command) = step.strip_prefix("do ") {
            scratch.xtask(&shell_words(command));
            continue;
        }
        if let Some(part) = step.strip_prefix("bump ") {
            let text = scratch.read("schema.toml");
            scratch.write("schema.toml", &bump_version(&text, part));
            continue;
        }
        if step == "reset" {
            scratch.git(&["checkout", "--quiet", "--", "."]);
            scratch.git(&["clean", "--quiet", "-d", "--force"]);
            previous_schema_block = None;
            continue;
        }
        let block = fenced_block(&doc.text, step_end).expect("a fenced block after the mark");
        at = block.end;
        let body = doc.text[block.clone()].to_string();
        match step.split_once(' ').unwrap_or((&step, "")) {
            ("run", _) => {
                let mut actual = String::new();
                for line in body.lines() {
                    if let Some(command) = line.strip_prefix("$ cargo xtask ") {
                        actual.push_str(line);
                        actual.push('\n');
                        actual.push_str(&scratch.xtask(&shell_words(command)));
                    }
                }
                let first = body.lines().next().unwrap_or("").to_string();
                if let Err(problem) = doc.replace_or_fail(block.clone(), &actual, &first) {
                    problems.push(problem);
                }
                // Blessing may have moved what follows.
                at = block.start + doc.text[block.start..].find("```").expect("block end");
            }
            ("schema-has", _) => {
                if !scratch.read("schema.toml").contains(&body) {
                    problems.push(format!("{relative}: schema.toml lacks:\n{body}"));
                }
                previous_schema_block = Some(body);
            }
            ("schema-replaces-previous", _) => {
                let old = previous_schema_block.take().expect("a schema block before");
                let text = scratch.read("schema.toml");
                if text.matches(&old).count() == 1 {
                    scratch.write("schema.toml", &text.replacen(&old, &body, 1));
                } else {
                    problems.push(format!(
                        "{relative}: cannot replace what schema.toml does not hold once:\n{old}"
                    ));
                }
                previous_schema_block = Some(body);
            }
            ("run-has", command) => {
                let output = scratch.xtask(&shell_words(command));
                for line in body.lines() {
                    if !output.lines().any(|printed| printed == line) {
                        problems.push(format!(
                            "{relative}: `cargo xtask {command}` no longer prints `{line}`; \
                             it printed:\n{output}"
                        ));
                    }
                }
            }
            ("contains", path) => {
                if !scratch.read(path).contains(&body) {
                    problems.push(format!("{relative}: {path} lacks:\n{body}"));
                }
            }
            ("excerpt", path) => {
                let source = fs::read_to_string(repo().join(path))
                    .unwrap_or_else(|e| panic!("{relative}: {path}: {e}"));
                if !source.contains(&body) {
                    problems.push(format!(
                        "{relative}: the excerpt is no longer in {path}; copy it again:\n{body}"
                    ));
                }
            }
            _ => panic!("{relative}: unknown check `{step}`"),
        }
    }
    doc.save();
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn adding_a_syscall_shows_what_the_commands_print() {
    replay("docs/adding-a-syscall.md");
}

#[test]
fn abi_review_shows_what_abi_diff_prints() {
    replay("docs/abi-review.md");
}

#[test]
fn ipc_examples_are_excerpts_of_the_programs() {
    replay("docs/ipc.md");
}

/// The workspace members, from the root Cargo.toml.
fn workspace_members() -> Vec<String> {
    let manifest = fs::read_to_string(repo().join("Cargo.toml")).expect("reading Cargo.toml");
    let document: toml_edit::DocumentMut = manifest.parse().expect("Cargo.toml parses");
    document["workspace"]["members"]
        .as_array()
        .expect("workspace.members is an array")
        .iter()
        .map(|member| member.as_str().expect("a member path").to_string())
        .collect()
}

/// The subcommands `cargo xtask --help` lists.
fn xtask_commands() -> Vec<String> {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("--help")
        .output()
        .expect("running xtask --help");
    let help = String::from_utf8_lossy(&output.stdout).into_owned();
    let commands = help
        .split_once("Commands:\n")
        .expect("a Commands section")
        .1;
    commands
        .lines()
        .map_while(|line| line.strip_prefix("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// The hand-written maps name every crate and every xtask command: README's repository
/// map and command table, CONTRACTS' crate table, ARCHITECTURE's code map.
#[test]
fn maps_name_every_crate_and_command() {
    let read = |path: &str| fs::read_to_string(repo().join(path)).expect("reading a document");
    let (readme, contracts, architecture) = (
        read("README.md"),
        read("docs/CONTRACTS.md"),
        read("docs/ARCHITECTURE.md"),
    );
    let has_row = |text: &str, path: &str| {
        text.lines().any(|line| {
            line.starts_with(&format!("| `{path}`")) || line.starts_with(&format!("| `{path}/"))
        })
    };
    let mut missing = Vec::new();
    for member in workspace_members() {
        for (name, text) in [
            ("README.md", &readme),
            ("docs/CONTRACTS.md", &contracts),
            ("docs/ARCHITECTURE.md", &architecture),
        ] {
            if !has_row(text, &member) {
                missing.push(format!("{name} has no table row for the crate `{member}`"));
            }
        }
    }
    for command in xtask_commands() {
        if !readme.contains(&format!("`cargo xtask {command}")) {
            missing.push(format!("README.md never shows `cargo xtask {command}`"));
        }
        for (name, text) in [
            ("docs/CONTRACTS.md", &contracts),
            ("docs/ARCHITECTURE.md", &architecture),
        ] {
            let row = text.lines().find(|line| line.starts_with("| `xtask"));
            let names = |row: &str| {
                row.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                    .any(|word| word == command)
            };
            if !row.is_some_and(names) {
                missing.push(format!("{name}'s xtask row does not name `{command}`"));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
