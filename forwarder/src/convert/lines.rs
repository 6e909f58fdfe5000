//! Splits a decompressed byte stream into lines with a hard length limit, so
//! one runaway line (or a file without newlines) can never take unbounded
//! memory. A line over the limit is reported with its number, its full length
//! and a bounded prefix; reading continues with the next line.
//!
//! Pure over `std::io::BufRead`.

use std::io::{self, BufRead};

/// One line, without its `\n` (a trailing `\r` is left for the JSON parser,
/// which treats it as whitespace).
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    Text {
        number: u64,
        bytes: &'a [u8],
    },
    TooLong {
        number: u64,
        len: u64,
        prefix: &'a [u8],
    },
}

pub struct Lines<R> {
    inner: R,
    max: usize,
    buf: Vec<u8>,
    /// Bytes of the reader's buffer handed out by the last call (a line that
    /// sat whole in the buffer is returned without copying), consumed on the next.
    pending: usize,
    number: u64,
    /// Total bytes read, newlines included.
    pub bytes_read: u64,
}

/// How much of an over-long line is kept for the quarantine record.
pub const TOO_LONG_PREFIX: usize = 64 * 1024;

impl<R: BufRead> Lines<R> {
    pub fn new(inner: R, max_line_bytes: usize) -> Self {
        Lines {
            inner,
            max: max_line_bytes,
            buf: Vec::new(),
            pending: 0,
            number: 0,
            bytes_read: 0,
        }
    }

    /// The next line, or `None` at the end. Empty lines are skipped (they
    /// carry nothing), but still counted in the line numbers.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        loop {
            if self.pending > 0 {
                self.inner.consume(self.pending);
                self.pending = 0;
            }
            // Fast path: the whole line is in the reader's buffer.
            let (empty, whole) = {
                let available = loop {
                    match self.inner.fill_buf() {
                        Ok(b) => break b,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    }
                };
                let whole = memchr::memchr(b'\n', available)
                    .filter(|i| *i <= self.max)
                    .map(|i| (i, available[..i].iter().all(u8::is_ascii_whitespace)));
                (available.is_empty(), whole)
            };
            if empty {
                return Ok(None);
            }
            if let Some((i, blank)) = whole {
                self.pending = i + 1;
                self.bytes_read += (i + 1) as u64;
                self.number += 1;
                if blank {
                    continue;
                }
                // The buffer is unchanged since the look above; no I/O happens here.
                let available = self.inner.fill_buf()?;
                return Ok(Some(Line::Text {
                    number: self.number,
                    bytes: &available[..i],
                }));
            }
            self.buf.clear();
            let mut total: u64 = 0;
            let mut too_long = false;
            let mut saw_any = false;
            loop {
                let available = match self.inner.fill_buf() {
                    Ok(b) => b,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                if available.is_empty() {
                    break;
                }
                saw_any = true;
                let (chunk, done) = match memchr::memchr(b'\n', available) {
                    Some(i) => (&available[..i], Some(i + 1)),
                    None => (available, None),
                };
                total += chunk.len() as u64;
                if !too_long && self.buf.len() + chunk.len() > self.max {
                    too_long = true;
                    self.buf.truncate(TOO_LONG_PREFIX);
                }
                if too_long {
                    // Keep only a bounded prefix for the quarantine record.
                    let keep = TOO_LONG_PREFIX
                        .saturating_sub(self.buf.len())
                        .min(chunk.len());
                    self.buf.extend_from_slice(&chunk[..keep]);
                } else {
                    self.buf.extend_from_slice(chunk);
                }
                let consumed = done.unwrap_or(available.len());
                self.inner.consume(consumed);
                self.bytes_read += consumed as u64;
                if done.is_some() {
                    break;
                }
            }
            if !saw_any {
                return Ok(None);
            }
            self.number += 1;
            if too_long {
                return Ok(Some(Line::TooLong {
                    number: self.number,
                    len: total,
                    prefix: &self.buf,
                }));
            }
            let is_blank = self.buf.iter().all(u8::is_ascii_whitespace);
            if is_blank {
                continue;
            }
            return Ok(Some(Line::Text {
                number: self.number,
                bytes: &self.buf,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &[u8], max: usize, cap: usize) -> Vec<String> {
        let mut l = Lines::new(io::BufReader::with_capacity(cap, input), max);
        let mut out = vec![];
        while let Some(line) = l.next_line().unwrap() {
            out.push(match line {
                Line::Text { number, bytes } => {
                    format!("{number}:{}", String::from_utf8_lossy(bytes))
                }
                Line::TooLong {
                    number,
                    len,
                    prefix,
                } => format!("{number}:too long {len} ({})", prefix.len()),
            });
        }
        out
    }

    #[test]
    fn splits_and_limits_independent_of_buffer_size() {
        let input = b"a\n\nbb\r\n0123456789\nccc";
        for cap in [1, 2, 3, 7, 64] {
            assert_eq!(
                collect(input, 5, cap),
                vec!["1:a", "3:bb\r", "4:too long 10 (10)", "5:ccc"],
                "buffer capacity {cap}"
            );
        }
    }

    #[test]
    fn too_long_prefix_is_bounded() {
        let mut big = vec![b'x'; TOO_LONG_PREFIX * 3];
        big.extend_from_slice(b"\n{}\n");
        let out = collect(&big, 1000, 4096);
        assert_eq!(
            out,
            vec![
                format!("1:too long {} ({TOO_LONG_PREFIX})", TOO_LONG_PREFIX * 3),
                "2:{}".into()
            ]
        );
    }
}
