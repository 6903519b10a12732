//! Request body decompression (`Content-Encoding`) with a hard output limit.
//!
//! Bodies are decompressed as streams and reading stops one byte past the
//! limit, so a decompression bomb (a few KiB that inflate to gigabytes) costs
//! at most `limit` bytes of memory and is refused with [`DecodeError::TooLarge`].

use std::io::{self, Read};

/// Why a body could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("body is larger than {limit} bytes once decompressed")]
    TooLarge { limit: usize },
    #[error("corrupt {encoding} body: {reason}")]
    Corrupt {
        encoding: &'static str,
        reason: String,
    },
    #[error("unsupported content encoding {0:?}")]
    Unsupported(String),
    /// The caller's memory budget refused more output (see [`decode_body_with`]).
    #[error("not enough memory to decode the body now")]
    OverBudget,
}

/// A content coding this server decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Coding {
    Gzip,
    Deflate,
    Brotli,
    Zstd,
}

impl Coding {
    fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Brotli => "br",
            Coding::Zstd => "zstd",
        }
    }

    /// `None` for the names that mean "not encoded".
    fn parse(name: &str) -> Result<Option<Coding>, DecodeError> {
        Ok(Some(match name.to_ascii_lowercase().as_str() {
            // old SDKs send a charset here
            "" | "identity" | "utf-8" | "utf8" => return Ok(None),
            "gzip" | "x-gzip" => Coding::Gzip,
            "deflate" => Coding::Deflate,
            "br" => Coding::Brotli,
            "zstd" => Coding::Zstd,
            _ => return Err(DecodeError::Unsupported(name.to_owned())),
        }))
    }
}

/// The codings a `Content-Encoding` names, in the order they were applied.
fn codings(content_encoding: Option<&str>) -> Result<Vec<Coding>, DecodeError> {
    content_encoding
        .unwrap_or("")
        .split(',')
        .map(|name| Coding::parse(name.trim()))
        .filter_map(Result::transpose)
        .collect()
}

/// Decodes a request body according to its `Content-Encoding`; the result is
/// never longer than `limit` bytes.
///
/// A list of codings (`gzip, br`) was applied in that order by the sender and
/// is undone from the last to the first.
pub fn decode_body(
    content_encoding: Option<&str>,
    body: &[u8],
    limit: usize,
) -> Result<Vec<u8>, DecodeError> {
    decode_body_with(content_encoding, body, limit, &mut |_: usize| true)
}

/// Memory accounting for [`decode_body_with`]: asked before the decoder
/// allocates, told when it frees.
pub trait DecodeBudget {
    /// May `bytes` more be allocated? `false` stops decoding with
    /// [`DecodeError::OverBudget`].
    fn reserve(&mut self, bytes: usize) -> bool;
    /// `bytes` asked for earlier are free again.
    fn release(&mut self, bytes: usize);
}

/// A closure that answers [`DecodeBudget::reserve`] and ignores releases.
impl<F: FnMut(usize) -> bool> DecodeBudget for F {
    fn reserve(&mut self, bytes: usize) -> bool {
        self(bytes)
    }

    fn release(&mut self, _: usize) {}
}

/// Like [`decode_body`], asking `budget.reserve(n)` before allocating `n` bytes (the
/// decoder's window, and each new, larger output buffer while the old one
/// still exists); when it answers `false` decoding stops with
/// [`DecodeError::OverBudget`]. A server uses this to account decompressed
/// bytes against a memory budget shared by all requests.
pub fn decode_body_with(
    content_encoding: Option<&str>,
    body: &[u8],
    limit: usize,
    budget: &mut dyn DecodeBudget,
) -> Result<Vec<u8>, DecodeError> {
    let codings = codings(content_encoding)?;

    let mut data: Option<Vec<u8>> = None;
    for coding in codings.into_iter().rev() {
        let input = data.as_deref().unwrap_or(body);
        let decoded = decode_one(coding, input, limit, budget)?;
        // the previous coding's output is dropped now
        if let Some(previous) = data.replace(decoded) {
            budget.release(previous.capacity());
        }
    }
    match data {
        Some(data) => Ok(data),
        None if body.len() > limit => Err(DecodeError::TooLarge { limit }),
        None => Ok(body.to_vec()),
    }
}

/// Decodes the start of a body whose rest has not arrived yet: as much as
/// `prefix` yields, at most `max` bytes. A stream cut short is what a prefix
/// is, not an error; a stream that is corrupt where it has arrived is.
///
/// A server reads the envelope header (and its `dsn`) this way before it
/// reads, and holds memory for, the rest of an unauthenticated body.
pub fn decode_prefix(
    content_encoding: Option<&str>,
    prefix: &[u8],
    max: usize,
) -> Result<Vec<u8>, DecodeError> {
    let codings = codings(content_encoding)?;
    let mut data: Option<Vec<u8>> = None;
    for coding in codings.into_iter().rev() {
        let input = data.as_deref().unwrap_or(prefix);
        data = Some(decode_one_prefix(coding, input, max)?);
    }
    Ok(match data {
        Some(data) => data,
        None => prefix[..prefix.len().min(max)].to_vec(),
    })
}

fn decode_one_prefix(coding: Coding, input: &[u8], max: usize) -> Result<Vec<u8>, DecodeError> {
    if input.is_empty() {
        return Ok(Vec::new());
    }
    let corrupt = |e: io::Error| DecodeError::Corrupt {
        encoding: coding.name(),
        reason: e.to_string(),
    };
    match coding {
        Coding::Gzip => read_prefix(flate2::read::MultiGzDecoder::new(input), max, coding),
        Coding::Deflate if looks_like_zlib(input) => {
            match read_prefix(flate2::read::ZlibDecoder::new(input), max, coding) {
                Err(DecodeError::Corrupt { .. }) => {
                    read_prefix(flate2::read::DeflateDecoder::new(input), max, coding)
                }
                result => result,
            }
        }
        Coding::Deflate => read_prefix(flate2::read::DeflateDecoder::new(input), max, coding),
        // brotli answers "Invalid Data" both for a corrupt stream and for one
        // that stops early; an input that says where it ends tells them apart
        Coding::Brotli => read_prefix(
            brotli::Decompressor::new(EndIsTruncation(input), 4096),
            max,
            coding,
        ),
        Coding::Zstd => {
            let mut decoder = zstd::stream::read::Decoder::new(input).map_err(corrupt)?;
            decoder
                .window_log_max(zstd_window_log(usize::MAX))
                .map_err(corrupt)?;
            read_prefix(decoder, max, coding)
        }
    }
}

/// Reads up to `max` bytes; the end of the input, even in mid-stream, ends
/// the prefix.
fn read_prefix(reader: impl Read, max: usize, coding: Coding) -> Result<Vec<u8>, DecodeError> {
    let mut reader = reader.take(max as u64);
    let mut out = Vec::new();
    let mut chunk = [0u8; 4 * 1024];
    loop {
        match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if truncated(&e) => break,
            Err(e) => {
                return Err(DecodeError::Corrupt {
                    encoding: coding.name(),
                    reason: e.to_string(),
                });
            }
        }
    }
    Ok(out)
}

/// A prefix as a decoder's input: asked for more once all of it is read, it
/// answers `UnexpectedEof` instead of `Ok(0)`. A decoder asks for more only
/// when its stream is not complete, so the error means "stopped early", not
/// "corrupt", whatever the decoder would have made of an end of input.
struct EndIsTruncation<'a>(&'a [u8]);

impl Read for EndIsTruncation<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.0.is_empty() && !buf.is_empty() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.0.read(buf)
    }
}

/// How the decoders report input that stops in mid-stream.
fn truncated(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::UnexpectedEof || e.to_string().contains("incomplete") // zstd: "incomplete frame"
}

fn decode_one(
    coding: Coding,
    input: &[u8],
    limit: usize,
    budget: &mut dyn DecodeBudget,
) -> Result<Vec<u8>, DecodeError> {
    // some clients send an empty body with a coding header
    if input.is_empty() {
        return Ok(Vec::new());
    }
    // the decoder's own buffers (its window) count against the budget too,
    // or a crowd of bombs holds far more than the budget says
    let decoder = decoder_memory(coding, input, limit);
    if !budget.reserve(decoder) {
        return Err(DecodeError::OverBudget);
    }
    let result = decode_with(coding, input, limit, budget);
    budget.release(decoder);
    result
}

fn decode_with(
    coding: Coding,
    input: &[u8],
    limit: usize,
    reserve: &mut dyn DecodeBudget,
) -> Result<Vec<u8>, DecodeError> {
    let corrupt = |e: io::Error| DecodeError::Corrupt {
        encoding: coding.name(),
        reason: e.to_string(),
    };
    match coding {
        Coding::Gzip => read_capped(
            flate2::read::MultiGzDecoder::new(input),
            limit,
            gzip_size(input),
            coding,
            reserve,
        ),
        Coding::Deflate => {
            // RFC 9110 says zlib-wrapped, but many clients send raw deflate
            if looks_like_zlib(input) {
                match read_capped(
                    flate2::read::ZlibDecoder::new(input),
                    limit,
                    None,
                    coding,
                    reserve,
                ) {
                    Err(DecodeError::Corrupt { .. }) => read_capped(
                        flate2::read::DeflateDecoder::new(input),
                        limit,
                        None,
                        coding,
                        reserve,
                    ),
                    result => result,
                }
            } else {
                read_capped(
                    flate2::read::DeflateDecoder::new(input),
                    limit,
                    None,
                    coding,
                    reserve,
                )
            }
        }
        Coding::Brotli => read_capped(
            brotli::Decompressor::new(EndIsTruncation(input), 4096),
            limit,
            None,
            coding,
            reserve,
        ),
        Coding::Zstd => {
            let mut decoder = zstd::stream::read::Decoder::new(input).map_err(corrupt)?;
            // the decoder allocates the window the frame asks for; cap it near
            // the output limit (but allow the 8 MiB any level up to 19 uses)
            decoder
                .window_log_max(zstd_window_log(limit))
                .map_err(corrupt)?;
            let size = zstd::zstd_safe::get_frame_content_size(input)
                .ok()
                .flatten()
                .and_then(|n| usize::try_from(n).ok());
            read_capped(decoder, limit, size, coding, reserve)
        }
    }
}

/// What a decoder allocates for itself, from the window size its stream
/// asks for (never more than the output could need).
fn decoder_memory(coding: Coding, input: &[u8], limit: usize) -> usize {
    const FLATE: usize = 64 * 1024; // 32 KiB window and the inflate state
    match coding {
        Coding::Gzip | Coding::Deflate => FLATE,
        Coding::Brotli => brotli_window(input).min(limit.max(1 << 16)) + FLATE,
        Coding::Zstd => zstd_window(input).min(limit.max(1 << 10)) + 256 * 1024,
    }
}

/// The ring buffer a brotli stream asks for (RFC 7932 section 9.1, WBITS).
fn brotli_window(input: &[u8]) -> usize {
    let Some(&first) = input.first() else {
        return 1 << 16;
    };
    let bits = if first & 1 == 0 {
        16
    } else if (first >> 1) & 7 != 0 {
        17 + u32::from((first >> 1) & 7)
    } else if (first >> 4) & 7 != 0 {
        8 + u32::from((first >> 4) & 7)
    } else {
        17
    };
    // large-window brotli (up to 2^30) is refused by the decoder itself
    1usize << bits.min(24)
}

/// The window a zstd frame asks for (RFC 8878 section 3.1.1.1), at most the
/// largest this server decodes.
fn zstd_window(input: &[u8]) -> usize {
    let max = 1usize << zstd_window_log(usize::MAX);
    let Some(&descriptor) = input.get(4) else {
        return max;
    };
    let single_segment = descriptor & 0x20 != 0;
    if single_segment {
        // the window is the content size, given in the next 1, 2, 4 or 8 bytes
        let size_bytes = match descriptor >> 6 {
            0 => 1,
            1 => 2,
            2 => 4,
            _ => 8,
        };
        let dict_bytes = match descriptor & 3 {
            0 => 0,
            1 => 1,
            2 => 2,
            _ => 4,
        };
        let start = 5 + dict_bytes;
        let Some(raw) = input.get(start..start + size_bytes) else {
            return max;
        };
        let mut size = raw
            .iter()
            .rev()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        if size_bytes == 2 {
            size += 256;
        }
        return usize::try_from(size).unwrap_or(max).min(max);
    }
    let Some(&window_descriptor) = input.get(5) else {
        return max;
    };
    let log = 10 + u32::from(window_descriptor >> 3);
    let base = 1u64 << log.min(63);
    let window = base + (base / 8) * u64::from(window_descriptor & 7);
    usize::try_from(window).unwrap_or(max).min(max)
}

/// A gzip member ends with its uncompressed size modulo 2^32 (RFC 1952).
fn gzip_size(input: &[u8]) -> Option<usize> {
    let tail: [u8; 4] = input.get(input.len().checked_sub(4)?..)?.try_into().ok()?;
    usize::try_from(u32::from_le_bytes(tail)).ok()
}

/// A zlib stream starts with a two-byte header: method 8 (deflate), a
/// window of at most 32 KiB, and a check making the pair a multiple of 31.
fn looks_like_zlib(input: &[u8]) -> bool {
    match input {
        [cmf, flg, ..] => {
            cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(*cmf) * 256 + u16::from(*flg)) % 31 == 0
        }
        _ => false,
    }
}

fn zstd_window_log(limit: usize) -> u32 {
    let needed = usize::BITS - limit.saturating_sub(1).leading_zeros();
    needed.clamp(23, 27)
}

/// Reads all of `reader`, failing as soon as more than `limit` bytes come
/// out. The buffer grows with the data and never beyond `limit + 1`.
fn read_capped(
    reader: impl Read,
    limit: usize,
    size: Option<usize>,
    coding: Coding,
    budget: &mut dyn DecodeBudget,
) -> Result<Vec<u8>, DecodeError> {
    let cap = (limit as u64).saturating_add(1);
    let mut reader = reader.take(cap);
    // the size the stream announces (gzip's trailer, zstd's frame header),
    // when it has one: one allocation of the right size instead of a
    // doubling buffer, which holds one and a half times the output while it
    // copies; a false size only moves the doubling later
    let mut out = Vec::new();
    if let Some(size) = size.filter(|n| *n > 0) {
        let first = size.min(limit);
        if !budget.reserve(first) {
            return Err(DecodeError::OverBudget);
        }
        out.reserve_exact(first);
    }
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(DecodeError::Corrupt {
                    encoding: coding.name(),
                    reason: e.to_string(),
                });
            }
        };
        if out.len() + n > limit {
            return Err(DecodeError::TooLarge { limit });
        }
        if out.capacity() - out.len() < n {
            // double as usual, but never past the limit; the new buffer is
            // allocated while the old one is still there: all of it is
            // asked for, and the old one given back once it is gone
            let target = (out.capacity() * 2).max(out.len() + n).min(limit);
            let old = out.capacity();
            if !budget.reserve(target) {
                return Err(DecodeError::OverBudget);
            }
            out.reserve_exact(target - out.len());
            budget.release(old);
        }
        out.extend_from_slice(&chunk[..n]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    const TEXT: &[u8] = b"{\"message\":\"hello hello hello hello hello\",\"level\":\"error\"}\n";

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn raw_deflate(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn brotli(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            w.write_all(data).unwrap();
        }
        out
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        zstd::stream::encode_all(data, 3).unwrap()
    }

    #[test]
    fn no_encoding() {
        for enc in [
            None,
            Some(""),
            Some("identity"),
            Some("UTF-8"),
            Some(" utf-8 "),
        ] {
            assert_eq!(decode_body(enc, TEXT, 1024).unwrap(), TEXT, "{enc:?}");
        }
        assert_eq!(
            decode_body(None, TEXT, 10),
            Err(DecodeError::TooLarge { limit: 10 })
        );
        assert_eq!(decode_body(None, TEXT, TEXT.len()).unwrap(), TEXT);
    }

    #[test]
    fn every_encoding_round_trips() {
        let cases: [(&str, Vec<u8>); 7] = [
            ("gzip", gzip(TEXT)),
            ("x-gzip", gzip(TEXT)),
            ("GZIP", gzip(TEXT)),
            ("deflate", zlib(TEXT)),
            ("deflate", raw_deflate(TEXT)),
            ("br", brotli(TEXT)),
            ("zstd", zstd(TEXT)),
        ];
        for (enc, body) in cases {
            assert_ne!(body, TEXT);
            assert_eq!(decode_body(Some(enc), &body, 1024).unwrap(), TEXT, "{enc}");
            // the exact limit is enough, one byte less is not
            assert_eq!(
                decode_body(Some(enc), &body, TEXT.len()).unwrap(),
                TEXT,
                "{enc}"
            );
            assert_eq!(
                decode_body(Some(enc), &body, TEXT.len() - 1),
                Err(DecodeError::TooLarge {
                    limit: TEXT.len() - 1
                }),
                "{enc}"
            );
        }
    }

    #[test]
    fn large_bodies_round_trip() {
        let data: Vec<u8> = (0..3_000_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for (enc, body) in [
            ("gzip", gzip(&data)),
            ("deflate", raw_deflate(&data)),
            ("br", brotli(&data)),
            ("zstd", zstd(&data)),
        ] {
            assert_eq!(
                decode_body(Some(enc), &body, data.len()).unwrap(),
                data,
                "{enc}"
            );
        }
    }

    #[test]
    fn a_list_is_undone_in_reverse() {
        // sender applied gzip first, then br
        let body = brotli(&gzip(TEXT));
        assert_eq!(decode_body(Some("gzip, br"), &body, 1024).unwrap(), TEXT);
        assert!(matches!(
            decode_body(Some("br, gzip"), &body, 1024),
            Err(DecodeError::Corrupt {
                encoding: "gzip",
                ..
            })
        ));
        assert_eq!(
            decode_body(Some("identity, gzip"), &gzip(TEXT), 1024).unwrap(),
            TEXT
        );
    }

    #[test]
    fn concatenated_gzip_members() {
        let mut body = gzip(b"hello ");
        body.extend(gzip(b"world"));
        assert_eq!(
            decode_body(Some("gzip"), &body, 100).unwrap(),
            b"hello world"
        );
    }

    #[test]
    fn unsupported_encodings() {
        for enc in ["compress", "lzma", "gzip, sdch"] {
            assert!(
                matches!(
                    decode_body(Some(enc), TEXT, 1024),
                    Err(DecodeError::Unsupported(_))
                ),
                "{enc}"
            );
        }
        assert_eq!(
            decode_body(Some("compress"), TEXT, 1024),
            Err(DecodeError::Unsupported("compress".into()))
        );
    }

    #[test]
    fn corrupt_input() {
        let truncate = |mut v: Vec<u8>| {
            v.truncate(v.len() / 2);
            v
        };
        let cases: Vec<(&str, &'static str, Vec<u8>)> = vec![
            ("gzip", "gzip", TEXT.to_vec()),
            ("gzip", "gzip", truncate(gzip(TEXT))),
            ("deflate", "deflate", vec![0xff; 40]),
            ("deflate", "deflate", truncate(zlib(TEXT))),
            ("br", "br", TEXT.to_vec()),
            ("br", "br", truncate(brotli(TEXT))),
            ("zstd", "zstd", TEXT.to_vec()),
            ("zstd", "zstd", truncate(zstd(TEXT))),
        ];
        for (enc, name, body) in cases {
            let result = decode_body(Some(enc), &body, 1024);
            assert!(
                matches!(&result, Err(DecodeError::Corrupt { encoding, .. }) if *encoding == name),
                "{enc} {body:?}: {result:?}"
            );
        }
    }

    #[test]
    fn empty_body_with_an_encoding() {
        for enc in ["gzip", "deflate", "br", "zstd"] {
            assert_eq!(decode_body(Some(enc), b"", 10).unwrap(), b"", "{enc}");
        }
    }

    /// Streams `total` zeros through `encoder` in small chunks, so neither
    /// the input nor the output is ever held in memory as a whole.
    fn zeros_into<W: Write>(mut encoder: W, total: u64) -> W {
        let chunk = [0u8; 64 * 1024];
        let mut left = total;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            encoder.write_all(&chunk[..n]).unwrap();
            left -= n as u64;
        }
        encoder
    }

    #[test]
    fn a_gzip_bomb_is_refused() {
        const GIB: u64 = 1 << 30;
        let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let bomb = zeros_into(encoder, GIB).finish().unwrap();
        assert!(bomb.len() < 8 << 20, "bomb is {} bytes", bomb.len());
        let limit = 10 << 20;
        assert_eq!(
            decode_body(Some("gzip"), &bomb, limit),
            Err(DecodeError::TooLarge { limit })
        );
    }

    #[test]
    fn bombs_of_every_encoding_are_refused() {
        const SIZE: u64 = 64 << 20;
        let limit = 1 << 20;
        let deflate = zeros_into(
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast()),
            SIZE,
        )
        .finish()
        .unwrap();
        let br = {
            let mut out = Vec::new();
            zeros_into(brotli::CompressorWriter::new(&mut out, 4096, 1, 22), SIZE);
            out
        };
        let zst = zeros_into(
            zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap(),
            SIZE,
        )
        .finish()
        .unwrap();
        for (enc, body) in [("deflate", deflate), ("br", br), ("zstd", zst)] {
            assert!(body.len() < 1 << 20, "{enc}: {}", body.len());
            assert_eq!(
                decode_body(Some(enc), &body, limit),
                Err(DecodeError::TooLarge { limit }),
                "{enc}"
            );
        }
    }

    #[test]
    fn the_buffer_never_outgrows_the_limit() {
        let data = vec![7u8; 100_000];
        let out = read_capped(&data[..], 100_000, None, Coding::Gzip, &mut |_| true).unwrap();
        assert!(out.capacity() <= 100_000, "{}", out.capacity());
        assert_eq!(out, data);
    }

    #[test]
    fn the_budget_sees_every_growth_and_can_refuse() {
        let data = vec![7u8; 300_000];
        let mut asked = 0usize;
        let out = decode_body_with(Some("gzip"), &gzip(&data), 1 << 20, &mut |n| {
            asked += n;
            true
        })
        .unwrap();
        assert_eq!(out, data);
        assert!(asked >= data.len() && asked <= 2 * data.len(), "{asked}");
        let mut left = 100_000usize;
        let err = decode_body_with(Some("gzip"), &gzip(&data), 1 << 20, &mut |n| {
            if n > left {
                return false;
            }
            left -= n;
            true
        })
        .unwrap_err();
        assert_eq!(err, DecodeError::OverBudget);
    }

    #[test]
    fn zstd_window_follows_the_limit() {
        assert_eq!(zstd_window_log(1 << 20), 23);
        assert_eq!(zstd_window_log((1 << 25) + 1), 26);
        assert_eq!(zstd_window_log(200 << 20), 27);
        assert_eq!(zstd_window_log(usize::MAX), 27);
        assert_eq!(zstd_window_log(0), 23);
    }

    /// The first line of a body that has only partly arrived, in every
    /// coding: what a server reads before it knows the client's key.
    #[test]
    fn a_prefix_decodes_as_far_as_it_has_arrived() {
        let mut text = b"{\"dsn\":\"http://k@h/1\"}\n".to_vec();
        // incompressible filler, so the encoded stream is long
        let mut x: u32 = 7;
        for _ in 0..200_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            text.push(b'a' + (x >> 24) as u8 % 26);
        }
        let cases: [(&str, Vec<u8>); 5] = [
            ("gzip", gzip(&text)),
            ("deflate", zlib(&text)),
            ("deflate", raw_deflate(&text)),
            ("br", brotli(&text)),
            ("zstd", zstd(&text)),
        ];
        for (coding, encoded) in cases {
            // zstd gives nothing of a block until the whole block is there
            // (up to 128 KiB of output): cut past the first one
            let cut = &encoded[..encoded.len() * 3 / 4];
            let prefix = decode_prefix(Some(coding), cut, 64 * 1024).unwrap();
            assert!(
                prefix.starts_with(b"{\"dsn\":\"http://k@h/1\"}\n"),
                "{coding}: {:?}",
                String::from_utf8_lossy(&prefix[..prefix.len().min(40)])
            );
            assert!(prefix.len() <= 64 * 1024, "{coding}: {}", prefix.len());
        }
        assert_eq!(decode_prefix(None, b"abc\ndef", 5).unwrap(), b"abc\nd");
        assert!(matches!(
            decode_prefix(
                Some("gzip"),
                b"\x1f\x8b\x08\x00garbage that is no deflate",
                100
            ),
            Err(DecodeError::Corrupt { .. })
        ));
    }

    /// Found by fuzzing (fuzz/regressions/decode/): a brotli body cut before
    /// its end was "corrupt" whenever the part that had arrived decoded to
    /// less than `max`, so an unauthenticated br envelope arriving in two
    /// pieces was refused. Every cut of a valid stream, in every coding, is a
    /// prefix of the text.
    #[test]
    fn every_cut_of_a_valid_stream_is_a_prefix() {
        let text = br#"{"dsn":"https://e12d836b15bb49d7bbf99e64295d995b@h/42","sent_at":"2024-02-27T14:26:53.408Z"}
{"type":"event","length":52}
{"message":"hello hello hello hello","level":"error"}
"#;
        let cases: [(&str, Vec<u8>); 5] = [
            ("gzip", gzip(text)),
            ("deflate", zlib(text)),
            ("deflate", raw_deflate(text)),
            ("br", brotli(text)),
            ("zstd", zstd(text)),
        ];
        for (coding, encoded) in cases {
            for cut in 0..=encoded.len() {
                let prefix = decode_prefix(Some(coding), &encoded[..cut], 1024)
                    .unwrap_or_else(|e| panic!("{coding}, {cut} of {}: {e}", encoded.len()));
                assert!(text.starts_with(&prefix), "{coding}, {cut}: {prefix:?}");
            }
            let whole = decode_prefix(Some(coding), &encoded, 1024).unwrap();
            assert_eq!(whole, text, "{coding}");
        }
        // and a stream that is corrupt where it has arrived still is
        let mut broken = brotli(text);
        broken.truncate(broken.len() / 2);
        broken.extend_from_slice(&[0xff; 8]);
        assert!(matches!(
            decode_prefix(Some("br"), &broken, 1024),
            Err(DecodeError::Corrupt { .. })
        ));
    }

    /// A decoder's own window is paid from the budget before it allocates.
    #[test]
    fn decoder_windows_count_against_the_budget() {
        let big = vec![b'z'; 4 << 20];
        let encoded = zstd(&big);
        let window = zstd_window(&encoded);
        assert!(window >= 1 << 20, "{window}");
        let mut asked = Vec::new();
        decode_body_with(Some("zstd"), &encoded, 8 << 20, &mut |n| {
            asked.push(n);
            true
        })
        .unwrap();
        assert!(asked[0] >= window, "the window first: {asked:?}");
        // a budget without room for the window refuses before decoding
        let refused = decode_body_with(Some("zstd"), &encoded, 8 << 20, &mut |n| n < window);
        assert_eq!(refused, Err(DecodeError::OverBudget));
        assert_eq!(
            brotli_window(&brotli(b"small")),
            brotli_window(&brotli(b"small"))
        );
        assert!(brotli_window(&brotli(&big)) <= 1 << 24);
    }
}
