//! The Node host: the command line and environment that start the harness
//! in Node for one job, inside Node's permission model.
//!
//! - Reads: the project and the harness (`--allow-fs-read`), plus what
//!   `memcheck.toml` grants. Node's model follows symbolic links, so a
//!   link out of the project stays open: memcheck warns about each one.
//! - Writes: the harness's channel and heap file only; no child processes, workers,
//!   native addons or inspector unless granted (`run`, `worker`, `ffi`,
//!   `inspector`).
//! - What the model has no switch for is refused by the harness's guards
//!   (`harness/node-guards.js`), in JavaScript, unless granted: the network
//!   (`net`), node:sqlite (`write`), signals to other processes (`run`).
//!   Node never downloads modules, so imports stay local.
//! - The inspector: granted only to jobs that track or sample allocations;
//!   the harness opens its session, then refuses new ones.
//! - TypeScript: Node strips types in place, so positions need no map; code
//!   that needs transforming (an `enum`) gets an error naming the flag.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use super::harness::file_url;
use super::host::Host;
use super::sandbox::is_grant_of;
use super::{Job, JobMode, Launch, RuntimeError, Sandbox, V8_FLAGS, heap_path};
use crate::project::Package;
use crate::sourcemap::SourceMaps;

/// The Node host of a run.
#[derive(Debug)]
pub struct NodeHost {
    /// Node's own options from `memcheck.toml` (`runtime.node_flags`).
    flags: Vec<String>,
    source_maps: Arc<SourceMaps>,
}

impl NodeHost {
    pub fn new(flags: Vec<String>) -> NodeHost {
        NodeHost {
            flags,
            source_maps: Arc::new(SourceMaps::none()),
        }
    }
}

impl Host for NodeHost {
    fn command(&self, launch: &Launch, job: &Job, channel: &Path) -> Result<Command, RuntimeError> {
        let package = Package::of(&job.file, &launch.sandbox.root);
        let inspector = launch.inspector || launch.trace;
        let user_inspector = launch.allow.iter().any(|a| a == "inspector");
        let mut cmd = Command::new(&launch.binary);
        cmd.args(V8_FLAGS)
            .args(&launch.v8_flags)
            .args(&self.flags)
            .arg("--permission")
            .arg(read_flag(&launch.sandbox.root))
            .arg(read_flag(&launch.harness.dir))
            .arg(format!("--allow-fs-write={}", channel.display()))
            .arg(format!("--allow-fs-write={}", heap_path(channel).display()));
        if job.mode == JobMode::Serve {
            cmd.arg(read_flag(&job.commands(launch)));
        }
        if inspector && !user_inspector {
            cmd.arg("--allow-inspector");
        }
        cmd.args(launch.allow.iter().flat_map(|a| permission_flags(a)))
            .arg(&launch.harness.node_entry)
            .arg(channel)
            .arg(file_url(&job.file))
            .args(job.harness_args(launch, !user_inspector))
            .args(guard_flags(&launch.allow));
        launch.env.apply(&mut cmd);
        cmd.current_dir(&package.dir).env("NO_COLOR", "1");
        Ok(cmd)
    }

    fn explain(&self, message: &str, _sandbox: &Sandbox, _cwd: &Path) -> Option<String> {
        explain(message).or_else(|| super::host::no_dom(message))
    }

    fn source_maps(&self) -> Arc<SourceMaps> {
        self.source_maps.clone()
    }

    fn load_error(&self, output: &str) -> Option<String> {
        load_error(output)
    }

    fn sandbox_notes(&self) -> Vec<String> {
        vec!["recorded on Node, whose permission model leaves links out of the project open and has no network switch (memcheck's harness refuses the network instead)".into()]
    }

    fn closes_links(&self) -> bool {
        false
    }
}

fn read_flag(path: &Path) -> String {
    format!("--allow-fs-read={}", path.display())
}

/// Node's flags for one `runtime.allow` entry; names Node cannot restrict
/// (`net`, `env`, `sys`, `import`) need none.
fn permission_flags(entry: &str) -> Vec<String> {
    let (name, values) = match entry.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (entry, None),
    };
    let each = |flag: &str| -> Vec<String> {
        match values {
            Some(v) => v.split(',').map(|p| format!("--{flag}={p}")).collect(),
            None => vec![format!("--{flag}=*")],
        }
    };
    match name {
        "read" => each("allow-fs-read"),
        "write" => each("allow-fs-write"),
        "run" => vec!["--allow-child-process".into()],
        "worker" => vec!["--allow-worker".into()],
        "ffi" => vec!["--allow-addons".into()],
        "inspector" => vec!["--allow-inspector".into()],
        _ => Vec::new(),
    }
}

/// The grants the harness's guards check (`harness/node-guards.js`): what
/// Node's permission model has no switch for. `net=HOST` opens the whole
/// network, as Node cannot tell hosts apart; any `write` opens node:sqlite.
fn guard_flags(allow: &[String]) -> Vec<String> {
    ["net", "write", "run"]
        .into_iter()
        .filter(|name| allow.iter().any(|a| is_grant_of(a, name)))
        .map(|name| format!("--allow-{name}"))
        .collect()
}

/// The error Node prints when the test file does not compile: the place
/// (`file:///a.js:4`, or `/a.js:4` for CommonJS), the line with a caret
/// under the column, then `SyntaxError: …`. As one message with its place
/// as a frame.
fn load_error(output: &str) -> Option<String> {
    let lines: Vec<&str> = output.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("file://") || l.starts_with('/'))?;
    let (place, line) = lines[at].rsplit_once(':')?;
    let line: u32 = line.parse().ok()?;
    let url = if place.starts_with('/') {
        super::file_url(Path::new(place))
    } else {
        place.to_owned()
    };
    let column = lines.get(at + 2)?.find('^')? + 1;
    let error = lines[at..].iter().find(|l| l.contains("Error:"))?;
    Some(format!("{error}\n    at {url}:{line}:{column}"))
}

/// Node's permission and TypeScript errors, explained with the fix.
fn explain(message: &str) -> Option<String> {
    if message.contains("ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX") {
        return Some(
            "Node runs TypeScript by stripping types only: an enum, a namespace or parameter properties need transforming; add node_flags = [\"--experimental-transform-types\"] under [runtime] in memcheck.toml, or run this file on Deno (engine = \"deno\")".into(),
        );
    }
    if message.contains("Unknown file extension \".tsx\"")
        || message.contains("Unknown file extension \".jsx\"")
    {
        return Some(
            "Node does not run JSX (.jsx, .tsx): run this file on Deno (engine = \"deno\", or `engines` without \"node\"), or test the compiled JavaScript".into(),
        );
    }
    // The harness's guards (harness/node-guards.js) name the call and the
    // grant themselves.
    if message.contains("memcheck: ") && message.contains(" is not granted to tests; grant it") {
        return None;
    }
    if !message.contains("ERR_ACCESS_DENIED")
        && !message.contains("Access to this API has been restricted")
    {
        return None;
    }
    if message.contains("ERR_ACCESS_DENIED]: process.binding") {
        return Some(
            "Node's internal bindings (process.binding) are closed to tests by Node's permission model; no `allow` entry opens them".into(),
        );
    }
    // The harness adds the path a denied call touched: `(resource: /a/b)`.
    let resource = message
        .split("(resource: ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap_or("PATH");
    let (what, grant) = if message.contains("allow-fs-read") || message.contains("FileSystemRead") {
        (
            "reading outside the project",
            format!("\"read={resource}\""),
        )
    } else if message.contains("allow-fs-write") || message.contains("FileSystemWrite") {
        ("writing files", format!("\"write={resource}\""))
    } else if message.contains("allow-child-process") {
        ("starting a child process", "\"run\"".to_owned())
    } else if message.contains("allow-worker") {
        ("starting a worker", "\"worker\"".to_owned())
    } else if message.contains("allow-addons") {
        ("loading a native addon", "\"ffi\"".to_owned())
    } else if message.contains("allow-inspector") {
        ("opening the inspector", "\"inspector\"".to_owned())
    } else {
        return None;
    };
    Some(format!(
        "{what} is not granted to tests; grant it in memcheck.toml: [runtime] allow = [{grant}]"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_map_to_nodes_flags() {
        assert_eq!(
            permission_flags("read=/a,/b"),
            ["--allow-fs-read=/a", "--allow-fs-read=/b"]
        );
        assert_eq!(permission_flags("write"), ["--allow-fs-write=*"]);
        assert_eq!(permission_flags("run"), ["--allow-child-process"]);
        assert!(permission_flags("net=localhost").is_empty());
    }

    #[test]
    fn the_guards_are_told_what_is_granted() {
        let allow = ["net=localhost", "write=/tmp/a", "env"].map(String::from);
        assert_eq!(guard_flags(&allow), ["--allow-net", "--allow-write"]);
        assert_eq!(guard_flags(&["run".to_owned()]), ["--allow-run"]);
        assert!(guard_flags(&["network".to_owned()]).is_empty());
    }

    #[test]
    fn a_compile_error_is_read_with_its_place() {
        let out = "file:///p/a.js:4\n  const x = ;\n            ^\n\nSyntaxError: Unexpected token ';'\n    at compile (node:internal/x:1:1)\n";
        assert_eq!(
            load_error(out).as_deref(),
            Some("SyntaxError: Unexpected token ';'\n    at file:///p/a.js:4:13")
        );
        assert_eq!(load_error("just output\n"), None);
        let out = "/p/a b.js:2\nlet x = ;\n        ^\n\nSyntaxError: Unexpected token ';'\n";
        assert_eq!(
            load_error(out).as_deref(),
            Some("SyntaxError: Unexpected token ';'\n    at file:///p/a%20b.js:2:9")
        );
    }

    #[test]
    fn denials_are_explained() {
        let m = explain("Error: Access to this API has been restricted. Use --allow-fs-read to manage permissions. (resource: /etc/hostname)").unwrap();
        assert_eq!(
            m,
            "reading outside the project is not granted to tests; grant it in memcheck.toml: [runtime] allow = [\"read=/etc/hostname\"]"
        );
        let m = explain(
            "SyntaxError [ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX]: TypeScript enum is not supported",
        )
        .unwrap();
        assert!(m.contains("--experimental-transform-types"), "{m}");
        let m = explain("TypeError: Unknown file extension \".tsx\" for /p/a.memtest.tsx").unwrap();
        assert!(m.starts_with("Node does not run JSX"), "{m}");
        assert_eq!(explain("TypeError: boom"), None);
        let m = explain("Error [ERR_ACCESS_DENIED]: process.binding\n    at Object.fn (a.js:1:9)")
            .unwrap();
        assert!(
            m.starts_with("Node's internal bindings (process.binding)"),
            "{m}"
        );
    }

    #[test]
    fn the_guards_denials_are_left_as_they_are() {
        // Printed whole by Node (the code among its properties), as a
        // crash shows it.
        let m = "Error: memcheck: opening a SQLite database (sqlite.DatabaseSync) is not granted to tests; grant it in memcheck.toml: [runtime] allow = [\"write\"]\n  code: 'ERR_ACCESS_DENIED'";
        assert_eq!(explain(m), None);
    }
}
