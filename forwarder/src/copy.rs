//! Copying one source object into the raw bucket, byte for byte and verified,
//! while the same bytes feed the converter: one read of the source, two
//! consumers. The raw copy becomes visible only when every byte was read and
//! its MD5 and size match the notice (unless checksum mismatches are set to
//! warn); the conversion runs on a blocking thread and its result is only used
//! once the raw copy is durable.

use crate::config::ChecksumMode;
use crate::convert::{self, ConvertOptions, Converted};
use crate::error::FileError;
use crate::notice::FileRef;
use bytes::Bytes;
use falconry_common::Store;
use falconry_common::store::{ObjectReader, ObjectWriter, Written};
use md5::{Digest, Md5};
use std::io::Read;
use tokio::sync::mpsc;

/// What feeds the converter thread; a clean end is explicit, so a dropped
/// sender (a failed download) reads as an error, never as a short file.
enum Feed {
    Data(Bytes),
    End,
}

/// Chunks in flight between the download and the converter.
const FEED_DEPTH: usize = 8;

pub struct Copied {
    pub raw: Written,
    pub converted: Converted,
}

pub struct CopyJob<'a> {
    pub file: &'a FileRef,
    pub table: &'static str,
    /// The store to read from (the notice's bucket, or the configured source).
    pub source: Store,
    /// The key read there: the notice's key, under the source's prefix if it
    /// has one. Everything written is named by `file.key`, the notice's key.
    pub read_key: String,
    pub dest: &'a Store,
    pub raw_key: String,
    pub part_size: usize,
    pub checksum: ChecksumMode,
    pub convert: ConvertOptions,
}

pub async fn copy_and_convert(job: CopyJob<'_>) -> Result<Copied, FileError> {
    let reader = job
        .source
        .get(&job.read_key)
        .await
        .map_err(FileError::Source)?;
    let writer = job
        .dest
        .writer(&job.raw_key, job.part_size)
        .await
        .map_err(FileError::Dest)?;
    stream_through(
        reader,
        Some(writer),
        job.file,
        job.checksum,
        job.table,
        job.convert,
    )
    .await
}

/// Converts an object already in the raw prefix again (replay): the same
/// streaming conversion, without a copy.
pub async fn reconvert(
    dest: &Store,
    raw_key: &str,
    source_key: &str,
    table: &'static str,
    convert: ConvertOptions,
) -> Result<Copied, FileError> {
    let reader = dest.get(raw_key).await.map_err(FileError::Source)?;
    let file = FileRef {
        bucket: String::new(),
        key: source_key.to_owned(),
        size: None,
        md5: None,
    };
    let mut copied =
        stream_through(reader, None, &file, ChecksumMode::Error, table, convert).await?;
    copied.raw.key = raw_key.to_owned();
    Ok(copied)
}

/// Reads `reader` to the end, feeding the converter and, when given, the raw
/// copy; verifies against `file` and makes the copy visible only if it passes.
async fn stream_through(
    mut reader: ObjectReader,
    mut writer: Option<ObjectWriter>,
    file: &FileRef,
    checksum: ChecksumMode,
    table: &'static str,
    opts: ConvertOptions,
) -> Result<Copied, FileError> {
    let key = file.key.clone();
    let (tx, rx) = mpsc::channel::<Feed>(FEED_DEPTH);
    let conv_key = key.clone();
    let conversion = tokio::task::spawn_blocking(move || {
        convert::convert(
            FeedReader {
                rx,
                cur: Bytes::new(),
                ended: false,
            },
            &conv_key,
            table,
            &opts,
        )
    });
    // The raw writer hashes what it stores; without one (replay), hash here.
    let mut md5 = writer.is_none().then(Md5::new);
    let mut size = 0u64;
    let mut feeding = true;
    let abort = |writer: Option<ObjectWriter>| async move {
        if let Some(w) = writer {
            w.abort().await;
        }
    };
    loop {
        let chunk = match reader.next_chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                abort(writer).await;
                drop(tx);
                let _ = conversion.await;
                return Err(FileError::Source(e));
            }
        };
        if let Some(h) = md5.as_mut() {
            h.update(&chunk);
        }
        size += chunk.len() as u64;
        if feeding && tx.send(Feed::Data(chunk.clone())).await.is_err() {
            feeding = false; // the converter stopped (bad input); keep copying
        }
        if let Some(w) = writer.as_mut()
            && let Err(e) = w.write(chunk).await
        {
            abort(writer).await;
            drop(tx);
            let _ = conversion.await;
            return Err(FileError::Dest(e));
        }
    }
    let _ = tx.send(Feed::End).await;
    drop(tx);
    let md5: [u8; 16] = match (md5, &writer) {
        (Some(h), _) => h.finalize().into(),
        (None, Some(w)) => w.md5_so_far(),
        (None, None) => [0; 16],
    };
    if let Some(mismatch) = verify(file, size, md5) {
        match checksum {
            ChecksumMode::Error => {
                abort(writer).await;
                let _ = conversion.await;
                return Err(mismatch);
            }
            ChecksumMode::Warn => {
                tracing::warn!(key = %key, error = %mismatch, "checksum/size mismatch accepted (checksum_mismatch = \"warn\")");
            }
        }
    }
    let raw = match writer {
        Some(w) => w.finish().await.map_err(FileError::Dest)?,
        None => Written {
            key: key.clone(),
            size,
            md5,
        },
    };
    let converted = conversion
        .await
        .map_err(|e| FileError::Internal {
            key: key.clone(),
            message: format!("converter thread: {e}"),
        })?
        .map_err(|source| FileError::Convert {
            key: key.clone(),
            source,
        })?;
    Ok(Copied { raw, converted })
}

/// Compares what was read with what the notice announced.
fn verify(file: &FileRef, size: u64, md5: [u8; 16]) -> Option<FileError> {
    if let Some(expected) = file.size
        && expected != size
    {
        return Some(FileError::Size {
            key: file.key.clone(),
            expected,
            actual: size,
        });
    }
    if let Some(expected) = file.md5
        && expected != md5
    {
        return Some(FileError::Checksum {
            key: file.key.clone(),
            expected: hex::encode(expected),
            actual: hex::encode(md5),
        });
    }
    None
}

/// `Read` over the feed channel, for the blocking converter.
struct FeedReader {
    rx: mpsc::Receiver<Feed>,
    cur: Bytes,
    ended: bool,
}

impl Read for FeedReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            if self.ended {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Feed::Data(b)) => self.cur = b,
                Some(Feed::End) => self.ended = true,
                None => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the download stopped before the end of the object",
                    ));
                }
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        let _ = self.cur.split_to(n);
        Ok(n)
    }
}
