//! Server-sent events, parsed as the bytes arrive: the `data` of each
//! event, whatever way the stream was cut into pieces (a line split across
//! reads, a UTF-8 character split in two). Lines end with `\n` or `\r\n`;
//! comment lines (`:` first) and fields other than `data` (`event`, `id`,
//! `retry`) are skipped.

/// An incremental parser: feed it pieces, take the events they complete.
#[derive(Default)]
pub struct SseParser {
    /// The bytes of a line not yet ended.
    line: Vec<u8>,
    /// The `data` lines of the event so far, joined by `\n`.
    data: Option<String>,
}

impl SseParser {
    /// Takes the next piece of the stream; returns the data of the events
    /// it completes, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut events = Vec::new();
        for &byte in bytes {
            if byte == b'\n' {
                let line = std::mem::take(&mut self.line);
                self.line(&line, &mut events);
            } else {
                self.line.push(byte);
            }
        }
        events
    }

    /// The stream ended: the last event, if the server did not end it with
    /// a blank line (lenient; the standard drops it).
    pub fn finish(&mut self) -> Vec<String> {
        let mut events = Vec::new();
        let line = std::mem::take(&mut self.line);
        if !line.is_empty() {
            self.line(&line, &mut events);
        }
        events.extend(self.data.take());
        events
    }

    fn line(&mut self, line: &[u8], events: &mut Vec<String>) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = String::from_utf8_lossy(line);
        if line.is_empty() {
            events.extend(self.data.take());
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = line.split_once(':').unwrap_or((&line, ""));
        if field == "data" {
            let value = value.strip_prefix(' ').unwrap_or(value);
            match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SseParser;

    /// All the events of `pieces`, fed one after the other.
    fn parse(pieces: &[&[u8]]) -> Vec<String> {
        let mut parser = SseParser::default();
        let mut events: Vec<String> = pieces.iter().flat_map(|p| parser.feed(p)).collect();
        events.extend(parser.finish());
        events
    }

    #[test]
    fn events_end_at_a_blank_line() {
        let stream = b"data: {\"a\":1}\n\ndata: [DONE]\n\n";
        assert_eq!(parse(&[stream]), ["{\"a\":1}", "[DONE]"]);
    }

    #[test]
    fn a_line_split_across_pieces_is_joined() {
        let stream: &[u8] = b"data: {\"text\":\"h\xc3\xa9llo\"}\r\n\r\ndata: [DONE]\r\n\r\n";
        let whole = parse(&[stream]);
        assert_eq!(whole, ["{\"text\":\"héllo\"}", "[DONE]"]);
        // Every cut, even inside the `é` or between `\r` and `\n`.
        for cut in 1..stream.len() {
            let (a, b) = stream.split_at(cut);
            assert_eq!(parse(&[a, b]), whole, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(parse(&bytes), whole);
    }

    #[test]
    fn comments_and_other_fields_are_skipped() {
        let stream = b": keep-alive\n\nevent: delta\nid: 7\nretry: 100\ndata: x\n\n:done\n";
        assert_eq!(parse(&[stream]), ["x"]);
    }

    #[test]
    fn data_lines_of_one_event_are_joined_by_newlines() {
        assert_eq!(parse(&[b"data: a\ndata:b\ndata\n\n"]), ["a\nb\n"]);
    }

    #[test]
    fn a_last_event_without_its_blank_line_still_counts() {
        assert_eq!(parse(&[b"data: x\n\ndata: [DONE]"]), ["x", "[DONE]"]);
        assert_eq!(parse(&[b"\n\n: only comments\n"]), Vec::<String>::new());
    }
}
