//! The generated files in the repository are exactly what the schema
//! definition generates: nothing about the tables is written twice by hand.

use falconry_forwarder::schema::{self, athena, docs};
use std::path::Path;

fn repo(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn tables() -> Vec<&'static schema::TableSchema> {
    schema::table_names()
        .into_iter()
        .map(|t| &schema::table(t).def)
        .collect()
}

#[test]
fn athena_ddl_file_matches_the_schema_definition() {
    assert!(
        repo("deploy/athena/tables.sql") == athena::ddl(&tables(), &athena::Target::default()),
        "deploy/athena/tables.sql is stale: run `cargo run -- schema athena > deploy/athena/tables.sql`"
    );
    assert!(
        repo("deploy/athena/findings.sql") == athena::findings_ddl(&athena::Target::default()),
        "deploy/athena/findings.sql is stale: run `cargo run -- schema athena --findings > deploy/athena/findings.sql`"
    );
}

#[test]
fn schema_docs_match_the_schema_definition() {
    assert!(
        repo("docs/schema.md") == docs::markdown(&tables()),
        "docs/schema.md is stale: run `cargo run -- schema docs > docs/schema.md`"
    );
}

#[test]
fn every_table_projects_its_partitions() {
    let ddl = athena::ddl(
        &tables(),
        &athena::Target {
            location: "s3://b/p/parquet".into(),
            ..Default::default()
        },
    );
    for t in schema::table_names() {
        assert!(
            ddl.contains(&format!(
                "CREATE EXTERNAL TABLE IF NOT EXISTS `falconry`.`{t}` ("
            )),
            "{t}"
        );
        assert!(
            ddl.contains(&format!(
                "'storage.location.template' = 's3://b/p/parquet/{t}/dt=${{dt}}/hour=${{hour}}'"
            )),
            "{t}"
        );
    }
    assert!(!ddl.contains("MSCK"));
}
