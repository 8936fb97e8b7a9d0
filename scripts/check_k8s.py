#!/usr/bin/env python3
"""Renders every Kubernetes overlay and checks what would be applied.

For each overlay in deploy/kubernetes/overlays:

1. render it with `kubectl kustomize` (kustomize built into kubectl);
2. validate every object against its schema, rejecting unknown fields:
   Kubernetes kinds with kubernetes-validate (the API's OpenAPI schemas,
   for the oldest and newest Kubernetes version we support), KEDA and
   Prometheus Operator kinds with the cloudcoil models generated from
   their CRDs; a kind with no schema is an error;
3. check references between objects: Services, ServiceMonitors, PDBs and
   autoscalers select or name something that exists, every mounted
   ConfigMap, Secret and PVC exists (or is the documented external
   Secret), named ports exist;
4. run `sluice check` on the exact configuration the Deployment would run:
   the rendered ConfigMaps written to disk, the container's SLUICE_*
   environment applied, secrets from secret.example.yaml, GeoIP fixture
   databases.

Also validates deploy/kubernetes/secret.example.yaml and the HPA
component's prometheus-adapter values. Exits non-zero on any problem.

Run by scripts/check-k8s.sh with the virtualenv that scripts/install-deps.sh
sets up; arguments: the kubectl to use, the sluice binary, a directory of
GeoIP fixture databases.
"""

import math
import os
import pathlib
import re
import subprocess
import sys
import tempfile

import yaml
import kubernetes_validate

# cloudcoil's models accept unknown fields by default; the API server
# would reject (or silently drop) them, so forbid them before the models
# are built.
import cloudcoil.pydantic

cloudcoil.pydantic.BaseModel.model_config["extra"] = "forbid"
import cloudcoil.models.keda.v1alpha1 as keda  # noqa: E402
import cloudcoil.models.prometheus_operator.v1 as monitoring  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy/kubernetes"
# The oldest Kubernetes minor version we claim to support, and the newest
# the schemas know.
KUBERNETES_VERSIONS = ["1.28.0", kubernetes_validate.utils.latest_version()]
CRD_MODELS = {
    ("keda.sh/v1alpha1", "ScaledObject"): keda.ScaledObject,
    ("keda.sh/v1alpha1", "TriggerAuthentication"): keda.TriggerAuthentication,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): monitoring.ServiceMonitor,
    ("monitoring.coreos.com/v1", "PodMonitor"): monitoring.PodMonitor,
    ("monitoring.coreos.com/v1", "PrometheusRule"): monitoring.PrometheusRule,
}
# Created out of band (secret.example.yaml), never by kustomize.
# Created out of band (kubectl or a secret manager), never committed.
EXTERNAL_SECRETS = {"sluice-credentials", "sluice-alert-credentials"}


class Problems:
    def __init__(self):
        self.items = []

    def add(self, where, message):
        self.items.append(f"{where}: {message}")


def name_of(obj):
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def validate_schema(obj, where, problems):
    api, kind = obj.get("apiVersion"), obj.get("kind")
    model = CRD_MODELS.get((api, kind))
    if model is not None:
        try:
            model.model_validate(obj)
        except Exception as e:  # pydantic.ValidationError
            problems.add(where, f"{name_of(obj)} does not match the {kind} CRD schema:\n{e}")
        return
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.utils.SchemaNotFoundError:
            problems.add(where, f"{name_of(obj)}: no schema for {api} {kind} (Kubernetes {version})")
            return
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            problems.add(where, f"{name_of(obj)} is invalid for Kubernetes {version}: {path}: {e.message}")


def pod_spec(obj):
    kind = obj["kind"]
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return obj["spec"]["template"]["spec"]
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return None


def pod_labels(obj):
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"].get("metadata", {}).get("labels", {})
    return obj["spec"]["template"].get("metadata", {}).get("labels", {})


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_references(objs, where, problems):
    by_kind = {}
    for o in objs:
        by_kind.setdefault(o["kind"], {})[o["metadata"]["name"]] = o
    workloads = [o for o in objs if pod_spec(o) is not None]
    deployments = by_kind.get("Deployment", {})
    namespaces = {o["metadata"].get("namespace") for o in objs}
    if len(namespaces) != 1:
        problems.add(where, f"objects are spread over namespaces {sorted(map(str, namespaces))}")

    for o in workloads:
        spec = pod_spec(o)
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        containers = spec.get("containers", []) + spec.get("initContainers", [])
        for c in containers:
            for m in c.get("volumeMounts", []):
                if m["name"] not in volumes:
                    problems.add(where, f"{name_of(o)} container {c['name']} mounts unknown volume {m['name']}")
            port_names = {p.get("name") for p in c.get("ports", [])}
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                port = c.get(probe, {}).get("httpGet", {}).get("port")
                if isinstance(port, str) and port not in port_names:
                    problems.add(where, f"{name_of(o)} {probe} uses unknown port name {port}")
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["name"] not in by_kind.get("Secret", {}) and ref["name"] not in EXTERNAL_SECRETS:
                    problems.add(where, f"{name_of(o)} env {env['name']} uses unknown Secret {ref['name']}")
        for v in volumes.values():
            if "configMap" in v and v["configMap"]["name"] not in by_kind.get("ConfigMap", {}):
                problems.add(where, f"{name_of(o)} volume {v['name']}: no ConfigMap {v['configMap']['name']}")
            if "secret" in v:
                s = v["secret"]["secretName"]
                if s not in by_kind.get("Secret", {}) and s not in EXTERNAL_SECRETS:
                    problems.add(where, f"{name_of(o)} volume {v['name']}: no Secret {s}")
            if "persistentVolumeClaim" in v:
                claim = v["persistentVolumeClaim"]["claimName"]
                if claim not in by_kind.get("PersistentVolumeClaim", {}):
                    problems.add(where, f"{name_of(o)} volume {v['name']}: no PersistentVolumeClaim {claim}")
        if o["kind"] == "Deployment":
            match = o["spec"]["selector"].get("matchLabels", {})
            if not selects(match, pod_labels(o)):
                problems.add(where, f"{name_of(o)}: selector {match} does not match its pod labels")

    def pods_selected(selector):
        return [w for w in workloads if w["kind"] == "Deployment" and selects(selector, pod_labels(w))]

    for svc in by_kind.get("Service", {}).values():
        targets = pods_selected(svc["spec"].get("selector", {}))
        if not targets:
            problems.add(where, f"{name_of(svc)} selects no pods")
        for port in svc["spec"]["ports"]:
            tp = port.get("targetPort")
            for t in targets:
                names = {p.get("name") for c in pod_spec(t)["containers"] for p in c.get("ports", [])}
                if isinstance(tp, str) and tp not in names:
                    problems.add(where, f"{name_of(svc)} targetPort {tp} is not a port of {name_of(t)}")
    for pdb in by_kind.get("PodDisruptionBudget", {}).values():
        if not pods_selected(pdb["spec"]["selector"].get("matchLabels", {})):
            problems.add(where, f"{name_of(pdb)} selects no pods")
    for sm in by_kind.get("ServiceMonitor", {}).values():
        match = sm["spec"]["selector"].get("matchLabels", {})
        services = [s for s in by_kind.get("Service", {}).values() if selects(match, s["metadata"].get("labels", {}))]
        if not services:
            problems.add(where, f"{name_of(sm)} selects no Service")
        for ep in sm["spec"]["endpoints"]:
            for s in services:
                if ep.get("port") not in {p.get("name") for p in s["spec"]["ports"]}:
                    problems.add(where, f"{name_of(sm)} endpoint port {ep.get('port')} is not a port of {name_of(s)}")
        job_label = sm["spec"].get("jobLabel")
        for s in services:
            if job_label and s["metadata"].get("labels", {}).get(job_label) != "sluice":
                problems.add(where, f"{name_of(sm)}: jobLabel {job_label} of {name_of(s)} is not `sluice` (the rules select job=\"sluice\")")
    for so in by_kind.get("ScaledObject", {}).values():
        target = so["spec"]["scaleTargetRef"]["name"]
        if target not in deployments:
            problems.add(where, f"{name_of(so)} scales unknown Deployment {target}")
        for trigger in so["spec"]["triggers"]:
            auth = trigger.get("authenticationRef", {}).get("name")
            if auth and auth not in by_kind.get("TriggerAuthentication", {}):
                problems.add(where, f"{name_of(so)} uses unknown TriggerAuthentication {auth}")
    for hpa in by_kind.get("HorizontalPodAutoscaler", {}).values():
        target = hpa["spec"]["scaleTargetRef"]["name"]
        if target not in deployments:
            problems.add(where, f"{name_of(hpa)} scales unknown Deployment {target}")
    autoscaled = {
        o["spec"]["scaleTargetRef"]["name"]
        for kind in ("ScaledObject", "HorizontalPodAutoscaler")
        for o in by_kind.get(kind, {}).values()
    }
    if len(by_kind.get("ScaledObject", {})) and len(by_kind.get("HorizontalPodAutoscaler", {})):
        problems.add(where, "both a KEDA ScaledObject and an HPA: they would fight over the replica count")
    for name, d in deployments.items():
        if name in autoscaled and "replicas" in d["spec"]:
            problems.add(where, f"{name_of(d)} sets replicas although it is autoscaled")


def self_signed_pem(directory):
    key, cert = directory / "ca.key", directory / "ca.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=sluice-check-k8s"],
        check=True, capture_output=True,
    )
    return cert.read_text()


def run_sluice_check(objs, where, sluice, geoip, problems):
    """`sluice check` on the configuration the sluice container would see."""
    deployment = next((o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == "sluice"), None)
    if deployment is None:
        problems.add(where, "no Deployment sluice")
        return
    spec = pod_spec(deployment)
    container = next(c for c in spec["containers"] if c["name"] == "sluice")
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    configmaps = {o["metadata"]["name"]: o for o in objs if o["kind"] == "ConfigMap"}
    secret_example = yaml.safe_load((K8S / "secret.example.yaml").read_text())

    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        pem = self_signed_pem(tmp)
        mounts = {}
        for m in container.get("volumeMounts", []):
            v = volumes[m["name"]]
            local = tmp / "mounts" / m["name"]
            if "configMap" in v:
                local.mkdir(parents=True)
                for key, text in configmaps[v["configMap"]["name"]].get("data", {}).items():
                    (local / key).write_text(text)
            elif "secret" in v:
                local.mkdir(parents=True)
                for key, text in secret_example["stringData"].items():
                    (local / key).write_text(pem if key.endswith(".crt") else text)
            elif m["mountPath"] == "/usr/share/GeoIP":
                local = pathlib.Path(geoip)
            else:
                local.mkdir(parents=True)
            mounts[m["mountPath"]] = str(local)

        # One pass over the text (longest mount path first), so that a
        # replacement is never rewritten again by a shorter mount such as
        # /tmp.
        mount_re = re.compile(
            r"(?<![\w./-])(" + "|".join(re.escape(m) for m in sorted(mounts, key=len, reverse=True)) + r")(?![\w.-])"
        )

        def localize(text):
            return mount_re.sub(lambda m: mounts[m.group(1)], text)

        env = {}
        for e in container.get("env", []):
            if "value" in e:
                value = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), e["value"])
            else:
                src = e["valueFrom"]
                if "fieldRef" in src:
                    value = deployment["metadata"]["name"] + "-5d8f9c7b6-x2x9q"
                elif "resourceFieldRef" in src:
                    request = container["resources"]["requests"]["cpu"]
                    cpus = float(request[:-1]) / 1000 if request.endswith("m") else float(request)
                    value = str(math.ceil(cpus))
                elif "secretKeyRef" in src:
                    value = secret_example["stringData"][src["secretKeyRef"]["key"]]
                else:
                    problems.add(where, f"env {e['name']}: unsupported valueFrom {src}")
                    continue
            env[e["name"]] = value
        args = container["args"]
        if args[:2] != ["run", "--config"]:
            problems.add(where, f"sluice container args {args} are not `run --config <file>`")
            return
        config = localize(args[2])
        # The config file's own absolute paths point into the mounts too.
        config_path = pathlib.Path(config)
        config_path.write_text(localize(config_path.read_text()))
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
        child_env.update({k: localize(v) for k, v in env.items() if k.startswith("SLUICE_")})
        result = subprocess.run([sluice, "check", "--config", config], env=child_env, capture_output=True, text=True)
        if result.returncode != 0:
            problems.add(where, f"sluice check of the rendered configuration failed:\n{result.stderr.strip()}")
        else:
            print(f"  sluice check: {result.stderr.strip().splitlines()[-1]}")


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: check_k8s.py KUBECTL SLUICE_BINARY GEOIP_FIXTURE_DIR")
    kubectl, sluice, geoip = sys.argv[1:]
    problems = Problems()
    overlays = sorted(p for p in (K8S / "overlays").iterdir() if (p / "kustomization.yaml").exists())
    if not overlays:
        sys.exit("no overlays found")
    for overlay in overlays:
        where = str(overlay.relative_to(ROOT))
        result = subprocess.run([kubectl, "kustomize", str(overlay)], capture_output=True, text=True)
        if result.returncode != 0:
            problems.add(where, f"kustomize failed:\n{result.stderr.strip()}")
            continue
        objs = [o for o in yaml.safe_load_all(result.stdout) if o]
        kinds = ", ".join(sorted(name_of(o) for o in objs))
        print(f"{where}: {len(objs)} objects ({kinds})")
        for o in objs:
            validate_schema(o, where, problems)
        check_references(objs, where, problems)
        run_sluice_check(objs, where, sluice, geoip, problems)

    secret = yaml.safe_load((K8S / "secret.example.yaml").read_text())
    validate_schema(secret, "deploy/kubernetes/secret.example.yaml", problems)
    adapter = yaml.safe_load((K8S / "components/hpa/prometheus-adapter-rules.yaml").read_text())
    for rule in adapter.get("rules", {}).get("external", []):
        for key in ("seriesQuery", "resources", "name", "metricsQuery"):
            if key not in rule:
                problems.add("components/hpa/prometheus-adapter-rules.yaml", f"external rule without {key}")

    if problems.items:
        print("\n".join(problems.items), file=sys.stderr)
        print(f"{len(problems.items)} problem(s) in the Kubernetes manifests", file=sys.stderr)
        return 1
    print(f"kubernetes manifests: {len(overlays)} overlays rendered and valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
