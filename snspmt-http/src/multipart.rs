//! A small, strict `multipart/form-data` parser (RFC 7578) over a body already read through
//! the size limit. Only what uploads need: each part's name, file name, content type and bytes.

use std::fmt;

/// At most this many parts are read.
pub const MAX_PARTS: usize = 16;
const MAX_PART_HEADERS: usize = 8 * 1024;

/// One part of the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: &'a [u8],
}

/// Why a body is not a form we can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultipartError {
    /// The `Content-Type` is not `multipart/form-data` with a usable boundary.
    NotMultipart,
    /// The body does not follow the boundary structure; the text says where.
    Malformed(&'static str),
    /// More than [`MAX_PARTS`] parts.
    TooManyParts,
}

impl fmt::Display for MultipartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MultipartError::NotMultipart => {
                f.write_str("the body must be multipart/form-data with a boundary")
            }
            MultipartError::Malformed(why) => write!(f, "malformed multipart body: {why}"),
            MultipartError::TooManyParts => write!(f, "more than {MAX_PARTS} parts"),
        }
    }
}

impl std::error::Error for MultipartError {}

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Result<String, MultipartError> {
    let mut params = split_params(content_type);
    let kind = params.next().unwrap_or_default();
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return Err(MultipartError::NotMultipart);
    }
    let b = params
        .filter_map(|p| param(&p))
        .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v)
        .ok_or(MultipartError::NotMultipart)?;
    // RFC 2046: 1 to 70 characters, no line breaks.
    if b.is_empty() || b.len() > 70 || b.bytes().any(|c| c == b'\r' || c == b'\n') {
        return Err(MultipartError::NotMultipart);
    }
    Ok(b)
}

/// The boundary a body opens with (`--<boundary>\r\n`), for a client that sent a form under
/// another content type or without its boundary. The same limits as [`boundary`] hold.
pub fn boundary_from_body(body: &[u8]) -> Option<String> {
    let rest = body.strip_prefix(b"--")?;
    let end = rest.iter().take(71).position(|&c| c == b'\r')?;
    if rest.get(end + 1) != Some(&b'\n') {
        return None;
    }
    let b = std::str::from_utf8(&rest[..end]).ok()?;
    let ok = !b.is_empty() && !b.ends_with(' ') && b.bytes().all(|c| c.is_ascii_graphic() || c == b' ');
    ok.then(|| b.to_owned())
}

/// Splits `a; b="x;y"; c` on the semicolons outside quotes.
fn split_params(s: &str) -> impl Iterator<Item = String> + '_ {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for c in s.chars() {
        match c {
            _ if escaped => {
                cur.push(c);
                escaped = false;
            }
            '\\' if quoted => {
                cur.push(c);
                escaped = true;
            }
            '"' => {
                cur.push(c);
                quoted = !quoted;
            }
            ';' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
}

/// `key=value` or `key="quoted \" value"`.
fn param(p: &str) -> Option<(String, String)> {
    let (k, v) = p.split_once('=')?;
    let v = v.trim();
    let value = match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    out.extend(chars.next());
                } else {
                    out.push(c);
                }
            }
            out
        }
        None => v.to_owned(),
    };
    Some((k.trim().to_owned(), value))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses the parts of `body`.
pub fn parse<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, MultipartError> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let inner = format!("\r\n--{boundary}");
    let inner = inner.as_bytes();
    // The first delimiter opens the body (a preamble before it is allowed).
    let mut at = if body.starts_with(delimiter) {
        delimiter.len()
    } else {
        find(body, inner).ok_or(MultipartError::Malformed("no boundary"))? + inner.len()
    };
    let mut parts = Vec::new();
    loop {
        let rest = &body[at..];
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        // Transport padding, then the line break after the delimiter.
        let pad = rest.iter().take_while(|&&c| c == b' ' || c == b'\t').count();
        let rest = rest[pad..]
            .strip_prefix(b"\r\n")
            .ok_or(MultipartError::Malformed("no line break after boundary"))?;
        at += pad + 2;
        if parts.len() == MAX_PARTS {
            return Err(MultipartError::TooManyParts);
        }
        let head_end = find(rest, b"\r\n\r\n").ok_or(MultipartError::Malformed("part headers never end"))?;
        if head_end > MAX_PART_HEADERS {
            return Err(MultipartError::Malformed("part headers too large"));
        }
        let head = std::str::from_utf8(&rest[..head_end])
            .map_err(|_| MultipartError::Malformed("part headers are not UTF-8"))?;
        let data_start = at + head_end + 4;
        let data_len =
            find(&body[data_start..], inner).ok_or(MultipartError::Malformed("part never ends"))?;
        let data = &body[data_start..data_start + data_len];
        at = data_start + data_len + inner.len();
        let (mut name, mut filename, mut content_type) = (None, None, None);
        for line in head.split("\r\n") {
            let (key, value) = line.split_once(':').ok_or(MultipartError::Malformed("bad part header"))?;
            if key.trim().eq_ignore_ascii_case("content-disposition") {
                let mut params = split_params(value);
                if !params.next().unwrap_or_default().trim().eq_ignore_ascii_case("form-data") {
                    return Err(MultipartError::Malformed("part is not form-data"));
                }
                for (k, v) in params.filter_map(|p| param(&p)) {
                    if k.eq_ignore_ascii_case("name") {
                        name = Some(v);
                    } else if k.eq_ignore_ascii_case("filename") {
                        filename = Some(v);
                    }
                }
            } else if key.trim().eq_ignore_ascii_case("content-type") {
                content_type = Some(value.trim().to_owned());
            }
        }
        let name = name.ok_or(MultipartError::Malformed("part without a name"))?;
        parts.push(Part { name, filename, content_type, data });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries() {
        assert_eq!(boundary("multipart/form-data; boundary=abc").as_deref(), Ok("abc"));
        assert_eq!(
            boundary("Multipart/Form-Data; charset=utf-8; boundary=\"a b;c\"").as_deref(),
            Ok("a b;c")
        );
        assert_eq!(boundary("application/json"), Err(MultipartError::NotMultipart));
        assert_eq!(boundary("multipart/form-data"), Err(MultipartError::NotMultipart));
        assert_eq!(boundary("multipart/form-data; boundary="), Err(MultipartError::NotMultipart));
        let long = format!("multipart/form-data; boundary={}", "x".repeat(71));
        assert_eq!(boundary(&long), Err(MultipartError::NotMultipart));
    }

    #[test]
    fn boundaries_from_the_body() {
        let body =
            b"------WebKitFormBoundaryAbC123\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n";
        assert_eq!(boundary_from_body(body).as_deref(), Some("----WebKitFormBoundaryAbC123"));
        assert_eq!(boundary_from_body(b"--a b\r\n").as_deref(), Some("a b"));
        let long = format!("--{}\r\n", "x".repeat(71));
        for bad in [
            &b"{\"image\": 1}"[..],
            b"--\r\n",
            b"--abc",
            b"--abc\rx",
            b"--ab \r\n",
            b"--a\x01\r\n",
            long.as_bytes(),
        ] {
            assert_eq!(boundary_from_body(bad), None, "{bad:?}");
        }
        let seventy = format!("--{}\r\n", "y".repeat(70));
        assert_eq!(boundary_from_body(seventy.as_bytes()).map(|b| b.len()), Some(70));
    }

    #[test]
    fn parts() {
        let body = b"preamble\r\n--XX\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhello\r\n\
--XX\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a \\\"b\\\".png\"\r\n\
Content-Type: image/png\r\n\r\n\x89PNG\r\n--X not the end\r\n--XX--\r\n";
        let parts = parse(body, "XX").expect("parts");
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].name.as_str(), parts[0].data), ("title", &b"hello"[..]));
        assert_eq!(parts[1].filename.as_deref(), Some("a \"b\".png"));
        assert_eq!(parts[1].content_type.as_deref(), Some("image/png"));
        assert_eq!(parts[1].data, b"\x89PNG\r\n--X not the end");
        let empty = b"--XX--\r\n";
        assert_eq!(parse(empty, "XX").map(|p| p.len()), Ok(0));
    }

    #[test]
    fn malformed_bodies_are_refused() {
        for body in [
            &b""[..],
            b"no boundary here",
            b"--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nnever ends",
            b"--XX\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XX--",
            b"--XX\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--XX--",
            b"--XX\r\nno colon\r\n\r\nx\r\n--XX--",
            b"--XXjunk",
        ] {
            assert!(matches!(parse(body, "XX"), Err(MultipartError::Malformed(_))), "{body:?}");
        }
        let many: Vec<u8> = (0..=MAX_PARTS)
            .flat_map(|i| {
                format!("--B\r\nContent-Disposition: form-data; name=\"p{i}\"\r\n\r\nx\r\n").into_bytes()
            })
            .chain(b"--B--".iter().copied())
            .collect();
        assert_eq!(parse(&many, "B"), Err(MultipartError::TooManyParts));
    }
}
