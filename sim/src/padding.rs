//! Oversized answers: a JSON body padded with whitespace after its opening `{` (still valid JSON,
//! the same document), streamed in chunks without a `Content-Length`, so a client that reads a
//! whole body into memory grows with the padding and one that streams with a cap does not. The
//! simulator never holds the padding in memory either.

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use futures_util::stream;

/// One chunk of padding.
const CHUNK: usize = 64 * 1024;

/// `json` (an object) with `pad` bytes of spaces after its `{`, as a chunked 200 reply; `json`
/// itself when `pad` is 0.
pub(crate) fn padded_json(json: String, pad: usize) -> Response {
    if pad == 0 || !json.starts_with('{') {
        return (
            StatusCode::OK,
            [(CONTENT_TYPE, "application/json;charset=UTF-8")],
            json,
        )
            .into_response();
    }
    let spaces = Bytes::from(vec![b' '; CHUNK]);
    let chunks = (0..pad.div_ceil(CHUNK)).map(move |n| {
        let len = CHUNK.min(pad - n * CHUNK);
        Ok::<_, std::io::Error>(spaces.slice(..len))
    });
    let open = Bytes::from_static(b"{");
    let rest = Bytes::from(json.into_bytes()).slice(1..);
    let body = stream::iter(
        std::iter::once(Ok(open))
            .chain(chunks)
            .chain(std::iter::once(Ok(rest))),
    );
    (
        StatusCode::OK,
        [(CONTENT_TYPE, "application/json;charset=UTF-8")],
        Body::from_stream(body),
    )
        .into_response()
}
