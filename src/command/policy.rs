//! `falconry policy eval`: the Rego policy's decision on one alert, as JSON.

use crate::config;
use anyhow::Context;
use falconry_common::config::ConfigError;
use std::path::{Path, PathBuf};

pub fn eval(
    file: Option<&Path>,
    input: &Path,
    policy: Vec<PathBuf>,
    data: Vec<PathBuf>,
) -> anyhow::Result<()> {
    let config = config::load(file, &[])?;
    let e = config.enricher();
    // Policy files given on the command line replace the configured ones (and
    // their data, unless data is given too).
    let (files, data) = match (policy.is_empty(), data.is_empty()) {
        (true, true) => (e.policy.clone(), e.policy_data.clone()),
        (true, false) => (e.policy.clone(), data),
        (false, _) => (policy, data),
    };
    let policy = falconry_enricher::policy::Policy::load(&files, &data)
        .map_err(|err| ConfigError::Invalid(vec![format!("policy: {err}")]))?;
    let text =
        std::fs::read_to_string(input).with_context(|| format!("reading {}", input.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", input.display()))?;
    let input = falconry_enricher::policy::eval_input(&value, &e.event_types)?;
    let decision = policy.evaluate(&input)?;
    println!("{}", serde_json::to_string_pretty(&decision)?);
    Ok(())
}
