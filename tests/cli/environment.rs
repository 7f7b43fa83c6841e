//! What a test sees of the runner's environment: a clean list, never the
//! runner's secrets, on every engine; packages that read it load.

use crate::projects::npm_ci;
use crate::util::*;

#[test]
fn a_test_sees_no_secret_only_what_it_is_given() {
    let dir = project("environment", "scrubbed");
    let out = memcheck_with(
        &dir,
        &["--update", "--json", "r.json"],
        &[
            ("MEMCHECK_FIXTURE_SECRET", "hunter2"),
            ("MEMCHECK_FIXTURE_PASSED", "passed"),
            ("MEMCHECK_PREFIX_ONE", "one"),
            ("GITHUB_TOKEN", "ghp_not_for_tests"),
        ],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let report = read_json(&dir.join("r.json"));
    let tests = report["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 2, "one per engine");
    for test in tests {
        let output = test["output"].as_str().unwrap();
        let names = output
            .lines()
            .find_map(|l| l.strip_prefix("names: "))
            .unwrap_or_else(|| panic!("no names in {output:?}"));
        let names: Vec<&str> = names.split(',').collect();
        for absent in [
            "MEMCHECK_FIXTURE_SECRET",
            "GITHUB_TOKEN",
            "CARGO",
            "RUST_BACKTRACE",
        ] {
            assert!(
                !names.contains(&absent),
                "{absent} in {names:?} on {}",
                test["engine"]
            );
        }
        for present in [
            "NODE_ENV",
            "MEMCHECK_FIXTURE_PASSED",
            "MEMCHECK_PREFIX_ONE",
            "FROM_CONFIG",
        ] {
            assert!(
                names.contains(&present),
                "{present} not in {names:?} on {}",
                test["engine"]
            );
        }
        assert!(
            !output.contains("hunter2") && !output.contains("ghp_"),
            "{output}"
        );
    }
}

#[test]
fn a_package_that_reads_the_environment_loads_with_an_empty_config() {
    let dir = project("env-package", "debug");
    npm_ci(&dir);
    for engine in ["deno", "node"] {
        let out = memcheck_with(
            &dir,
            &["--update", "--engine", engine, "--json", "r.json"],
            &[("DEBUG", "app:*")],
        );
        let t = text(&out);
        assert_eq!(out.status.code(), Some(0), "{engine}: {t}");
        let report = read_json(&dir.join("r.json"));
        let test = find(&report, "a logger that reads the environment on import");
        assert_eq!(test["status"], "passed", "{engine}: {t}");
        assert!(!t.contains("--allow-env"), "{engine}: {t}");
    }
}
