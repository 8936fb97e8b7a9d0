#!/usr/bin/env python3
"""Checks docker-compose.yml beyond its schema, without a Docker engine.

    docker-compose config | python scripts/check_compose.py SLUICE_BINARY GEOIP_FIXTURE_DIR

Reads the resolved compose file (`docker compose config` or
`docker-compose config`) on stdin and checks that every bind-mounted file
exists, every depends_on names a service with the matching healthcheck or
one-shot command, the Sluice service stops within a grace period above
Sluice's own, and that `sluice check` accepts the configuration the sluice
service would run: config/sluice.compose.yaml with the service's SLUICE_*
environment, and the image's default config/sluice.container.yaml, with
the container paths mapped onto the repository. Needs PyYAML (the deploy
virtualenv). Exits non-zero on any problem.
"""

import os
import pathlib
import re
import subprocess
import sys
import tempfile

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent


def seconds(duration):
    m = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", str(duration))
    if not m or not any(m.groups()):
        return None
    return int(m.group(1) or 0) * 60 + int(m.group(2) or 0)


def healthcheck_disabled(svc):
    # v2 keeps `disable: true`; v1 prints it as `test: [NONE]`.
    check = svc.get("healthcheck", {})
    return bool(check.get("disable")) or check.get("test") == ["NONE"]


def volumes(svc):
    """(type, source, target) of each volume: Compose v2 prints the long
    syntax, docker-compose v1 the short `source:target[:mode]` one."""
    out = []
    for vol in svc.get("volumes", []):
        if isinstance(vol, dict):
            out.append((vol.get("type"), vol.get("source"), vol.get("target")))
        else:
            source, target = vol.split(":")[:2]
            out.append(("bind" if source.startswith(("/", ".")) else "volume", source, target))
    return out


def sluice_check(sluice, config, env, geoip, problems, what):
    mapping = {
        "/etc/sluice/pipelines": str(ROOT / "pipelines"),
        "/etc/sluice/templates": str(ROOT / "templates"),
        "/usr/share/GeoIP": geoip,
    }
    text = pathlib.Path(config).read_text()
    for container_path, local in mapping.items():
        text = text.replace(container_path, local)
    with tempfile.TemporaryDirectory() as tmp:
        local_config = pathlib.Path(tmp) / "sluice.yaml"
        local_config.write_text(text)
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
        child_env.update(env)
        result = subprocess.run([sluice, "check", "--config", str(local_config)], env=child_env,
                                capture_output=True, text=True)
    if result.returncode != 0:
        problems.append(f"{what}: sluice check failed:\n{result.stderr.strip()}")
    else:
        print(f"{what}: {result.stderr.strip().splitlines()[-1]}")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: docker-compose config | check_compose.py SLUICE_BINARY GEOIP_FIXTURE_DIR")
    sluice, geoip = sys.argv[1:]
    compose = yaml.safe_load(sys.stdin)
    services = compose["services"]
    problems = []

    for name, svc in services.items():
        for kind, source, _ in volumes(svc):
            if kind == "bind" and not pathlib.Path(source).exists():
                problems.append(f"service {name}: bind mount source {source} does not exist")
            if kind == "volume" and source not in (compose.get("volumes") or {}):
                problems.append(f"service {name}: named volume {source} is not declared")
        deps = svc.get("depends_on", {})
        for dep, cond in (deps.items() if isinstance(deps, dict) else ((d, {}) for d in deps)):
            if dep not in services:
                problems.append(f"service {name} depends on unknown service {dep}")
                continue
            condition = cond.get("condition", "service_started")
            target = services[dep]
            has_check = "healthcheck" in target and not healthcheck_disabled(target)
            if condition == "service_healthy" and not has_check:
                problems.append(f"service {name} waits for {dep} to be healthy, but {dep} has no healthcheck")
            if condition == "service_completed_successfully" and target.get("restart", "no") != "no":
                problems.append(f"service {name} waits for {dep} to complete, but {dep} restarts")
        if svc.get("image", "").startswith("sluice:") and svc.get("command", [None])[0] == "generate":
            if not healthcheck_disabled(svc):
                problems.append(f"service {name}: `sluice generate` opens no port; disable the image's healthcheck")

    sluice_svc = services.get("sluice")
    if sluice_svc is None:
        problems.append("no sluice service")
    else:
        grace = seconds(sluice_svc.get("stop_grace_period", "10s"))
        if grace is None or grace <= 25:
            problems.append("service sluice: stop_grace_period must exceed Sluice's 25 s shutdown.grace_period")
        env = {k: str(v) for k, v in (sluice_svc.get("environment") or {}).items() if k.startswith("SLUICE_")}
        mounts = [src for kind, src, target in volumes(sluice_svc) if target == "/etc/sluice/sluice.yaml"]
        if len(mounts) != 1:
            problems.append("service sluice: expected one bind mount of its config at /etc/sluice/sluice.yaml")
        else:
            sluice_check(sluice, mounts[0], env, geoip, problems, "docker-compose sluice service")
    sluice_check(sluice, ROOT / "config/sluice.container.yaml", {}, geoip, problems, "image default config")

    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    print(f"docker-compose.yml: {len(services)} services checked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
