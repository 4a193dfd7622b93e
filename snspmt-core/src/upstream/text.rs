//! Short, one-line excerpts of what an upstream sent, for error values and logs.

use std::fmt;

use serde_json::Value;

/// How many characters of an upstream body an error keeps.
pub(crate) const SNIPPET_CHARS: usize = 120;

/// At most [`SNIPPET_CHARS`] characters from the start of `body`, trimmed, with invalid UTF-8
/// replaced and control characters shown as spaces (so a snippet is one log line).
pub(crate) fn snippet(body: &[u8]) -> String {
    // A character is at most 4 bytes, so this prefix holds at least SNIPPET_CHARS whole ones.
    let head = body.get(..SNIPPET_CHARS * 4).unwrap_or(body);
    String::from_utf8_lossy(head)
        .trim()
        .chars()
        .take(SNIPPET_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A `fmt::Write` that keeps the first `left` characters and then refuses more, so a huge
/// value is never serialised in full just to show its start.
struct Bounded {
    out: String,
    left: usize,
}

impl fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if self.left == 0 {
                return Err(fmt::Error);
            }
            self.out.push(c);
            self.left -= 1;
        }
        Ok(())
    }
}

/// The JSON text of `value`, cut to [`SNIPPET_CHARS`] characters.
pub(crate) fn value_snippet(value: &Value) -> String {
    let mut bounded = Bounded { out: String::new(), left: SNIPPET_CHARS };
    // An Err only means the bound was reached; what was written so far is the snippet.
    let _ = fmt::write(&mut bounded, format_args!("{value}"));
    bounded.out
}
