//! A run of lines held in memory (bounded) so they can be converted in sorted
//! order: each line's sort key (`event_simpleName`, `aid`, `timestamp` by
//! default) is found with a cheap scan of its text, the run is sorted by it,
//! and only then are the lines parsed and built into Arrow rows, so the rows
//! of a row group come out ordered without copying any Arrow data. The key is
//! only an ordering hint: the real parse later decides everything else.
//!
//! Pure.

use memchr::memmem::Finder;

/// One line of the run. `keys` are ids of the key values (interned per run,
/// remapped to sorted ranks before sorting) or a parsed number.
#[derive(Debug, Clone, Copy)]
struct Entry {
    line: u64,
    start: u32,
    len: u32,
    keys: [u64; 3],
}

/// Key id of a line without that member: sorts last.
const ABSENT: u64 = u64::MAX;

/// The members a run is sorted by, as they appear in the JSON text.
pub struct SortKeys {
    finders: Vec<Finder<'static>>,
}

impl SortKeys {
    /// Sorted by these members' string values (at most three), in order.
    pub fn new(members: &[&str]) -> Self {
        SortKeys {
            finders: members
                .iter()
                .take(3)
                .map(|m| Finder::new(format!("\"{m}\":\"").as_bytes()).into_owned())
                .collect(),
        }
    }
}

pub struct Run {
    /// The lines' bytes. Reserved once at the budget (a doubling `Vec` would
    /// hold up to twice the budget), grown exactly by a line that straddles it.
    buf: Vec<u8>,
    budget: usize,
    entries: Vec<Entry>,
    /// Bytes the interned key values take, with their map entries.
    interned_bytes: usize,
    /// Per key: distinct text values seen in this run → id (first seen order).
    interned: [rustc_hash::FxHashMap<Vec<u8>, u64>; 3],
}

impl Run {
    /// A run that the caller drains once [`Run::cost`] reaches `budget`.
    pub fn new(budget: usize) -> Self {
        Run {
            buf: Vec::new(),
            budget,
            entries: Vec::new(),
            interned_bytes: 0,
            interned: Default::default(),
        }
    }

    /// Memory the run holds and will cost downstream: the line bytes, plus a
    /// per-line charge (its entry, interned keys, and the row it becomes in
    /// the Arrow builders and the open row group), so a run of millions of
    /// tiny lines is bounded as tightly as a run of long ones.
    pub fn cost(&self) -> usize {
        self.buf.len() + self.entries.len() * LINE_COST + self.interned_bytes
    }

    /// Adds line number `line`.
    pub fn push(&mut self, line: u64, text: &[u8], keys: &SortKeys) {
        if self.buf.capacity() == 0 {
            // Untouched pages cost no memory: a small file only uses what it fills.
            self.buf.reserve_exact(self.budget);
        }
        if self.buf.capacity() - self.buf.len() < text.len() {
            self.buf.reserve_exact(text.len());
        }
        let start = self.buf.len() as u32;
        self.buf.extend_from_slice(text);
        let mut found = [ABSENT; 3];
        for (i, f) in keys.finders.iter().enumerate() {
            let Some(at) = f.find(text) else { continue };
            let from = at + f.needle().len();
            let value = &text[from..from + memchr::memchr(b'"', &text[from..]).unwrap_or(0)];
            // Epoch times (digit strings) sort numerically as they are; text values by rank.
            found[i] =
                if !value.is_empty() && value.len() <= 19 && value.iter().all(u8::is_ascii_digit) {
                    value.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')) | NUMBER
                } else {
                    let next = self.interned[i].len() as u64;
                    match self.interned[i].get(value) {
                        Some(id) => *id,
                        None => {
                            self.interned_bytes += value.len() + INTERNED_COST;
                            self.interned[i].insert(value.to_vec(), next);
                            next
                        }
                    }
                };
        }
        self.entries.push(Entry {
            line,
            start,
            len: text.len() as u32,
            keys: found,
        });
    }

    /// Hands over the lines in sort order (line number breaks ties, so the
    /// order is deterministic) and empties the run; stops at the first error.
    pub fn drain_sorted<E>(
        &mut self,
        mut each: impl FnMut(u64, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        // Text ids become ranks in byte order, so the order does not depend on
        // which value came first.
        for (i, map) in self.interned.iter_mut().enumerate() {
            let mut values: Vec<(&Vec<u8>, &mut u64)> = map.iter_mut().collect();
            values.sort_unstable_by(|a, b| a.0.cmp(b.0));
            let rank_of: rustc_hash::FxHashMap<u64, u64> = values
                .iter()
                .enumerate()
                .map(|(rank, (_, id))| (**id, rank as u64))
                .collect();
            for e in &mut self.entries {
                if e.keys[i] & NUMBER == 0 {
                    e.keys[i] = rank_of.get(&e.keys[i]).copied().unwrap_or(ABSENT);
                }
            }
            map.clear();
        }
        self.entries.sort_unstable_by_key(|e| (e.keys, e.line));
        let buf = &self.buf;
        let mut result = Ok(());
        for e in &self.entries {
            result = each(e.line, &buf[e.start as usize..(e.start + e.len) as usize]);
            if result.is_err() {
                break;
            }
        }
        self.entries.clear();
        self.buf.clear();
        self.interned_bytes = 0;
        result
    }
}

/// Charge per line beyond its bytes: the entry itself and the row's share of
/// the builders and the encoded row group (measured with a run of `{}` lines).
const LINE_COST: usize = std::mem::size_of::<Entry>() + 88;
/// Charge per distinct interned key value beyond its bytes (the map's entry).
const INTERNED_COST: usize = 64;

/// Marks a key that is a parsed number rather than a text rank: numbers sort
/// after text ranks of the same member (a member is normally one or the other).
const NUMBER: u64 = 1 << 62;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_by_keys_then_line() {
        let keys = SortKeys::new(&["event_simpleName", "aid", "timestamp"]);
        let mut run = Run::new(1 << 20);
        let lines: [&[u8]; 5] = [
            br#"{"event_simpleName":"B","aid":"1","timestamp":"100"}"#,
            br#"{"aid":"1","event_simpleName":"A","timestamp":"99"}"#,
            br#"{"event_simpleName":"A","aid":"1","timestamp":"1000"}"#,
            br#"{"no":"keys"}"#,
            br#"{"event_simpleName":"A","aid":"0","timestamp":"5"}"#,
        ];
        for (i, l) in lines.iter().enumerate() {
            run.push(i as u64 + 1, l, &keys);
        }
        let mut order = vec![];
        run.drain_sorted(|n, _| {
            order.push(n);
            Ok::<_, ()>(())
        })
        .unwrap();
        assert_eq!(order, vec![5, 2, 3, 1, 4]);
        assert_eq!(run.cost(), 0);
    }
}
