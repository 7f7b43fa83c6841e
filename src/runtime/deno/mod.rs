//! The Deno host: the command line, environment and import map that start
//! the harness in Deno for one job, inside the sandbox.
//!
//! - Reads: the project, plus what `memcheck.toml` grants; every link that
//!   leads out of the project is denied by name (`--deny-read`), and the
//!   import map sends imports of files outside the project, or through
//!   such a link, to a scheme Deno refuses (static imports need no read
//!   permission in Deno, so the map is what confines them).
//! - Writes: the harness's channel and heap file only.
//! - Network: none unless granted; modules come from Deno's cache only
//!   (`--cached-only`) and npm's registry is out of reach (a proxy on a
//!   closed loopback port), so nothing is downloaded at test time.
//! - Storage (`localStorage`, `caches`): each job runs the test file under a
//!   URL of its own, so it starts empty; its folder is removed afterwards.
//! - The inspector: granted (`--allow-sys`) only to jobs that track
//!   allocations or sample them, and revoked by the harness before any
//!   user module loads.

mod import_map;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use sha2::{Digest, Sha256};

pub use import_map::ImportMaps;

use super::harness::{Harness, file_url};
use super::host::Host;
use super::sandbox::{Sandbox, flag_path, is_grant_of};
use super::{Job, JobMode, Launch, RuntimeError, V8_FLAGS, heap_path};
use crate::project::Package;
use crate::sourcemap::SourceMaps;

/// The Deno host of a run.
#[derive(Debug)]
pub struct DenoHost {
    /// `DENO_DIR`: Deno's own cache, the user's (see [`user_deno_dir`]).
    pub deno_dir: PathBuf,
    import_maps: ImportMaps,
    source_maps: Arc<SourceMaps>,
}

impl DenoHost {
    pub fn new(harness: &Harness, sandbox: &Sandbox, run_dir: &Path) -> DenoHost {
        let deno_dir = user_deno_dir();
        let ours = our_imports(&harness.module, sandbox, &deno_dir);
        DenoHost {
            import_maps: ImportMaps::new(run_dir, ours),
            source_maps: Arc::new(SourceMaps::new(&deno_dir)),
            deno_dir,
        }
    }
}

impl Host for DenoHost {
    fn command(&self, launch: &Launch, job: &Job, channel: &Path) -> Result<Command, RuntimeError> {
        command(self, launch, job, channel)
    }

    fn leftovers(&self, job: &Job) -> Vec<PathBuf> {
        vec![storage_dir(&self.deno_dir, job)]
    }

    fn explain(&self, message: &str, sandbox: &Sandbox, cwd: &Path) -> Option<String> {
        explain_denial(message, sandbox, cwd).or_else(|| super::host::no_dom(message))
    }

    fn load_error(&self, output: &str) -> Option<String> {
        runtime_error(output)
    }

    fn reword(&self, message: &str) -> String {
        reword_flags(message)
    }

    fn source_maps(&self) -> Arc<SourceMaps> {
        self.source_maps.clone()
    }
}

/// Deno's own `error: …` report in `output`, without the backtrace it may
/// add.
fn runtime_error(output: &str) -> Option<String> {
    let start = output.find("error: ")?;
    if start > 0 && !output[..start].ends_with('\n') {
        return None;
    }
    let text = &output[start + "error: ".len()..];
    let end = text.find("\nStack backtrace:").unwrap_or(text.len());
    Some(text[..end].trim_end().to_owned())
}

/// A closed port on the loopback: requests sent there fail at once and
/// leave the machine never.
const NOWHERE: &str = "http://127.0.0.1:9";

/// The scheme imports outside the project are mapped to.
pub const OUTSIDE_SCHEME: &str = "memcheck-outside";
/// The scheme imports through a link out of the project are mapped to.
pub const LINK_SCHEME: &str = "memcheck-symlink";

/// The command that runs `job`, its harness frames going to `channel`.
fn command(
    host: &DenoHost,
    launch: &Launch,
    job: &Job,
    channel: &Path,
) -> Result<Command, RuntimeError> {
    let mut flags: Vec<&str> = V8_FLAGS.to_vec();
    flags.extend(launch.v8_flags.iter().map(String::as_str));
    let package = Package::of(&job.file, &launch.sandbox.root);
    let import_map = host
        .import_maps
        .for_config(package.deno_json.as_deref())
        .map_err(RuntimeError::ProjectConfig)?;
    let cwd = &package.dir;
    let mut read = flag_path(&launch.sandbox.root, cwd)?;
    // A serving job reads the runner's command from its own FIFO.
    if job.mode == JobMode::Serve {
        read = format!("{read},{}", flag_path(&job.commands(launch), cwd)?);
    }
    let mut cmd = Command::new(&launch.binary);
    cmd.arg("run")
        .args(["--quiet", "--no-prompt", "--no-lock", "--cached-only"])
        .arg(format!("--import-map={}", import_map.display()))
        .arg(merged_grant(&launch.allow, "read", read))
        .arg(merged_grant(
            &launch.allow,
            "write",
            format!(
                "{},{}",
                flag_path(channel, cwd)?,
                flag_path(&heap_path(channel), cwd)?
            ),
        ));
    for escape in &launch.sandbox.escapes {
        cmd.arg(format!("--deny-read={}", flag_path(&escape.link, cwd)?));
    }
    let inspector = launch.inspector || launch.trace;
    let user_sys = launch.allow.iter().any(|a| is_grant_of(a, "sys"));
    if inspector && !user_sys {
        cmd.arg("--allow-sys");
    }
    // The environment holds nothing secret (see `environment`): reading it
    // is every test's right, as on Node.
    if !launch.allow.iter().any(|a| is_grant_of(a, "env")) {
        cmd.arg("--allow-env");
    }
    cmd.args(
        launch
            .allow
            .iter()
            .filter(|a| !is_grant_of(a, "read") && !is_grant_of(a, "write"))
            .map(|a| format!("--allow-{a}")),
    )
    .arg(format!("--v8-flags={}", flags.join(",")))
    .arg("--preload")
    .arg(file_url(&launch.harness.deno_entry))
    .arg(main_module(job))
    .arg(channel)
    .args(job.harness_args(launch, !user_sys));
    if package.may_require(&job.file) {
        cmd.arg("--commonjs");
    }
    launch.env.apply(&mut cmd);
    cmd.current_dir(cwd)
        .env("DENO_DIR", &host.deno_dir)
        .env("NO_COLOR", "1")
        .env("DENO_NO_UPDATE_CHECK", "1")
        .env("DENO_NO_PROMPT", "1")
        .env("HTTPS_PROXY", NOWHERE)
        .env("HTTP_PROXY", NOWHERE)
        .env("https_proxy", NOWHERE)
        .env("http_proxy", NOWHERE);
    Ok(cmd)
}

/// The query that gives each job's main module a URL of its own.
pub const JOB_QUERY: &str = "?memcheck-job=";

/// The test file as the main module (so that the project's `deno.json` and
/// `package.json` apply to it), under a URL of the job's own: Deno keys
/// `localStorage` by the main module's URL.
fn main_module(job: &Job) -> String {
    format!("{}{JOB_QUERY}{}", file_url(&job.file), job.key)
}

/// Where Deno keeps the job's `localStorage` and `caches`.
fn storage_dir(deno_dir: &Path, job: &Job) -> PathBuf {
    let hash: String = Sha256::digest(main_module(job).as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    deno_dir.join("location_data").join(hash)
}

/// memcheck's own import-map entries: `memcheck` names the harness module,
/// and file imports outside the project (or through a link out of it) go
/// to a scheme Deno refuses, which [`explain_denial`] turns into words.
pub fn our_imports(
    harness_module: &Path,
    sandbox: &Sandbox,
    deno_dir: &Path,
) -> serde_json::Map<String, serde_json::Value> {
    let mut imports = serde_json::Map::new();
    imports.insert("memcheck".into(), file_url(harness_module).into());
    if !sandbox.open {
        imports.insert("file:///".into(), format!("{OUTSIDE_SCHEME}:///").into());
        let mut inside: Vec<&Path> = vec![&sandbox.root, deno_dir];
        if let Some(dir) = harness_module.parent() {
            inside.push(dir);
        }
        inside.extend(sandbox.granted.iter().map(PathBuf::as_path));
        for dir in inside {
            let url = format!("{}/", file_url(dir));
            imports.insert(url.clone(), url.into());
        }
        for e in &sandbox.escapes {
            let url = file_url(&e.link);
            let to = format!("{LINK_SCHEME}://{}", url.trim_start_matches("file://"));
            imports.insert(format!("{url}/"), format!("{to}/").into());
            imports.insert(url, to.into());
        }
    }
    imports
}

/// Deno's own cache, where the project's `npm:`, `jsr:` and remote modules
/// were put by `deno install` or `deno cache`: `$DENO_DIR`, else Deno's
/// default for this platform.
pub fn user_deno_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DENO_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from);
    if cfg!(target_os = "macos") {
        return home.join("Library/Caches/deno");
    }
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map_or_else(|| home.join(".cache"), PathBuf::from)
        .join("deno")
}

/// A runtime error that comes from the sandbox, explained with the fix;
/// `None` for any other message.
pub fn explain_denial(message: &str, sandbox: &Sandbox, cwd: &Path) -> Option<String> {
    if let Some(path) = between(message, &format!("\"{OUTSIDE_SCHEME}://"), "\"") {
        let dir = Path::new(path).parent().unwrap_or(Path::new("/"));
        return Some(format!(
            "the import of {path} reaches outside the project ({}), which tests may not read; grant its folder in memcheck.toml: [runtime] allow = [\"read={}\"]",
            sandbox.root.display(),
            dir.display()
        ));
    }
    if let Some(path) = between(message, &format!("\"{LINK_SCHEME}://"), "\"") {
        let e = sandbox
            .escapes
            .iter()
            .find(|e| Path::new(path).starts_with(&e.link))?;
        return Some(link_denial(&format!("the import of {path}"), e));
    }
    if let Some(path) = between(message, "Requires read access to \"", "\"") {
        let full = cwd.join(path);
        if let Some(e) = sandbox.escapes.iter().find(|e| full.starts_with(&e.link)) {
            return Some(link_denial(&format!("reading {path}"), e));
        }
    }
    network_denial(message).or_else(|| denial(message, &sandbox.root, cwd))
}

/// Deno's denials say `run again with the --allow-net flag`, a flag
/// memcheck does not take: name the `memcheck.toml` key that grants it.
fn reword_flags(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("run again with the --allow-") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "run again with the --allow-".len()..];
        let kind: String = after.chars().take_while(char::is_ascii_lowercase).collect();
        let Some(tail) = after[kind.len()..].strip_prefix(" flag") else {
            out.push_str("run again with the --allow-");
            rest = after;
            continue;
        };
        out.push_str(&format!(
            "grant it in memcheck.toml: [runtime] allow = [\"{kind}\"] (or \"{kind}=…\" for less)"
        ));
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// A denial of `kind` access to `resource`, explained with the grant. A
/// relative path (Deno names it as the code gave it, from `cwd`) is named
/// from `root`, as memcheck.toml's paths are read.
fn denial(message: &str, root: &Path, cwd: &Path) -> Option<String> {
    let from = message.find("Requires ")? + "Requires ".len();
    let kind: String = message[from..]
        .chars()
        .take_while(char::is_ascii_lowercase)
        .collect();
    let what = match kind.as_str() {
        "read" => "reading outside the project",
        "write" => "writing files",
        "net" => "the network",
        "env" => "this environment variable",
        "sys" => "system information",
        "run" => "starting a child process",
        "ffi" => "loading a native library",
        "import" => "importing from the network",
        _ => return None,
    };
    let resource = between(&message[from..], "access to \"", "\"");
    let grant = match resource {
        Some(r) if kind == "read" || kind == "write" => {
            format!("\"{kind}={}\"", from_root(r, root, cwd))
        }
        Some(r) if kind != "env" => format!("\"{kind}={r}\""),
        _ => format!("\"{kind}\""),
    };
    let hint = if kind == "env" {
        ": memcheck gives tests a clean environment; pass a variable of yours with [runtime] pass_env = [\"NAME\"], or set one with [runtime] env = { NAME = \"value\" }"
    } else {
        ""
    };
    Some(format!(
        "{what} is not granted to tests{hint}; grant it in memcheck.toml: [runtime] allow = [{grant}]"
    ))
}

fn link_denial(what: &str, e: &super::sandbox::Escape) -> String {
    format!(
        "{what} goes through the link {} → {}, which leads outside the project; grant the target in memcheck.toml: [runtime] allow = [\"read={}\"]",
        e.link.display(),
        e.target.display(),
        e.target.display()
    )
}

fn network_denial(message: &str) -> Option<String> {
    let fix = "tests get no network, so nothing is downloaded while they run";
    if let Some(url) = between(message, "Specifier not found in cache: \"", "\"") {
        return Some(format!(
            "the import of {url} needs the network: {fix}; copy the module into the project, or install the package with npm and import it by name"
        ));
    }
    if let Some(name) = between(message, "for package \"", "\"")
        && message.contains("Failed loading")
    {
        return Some(format!(
            "the import of npm:{name} needs the network: {fix}; install it into the project (npm install {name}) and import it from there"
        ));
    }
    None
}

/// The text between `start` and the next `end` in `s`.
fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = s.find(start)? + start.len();
    let len = s[from..].find(end)?;
    Some(&s[from..from + len])
}

/// `path` (relative to `cwd`, or absolute) as a `read=`/`write=` path:
/// relative to `root` when inside it, absolute otherwise.
fn from_root(path: &str, root: &Path, cwd: &Path) -> String {
    let full = cwd.join(path);
    match full.strip_prefix(root) {
        Ok(rest) if !path.starts_with('/') && !rest.as_os_str().is_empty() => {
            rest.display().to_string()
        }
        _ => full.display().to_string(),
    }
}

/// The one `--allow-NAME` flag for what the harness needs (`own`: the
/// project to read, the channel to write) and what `allow` grants: Deno
/// keeps the paths of every `--allow-write=…` given and drops a bare
/// `--allow-write` beside them, so a grant of everything is the bare flag
/// alone, and paths are one list.
fn merged_grant(allow: &[String], name: &str, own: String) -> String {
    if allow.iter().any(|a| a == name) {
        return format!("--allow-{name}");
    }
    let mut paths = own;
    for entry in allow.iter().filter(|a| is_grant_of(a, name)) {
        paths.push(',');
        paths.push_str(&entry[name.len() + 1..]);
    }
    format!("--allow-{name}={paths}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::sandbox::Escape;

    fn sandbox() -> Sandbox {
        Sandbox {
            root: PathBuf::from("/p"),
            granted: vec![PathBuf::from("/shared")],
            open: false,
            escapes: vec![Escape {
                link: PathBuf::from("/p/link"),
                target: PathBuf::from("/etc"),
            }],
        }
    }

    #[test]
    fn the_runtimes_load_error_is_read_from_its_output() {
        let out = "warning: x\nerror: SyntaxError: Expression expected\n  at a.js:4:13\n\nStack backtrace:\n 0: <unknown>\n";
        assert_eq!(
            runtime_error(out).as_deref(),
            Some("SyntaxError: Expression expected\n  at a.js:4:13")
        );
        assert_eq!(runtime_error("a test printed error: no\n"), None);
    }

    #[test]
    fn a_grant_of_reads_or_writes_is_one_flag_with_the_harnesss_own() {
        let allow = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let chan = || "/run/c".to_owned();
        assert_eq!(
            merged_grant(&allow(&[]), "write", chan()),
            "--allow-write=/run/c"
        );
        assert_eq!(
            merged_grant(&allow(&["write", "net"]), "write", chan()),
            "--allow-write"
        );
        assert_eq!(
            merged_grant(
                &allow(&["write=out", "write=/tmp/a,/tmp/b"]),
                "write",
                chan()
            ),
            "--allow-write=/run/c,out,/tmp/a,/tmp/b"
        );
        assert_eq!(
            merged_grant(&allow(&["writer", "read"]), "write", chan()),
            "--allow-write=/run/c"
        );
    }

    #[test]
    fn the_map_confines_file_imports() {
        let imports = our_imports(
            Path::new("/cache/h/memcheck.js"),
            &sandbox(),
            Path::new("/cache/d"),
        );
        assert_eq!(imports["memcheck"], "file:///cache/h/memcheck.js");
        assert_eq!(imports["file:///"], "memcheck-outside:///");
        assert_eq!(imports["file:///p/"], "file:///p/");
        assert_eq!(imports["file:///shared/"], "file:///shared/");
        assert_eq!(imports["file:///cache/h/"], "file:///cache/h/");
        assert_eq!(imports["file:///p/link/"], "memcheck-symlink:///p/link/");
    }

    #[test]
    fn denials_name_the_key_not_a_flag() {
        let m = "NotCapable: Requires net access to \"example.com:443\", run again with the --allow-net flag";
        assert_eq!(
            reword_flags(m),
            "NotCapable: Requires net access to \"example.com:443\", grant it in memcheck.toml: [runtime] allow = [\"net\"] (or \"net=…\" for less)"
        );
        assert_eq!(
            denial(m, Path::new("/p"), Path::new("/p")).unwrap(),
            "the network is not granted to tests; grant it in memcheck.toml: [runtime] allow = [\"net=example.com:443\"]"
        );
        let env = denial(
            "NotCapable: Requires env access to \"SECRET\", run again with the --allow-env flag",
            Path::new("/p"),
            Path::new("/p"),
        )
        .unwrap();
        assert!(env.contains("pass_env = [\"NAME\"]"), "{env}");
        assert!(
            !reword_flags("Requires run access to \"ls\", run again with the --allow-run flag")
                .contains("--allow")
        );
        assert_eq!(reword_flags("nothing to do"), "nothing to do");
        assert_eq!(
            denial("TypeError: boom", Path::new("/p"), Path::new("/p")),
            None
        );
    }

    #[test]
    fn a_denied_path_is_granted_from_the_project_root() {
        let write = |path: &str| {
            let m = format!("NotCapable: Requires write access to \"{path}\", run again");
            denial(&m, Path::new("/p"), Path::new("/p/pkg")).unwrap()
        };
        assert!(write("out.txt").ends_with("allow = [\"write=pkg/out.txt\"]"));
        assert!(write("/tmp/x").ends_with("allow = [\"write=/tmp/x\"]"));
        assert!(write("../../elsewhere").ends_with("allow = [\"write=pkg/../../elsewhere\"]"));
    }

    #[test]
    fn denials_are_explained() {
        let s = sandbox();
        let m = explain_denial(
            "TypeError: Unsupported scheme \"memcheck-outside\" for module \"memcheck-outside:///etc/x.js\". Supported schemes: …",
            &s,
            Path::new("/p"),
        )
        .unwrap();
        assert!(
            m.contains("the import of /etc/x.js reaches outside the project (/p)"),
            "{m}"
        );
        assert!(m.contains("allow = [\"read=/etc\"]"), "{m}");
        let m = explain_denial(
            "NotCapable: Requires read access to \"link/passwd\", run again",
            &s,
            Path::new("/p"),
        )
        .unwrap();
        assert!(
            m.contains("reading link/passwd goes through the link /p/link → /etc"),
            "{m}"
        );
        let m = explain_denial(
            "Specifier not found in cache: \"https://example.com/x.js\", --cached-only is specified.",
            &s,
            Path::new("/p"),
        )
        .unwrap();
        assert!(
            m.starts_with("the import of https://example.com/x.js needs the network"),
            "{m}"
        );
        assert_eq!(explain_denial("TypeError: boom", &s, Path::new("/p")), None);
    }
}
