//! `cargo xtask abi-diff`: compares the ABI that schema.toml declares at two git revisions and prints every change, classified, with the version verdict.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use abigen::diff::Report;

/// Options of `cargo xtask abi-diff`.
#[derive(clap::Args)]
pub struct Args {
    /// The base git revision (default: the latest `abi-v*` tag reachable from HEAD, else the
    /// merge base with the branch's upstream).
    base: Option<String>,
    /// The head git revision (default: the schema.toml in the work tree, committed or not).
    head: Option<String>,
    /// Print the report as JSON instead of Markdown.
    #[arg(long)]
    json: bool,
    /// The repository to read (default: the one around the current directory).
    #[arg(long)]
    root: Option<PathBuf>,
}

/// Prints the report; fails when the version rule refuses the change.
pub fn run(args: Args) -> anyhow::Result<()> {
    let root = args.root.unwrap_or_else(crate::codegen::repository_root);
    let base = match args.base {
        Some(base) => base,
        None => {
            let base = default_base(&root)?.ok_or_else(|| anyhow::anyhow!(NO_BASE))?;
            eprintln!("xtask abi-diff: comparing with {base}");
            base.revision
        }
    };
    let report = compare(&root, &base, args.head.as_deref())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_markdown());
    }
    if report.is_refused() {
        bail!("{}", report.refusals().join("; "));
    }
    Ok(())
}

/// What to say when there is nothing to compare with by default.
pub const NO_BASE: &str = "no `abi-v*` tag is reachable from HEAD and no upstream branch \
     gives a merge base before HEAD, so there is nothing to compare with: pass a base, e.g. \
     `cargo xtask abi-diff main` (in a shallow or tagless clone, `git fetch --tags` first)";

/// The revision `abi-diff` compares with when given none, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Base {
    /// A git revision: a tag name or a commit hash.
    pub revision: String,
    pub kind: BaseKind,
}

/// Where a default [`Base`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BaseKind {
    /// The latest ABI release tag (`abi-v<major>.<minor>`) reachable from HEAD.
    ReleaseTag,
    /// The merge base of HEAD with its upstream branch (no release tag is reachable).
    UpstreamMergeBase,
    /// That merge base is HEAD itself (the branch is its upstream, as in a fresh clone of
    /// it): only uncommitted changes can show.
    MergeBaseIsHead,
}

impl std::fmt::Display for Base {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            BaseKind::ReleaseTag => write!(f, "{} (the latest ABI release tag)", self.revision),
            BaseKind::UpstreamMergeBase => write!(
                f,
                "{} (the merge base with the upstream branch; no ABI release tag is reachable)",
                self.revision
            ),
            BaseKind::MergeBaseIsHead => write!(
                f,
                "{} (the merge base with the upstream branch, which is HEAD itself, so only \
                 uncommitted changes can show; no ABI release tag is reachable)",
                self.revision
            ),
        }
    }
}

/// The latest `abi-v*` tag reachable from HEAD, else the merge base with the upstream
/// branch, else `None` (a shallow clone without tags, or a local branch without upstream).
pub fn default_base(root: &Path) -> anyhow::Result<Option<Base>> {
    if let Some(revision) = latest_release_tag(root)? {
        let kind = BaseKind::ReleaseTag;
        return Ok(Some(Base { revision, kind }));
    }
    let Some(revision) = git_line(root, &["merge-base", "HEAD", "@{upstream}"])? else {
        return Ok(None);
    };
    let head = git_line(root, &["rev-parse", "HEAD"])?;
    let kind = if head.as_deref() == Some(revision.as_str()) {
        BaseKind::MergeBaseIsHead
    } else {
        BaseKind::UpstreamMergeBase
    };
    Ok(Some(Base { revision, kind }))
}

/// The latest ABI release tag (`abi-v<major>.<minor>`) reachable from HEAD, if any.
pub fn latest_release_tag(root: &Path) -> anyhow::Result<Option<String>> {
    git_line(
        root,
        &[
            "describe",
            "--tags",
            "--match",
            "abi-v*",
            "--abbrev=0",
            "HEAD",
        ],
    )
}

/// The model of schema.toml at `revision`.
pub fn model_at_revision(root: &Path, revision: &str) -> anyhow::Result<abigen::Model> {
    model_at(root, Some(revision))
}

/// The first line git prints for `args` in `root`, or `None` when git fails (no such tag,
/// no upstream); an error only when git cannot be run.
fn git_line(root: &Path, args: &[&str]) -> anyhow::Result<Option<String>> {
    let output = Command::new("git")
        .args(args)
        .current_dir(root)
        .output()
        .context("running git (is it installed?)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().next().unwrap_or("").trim();
    Ok((output.status.success() && !line.is_empty()).then(|| line.to_owned()))
}

/// Diffs schema.toml at `base` against `head` (a revision, or the work tree when `None`).
pub fn compare(root: &Path, base: &str, head: Option<&str>) -> anyhow::Result<Report> {
    let base_model = model_at(root, Some(base))?;
    let head_model = model_at(root, head)?;
    Ok(abigen::diff::diff(&base_model, &head_model))
}

/// Reads and validates schema.toml at a revision, or in the work tree for `None`.
/// An invalid schema is reported with all its diagnostics.
fn model_at(root: &Path, revision: Option<&str>) -> anyhow::Result<abigen::Model> {
    let (name, text) = match revision {
        Some(revision) => (
            format!("{revision}:schema.toml"),
            schema_at_revision(root, revision)?,
        ),
        None => {
            let path = root.join("schema.toml");
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            ("schema.toml".to_owned(), text)
        }
    };
    let parse = if revision.is_some() {
        abigen::parse_revision
    } else {
        abigen::parse_str
    };
    parse(&name, &text)
        .map_err(|diagnostics| anyhow::anyhow!("{name} is not a valid schema:\n{diagnostics}"))
}

/// `git show REVISION:schema.toml`, run in the repository root.
fn schema_at_revision(root: &Path, revision: &str) -> anyhow::Result<String> {
    let output = Command::new("git")
        .arg("show")
        .arg(format!("{revision}:schema.toml"))
        .current_dir(root)
        .output()
        .context("running git (is it installed?)")?;
    if !output.status.success() {
        bail!(
            "cannot read schema.toml at revision `{revision}`: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8(output.stdout)
        .with_context(|| format!("schema.toml at `{revision}` is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use abigen::diff::{Class, Status};

    /// The small schema the abigen diff fixtures start from.
    const BASE: &str = include_str!("../../abigen/tests/diff/base.toml");

    /// A throwaway git repository holding a schema.toml.
    struct Repo {
        dir: tempfile::TempDir,
    }

    impl Repo {
        fn new() -> Repo {
            let repo = Repo {
                dir: tempfile::tempdir().expect("creating a temporary directory"),
            };
            repo.git(&["init", "--quiet"]);
            repo.write(BASE);
            repo.commit("base");
            repo
        }

        fn path(&self) -> &Path {
            self.dir.path()
        }

        fn git(&self, args: &[&str]) {
            let status = Command::new("git")
                .args([
                    "-c",
                    "user.name=abi-diff test",
                    "-c",
                    "user.email=test@example.invalid",
                ])
                .args(args)
                .current_dir(self.path())
                .status()
                .expect("running git");
            assert!(status.success(), "git {args:?} failed");
        }

        fn schema(&self) -> String {
            std::fs::read_to_string(self.path().join("schema.toml")).expect("reading the copy")
        }

        fn write(&self, text: &str) {
            std::fs::write(self.path().join("schema.toml"), text).expect("writing the copy");
        }

        /// Applies one replacement that must match exactly once.
        fn edit(&self, find: &str, replace: &str) {
            let text = self.schema();
            assert_eq!(text.matches(find).count(), 1, "{find:?} must occur once");
            self.write(&text.replacen(find, replace, 1));
        }

        fn commit(&self, message: &str) {
            self.git(&["add", "schema.toml"]);
            self.git(&["commit", "--quiet", "--allow-empty", "-m", message]);
        }
    }

    /// Compares two revisions of a scratch repository and checks the counts and the verdict.
    fn check(
        repo: &Repo,
        base: &str,
        head: Option<&str>,
        counts: [usize; 4],
        status: Status,
    ) -> Report {
        let report = compare(repo.path(), base, head).expect("both revisions are valid");
        assert_eq!(
            Class::ALL.map(|class| report.count(class)),
            counts,
            "{}",
            report.to_markdown()
        );
        assert_eq!(report.verdict.status, status, "{}", report.to_markdown());
        report
    }

    #[test]
    fn revisions_and_work_tree() {
        let repo = Repo::new();
        check(&repo, "HEAD", None, [0, 0, 0, 0], Status::Ok);

        repo.edit(
            "name = \"debug_write\"\nnumber = 3",
            "name = \"debug_write\"\nnumber = 4",
        );
        repo.edit("version = \"1.0\"", "version = \"1.1\"");
        let report = check(&repo, "HEAD", None, [1, 0, 0, 0], Status::Refused);
        assert_eq!(
            report.verdict.to_string(),
            "REFUSED: 1 breaking change without a major ABI version bump (1.0 -> 1.1)"
        );
        repo.commit("renumber debug_write");
        check(&repo, "HEAD~1", Some("HEAD"), [1, 0, 0, 0], Status::Refused);
        check(&repo, "HEAD", None, [0, 0, 0, 0], Status::Ok);

        let json =
            serde_json::to_value(compare(repo.path(), "HEAD~1", Some("HEAD")).expect("valid"))
                .expect("the report serializes");
        assert_eq!(json["changes"][0]["class"], "breaking");
        assert_eq!(json["changes"][0]["kind"], "renumbered");
        assert_eq!(json["changes"][0]["entry"], "sys.debug_write");
        assert_eq!(json["verdict"]["status"], "refused");
        assert_eq!(json["head_version"]["minor"], 1);
    }

    #[test]
    fn default_base_is_the_latest_tag_then_the_upstream_merge_base() {
        let upstream = Repo::new();
        let clone = tempfile::tempdir().expect("creating a directory for the clone");
        let status = Command::new("git")
            .args(["clone", "--quiet"])
            .arg(upstream.path())
            .arg(clone.path())
            .status()
            .expect("running git clone");
        assert!(status.success());
        let clone = Repo { dir: clone };
        let base_commit = |repo: &Repo| {
            git_line(repo.path(), &["rev-parse", "HEAD"])
                .unwrap()
                .unwrap()
        };

        // Neither a tag nor an upstream: nothing to compare with.
        assert_eq!(default_base(upstream.path()).unwrap(), None);
        // A clone's branch tracks its origin: the merge base, at first HEAD itself.
        let forked_at = base_commit(&clone);
        let expected = Base {
            revision: forked_at.clone(),
            kind: BaseKind::MergeBaseIsHead,
        };
        assert_eq!(default_base(clone.path()).unwrap(), Some(expected));
        clone.commit("work on the clone");
        let expected = Base {
            revision: forked_at.clone(),
            kind: BaseKind::UpstreamMergeBase,
        };
        assert_eq!(default_base(clone.path()).unwrap(), Some(expected));
        // A release tag wins, and the latest reachable one at that.
        clone.git(&["tag", "-a", "abi-v1.0", "-m", "ABI 1.0", &forked_at]);
        clone.commit("more work");
        clone.git(&["tag", "-a", "abi-v1.1", "-m", "ABI 1.1"]);
        clone.commit("after the release");
        clone.git(&["tag", "not-an-abi-release"]);
        let expected = Base {
            revision: "abi-v1.1".to_owned(),
            kind: BaseKind::ReleaseTag,
        };
        assert_eq!(default_base(clone.path()).unwrap(), Some(expected));
        check(&clone, "abi-v1.1", None, [0, 0, 0, 0], Status::Ok);
    }

    #[test]
    fn broken_base_is_reported_with_its_diagnostics() {
        let repo = Repo::new();
        repo.edit(
            "name = \"debug_write\"\nnumber = 3",
            "name = \"debug_write\"\nnumber = 0",
        );
        repo.commit("duplicate number");
        let error = compare(repo.path(), "HEAD", None)
            .expect_err("the base is invalid")
            .to_string();
        assert!(
            error.contains("HEAD:schema.toml is not a valid schema"),
            "{error}"
        );
        assert!(error.contains("duplicate syscall number `0`"), "{error}");
    }

    #[test]
    fn unknown_revision_is_an_error() {
        let repo = Repo::new();
        let error = compare(repo.path(), "no-such-branch", None)
            .expect_err("no such revision")
            .to_string();
        assert!(
            error.contains("cannot read schema.toml at revision `no-such-branch`"),
            "{error}"
        );
    }
}
