//! `falconry schema athena|glue|docs`: what the forwarder's schema definition
//! generates (the DDL, the CloudFormation Glue tables, the column reference).

use crate::cli::SchemaCommand;
use anyhow::Context;
use falconry_forwarder::schema::{self, athena, docs, glue};

pub fn run(command: SchemaCommand) -> anyhow::Result<()> {
    let tables: Vec<_> = schema::table_names()
        .into_iter()
        .map(|t| &schema::table(t).def)
        .collect();
    match command {
        SchemaCommand::Athena {
            location,
            database,
            since,
            findings,
        } => {
            let mut target = athena::Target {
                database,
                since,
                ..athena::Target::default()
            };
            if let Some(l) = location {
                target.location = l.trim_end_matches('/').to_owned();
            }
            if findings {
                print!("{}", athena::findings_ddl(&target));
            } else {
                print!("{}", athena::ddl(&tables, &target));
            }
        }
        SchemaCommand::Docs => print!("{}", docs::markdown(&tables)),
        SchemaCommand::Glue { write } => {
            let block = glue::resources(&tables, &glue::Target::default());
            match write {
                None => print!("{block}"),
                Some(path) => {
                    let template = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    let spliced = glue::splice(&template, &block)
                        .with_context(|| format!("{}", path.display()))?;
                    std::fs::write(&path, spliced)
                        .with_context(|| format!("writing {}", path.display()))?;
                }
            }
        }
    }
    Ok(())
}
