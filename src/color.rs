//! Colour: one setting for the whole run. `--color auto|always|never`
//! wins, then `CARGO_TERM_COLOR`; in `auto`, `NO_COLOR`, `CLICOLOR_FORCE`
//! and whether stdout is a terminal decide (anstream's rules). The result
//! drives libtest-mimic's output and ours: the baseline diffs in failure
//! text and in `review`. Reports written to files are never coloured.

use anstyle::{AnsiColor, Style};

/// When to colour, as `--color` and `CARGO_TERM_COLOR` write it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    Auto,
    Always,
    Never,
}

impl When {
    /// `CARGO_TERM_COLOR`'s value, if it is one of the three.
    pub fn from_env(value: Option<&str>) -> Option<When> {
        match value?.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(When::Auto),
            "always" => Some(When::Always),
            "never" => Some(When::Never),
            _ => None,
        }
    }
}

/// Whether to colour stdout: the flag, else `CARGO_TERM_COLOR`, else auto.
pub fn enabled(flag: Option<When>, cargo_term_color: Option<&str>) -> bool {
    match flag.or_else(|| When::from_env(cargo_term_color)) {
        Some(When::Always) => true,
        Some(When::Never) => false,
        Some(When::Auto) | None => {
            anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
        }
    }
}

const REMOVED: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)));
const ADDED: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Green)));
const HEADING: Style = Style::new().bold();

/// `text` with the lines of each baseline diff in it coloured: a diff
/// starts at a `--- baseline` line and runs while lines keep its indent
/// and start with `-`, `+` or a space.
pub fn paint_diffs(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut indent: Option<usize> = None;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let trimmed = body.trim_start();
        let depth = body.len() - trimmed.len();
        if trimmed == "--- baseline" {
            indent = Some(depth);
        } else if indent.is_some_and(|d| {
            body.len() <= d || depth < d || !matches!(body.as_bytes()[d], b'-' | b'+' | b' ')
        }) {
            indent = None;
        }
        match indent {
            Some(d) => out.push_str(&paint_line(body, d)),
            None => out.push_str(body),
        }
        if line.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// One diff line, its sign at byte `at`.
fn paint_line(line: &str, at: usize) -> String {
    let rest = &line[at..];
    let style = if rest.starts_with("---") || rest.starts_with("+++") {
        HEADING
    } else if rest.starts_with('-') {
        REMOVED
    } else if rest.starts_with('+') {
        ADDED
    } else {
        return line.to_owned();
    };
    format!("{}{style}{rest}{style:#}", &line[..at])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_diff_lines_are_painted() {
        let text = "block \"insert\":\n  - not a diff\n  baseline x:\n    --- baseline\n    +++ this run\n    -a = 1\n    +a = 2\n     b = 3\n  accept: cargo memcheck accept\n";
        let painted = paint_diffs(text);
        assert!(painted.contains("  - not a diff\n"), "{painted:?}");
        assert!(
            painted.contains("    \u{1b}[31m-a = 1\u{1b}[0m\n"),
            "{painted:?}"
        );
        assert!(
            painted.contains("    \u{1b}[32m+a = 2\u{1b}[0m\n"),
            "{painted:?}"
        );
        assert!(
            painted.contains("     b = 3\n  accept: cargo"),
            "{painted:?}"
        );
        // Stripped of its colour, the text is unchanged.
        let plain: String = anstream::adapter::strip_str(&painted).to_string();
        assert_eq!(plain, text);
    }

    #[test]
    fn the_flag_wins_over_the_environment() {
        assert!(enabled(Some(When::Always), Some("never")));
        assert!(!enabled(Some(When::Never), Some("always")));
        assert!(enabled(None, Some("always")));
        assert!(!enabled(None, Some("never")));
        assert_eq!(When::from_env(Some("bogus")), None);
    }
}
