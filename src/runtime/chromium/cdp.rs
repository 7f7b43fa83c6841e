//! The Chrome DevTools Protocol over `--remote-debugging-pipe`: the browser
//! reads commands on its fd 3 and writes replies and events on its fd 4,
//! each a JSON message ending in a NUL byte. No port is opened, so no other
//! process on the machine can drive the browser.
//!
//! One reader thread hands each reply to the caller waiting for its id and
//! each event to the session (page) it belongs to; a session receives the
//! replies to the commands it sent without waiting, too, so that it never
//! blocks on a reply that needs it to answer an event first.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// The largest message accepted from the browser (a snapshot comes in
/// chunks, so no message should come near this).
const MAX_MESSAGE: usize = 256 << 20;

/// An event sent to a session when the browser's pipe closed.
pub const CLOSED: &str = "memcheck.browserClosed";

/// A connection to one browser.
pub struct Connection {
    writer: Mutex<std::fs::File>,
    next_id: AtomicU64,
    waiting: Mutex<HashMap<u64, SyncSender<Result<Value, String>>>>,
    sessions: Mutex<HashMap<String, Sender<Value>>>,
    alive: AtomicBool,
}

impl Connection {
    /// Talk over `writer` (the browser's fd 3) and `reader` (its fd 4).
    pub fn new(writer: std::fs::File, reader: std::fs::File) -> Arc<Connection> {
        let conn = Arc::new(Connection {
            writer: Mutex::new(writer),
            next_id: AtomicU64::new(1),
            waiting: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            alive: AtomicBool::new(true),
        });
        let reading = conn.clone();
        std::thread::spawn(move || reading.read_all(reader));
        conn
    }

    pub fn alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    /// Send a command without waiting; its id. A reply to a command sent
    /// on a session goes to that session's events.
    pub fn send(&self, method: &str, params: Value, session: Option<&str>) -> Result<u64, String> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        self.write(id, method, params, session)?;
        Ok(id)
    }

    /// Write one command, NUL-terminated.
    fn write(
        &self,
        id: u64,
        method: &str,
        params: Value,
        session: Option<&str>,
    ) -> Result<(), String> {
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            message["sessionId"] = s.into();
        }
        let mut bytes = serde_json::to_vec(&message).map_err(|e| e.to_string())?;
        bytes.push(0);
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        w.write_all(&bytes)
            .and_then(|()| w.flush())
            .map_err(|e| format!("the browser stopped listening ({e})"))
    }

    /// Send a browser-level command and wait for its result.
    pub fn call(&self, method: &str, params: Value, timeout: Duration) -> Result<Value, String> {
        let (tx, rx) = sync_channel(1);
        // Registered before it is sent, so that no reply can come first.
        let id = {
            let mut waiting = self.waiting.lock().unwrap();
            let id = self.next_id.fetch_add(1, Ordering::SeqCst);
            waiting.insert(id, tx);
            id
        };
        self.write(id, method, params, None)?;
        match rx.recv_timeout(timeout) {
            Ok(r) => r.map_err(|e| format!("{method}: {e}")),
            Err(_) => {
                self.waiting.lock().unwrap().remove(&id);
                Err(format!(
                    "the browser did not answer {method} within {} s",
                    timeout.as_secs()
                ))
            }
        }
    }

    /// Receive the events (and replies) of `session` from now on.
    pub fn subscribe(&self, session: &str) -> Receiver<Value> {
        let (tx, rx) = channel();
        if !self.alive() {
            let _ = tx.send(json!({ "method": CLOSED }));
        }
        self.sessions.lock().unwrap().insert(session.to_owned(), tx);
        rx
    }

    pub fn unsubscribe(&self, session: &str) {
        self.sessions.lock().unwrap().remove(session);
    }

    fn read_all(&self, reader: std::fs::File) {
        let mut reader = BufReader::with_capacity(1 << 20, reader);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match (&mut reader)
                .take(MAX_MESSAGE as u64)
                .read_until(0, &mut buf)
            {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if buf.last() == Some(&0) {
                buf.pop();
            } else if buf.len() >= MAX_MESSAGE {
                break;
            }
            let Ok(message) = serde_json::from_slice::<Value>(&buf) else {
                continue;
            };
            self.dispatch(message);
        }
        self.alive.store(false, Ordering::SeqCst);
        for (_, tx) in self.waiting.lock().unwrap().drain() {
            let _ = tx.send(Err("the browser closed".into()));
        }
        for (_, tx) in self.sessions.lock().unwrap().drain() {
            let _ = tx.send(json!({ "method": CLOSED }));
        }
    }

    fn dispatch(&self, message: Value) {
        if let Some(id) = message.get("id").and_then(Value::as_u64)
            && let Some(tx) = self.waiting.lock().unwrap().remove(&id)
        {
            let result = match message.get("error") {
                Some(e) => Err(e
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("error")
                    .to_owned()),
                None => Ok(message.get("result").cloned().unwrap_or(Value::Null)),
            };
            let _ = tx.send(result);
            return;
        }
        // A session's own messages, and the browser's word that a session
        // ended (`Target.detachedFromTarget` names it in its params).
        let session = message
            .get("sessionId")
            .or_else(|| message.pointer("/params/sessionId"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(s) = session
            && let Some(tx) = self.sessions.lock().unwrap().get(&s)
        {
            let _ = tx.send(message);
        }
    }
}
