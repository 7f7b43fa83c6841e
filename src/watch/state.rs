//! What the live page shows, shared by the watch loop (which publishes each
//! run and each change of status) and the server (which serves the latest
//! and streams what follows): the run model as `--json` writes it, the
//! page's model, and the status bar's facts.

use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::report::RunReport;
use crate::report::html::{self, Page};
use crate::run::Proposal;

use super::sse::{self, Hub};

/// The status bar: the run in progress or the last one.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// The number of the last run that finished (0: none yet).
    pub run: u64,
    pub running: bool,
    /// The files that started the run in progress (project-relative).
    pub triggers: Vec<String>,
    /// The files that started the last finished run (empty: the first).
    pub last_triggers: Vec<String>,
    /// How long the last finished run took.
    pub last_ms: Option<u64>,
    /// Why the last run could not be made (the configuration does not
    /// load, the project cannot be searched), in words.
    pub error: Option<String>,
}

/// The state served, and the streams that follow it.
pub struct Live {
    /// The session's secret: a write must carry it.
    pub token: String,
    shown: Mutex<Shown>,
    hub: Hub,
    /// What the tests propose for their baselines, until accepted or
    /// rejected.
    offers: Mutex<Vec<Proposal>>,
}

#[derive(Default)]
struct Shown {
    report: String,
    page: Arc<Page>,
    page_json: String,
    status: Status,
}

impl Live {
    pub fn new(token: String) -> Live {
        let page = Page::default();
        let shown = Shown {
            report: "null\n".into(),
            page_json: serde_json::to_string(&page).expect("the page model serializes"),
            page: Arc::new(page),
            status: Status::default(),
        };
        Live {
            token,
            shown: Mutex::new(shown),
            hub: Hub::default(),
            offers: Mutex::new(Vec::new()),
        }
    }

    fn shown(&self) -> std::sync::MutexGuard<'_, Shown> {
        self.shown.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn offers(&self) -> std::sync::MutexGuard<'_, Vec<Proposal>> {
        self.offers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A run of `files` (project-relative): its proposals replace theirs.
    pub fn offer(&self, files: &[String], proposals: Vec<Proposal>) {
        let mut offers = self.offers();
        offers.retain(|p| !files.contains(&p.file));
        offers.extend(proposals);
    }

    /// The proposal for a test named `file::test` or `engine:file::test`,
    /// taken out of the offers.
    pub fn take_offer(&self, name: &str) -> Option<Proposal> {
        let mut offers = self.offers();
        let at = offers
            .iter()
            .position(|p| p.name == name || format!("{}:{}", p.engine, p.name) == name)?;
        Some(offers.remove(at))
    }

    /// Put back a proposal that could not be written.
    pub fn put_back(&self, proposal: Proposal) {
        self.offers().push(proposal);
    }

    /// The tests offered, as (engine, `file::test`).
    pub fn offered(&self) -> Vec<(String, String)> {
        let offers = self.offers();
        offers
            .iter()
            .map(|p| (p.engine.to_owned(), p.name.clone()))
            .collect()
    }

    /// Change the status and tell every page.
    pub fn status(&self, change: impl FnOnce(&mut Status)) {
        let mut shown = self.shown();
        change(&mut shown.status);
        let json = serde_json::to_string(&shown.status).expect("the status serializes");
        self.hub.broadcast(&sse::frame("status", &json));
    }

    /// A new run: keep it and send its page to every page.
    pub fn publish(&self, report: &RunReport, page: Page) {
        let mut shown = self.shown();
        shown.report =
            serde_json::to_string_pretty(report).expect("the run model serializes") + "\n";
        shown.page_json = serde_json::to_string(&page).expect("the page model serializes");
        shown.page = Arc::new(page);
        self.hub.broadcast(&sse::frame("page", &shown.page_json));
    }

    /// The latest run, in the `--json` shape.
    pub fn report_json(&self) -> String {
        self.shown().report.clone()
    }

    /// The page as a document, with the latest run in it.
    pub fn page_html(&self) -> String {
        let page = self.shown().page.clone();
        let live = html::Live {
            token: self.token.clone(),
        };
        html::render_with(&page, Some(&live))
    }

    /// A new stream: the status and the latest page first.
    pub fn follow(&self, stream: Box<dyn std::io::Write + Send>) {
        let shown = self.shown();
        let status = serde_json::to_string(&shown.status).expect("the status serializes");
        let first = [
            sse::frame("status", &status),
            sse::frame("page", &shown.page_json),
        ];
        self.hub.join(stream, &first);
    }
}
