//! Text as memcheck shows it: names quoted, shortened and escaped, control
//! characters written out, paths made relative, commands quoted for a
//! shell, and lines GitHub's runner would take for workflow commands
//! disarmed. It imports nothing of memcheck's, so every layer may use it.

/// Quote a test name for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:".contains(c))
    {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A test or block name in double quotes for messages: control
/// characters written out, a long name cut (see [`full_name`]).
pub fn quote_name(name: &str) -> String {
    format!("\"{}\"", shorten(&escape_controls(name)))
}

/// `file::name` as libtest shows and filters it: control characters (ANSI
/// escapes among them) are written out, so that no name can drive the
/// terminal, and so that the name can be pasted into a filter.
/// A name too long to show is cut, with a hash of the whole kept, so that
/// it stays unique and can be pasted into a filter.
pub fn full_name(file: &str, name: &str) -> String {
    format!(
        "{}::{}",
        escape_controls(file),
        shorten(&escape_controls(name))
    )
}

/// The longest test name shown whole.
const MAX_SHOWN: usize = 160;

fn shorten(name: &str) -> String {
    if name.chars().count() <= MAX_SHOWN {
        return name.to_owned();
    }
    // FNV-1a: stable across runs and platforms.
    let hash = name.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    let head: String = name.chars().take(MAX_SHOWN - 12).collect();
    format!("{head}…{hash:08x}")
}

/// `text` with control characters written as `\n`, `\t`, `\u{1b}`: one
/// line, and nothing in it a terminal would act on.
pub fn escape_controls(text: &str) -> String {
    escape_where(text, char::is_control)
}

/// Text of many lines (what a test printed, a thrown error with its
/// stack): control characters written out as [`escape_controls`] does,
/// but newlines and tabs kept, so that lines and columns stay as they were.
pub fn escape_text(text: &str) -> String {
    escape_where(text, |c| c.is_control() && c != '\n' && c != '\t')
}

fn escape_where(text: &str, escaped: impl Fn(char) -> bool) -> String {
    if !text.chars().any(&escaped) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if escaped(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A path as users want to read it: relative to the current directory when
/// it is inside it, control characters written out.
pub fn display_path(path: &std::path::Path) -> String {
    let shown = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(|p| p.display().to_string()))
        .unwrap_or_else(|| path.display().to_string());
    escape_controls(&shown)
}

/// Paths in `text` as users read them: without `file://`, without `query`
/// and the digits after it (what makes each job's main module URL unique),
/// and relative to the current directory.
pub fn relative_urls(text: &str, query: &str) -> String {
    let text = file_paths(text);
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(i) = rest.find(query).filter(|_| !query.is_empty()) {
        out.push_str(&rest[..i]);
        rest = rest[i + query.len()..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    if let Ok(cwd) = std::env::current_dir() {
        let prefix = format!("{}/", cwd.display());
        out = out.replace(&prefix, "");
    }
    out
}

/// `text` with each `file://` URL written as its path: `file://` left out
/// and its escapes (`%20`) decoded, where they decode to text with no
/// control character (a URL holds no blank, so it ends at the first one,
/// or at a quote).
fn file_paths(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("file://") {
        out.push_str(&rest[..at]);
        let url = &rest[at + "file://".len()..];
        let end = url
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'')
            .unwrap_or(url.len());
        out.push_str(&decoded(&url[..end]).unwrap_or_else(|| url[..end].to_owned()));
        rest = &url[end..];
    }
    out.push_str(rest);
    out
}

/// `url` with its `%XX` escapes decoded ([`percent_decode`]), if they
/// decode to UTF-8 text with no control character.
fn decoded(url: &str) -> Option<String> {
    let text = percent_decode(url);
    let replaced = |s: &str| s.matches(char::REPLACEMENT_CHARACTER).count();
    (replaced(&text) == replaced(url) && !text.chars().any(char::is_control)).then_some(text)
}

/// `text` with nothing GitHub's runner would execute: it reads a line
/// (ended by `\n` or `\r`) as a workflow command when it starts with `::`
/// after blanks, or anywhere it holds `##[` (the older form). The first
/// character of each is written out (`\u{3a}:error::…`, `\u{23}#[error]…`),
/// which the runner leaves alone and a reader still recognises.
pub fn disarm_workflow_commands(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive(['\n', '\r']) {
        let body = line.trim_start_matches(|c: char| c.is_whitespace() && c != '\n' && c != '\r');
        out.push_str(&line[..line.len() - body.len()]);
        let body = match body.strip_prefix(':') {
            Some(after) if after.starts_with(':') => {
                out.push_str("\\u{3a}");
                after
            }
            _ => body,
        };
        out.push_str(&body.replace("##[", "\\u{23}#["));
    }
    out
}

/// `%XX` escapes of a URL path as bytes.
pub fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = path
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether GitHub's runner would read a workflow command in `text`: a line
/// (ended by `\n` or `\r`) that starts with `::` after blanks, or holds
/// `##[`. What [`disarm_workflow_commands`] leaves never does.
#[cfg(test)]
pub fn has_workflow_command(text: &str) -> bool {
    text.split(['\n', '\r'])
        .any(|line| line.trim_start().starts_with("::") || line.contains("##["))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_for_the_shell() {
        assert_eq!(shell_quote("a.memtest.js::plain"), "a.memtest.js::plain");
        assert_eq!(shell_quote("a::it's big"), r"'a::it'\''s big'");
    }

    #[test]
    fn names_cannot_drive_the_terminal() {
        assert_eq!(full_name("a.js", "red \u{1b}[31m"), "a.js::red \\u{1b}[31m");
        assert_eq!(full_name("a.js", "two\nlines"), "a.js::two\\nlines");
        assert_eq!(full_name("a\nb.js", "t"), "a\\nb.js::t");
        assert_eq!(full_name("a.js", "plain ✓"), "a.js::plain ✓");
        let long = full_name("a.js", &"x".repeat(10_000));
        assert!(long.chars().count() < 200, "{long}");
        assert_ne!(long, full_name("a.js", &"x".repeat(10_001)));
    }

    #[test]
    fn text_keeps_its_lines_and_loses_its_escapes() {
        assert_eq!(
            escape_text("a\tb\n\u{1b}[31mred\r\u{7}\u{9b}"),
            "a\tb\n\\u{1b}[31mred\\r\\u{7}\\u{9b}"
        );
        assert_eq!(escape_controls("a\tb\nc"), "a\\tb\\nc");
    }

    #[test]
    fn the_job_query_is_left_out() {
        assert_eq!(
            relative_urls(
                "at file:///p/a.js?memcheck-job=42:3:5 and /p/b.js?memcheck-job=7",
                "?memcheck-job="
            ),
            "at /p/a.js:3:5 and /p/b.js"
        );
    }

    #[test]
    fn file_urls_read_as_their_paths() {
        assert_eq!(
            relative_urls(
                "(file:///p/sp%20ace/br%5Back%5Det/a.js:4) file:///p/uni-%C3%A9.js:1:2, \"file:///q/x%41\"",
                ""
            ),
            "(/p/sp ace/br[ack]et/a.js:4) /p/uni-é.js:1:2, \"/q/xA\""
        );
        // What would not decode to text, or would hold a control
        // character, stays escaped.
        assert_eq!(
            relative_urls("file:///p/a%0Ab.js file:///p/%FF.js file:///p/%zz.js", ""),
            "/p/a%0Ab.js /p/%FF.js /p/%zz.js"
        );
    }

    #[test]
    fn workflow_commands_are_disarmed() {
        let text = "::error::a\n  ::add-mask::b\r::stop-commands::t\nsay ##[error]c\nkeep a::b\n\u{3000}::x::y";
        let disarmed = disarm_workflow_commands(text);
        assert_eq!(
            disarmed,
            "\\u{3a}:error::a\n  \\u{3a}:add-mask::b\r\\u{3a}:stop-commands::t\nsay \\u{23}#[error]c\nkeep a::b\n\u{3000}\\u{3a}:x::y"
        );
        assert!(has_workflow_command(text));
        assert!(!has_workflow_command(&disarmed));
        // Blank lines before a command, and text with none, are kept.
        assert_eq!(disarm_workflow_commands(" \n ::e"), " \n \\u{3a}:e");
        assert_eq!(disarm_workflow_commands("plain: text"), "plain: text");
    }
}
