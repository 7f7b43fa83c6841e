//! Processes started ahead: while a test runs, the next test that has no
//! listing process waiting gets one of its own, started, loaded and warmed
//! up in advance (its timings have no start or load). It gives the figures
//! a process started for the test gives; one that ends before its test
//! starts gives the test back to a process of its own; none outlives the
//! run.

use std::path::Path;

use serde_json::Value;

use crate::util::*;

/// A project of one file whose tests each keep 100 `Item`s, with `top`
/// before them at the file's top level.
fn project_with(tag: &str, engine: &str, top: &str, tests: usize) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("spares-{tag}-{engine}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("memcheck.toml"),
        format!(
            "[runtime]\nengine = \"{engine}\"\nallow = [{:?}]\n",
            format!("write={}", dir.join("loads.txt").display())
        ),
    )
    .unwrap();
    let mut file = format!(
        "import {{ test }} from \"memcheck\";\n{top}\nclass Item {{ constructor(i) {{ this.i = i; }} }}\nconst kept = [];\n"
    );
    for t in 1..=tests {
        file.push_str(&format!(
            "test(\"keeps 100 items {t}\", async (t) => {{\n  await t.measure(\"keep\", () => {{ for (let i = 0; i < 100; i++) kept.push(new Item(i)); }});\n}});\n"
        ));
    }
    std::fs::write(dir.join("items.memtest.js"), file).unwrap();
    dir
}

/// Start and load time of a test, in ms.
fn started(report: &Value, test: &str) -> f64 {
    let timings = &find(report, test)["timings"];
    timings["start"].as_f64().unwrap() + timings["load"].as_f64().unwrap()
}

fn items(report: &Value, test: &str) -> u64 {
    let rows = news(block(find(report, test), "keep"));
    rows.iter().find(|(n, _)| n == "Item").map_or(0, |r| r.1)
}

#[test]
fn a_spare_process_runs_the_next_test_and_none_outlives_the_run() {
    for engine in ["deno", "node"] {
        let dir = project_with("next", engine, "", 3);
        let args = ["--test-threads", "1", "--update", "--json", "r.json"];
        let out = memcheck(&dir, &args);
        assert_eq!(out.status.code(), Some(0), "{engine}: {}", text(&out));
        let report = read_json(&dir.join("r.json"));
        for t in 1..=3 {
            let test = format!("keeps 100 items {t}");
            // The first in the listing process, the others in spares.
            assert_eq!(started(&report, &test), 0.0, "{engine}: {test}");
            assert_eq!(items(&report, &test), 100, "{engine}: {test}");
        }
        let left = processes_in(&dir);
        assert!(left.is_empty(), "{engine}: still running: {left:?}");
    }
}

/// The file ends its second process at once (it counts its loads in a
/// file): that is the spare started for the second test, which then runs
/// in a process of its own and passes.
#[test]
fn a_spare_that_ends_gives_its_test_back() {
    let top = r#"import { readFileSync, writeFileSync } from "node:fs";
import process from "node:process";
const counter = new URL("./loads.txt", import.meta.url);
let loads = 0;
try { loads = Number(readFileSync(counter, "utf8")); } catch {}
writeFileSync(counter, String(loads + 1));
if (loads + 1 === 2) process.exit(7);"#;
    for engine in ["deno", "node"] {
        let dir = project_with("ends", engine, top, 2);
        let args = ["--test-threads", "1", "--update", "--json", "r.json"];
        let out = memcheck(&dir, &args);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(0), "{engine}: {t}");
        let loads = std::fs::read_to_string(dir.join("loads.txt")).unwrap();
        assert_eq!(loads, "3", "{engine}: listing, spare, own process");
        let report = read_json(&dir.join("r.json"));
        assert_eq!(started(&report, "keeps 100 items 1"), 0.0, "{engine}");
        assert!(started(&report, "keeps 100 items 2") > 0.0, "{engine}");
        assert_eq!(items(&report, "keeps 100 items 2"), 100, "{engine}");
        let left = processes_in(&dir);
        assert!(left.is_empty(), "{engine}: still running: {left:?}");
    }
}
