//! A restitution's file over HTTP, resumable (`Range`, `If-Range`, RFC 9110 §14): the
//! vault streams the bytes asked for from a blocking thread through a bounded channel, so
//! memory stays constant whatever the file's size. The headers go once the vault has
//! decided and knows what it sends; an error before that is an ordinary error response.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::Shared;
use crate::errors::ApiError;
use crate::pool::Who;

/// `Range: bytes=A-B`, `bytes=A-` or `bytes=-N`; anything else (several ranges, other
/// units, nonsense) is ignored and the whole file is sent, as RFC 9110 allows.
pub(crate) fn parse_range(headers: &HeaderMap) -> Option<vault::ByteRange> {
    let v = headers.get(header::RANGE)?.to_str().ok()?.trim();
    let spec = v.strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let num = |s: &str| -> Option<Option<u64>> {
        let s = s.trim();
        if s.is_empty() {
            Some(None)
        } else if s.bytes().all(|c| c.is_ascii_digit()) {
            // Past u64 is past any file: the end of the file.
            Some(Some(s.parse().unwrap_or(u64::MAX)))
        } else {
            None
        }
    };
    match (num(a)?, num(b)?) {
        (None, None) => None,
        (Some(a), Some(b)) if b < a => None,
        r => Some(r),
    }
}

/// Writes into the response body's channel, blocking (it runs on the vault's thread).
struct ToBody(tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>);

impl std::io::Write for ToBody {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Serves restitution `id` to the person `who` names.
pub(crate) async fn serve(state: &Shared, who: Who, id: String, headers: &HeaderMap) -> Result<Response, ApiError> {
    let range = parse_range(headers);
    let if_range = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (head_tx, head_rx) = tokio::sync::oneshot::channel::<vault::Download>();
    let (body_tx, mut body_rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let pool_state = state.clone();
    let run = tokio::spawn(async move {
        pool_state
            .pool
            .run(who, move |v, _| {
                let mut head_tx = Some(head_tx);
                let mut body_tx = Some(body_tx);
                let mut open = |dl: &vault::Download| -> Result<Box<dyn std::io::Write + Send>, vault::Error> {
                    if let Some(t) = head_tx.take() {
                        let _ = t.send(dl.clone());
                    }
                    let tx = body_tx.take().ok_or_else(|| vault::Error::Corrupt("opened twice".into()))?;
                    Ok(Box::new(ToBody(tx)))
                };
                v.restitution_download(&id, range, if_range.as_deref(), &mut open, chrono::Utc::now())
            })
            .await
    });
    let dl = match head_rx.await {
        Ok(dl) => dl,
        // The vault answered before sending anything: its error.
        Err(_) => {
            return match run.await {
                Ok(Err(e)) => Err(ApiError::Vault(e)),
                _ => Err(ApiError::Vault(vault::Error::Corrupt("the download stopped".into()))),
            };
        }
    };
    // An error after the first byte cannot change the status: the body is cut short, and a
    // client sees fewer bytes than Content-Length (and resumes).
    tokio::spawn(async move {
        if let Ok(Err(e)) = run.await {
            tracing::warn!("a restitution download stopped: {e}");
        }
    });
    let stream = futures::stream::poll_fn(move |cx| body_rx.poll_recv(cx));
    let len = if dl.start > dl.end { 0 } else { dl.end + 1 - dl.start };
    let mut r = Body::from_stream(stream).into_response();
    *r.status_mut() = if dl.partial { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK };
    let h = r.headers_mut();
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    set(h, header::CONTENT_TYPE, "application/octet-stream".into());
    set(h, header::CONTENT_LENGTH, len.to_string());
    set(h, header::ACCEPT_RANGES, "bytes".into());
    set(h, header::ETAG, dl.etag.clone());
    // The name is the archive's top directory: a slug and a date, nothing to escape.
    let name: String = dl.name.chars().filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect();
    set(h, header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\""));
    if dl.partial {
        set(h, header::CONTENT_RANGE, format!("bytes {}-{}/{}", dl.start, dl.end, dl.total));
    }
    Ok(r)
}

/// A 416's `Content-Range: bytes */TOTAL`.
pub(crate) fn unsatisfiable(total: u64) -> Response {
    let mut r = ApiError::Vault(vault::Error::RangeNotSatisfiable { total }).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{total}")) {
        r.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::RANGE, HeaderValue::from_str(v).unwrap());
            parse_range(&m)
        };
        assert_eq!(h("bytes=0-99"), Some((Some(0), Some(99))));
        assert_eq!(h("bytes=100-"), Some((Some(100), None)));
        assert_eq!(h("bytes=-500"), Some((None, Some(500))));
        assert_eq!(h("bytes=0-99999999999999999999999"), Some((Some(0), Some(u64::MAX))));
        for ignored in ["bytes=5-1", "bytes=0-1,5-9", "items=0-1", "bytes=-", "bytes=a-b"] {
            assert_eq!(h(ignored), None, "{ignored}");
        }
    }
}
