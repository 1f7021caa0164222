//! HTTP/1.1 request heads: parsing with hard bounds, and query strings.
//!
//! The listener only needs GET and POST with small JSON bodies, so the parser is small and
//! strict: the head must fit in [`MAX_HEAD_BYTES`], at most [`MAX_HEADERS`] header lines,
//! a body only with `Content-Length` (no chunked uploads) and at most [`MAX_BODY_BYTES`].
//! Everything is checked before a buffer grows, and nothing here panics on input.

/// Largest request line plus headers accepted.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Largest request body accepted (POST actions carry a few fields of JSON).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Most header lines accepted.
pub const MAX_HEADERS: usize = 64;

/// The methods the listener serves; anything else is answered 405 without reading further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The percent-decoded path, without the query string.
    pub path: String,
    /// Query parameters in order, percent-decoded (`+` is a space).
    pub query: Vec<(String, String)>,
    /// `Content-Length`, 0 when absent.
    pub content_length: usize,
    /// `Content-Type` without parameters, lower-cased.
    pub content_type: Option<String>,
    /// The `Host` header as sent (checked against DNS rebinding before console routes).
    pub host: Option<String>,
}

impl Request {
    /// The first value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request head was refused; each maps to one status code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("request head larger than {MAX_HEAD_BYTES} bytes")]
    HeadTooLarge,
    #[error("request body larger than {MAX_BODY_BYTES} bytes")]
    BodyTooLarge,
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("chunked request bodies are not supported")]
    Chunked,
}

impl ParseError {
    /// The HTTP status answered for this error.
    pub fn status(&self) -> u16 {
        match self {
            ParseError::HeadTooLarge => 431,
            ParseError::BodyTooLarge => 413,
            ParseError::Malformed(_) => 400,
            ParseError::MethodNotAllowed => 405,
            ParseError::Chunked => 411,
        }
    }
}

/// Parses a request head from the start of `buf`.
///
/// `Ok(None)`: the head is incomplete (read more, unless `buf` already holds
/// [`MAX_HEAD_BYTES`]). `Ok(Some((req, n)))`: the head is `buf[..n]`; the body follows.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Request, usize)>, ParseError> {
    let end = match find_head_end(buf) {
        Some(e) => e,
        None if buf.len() >= MAX_HEAD_BYTES => return Err(ParseError::HeadTooLarge),
        None => return Ok(None),
    };
    if end > MAX_HEAD_BYTES {
        return Err(ParseError::HeadTooLarge);
    }
    let head = std::str::from_utf8(&buf[..end - 4])
        .map_err(|_| ParseError::Malformed("head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) => (m, t, v),
        _ => return Err(ParseError::Malformed("request line")),
    };
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(ParseError::Malformed("HTTP version"));
    }
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        _ => return Err(ParseError::MethodNotAllowed),
    };
    if !target.starts_with('/') {
        return Err(ParseError::Malformed(
            "request target must be an absolute path",
        ));
    }
    let (raw_path, raw_query) = target.split_once('?').unwrap_or((target, ""));
    let path = percent_decode(raw_path, false).ok_or(ParseError::Malformed("path encoding"))?;
    let query = parse_query(raw_query).ok_or(ParseError::Malformed("query encoding"))?;

    let mut content_length = None;
    let mut content_type = None;
    let mut host = None;
    let mut count = 0;
    for line in lines {
        count += 1;
        if count > MAX_HEADERS {
            return Err(ParseError::HeadTooLarge);
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(ParseError::Malformed("header line"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n: usize = value
                .parse()
                .map_err(|_| ParseError::Malformed("content-length"))?;
            if content_length.is_some_and(|c| c != n) {
                return Err(ParseError::Malformed("conflicting content-length"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(ParseError::Chunked);
        } else if name.eq_ignore_ascii_case("content-type") {
            let mime = value.split(';').next().unwrap_or("").trim();
            content_type = Some(mime.to_ascii_lowercase());
        } else if name.eq_ignore_ascii_case("host") {
            if host.is_some() {
                return Err(ParseError::Malformed("more than one host header"));
            }
            host = Some(value.to_string());
        }
    }
    let content_length = content_length.unwrap_or(0);
    if content_length > MAX_BODY_BYTES {
        return Err(ParseError::BodyTooLarge);
    }
    Ok(Some((
        Request {
            method,
            path,
            query,
            content_length,
            content_type,
            host,
        },
        end,
    )))
}

/// Index just past the `\r\n\r\n` that ends the head.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// `a=1&b=x%20y` → pairs. None on a bad escape or non-UTF-8 result.
pub fn parse_query(q: &str) -> Option<Vec<(String, String)>> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((percent_decode(k, true)?, percent_decode(v, true)?))
        })
        .collect()
}

/// Decodes `%XX` escapes (and `+` as space in query strings).
pub fn percent_decode(s: &str, plus_is_space: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hi = hex_val(*b.get(i + 1)?)?;
                let lo = hex_val(*b.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_get_with_query() {
        let raw = b"GET /api/records?topic=a%2Eb&partition=2&x=a+b HTTP/1.1\r\nHost: x\r\n\r\n";
        let (req, n) = parse_head(raw).unwrap().unwrap();
        assert_eq!(n, raw.len());
        assert_eq!(req.method, Method::Get);
        assert_eq!(req.path, "/api/records");
        assert_eq!(req.param("topic"), Some("a.b"));
        assert_eq!(req.param("partition"), Some("2"));
        assert_eq!(req.param("x"), Some("a b"));
        assert_eq!(req.param("nope"), None);
        assert_eq!(req.content_length, 0);
        assert_eq!(req.host.as_deref(), Some("x"));
        let two = b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";
        assert!(matches!(parse_head(two), Err(ParseError::Malformed(_))));
    }

    #[test]
    fn incomplete_head_asks_for_more() {
        assert_eq!(parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap(), None);
        assert_eq!(parse_head(b"").unwrap(), None);
    }

    #[test]
    fn oversized_head_is_refused_before_it_completes() {
        let mut raw = b"GET / HTTP/1.1\r\nX: ".to_vec();
        raw.resize(MAX_HEAD_BYTES, b'a');
        assert_eq!(parse_head(&raw).unwrap_err(), ParseError::HeadTooLarge);
        assert_eq!(ParseError::HeadTooLarge.status(), 431);
    }

    #[test]
    fn too_many_headers_are_refused() {
        let mut raw = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            raw.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        assert_eq!(parse_head(&raw).unwrap_err(), ParseError::HeadTooLarge);
    }

    #[test]
    fn body_bounds_and_framing() {
        let big = format!(
            "POST /api/topics HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY_BYTES + 1
        );
        assert_eq!(
            parse_head(big.as_bytes()).unwrap_err(),
            ParseError::BodyTooLarge
        );
        let chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(parse_head(chunked).unwrap_err(), ParseError::Chunked);
        let conflict = b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
        assert!(matches!(
            parse_head(conflict).unwrap_err(),
            ParseError::Malformed(_)
        ));
        let neg = b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n";
        assert!(matches!(
            parse_head(neg).unwrap_err(),
            ParseError::Malformed(_)
        ));
        let ok = b"POST /x HTTP/1.1\r\nContent-Type: Application/JSON; charset=utf-8\r\nContent-Length: 2\r\n\r\n{}";
        let (req, n) = parse_head(ok).unwrap().unwrap();
        assert_eq!(req.content_length, 2);
        assert_eq!(req.content_type.as_deref(), Some("application/json"));
        assert_eq!(&ok[n..], b"{}");
    }

    #[test]
    fn malformed_heads_are_errors_not_panics() {
        for raw in [
            &b"GET\r\n\r\n"[..],
            b"GET / HTTP/2\r\n\r\n",
            b"GET  / HTTP/1.1\r\n\r\n",
            b"GET http://x/ HTTP/1.1\r\n\r\n",
            b"GET /%zz HTTP/1.1\r\n\r\n",
            b"GET /?a=%e2%82 HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nno-colon\r\n\r\n",
            b"GET /\xff HTTP/1.1\r\n\r\n",
            b"GET /?a=% HTTP/1.1\r\n\r\n",
        ] {
            assert!(
                parse_head(raw).is_err(),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
        assert_eq!(
            parse_head(b"DELETE / HTTP/1.1\r\n\r\n").unwrap_err(),
            ParseError::MethodNotAllowed
        );
    }
}
