// Server-sent events, parsed as the bytes arrive: feed decoded text with
// `push` (any split: mid-line, mid-CRLF), get the `data` of every event it
// completes; `end` flushes what is left when the stream closes. Comment
// lines (`: …`) and fields other than `data` are skipped.

export class SseParser {
  constructor() {
    this.rest = ''; // the unfinished last line
    this.data = []; // the data lines of the event being read
  }

  /** Feeds `text`; returns the data of the events it completed. */
  push(text) {
    let chunk = this.rest + text;
    // A CR at the end may be the first half of a CRLF: wait for the next.
    const cr = chunk.endsWith('\r');
    if (cr) chunk = chunk.slice(0, -1);
    const lines = chunk.split(/\r\n|\r|\n/);
    this.rest = lines.pop() + (cr ? '\r' : '');
    const events = [];
    for (const line of lines) this.line(line, events);
    return events;
  }

  /** The stream closed: the last line and event, even unterminated. */
  end(text = '') {
    const events = this.push(text);
    const last = this.rest.replace(/\r$/, '');
    this.rest = '';
    if (last) this.line(last, events);
    this.line('', events);
    return events;
  }

  line(line, events) {
    if (line === '') {
      if (this.data.length) events.push(this.data.join('\n'));
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    if (field !== 'data') return;
    const value = colon < 0 ? '' : line.slice(colon + 1);
    this.data.push(value.startsWith(' ') ? value.slice(1) : value);
  }
}
