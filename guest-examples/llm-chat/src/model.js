// One streamed chat completion from an OpenAI-compatible server (OpenAI,
// llama.cpp's llama-server, Ollama, vLLM, …): `POST {baseUrl}/chat/completions`
// with `stream: true`, its server-sent events read as they arrive. Every
// failure is a ModelError whose `kind` says what went wrong.

import { SseParser } from './sse.js';

/** Why the model gave no answer: `kind` is auth, busy, server, refused,
 * timeout, unreachable, malformed or empty. */
export class ModelError extends Error {
  constructor(kind, detail, status) {
    super(status ? `${kind} (HTTP ${status}): ${detail}` : `${kind}: ${detail}`);
    this.kind = kind;
    this.status = status;
  }
}

function kindOfStatus(status) {
  if (status === 401 || status === 403) return 'auth';
  if (status === 429) return 'busy';
  return status >= 500 ? 'server' : 'refused';
}

/** A failed request or read: the host's wasi:http error code is in the
 * message (`HttpResponseTimeout`, `ConnectionRefused`, …). */
function transportError(e) {
  const detail = String(e?.message ?? e);
  return new ModelError(/timeout|timed out/i.test(detail) ? 'timeout' : 'unreachable', detail);
}

/** The text of one event's data: a `chat.completion.chunk`. */
function pieceOf(data) {
  let chunk;
  try {
    chunk = JSON.parse(data);
  } catch {
    throw new ModelError('malformed', `not JSON: ${data.slice(0, 80)}`);
  }
  if (chunk?.error) {
    throw new ModelError('server', String(chunk.error.message ?? JSON.stringify(chunk.error)));
  }
  const content = chunk?.choices?.[0]?.delta?.content;
  return typeof content === 'string' ? content : '';
}

/** Streams the answer to `messages`: calls `onText(piece)` as each piece
 * arrives; resolves to the whole answer, or rejects with a ModelError. */
export async function streamChat({ baseUrl, model, apiKey, messages }, onText) {
  const headers = { 'content-type': 'application/json', accept: 'text/event-stream' };
  if (apiKey) headers.authorization = `Bearer ${apiKey}`;
  let response;
  try {
    response = await fetch(`${baseUrl.replace(/\/+$/, '')}/chat/completions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ model, messages, stream: true }),
    });
  } catch (e) {
    throw transportError(e);
  }
  if (!response.ok) {
    const body = await response.text().catch(() => '');
    throw new ModelError(kindOfStatus(response.status), body.slice(0, 200), response.status);
  }
  if (!response.body) throw new ModelError('malformed', 'no body');
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  let answer = '';
  for (;;) {
    let read;
    try {
      read = await reader.read();
    } catch (e) {
      throw transportError(e);
    }
    const events = read.done
      ? parser.end(decoder.decode())
      : parser.push(decoder.decode(read.value, { stream: true }));
    for (const data of events) {
      if (data === '[DONE]') return answer;
      const piece = pieceOf(data);
      if (piece) {
        answer += piece;
        onText(piece);
      }
    }
    if (read.done) throw new ModelError('malformed', 'the stream ended before [DONE]');
  }
}
