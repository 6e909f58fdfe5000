//! Writing one source file's rows into Parquet files, one per (table, hour)
//! partition, on local temporary files, with bounded memory.
//!
//! Rows arrive in sorted runs (see `run.rs`); the end of a run ends the row
//! group of every open partition, so each row group is sorted by the table's
//! sort columns and its statistics prune well. A partition's rows normally
//! land in one file; a new file (`seq` + 1) starts when a file passes its size
//! bound or when the partition was closed to make room for others. Given the
//! same input the outputs are the same, which keeps re-conversion idempotent.

use super::record::Record;
use super::table_builder::TableBuilder;
use crate::layout::Hour;
use crate::schema::{FIELDS_JSON, FIELDS_KEY, FIELDS_VALUE, SCHEMA_VERSION, Table, fields_column};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use std::fs::File;
use std::path::Path;

/// Rows buffered in Arrow builders before they are encoded.
const BATCH_ROWS: usize = 8192;
/// Line bytes buffered in builders before they are encoded (long lines flush sooner).
const BATCH_BYTES: usize = 8 * 1024 * 1024;
/// Rows of one row group at most (the end of a run normally ends it sooner).
const ROW_GROUP_ROWS: usize = 1024 * 1024;
/// A file passing this size is closed; the partition continues in the next.
const FILE_BYTES: usize = 512 * 1024 * 1024;
/// Partitions open at once; the least recently used is closed past that.
const MAX_OPEN: usize = 4;
/// A column chunk whose distinct values pass this many bytes goes on in
/// plain encoding (parquet's default is 1 MiB). Low-cardinality columns
/// (event names, platforms, most map keys) keep their dictionary; a column
/// of mostly distinct values (command lines, hashes, paths) stops paying for
/// one early. The bench corpora's files come out 3.9 % (mixed) and 5.5 %
/// (sensor) smaller, as zstd compresses the sorted plain values better than a
/// large dictionary page plus its indices, and conversion is no slower.
const DICTIONARY_PAGE_BYTES: usize = 64 * 1024;

/// A finished Parquet file of one partition.
#[derive(Debug)]
pub struct PartFile {
    pub hour: Hour,
    pub seq: u32,
    pub rows: u64,
    pub file: tempfile::NamedTempFile,
}

struct Open {
    hour: Hour,
    seq: u32,
    rows: u64,
    builder: TableBuilder,
    writer: ArrowWriter<File>,
    file: tempfile::NamedTempFile,
    last_used: u64,
}

impl Open {
    /// Encodes the rows the builders hold (or only builds and drops them).
    fn write_batch(&mut self, write: bool) -> Result<(), ParquetError> {
        if self.builder.rows() > 0 {
            let batch = self.builder.finish()?;
            if write {
                self.writer.write(&batch)?;
            }
        }
        Ok(())
    }
}

pub struct PartFiles<'d> {
    table: &'static Table,
    tmp_dir: &'d Path,
    props: WriterProperties,
    open: Vec<Open>,
    done: Vec<PartFile>,
    next_seq: std::collections::HashMap<Hour, u32>,
    tick: u64,
    /// False in the benchmark's `build` stage: batches are built and dropped.
    write: bool,
    pub misfits: u64,
}

impl<'d> PartFiles<'d> {
    pub fn new(
        table: &'static Table,
        tmp_dir: &'d Path,
        source_key: &str,
        zstd_level: i32,
        write: bool,
    ) -> Result<Self, ParquetError> {
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(zstd_level)?))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_dictionary_page_size_limit(DICTIONARY_PAGE_BYTES)
            // Unique per row: a dictionary only costs time before the writer gives it up.
            .set_column_dictionary_enabled(ColumnPath::from("id"), false)
            .set_column_dictionary_enabled(ColumnPath::from(FIELDS_JSON), false)
            // The catch-all's min/max prune nothing (a query reads a map value
            // or a JSON member, never the column's range) and cost a byte
            // compare per value.
            .set_column_statistics_enabled(ColumnPath::from(FIELDS_JSON), EnabledStatistics::None)
            .set_column_statistics_enabled(fields_column(FIELDS_KEY), EnabledStatistics::None)
            .set_column_statistics_enabled(fields_column(FIELDS_VALUE), EnabledStatistics::None)
            .set_key_value_metadata(Some(vec![
                KeyValue::new(
                    "falconry.schema_version".to_owned(),
                    SCHEMA_VERSION.to_string(),
                ),
                KeyValue::new("falconry.table".to_owned(), table.table.to_owned()),
                KeyValue::new("falconry.source_key".to_owned(), source_key.to_owned()),
            ]))
            .build();
        Ok(PartFiles {
            table,
            tmp_dir,
            props,
            open: Vec::new(),
            done: Vec::new(),
            next_seq: Default::default(),
            tick: 0,
            write,
            misfits: 0,
        })
    }

    pub fn append(
        &mut self,
        hour: Hour,
        record: &Record<'_>,
        line_len: usize,
    ) -> Result<(), ParquetError> {
        self.tick += 1;
        let idx = match self.open.iter().position(|o| o.hour == hour) {
            Some(i) => i,
            None => self.open_partition(hour)?,
        };
        let tick = self.tick;
        let o = &mut self.open[idx];
        o.last_used = tick;
        o.builder.append(record, line_len);
        o.rows += 1;
        if o.builder.rows() >= BATCH_ROWS || o.builder.approx_bytes() >= BATCH_BYTES {
            o.write_batch(self.write)?;
        }
        Ok(())
    }

    /// Ends a sorted run: every open partition ends its row group (and starts
    /// a new file once past the size bound).
    pub fn end_run(&mut self) -> Result<(), ParquetError> {
        let mut i = 0;
        while i < self.open.len() {
            let o = &mut self.open[i];
            o.write_batch(self.write)?;
            o.writer.flush()?;
            if o.writer.bytes_written() >= FILE_BYTES {
                self.close(i)?;
            } else {
                i += 1;
            }
        }
        Ok(())
    }

    fn open_partition(&mut self, hour: Hour) -> Result<usize, ParquetError> {
        if self.open.len() >= MAX_OPEN {
            let lru = self
                .open
                .iter()
                .enumerate()
                .min_by_key(|(_, o)| o.last_used)
                .map(|(i, _)| i)
                .unwrap_or(0);
            self.close(lru)?;
        }
        let file = tempfile::Builder::new()
            .prefix("falconry-")
            .suffix(".parquet")
            .tempfile_in(self.tmp_dir)
            .map_err(|e| ParquetError::External(Box::new(e)))?;
        let handle = file
            .reopen()
            .map_err(|e| ParquetError::External(Box::new(e)))?;
        let writer =
            ArrowWriter::try_new(handle, self.table.arrow.clone(), Some(self.props.clone()))?;
        let seq = self.next_seq.entry(hour).or_insert(0);
        let this_seq = *seq;
        *seq += 1;
        self.open.push(Open {
            hour,
            seq: this_seq,
            rows: 0,
            builder: TableBuilder::new(self.table),
            writer,
            file,
            last_used: self.tick,
        });
        Ok(self.open.len() - 1)
    }

    fn close(&mut self, idx: usize) -> Result<(), ParquetError> {
        let mut o = self.open.swap_remove(idx);
        o.write_batch(self.write)?;
        self.misfits += o.builder.misfits;
        let file = o.writer.into_inner()?;
        file.sync_all()
            .map_err(|e| ParquetError::External(Box::new(e)))?;
        self.done.push(PartFile {
            hour: o.hour,
            seq: o.seq,
            rows: o.rows,
            file: o.file,
        });
        Ok(())
    }

    /// Closes every open partition and returns all files, ordered by (hour, seq).
    pub fn finish(mut self) -> Result<(Vec<PartFile>, u64), ParquetError> {
        while !self.open.is_empty() {
            self.close(self.open.len() - 1)?;
        }
        self.done.sort_by_key(|p| (p.hour, p.seq));
        Ok((self.done, self.misfits))
    }
}
