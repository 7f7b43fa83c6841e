//! Finding a call in a test file's text, for the lines the page marks: the
//! `test("name", …)` call and the `t.measure("name", …)` call of a block.
//!
//! Also where a TypeScript function starts: V8 counts the lines of the
//! JavaScript it ran, which for TypeScript is Deno's transpiled text, where
//! type-only lines, blank lines and comments may be gone; its lines only
//! move down in the source. (For JavaScript, V8's positions are exact.)
//!
//! A scan of the text, not a parser: the name must be written as a string
//! literal (a template literal without `${}` counts); anything else gives no
//! line, and the page then simply does not mark one.

/// The 1-based line of the first call `callee(<literal equal to name>`
/// on or after line `from`. A `callee` starting with `.` is a method
/// (`.measure`); any other must not be the tail of a longer identifier.
pub fn call_line(source: &str, callee: &str, name: &str, from: u32) -> Option<u32> {
    let start = line_start(source, from)?;
    let text = &source[start..];
    let mut at = 0;
    while let Some(found) = text[at..].find(callee) {
        let pos = at + found;
        at = pos + callee.len();
        if !callee.starts_with('.') && text[..pos].chars().next_back().is_some_and(is_ident) {
            continue;
        }
        let rest = text[at..].trim_start();
        let Some(args) = rest.strip_prefix('(') else {
            continue;
        };
        if string_literal(args.trim_start()).as_deref() == Some(name) {
            return Some(from.max(1) + text[..pos].matches('\n').count() as u32);
        }
    }
    None
}

/// Lines looked at below V8's line for the function's real start.
const DEFINITION_WINDOW: usize = 40;

/// Where function `name` (or `(anonymous)`) of a TypeScript file starts,
/// 1-based, given V8's position in the transpiled text: the first line at
/// or below `line` that defines `name`, or, for an anonymous function, that
/// starts a function (`(`, `async`, `function`, `x =>`) at `column`.
pub fn typescript_function(source: &str, name: &str, line: u32, column: u32) -> Option<(u32, u32)> {
    let anonymous = name.is_empty() || name == "(anonymous)";
    let lines = source.lines().enumerate().skip(line.max(1) as usize - 1);
    for (i, text) in lines.take(DEFINITION_WINDOW) {
        let found = if anonymous {
            starts_function_at(text, column).then_some(column)
        } else {
            defines(text, name)
        };
        if let Some(col) = found {
            return Some((i as u32 + 1, col));
        }
    }
    None
}

/// Whether a function expression starts at 1-based UTF-16 `column` of `text`.
fn starts_function_at(text: &str, column: u32) -> bool {
    let mut units = 0;
    let Some((at, _)) = text.char_indices().find(|(_, c)| {
        units += c.len_utf16() as u32;
        units >= column
    }) else {
        return false;
    };
    let rest = &text[at..];
    let word_end = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
    let (word, after) = rest.split_at(word_end);
    rest.starts_with('(')
        || word == "async"
        || word == "function"
        || (!word.is_empty() && after.trim_start().starts_with("=>"))
}

/// The 1-based column of the `(` after `name` when `text` defines
/// function `name`: `name(`, `function name(`, `async *name<T>(`,
/// `static get name(`, `const name = (` or `name: function(`.
fn defines(text: &str, name: &str) -> Option<u32> {
    const PREFIXES: [&str; 16] = [
        "export ",
        "default ",
        "async ",
        "static ",
        "public ",
        "private ",
        "protected ",
        "override ",
        "get ",
        "set ",
        "const ",
        "let ",
        "var ",
        "function ",
        "function*",
        "*",
    ];
    let mut rest = text.trim_start();
    loop {
        if let Some(paren) = params_after(rest, name) {
            let offset = text.len() - paren.len();
            return Some(text[..offset].encode_utf16().count() as u32 + 1);
        }
        let stripped = PREFIXES.iter().find_map(|p| rest.strip_prefix(p))?;
        rest = stripped.trim_start();
    }
}

/// When `text` starts with `name` and goes on to a parameter list, directly
/// or through `= (async) function*`, that list (from its `(`).
fn params_after<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let after = text.strip_prefix(name)?;
    if after.starts_with(is_ident) {
        return None;
    }
    let after = skip_generics(after.trim_start());
    let paren = if after.starts_with('(') {
        after
    } else {
        let value = after.strip_prefix(['=', ':'])?.trim_start();
        let value = value.strip_prefix("async").unwrap_or(value).trim_start();
        let value = value.strip_prefix("function").unwrap_or(value).trim_start();
        value.strip_prefix('*').unwrap_or(value).trim_start()
    };
    paren.starts_with('(').then_some(paren)
}

/// `text` after a leading `<…>` (type parameters), if any.
fn skip_generics(text: &str) -> &str {
    if !text.starts_with('<') {
        return text;
    }
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => {
                depth -= 1;
                if depth == 0 {
                    return text[i + 1..].trim_start();
                }
            }
            _ => {}
        }
    }
    text
}

/// Byte offset where 1-based `line` starts.
fn line_start(source: &str, line: u32) -> Option<usize> {
    if line <= 1 {
        return Some(0);
    }
    source
        .match_indices('\n')
        .nth(line as usize - 2)
        .map(|(i, _)| i + 1)
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// The value of the string literal `text` starts with, if it is one.
fn string_literal(text: &str) -> Option<String> {
    let mut chars = text.chars();
    let quote = chars.next().filter(|q| matches!(q, '"' | '\'' | '`'))?;
    let mut out = String::new();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(match chars.next()? {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                other => other,
            }),
            '$' if quote == '`' && chars.clone().next() == Some('{') => return None,
            '\n' if quote != '`' => return None,
            c if c == quote => return Some(out),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = r#"import { test } from "memcheck";
test("first", async (t) => {
  await t.measure("fill", () => {});
});
test(
  'second',
  async (t) => {
    await t.measure(`fill`, () => {});
    await t.measure("it's \"quoted\"", () => {});
  },
);
mytest("third", () => {});
"#;

    #[test]
    fn finds_tests_and_blocks_by_name() {
        assert_eq!(call_line(SOURCE, "test", "first", 1), Some(2));
        assert_eq!(call_line(SOURCE, "test", "second", 1), Some(5));
        assert_eq!(call_line(SOURCE, ".measure", "fill", 2), Some(3));
        assert_eq!(call_line(SOURCE, ".measure", "fill", 5), Some(8));
        assert_eq!(
            call_line(SOURCE, ".measure", r#"it's "quoted""#, 5),
            Some(9)
        );
    }

    #[test]
    fn finds_a_typescript_function_below_its_transpiled_line() {
        let ts = "export type L = () => void;\n\nexport class E<T> {\n  #l = new Set<L>();\n\n  on(l: L): () => void {\n    return () => {};\n  }\n}\n";
        // Transpiled, `on(` was on line 4; in the TypeScript it is on line 6.
        assert_eq!(typescript_function(ts, "on", 4, 5), Some((6, 5)));
        // The arrow `on` returns starts at column 12.
        assert_eq!(typescript_function(ts, "(anonymous)", 5, 12), Some((7, 12)));
        let js = "function make() {}\nconst build = async (x) => x;\nexport async function* gen<T>() {}\n";
        assert_eq!(typescript_function(js, "make", 1, 1), Some((1, 14)));
        assert_eq!(typescript_function(js, "build", 1, 1), Some((2, 21)));
        assert_eq!(typescript_function(js, "gen", 1, 1), Some((3, 30)));
        assert_eq!(
            typescript_function("  functionName() {}\n", "functionName", 1, 1),
            Some((1, 15))
        );
        // A call is not a definition.
        assert_eq!(
            typescript_function("new Widget(1);\n", "Widget", 1, 1),
            None
        );
    }

    #[test]
    fn ignores_other_identifiers_and_computed_names() {
        assert_eq!(call_line(SOURCE, "test", "third", 1), None);
        assert_eq!(
            call_line("t.measure(`n ${i}`, f)", ".measure", "n ${i}", 1),
            None
        );
        assert_eq!(call_line(SOURCE, "test", "first", 40), None);
    }
}
