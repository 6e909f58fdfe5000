#!/usr/bin/env python3
"""Checks of deploy/compose.yaml, without Docker.

Run with the project's virtualenv (PyYAML and boto3 come with moto; tests/deploy.rs runs this):

    .venv/bin/python deploy/tests/check_compose.py           # structure and wiring
    .venv/bin/python deploy/tests/check_compose.py --plan --root DIR --suffix S
        # runs the compose file's init script against $AWS_ENDPOINT_URL (moto) with its
        # bucket and queue names suffixed, and prints the falconry services' commands as
        # JSON (jobs in start order, then the daemons), rewritten for this machine (volume -> DIR, moto -> the endpoint);
        # the hunt daemon, which has no --until-empty, as `check-config` of its settings and
        # then one hunt of them (its first round: the same feeds, lake and lookback)

The structure checks (every failure is reported, then the exit status is 1): the services are
there; moto's image is the version scripts/test.sh tests with; every falconry service runs the
image built from deploy/Dockerfile with a falconry subcommand; depends_on names services and
has no cycle; one-shot jobs switch the image's health check off, daemons keep it; ports are
published on 127.0.0.1 only; the forwarder writes to the lake bucket, the streamer to the
stream bucket the init script gives a notification, and the enricher reads the queue it
creates, through moto; the hunt watches the stream bucket's `indicators/`, which the init
script seeds, and hunts through the lake bucket, and the forwarder looks for the same
indicators and the hunt's TAXII pulls.

It must not change anything but moto's state (with --plan).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
VOLUME_ROOT = "/home/nonroot"
MOTO = "http://moto:5000"
SERVICES = {"moto", "init", "fdr-fixtures", "rules", "stream-fixtures", "forwarder", "streamer", "hunt", "enricher"}
DAEMONS = {"forwarder", "hunt", "enricher"}
# Daemons the plan runs to the end of their input (`--until-empty`); the others get one_pass.
DRAINED = {"forwarder", "enricher"}
SUBCOMMANDS = {"forward", "rules", "stream", "enrich", "fixtures", "hunt"}
# The hunt daemon's TAXII pulls, in the lake (`[hunt] taxii_prefix`'s default).
TAXII_PREFIX = "state/hunt/taxii"


class Failures:
    def __init__(self) -> None:
        self.items: list[str] = []

    def check(self, ok: bool, where: str, what: str) -> bool:
        if not ok:
            self.items.append(f"{where}: {what}")
        return ok


def moto_version() -> str:
    text = (ROOT / "scripts" / "test.sh").read_text()
    m = re.search(r'^MOTO_VERSION="([^"]+)"', text, re.M)
    if not m:
        raise SystemExit("scripts/test.sh has no MOTO_VERSION")
    return m.group(1)


def start_order(services: dict) -> list[str]:
    """Services in an order that respects depends_on; raises on a cycle."""
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise ValueError(" -> ".join(path + [name]))
        state[name] = "visiting"
        for dep in sorted(services[name].get("depends_on", {}) or {}):
            visit(dep, path + [name])
        state[name] = "done"
        order.append(name)

    for name in sorted(services):
        visit(name, [])
    return order


def arg_after(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args and args.index(flag) + 1 < len(args) else None


def check(doc: dict, f: Failures) -> None:
    services = doc.get("services", {})
    f.check(set(services) == SERVICES, "services", f"{sorted(services)} is not {sorted(SERVICES)}")
    moto_image = f"motoserver/moto:{moto_version()}"
    for name in ("moto", "init"):
        f.check(services.get(name, {}).get("image") == moto_image, name, f"image is {moto_image} (scripts/test.sh's moto)")
    for name, s in services.items():
        for dep, cond in (s.get("depends_on") or {}).items():
            f.check(dep in services, name, f"depends on unknown service {dep}")
            f.check(cond.get("condition") in ("service_started", "service_healthy", "service_completed_successfully"), name, f"condition {cond}")
        for p in s.get("ports", []):
            f.check(str(p).startswith("127.0.0.1:"), name, f"port {p} is published beyond this machine")
        if name in ("moto", "init"):
            continue
        f.check(s.get("image") == "falconry:local", name, "the falconry image")
        build = s.get("build", {})
        f.check((COMPOSE.parent / build.get("context", ".") / build.get("dockerfile", "")).resolve() == ROOT / "deploy" / "Dockerfile", name, f"built from deploy/Dockerfile ({build})")
        cmd = [str(c) for c in s.get("command", [])]
        f.check(bool(cmd) and cmd[0] in SUBCOMMANDS, name, f"command {cmd} is not a falconry subcommand")
        f.check(s.get("environment", {}).get("AWS_ENDPOINT_URL") == MOTO, name, "AWS_ENDPOINT_URL is moto")
        f.check(any(str(v).endswith(":" + VOLUME_ROOT) for v in s.get("volumes", [])), name, f"the work volume at {VOLUME_ROOT}")
        disabled = (s.get("healthcheck") or {}).get("disable") is True
        if name in DAEMONS:
            f.check(not disabled, name, "a daemon keeps the image's health check")
            f.check(s.get("restart") == "unless-stopped", name, "a daemon restarts")
        else:
            f.check(disabled, name, "a one-shot job has no admin port: health check disabled")
    try:
        start_order(services)
    except ValueError as e:
        f.check(False, "depends_on", f"cycle {e}")
    except KeyError as e:
        f.check(False, "depends_on", f"unknown service {e}")

    env = services.get("init", {}).get("environment", {})
    lake, stream, queue = env.get("LAKE_BUCKET"), env.get("STREAM_BUCKET"), env.get("ENRICHER_QUEUE")
    fwd = [str(c) for c in services.get("forwarder", {}).get("command", [])]
    f.check(arg_after(fwd, "--dest") == f"s3://{lake}", "forwarder", f"--dest is the lake bucket s3://{lake}")
    st = [str(c) for c in services.get("streamer", {}).get("command", [])]
    f.check(arg_after(st, "--dest") == f"s3://{stream}", "streamer", f"--dest is the stream bucket s3://{stream}")
    en = [str(c) for c in services.get("enricher", {}).get("command", [])]
    f.check(arg_after(en, "--queue") == f"{MOTO}/123456789012/{queue}", "enricher", f"--queue is {queue} on moto")
    script = init_script(doc)
    for needle in ("put_bucket_notification_configuration", '"prefix", "Value": "stream/"', '"suffix", "Value": ".ndjson.gz"', "RedrivePolicy", 'Key="indicators/'):
        f.check(needle in script, "init", f"the script sets up {needle}")
    # The hunt: the seeded feeds, through the lake; the forwarder matches the same live.
    hunt_env = services.get("hunt", {}).get("environment", {})
    feeds = f"s3://{stream}/indicators/"
    f.check(services.get("hunt", {}).get("command") == ["hunt"], "hunt", "runs the daemon: `hunt` with [hunt] from the environment, no --ioc")
    f.check(hunt_env.get("FALCONRY__HUNT__LAKE") == f"s3://{lake}", "hunt", f"FALCONRY__HUNT__LAKE is the lake bucket s3://{lake}")
    sources = [s.strip() for s in str(hunt_env.get("FALCONRY__HUNT__INDICATORS", "")).split(",")]
    f.check(feeds in sources, "hunt", f"FALCONRY__HUNT__INDICATORS {sources} names {feeds}, which the init script seeds")
    live = sorted(s.strip() for s in str(services.get("forwarder", {}).get("environment", {}).get("FALCONRY__DETECT__INDICATORS", "")).split(","))
    want = sorted([s for s in sources if not s.startswith("taxii:")] + [f"stix=s3://{lake}/{TAXII_PREFIX}/"])
    f.check(live == want, "forwarder", f"FALCONRY__DETECT__INDICATORS {live} is not {want} (the hunt's feeds and TAXII pulls)")
    f.check("$" not in script, "init", "no $ in the script (compose would interpolate it)")


def init_script(doc: dict) -> str:
    cmd = doc["services"]["init"]["command"]
    return cmd[0] if isinstance(cmd, list) else cmd


def plan(doc: dict, root: str, suffix: str) -> dict:
    """Runs the init script against moto with suffixed names; returns the falconry steps."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        raise SystemExit("--plan needs AWS_ENDPOINT_URL (moto's server): run with scripts/test.sh")
    services = doc["services"]
    init_env = services["init"]["environment"]
    renames = {init_env[k]: f"{init_env[k]}-{suffix}" for k in ("LAKE_BUCKET", "STREAM_BUCKET", "ENRICHER_QUEUE")}

    def rewrite(value: str) -> str:
        value = value.replace(MOTO, endpoint).replace(VOLUME_ROOT, root)
        for old, new in renames.items():
            value = re.sub(rf"{re.escape(old)}(?![\w-])", new, value)
        return value

    env = {k: rewrite(str(v)) for k, v in init_env.items()}
    saved = dict(os.environ)
    try:
        os.environ.update(env)
        # Its "ready" line goes to stderr: stdout is the plan.
        with contextlib.redirect_stdout(sys.stderr):
            exec(compile(init_script(doc), "compose.yaml:init", "exec"), {"__name__": "__compose_init__"})
    finally:
        os.environ.clear()
        os.environ.update(saved)
    steps = []
    # Jobs first, then daemons: the daemons run here until their input is drained, whereas
    # in compose they wait for it.
    order = start_order(services)
    for name in sorted(order, key=lambda n: (n in DAEMONS, n == "enricher", order.index(n))):
        if name in ("moto", "init"):
            continue
        s = services[name]
        args = [rewrite(str(c)) for c in s["command"]]
        env = {k: rewrite(str(v)) for k, v in s.get("environment", {}).items()}
        if name in DAEMONS and name not in DRAINED:
            steps.extend({"service": name, "daemon": False, "args": a, "env": env} for a in one_pass(args, env))
            continue
        steps.append({"service": name, "daemon": name in DAEMONS, "args": args, "env": env})
    return {"renames": renames, "steps": steps}


def one_pass(args: list[str], env: dict[str, str]) -> list[list[str]]:
    """A daemon that runs until a signal, as finite commands: the hunt daemon's settings through
    `check-config` (what the daemon validates before it starts), then one hunt of the same feeds
    through the same lake over the same lookback (what its first round does)."""
    if args != ["hunt"]:
        raise SystemExit(f"no finite form for the daemon {args}")
    hunt = ["hunt"]
    for s in env.get("FALCONRY__HUNT__INDICATORS", "").split(","):
        hunt += ["--ioc", s.strip()]
    hunt += ["--lake", env["FALCONRY__HUNT__LAKE"], "--since", env.get("FALCONRY__HUNT__LOOKBACK", "90d")]
    return [["check-config"], hunt]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--plan", action="store_true")
    ap.add_argument("--root")
    ap.add_argument("--suffix")
    args = ap.parse_args()
    doc = yaml.safe_load(COMPOSE.read_text())
    f = Failures()
    check(doc, f)
    if f.items:
        print(f"{len(f.items)} problem(s) in {COMPOSE.relative_to(ROOT)}:")
        for i in f.items:
            print(f"  - {i}")
        return 1
    if args.plan:
        if not (args.root and args.suffix):
            raise SystemExit("--plan needs --root and --suffix")
        print(json.dumps(plan(doc, args.root, args.suffix)))
        return 0
    print(f"OK: {COMPOSE.relative_to(ROOT)}: {len(doc['services'])} services, wiring checked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
