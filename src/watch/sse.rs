//! Server-Sent Events, the protocol alone: a stream's response head, an
//! event's frame, and the hub that writes each frame to every open stream
//! (a stream that cannot take it is dropped).

use std::io::Write;
use std::sync::Mutex;

/// The head of a stream's response, written by hand because the stream
/// outlives the request handler: the connection closes with the stream.
pub const HEAD: &str = "HTTP/1.1 200 OK\r\n\
    Content-Type: text/event-stream; charset=utf-8\r\n\
    Cache-Control: no-store\r\n\
    X-Content-Type-Options: nosniff\r\n\
    Connection: close\r\n\r\n";

/// One event: `event: NAME`, then each line of `data` as a `data:` line,
/// then a blank line. `name` must be one line.
pub fn frame(name: &str, data: &str) -> String {
    debug_assert!(!name.contains(['\r', '\n']));
    let mut out = format!("event: {name}\n");
    // A frame's lines end at CR, LF or CRLF: split on each.
    for line in data.split("\r\n").flat_map(|l| l.split(['\r', '\n'])) {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    out
}

type Stream = Box<dyn Write + Send>;

/// Every open stream.
#[derive(Default)]
pub struct Hub {
    streams: Mutex<Vec<Stream>>,
}

impl Hub {
    /// Open a stream: its head, then `first` (the state so far), then every
    /// frame broadcast from now on.
    pub fn join(&self, mut stream: Stream, first: &[String]) {
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        let mut text = HEAD.to_owned();
        text.extend(first.iter().cloned());
        if write(&mut stream, &text) {
            streams.push(stream);
        }
    }

    /// Write a frame to every stream; the closed ones are dropped.
    pub fn broadcast(&self, frame: &str) {
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        streams.retain_mut(|s| write(s, frame));
    }

    /// How many streams are open.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.streams.lock().map_or(0, |s| s.len())
    }
}

fn write(stream: &mut Stream, text: &str) -> bool {
    stream.write_all(text.as_bytes()).is_ok() && stream.flush().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_line_of_the_data_is_a_data_line() {
        assert_eq!(frame("page", "{}"), "event: page\ndata: {}\n\n");
        assert_eq!(
            frame("status", "a\nb\r\nc\rd"),
            "event: status\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
        );
    }

    /// A stream that keeps what it is given, or fails every write.
    struct Sink(std::sync::Arc<Mutex<Vec<u8>>>, bool);

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if self.1 {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stream_gets_the_head_the_state_and_what_follows_and_closed_ones_go() {
        let hub = Hub::default();
        let kept = std::sync::Arc::new(Mutex::new(Vec::new()));
        hub.join(Box::new(Sink(kept.clone(), false)), &[frame("a", "1")]);
        hub.join(Box::new(Sink(kept.clone(), true)), &[]);
        assert_eq!(hub.len(), 1);
        hub.broadcast(&frame("b", "2"));
        let text = String::from_utf8(kept.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            format!("{HEAD}event: a\ndata: 1\n\nevent: b\ndata: 2\n\n")
        );
    }
}
