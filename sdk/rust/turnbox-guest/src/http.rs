//! Outbound HTTP from a bot, over the standard `wasi:http` (any wasip2 HTTP
//! client works the same way). The host lets a request go only to the hosts
//! in the bot's manifest, `[http] allowed_hosts`; anything else fails with
//! the code `HttpRequestDenied`. A response's body is read as it arrives:
//! [`Response::chunk`] gives the next piece and [`Response::chunks`] an
//! iterator of them (for server-sent events from a model), [`Response::text`]
//! and [`Response::json`] the whole of it.
//!
//! ```ignore
//! let weather: serde_json::Value = turnbox_guest::http::get("https://api.example.com/today")?.json()?;
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingBody, IncomingResponse, Method, OutgoingBody, OutgoingRequest,
    Scheme, http_error_code,
};
use wasip2::io::streams::{InputStream, StreamError};

use crate::bindings::turnbox::bot::types::CallError;
use crate::error::{Error, Result};

/// A response, its body still to be read.
pub struct Response {
    pub status: u16,
    headers: Vec<(String, Vec<u8>)>,
    // Declared before `_body`: a stream is dropped before its body.
    stream: InputStream,
    _body: IncomingBody,
}

/// `GET url`.
pub fn get(url: &str) -> Result<Response> {
    send("GET", url, &[], None)
}

/// `POST url` with `body` as JSON.
pub fn post_json(url: &str, body: &impl Serialize) -> Result<Response> {
    let json = serde_json::to_vec(body)?;
    send(
        "POST",
        url,
        &[("content-type", "application/json")],
        Some(&json),
    )
}

/// Any request: a method, headers, an optional body.
pub fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Response> {
    let (scheme, authority, path) = split_url(url)?;
    let fields = Fields::new();
    for (name, value) in headers {
        fields
            .append(name, value.as_bytes())
            .map_err(|e| failed("BadHeader", format!("{name}: {e:?}")))?;
    }
    if let Some(body) = body {
        let _ = fields.set("content-length", &[body.len().to_string().into_bytes()]);
    }
    let request = OutgoingRequest::new(fields);
    let method = match method.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "PATCH" => Method::Patch,
        "HEAD" => Method::Head,
        "OPTIONS" => Method::Options,
        other => Method::Other(other.to_string()),
    };
    let bad = |what: &str| failed("BadRequest", format!("cannot set the {what} of {url}"));
    request.set_method(&method).map_err(|()| bad("method"))?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| bad("scheme"))?;
    request
        .set_authority(Some(authority))
        .map_err(|()| bad("host"))?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| bad("path"))?;
    let outgoing = request.body().map_err(|()| bad("body"))?;
    // The request goes out first: its body is streamed to the host as it
    // is written, and a body written before `handle` waits for a reader
    // that does not exist yet (past one buffer, for ever).
    let pending = outgoing_handler::handle(request, None).map_err(from_code)?;
    // A refused request drops its body: the write fails, and the reason is
    // the response's error code, looked at before the write's.
    let mut body_failed = None;
    if let Some(body) = body {
        let stream = outgoing.write().map_err(|()| bad("body"))?;
        for piece in body.chunks(4096) {
            if let Err(e) = stream.blocking_write_and_flush(piece) {
                body_failed = Some(failed("HttpRequestBody", format!("{e:?}")));
                break;
            }
        }
    }
    let finished = OutgoingBody::finish(outgoing, None);
    pending.subscribe().block();
    let response: IncomingResponse = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(from_code(code)),
        _ => return Err(failed("HttpProtocolError", "no response".into())),
    };
    if let Some(err) = body_failed {
        return Err(err);
    }
    finished.map_err(from_code)?;
    let headers = response.headers().entries();
    let status = response.status();
    let body = response
        .consume()
        .map_err(|()| failed("HttpProtocolError", "the body was taken".into()))?;
    let stream = body
        .stream()
        .map_err(|()| failed("HttpProtocolError", "the body was taken".into()))?;
    Ok(Response {
        status,
        headers,
        stream,
        _body: body,
    })
}

impl Response {
    /// The first value of header `name` (any case), as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// The next piece of the body as it arrives; `None` at its end.
    pub fn chunk(&mut self) -> Result<Option<Vec<u8>>> {
        loop {
            match self.stream.blocking_read(64 * 1024) {
                Ok(bytes) if bytes.is_empty() => continue,
                Ok(bytes) => return Ok(Some(bytes)),
                Err(StreamError::Closed) => return Ok(None),
                Err(StreamError::LastOperationFailed(e)) => {
                    if let Some(code) = http_error_code(&e) {
                        return Err(from_code(code));
                    }
                    let text = e.to_debug_string();
                    let first = text.lines().next().unwrap_or("").to_string();
                    return Err(failed("HttpResponseBody", first));
                }
            }
        }
    }

    /// The body's pieces as they arrive, as an iterator (see [`chunk`]),
    /// which ends after the body's end or its first error.
    ///
    /// [`chunk`]: Response::chunk
    pub fn chunks(&mut self) -> Chunks<'_> {
        Chunks {
            response: self,
            done: false,
        }
    }

    /// The whole body.
    pub fn bytes(mut self) -> Result<Vec<u8>> {
        let mut all = Vec::new();
        while let Some(piece) = self.chunk()? {
            all.extend_from_slice(&piece);
        }
        Ok(all)
    }

    /// The whole body as text (invalid UTF-8 replaced).
    pub fn text(self) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.bytes()?).into_owned())
    }

    /// The whole body as JSON.
    pub fn json<T: DeserializeOwned>(self) -> Result<T> {
        Ok(serde_json::from_slice(&self.bytes()?)?)
    }
}

/// The pieces of a response's body as they arrive: [`Response::chunks`].
pub struct Chunks<'a> {
    response: &'a mut Response,
    done: bool,
}

impl Iterator for Chunks<'_> {
    type Item = Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.response.chunk().transpose();
        self.done = !matches!(next, Some(Ok(_)));
        next
    }
}

/// `scheme://authority/path?query` in its parts.
fn split_url(url: &str) -> Result<(Scheme, &str, &str)> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| failed("BadRequest", format!("`{url}` is not an http(s) URL")))?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => {
            return Err(failed(
                "BadRequest",
                format!("`{url}` is not an http(s) URL"),
            ));
        }
    };
    let at = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(at);
    let path = if path.is_empty() { "/" } else { path };
    Ok((scheme, authority, path))
}

fn failed(code: &str, message: String) -> Error {
    Error::Call(CallError {
        code: code.to_string(),
        message,
        status: None,
    })
}

/// A `wasi:http` error code as the SDK's error: `HttpRequestDenied` for a
/// host the manifest does not allow, and so on.
fn from_code(code: ErrorCode) -> Error {
    let name = format!("{code:?}");
    let name = name
        .strip_prefix("ErrorCode::")
        .unwrap_or(&name)
        .to_string();
    let short = name
        .split(['(', ' ', '{'])
        .next()
        .unwrap_or("HttpError")
        .to_string();
    failed(&short, name)
}
