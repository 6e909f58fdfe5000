//! The real-shaped Event Streams samples in `../shared/samples/stream/` (not
//! part of the project: their licence does not allow it) through the
//! enricher's reading, policy and rendering: every alert event normalises
//! with a name, an id, a host or an incident, and renders to a body within
//! GitHub's limit with its marker. `scripts/test.sh` sets FALCONRY_SAMPLES
//! (`none` when they are absent).

use falconry_enricher::alert::normalize::{Selection, normalize};
use falconry_enricher::alert::{AlertKind, Enrichment};
use falconry_enricher::policy::Policy;
use falconry_enricher::render::{IssueView, Renderer};
use std::collections::BTreeMap;

#[test]
fn real_shaped_stream_samples_normalise_and_render() {
    let Some(dir) = falconry_testkit::samples::dir("stream") else {
        return;
    };
    let sel = Selection {
        extra: vec![
            "CustomerIOCEvent".into(),
            "OverwatchGenericDetectionSummaryEvent".into(),
        ],
    };
    let policy = Policy::load(&[], &[]).unwrap();
    let renderer = Renderer::new(None).unwrap();
    let mut kinds: BTreeMap<&'static str, usize> = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("samples dir") {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "log") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // NDJSON files, and pretty-printed objects one after another.
        let values: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&text)
            .into_iter()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for v in values {
            let Some(alert) = normalize(&v, &sel, Default::default())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            else {
                continue;
            };
            *kinds.entry(alert.kind.as_str()).or_default() += 1;
            assert!(!alert.name.is_empty() && !alert.id.is_empty(), "{alert:?}");
            // Incidents and OverWatch leads may name no host at all.
            if !matches!(alert.kind, AlertKind::Incident | AlertKind::Other) {
                assert!(
                    alert.host.aid.is_some()
                        || alert.host.hostname.is_some()
                        || alert.user.name.is_some(),
                    "{}: no host nor user: {alert:?}",
                    path.display()
                );
            }
            assert!(
                alert.time_ms > 1_000_000_000_000,
                "{}: time {}",
                path.display(),
                alert.time_ms
            );
            let decision = policy.decide(&alert, &Enrichment::default());
            assert!(
                decision.policy_error.is_none(),
                "{:?}",
                decision.policy_error
            );
            let raw = v.to_string();
            let view = IssueView {
                alert: &alert,
                decision: &decision,
                enrichment: &Enrichment::default(),
                occurrences: 1,
                first_seen_ms: alert.time_ms,
                last_seen_ms: alert.time_ms,
                fingerprint: "0123456789abcdef0123456789abcdef",
                previous: None,
                athena_query: None,
                raw_event: &raw,
                version: "test",
            };
            let body = renderer.issue_body(&view).unwrap();
            assert!(body.chars().count() <= 65_536);
            assert!(body.contains("falconry:fingerprint=0123456789abcdef0123456789abcdef"));
        }
    }
    eprintln!("alerts per kind in the samples: {kinds:?}");
    for k in ["epp", "idp", "legacy", "incident", "other"] {
        assert!(
            kinds.get(k).copied().unwrap_or(0) > 0,
            "{k} missing: {kinds:?}"
        );
    }
}
