//! Where things go: which table a source object feeds, or why it is skipped.
//! The destination keys themselves (raw copy, Parquet files, quarantine
//! object, manifest) are the lake's layout, owned by `falconry_common::lake`
//! and re-exported here.
//!
//! Pure: string functions only.

pub use falconry_common::lake::fdr::table;
pub use falconry_common::lake::{Hour, LOOKUP_KINDS, Layout, OTHER_LOOKUP, file_stem};

/// The Parquet table a source object feeds, or why it is skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Table(&'static str),
    Skip(&'static str),
}

/// Routes a source key: `data/...` and Hive-like batch folders go to `events`,
/// `[tenant/]fdrv2/<kind>/...` to the lookup table of that kind, and `_SUCCESS`
/// markers and folder placeholders are skipped.
pub fn route(key: &str, size: Option<u64>) -> Route {
    let last = key.rsplit('/').next().unwrap_or(key);
    if last == "_SUCCESS" {
        return Route::Skip("_SUCCESS marker");
    }
    if last.is_empty() {
        return Route::Skip("folder placeholder");
    }
    if size == Some(0) {
        return Route::Skip("empty object");
    }
    let segments: Vec<&str> = key.split('/').collect();
    if let Some(i) = segments.iter().position(|s| *s == "fdrv2") {
        let kind = segments.get(i + 1).copied().unwrap_or("");
        return Route::Table(
            LOOKUP_KINDS
                .iter()
                .find(|k| **k == kind)
                .copied()
                .unwrap_or(OTHER_LOOKUP),
        );
    }
    Route::Table(table::EVENTS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            route("data/abc/part-00000.gz", Some(10)),
            Route::Table("events")
        );
        assert_eq!(
            route("tenant1/data/abc/part-00000.gz", None),
            Route::Table("events")
        );
        assert_eq!(
            route(
                "batch=abc/year=2026/month=03/day=14/platform=Win/part-00000.c000.txt.gz",
                None
            ),
            Route::Table("events")
        );
        assert_eq!(
            route("fdrv2/aidmaster/abc/part-00000.gz", None),
            Route::Table("aidmaster")
        );
        assert_eq!(
            route("t/fdrv2/userinfo/abc/part-00000.gz", None),
            Route::Table("userinfo")
        );
        assert_eq!(
            route("fdrv2/brandnew/abc/part-00000.gz", None),
            Route::Table(OTHER_LOOKUP)
        );
        assert!(matches!(
            route("data/abc/_SUCCESS", Some(0)),
            Route::Skip(_)
        ));
        assert!(matches!(route("data/abc/", None), Route::Skip(_)));
        assert!(matches!(
            route("data/abc/part-1.gz", Some(0)),
            Route::Skip(_)
        ));
    }
}

/// The columns other daemons read by name exist in the tables they read.
#[cfg(test)]
mod lake_columns {
    use crate::schema;
    use falconry_common::lake::fdr::{column, table};

    #[test]
    fn every_shared_column_name_is_in_the_schema() {
        let has = |t: &str, c: &str| schema::table(t).def.columns.iter().any(|col| col.name == c);
        for c in column::HISTORY_EVENTS {
            assert!(has(table::EVENTS, c), "events.{c}");
        }
        assert!(has(table::AIDMASTER, column::AID));
        assert!(has(table::AIDMASTER, column::TIME));
        assert!(has(table::USERINFO, column::USER_NAME));
        assert!(has(table::USERINFO, column::USER_SID_READABLE));
        assert!(has(table::USERINFO, column::TIME));
    }

    /// The fixtures generate every lookup kind the lake has a table for (in
    /// their own order, which their seeded data depends on).
    #[test]
    fn fixtures_cover_every_lookup_kind() {
        let mut ours = falconry_common::lake::LOOKUP_KINDS.to_vec();
        let mut theirs = falconry_fixtures::LOOKUP_KINDS.to_vec();
        ours.sort_unstable();
        theirs.sort_unstable();
        assert_eq!(ours, theirs);
    }
}
