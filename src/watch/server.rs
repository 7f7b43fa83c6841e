//! The live page's server, on `127.0.0.1` only (`tiny_http`): `/` the
//! page, `/report.json` the latest run, `/events` the stream of runs
//! (Server-Sent Events), `POST /accept` and `POST /reject` to settle a
//! test's pending baseline. Nothing else is served: there is no file to
//! reach by a path. Every request must name this server in its `Host`
//! (`127.0.0.1:PORT` or `localhost:PORT`), so a page on another site that
//! rebinds its name to the loopback is refused; a write must carry the
//! session's token, which only the page this server sent holds, and an
//! `Origin`, when given, must be this server's.

use std::io::Read as _;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use tiny_http::{Header, Method, Request, Response, Server};

use crate::review::{self, Selection};

use super::state::Live;

/// The header that carries the session's token.
pub const TOKEN_HEADER: &str = "X-Memcheck-Token";

/// The largest body a write may have.
const MAX_BODY: u64 = 64 * 1024;

/// What the server needs.
pub struct Served {
    pub live: Arc<Live>,
    /// The project root, where pending baselines are searched.
    pub root: PathBuf,
    /// Called once a proposal or pending baseline was settled from the
    /// page, with the test file whose proposal was accepted.
    pub settled: Box<dyn Fn(Option<String>) + Send>,
}

/// Listen on `127.0.0.1:port` (0: a free port) and serve on a thread of
/// its own; the port listened on.
pub fn start(port: u16, served: Served) -> anyhow::Result<u16> {
    let server = Server::http(("127.0.0.1", port)).map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on 127.0.0.1:{port}: {e}; choose another port with --port, or --port 0 for a free one"
        )
    })?;
    let port = server
        .server_addr()
        .to_ip()
        .map(|a| a.port())
        .ok_or_else(|| anyhow::anyhow!("the server has no TCP address"))?;
    std::thread::Builder::new()
        .name("memcheck-server".into())
        .spawn(move || {
            for request in server.incoming_requests() {
                handle(request, port, &served);
            }
        })?;
    Ok(port)
}

fn handle(mut request: Request, port: u16, served: &Served) {
    if !header(&request, "Host").is_some_and(|h| allowed_host(h, port)) {
        let reply = text(
            403,
            &format!("refused: the Host header must be 127.0.0.1:{port} or localhost:{port}"),
        );
        let _ = request.respond(reply);
        return;
    }
    let path = request.url().split('?').next().unwrap_or("").to_owned();
    let method = request.method().clone();
    let reply = match (&method, path.as_str()) {
        (Method::Get | Method::Head, "/") => {
            page(served.live.page_html(), "text/html; charset=utf-8")
        }
        (Method::Get | Method::Head, "/report.json") => {
            page(served.live.report_json(), "application/json")
        }
        (Method::Get, "/events") => {
            served.live.follow(request.into_writer());
            return;
        }
        (Method::Post, "/accept" | "/reject") => write(&mut request, port, served, &path),
        (_, "/" | "/report.json" | "/events" | "/accept" | "/reject") => {
            text(405, "method not allowed")
        }
        _ => text(404, "not found"),
    };
    let _ = request.respond(reply);
}

/// The body of `POST /accept` and `POST /reject`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settle {
    /// The test's full name, as `cargo memcheck accept --exact` takes it.
    test: String,
}

/// Accept or reject one test's pending baseline, as `cargo memcheck
/// accept --exact` and `reject --exact` do.
fn write(
    request: &mut Request,
    port: u16,
    served: &Served,
    path: &str,
) -> Response<std::io::Cursor<Vec<u8>>> {
    if let Some(origin) = header(request, "Origin")
        && !allowed_origin(origin, port)
    {
        return text(
            403,
            "refused: a write must come from this server's own page",
        );
    }
    let token = header(request, TOKEN_HEADER).unwrap_or("");
    if !same_secret(token, &served.live.token) {
        return text(
            403,
            &format!("refused: a write needs this session's token in {TOKEN_HEADER}"),
        );
    }
    let mut body = String::new();
    let read = request
        .as_reader()
        .take(MAX_BODY + 1)
        .read_to_string(&mut body);
    if read.is_err() || body.len() as u64 > MAX_BODY {
        return text(400, "the body must be UTF-8 JSON of at most 64 KiB");
    }
    let settle: Settle = match serde_json::from_str(&body) {
        Ok(s) => s,
        Err(e) => return text(400, &format!("the body must be {{\"test\": NAME}}: {e}")),
    };
    let accept = path == "/accept";
    match settle_pending(served, &settle.test, accept) {
        Ok(Some((summary, accepted))) => {
            (served.settled)(accepted);
            text(200, &summary)
        }
        Ok(None) => text(
            404,
            &format!(
                "no pending baseline for {}",
                crate::text::quote_name(&settle.test)
            ),
        ),
        Err(e) => text(500, &format!("{e:#}")),
    }
}

/// What was settled, in words, and the test file of the proposal that was
/// accepted; `None` when no test of that name has a proposal from this
/// session or a pending baseline on disk.
fn settle_pending(
    served: &Served,
    test: &str,
    accept: bool,
) -> anyhow::Result<Option<(String, Option<String>)>> {
    let offered = served.live.take_offer(test);
    let from_disk = settle_on_disk(served, test, accept)?;
    let Some(proposal) = offered else {
        return Ok(from_disk.map(|s| (s, None)));
    };
    if !accept {
        let summary = format!(
            "memcheck: rejected the proposed baseline of {}",
            proposal.name
        );
        return Ok(Some((summary, None)));
    }
    match proposal.accept() {
        Ok(summary) => Ok(Some((summary, Some(proposal.file.clone())))),
        Err(e) => {
            served.live.put_back(proposal);
            Err(e)
        }
    }
}

/// Accept or reject the test's pending baseline on disk, left by an
/// earlier `cargo memcheck`, as `accept --exact` and `reject --exact` do.
fn settle_on_disk(served: &Served, test: &str, accept: bool) -> anyhow::Result<Option<String>> {
    let review::Search { mut found, .. } = review::find(&served.root)?;
    let selection = Selection {
        filter: Some(test.to_owned()),
        exact: true,
    };
    let outcome = review::settle(&mut found, &selection, accept)?;
    let summary = review::summary(&outcome);
    Ok((!summary.is_empty()).then_some(summary))
}

fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    let headers = request.headers().iter();
    let mut found = headers.filter(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name));
    let first = found.next()?;
    // Two of one header is no answer.
    found.next().is_none().then(|| first.value.as_str())
}

/// `127.0.0.1:PORT` or `localhost:PORT`, and nothing else.
pub fn allowed_host(host: &str, port: u16) -> bool {
    host == format!("127.0.0.1:{port}") || host.eq_ignore_ascii_case(&format!("localhost:{port}"))
}

/// This server's own origin, by either name.
pub fn allowed_origin(origin: &str, port: u16) -> bool {
    origin
        .strip_prefix("http://")
        .is_some_and(|host| allowed_host(host, port))
}

/// Compare secrets in time that does not depend on where they differ.
fn same_secret(given: &str, secret: &str) -> bool {
    let (a, b) = (given.as_bytes(), secret.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

fn page(body: String, content_type: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_data(body.into_bytes())
        .with_header(head("Content-Type", content_type))
        .with_header(head("Cache-Control", "no-store"))
        .with_header(head("X-Content-Type-Options", "nosniff"))
        .with_header(head("Referrer-Policy", "no-referrer"))
}

fn text(status: u16, body: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    page(format!("{body}\n"), "text/plain; charset=utf-8").with_status_code(status)
}

fn head(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
}

/// A new session's token: 128 random bits, as hex.
pub fn new_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| anyhow::anyhow!("cannot read /dev/urandom for the session's token: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_server_by_its_two_names_is_allowed() {
        assert!(allowed_host("127.0.0.1:8080", 8080));
        assert!(allowed_host("localhost:8080", 8080));
        assert!(allowed_host("LOCALHOST:8080", 8080));
        for refused in [
            "127.0.0.1",
            "127.0.0.1:8081",
            "evil.example:8080",
            "localhost.evil.example:8080",
            "127.0.0.1:8080.evil.example",
            "",
        ] {
            assert!(!allowed_host(refused, 8080), "{refused}");
        }
        assert!(allowed_origin("http://127.0.0.1:8080", 8080));
        assert!(!allowed_origin("http://evil.example", 8080));
        assert!(!allowed_origin("null", 8080));
        assert!(!allowed_origin("https://127.0.0.1:8080", 8080));
    }

    #[test]
    fn tokens_are_fresh_and_compared_whole() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(same_secret(&a, &a.clone()));
        assert!(!same_secret(&a, &b) && !same_secret("", &a) && !same_secret(&a[..31], &a));
    }
}
