//! `falconry fixtures`: the project's synthetic FDR batches, recorded streams
//! benchmark corpus and hostile-input corpus, written to disk.

use crate::cli::FixturesCommand;
use crate::demo;
use anyhow::Context;

pub fn run(command: FixturesCommand) -> anyhow::Result<()> {
    match command {
        FixturesCommand::Fdr {
            out,
            seed,
            files,
            events_per_file,
        } => {
            let written = demo::write_fixtures(&out, seed, files, events_per_file)?;
            println!("{written}");
        }
        FixturesCommand::Stream {
            out,
            seed,
            events,
            partition,
        } => {
            let opts = falconry_fixtures::StreamOptions {
                seed,
                events,
                partition,
                ..Default::default()
            };
            let lines = falconry_fixtures::stream_events(&opts);
            std::fs::write(&out, falconry_fixtures::stream_ndjson(&lines))
                .with_context(|| format!("writing {}", out.display()))?;
            println!(
                "{} events of partition {partition} in {}",
                lines.len(),
                out.display()
            );
        }
        FixturesCommand::Hostile {
            out,
            bomb_lines,
            keys,
            notice_files,
        } => {
            let opts = falconry_fixtures::HostileOptions {
                bomb_lines,
                keys,
                notice_files,
            };
            let paths = falconry_fixtures::write_hostile(&out, opts)
                .with_context(|| format!("writing the hostile corpus to {}", out.display()))?;
            for p in paths {
                println!("{}", p.display());
            }
        }
        FixturesCommand::Corpus {
            out,
            events,
            files,
            seed,
            shape,
        } => {
            let paths = falconry_fixtures::write_corpus_shaped(&out, seed, events, files, shape)
                .with_context(|| format!("writing the corpus to {}", out.display()))?;
            for p in paths {
                println!("{}", p.display());
            }
        }
    }
    Ok(())
}
