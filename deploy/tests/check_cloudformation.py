#!/usr/bin/env python3
"""Checks of the CloudFormation template(s) in deploy/cloudformation/, without AWS.

Run with the project's virtualenv (scripts/test.sh installs cfn-lint into it; tests/deploy.rs
runs this):

    .venv/bin/python deploy/tests/check_cloudformation.py            # lint + policy + wiring checks
    .venv/bin/python deploy/tests/check_cloudformation.py --env K=V  # the containers' environment as JSON

The checks (every failure is reported, then the exit status is 1):

1. cfn-lint (pinned in scripts/test.sh) finds nothing at all in any template, informational
   findings included, for a few regions;
2. IAM: no action with a wildcard (`*`, `s3:*`, `s3:Get*`), no NotAction/NotResource, and
   `Resource: "*"` only for the actions in STAR_RESOURCE_ACTIONS, each with its reason; every
   S3 object permission is on a prefix, and each task role reaches exactly the prefixes in
   OBJECT_ACCESS; each execution role reads exactly the secrets its task definition injects
   and writes exactly its log group;
3. wiring: the stream bucket's notifications go to the enricher queue for `stream/*.ndjson.gz`,
   the lake's for `findings/*.findings.ndjson.gz` (when detections or hunts are on), the queue
   policy names both buckets and each bucket waits for the policy; the forwarder reads its rules
   from the stream bucket's `rules/`; buckets are
   encrypted, private and TLS-only; one streamer at most and never two during a deployment;
   every container runs `falconry healthcheck`; the admin port is closed but to MetricsCidr;
   Athena enforces the per-query scan cutoff; the FirstQuery output parses as Athena SQL;
   the hunt (EnableHunt) watches the stream bucket's `indicators/` and hunts through the lake,
   the forwarder then looks for the same indicators and the hunt's TAXII pulls, one hunter at
   most and never two during a deployment, Athena and Glue only with an Athena engine, its
   Athena settings name the stack's workgroup, database and results location.

With --env, it resolves the template for the given parameters (others: their defaults) and
prints each container's command, environment and secrets (variable -> JSON key), which the
Rust test feeds to `falconry check-config`; task definitions whose Condition is false are left out.

It must not change anything.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import sqlglot
from cfnlint.api import lint
from cfnlint.config import ManualArgs
from cfnlint.decode.decode import decode_str

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((ROOT / "deploy" / "cloudformation").glob("*.yaml"))
MAIN = ROOT / "deploy" / "cloudformation" / "falconry.yaml"
LINT_REGIONS = ["us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2"]

# Actions that cannot be scoped to a resource, and why.
STAR_RESOURCE_ACTIONS = {
    "ecr:GetAuthorizationToken": "ECR login is account-wide; the action has no resource type",
}

# Task role -> (bucket logical id, key prefix) -> object actions allowed there.
READ = {"s3:GetObject"}
READ_WRITE = {"s3:GetObject", "s3:PutObject"}
OBJECT_ACCESS = {
    "ForwarderTaskRole": {
        **{
            ("LakeBucket", prefix): {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}
            for prefix in ("raw/", "parquet/", "quarantine/", "state/", "findings/")
        },
        # The organisation's Sigma rules, read and reloaded.
        ("StreamBucket", "rules/"): READ,
        # With EnableHunt: the indicator feeds it looks for live (the hunt's TAXII pulls and
        # its live-match records are under state/ above).
        ("StreamBucket", "indicators/"): READ,
    },
    "StreamerTaskRole": {
        ("StreamBucket", "stream/"): READ_WRITE,
        ("StreamBucket", "state/stream/"): READ_WRITE,
    },
    "EnricherTaskRole": {
        ("StreamBucket", "stream/"): READ,
        ("StreamBucket", "state/enricher/"): READ_WRITE,
        ("StreamBucket", "athena-results/"): READ_WRITE
        | {"s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"},
        ("LakeBucket", "parquet/"): READ,
        # What the rules found, announced by the lake's notifications.
        ("LakeBucket", "findings/"): READ,
    },
    "HuntTaskRole": {
        ("LakeBucket", "parquet/"): READ,
        # Match records (conditional writes), hunted indicators, TAXII bundles and cursors.
        ("LakeBucket", "state/hunt/"): READ_WRITE,
        # New matches as findings; written, never read back.
        ("LakeBucket", "findings/"): {"s3:PutObject", "s3:AbortMultipartUpload"},
        ("StreamBucket", "indicators/"): READ,
        # With an Athena engine only.
        ("StreamBucket", "athena-results/"): READ_WRITE
        | {"s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"},
    },
}
OBJECT_ACTIONS = {
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
}

NOVALUE = object()
ACCOUNT, REGION = "123456789012", "eu-west-1"


class Failures:
    """Collects every problem, so one run reports all of them."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def check(self, ok: bool, where: str, what: str) -> bool:
        if not ok:
            self.items.append(f"{where}: {what}")
        return ok


def load(path: Path) -> dict:
    template, errors = decode_str(path.read_text())
    if errors or template is None:
        raise SystemExit(f"{path}: cannot be read: {errors}")
    return template


def listify(v):
    return v if isinstance(v, list) else [v]


def intrinsic(node) -> tuple[str, object] | None:
    if isinstance(node, dict) and len(node) == 1:
        (k, v), = node.items()
        if k == "Ref" or k.startswith("Fn::") or k == "Condition":
            return str(k), v
    return None


def refs(node) -> set[str]:
    """Logical ids a value refers to (Ref, GetAtt, ${X} / ${X.Attr} in Sub)."""
    out: set[str] = set()
    it = intrinsic(node)
    if it:
        k, v = it
        if k == "Ref":
            out.add(str(v))
        elif k == "Fn::GetAtt":
            out.add(str(v[0]) if isinstance(v, list) else str(v).split(".")[0])
        elif k == "Fn::Sub":
            text = v[0] if isinstance(v, list) else v
            out |= {m.split(".")[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", str(text))}
            if isinstance(v, list) and len(v) > 1:
                out |= refs(v[1])
        else:
            out |= refs(v)
    elif isinstance(node, dict):
        for v in node.values():
            out |= refs(v)
    elif isinstance(node, list):
        for v in node:
            out |= refs(v)
    return {r for r in out if not r.startswith("AWS::")}


def sub_text(node) -> str | None:
    """The text of a Sub (or a plain string)."""
    it = intrinsic(node)
    if it and it[0] == "Fn::Sub":
        return str(it[1][0] if isinstance(it[1], list) else it[1])
    return node if isinstance(node, str) else None


def statements(doc: dict):
    """Every statement of a policy document, each branch of an Fn::If included."""
    for s in listify(doc.get("Statement", [])):
        it = intrinsic(s)
        if it and it[0] == "Fn::If":
            for branch in it[1][1:]:
                if not (intrinsic(branch) or ("", ""))[1] == "AWS::NoValue":
                    yield branch
        else:
            yield s


def role_policies(resources: dict):
    for name, r in resources.items():
        if r.get("Type") == "AWS::IAM::Role":
            for p in r.get("Properties", {}).get("Policies", []):
                yield name, p["PolicyDocument"]
        elif r.get("Type") in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            yield name, r["Properties"]["PolicyDocument"]


def check_iam(t: dict, f: Failures) -> None:
    resources = t["Resources"]
    for name, r in resources.items():
        props = r.get("Properties", {})
        if r.get("Type") == "AWS::IAM::Role":
            f.check(not props.get("ManagedPolicyArns"), name, "managed policies hide their actions: use inline ones")
    seen_objects: dict[str, dict] = {}
    for role, doc in role_policies(resources):
        for s in statements(doc):
            where = f"{role}/{s.get('Sid', '?')}"
            f.check("NotAction" not in s and "NotResource" not in s, where, "NotAction/NotResource")
            if s.get("Effect") != "Allow":
                continue
            actions = [str(a) for a in listify(s.get("Action", []))]
            res = listify(s.get("Resource", []))
            for a in actions:
                f.check("*" not in a, where, f"wildcard action {a!r}")
            if "*" in res:
                for a in actions:
                    f.check(a in STAR_RESOURCE_ACTIONS, where, f"{a} on Resource '*' (not in STAR_RESOURCE_ACTIONS)")
                f.check(len(res) == 1, where, "'*' among other resources")
            for a in actions:
                if a not in OBJECT_ACTIONS:
                    continue
                for r in res:
                    text = sub_text(r)
                    m = re.fullmatch(r"\$\{(\w+)\.Arn\}/(.+)\*", text or "")
                    if not f.check(m is not None, where, f"{a} on {r!r}: not a bucket prefix"):
                        continue
                    bucket, prefix = m.group(1), m.group(2)
                    f.check(prefix.endswith("/"), where, f"{a} on {bucket}/{prefix}*: not a whole prefix")
                    seen_objects.setdefault(role, {}).setdefault((bucket, prefix), set()).add(a)
    for role in set(OBJECT_ACCESS) | set(seen_objects):
        f.check(
            seen_objects.get(role, {}) == OBJECT_ACCESS.get(role, {}),
            role,
            f"object access {sorted((k, sorted(v)) for k, v in seen_objects.get(role, {}).items())} "
            f"is not the intended {sorted((k, sorted(v)) for k, v in OBJECT_ACCESS.get(role, {}).items())}",
        )

    # Execution roles: exactly the task definition's secrets and log group.
    for name, r in resources.items():
        if r.get("Type") != "AWS::ECS::TaskDefinition":
            continue
        props = r["Properties"]
        exec_role = refs(props["ExecutionRoleArn"]).pop()
        task_role = refs(props["TaskRoleArn"]).pop()
        f.check(exec_role != task_role, name, "execution role and task role are the same")
        used_secrets, groups = set(), set()
        for c in props["ContainerDefinitions"]:
            used_secrets |= refs(c.get("Secrets", []))
            groups |= refs(c["LogConfiguration"]["Options"]["awslogs-group"])
        granted_secrets, granted_logs = set(), set()
        for role, doc in role_policies({exec_role: resources[exec_role]}):
            for s in statements(doc):
                actions = listify(s.get("Action", []))
                if "secretsmanager:GetSecretValue" in actions:
                    granted_secrets |= refs(s["Resource"])
                if "logs:PutLogEvents" in actions:
                    granted_logs |= refs(s["Resource"])
        f.check(granted_secrets == used_secrets, exec_role, f"reads secrets {sorted(granted_secrets)}, the task uses {sorted(used_secrets)}")
        f.check(granted_logs == groups, exec_role, f"writes logs to {sorted(granted_logs)}, the task logs to {sorted(groups)}")
        for role, doc in role_policies({task_role: resources[task_role]}):
            for s in statements(doc):
                f.check(
                    not any(str(a).startswith(("secretsmanager:", "ecr:", "logs:")) for a in listify(s.get("Action", []))),
                    task_role,
                    "a task role needs no secrets, image or log permissions (the execution role has them)",
                )


def check_wiring(t: dict, f: Failures) -> None:
    res = t["Resources"]
    params = t["Parameters"]
    # The bucket -> queue notification and the circular dependency around it.
    stream = res["StreamBucket"]
    qc = stream["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    f.check(len(qc) == 1, "StreamBucket", "one queue notification")
    n = qc[0]
    f.check(refs(n["Queue"]) == {"EnricherQueue"}, "StreamBucket", "notifies the enricher queue")
    rules = {r["Name"]: r["Value"] for r in n["Filter"]["S3Key"]["Rules"]}
    f.check(rules == {"prefix": "stream/", "suffix": ".ndjson.gz"}, "StreamBucket", f"filter {rules}")
    f.check(str(n["Event"]).startswith("s3:ObjectCreated:"), "StreamBucket", "ObjectCreated events")
    f.check("EnricherQueuePolicy" in listify(stream.get("DependsOn", [])), "StreamBucket", "DependsOn EnricherQueuePolicy")
    bucket_name = sub_text(stream["Properties"]["BucketName"])
    lake_name = sub_text(res["LakeBucket"]["Properties"]["BucketName"])
    qp = res["EnricherQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    f.check(
        sorted(sub_text(a) for a in listify(qp["Condition"]["ArnLike"]["aws:SourceArn"]))
        == sorted(f"arn:${{AWS::Partition}}:s3:::{b}" for b in (bucket_name, lake_name)),
        "EnricherQueuePolicy",
        "aws:SourceArn must name the stream and lake buckets exactly as their BucketNames",
    )
    # The lake announces findings (only them) when detections or hunts are on.
    lake_res = res["LakeBucket"]
    f.check("EnricherQueuePolicy" in listify(lake_res.get("DependsOn", [])), "LakeBucket", "DependsOn EnricherQueuePolicy")
    cond, on, off = intrinsic(lake_res["Properties"]["NotificationConfiguration"])[1]
    f.check(
        cond == "Findings"
        and t["Conditions"].get("Findings") == {"Fn::Or": [{"Condition": "Detections"}, {"Condition": "Hunt"}]}
        and off == {"Ref": "AWS::NoValue"},
        "LakeBucket",
        "notifications depend on EnableDetections or EnableHunt (condition Findings)",
    )
    lqc = on["QueueConfigurations"]
    f.check(len(lqc) == 1 and refs(lqc[0]["Queue"]) == {"EnricherQueue"}, "LakeBucket", "notifies the enricher queue")
    lrules = {r["Name"]: r["Value"] for r in lqc[0]["Filter"]["S3Key"]["Rules"]}
    f.check(lrules == {"prefix": "findings/", "suffix": ".findings.ndjson.gz"}, "LakeBucket", f"filter {lrules}")
    f.check("aws:SourceAccount" in qp["Condition"].get("StringEquals", {}), "EnricherQueuePolicy", "aws:SourceAccount condition")
    f.check(qp["Principal"] == {"Service": "s3.amazonaws.com"} and qp["Action"] == "sqs:SendMessage", "EnricherQueuePolicy", "S3 may send, nothing else")
    rp = res["EnricherQueue"]["Properties"]["RedrivePolicy"]
    f.check(refs(rp["deadLetterTargetArn"]) == {"EnricherDeadLetterQueue"}, "EnricherQueue", "redrives to the DLQ")
    f.check(refs(rp["maxReceiveCount"]) == {"EnricherMaxReceiveCount"}, "EnricherQueue", "maxReceiveCount is a parameter")

    # Buckets: encrypted, private, TLS-only.
    policies = {
        next(iter(refs(r["Properties"]["Bucket"]))): r["Properties"]["PolicyDocument"]
        for r in res.values()
        if r.get("Type") == "AWS::S3::BucketPolicy"
    }
    for name, r in res.items():
        if r.get("Type") != "AWS::S3::Bucket":
            continue
        p = r["Properties"]
        f.check("BucketEncryption" in p, name, "encryption")
        f.check(all(v is True for v in p.get("PublicAccessBlockConfiguration", {}).values()) and len(p.get("PublicAccessBlockConfiguration", {})) == 4, name, "public access fully blocked")
        f.check(r.get("DeletionPolicy") == "Retain", name, "DeletionPolicy Retain")
        tls = [
            s for s in statements(policies.get(name, {}))
            if s.get("Effect") == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
        ]
        f.check(len(tls) == 1, name, "TLS-only bucket policy (Deny when aws:SecureTransport is false)")
    lake = res["LakeBucket"]["Properties"]
    f.check(intrinsic(lake["ObjectLockEnabled"])[0] == "Fn::If", "LakeBucket", "Object Lock depends on a parameter")
    f.check(lake["VersioningConfiguration"]["Status"] == "Enabled", "LakeBucket", "versioned (Object Lock needs it)")
    raw_rule = [r for r in lake["LifecycleConfiguration"]["Rules"] if isinstance(r, dict) and r.get("Prefix") == "raw/"]
    f.check(len(raw_rule) == 1 and "Transitions" in raw_rule[0] and "ExpirationInDays" in raw_rule[0], "LakeBucket", "raw/ lifecycle: transition and expiry")

    # ECS: one image for three commands, health checks, the streamer alone.
    commands = {}
    for name, r in res.items():
        if r.get("Type") != "AWS::ECS::TaskDefinition":
            continue
        for c in r["Properties"]["ContainerDefinitions"]:
            commands[name] = c["Command"]
            f.check(refs(c["Image"]) == {"Image"}, name, "the Image parameter")
            f.check(c.get("HealthCheck", {}).get("Command") == ["CMD", "/falconry", "healthcheck"], name, "health check runs `/falconry healthcheck`")
            f.check(0 < int(c.get("StopTimeout", 0)) <= 120, name, "StopTimeout within Fargate's 120 s")
            group = next(iter(refs(c["LogConfiguration"]["Options"]["awslogs-group"])))
            f.check(refs(res[group]["Properties"].get("RetentionInDays")) == {"LogRetentionDays"}, group, "retention is the LogRetentionDays parameter")
    f.check(sorted(commands.values()) == [["enrich"], ["forward"], ["hunt"], ["stream"]], "task definitions", f"commands {commands}")
    streamer = res["StreamerService"]["Properties"]
    allowed = [int(v) for v in params["StreamerDesiredCount"].get("AllowedValues", [])]
    f.check(refs(streamer["DesiredCount"]) == {"StreamerDesiredCount"} and allowed and max(allowed) == 1, "StreamerService", "desired count 1 at most")
    dc = streamer["DeploymentConfiguration"]
    f.check(int(dc["MaximumPercent"]) == 100 and int(dc["MinimumHealthyPercent"]) == 0, "StreamerService", "two streamers never overlap")
    target = res["ForwarderScalableTarget"]["Properties"]
    f.check("ForwarderService" in refs(target["ResourceId"]), "ForwarderScalableTarget", "scales the forwarder")
    policy = res["ForwarderCpuScaling"]["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    f.check(policy["PredefinedMetricSpecification"]["PredefinedMetricType"] == "ECSServiceAverageCPUUtilization", "ForwarderCpuScaling", "CPU target tracking")

    # Network: nothing reaches the tasks but Prometheus from MetricsCidr.
    for name, r in res.items():
        if r.get("Type") == "AWS::EC2::SecurityGroup":
            f.check(not r["Properties"].get("SecurityGroupIngress"), name, "no inline ingress")
        if r.get("Type") == "AWS::EC2::SecurityGroupIngress":
            p = r["Properties"]
            f.check(r.get("Condition") == "MetricsIngress" and refs(p.get("CidrIp")) == {"MetricsCidr"} and int(p["FromPort"]) == int(p["ToPort"]) == 9090, name, "only the admin port, only from MetricsCidr")
    for name, r in res.items():
        if r.get("Type") == "AWS::ECS::Service":
            f.check(r["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == {"Ref": "AssignPublicIp"}, name, "public IP only by parameter")

    # Athena and Glue.
    wg = res["AthenaWorkGroup"]["Properties"]["WorkGroupConfiguration"]
    f.check(wg["EnforceWorkGroupConfiguration"] is True, "AthenaWorkGroup", "EnforceWorkGroupConfiguration")
    f.check(refs(wg["BytesScannedCutoffPerQuery"]) == {"AthenaBytesScannedCutoff"}, "AthenaWorkGroup", "per-query cutoff parameter")
    tables = [n for n, r in res.items() if r.get("Type") == "AWS::Glue::Table"]
    f.check(len(tables) >= 6, "Glue", f"tables generated ({len(tables)})")
    for n in tables:
        loc = sub_text(res[n]["Properties"]["TableInput"]["StorageDescriptor"]["Location"])
        name = res[n]["Properties"]["TableInput"]["Name"]
        expected = "s3://${LakeBucket}/findings/" if name == "findings" else f"s3://${{LakeBucket}}/parquet/{name}/"
        f.check(loc == expected, n, f"location {loc}")
    # The forwarder writes where the tables read; the streamer where the notification listens.
    env = {c["Name"]: c["Value"] for c in res["ForwarderTaskDefinition"]["Properties"]["ContainerDefinitions"][0]["Environment"] if isinstance(c, dict) and "Name" in c}
    f.check(sub_text(env.get("FALCONRY__FORWARDER__DEST")) == "s3://${LakeBucket}", "ForwarderTaskDefinition", "dest is the lake bucket's root")
    env = {c["Name"]: c["Value"] for c in res["StreamerTaskDefinition"]["Properties"]["ContainerDefinitions"][0]["Environment"] if isinstance(c, dict) and "Name" in c}
    f.check(sub_text(env.get("FALCONRY__STREAMER__DEST")) == "s3://${StreamBucket}", "StreamerTaskDefinition", "dest is the stream bucket's root")
    check_hunt(t, f)
    check_schedules(t, f)

    # Outputs, and the first query parses as Athena SQL.
    outs = t.get("Outputs", {})
    for o in ["LakeBucketName", "StreamBucketName", "EnricherQueueUrl", "AthenaWorkGroupName", "FirstQuery"]:
        f.check(o in outs, "Outputs", f"{o} missing")
    try:
        q = sub_text(outs["FirstQuery"]["Value"]).replace("${GlueDatabase}", "falconry")
        parsed = sqlglot.parse_one(q, read="athena")
        f.check(parsed.find(sqlglot.exp.Where) is not None and "dt" in q, "FirstQuery", "filters on the dt partition")
    except Exception as e:  # noqa: BLE001 - any parse failure is the finding
        f.check(False, "FirstQuery", f"does not parse as Athena SQL: {e}")


def branches(node, conditions: tuple[str, ...] = ()):
    """(conditions, value) for each outcome of nested Fn::Ifs that is not AWS::NoValue."""
    it = intrinsic(node)
    if it and it[0] == "Fn::If":
        cond, yes, no = it[1]
        yield from branches(yes, conditions + (str(cond),))
        yield from branches(no, conditions + (f"!{cond}",))
    elif node != {"Ref": "AWS::NoValue"}:
        yield conditions, node


def environment(res: dict, name: str) -> dict[str, list[tuple[tuple[str, ...], object]]]:
    """A task definition's first container's variables: name -> [(conditions, value)]."""
    out: dict[str, list] = {}
    for entry in res[name]["Properties"]["ContainerDefinitions"][0].get("Environment", []):
        for conds, e in branches(entry):
            for more, value in branches(e["Value"]):
                out.setdefault(e["Name"], []).append((conds + more, value))
    return out


def check_schedules(t: dict, f: Failures) -> None:
    """A scheduled task runs a task definition of the stack, on the stack's cluster, overriding
    only containers it has, with a falconry command; its role may run just that task definition
    and pass just its two roles."""
    res = t["Resources"]
    for name, r in res.items():
        if r.get("Type") != "AWS::Events::Rule":
            continue
        for target in r["Properties"]["Targets"]:
            ecs = target.get("EcsParameters")
            if not f.check(ecs is not None, name, "targets an ECS task"):
                continue
            f.check(refs(target["Arn"]) == {"Cluster"}, name, "runs on the stack's cluster")
            taskdef = refs(ecs["TaskDefinitionArn"]).pop()
            props = res[taskdef]["Properties"]
            names = {c["Name"] for c in props["ContainerDefinitions"]}
            overrides = json.loads(target["Input"])["containerOverrides"]
            for o in overrides:
                f.check(o["name"] in names, name, f"overrides container {o['name']!r} of {taskdef}")
                cmd = o.get("command", [])
                f.check(bool(cmd) and cmd[0] in {"report", "enrich", "hunt"}, name, f"command {cmd}")
            role = refs(target["RoleArn"]).pop()
            passed = set()
            for _, doc in role_policies({role: res[role]}):
                for s in statements(doc):
                    actions = listify(s.get("Action", []))
                    if "iam:PassRole" in actions:
                        passed |= refs(s["Resource"])
                    if "ecs:RunTask" in actions:
                        family = sub_text(s["Resource"]) or ""
                        f.check(
                            family.endswith(f"task-definition/{sub_text(props['Family'])}:*"),
                            role,
                            f"runs {family}, not only {taskdef}'s family",
                        )
            f.check(
                passed == {refs(props["ExecutionRoleArn"]).pop(), refs(props["TaskRoleArn"]).pop()},
                role,
                f"passes {sorted(passed)}, not exactly {taskdef}'s roles",
            )


def check_hunt(t: dict, f: Failures) -> None:
    """The hunt daemon (EnableHunt) and what it asks of the forwarder."""
    res = t["Resources"]
    for name in ("HuntLogGroup", "HuntExecutionRole", "HuntTaskRole", "HuntTaskDefinition", "HuntService"):
        f.check(res.get(name, {}).get("Condition") == "Hunt", name, "exists with EnableHunt only (Condition Hunt)")
    svc = res["HuntService"]["Properties"]
    dc = svc["DeploymentConfiguration"]
    f.check(str(svc["DesiredCount"]) == "1", "HuntService", "one hunter")
    f.check(int(dc["MaximumPercent"]) == 100 and int(dc["MinimumHealthyPercent"]) == 0, "HuntService", "two hunters never overlap")

    hunt = environment(res, "HuntTaskDefinition")
    one = lambda k: [sub_text(v) or v for _, v in hunt.get(k, [])]  # noqa: E731
    f.check(one("FALCONRY__HUNT__LAKE") == ["s3://${LakeBucket}"], "HuntTaskDefinition", "hunts through the lake bucket's root")
    sources = [[s.strip() for s in str(sub_text(v)).split(",")] for _, v in hunt.get("FALCONRY__HUNT__INDICATORS", [])]
    f.check(
        bool(sources) and all(s[0] == "s3://${StreamBucket}/indicators/" for s in sources),
        "HuntTaskDefinition",
        f"FALCONRY__HUNT__INDICATORS {sources} starts with the stream bucket's indicators/",
    )
    f.check(
        sorted(s[1:] for s in sources) == [[], ["taxii:${TaxiiCollectionUrl}"]],
        "HuntTaskDefinition",
        f"FALCONRY__HUNT__INDICATORS {sources} adds the TAXII collection when it is given",
    )
    f.check(one("FALCONRY__HUNT__ENGINE") == [{"Ref": "HuntEngine"}], "HuntTaskDefinition", "engine is the HuntEngine parameter")
    f.check(one("FALCONRY__HUNT__LOOKBACK") == [{"Ref": "HuntLookback"}], "HuntTaskDefinition", "lookback is the HuntLookback parameter")
    wg = res["AthenaWorkGroup"]["Properties"]["WorkGroupConfiguration"]["ResultConfiguration"]["OutputLocation"]
    for var, want in (
        ("FALCONRY__HUNT__ATHENA__WORKGROUP", {"Ref": "AthenaWorkGroup"}),
        ("FALCONRY__HUNT__ATHENA__DATABASE", {"Ref": "GlueDatabase"}),
        ("FALCONRY__HUNT__ATHENA__OUTPUT_LOCATION", sub_text(wg)),
    ):
        f.check(
            [(c, sub_text(v) or v) for c, v in hunt.get(var, [])] == [(("HuntAthena",), want)],
            "HuntTaskDefinition",
            f"{var} is {want}, with an Athena engine",
        )
    secrets = res["HuntTaskDefinition"]["Properties"]["ContainerDefinitions"][0].get("Secrets")
    f.check(
        (intrinsic(secrets) or ("", [None]))[1][0] == "HuntTaxiiSecret",
        "HuntTaskDefinition",
        "secrets only with an authenticated TAXII collection (HuntTaxiiSecret)",
    )

    # The forwarder looks, live, for what the hunt hunts: the same feeds and the hunt's TAXII pulls.
    taxii_prefix = (one("FALCONRY__HUNT__TAXII_PREFIX") or ["state/hunt/taxii"])[0].strip("/")
    fwd = environment(res, "ForwarderTaskDefinition").get("FALCONRY__DETECT__INDICATORS", [])
    f.check(len(fwd) == 1 and fwd[0][0] == ("Hunt",), "ForwarderTaskDefinition", "FALCONRY__DETECT__INDICATORS with EnableHunt")
    for _, v in fwd:
        got = sorted(s.strip() for s in str(sub_text(v)).split(","))
        want = sorted(["s3://${StreamBucket}/indicators/", f"stix=s3://${{LakeBucket}}/{taxii_prefix}/"])
        f.check(got == want, "ForwarderTaskDefinition", f"FALCONRY__DETECT__INDICATORS {got} is not {want} (the hunt's feeds and TAXII pulls)")

    # Athena and Glue only with an Athena engine.
    for doc in (p["PolicyDocument"] for p in res["HuntTaskRole"]["Properties"]["Policies"]):
        for s in listify(doc["Statement"]):
            for conds, st in branches(s):
                actions = [str(a) for a in listify(st.get("Action", []))]
                if any(a.startswith(("athena:", "glue:")) for a in actions) or st.get("Sid", "").startswith("Athena"):
                    f.check(conds == ("HuntAthena",), f"HuntTaskRole/{st.get('Sid', '?')}", "only with an Athena engine (HuntAthena)")


def run_lint(f: Failures, templates: list[Path]) -> int:
    count = 0
    for path in templates:
        count += 1
        matches = lint(path.read_text(), config=ManualArgs(include_checks=["I"], regions=LINT_REGIONS))
        for m in matches:
            f.check(False, f"{path}:{m.linenumber}", f"cfn-lint {m.rule.id} {m.message}")
    return count


# ---------------------------------------------------------------- resolving, for --env
class Resolver:
    def __init__(self, t: dict, params: dict[str, str]):
        self.t = t
        self.params = {k: str(v.get("Default", "")) for k, v in t["Parameters"].items()}
        self.params.update(params)

    def condition(self, name: str) -> bool:
        return bool(self.value(self.t["Conditions"][name]))

    def ref(self, name: str):
        pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws", "AWS::StackName": "falconry", "AWS::NoValue": NOVALUE}
        if name in pseudo:
            return pseudo[name]
        if name in self.params:
            return self.params[name]
        r = self.t["Resources"][name]
        p = r.get("Properties", {})
        kind = r["Type"]
        if kind == "AWS::S3::Bucket":
            return self.value(p["BucketName"])
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{self.value(p['QueueName'])}"
        if kind == "AWS::SecretsManager::Secret":
            return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{self.value(p['Name'])}-AbCdEf"
        if kind == "AWS::Glue::Database":
            return self.value(p["DatabaseInput"]["Name"])
        if kind in ("AWS::Athena::WorkGroup",):
            return self.value(p["Name"])
        if kind == "AWS::Logs::LogGroup":
            return self.value(p["LogGroupName"])
        if kind == "AWS::ECS::Cluster":
            return self.value(p["ClusterName"])
        return name

    def getatt(self, name: str, attr: str):
        r = self.t["Resources"][name]
        if r["Type"] == "AWS::S3::Bucket" and attr == "Arn":
            return f"arn:aws:s3:::{self.ref(name)}"
        if r["Type"] == "AWS::SQS::Queue" and attr == "Arn":
            return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{self.value(r['Properties']['QueueName'])}"
        return f"{name}.{attr}"

    def value(self, node):
        it = intrinsic(node)
        if it:
            k, v = it
            if k == "Ref":
                return self.ref(str(v))
            if k == "Fn::GetAtt":
                n, a = (v if isinstance(v, list) else str(v).split(".", 1))
                return self.getatt(str(n), str(a))
            if k == "Fn::Sub":
                text, extra = (v[0], self.value(v[1])) if isinstance(v, list) else (v, {})

                def one(m: re.Match) -> str:
                    key = m.group(1)
                    if key.startswith("!"):
                        return "${" + key[1:] + "}"
                    if key in extra:
                        return str(extra[key])
                    if "." in key and key.split(".")[0] in self.t["Resources"]:
                        n, a = key.split(".", 1)
                        return str(self.getatt(n, a))
                    return str(self.ref(key))

                return re.sub(r"\$\{([^}]+)\}", one, str(text))
            if k == "Fn::If":
                c, a, b = v
                return self.value(a if self.condition(str(c)) else b)
            if k == "Fn::Equals":
                return str(self.value(v[0])) == str(self.value(v[1]))
            if k == "Fn::Not":
                return not self.value(v[0])
            if k == "Fn::And":
                return all(self.value(x) for x in v)
            if k == "Fn::Or":
                return any(self.value(x) for x in v)
            if k == "Condition":
                return self.condition(str(v))
            if k == "Fn::Join":
                parts = self.value(v[1])
                return str(v[0]).join(str(x) for x in parts if x is not NOVALUE)
            raise SystemExit(f"unsupported intrinsic {k}")
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                x = self.value(v)
                if x is not NOVALUE:
                    out[str(k)] = x
            return out
        if isinstance(node, list):
            return [x for x in (self.value(v) for v in node) if x is not NOVALUE]
        return node


def containers(t: dict, params: dict[str, str]) -> dict:
    r = Resolver(t, params)
    out = {}
    for name, res in t["Resources"].items():
        if res.get("Type") != "AWS::ECS::TaskDefinition":
            continue
        if "Condition" in res and not r.condition(res["Condition"]):
            continue
        for c in r.value(res["Properties"]["ContainerDefinitions"]):
            secrets = {}
            for s in c.get("Secrets", []):
                # arn:...:secret:name-AbCdEf:json-key:version-stage:version-id
                arn, _, rest = s["ValueFrom"].partition("-AbCdEf:")
                secrets[s["Name"]] = {"secret": arn.rsplit(":", 1)[-1], "key": rest.split(":")[0]}
            out[c["Name"]] = {
                "command": c["Command"],
                "env": {e["Name"]: str(e["Value"]) for e in c.get("Environment", [])},
                "secrets": secrets,
            }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--env", nargs="*", metavar="PARAM=VALUE", help="print the containers' environment for these parameters")
    ap.add_argument("--template", type=Path, help="check this template instead of deploy/cloudformation/ (tests of the checks)")
    args = ap.parse_args()
    t = load(args.template or MAIN)
    if args.env is not None:
        params = dict(p.split("=", 1) for p in args.env)
        print(json.dumps(containers(t, params), indent=2, sort_keys=True))
        return 0
    f = Failures()
    linted = run_lint(f, [args.template] if args.template else TEMPLATES)
    check_iam(t, f)
    check_wiring(t, f)
    if f.items:
        print(f"{len(f.items)} problem(s):")
        for i in f.items:
            print(f"  - {i}")
        return 1
    print(f"OK: {linted} template(s) lint clean; IAM least-privilege, wiring and outputs checked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
