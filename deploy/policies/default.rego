# Falconry's default policy: what to do with one Falcon detection.
#
# Entry point: data.falconry.decision, evaluated once per alert over
# input = {"alert": <Alert>, "enrichment": {<provider>: {status, reason, data}}}.
# It decides the severity (Falcon's level, raised by enrichment facts), the
# action (discard / notify / issue) and the route (repo, Slack channel,
# assignees, labels, runbook) from data.falconry.routing, and explains every
# step in `reasons`.
#
# It must not do I/O (no http.send: the engine is built without it), must
# not read anything outside input and data.falconry, and must stay
# deterministic: the same alert and data give the same decision. Settings and
# routing are data (see README.md), so most changes need no Rego at all.
# data.falconry.config_errors lists every mistake in that data; the enricher
# refuses to start while it is not empty.
package falconry

import rego.v1

# ---------------------------------------------------------------------------
# Scales

levels := ["informational", "low", "medium", "high", "critical"]

rank := {level: i | some i, level in levels}

kinds := {"epp", "idp", "xdr", "legacy", "incident", "other", "rule", "ioc"}

# ---------------------------------------------------------------------------
# Settings (data.falconry.settings, every key optional)

default_settings := {
	# Below this severity the alert is discarded.
	"notify_from": "low",
	# From this severity on an issue is opened; between the two, Slack only.
	"issue_from": "medium",
	# AbuseIPDB confidence (0-100) from which an address counts as malicious.
	"abuse_score_threshold": 75,
	# Account name globs (case-insensitive) treated as privileged when the
	# directory provider is off or does not know the account.
	"privileged_accounts": [],
	# Hosts treated as critical assets when the falcon_host provider says
	# nothing: a match object, as in a route (host_groups, tags, hostnames,
	# hostname_regexes, kinds).
	"critical_assets": {},
}

default user_settings := {}

user_settings := data.falconry.settings

cfg := object.union(default_settings, user_settings) if {
	is_object(user_settings)
} else := default_settings

# ---------------------------------------------------------------------------
# Facts

alert := input.alert

host_label := alert.host.hostname if {
	is_string(alert.host.hostname)
} else := alert.host.aid if {
	is_string(alert.host.aid)
} else := "unknown host"

user_label := alert.user.name if {
	is_string(alert.user.name)
} else := "unknown user"

base_rank := rank[alert.severity.level]

# A provider's data, only when it answered.
facts(provider) := input.enrichment[provider].data if {
	input.enrichment[provider].status == "available"
	is_object(input.enrichment[provider].data)
}

# ---------------------------------------------------------------------------
# Severity: Falcon's level, floors from enrichment, then asset criticality.
# Each step is {} when it does not apply, else {"floor": rank, "reason": text}.

default intel_step := {}

intel_step := {
	"floor": rank.high,
	"reason": "Threat intelligence rates an indicator in this alert malicious: severity at least high.",
} if {
	verdict := facts("intel").verdict
	is_string(verdict)
	lower(verdict) == "malicious"
}

default abuse_step := {}

abuse_step := {
	"floor": rank.high,
	"reason": sprintf(
		"AbuseIPDB confidence %v for an address in this alert (threshold %v): severity at least high.",
		[score, cfg.abuse_score_threshold],
	),
} if {
	score := facts("intel").abuseipdb_score
	is_number(score)
	score >= cfg.abuse_score_threshold
}

default idp_step := {}

idp_step := {
	"floor": rank.high,
	"reason": sprintf(
		"Identity detection on a privileged account (%s, %s): severity at least high.",
		[user_label, privileged_source],
	),
} if {
	alert.kind == "idp"
	privileged_source
}

privileged_source := "per the directory" if {
	facts("directory").privileged == true
} else := "per settings.privileged_accounts" if {
	name := alert.user.name
	is_string(name)
	some pattern in as_list(cfg.privileged_accounts)
	is_string(pattern)
	glob.match(lower(pattern), null, lower(name))
}

floor_steps := [step | some step in [intel_step, abuse_step, idp_step]; step.floor]

raised_rank := max({base_rank} | {step.floor | some step in floor_steps})

asset_source := sprintf("The asset inventory rates the criticality of %s %s", [host_label, lower(c)]) if {
	c := facts("directory").criticality
	is_string(c)
	lower(c) in {"high", "critical"}
} else := sprintf("Falcon rates the criticality of %s %s", [host_label, lower(c)]) if {
	c := facts("falcon_host").criticality
	is_string(c)
	lower(c) in {"high", "critical"}
} else := sprintf("%s is a critical asset per settings.critical_assets", [host_label]) if {
	count(as_object(cfg.critical_assets)) > 0
	criteria_match(cfg.critical_assets)
}

final_rank := min({raised_rank + 1, rank.critical}) if {
	asset_source
} else := raised_rank

asset_reasons := [sprintf("%s: severity raised one level, from %s to %s.", [asset_source, levels[raised_rank], levels[final_rank]])] if {
	final_rank > raised_rank
} else := [sprintf("%s: severity already critical.", [asset_source])] if {
	asset_source
} else := []

severity := levels[final_rank]

# ---------------------------------------------------------------------------
# Action

action := "discard" if {
	final_rank < rank[cfg.notify_from]
} else := "issue" if {
	final_rank >= rank[cfg.issue_from]
} else := "notify"

action_reason := sprintf("Severity %s is below the notify threshold (%s): discarded.", [severity, cfg.notify_from]) if {
	action == "discard"
} else := sprintf("Severity %s is at or above the issue threshold (%s): an issue.", [severity, cfg.issue_from]) if {
	action == "issue"
} else := sprintf("Severity %s is below the issue threshold (%s): a Slack notice only.", [severity, cfg.issue_from])

# ---------------------------------------------------------------------------
# Routing (data.falconry.routing): the first route whose match holds wins;
# fields it does not set come from the default route.

default routes := []

routes := data.falconry.routing.routes

default default_route := {}

default_route := data.falconry.routing["default"]

route_fields := {"repo", "slack_channel", "assignees", "labels", "runbook"}

match_keys := {"host_groups", "tags", "hostnames", "hostname_regexes", "kinds", "min_severity"}

# The enricher refuses data with config_errors, so the as_list / as_object
# guards below only keep a bad document from turning into evaluation errors.
matching_routes := [i | some i, r in as_list(routes); route_matches(r)]

default chosen_route := {}

chosen_route := routes[matching_routes[0]]

route := object.union(
	object.filter(as_object(default_route), route_fields),
	object.filter(chosen_route, route_fields),
)

route_reason := sprintf("Routed by route %s (the first whose match holds).", [route_name(matching_routes[0])]) if {
	count(matching_routes) > 0
} else := "No route matched: the default route." if {
	count(as_list(routes)) > 0
} else := "No routes configured: the default route."

route_name(i) := sprintf("%q", [routes[i].name]) if {
	is_string(routes[i].name)
} else := sprintf("#%d", [i + 1])

# `match` is one match object, or a list of them of which any may hold.
route_matches(r) if {
	is_object(r)
	m := object.get(r, "match", {})
	is_object(m)
	match_holds(m)
}

route_matches(r) if {
	is_object(r)
	some m in as_list(r.match)
	is_object(m)
	match_holds(m)
}

match_holds(m) if {
	criteria_match(m)
	min_severity_holds(m)
}

# Every criterion a match object sets must hold; within one criterion, any
# listed value is enough. An empty or missing list is no constraint.
criteria_match(m) if {
	is_object(m)
	groups_match(m)
	tags_match(m)
	hostnames_match(m)
	hostname_regexes_match(m)
	kinds_match(m)
}

unset(m, key) if count(as_list(object.get(m, key, []))) == 0

as_list(v) := v if {
	is_array(v)
} else := []

as_object(v) := v if {
	is_object(v)
} else := {}

groups_match(m) if unset(m, "host_groups")

groups_match(m) if {
	some g in as_list(m.host_groups)
	g in alert.host.groups
}

tags_match(m) if unset(m, "tags")

tags_match(m) if {
	some t in as_list(m.tags)
	is_string(t)
	some h in alert.host.tags
	tag_matches(t, h)
}

# "Finance" matches the host tag "FalconGroupingTags/Finance"; a tag with a
# slash must match in full. Case-insensitive either way.
tag_matches(t, h) if lower(t) == lower(h)

tag_matches(t, h) if {
	not contains(t, "/")
	lower(h) == lower(concat("/", ["FalconGroupingTags", t]))
}

hostnames_match(m) if unset(m, "hostnames")

hostnames_match(m) if {
	h := alert.host.hostname
	is_string(h)
	some pattern in as_list(m.hostnames)
	is_string(pattern)
	glob.match(lower(pattern), null, lower(h))
}

hostname_regexes_match(m) if unset(m, "hostname_regexes")

# Against the lower-cased hostname, as the globs: write patterns in lower case.
hostname_regexes_match(m) if {
	h := alert.host.hostname
	is_string(h)
	some pattern in as_list(m.hostname_regexes)
	is_string(pattern)
	regex.is_valid(pattern)
	regex.match(pattern, lower(h))
}

kinds_match(m) if unset(m, "kinds")

kinds_match(m) if alert.kind in as_list(m.kinds)

min_severity_holds(m) if not m.min_severity

min_severity_holds(m) if final_rank >= rank[m.min_severity]

# ---------------------------------------------------------------------------
# Labels and reasons

slug(s) := trim(regex.replace(lower(s), "[^a-z0-9]+", "-"), "-")

tactic_labels := [sprintf("tactic:%s", [slug(t)])] if {
	tactics := [m.tactic | some m in alert.mitre; is_string(m.tactic)]
	t := tactics[0]
	slug(t) != ""
} else := []

base_labels := array.concat(
	["falconry", sprintf("severity:%s", [severity]), sprintf("source:%s", [alert.kind])],
	tactic_labels,
)

all_labels := array.concat(base_labels, [l | some l in as_list(object.get(route, "labels", [])); is_string(l)])

# In order, without repeats.
labels := [l | some i, l in all_labels; not l in array.slice(all_labels, 0, i)]

base_reason := sprintf("The organisation's rule %q (%s) rates this finding %s.", [alert.rule.title, alert.rule.id, alert.severity.level]) if {
	alert.kind == "rule"
	is_object(alert.rule)
} else := sprintf("An indicator of compromise (%s %s, from %s) matched this host's activity.", [alert.ioc.kind, alert.ioc.value, alert.rule.indicator.source]) if {
	alert.kind == "ioc"
	is_object(alert.ioc)
	is_object(alert.rule.indicator)
} else := sprintf("Falcon rates this detection %s (score %v).", [alert.severity.level, alert.severity.score])

reasons := array.concat(
	array.concat([base_reason], [step.reason | some step in floor_steps]),
	array.concat(asset_reasons, [action_reason, route_reason]),
)

# ---------------------------------------------------------------------------
# The decision

decision := {
	"action": action,
	"severity": severity,
	"reasons": reasons,
	"labels": labels,
	"assignees": object.get(route, "assignees", []),
	"repo": object.get(route, "repo", null),
	"slack_channel": object.get(route, "slack_channel", null),
	"runbook": object.get(route, "runbook", null),
}

# ---------------------------------------------------------------------------
# Configuration errors: checked once when the enricher loads the policy.

config_errors contains "settings: must be an object" if not is_object(user_settings)

config_errors contains sprintf("settings: unknown key %q", [k]) if {
	is_object(user_settings)
	some k, _ in user_settings
	not k in object.keys(default_settings)
}

config_errors contains sprintf("settings.%s: %v is not a level (informational, low, medium, high, critical)", [k, cfg[k]]) if {
	some k in ["notify_from", "issue_from"]
	not rank[cfg[k]]
}

config_errors contains sprintf("settings: notify_from (%v) is above issue_from (%v)", [cfg.notify_from, cfg.issue_from]) if {
	rank[cfg.notify_from] > rank[cfg.issue_from]
}

config_errors contains "settings.abuse_score_threshold: must be a number" if not is_number(cfg.abuse_score_threshold)

config_errors contains msg if {
	some msg in string_list_errors("settings.privileged_accounts", cfg.privileged_accounts)
}

config_errors contains msg if {
	some msg in match_errors("settings.critical_assets", cfg.critical_assets, match_keys - {"min_severity"})
}

config_errors contains "routing: must be an object" if {
	data.falconry.routing
	not is_object(data.falconry.routing)
}

config_errors contains sprintf("routing: unknown key %q (expected routes, default)", [k]) if {
	is_object(data.falconry.routing)
	some k, _ in data.falconry.routing
	not k in {"routes", "default"}
}

config_errors contains "routing.routes: must be a list" if not is_array(routes)

config_errors contains msg if {
	is_array(routes)
	some i, r in routes
	some msg in route_errors(sprintf("routing.routes[%d]", [i]), r, route_fields | {"name", "match"})
}

config_errors contains msg if {
	some msg in route_errors("routing.default", default_route, route_fields)
}

route_errors(where, r, allowed) := {sprintf("%s: must be an object", [where])} if {
	not is_object(r)
} else := union({
	unknown_key_errors(where, r, allowed),
	route_match_errors(sprintf("%s.match", [where]), object.get(r, "match", {})),
	optional_string_errors(where, r, {"name", "slack_channel"}),
	repo_errors(where, r),
	runbook_errors(where, r),
	string_list_errors(sprintf("%s.assignees", [where]), object.get(r, "assignees", [])),
	string_list_errors(sprintf("%s.labels", [where]), object.get(r, "labels", [])),
})

route_match_errors(where, m) := union({match_errors(sprintf("%s[%d]", [where, i]), x, match_keys) | some i, x in m}) if {
	is_array(m)
} else := match_errors(where, m, match_keys)

match_errors(where, m, allowed) := {sprintf("%s: must be an object", [where])} if {
	not is_object(m)
} else := union({
	unknown_key_errors(where, m, allowed),
	list_errors(where, m),
	kind_errors(where, m),
	regex_errors(where, m),
	min_severity_errors(where, m),
})

unknown_key_errors(where, obj, allowed) := {sprintf("%s: unknown key %q (expected one of %v)", [where, k, sort(allowed)]) |
	some k, _ in obj
	not k in allowed
}

list_errors(where, m) := {msg |
	some key in ["host_groups", "tags", "hostnames", "hostname_regexes", "kinds"]
	some msg in string_list_errors(sprintf("%s.%s", [where, key]), object.get(m, key, []))
}

string_list_errors(where, v) := {sprintf("%s: must be a list of strings", [where])} if {
	not is_array(v)
} else := {sprintf("%s[%d]: %v is not a string", [where, i, x]) | some i, x in v; not is_string(x)}

kind_errors(where, m) := {sprintf("%s.kinds: %v is not an alert kind (%v)", [where, k, sort(kinds)]) |
	is_array(object.get(m, "kinds", []))
	some k in object.get(m, "kinds", [])
	not k in kinds
}

regex_errors(where, m) := {sprintf("%s.hostname_regexes: %v is not a valid regex", [where, p]) |
	is_array(object.get(m, "hostname_regexes", []))
	some p in object.get(m, "hostname_regexes", [])
	is_string(p)
	not regex.is_valid(p)
}

min_severity_errors(where, m) := {sprintf("%s.min_severity: %v is not a level (%v)", [where, m.min_severity, levels])} if {
	m.min_severity
	not rank[m.min_severity]
} else := set()

optional_string_errors(where, r, keys) := {sprintf("%s.%s: must be a non-empty string", [where, k]) |
	some k in keys
	v := object.get(r, k, null)
	v != null
	not non_empty_string(v)
}

non_empty_string(v) if {
	is_string(v)
	v != ""
}

repo_errors(where, r) := {sprintf("%s.repo: %v is not owner/name", [where, r.repo])} if {
	r.repo != null
	not matches_pattern(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`, r.repo)
} else := set()

runbook_errors(where, r) := {sprintf("%s.runbook: %v is not an http(s) URL", [where, r.runbook])} if {
	r.runbook != null
	not matches_pattern(`^https?://[^ \t\r\n]+$`, r.runbook)
} else := set()

matches_pattern(pattern, v) if {
	is_string(v)
	regex.match(pattern, v)
}
