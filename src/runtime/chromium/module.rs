//! What a script gets when it imports a file of the project, as a
//! bundler's dev server would give it: TypeScript and JSX transpiled
//! ([`super::transpile`]), a stylesheet as a module that adds it to the
//! page, and `process.env.NODE_ENV` in JavaScript replaced by its value
//! (packages built for bundlers, such as immer or Vue's `esm-bundler`
//! builds, read it, and a page has no `process`). The replacement keeps
//! every line and column: the value is padded to the expression's length.

use std::path::Path;

use super::transpile::{self, Transpiler};

/// The expression bundlers replace.
const NODE_ENV: &str = "process.env.NODE_ENV";

/// A module's body and content type, from the file `candidate` (the path
/// asked for) found at `real`.
pub fn module(
    candidate: &Path,
    real: &Path,
    transpiler: &Transpiler,
    node_env: &str,
) -> Result<(Vec<u8>, &'static str), String> {
    const JS: &str = "text/javascript; charset=utf-8";
    if transpile::needed(real) {
        let code = transpiler.module(candidate, real)?;
        return Ok((replace_node_env(&code, node_env), JS));
    }
    let bytes = std::fs::read(real).map_err(|e| e.to_string())?;
    match real.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "css" => Ok((style_module(&bytes), JS)),
        "js" | "mjs" => Ok((replace_node_env(&bytes, node_env), JS)),
        _ => Ok((bytes, super::serve::content_type(real))),
    }
}

/// `code` with `process.env.NODE_ENV` in code (not in a string, a
/// template, a comment or a regular expression; not part of a longer name;
/// not assigned to) replaced by `node_env` as a string literal, padded
/// with spaces to the same length when it fits.
fn replace_node_env(code: &[u8], node_env: &str) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(code) else {
        return code.to_vec();
    };
    if !text.contains(NODE_ENV) {
        return code.to_vec();
    }
    let literal = serde_json::Value::from(node_env).to_string();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for at in code_positions(text, NODE_ENV) {
        let after = &text[at + NODE_ENV.len()..];
        let joined = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || "_$.".contains(c));
        let next = after.trim_start();
        let assigned = next.starts_with('=') && !next.starts_with("==");
        if joined(text[..at].chars().last()) || joined(after.chars().next()) || assigned {
            continue;
        }
        out.push_str(&text[copied..at]);
        out.push_str(&literal);
        out.push_str(&" ".repeat(NODE_ENV.len().saturating_sub(literal.len())));
        copied = at + NODE_ENV.len();
    }
    out.push_str(&text[copied..]);
    out.into_bytes()
}

/// Where `needle` starts in `text` outside strings, templates, comments
/// and regular expressions (by a scan, not a parse: where it cannot tell,
/// it leaves the text alone).
fn code_positions(text: &str, needle: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    // The last byte of code that is not a space: decides whether `/`
    // divides or starts a regular expression.
    let mut last = b'(';
    while i < bytes.len() {
        let b = bytes[i];
        let skip_to = |i: usize, end: &str| {
            text[i..]
                .find(end)
                .map_or(bytes.len(), |e| i + e + end.len())
        };
        i = match b {
            b'\'' | b'"' | b'`' => quoted(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'/') => skip_to(i, "\n"),
            b'/' if bytes.get(i + 1) == Some(&b'*') => skip_to(i + 2, "*/"),
            b'/' if b"(,=:[!&|?{};+-*%<>~^".contains(&last) => quoted(bytes, i),
            _ => {
                if bytes[i..].starts_with(needle.as_bytes()) {
                    out.push(i);
                }
                i + 1
            }
        };
        if !b.is_ascii_whitespace() {
            last = b;
        }
    }
    out
}

/// The index past the string, template or regular expression opening at
/// `start` (its closing quote or slash, not escaped).
fn quoted(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let mut i = start + 1;
    let mut class = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'[' if quote == b'/' => class = true,
            b']' if quote == b'/' => class = false,
            b'\n' if quote == b'/' || quote == b'"' || quote == b'\'' => return i + 1,
            c if c == quote && !class => return i + 1,
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

/// A stylesheet as a module: importing it adds it to the page, as a
/// bundler does; its text is the default export.
fn style_module(css: &[u8]) -> Vec<u8> {
    let text = serde_json::Value::from(String::from_utf8_lossy(css)).to_string();
    format!(
        "const css = {text};\nconst style = document.createElement(\"style\");\nstyle.textContent = css;\ndocument.head.append(style);\nexport default css;\n"
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replaced(code: &str) -> String {
        String::from_utf8(replace_node_env(code.as_bytes(), "test")).unwrap()
    }

    #[test]
    fn node_env_is_replaced_in_place() {
        let code = "if (process.env.NODE_ENV !== \"production\") warn();\n";
        let out = replaced(code);
        assert_eq!(
            out,
            "if (\"test\"               !== \"production\") warn();\n"
        );
        assert_eq!(out.len(), code.len(), "columns are kept");
        assert_eq!(
            replaced("x = process.env.NODE_ENV;"),
            "x = \"test\"              ;"
        );
    }

    #[test]
    fn names_and_assignments_are_left_alone() {
        for code in [
            "process.env.NODE_ENV = \"production\";",
            "my.process.env.NODE_ENV;",
            "process.env.NODE_ENVIRONMENT;",
            "xprocess.env.NODE_ENV;",
        ] {
            assert_eq!(replaced(code), code);
        }
        assert_eq!(
            replaced("process.env.NODE_ENV == 1"),
            "\"test\"               == 1"
        );
    }

    #[test]
    fn strings_comments_and_patterns_are_left_alone() {
        for code in [
            "test(\"reads process.env.NODE_ENV\");",
            "x = 'process.env.NODE_ENV';",
            "x = `a ${b} process.env.NODE_ENV`;",
            "// process.env.NODE_ENV\n",
            "/* process.env.NODE_ENV */",
            "x = /process.env.NODE_ENV/;",
        ] {
            assert_eq!(replaced(code), code);
        }
        assert_eq!(
            replaced("a = b / 2; c(process.env.NODE_ENV) // x"),
            "a = b / 2; c(\"test\"              ) // x"
        );
        assert_eq!(
            replaced("s = \"q\\\"\"; process.env.NODE_ENV;"),
            "s = \"q\\\"\"; \"test\"              ;"
        );
    }

    /// The scan steps by bytes: a name written in another script is
    /// stepped over, never cut inside a character.
    #[test]
    fn code_in_any_script_is_scanned() {
        assert_eq!(
            replaced("const café = 1; f(process.env.NODE_ENV); const 名 = 2;"),
            "const café = 1; f(\"test\"              ); const 名 = 2;"
        );
    }

    #[test]
    fn a_value_is_a_string_literal_whatever_it_holds() {
        let out = String::from_utf8(replace_node_env(
            b"f(process.env.NODE_ENV)",
            "\"); alert(1); (\"",
        ))
        .unwrap();
        assert_eq!(out, r#"f("\"); alert(1); (\"")"#);
    }

    #[test]
    fn a_stylesheet_becomes_a_module_that_adds_it() {
        let out = String::from_utf8(style_module(b"a { content: \"</style>\" }")).unwrap();
        assert!(
            out.starts_with("const css = \"a { content: \\\"</style>\\\" }\";"),
            "{out}"
        );
        assert!(out.contains("document.head.append(style)"));
    }
}
