//! The verdict belongs to the runner: what tests print, forge, forget or
//! feed in fails only their own test, the sandbox holds, Ctrl-C leaves
//! nothing behind, and every command memcheck suggests works when pasted.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::*;

/// Run the fixture once with `--update` (recording what passes), then
/// again as CI would; the second run's text and report.
fn update_then_run(dir: &Path, args: &[&str]) -> (Option<i32>, String, Value) {
    update_then_run_with(dir, args, &[])
}

fn update_then_run_with(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &Path)],
) -> (Option<i32>, String, Value) {
    let mut update = vec!["--update"];
    update.extend_from_slice(args);
    memcheck_with(dir, &update, env);
    let mut run = args.to_vec();
    run.extend_from_slice(&["--json", "r.json"]);
    let out = memcheck_with(dir, &run, env);
    (
        out.status.code(),
        text(&out),
        read_json(&dir.join("r.json")),
    )
}

fn status<'a>(report: &'a Value, name: &str) -> &'a str {
    find(report, name)["status"].as_str().unwrap()
}

#[test]
fn output_never_reaches_the_channel() {
    let dir = project("hostile", "chatty");
    let (code, t, report) = update_then_run(&dir, &["chatty.memtest.js::"]);
    assert_eq!(code, Some(101), "{t}");
    // A worker logging and a library writing fake frames: exact counts.
    for name in [
        "a worker logs during the block",
        "a library writes progress and fake frames to stdout",
        "replaces the harness's heap file by name",
    ] {
        let test = find(&report, name);
        assert_eq!(test["status"], "passed", "{name}: {t}");
        assert_eq!(
            block(test, "widgets")["constructors"],
            serde_json::json!([{ "name": "Widget", "new": 100, "deleted": 0, "delta": 100, "alloc_size": 3200, "freed_size": 0, "size_delta": 3200 }]),
            "{name}"
        );
    }
    // A forged pass frame on stdout, then an exit: a failure.
    assert_eq!(
        status(&report, "a forged pass frame and an early exit"),
        "failed"
    );
    assert!(
        t.contains("the runtime ended with exit code 0 before the test finished"),
        "{t}"
    );
    // Replaced JSON.stringify, TextEncoder, Promise, Map: the budget holds.
    assert_eq!(status(&report, "replaced builtins"), "failed");
    assert!(t.contains("budget: Widget new 10 > 0"), "{t}");
    // A test that writes to the channel on purpose fails alone, its frame
    // refused before anything is allocated.
    assert_eq!(
        status(&report, "writes to the harness's channel on purpose"),
        "failed"
    );
    assert!(
        t.contains("memcheck could not trust this test's result: the harness's channel broke: a chunk frame of 4294967295 bytes, over the limit of 4194304"),
        "{t}"
    );
    assert_eq!(t.matches("could not trust").count(), 1, "{t}");
}

#[test]
fn mistakes_fail_their_own_test_naming_the_line() {
    let dir = project("hostile", "mistakes");
    let (code, t, report) = update_then_run(&dir, &["mistakes.memtest.js::"]);
    assert_eq!(code, Some(101), "{t}");
    for expected in [
        "block \"insert\" was started but the test returned before it finished — is `await t.measure(...)` missing? (mistakes.memtest.js:7)",
        "test(\"nested\") was called while test \"declares a test inside a test\" runs (mistakes.memtest.js:14); declare tests at the top level of the file",
        "t.measure(\"late\") was called after test \"calls t.measure after it ended\" had ended (mistakes.memtest.js:18); await it inside the test body",
        "an unhandled promise rejection: Error: nobody catches this\n    at Object.fn (mistakes.memtest.js:22:18)",
        "mistakes.memtest.js:25: unknown option \"budjet\"; a test takes { budget, timeout, ignore, allocated }",
        "t.measure(\"runs\") at mistakes.memtest.js:28: unknown option \"repeats\"; a block takes { budget, repeat, warmup }",
        "t.measure(\"second\") was called inside block \"first\" (mistakes.memtest.js:32); blocks cannot nest",
    ] {
        assert!(t.contains(expected), "missing {expected:?} in:\n{t}");
    }
    assert_eq!(
        status(&report, "still passes beside the mistakes"),
        "passed"
    );
    // The forgotten block is not a block "in the baseline but not run".
    assert!(!t.contains("did not run; remove it"), "{t}");
    assert!(!t.contains("ext:"), "runtime-internal frames shown:\n{t}");
}

#[test]
fn bad_inputs_fail_alone_with_key_and_line() {
    let dir = project("hostile", "inputs");
    let (code, t, report) = update_then_run(&dir, &["inputs.memtest.js::", "--snapshots", "snaps"]);
    assert_eq!(code, Some(101), "{t}");
    for expected in [
        "inputs.memtest.js:4: budget.retained is NaN: write a finite number",
        "inputs.memtest.js:5: budget.objects is Infinity",
        "inputs.memtest.js:6: budget.retained is Infinity",
        "inputs.memtest.js:7: budget.constructors.W is NaN",
        "inputs.memtest.js:8: budget.objects is the BigInt 5n",
        "inputs.memtest.js:9: invalid timeout the BigInt 10n",
        "inputs.memtest.js:10: invalid timeout -5",
        "inputs.memtest.js:11: invalid timeout 0",
        "TypeError: t.measure(\"block\") at inputs.memtest.js:13: budget.retained is NaN",
        "the test threw: Error: bad \\u{d800} text",
    ] {
        assert!(t.contains(expected), "missing {expected:?} in:\n{t}");
    }
    // Names of any kind run, escaped where they must be; a long one is
    // kept whole in the report and in the baseline, cut on the terminal.
    for name in [
        "lone \\u{d800} surrogate",
        "nul \0 in a name",
        "colour \x1b[31mred\x1b[0m",
        &"x".repeat(10_000),
        "passes beside the bad inputs",
    ] {
        assert_eq!(status(&report, name), "passed", "{name:?}: {t}");
    }
    assert!(
        t.contains("inputs.memtest.js::colour \\u{1b}[31mred\\u{1b}[0m"),
        "{t}"
    );
    assert!(
        !t.contains('\x1b'),
        "an escape sequence reached the terminal"
    );
    let lone = block(
        find(&report, "lone \\u{d800} surrogate"),
        "block \\u{dc00} name",
    );
    assert_eq!(lone["retained_objects"], 0);
    // 100 MB of output: head and tail kept, the rest counted.
    assert!(t.contains("FIRST LINE\n"), "{}", &t[..2000.min(t.len())]);
    assert!(t.contains(" bytes of output left out …]\n"));
    assert!(t.contains("LAST LINE"));
    assert!(t.len() < 1 << 20, "the failure text is {} bytes", t.len());
}

#[test]
fn files_without_tests_and_unsettled_awaits_are_reported() {
    let dir = project("hostile", "files");
    let mut t = String::new();
    for file in ["empty.memtest.js", "tla.memtest.js"] {
        let out = memcheck(&dir, &[file]);
        assert_eq!(out.status.code(), Some(101), "{}", text(&out));
        t.push_str(&text(&out));
    }
    assert!(
        t.contains("empty.memtest.js declares no tests: add test(...) calls to it, or leave it out with `exclude` in memcheck.toml"),
        "{t}"
    );
    assert!(
        t.contains("tla.memtest.js did not finish loading: a top-level `await` in it (or in a module it imports) never settled"),
        "{t}"
    );
    assert!(!t.contains("harness"), "{t}");
}

#[test]
fn storage_starts_empty_and_nothing_is_left_behind() {
    let dir = project("hostile", "storage");
    // Deno keeps storage in its own cache: a private one shows what is left.
    let deno_dir = dir.join("private-deno-dir");
    let run = |args: &[&str]| memcheck_with(&dir, args, &[("DENO_DIR", deno_dir.as_path())]);
    run(&["--update", "storage.memtest.js::"]);
    for _ in 0..2 {
        let out = run(&["storage.memtest.js::"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    let storage = deno_dir.join("location_data");
    assert!(storage.is_dir(), "the tests used no storage in {storage:?}");
    let left: Vec<_> = std::fs::read_dir(&storage)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "storage left behind: {left:?}");
}

#[test]
fn the_sandbox_denies_links_out_and_the_network() {
    let dir = project("hostile", "sandbox");
    let outside = dir.with_file_name("hostile-outside");
    let _ = std::fs::remove_dir_all(&outside);
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "secret").unwrap();
    std::fs::write(outside.join("secret.js"), "export const secret = 42;\n").unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("outside")).unwrap();
    std::os::unix::fs::symlink("lib", dir.join("inside")).unwrap();
    // A private Deno cache shows whether anything was downloaded.
    let deno_dir = dir.join("private-deno-dir");
    let env = [("DENO_DIR", deno_dir.as_path())];
    let (code, t, report) = update_then_run_with(&dir, &["sandbox.memtest.js::"], &env);
    assert_eq!(code, Some(101), "{t}");
    let target = std::fs::canonicalize(&outside).unwrap();
    let grant = format!("[runtime] allow = [\"read={}\"]", target.display());
    for expected in [
        "reading outside/secret.txt goes through the link ",
        "the import of ",
        "which leads outside the project; grant the target in memcheck.toml: ",
        &grant,
        "reaches outside the project",
        "the import of npm:left-pad needs the network: tests get no network",
        "the import of https://example.com/mod.js needs the network",
    ] {
        assert!(t.contains(expected), "missing {expected:?} in:\n{t}");
    }
    assert_eq!(
        status(&report, "reads through a link that stays inside"),
        "passed"
    );
    // The test could not open its own inspector session to stop the
    // profiler: the allocation budget still judges it.
    assert!(t.contains("inspector: NotCapable"), "{t}");
    assert!(t.contains("budget: allocated "), "{t}");
    // Nothing was downloaded into Deno's cache.
    let npm = deno_dir.join("npm");
    assert!(
        !contains_dir(&npm, "left-pad"),
        "left-pad was downloaded into {npm:?}"
    );

    // Granting the target opens the link.
    std::fs::write(
        dir.join("memcheck.toml"),
        format!(
            "[runtime]\ntimeout = 20000\nallow = [\"read={}\"]\n",
            target.display()
        ),
    )
    .unwrap();
    let out = memcheck_with(&dir, &["--update", "through a link out"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

fn contains_dir(root: &Path, name: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(root) else {
        return false;
    };
    entries
        .flatten()
        .any(|e| e.file_name() == name || (e.path().is_dir() && contains_dir(&e.path(), name)))
}

#[test]
fn a_project_path_with_a_comma_works() {
    let dir = project("pass", "with,comma");
    let out = memcheck(&dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// The processes whose command line names `dir`.
fn processes_under(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&needle) && !cmdline.starts_with(BIN) {
            found.push(cmdline);
        }
    }
    found
}

#[test]
fn ctrl_c_stops_every_test_and_writes_no_baseline() {
    interrupt_with(libc::SIGINT, "SIGINT", 130, false);
}

#[test]
fn sigterm_stops_every_test_and_writes_no_baseline() {
    // Under GitHub too, where the runner must read commands again after.
    interrupt_with(libc::SIGTERM, "SIGTERM", 143, true);
}

fn interrupt_with(signal: i32, name: &str, code: i32, github: bool) {
    let dir = project("interrupt", name);
    provision();
    let baseline = dir.join("__memcheck__/slow.memtest.js.toml");
    let before = std::fs::read_to_string(&baseline).unwrap();
    let mut child = Command::new(BIN)
        .args(["--update", "--test-threads", "2"])
        .args(github.then_some("--github"))
        .current_dir(&dir)
        .env_remove("CI")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the quick test to finish and both hanging tests to run.
    let stdout = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut pipe = child.stdout.take().unwrap();
    let sink = stdout.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let started = Instant::now();
    while !stdout.lock().unwrap().contains("a quick one ... ok") || processes_under(&dir).len() < 2
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the tests never started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, signal) };
    let signalled = Instant::now();
    let status = child.wait().unwrap();
    let stopped_in = signalled.elapsed();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(code), "{err}");
    assert!(stopped_in < Duration::from_secs(2), "took {stopped_in:?}");
    assert!(
        err.contains(&format!("memcheck: interrupted by {name}; stopped:\n    slow.memtest.js::hangs one\n    slow.memtest.js::hangs two")),
        "{err}"
    );
    assert!(err.contains("no baseline was written"), "{err}");
    // The runner exits only once its tests' processes are gone.
    assert_eq!(
        processes_under(&dir),
        Vec::<String>::new(),
        "processes outlived the run"
    );
    assert_eq!(std::fs::read_to_string(&baseline).unwrap(), before);
    reader.join().unwrap();
    let out = stdout.lock().unwrap();
    if github {
        let token = out
            .lines()
            .find_map(|l| l.strip_prefix("::stop-commands::"))
            .unwrap_or_else(|| panic!("commands were never stopped:\n{out}"));
        assert!(
            out.trim_end().ends_with(&format!("\n::{token}::")),
            "commands were not resumed:\n{out}"
        );
    }
}

/// Every `cargo memcheck …` command in `text`, split into arguments as a
/// POSIX shell would (memcheck quotes with single quotes only).
fn suggested_commands(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(start) = line.find("cargo memcheck ") else {
            continue;
        };
        let mut args = Vec::new();
        let mut word = String::new();
        let mut quoted = false;
        let mut chars = line[start + "cargo memcheck ".len()..].chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\'' => quoted = !quoted,
                '\\' if !quoted && chars.peek() == Some(&'\'') => word.push(chars.next().unwrap()),
                ' ' | ')' | ',' | '`' if !quoted => {
                    if !word.is_empty() {
                        args.push(std::mem::take(&mut word));
                    }
                    if c != ' ' {
                        break;
                    }
                }
                _ => word.push(c),
            }
        }
        if !word.is_empty() {
            args.push(word);
        }
        out.push(args);
    }
    out
}

#[test]
fn suggested_commands_split_like_a_shell() {
    let cmds = suggested_commands(
        "record it: cargo memcheck --update --exact 'a.js::it'\\''s here'\n(cargo memcheck --update --include-ignored w.js::) or fix it",
    );
    assert_eq!(
        cmds,
        [
            vec!["--update", "--exact", "a.js::it's here"],
            vec!["--update", "--include-ignored", "w.js::"]
        ]
    );
}

#[test]
fn every_suggested_command_works_when_pasted() {
    // Each scenario: a fixture, how to break it, and the run that suggests.
    type Scenario = (&'static str, &'static str, fn(&Path));
    let scenarios: Vec<Scenario> = vec![
        ("fresh", "no-baseline", |_| {}),
        ("leak", "grown", |_| {}),
        ("pass", "runtime", |dir| {
            let path = dir.join("__memcheck__/widgets.memtest.js.toml");
            let old = std::fs::read_to_string(&path).unwrap();
            std::fs::write(&path, old.replace("deno 2.9.6", "deno 2.1.0")).unwrap();
        }),
        ("pass", "unreferenced", |dir| {
            let widgets = dir.join("__memcheck__/widgets.memtest.js.toml");
            let orphan = dir.join("__memcheck__/deleted.memtest.js.toml");
            std::fs::copy(widgets, orphan).unwrap();
        }),
        ("pass", "improved", |dir| {
            let path = dir.join("__memcheck__/shapes.memtest.ts.toml");
            let old = std::fs::read_to_string(&path).unwrap();
            std::fs::write(
                &path,
                old.replace("new = 200,", "new = 210,")
                    .replace("retained_objects = 200", "retained_objects = 210"),
            )
            .unwrap();
        }),
    ];
    let mut tried = 0;
    for (fixture, tag, breaks) in scenarios {
        let dir = project(fixture, &format!("suggest-{tag}"));
        breaks(&dir);
        let first = text(&memcheck(&dir, &[]));
        let commands = suggested_commands(&first);
        assert!(
            !commands.is_empty(),
            "{fixture}/{tag} suggested nothing:\n{first}"
        );
        for args in commands {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = memcheck(&dir, &args);
            let t = text(&out);
            assert_ne!(
                out.status.code(),
                Some(2),
                "{args:?} is not a valid command:\n{t}"
            );
            assert!(!t.contains("not updating"), "{args:?} was refused:\n{t}");
            assert!(
                !t.contains("0 passed; 0 failed"),
                "{args:?} selected no test:\n{t}"
            );
            tried += 1;
        }
        // After following the advice, the run the advice was about passes
        // (the leak fixture also holds a test over its budget, which no
        // update can accept).
        let again = memcheck(&dir, &[]);
        let t = text(&again);
        if fixture == "leak" {
            assert!(t.contains("1 passed; 1 failed"), "{t}");
        } else {
            assert_eq!(again.status.code(), Some(0), "{fixture}/{tag}:\n{t}");
        }
    }
    assert!(tried >= 4, "only {tried} suggestions were tried");
}

/// A snapshot the harness cannot write whole (here a file size limit;
/// a full disk alike) fails its own test, naming the file and the fix; the
/// next test of the same process writes over the part written, so its
/// snapshots are read from where they start.
#[test]
fn a_snapshot_that_cannot_be_written_fails_its_own_test_alone() {
    provision();
    let dir = project("heap-room", "limit");
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#"ulimit -f 40000 && exec "$0" memcheck --update --json r.json"#)
        .arg(BIN)
        .current_dir(&dir)
        .env_remove("CI")
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    assert!(
        t.contains("memcheck could not write a heap snapshot to ")
            && t.contains("EFBIG")
            && t.contains("set TMPDIR to a folder with room"),
        "{t}"
    );
    let report = read_json(&dir.join("r.json"));
    assert_eq!(
        status(&report, "a heap too large for the file size limit"),
        "failed"
    );
    let small = find(&report, "a small test after it");
    assert_eq!(small["status"], "passed", "{t}");
    let new: Vec<_> = news(block(small, "small"))
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(new, [("Small".to_owned(), 10)], "{t}");
}
