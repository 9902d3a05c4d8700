//! The tus 1.0.0 resumable-upload protocol (<https://tus.io/protocols/resumable-upload>),
//! sans I/O: a request's headers become a typed request (`parse_creation`, `parse_patch`),
//! an upload's state checks what a PATCH may do (`Upload::check_patch`), and every refusal
//! is an `Error` with its status code. No HTTP framework, no file, no clock: the server
//! (issue 11's drop) reads headers through a closure and writes bytes itself, inside the
//! one door.
//!
//! Extensions covered: creation, creation-with-upload, creation-defer-length, expiration
//! (the server's to enforce), checksum (`sha1`, which the spec requires, and `sha256`),
//! termination, concatenation.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use base64::Engine as _;

/// The protocol version spoken.
pub const VERSION: &str = "1.0.0";
/// The extensions a server built on this crate announces (`Tus-Extension`).
pub const EXTENSIONS: &str =
    "creation,creation-with-upload,creation-defer-length,expiration,checksum,termination,concatenation";
/// The checksum algorithms supported (`Tus-Checksum-Algorithm`).
pub const CHECKSUM_ALGORITHMS: &str = "sha1,sha256";
/// The media type of a PATCH body.
pub const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";
/// The most metadata pairs and bytes a creation may carry (a guard, not the spec's).
pub const MAX_METADATA_PAIRS: usize = 32;
/// The longest `Upload-Metadata` header accepted, in bytes.
pub const MAX_METADATA_BYTES: usize = 4096;

/// Why a request is refused, with its status code (`status`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `Tus-Resumable` is missing or not 1.0.0 (412, with `Tus-Version`).
    #[error("this server speaks tus {VERSION}: send Tus-Resumable: {VERSION}")]
    Version,
    /// A header is malformed (400).
    #[error("header {name}: {why}")]
    BadHeader {
        /// The header.
        name: &'static str,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A PATCH body that is not `application/offset+octet-stream` (415).
    #[error("a PATCH body is sent as Content-Type: {OFFSET_OCTET_STREAM}")]
    MediaType,
    /// A PATCH at another offset than the upload's (409).
    #[error("the upload is at offset {expected}, not {given}: ask HEAD and resume from there")]
    Offset {
        /// The upload's offset.
        expected: u64,
        /// The request's.
        given: u64,
    },
    /// A length above what the server takes, or past the declared length (413).
    #[error("{0}")]
    TooLarge(String),
    /// An unsupported checksum algorithm (400).
    #[error("checksum algorithm '{0}' is not supported: use sha1 or sha256")]
    ChecksumAlgorithm(String),
    /// The body does not have the checksum it was sent with (460); the offset did not move.
    #[error("the chunk does not match its checksum: it was not kept, send it again")]
    ChecksumMismatch,
    /// An operation an upload does not allow (403: PATCH of a final concatenation, a
    /// length set twice).
    #[error("{0}")]
    Forbidden(&'static str),
}

impl Error {
    /// The HTTP status of this refusal.
    pub fn status(&self) -> u16 {
        match self {
            Error::Version => 412,
            Error::BadHeader { .. } | Error::ChecksumAlgorithm(_) => 400,
            Error::MediaType => 415,
            Error::Offset { .. } => 409,
            Error::TooLarge(_) => 413,
            Error::ChecksumMismatch => 460,
            Error::Forbidden(_) => 403,
        }
    }
}

/// A non-negative decimal integer, as tus headers carry them: digits only, no sign, no
/// spaces, no leading `+`, at most 19 digits (within `i64`, as stores and SQL take it).
fn number(name: &'static str, v: &str) -> Result<u64, Error> {
    if v.is_empty() || v.len() > 19 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::BadHeader { name, why: "expected a non-negative integer" });
    }
    v.parse::<u64>().ok().filter(|n| *n <= i64::MAX as u64).ok_or(Error::BadHeader { name, why: "out of range" })
}

/// Checks `Tus-Resumable` (every request but OPTIONS carries it).
pub fn check_version(tus_resumable: Option<&str>) -> Result<(), Error> {
    match tus_resumable {
        Some(VERSION) => Ok(()),
        _ => Err(Error::Version),
    }
}

/// How long an upload will be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// Declared at creation.
    Known(u64),
    /// To be declared by a later PATCH (`Upload-Defer-Length: 1`).
    Deferred,
}

/// What an upload is part of (concatenation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Concat {
    /// A whole upload.
    None,
    /// A part, to be concatenated by a final upload.
    Partial,
    /// The concatenation of these uploads (their URLs or paths, in order).
    Final(Vec<String>),
}

/// A creation request (POST).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creation {
    /// Its length; `None` for a final concatenation (the parts' sum).
    pub length: Option<Length>,
    /// `Upload-Metadata`, decoded: keys and their values (absent values are empty).
    pub metadata: Vec<(String, Vec<u8>)>,
    /// Concatenation.
    pub concat: Concat,
}

/// Parses a creation's headers (`header(name)` returns a header's value, names in lower
/// case). `max_size` is the most the server takes (`Tus-Max-Size`).
pub fn parse_creation<'a>(header: impl Fn(&str) -> Option<&'a str>, max_size: u64) -> Result<Creation, Error> {
    check_version(header("tus-resumable"))?;
    let concat = match header("upload-concat") {
        None => Concat::None,
        Some("partial") => Concat::Partial,
        Some(v) => {
            let list = v
                .strip_prefix("final;")
                .ok_or(Error::BadHeader { name: "Upload-Concat", why: "expected partial or final;URL URL..." })?;
            let parts: Vec<String> = list.split(' ').filter(|p| !p.is_empty()).map(str::to_owned).collect();
            if parts.is_empty() || parts.len() > 1024 {
                return Err(Error::BadHeader { name: "Upload-Concat", why: "a final upload names 1 to 1024 parts" });
            }
            Concat::Final(parts)
        }
    };
    let length = match (header("upload-length"), header("upload-defer-length"), &concat) {
        (None, None, Concat::Final(_)) => None,
        (Some(_), _, Concat::Final(_)) | (_, Some(_), Concat::Final(_)) => {
            return Err(Error::BadHeader {
                name: "Upload-Length",
                why: "a final concatenation takes its length from its parts",
            });
        }
        (Some(_), Some(_), _) => {
            return Err(Error::BadHeader {
                name: "Upload-Defer-Length",
                why: "give Upload-Length or defer it, not both",
            });
        }
        (Some(v), None, _) => {
            let n = number("Upload-Length", v)?;
            if n > max_size {
                return Err(Error::TooLarge(format!("{n} bytes is more than this upload may hold ({max_size})")));
            }
            Some(Length::Known(n))
        }
        (None, Some("1"), _) => Some(Length::Deferred),
        (None, Some(_), _) => return Err(Error::BadHeader { name: "Upload-Defer-Length", why: "the only value is 1" }),
        (None, None, _) => {
            return Err(Error::BadHeader { name: "Upload-Length", why: "give the length, or Upload-Defer-Length: 1" });
        }
    };
    let metadata = match header("upload-metadata") {
        None => Vec::new(),
        Some(v) => parse_metadata(v)?,
    };
    Ok(Creation { length, metadata, concat })
}

/// Parses `Upload-Metadata`: comma-separated pairs `key base64value` (the value may be
/// absent); keys are unique, non-empty, printable ASCII without space or comma.
pub fn parse_metadata(v: &str) -> Result<Vec<(String, Vec<u8>)>, Error> {
    const NAME: &str = "Upload-Metadata";
    if v.len() > MAX_METADATA_BYTES {
        return Err(Error::BadHeader { name: NAME, why: "too long" });
    }
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    if v.trim().is_empty() {
        return Ok(out);
    }
    for pair in v.split(',') {
        let pair = pair.trim();
        let (key, value) = match pair.split_once(' ') {
            Some((k, val)) => (k, Some(val)),
            None => (pair, None),
        };
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
            return Err(Error::BadHeader {
                name: NAME,
                why: "a key is empty or holds a character other than printable ASCII",
            });
        }
        if out.iter().any(|(k, _)| k == key) {
            return Err(Error::BadHeader { name: NAME, why: "a key appears twice" });
        }
        let value = match value {
            None => Vec::new(),
            Some(b64) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| Error::BadHeader { name: NAME, why: "a value is not base64" })?,
        };
        out.push((key.to_owned(), value));
        if out.len() > MAX_METADATA_PAIRS {
            return Err(Error::BadHeader { name: NAME, why: "too many pairs" });
        }
    }
    Ok(out)
}

/// A checksum algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// SHA-1 (the spec requires servers to support it; tuspy sends only it).
    Sha1,
    /// SHA-256.
    Sha256,
}

impl Algorithm {
    /// The digest's length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
        }
    }
}

/// A chunk's checksum (`Upload-Checksum: sha1 base64digest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    /// Its algorithm.
    pub algorithm: Algorithm,
    /// The digest the chunk must have.
    pub digest: Vec<u8>,
}

impl Checksum {
    /// Whether `digest` (computed over the chunk received) is this one, compared in
    /// constant time.
    pub fn matches(&self, digest: &[u8]) -> bool {
        self.digest.len() == digest.len() && self.digest.iter().zip(digest).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// Parses `Upload-Checksum`.
pub fn parse_checksum(v: &str) -> Result<Checksum, Error> {
    const NAME: &str = "Upload-Checksum";
    let (algo, b64) = v.split_once(' ').ok_or(Error::BadHeader { name: NAME, why: "expected ALGORITHM BASE64" })?;
    let algorithm = match algo {
        "sha1" => Algorithm::Sha1,
        "sha256" => Algorithm::Sha256,
        other => return Err(Error::ChecksumAlgorithm(other.chars().take(32).collect())),
    };
    let digest = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| Error::BadHeader { name: NAME, why: "the digest is not base64" })?;
    if digest.len() != algorithm.digest_len() {
        return Err(Error::BadHeader { name: NAME, why: "the digest has the wrong length for its algorithm" });
    }
    Ok(Checksum { algorithm, digest })
}

/// A PATCH request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    /// Where the chunk starts.
    pub offset: u64,
    /// The upload's length, declared now (a deferred upload).
    pub length: Option<u64>,
    /// The chunk's checksum.
    pub checksum: Option<Checksum>,
}

/// Parses a PATCH's headers (also those of a creation-with-upload's body: there the offset
/// is 0 and `Upload-Offset` is not sent).
pub fn parse_patch<'a>(header: impl Fn(&str) -> Option<&'a str>) -> Result<Patch, Error> {
    check_version(header("tus-resumable"))?;
    match header("content-type") {
        Some(t) if t.split(';').next().map(str::trim) == Some(OFFSET_OCTET_STREAM) => {}
        _ => return Err(Error::MediaType),
    }
    let offset = number(
        "Upload-Offset",
        header("upload-offset").ok_or(Error::BadHeader { name: "Upload-Offset", why: "missing" })?,
    )?;
    let length = header("upload-length").map(|v| number("Upload-Length", v)).transpose()?;
    let checksum = header("upload-checksum").map(parse_checksum).transpose()?;
    Ok(Patch { offset, length, checksum })
}

/// An upload's state, as far as the protocol is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// Bytes durably received.
    pub offset: u64,
    /// Its length, once known.
    pub length: Option<u64>,
    /// A final concatenation (never PATCHed).
    pub final_concat: bool,
    /// The most it may hold.
    pub max_size: u64,
}

impl Upload {
    /// A new upload from its creation.
    pub fn new(c: &Creation, max_size: u64) -> Upload {
        let length = match c.length {
            Some(Length::Known(n)) => Some(n),
            _ => None,
        };
        Upload { offset: 0, length, final_concat: matches!(c.concat, Concat::Final(_)), max_size }
    }

    /// Whether every byte arrived.
    pub fn complete(&self) -> bool {
        self.length == Some(self.offset)
    }

    /// Checks a PATCH before its body is read, and applies its declared length; returns how
    /// many bytes the body may carry at most (the body must stop there: a longer one is
    /// refused without keeping the excess).
    pub fn check_patch(&mut self, p: &Patch) -> Result<u64, Error> {
        if self.final_concat {
            return Err(Error::Forbidden("a final concatenation is made of its parts: it takes no PATCH"));
        }
        if p.offset != self.offset {
            return Err(Error::Offset { expected: self.offset, given: p.offset });
        }
        let mut declared_now = false;
        match (self.length, p.length) {
            (Some(known), Some(given)) if known != given => {
                return Err(Error::Forbidden("the upload's length is set already and cannot change"));
            }
            (None, Some(given)) => {
                if given > self.max_size {
                    return Err(Error::TooLarge(format!(
                        "{given} bytes is more than this upload may hold ({})",
                        self.max_size
                    )));
                }
                if given < self.offset {
                    return Err(Error::BadHeader {
                        name: "Upload-Length",
                        why: "less than the bytes already received",
                    });
                }
                self.length = Some(given);
                declared_now = true;
            }
            _ => {}
        }
        // A deferred upload ends with a PATCH that declares its length, its body empty
        // when every byte was sent before (tus-js-client does this).
        if self.complete() && declared_now {
            return Ok(0);
        }
        if self.complete() {
            return Err(Error::Forbidden("the upload is complete"));
        }
        Ok(self.length.unwrap_or(self.max_size) - self.offset)
    }

    /// Notes `n` more bytes durably received (after the chunk was checked and synced).
    pub fn advance(&mut self, n: u64) -> Result<(), Error> {
        let limit = self.length.unwrap_or(self.max_size);
        match self.offset.checked_add(n) {
            Some(end) if end <= limit => {
                self.offset = end;
                Ok(())
            }
            _ => Err(Error::TooLarge(format!("the chunk goes past the upload's end ({limit} bytes)"))),
        }
    }
}

#[cfg(test)]
mod tests;
