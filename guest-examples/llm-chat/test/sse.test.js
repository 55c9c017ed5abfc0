// The SSE parser under every way the bytes can be split (node --test; run
// by tests/e2e/llm_chat.rs): mid-line, mid-CRLF, between an event's
// newlines; comments, other fields and an unterminated last event.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SseParser } from '../src/sse.js';

const STREAM = ': keep-alive\r\n\r\ndata: {"a":1}\r\n\r\nevent: x\nid: 7\ndata: two\ndata: lines\n\n'
  + 'data:tight\r\rdata: [DONE]\n\n';
const EVENTS = ['{"a":1}', 'two\nlines', 'tight', '[DONE]'];

test('every split of the stream gives the same events', () => {
  for (let size = 1; size <= STREAM.length; size++) {
    const parser = new SseParser();
    const events = [];
    for (let at = 0; at < STREAM.length; at += size) events.push(...parser.push(STREAM.slice(at, at + size)));
    events.push(...parser.end());
    assert.deepEqual(events, EVENTS, `pieces of ${size}`);
  }
});

test('an unterminated last event is still read at the end', () => {
  const parser = new SseParser();
  assert.deepEqual(parser.push('data: last'), []);
  assert.deepEqual(parser.end(), ['last']);
});
