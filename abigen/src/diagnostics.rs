//! Schema errors: each one carries a byte span into the schema text and renders as `file:line:column` plus the offending line.

use std::fmt;
use std::ops::Range;

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, termcolor::NoColor};

/// One error found in a schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// What is wrong, as one sentence without a trailing period.
    pub message: String,
    /// Byte range in the schema text that the error points at.
    pub span: Range<usize>,
    /// A second place that explains the first (for example the earlier definition of a duplicate).
    pub related: Option<(Range<usize>, String)>,
}

/// Every error found in one schema, together with the text they point into.
///
/// `Display` renders each error with its source snippet (codespan style);
/// [`Diagnostics::summary`] gives one `file:line:column: message` line per error.
#[derive(Clone, Debug)]
pub struct Diagnostics {
    file_name: String,
    source: String,
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Creates an empty collection for errors in `source`, named `file_name` in messages.
    pub fn new(file_name: &str, source: &str) -> Self {
        Diagnostics {
            file_name: file_name.to_owned(),
            source: source.to_owned(),
            items: Vec::new(),
        }
    }

    /// Records an error at `span`.
    pub fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        let span = self.clamp(span);
        self.items.push(Diagnostic {
            message: message.into(),
            span,
            related: None,
        });
    }

    /// Records an error at `span` that refers to an earlier place, `related`.
    pub fn error_with_related(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
        related: Range<usize>,
        related_note: impl Into<String>,
    ) {
        let span = self.clamp(span);
        let related = self.clamp(related);
        self.items.push(Diagnostic {
            message: message.into(),
            span,
            related: Some((related, related_note.into())),
        });
    }

    /// The recorded errors, in the order they were found.
    pub fn items(&self) -> &[Diagnostic] {
        &self.items
    }

    /// True when no error was recorded.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Number of recorded errors.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// The 1-based line and column of byte offset `offset` in the schema text.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.source.len());
        let before = &self.source[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = self.source[line_start..offset].chars().count() + 1;
        (line, column)
    }

    /// Orders the errors by where they point in the file (stable for equal positions).
    pub fn sort_by_position(&mut self) {
        self.items.sort_by_key(|item| item.span.start);
    }

    /// One line per error: `file:line:column: message`.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for item in &self.items {
            let (line, column) = self.line_column(item.span.start);
            out.push_str(&format!(
                "{}:{line}:{column}: {}\n",
                self.file_name, item.message
            ));
        }
        out
    }

    fn clamp(&self, span: Range<usize>) -> Range<usize> {
        let mut start = span.start.min(self.source.len());
        let mut end = span.end.clamp(start, self.source.len());
        while !self.source.is_char_boundary(start) {
            start -= 1;
        }
        while !self.source.is_char_boundary(end) {
            end += 1;
        }
        start..end
    }
}

/// The longest source line shown whole; an error on a longer line shows a window of it.
const MAX_SHOWN_LINE: usize = 160;

impl Diagnostics {
    /// The byte range of the line holding `offset`, without its newline.
    fn line_range(&self, offset: usize) -> Range<usize> {
        let offset = offset.min(self.source.len());
        let start = self.source[..offset].rfind('\n').map_or(0, |i| i + 1);
        let end = self.source[offset..]
            .find('\n')
            .map_or(self.source.len(), |i| offset + i);
        start..end
    }

    fn is_long_line(&self, offset: usize) -> bool {
        self.source[self.line_range(offset)].chars().count() > MAX_SHOWN_LINE
    }

    /// One error whose line is too long to show whole: the location, then a window of the
    /// line around the span with a caret line under it, then the related place by location.
    fn render_cut(&self, item: &Diagnostic, out: &mut String) {
        let (line, column) = self.line_column(item.span.start);
        let range = self.line_range(item.span.start);
        let mut from = item
            .span
            .start
            .saturating_sub(MAX_SHOWN_LINE / 4)
            .max(range.start);
        let mut to = (from + MAX_SHOWN_LINE).min(range.end);
        while !self.source.is_char_boundary(from) {
            from -= 1;
        }
        while !self.source.is_char_boundary(to) {
            to += 1;
        }
        let lead = if from > range.start { "…" } else { "" };
        let tail = if to < range.end { "…" } else { "" };
        let gutter = " ".repeat(line.to_string().len());
        let before =
            self.source[from..item.span.start.max(from)].chars().count() + lead.chars().count();
        let width = self.source[item.span.start.min(to)..item.span.end.clamp(item.span.start, to)]
            .chars()
            .count()
            .max(1);
        out.push_str(&format!("error: {}\n", item.message));
        out.push_str(&format!("{gutter} ┌─ {}:{line}:{column}\n", self.file_name));
        out.push_str(&format!("{gutter} │\n"));
        out.push_str(&format!(
            "{line} │ {lead}{}{tail}\n",
            &self.source[from..to]
        ));
        out.push_str(&format!(
            "{gutter} │ {}{}\n",
            " ".repeat(before),
            "^".repeat(width)
        ));
        if let Some((span, note)) = &item.related {
            let (line, column) = self.line_column(span.start);
            out.push_str(&format!(
                "{gutter} = {note}: {}:{line}:{column}\n",
                self.file_name
            ));
        }
        out.push('\n');
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = SimpleFile::new(self.file_name.as_str(), self.source.as_str());
        let config = term::Config::default();
        for item in &self.items {
            let long = self.is_long_line(item.span.start)
                || item
                    .related
                    .as_ref()
                    .is_some_and(|(span, _)| self.is_long_line(span.start));
            if long {
                let mut text = String::new();
                self.render_cut(item, &mut text);
                f.write_str(&text)?;
                continue;
            }
            let mut labels = vec![Label::primary((), item.span.clone())];
            if let Some((span, note)) = &item.related {
                labels.push(Label::secondary((), span.clone()).with_message(note.clone()));
            }
            let diagnostic = CsDiagnostic::error()
                .with_message(item.message.clone())
                .with_labels(labels);
            let mut buffer = NoColor::new(Vec::new());
            term::emit(&mut buffer, &config, &file, &diagnostic).map_err(|_| fmt::Error)?;
            f.write_str(&String::from_utf8_lossy(buffer.get_ref()))?;
        }
        let count = self.items.len();
        write!(
            f,
            "{}: {count} error{}",
            self.file_name,
            if count == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for Diagnostics {}
