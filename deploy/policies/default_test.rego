# Tests of the default policy (default.rego), OPA style: every rule named
# test_* must be true. `cargo test -p falconry-enricher` runs them (the Rust
# test in enricher/src/policy.rs loads every *_test.rego in this folder and
# evaluates each test_* rule, found as a line starting with `test_`).
#
# They only exercise the policy through data.falconry.decision and
# data.falconry.config_errors, with `with input as` and `with data... as`;
# they must not depend on routing.json (an example, not the default).
package falconry_test

import data.falconry
import rego.v1

# ---------------------------------------------------------------------------
# Fixtures

# An EPP detection as the enricher serialises it (enricher/src/alert/model.rs).
base_alert := {
	"kind": "epp",
	"event_type": "EppDetectionSummaryEvent",
	"id": "ldt:0a1b2c3d4e5f60718293a4b5c6d7e8f9:4295123456",
	"cid": "1234567890abcdef1234567890abcdef",
	"name": "CredentialDumping",
	"description": "A process accessed LSASS memory.",
	"pattern_id": "10123",
	"severity": {"score": 70, "level": "high"},
	"time_ms": 1700000000000,
	"start_ms": null,
	"end_ms": null,
	"host": {
		"aid": "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
		"hostname": "WS-0042",
		"domain": "CORP",
		"local_ip": "10.0.0.42",
		"external_ip": "203.0.113.7",
		"mac": "00-11-22-33-44-55",
		"groups": ["aaaa0000aaaa0000aaaa0000aaaa0000"],
		"tags": ["FalconGroupingTags/Workstations"],
		"others": [],
	},
	"user": {"name": "jdoe", "domain": "CORP", "sid": "S-1-5-21-1-2-3-1104", "others": []},
	"process": {
		"file_name": "procdump64.exe",
		"file_path": "C:\\Temp\\procdump64.exe",
		"command_line": "procdump64.exe -ma lsass.exe out.dmp",
		"sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"md5": null,
		"process_id": "123456789",
	},
	"parent": {"file_name": "cmd.exe", "file_path": null, "command_line": null, "sha256": null, "md5": null, "process_id": null},
	"grandparent": {"file_name": null, "file_path": null, "command_line": null, "sha256": null, "md5": null, "process_id": null},
	"ips": [],
	"domains": [],
	"hashes": [],
	"connections": [],
	"ioc": null,
	"mitre": [{
		"tactic": "Credential Access",
		"tactic_id": "TA0006",
		"technique": "OS Credential Dumping",
		"technique_id": "T1003",
	}],
	"objective": "Gain Access",
	"disposition": null,
	"console_url": null,
	"origin": {"object": "stream/2025/01/01/batch.json.gz", "partition": 0, "offset": 42, "line": 1},
}

alert(overrides) := object.union(base_alert, overrides)

level(name, score) := {"severity": {"level": name, "score": score}}

idp := {
	"kind": "idp",
	"event_type": "IdpDetectionSummaryEvent",
	"process": {"file_name": null, "file_path": null, "command_line": null, "sha256": null, "md5": null, "process_id": null},
	"mitre": [{"tactic": "Privilege Escalation", "tactic_id": "TA0004", "technique": null, "technique_id": null}],
}

available(data) := {"status": "available", "reason": null, "data": data}

decide(a) := d if {
	d := falconry.decision with input as {"alert": a, "enrichment": {}}
}

decide_enriched(a, enrichment) := d if {
	d := falconry.decision with input as {"alert": a, "enrichment": enrichment}
}

routing := {
	"routes": [
		{
			"name": "finance",
			"match": [
				{"host_groups": ["f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1"]},
				{"tags": ["Finance"]},
			],
			"repo": "example-corp/soc-finance",
			"slack_channel": "#soc-finance",
			"assignees": ["fin-oncall"],
			"labels": ["team:finance"],
		},
		{
			"name": "finance-workstations",
			"match": {"hostnames": ["FIN-*"]},
			"repo": "example-corp/soc-finance",
		},
		{
			"name": "domain-controllers",
			"match": {"hostname_regexes": ["^dc[0-9]{2}$"], "min_severity": "high"},
			"assignees": ["ad-oncall"],
			"labels": ["falconry", "asset:dc"],
		},
		{
			"name": "identity",
			"match": {"kinds": ["idp"]},
			"repo": "example-corp/soc-identity",
		},
		{
			"name": "lab-epp",
			"match": {"tags": ["FalconGroupingTags/Lab"], "kinds": ["epp"]},
			"repo": "example-corp/lab",
		},
	],
	"default": {
		"slack_channel": "#soc-alerts",
		"runbook": "https://wiki.example.com/triage",
	},
}

routed(a) := d if {
	d := falconry.decision with input as {"alert": a, "enrichment": {}}
		with data.falconry.routing as routing
}

errors_for(r) := errs if {
	errs := falconry.config_errors with data.falconry.routing as r
}

settings_errors(s) := errs if {
	errs := falconry.config_errors with data.falconry.settings as s
}

# ---------------------------------------------------------------------------
# Output contract

test_decision_has_every_field if {
	d := decide(base_alert)
	object.keys(d) == {"action", "severity", "reasons", "labels", "assignees", "repo", "slack_channel", "runbook"}
}

test_unrouted_fields_are_null if {
	d := decide(base_alert)
	d.repo == null
	d.slack_channel == null
	d.runbook == null
	d.assignees == []
}

# ---------------------------------------------------------------------------
# Severity and action

test_high_epp_is_an_issue if {
	d := decide(base_alert)
	d.action == "issue"
	d.severity == "high"
	d.reasons[0] == "Falcon rates this detection high (score 70)."
	d.labels == ["falconry", "severity:high", "source:epp", "tactic:credential-access"]
}

test_medium_is_an_issue if {
	d := decide(alert(level("medium", 50)))
	d.action == "issue"
	d.severity == "medium"
}

test_low_is_a_notice if {
	d := decide(alert(level("low", 30)))
	d.action == "notify"
	d.severity == "low"
	some reason in d.reasons
	contains(reason, "Slack notice only")
}

test_informational_is_discarded if {
	d := decide(alert(level("informational", 10)))
	d.action == "discard"
	some reason in d.reasons
	contains(reason, "below the notify threshold (low)")
}

test_informational_kept_when_configured if {
	d := decide(alert(level("informational", 10))) with data.falconry.settings as {"notify_from": "informational"}
	d.action == "notify"
}

test_issue_threshold_is_configurable if {
	d := decide(alert(level("medium", 50))) with data.falconry.settings as {"issue_from": "high"}
	d.action == "notify"
}

test_critical_stays_critical if {
	d := decide(alert(level("critical", 95)))
	d.severity == "critical"
	d.action == "issue"
}

test_intel_malicious_raises_to_high if {
	d := decide_enriched(alert(level("low", 30)), {"intel": available({"verdict": "Malicious"})})
	d.severity == "high"
	d.action == "issue"
	some reason in d.reasons
	startswith(reason, "Threat intelligence rates an indicator in this alert malicious")
}

test_intel_never_lowers if {
	d := decide_enriched(alert(level("critical", 90)), {"intel": available({"verdict": "malicious"})})
	d.severity == "critical"
}

test_intel_benign_changes_nothing if {
	d := decide_enriched(alert(level("low", 30)), {"intel": available({"verdict": "benign"})})
	d.severity == "low"
	count(d.reasons) == 3
}

test_failed_provider_is_ignored if {
	d := decide_enriched(
		alert(level("low", 30)),
		{"intel": {"status": "failed", "reason": "timeout", "data": {"verdict": "malicious"}}},
	)
	d.severity == "low"
}

test_abuse_score_at_threshold_raises if {
	d := decide_enriched(alert(level("medium", 50)), {"intel": available({"abuseipdb_score": 75})})
	d.severity == "high"
	some reason in d.reasons
	contains(reason, "AbuseIPDB confidence 75")
}

test_abuse_score_below_threshold_does_not if {
	d := decide_enriched(alert(level("medium", 50)), {"intel": available({"abuseipdb_score": 74})})
	d.severity == "medium"
}

test_abuse_threshold_is_configurable if {
	d := decide_enriched(alert(level("medium", 50)), {"intel": available({"abuseipdb_score": 60})})
		with data.falconry.settings as {"abuse_score_threshold": 50}
	d.severity == "high"
}

test_critical_asset_raises_one_level if {
	d := decide_enriched(base_alert, {"falcon_host": available({"criticality": "critical"})})
	d.severity == "critical"
	some reason in d.reasons
	reason == "Falcon rates the criticality of WS-0042 critical: severity raised one level, from high to critical."
}

test_inventory_criticality_raises_one_level if {
	d := decide_enriched(base_alert, {"directory": available({"criticality": "high", "privileged": false})})
	d.severity == "critical"
	some reason in d.reasons
	reason == "The asset inventory rates the criticality of WS-0042 high: severity raised one level, from high to critical."
}

test_medium_criticality_does_not_raise if {
	d := decide_enriched(base_alert, {"falcon_host": available({"criticality": "medium"})})
	d.severity == "high"
}

test_critical_asset_at_critical_says_so if {
	d := decide_enriched(alert(level("critical", 99)), {"falcon_host": available({"criticality": "high"})})
	d.severity == "critical"
	some reason in d.reasons
	endswith(reason, "severity already critical.")
}

test_critical_assets_from_settings if {
	d := decide(alert(level("low", 30))) with data.falconry.settings as {"critical_assets": {"tags": ["Workstations"]}}
	d.severity == "medium"
	d.action == "issue"
}

test_floor_then_criticality if {
	d := decide_enriched(
		alert(level("low", 30)),
		{
			"intel": available({"verdict": "malicious"}),
			"falcon_host": available({"criticality": "high"}),
		},
	)
	d.severity == "critical"
	count(d.reasons) == 5
}

test_idp_privileged_per_directory if {
	d := decide_enriched(
		alert(object.union(idp, level("medium", 50))),
		{"directory": available({"privileged": true})},
	)
	d.severity == "high"
	d.labels == ["falconry", "severity:high", "source:idp", "tactic:privilege-escalation"]
	some reason in d.reasons
	reason == "Identity detection on a privileged account (jdoe, per the directory): severity at least high."
}

test_idp_privileged_per_settings if {
	d := decide(alert(object.union(idp, {"severity": {"level": "low", "score": 25}, "user": {"name": "DA-jdoe"}})))
		with data.falconry.settings as {"privileged_accounts": ["da-*"]}
	d.severity == "high"
}

test_idp_unprivileged_unchanged if {
	d := decide_enriched(
		alert(object.union(idp, level("medium", 50))),
		{"directory": available({"privileged": false})},
	)
	d.severity == "medium"
}

test_epp_on_privileged_account_unchanged if {
	d := decide_enriched(alert(level("medium", 50)), {"directory": available({"privileged": true})})
	d.severity == "medium"
}

test_no_tactic_no_tactic_label if {
	d := decide(alert({"mitre": []}))
	d.labels == ["falconry", "severity:high", "source:epp"]
}

# ---------------------------------------------------------------------------
# Routing

test_no_routes_reason if {
	d := decide(base_alert)
	d.reasons[count(d.reasons) - 1] == "No routes configured: the default route."
}

test_route_by_host_group if {
	d := routed(alert({"host": {"groups": ["x", "f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1"]}}))
	d.repo == "example-corp/soc-finance"
	d.slack_channel == "#soc-finance"
	d.assignees == ["fin-oncall"]
	d.labels == ["falconry", "severity:high", "source:epp", "tactic:credential-access", "team:finance"]
	d.runbook == "https://wiki.example.com/triage"
	d.reasons[count(d.reasons) - 1] == "Routed by route \"finance\" (the first whose match holds)."
}

test_route_by_short_tag if {
	d := routed(alert({"host": {"tags": ["FalconGroupingTags/Finance"]}}))
	d.repo == "example-corp/soc-finance"
}

test_route_by_full_tag_any_case if {
	d := routed(alert({"host": {"tags": ["falcongroupingtags/finance"]}}))
	d.repo == "example-corp/soc-finance"
}

test_route_by_hostname_glob_any_case if {
	d := routed(alert({"host": {"hostname": "fin-ws-0007.corp.example.com"}}))
	d.repo == "example-corp/soc-finance"
	d.assignees == []
	d.slack_channel == "#soc-alerts"
}

test_route_by_regex_with_min_severity if {
	d := routed(alert({"host": {"hostname": "DC01"}}))
	d.assignees == ["ad-oncall"]
	d.labels == ["falconry", "severity:high", "source:epp", "tactic:credential-access", "asset:dc"]
}

test_route_min_severity_not_met if {
	d := routed(alert(object.union({"host": {"hostname": "DC01"}}, level("medium", 50))))
	d.assignees == []
	d.reasons[count(d.reasons) - 1] == "No route matched: the default route."
}

test_route_by_kind if {
	d := routed(alert(object.union(idp, level("medium", 50))))
	d.repo == "example-corp/soc-identity"
}

test_every_criterion_must_hold if {
	d := routed(alert(object.union(idp, {"host": {"tags": ["FalconGroupingTags/Lab"]}})))
	d.repo == "example-corp/soc-identity"
	e := routed(alert({"host": {"tags": ["FalconGroupingTags/Lab"]}}))
	e.repo == "example-corp/lab"
}

test_first_match_wins if {
	# In a finance group and a domain controller: "finance" comes first.
	d := routed(alert({"host": {"hostname": "DC01", "groups": ["f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1"]}}))
	d.repo == "example-corp/soc-finance"
	d.assignees == ["fin-oncall"]
}

test_default_route_when_nothing_matches if {
	d := routed(base_alert)
	d.repo == null
	d.slack_channel == "#soc-alerts"
	d.runbook == "https://wiki.example.com/triage"
}

test_unnamed_route_is_numbered if {
	d := falconry.decision with input as {"alert": base_alert, "enrichment": {}}
		with data.falconry.routing as {"routes": [{"match": {"kinds": ["xdr"]}}, {"repo": "a/b"}]}
	d.repo == "a/b"
	d.reasons[count(d.reasons) - 1] == "Routed by route #2 (the first whose match holds)."
}

test_discarded_alerts_still_routed if {
	# Routing does not change the action; the pipeline drops the alert anyway.
	d := routed(alert(object.union({"host": {"tags": ["Finance"]}}, level("informational", 5))))
	d.action == "discard"
}

# ---------------------------------------------------------------------------
# Configuration errors

test_no_config_errors_by_default if {
	count(falconry.config_errors) == 0
}

test_test_routing_is_valid if {
	count(errors_for(routing)) == 0
}

test_unknown_route_key if {
	errors_for({"routes": [{"repos": "a/b"}]}) == {`routing.routes[0]: unknown key "repos" (expected one of ["assignees", "labels", "match", "name", "repo", "runbook", "slack_channel"])`}
}

test_unknown_match_key if {
	some e in errors_for({"routes": [{"match": {"hostname": ["FIN-*"]}}]})
	startswith(e, `routing.routes[0].match: unknown key "hostname"`)
}

test_match_list_item_checked if {
	some e in errors_for({"routes": [{"match": [{"kinds": ["epp"]}, {"kinds": ["edr"]}]}]})
	startswith(e, "routing.routes[0].match[1].kinds: edr is not an alert kind")
}

test_bad_values if {
	errs := errors_for({
		"routes": [{
			"match": {"host_groups": "abc", "hostname_regexes": ["("], "min_severity": "urgent"},
			"repo": "not-a-repo",
			"runbook": "wiki/page",
			"labels": [1],
			"slack_channel": "",
		}],
		"default": {"match": {}},
	})
	errs == {
		"routing.routes[0].match.host_groups: must be a list of strings",
		"routing.routes[0].match.hostname_regexes: ( is not a valid regex",
		`routing.routes[0].match.min_severity: urgent is not a level (["informational", "low", "medium", "high", "critical"])`,
		"routing.routes[0].repo: not-a-repo is not owner/name",
		"routing.routes[0].runbook: wiki/page is not an http(s) URL",
		"routing.routes[0].labels[0]: 1 is not a string",
		"routing.routes[0].slack_channel: must be a non-empty string",
		`routing.default: unknown key "match" (expected one of ["assignees", "labels", "repo", "runbook", "slack_channel"])`,
	}
}

test_routes_must_be_a_list if {
	errors_for({"routes": {"name": "x"}}) == {"routing.routes: must be a list"}
}

test_unknown_routing_key if {
	errors_for({"route": []}) == {`routing: unknown key "route" (expected routes, default)`}
}

test_settings_errors if {
	errs := settings_errors({"notify_from": "high", "issue_from": "loud", "discard": true, "privileged_accounts": "admin"})
	errs == {
		`settings: unknown key "discard"`,
		"settings.issue_from: loud is not a level (informational, low, medium, high, critical)",
		"settings.privileged_accounts: must be a list of strings",
	}
}

test_thresholds_in_order if {
	settings_errors({"notify_from": "high", "issue_from": "medium"}) == {"settings: notify_from (high) is above issue_from (medium)"}
}
