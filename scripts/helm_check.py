"""Offline checks of the Helm chart helm/loadprobe, with the real Helm library.

Run by scripts/helm-check.sh (which sets up the venv). For every value set (the chart's
defaults and helm/loadprobe/ci/*-values.yaml, plus a few variants) and several Kubernetes
versions it:
  * lints the chart (helm lint, strict) and renders it (helm template), with Helm v4's Go
    library through PyPI `helm-python-sdk`;
  * validates every built-in object with PyPI `kubernetes-validate` (strict schemas of that
    Kubernetes version), and checks the Prometheus Operator objects, which it has no
    schema for, structurally: the PrometheusRule's groups must equal
    alerts/loadprobe.rules.yml, the monitors must point at the loadprobe port, ...;
  * runs the loadprobe binary with each rendered container's own args and the rendered
    ConfigMap, plus --config.check, so the flags and the config are the real ones;
  * checks the restricted security context and the probes of every container;
  * with secured endpoints (ci/web-values.yaml and variants): the web config Secret and its
    keys, --web.config.file and the POST endpoint flags, the Secret mounts, the probes
    (HTTPS under TLS, tcpSocket or an Authorization header under basic auth), the monitors'
    scheme, tlsConfig and basicAuth, the checksum/web-config annotation and the NOTES.
It also checks values.schema.json (typos are rejected), the config checksum, packaging
(the alerts/ and dashboards/ symlinks are followed), and a parent chart that puts loadprobe
into its own Deployment with the loadprobe.sidecar.* named templates.

Usage: helm_check.py LOADPROBE_BINARY. Rendered manifests go to target/helm-check/.
Ends with the line "N passed, M failed"; exits 1 if anything failed.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import kubernetes_validate.utils
import yaml
from helm_python import _native

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "helm" / "loadprobe"
OUT = ROOT / "target" / "helm-check"
RELEASE, NAMESPACE = "lp", "monitoring"
LOADPROBE_PORT = "http-loadprobe"
BUILTIN_GROUPS = ("v1", "apps/v1")
OPERATOR_GROUP = "monitoring.coreos.com/v1"
STANDARD_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)
WEB_CONFIG_PATH = "/etc/loadprobe/web/web-config.yml"
TLS_DIR = "/etc/loadprobe/tls"
# The web config keys loadprobe accepts (docs/operations.md, "Securing loadprobe's endpoints").
WEB_CONFIG_KEYS = {
    "tls_server_config": {"cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version", "max_version"},
    "http_server_config": {"http2", "headers"},
    "basic_auth_users": None,
}
RESTRICTED = {
    "runAsNonRoot": True,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
}

# kubernetes-validate re-reads its 1.4 MB definitions file for every object; the files
# never change during a run, so read each once.
kubernetes_validate.utils.schema_contents = functools.lru_cache(maxsize=None)(
    kubernetes_validate.utils.schema_contents
)


class Checks:
    """Counts assertions; a failure is recorded with its context, never raised."""

    def __init__(self) -> None:
        self.passed = 0
        self.failures: list[str] = []

    def check(self, ok: bool, what: str) -> bool:
        if ok:
            self.passed += 1
        else:
            self.failures.append(what)
            print(f"  FAIL {what}")
        return ok


checks = Checks()
check = checks.check


# --- rendering ------------------------------------------------------------------------
def render(chart: Path, values: dict, kube: str) -> tuple[list[dict], str]:
    """helm template: the rendered objects (each with its template under "_source") and NOTES."""
    with helm.Chart.load(chart) as loaded:
        # helm-python-sdk's Chart.render() has no kube_version; the library's own render
        # call takes it (the same JSON options Chart.render() builds), so call that.
        options = {"name": RELEASE, "namespace": NAMESPACE, "kube_version": f"v{kube}",
                   "is_install": True}
        rendered = json.loads(_native.call_string(
            "helm_render", loaded._raw(), json.dumps(values), json.dumps(options)))
    docs, notes = [], ""
    for source, text in sorted(rendered.items()):
        if source.endswith("NOTES.txt"):
            notes = text
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                doc["_source"] = source
                docs.append(doc)
    return docs, notes


def save(name: str, docs: list[dict], notes: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    clean = [{k: v for k, v in d.items() if k != "_source"} for d in docs]
    (OUT / f"{name}.yaml").write_text(yaml.safe_dump_all(clean, sort_keys=False))
    (OUT / f"{name}.NOTES.txt").write_text(notes)


def load_values(name: str) -> dict:
    return yaml.safe_load((CHART / "ci" / f"{name}-values.yaml").read_text()) or {}


def merged(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def ident(doc: dict) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


# --- checks of one rendered set -------------------------------------------------------
def pod_specs(docs: list[dict]):
    """(owner, pod name for HOSTNAME, pod labels, pod spec) of every pod the set creates."""
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet"):
            template = doc["spec"]["template"]
            # A StatefulSet pod's hostname is <name>-<ordinal>; take the last ordinal.
            suffix = f"-{doc['spec']['replicas'] - 1}" if doc["kind"] == "StatefulSet" else "-7d4b9c-x2x9z"
            yield (ident(doc), doc["metadata"]["name"] + suffix,
                   template["metadata"].get("labels", {}), template["spec"])
        elif doc["kind"] == "Pod":
            yield ident(doc), doc["metadata"]["name"], doc["metadata"].get("labels", {}), doc["spec"]


def loadprobe_containers(spec: dict):
    for field in ("initContainers", "containers"):
        for container in spec.get(field) or []:
            if any(p.get("name") == LOADPROBE_PORT for p in container.get("ports", [])):
                yield field, container


def check_security(where: str, container: dict) -> None:
    context = container.get("securityContext") or {}
    for key, value in RESTRICTED.items():
        check(context.get(key) == value, f"{where}: securityContext.{key} is {context.get(key)!r}, want {value!r}")
    check((context.get("capabilities") or {}).get("drop") == ["ALL"], f"{where}: capabilities.drop is not [ALL]")
    check((context.get("seccompProfile") or {}).get("type") == "RuntimeDefault",
          f"{where}: seccompProfile.type is not RuntimeDefault")


def web_flags(values: dict) -> tuple[bool, bool, str]:
    """(TLS, basic auth, probe Authorization) the chart should derive from the values' web section."""
    web = values.get("web") or {}
    config = web.get("config") or {}
    tls, auth = web.get("tls", "auto"), web.get("basicAuth", "auto")
    if not isinstance(tls, bool):
        tls = bool((config.get("tls_server_config") or {}).get("cert_file"))
    if not isinstance(auth, bool):
        auth = bool(config.get("basic_auth_users"))
    return tls, auth, web.get("probeAuthorization", "")


def check_probes(where: str, container: dict, values: dict | None = None) -> None:
    """httpGet on /-/healthy and /-/ready; HTTPS under TLS; under basic auth tcpSocket, or
    httpGet with web.probeAuthorization as its Authorization header."""
    tls, auth, authorization = web_flags(values or {})
    port = next(p for p in container["ports"] if p["name"] == LOADPROBE_PORT)
    for probe, path in (("livenessProbe", "/-/healthy"), ("readinessProbe", "/-/ready")):
        spec = container.get(probe) or {}
        if auth and not authorization:
            check("httpGet" not in spec and (spec.get("tcpSocket") or {}).get("port") in (LOADPROBE_PORT, port["containerPort"]),
                  f"{where}: {probe} under basic auth should be a tcpSocket probe on loadprobe's port, is {spec}")
            continue
        get = spec.get("httpGet") or {}
        check(get.get("path") == path, f"{where}: {probe} path is {get.get('path')!r}, want {path}")
        check(get.get("port") in (LOADPROBE_PORT, port["containerPort"]),
              f"{where}: {probe} port {get.get('port')!r} is not loadprobe's")
        check(get.get("scheme", "HTTP") == ("HTTPS" if tls else "HTTP"),
              f"{where}: {probe} scheme is {get.get('scheme', 'HTTP')!r} with TLS {tls}")
        headers = {h["name"]: h["value"] for h in get.get("httpHeaders") or []}
        check(headers.get("Authorization") == (authorization if auth else None),
              f"{where}: {probe} Authorization header is {headers.get('Authorization')!r}")


def check_binary(where: str, binary: Path, container: dict, config_text: str, hostname: str,
                 web_text: str | None = None) -> None:
    """Runs loadprobe with the container's own args and the rendered config (and web config,
    when rendered), + --config.check."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "loadprobe.yml"
        config.write_text(config_text)
        web = Path(tmp) / "web-config.yml"
        web.write_text(web_text or "")
        args = [f"--config.file={config}" if a.startswith("--config.file=")
                else f"--web.config.file={web}" if a.startswith("--web.config.file=") and web_text is not None
                else a
                for a in container.get("args", [])]
        env = {**os.environ, "HOSTNAME": hostname}
        result = subprocess.run([str(binary), *args, "--config.check"], env=env,
                                capture_output=True, text=True, timeout=30)
    check(result.returncode == 0 and "valid" in result.stdout,
          f"{where}: loadprobe {' '.join(container.get('args', []))} --config.check "
          f"(HOSTNAME={hostname}) exited {result.returncode}: {result.stderr.strip()}")


def validate(where: str, doc: dict, kube: str) -> None:
    """kubernetes-validate, strict (unknown fields are errors), for that Kubernetes version."""
    body = {k: v for k, v in doc.items() if k != "_source"}
    try:
        kubernetes_validate.validate(body, kube, strict=True)
        check(True, "")
    except kubernetes_validate.ValidationError as error:
        path = ".".join(str(p) for p in error.path)
        check(False, f"{where}: kubernetes-validate {kube}: {path}: {error.message}")
    except kubernetes_validate.SchemaNotFoundError as error:
        check(False, f"{where}: {error.message}")


def check_set(name: str, values: dict, kube: str, binary: Path) -> tuple[list[dict], str]:
    docs, notes = render(CHART, values, kube)
    save(f"{name}-k{kube}", docs, notes)
    for doc in docs:
        where = f"{name}@{kube} {ident(doc)}"
        meta = doc["metadata"]
        check(meta.get("namespace") == NAMESPACE, f"{where}: namespace is {meta.get('namespace')!r}")
        missing = [label for label in STANDARD_LABELS if label not in meta.get("labels", {})]
        check(not missing, f"{where}: missing labels {missing}")
        if doc["apiVersion"] in BUILTIN_GROUPS:
            validate(where, doc, kube)
        else:
            check(doc["apiVersion"] == OPERATOR_GROUP, f"{where}: unexpected apiVersion {doc['apiVersion']}")

    config_maps = [d for d in docs if d["kind"] == "ConfigMap" and "loadprobe.yml" in d.get("data", {})]
    check(len(config_maps) == 1, f"{name}@{kube}: want one loadprobe config ConfigMap, got {len(config_maps)}")
    config_map = config_maps[0]
    config_text = config_map["data"]["loadprobe.yml"]
    if values.get("config"):
        check(yaml.safe_load(config_text) == values["config"], f"{name}@{kube}: ConfigMap config differs from values.config")
    else:  # the demo, through the files/loadprobe.yml symlink
        demo = (ROOT / "config" / "loadprobe.yml").read_text()
        check(config_text.rstrip("\n") == demo.rstrip("\n"), f"{name}@{kube}: ConfigMap is not config/loadprobe.yml")

    web_secrets = [d for d in docs if d["kind"] == "Secret" and "web-config.yml" in d.get("stringData", {})]
    web = values.get("web") or {}
    check(len(web_secrets) == (1 if web.get("config") else 0),
          f"{name}@{kube}: {len(web_secrets)} web config Secrets for web.config {bool(web.get('config'))}")
    web_text = web_secrets[0]["stringData"]["web-config.yml"] if web_secrets else None
    if web_text is not None:
        check_web_config(f"{name}@{kube}", yaml.safe_load(web_text), web)

    containers = 0
    for owner, hostname, labels, spec in pod_specs(docs):
        for field in ("initContainers", "containers"):
            for container in spec.get(field) or []:
                check_security(f"{name}@{kube} {owner} {container['name']}", container)
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        for field, container in loadprobe_containers(spec):
            containers += 1
            where = f"{name}@{kube} {owner} {container['name']}"
            check_probes(where, container, values)
            check_web_mounts(where, container, volumes, values, web_secrets)
            mounts = {m["name"]: m for m in container.get("volumeMounts", [])}
            config_volume = volumes.get(mounts.get("loadprobe-config", {}).get("name"), {})
            check(config_volume.get("configMap", {}).get("name") == config_map["metadata"]["name"],
                  f"{where}: /etc/loadprobe is not the config ConfigMap")
            check(mounts.get("loadprobe-config", {}).get("mountPath") == "/etc/loadprobe",
                  f"{where}: config not mounted at /etc/loadprobe")
            check_binary(where, binary, container, config_text, hostname, web_text)
    return docs, notes


def check_web_config(where: str, config: dict, web: dict) -> None:
    """The rendered web-config.yml equals web.config and has only keys loadprobe accepts."""
    check(config == web["config"], f"{where}: web-config.yml differs from web.config")
    for key, value in config.items():
        allowed = WEB_CONFIG_KEYS.get(key, set())
        check(key in WEB_CONFIG_KEYS and (allowed is None or set(value) <= allowed),
              f"{where}: web-config.yml key {key} ({value}) is not one loadprobe accepts")
    tls = config.get("tls_server_config") or {}
    if web.get("tlsSecret"):
        for key in ("cert_file", "key_file", "client_ca_file"):
            if key in tls:
                check(tls[key].startswith(TLS_DIR + "/"), f"{where}: {key} {tls[key]} is not in the TLS Secret's {TLS_DIR}")


def check_web_mounts(where: str, container: dict, volumes: dict, values: dict, web_secrets: list[dict]) -> None:
    """--web.config.file and the web and TLS Secrets' volumes iff the values ask for them."""
    web = values.get("web") or {}
    args, mounts = container.get("args", []), {m["name"]: m for m in container.get("volumeMounts", [])}
    enabled = bool(web.get("config") or web.get("existingSecret"))
    check((f"--web.config.file={WEB_CONFIG_PATH}" in args) == enabled,
          f"{where}: --web.config.file={WEB_CONFIG_PATH} in args is {not enabled}, web config set is {enabled}")
    for flag, key in (("--web.enable-lifecycle", "enableLifecycle"), ("--web.enable-run", "enableRun")):
        check((flag in args) == bool(web.get(key)), f"{where}: {flag} in args does not follow web.{key}")
    mount = mounts.get("loadprobe-web-config")
    if not check((mount is not None) == enabled, f"{where}: web config mount present is {mount is not None}"):
        return
    if enabled:
        secret = volumes.get("loadprobe-web-config", {}).get("secret", {})
        want = web.get("existingSecret") or (web_secrets[0]["metadata"]["name"] if web_secrets else None)
        key = web.get("existingSecretKey", "web-config.yml") if web.get("existingSecret") else "web-config.yml"
        check(mount["mountPath"] == str(Path(WEB_CONFIG_PATH).parent) and mount.get("readOnly") is True,
              f"{where}: web config mounted at {mount['mountPath']}")
        check(secret.get("secretName") == want and secret.get("items") == [{"key": key, "path": "web-config.yml"}],
              f"{where}: web config volume {secret} is not Secret {want} key {key}")
    tls_mount = mounts.get("loadprobe-tls")
    check((tls_mount is not None) == bool(web.get("tlsSecret")), f"{where}: TLS mount does not follow web.tlsSecret")
    if tls_mount is not None:
        check(tls_mount["mountPath"] == TLS_DIR and tls_mount.get("readOnly") is True, f"{where}: TLS Secret at {tls_mount['mountPath']}")
        check(volumes.get("loadprobe-tls", {}).get("secret", {}).get("secretName") == web["tlsSecret"],
              f"{where}: TLS volume is not Secret {web['tlsSecret']}")


def find(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def the_loadprobe(docs: list[dict]) -> tuple[str, dict, dict]:
    """(field, container, pod spec) of the only loadprobe container of the set."""
    found = [(field, c, spec) for _, _, _, spec in pod_specs(docs) for field, c in loadprobe_containers(spec)]
    check(len(found) == 1, f"want one loadprobe container, got {len(found)}")
    return found[0]


def check_release_label(name: str, docs: list[dict], want: str | None) -> None:
    for doc in docs:
        if doc["apiVersion"] == OPERATOR_GROUP:
            got = doc["metadata"]["labels"].get("release")
            check(got == want, f"{name}: {ident(doc)} release label is {got!r}, want {want!r}")


def check_prometheus_rule(name: str, docs: list[dict]) -> None:
    rules = find(docs, "PrometheusRule")
    if not check(len(rules) == 1, f"{name}: want one PrometheusRule, got {len(rules)}"):
        return
    want = yaml.safe_load((ROOT / "alerts" / "loadprobe.rules.yml").read_text())["groups"]
    groups = rules[0]["spec"]["groups"]
    check(groups == want, f"{name}: PrometheusRule groups differ from alerts/loadprobe.rules.yml")
    for group in groups:
        for rule in group["rules"]:
            check(("alert" in rule) != ("record" in rule) and bool(rule.get("expr")),
                  f"{name}: rule {rule.get('alert') or rule.get('record')} is malformed")


def check_dashboards(name: str, docs: list[dict], want_annotations: dict) -> None:
    files = sorted((ROOT / "dashboards").glob("*.json"))
    maps = [d for d in find(docs, "ConfigMap") if d["metadata"]["labels"].get("grafana_dashboard") == "1"]
    check(bool(files) and len(maps) == len(files),
          f"{name}: {len(maps)} dashboard ConfigMaps for {len(files)} dashboards/*.json")
    by_key = {key: value for m in maps for key, value in m["data"].items()}
    for path in files:
        got = by_key.get(path.name)
        check(got is not None and json.loads(got) == json.loads(path.read_text()),
              f"{name}: dashboard {path.name} missing or changed in its ConfigMap")
    for m in maps:
        annotations = m["metadata"].get("annotations", {})
        check(all(annotations.get(k) == v for k, v in want_annotations.items()),
              f"{name}: {ident(m)} lacks annotations {want_annotations}")


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def check_service_monitor(name: str, docs: list[dict]) -> None:
    monitors, services = find(docs, "ServiceMonitor"), find(docs, "Service")
    if not check(len(monitors) == 1 and len(services) == 1, f"{name}: want one ServiceMonitor and one Service"):
        return
    spec, service = monitors[0]["spec"], services[0]
    check(set(spec) <= {"selector", "namespaceSelector", "endpoints"}, f"{name}: unexpected ServiceMonitor keys {set(spec)}")
    check(selects(spec["selector"], service["metadata"]["labels"]), f"{name}: ServiceMonitor does not select the Service")
    check(spec["namespaceSelector"]["matchNames"] == [service["metadata"]["namespace"]],
          f"{name}: ServiceMonitor namespaceSelector misses the Service's namespace")
    ports = {p["name"] for p in service["spec"]["ports"]}
    for endpoint in spec["endpoints"]:
        check(endpoint["port"] in ports, f"{name}: ServiceMonitor port {endpoint['port']} not on the Service")
        check(endpoint["path"] == "/metrics", f"{name}: ServiceMonitor path {endpoint['path']}")
        check(set(endpoint) <= {"port", "path", "interval", "scrapeTimeout", "relabelings", "metricRelabelings",
                                "scheme", "tlsConfig", "basicAuth"},
              f"{name}: unexpected endpoint keys {set(endpoint)}")
        for key in ("interval", "scrapeTimeout"):
            check(re.fullmatch(r"([0-9]+(ms|s|m|h))+", endpoint.get(key, "")) is not None,
                  f"{name}: ServiceMonitor {key} {endpoint.get(key)!r} is not a Prometheus duration")


def check_pod_monitor(name: str, docs: list[dict], pod_labels: dict | None) -> None:
    monitors = find(docs, "PodMonitor")
    if not check(len(monitors) == 1, f"{name}: want one PodMonitor, got {len(monitors)}"):
        return
    spec = monitors[0]["spec"]
    check(set(spec) <= {"selector", "namespaceSelector", "podMetricsEndpoints"}, f"{name}: unexpected PodMonitor keys {set(spec)}")
    endpoint = spec["podMetricsEndpoints"][0]
    check(endpoint["port"] == LOADPROBE_PORT, f"{name}: PodMonitor port is {endpoint['port']}")
    job = [r for r in endpoint.get("relabelings", []) if r.get("targetLabel") == "job"]
    check(len(job) == 1 and job[0].get("replacement") == f"{RELEASE}-loadprobe",
          f"{name}: PodMonitor does not set a stable job label")
    if pod_labels is not None:
        check(selects(spec["selector"], pod_labels), f"{name}: PodMonitor selector misses the loadprobe pods")


# --- the value sets -------------------------------------------------------------------
def run_sets(binary: Path) -> None:
    standalone_kubes = ["1.29.0", "1.33.0"]
    sidecar_kubes = ["1.28.0", "1.29.0", "1.30.0", "1.33.0"]
    sidecar = load_values("sidecar")

    for kube in standalone_kubes:
        docs, notes = report("default", {}, kube, binary)
        check(Counter(d["kind"] for d in docs) == Counter(
            {"ConfigMap": 1, "ServiceAccount": 1, "Service": 1, "Deployment": 1, "Pod": 1}),
            f"default@{kube}: unexpected objects")
        field, container, _ = the_loadprobe(find(docs, "Deployment"))
        check(not any(a.startswith("--shard") for a in container["args"]), f"default@{kube}: a Deployment must not shard")
        test_pod = find(docs, "Pod")[0]
        check(test_pod["metadata"]["annotations"].get("helm.sh/hook") == "test", "test pod is not a helm test hook")
        check("lp-loadprobe.monitoring.svc:10180/metrics" in json.dumps(test_pod["spec"]),
              "helm test pod does not fetch the Service's /metrics")
        check("releaseLabel" not in notes and "WARNING" not in notes, f"default@{kube}: unexpected NOTES warnings")

        docs, notes = report("statefulset", load_values("statefulset"), kube, binary)
        sts = find(docs, "StatefulSet")
        check(len(sts) == 1 and sts[0]["spec"]["replicas"] == 3, "statefulset: want one StatefulSet of 3")
        check(sts[0]["spec"]["serviceName"] == "lp-loadprobe", "statefulset: serviceName is not the Service")
        check(sts[0]["spec"]["podManagementPolicy"] == "Parallel", "statefulset: shards should start in parallel")
        _, container, _ = the_loadprobe(sts)
        check("--shard=ordinal/3" in container["args"], "statefulset: pods are not started with --shard=ordinal/3")
        check_service_monitor(f"statefulset@{kube}", docs)
        check_release_label(f"statefulset@{kube}", docs, None)
        check("Sharding: 3 replicas" in notes and "kube-prometheus-stack" in notes,
              "statefulset: NOTES should explain sharding and the release label")

        docs, notes = report("deployment-3", {"replicas": 3}, kube, binary)
        _, container, _ = the_loadprobe(find(docs, "Deployment"))
        check(not any(a.startswith("--shard") for a in container["args"]), "deployment-3: a Deployment must not shard")
        check("WARNING: replicas=3 with kind=Deployment" in notes and "kind=StatefulSet" in notes,
              "deployment-3: NOTES must warn that Deployment replicas each send the full rate")

        monitoring = load_values("monitoring")
        docs, _ = report("monitoring", monitoring, kube, binary)
        check_service_monitor(f"monitoring@{kube}", docs)
        check_prometheus_rule(f"monitoring@{kube}", docs)
        check_dashboards(f"monitoring@{kube}", docs, monitoring["grafanaDashboards"]["annotations"])
        check_release_label(f"monitoring@{kube}", docs, "kube-prometheus-stack")

        run_web(kube, binary)

    for kube in sidecar_kubes:
        native = kube != "1.28.0"
        docs, notes = report("sidecar", sidecar, kube, binary)
        check(Counter(d["kind"] for d in docs) == Counter({"ConfigMap": 1, "Deployment": 1, "PodMonitor": 1}),
              f"sidecar@{kube}: unexpected objects")
        field, container, spec = the_loadprobe(docs)
        check_sidecar_placement(f"sidecar@{kube}", field, container, native)
        check([c["name"] for c in spec["containers"]][0] == "app", f"sidecar@{kube}: the app container comes first")
        example = find(docs, "Deployment")[0]["spec"]["template"]["metadata"]["labels"]
        check_pod_monitor(f"sidecar@{kube}", docs, example)
        check("initContainers, restartPolicy: Always" in notes if native else "older than 1.29" in notes,
              f"sidecar@{kube}: NOTES do not say which kind of sidecar")

    docs, _ = report("sidecar-native", merged(sidecar, {"sidecar": {"native": True}}), "1.28.0", binary)
    field, container, _ = the_loadprobe(docs)
    check_sidecar_placement("sidecar-native@1.28 (forced)", field, container, True)
    docs, _ = report("sidecar-plain", merged(sidecar, {"sidecar": {"native": False}}), "1.33.0", binary)
    field, container, _ = the_loadprobe(docs)
    check_sidecar_placement("sidecar-plain@1.33 (forced)", field, container, False)

    everything = merged(sidecar, {"prometheusRule": {"enabled": True}, "grafanaDashboards": {"enabled": True},
                                  "releaseLabel": True, "sidecar": {"example": {"enabled": False}}})
    docs, _ = report("sidecar-monitoring", everything, "1.33.0", binary)
    check(not find(docs, "Deployment"), "sidecar without the example renders no workload")
    check_prometheus_rule("sidecar-monitoring", docs)
    check_dashboards("sidecar-monitoring", docs, {})
    check_release_label("sidecar-monitoring", docs, RELEASE)
    check(find(docs, "PodMonitor")[0]["spec"]["selector"] == {}, "sidecar PodMonitor without example: selector {}")


def check_monitor_security(name: str, endpoint: dict, monitor: dict, tls: bool) -> None:
    check(endpoint.get("scheme") == ("https" if tls else None), f"{name}: monitor scheme is {endpoint.get('scheme')!r}, TLS {tls}")
    for key in ("tlsConfig", "basicAuth"):
        check(endpoint.get(key) == (monitor.get(key) or None), f"{name}: monitor {key} is {endpoint.get(key)!r}, want {monitor.get(key)!r}")


def run_web(kube: str, binary: Path) -> None:
    """ci/web-values.yaml (TLS, basic auth, POST endpoints, a secured ServiceMonitor) and variants."""
    web_values = load_values("web")
    docs, notes = report("web", web_values, kube, binary)
    check(Counter(d["kind"] for d in docs) == Counter(
        {"ConfigMap": 1, "Secret": 1, "ServiceAccount": 1, "Service": 1, "Deployment": 1, "ServiceMonitor": 1}),
        f"web@{kube}: unexpected objects (no helm test pod: busybox wget cannot do TLS or basic auth)")
    secret = find(docs, "Secret")[0]
    check(secret["metadata"]["name"] == f"{RELEASE}-loadprobe-web", f"web@{kube}: Secret is {ident(secret)}")
    deployment = find(docs, "Deployment")[0]
    _, container, spec = the_loadprobe([deployment])
    for flag in (f"--web.config.file={WEB_CONFIG_PATH}", "--web.enable-lifecycle", "--web.enable-run"):
        check(flag in container["args"], f"web@{kube}: {flag} not in the args")
    check({p: type(container[p]) for p in ("livenessProbe", "readinessProbe")} and
          all("tcpSocket" in container[p] for p in ("livenessProbe", "readinessProbe")),
          f"web@{kube}: basic auth must switch the probes to tcpSocket")
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    web_text = secret["stringData"]["web-config.yml"]
    check(re.fullmatch(r"[0-9a-f]{64}", annotations.get("checksum/web-config", "")) is not None,
          f"web@{kube}: no checksum/web-config on the pod template")
    endpoint = find(docs, "ServiceMonitor")[0]["spec"]["endpoints"][0]
    check_monitor_security(f"web@{kube} ServiceMonitor", endpoint, web_values["serviceMonitor"], True)
    check(bool(web_text) and "tls_server_config" in web_text, f"web@{kube}: web-config.yml lacks the TLS section")
    check("Basic auth is on" in notes and "open https://127.0.0.1:10180/" in notes and "Check it: helm test" not in notes
          and "WARNING" not in notes,
          f"web@{kube}: NOTES should explain the web config, without warnings or helm test")
    no_auth = copy.deepcopy(web_values)
    del no_auth["serviceMonitor"]["basicAuth"]
    docs, notes = render(CHART, no_auth, kube)
    check("WARNING: basic auth is on but the monitor has no basicAuth" in notes, f"web@{kube}: NOTES miss the 401 warning")
    docs, notes = render(CHART, {"web": {"enableRun": True}}, kube)
    check("WARNING: web.enableLifecycle / web.enableRun need basic_auth_users" in notes,
          f"web@{kube}: NOTES miss the 403 warning of enableRun without basic auth")

    # TLS without basic auth: HTTPS probes, https scrape with no basicAuth, the helm test skipped.
    tls_only = merged(web_values, {"web": {"enableLifecycle": False, "enableRun": False}})
    del tls_only["web"]["config"]["basic_auth_users"], tls_only["serviceMonitor"]["basicAuth"]
    docs, _ = report("web-tls", tls_only, kube, binary)
    _, container, _ = the_loadprobe(find(docs, "Deployment"))
    check(container["livenessProbe"]["httpGet"].get("scheme") == "HTTPS", f"web-tls@{kube}: probes not HTTPS")
    check(not any(a.startswith("--web.enable") for a in container["args"]), f"web-tls@{kube}: POST endpoints enabled")
    endpoint = find(docs, "ServiceMonitor")[0]["spec"]["endpoints"][0]
    check_monitor_security(f"web-tls@{kube} ServiceMonitor", endpoint, tls_only["serviceMonitor"], True)
    check(not find(docs, "Pod"), f"web-tls@{kube}: the helm test pod cannot fetch over TLS")

    # A Secret of the user's own, with basic auth only, httpGet probes with an Authorization header.
    existing = {"web": {"existingSecret": "my-web-config", "existingSecretKey": "web.yml", "basicAuth": True,
                        "probeAuthorization": "Basic cHJvYmU6cHJvYmU=", "enableLifecycle": True},
                "serviceMonitor": {"enabled": True, "basicAuth": web_values["serviceMonitor"]["basicAuth"]}}
    docs, _ = report("web-existing", existing, kube, binary)
    check(not find(docs, "Secret"), f"web-existing@{kube}: renders a Secret next to web.existingSecret")
    deployment = find(docs, "Deployment")[0]
    _, container, _ = the_loadprobe([deployment])
    check(container["readinessProbe"]["httpGet"].get("httpHeaders") == [{"name": "Authorization", "value": "Basic cHJvYmU6cHJvYmU="}],
          f"web-existing@{kube}: probes lack the Authorization header")
    check("checksum/web-config" in deployment["spec"]["template"]["metadata"]["annotations"],
          f"web-existing@{kube}: no checksum/web-config")
    endpoint = find(docs, "ServiceMonitor")[0]["spec"]["endpoints"][0]
    check_monitor_security(f"web-existing@{kube} ServiceMonitor", endpoint, existing["serviceMonitor"], False)

    # Sidecar mode: the PodMonitor and the named templates get the same.
    sidecar = merged(load_values("sidecar"), {"web": web_values["web"], "podMonitor": {
        "tlsConfig": web_values["serviceMonitor"]["tlsConfig"], "basicAuth": web_values["serviceMonitor"]["basicAuth"]}})
    docs, _ = report("web-sidecar", sidecar, kube, binary)
    check(len(find(docs, "Secret")) == 1, f"web-sidecar@{kube}: no web config Secret")
    example = find(docs, "Deployment")[0]["spec"]["template"]
    check("checksum/loadprobe-web-config" in example["metadata"]["annotations"], f"web-sidecar@{kube}: no web config checksum")
    endpoint = find(docs, "PodMonitor")[0]["spec"]["podMetricsEndpoints"][0]
    check_monitor_security(f"web-sidecar@{kube} PodMonitor", endpoint, sidecar["podMonitor"], True)

    # Nothing of this without web values (the default set).
    docs, _ = render(CHART, {"serviceMonitor": {"enabled": True}}, kube)
    _, container, _ = the_loadprobe(find(docs, "Deployment"))
    check(not any(a.startswith("--web.config") for a in container["args"]) and not find(docs, "Secret"),
          f"default@{kube}: web config without web values")
    check("scheme" not in find(docs, "ServiceMonitor")[0]["spec"]["endpoints"][0], f"default@{kube}: monitor scheme set")

    try:
        render(CHART, {"web": {"config": web_values["web"]["config"], "existingSecret": "x"}}, kube)
        check(False, "web.config and web.existingSecret together are accepted")
    except helm.HelmError:
        check(True, "")


def check_sidecar_placement(name: str, field: str, container: dict, native: bool) -> None:
    if native:
        check(field == "initContainers" and container.get("restartPolicy") == "Always",
              f"{name}: want a native sidecar (initContainers, restartPolicy: Always), got {field}")
    else:
        check(field == "containers" and "restartPolicy" not in container,
              f"{name}: want a plain sidecar container, got {field}")


def report(name: str, values: dict, kube: str, binary: Path) -> tuple[list[dict], str]:
    docs, notes = check_set(name, values, kube, binary)
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(Counter(d["kind"] for d in docs).items()))
    builtin = sum(d["apiVersion"] in BUILTIN_GROUPS for d in docs)
    print(f"render {name:<18} k8s {kube}: {len(docs)} objects ({kinds}); "
          f"{builtin} checked by kubernetes-validate {kube}, {len(docs) - builtin} structurally")
    return docs, notes


# --- lint, schema, checksum, packaging, parent chart ----------------------------------
def run_lint() -> None:
    names = [p.name[: -len("-values.yaml")] for p in sorted((CHART / "ci").glob("*-values.yaml"))]
    for name in names:
        findings, infos = [], set()
        for kube in ("v1.28.0", "v1.33.0"):
            result = helm.lint(CHART, load_values(name), strict=True, namespace=NAMESPACE, kube_version=kube)
            findings += [m for m in result["messages"] if m["severity"] >= 2] + result["errors"]
            infos |= {m["error"] for m in result["messages"] if m["severity"] < 2}
        check(not findings, f"lint ci/{name}-values.yaml: {findings}")
        print(f"lint   ci/{name}-values.yaml (strict, k8s 1.28 and 1.33): {len(findings)} errors/warnings"
              + (f"; info: {'; '.join(sorted(infos))}" if infos else ""))


def run_schema() -> None:
    typos = {
        "top-level typo": {"replica": 3},
        "config typo": {"config": {"probe": []}},
        "monitor typo": {"serviceMonitor": {"enable": True}},
        "unknown mode": {"mode": "daemonset"},
        "unknown kind": {"kind": "DaemonSet"},
        "native sidecar typo": {"sidecar": {"native": "yes"}},
        "web config typo": {"web": {"config": {"tls_server_config": {"certfile": "/x"}}}},
        "unsupported web config key": {"web": {"config": {"rate_limit": {"interval": "1s"}}}},
        "web password instead of a bcrypt hash": {"web": {"config": {"basic_auth_users": {"u": "secret"}}}},
        "web flag typo": {"web": {"enableReload": True}},
        "web tls yes": {"web": {"tls": "yes"}},
        "monitor basicAuth typo": {"serviceMonitor": {"basicAuth": {"user": {}}}},
        "bad probe name": {"config": {"probes": [{"name": "Bad-Name", "target": "t", "load": {"rate": 1}}]}},
    }
    with helm.Chart.load(CHART) as chart:
        for what, values in typos.items():
            try:
                chart.validate_schema(values)
                check(False, f"values.schema.json accepts a {what}: {values}")
            except helm.HelmValuesError:
                check(True, "")
        for path in sorted((CHART / "ci").glob("*-values.yaml")):
            try:
                chart.validate_schema(yaml.safe_load(path.read_text()) or {})
                check(True, "")
            except helm.HelmValuesError as error:
                check(False, f"values.schema.json rejects {path.name}: {error}")
    try:
        render(CHART, {"replica": 3}, "1.33.0")
        check(False, "helm template accepts an unknown value")
    except helm.HelmError:
        check(True, "")
    print(f"schema {len(typos)} typos rejected by values.schema.json; ci/*-values.yaml accepted")


def checksum(values: dict) -> str:
    docs, _ = render(CHART, values, "1.33.0")
    return find(docs, "Deployment")[0]["spec"]["template"]["metadata"]["annotations"]["checksum/config"]


def web_checksum(values: dict) -> str:
    docs, _ = render(CHART, values, "1.33.0")
    return find(docs, "Deployment")[0]["spec"]["template"]["metadata"]["annotations"]["checksum/web-config"]


def run_checksum() -> None:
    base = checksum({})
    mine = {"config": load_values("sidecar")["config"]}
    changed = checksum(merged(mine, {"config": {"global": {"report_interval": "45s"}}}))
    check(checksum(mine) != changed and checksum(mine) != base, "checksum/config does not follow values.config")
    check(re.fullmatch(r"[0-9a-f]{64}", base) is not None, "checksum/config is not a sha256")
    check(base == checksum({}), "checksum/config is not deterministic")
    check(base != changed, "checksum/config does not change with the config")
    web = {"web": load_values("web")["web"]}
    other = merged(web, {"web": {"config": {"http_server_config": {"headers": {"X-Frame-Options": "sameorigin"}}}}})
    check(web_checksum(web) == web_checksum(web), "checksum/web-config is not deterministic")
    check(web_checksum(web) != web_checksum(other), "checksum/web-config does not change with web.config")
    check(checksum(web) == base, "checksum/config changes with web.config")
    print("config checksum annotation: deterministic, changes with the config; checksum/web-config with web.config")


def run_package(work: Path) -> Path:
    archive = Path(helm.package(CHART, destination=work))
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    dashboards = sorted(p.name for p in (ROOT / "dashboards").glob("*.json"))
    check("loadprobe/alerts/loadprobe.rules.yml" in names, "package lacks alerts/loadprobe.rules.yml")
    check(all(f"loadprobe/dashboards/{d}" in names for d in dashboards), "package lacks dashboards/*.json")
    check(not any(n.startswith("loadprobe/alerts/tests") for n in names), "package includes alerts/tests/ (.helmignore)")
    check("loadprobe/files/loadprobe.yml" in names, "package lacks files/loadprobe.yml (the demo config)")
    print(f"package {archive.name}: {len(names)} files; alerts/ and {len(dashboards)} dashboards included via symlinks")
    return archive


PARENT_TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: myapp
  labels: {app.kubernetes.io/name: myapp, app.kubernetes.io/instance: {{ .Release.Name }},
           app.kubernetes.io/version: "1", app.kubernetes.io/managed-by: Helm, helm.sh/chart: myapp-1.0.0}
spec:
  selector:
    matchLabels: {app.kubernetes.io/name: myapp}
  template:
    metadata:
      labels: {app.kubernetes.io/name: myapp}
      annotations:
        {{- include "loadprobe.sidecar.podAnnotations" .Subcharts.loadprobe | nindent 8 }}
    spec:
      initContainers:
        {{- include "loadprobe.sidecar.initContainers" .Subcharts.loadprobe | nindent 8 }}
      containers:
        - name: app
          image: registry.example/myapp:1
          ports: [{name: http, containerPort: 8080}]
          securityContext: {runAsNonRoot: true, runAsUser: 1000, readOnlyRootFilesystem: true,
                            allowPrivilegeEscalation: false, capabilities: {drop: [ALL]},
                            seccompProfile: {type: RuntimeDefault}}
        {{- include "loadprobe.sidecar.containers" .Subcharts.loadprobe | nindent 8 }}
      volumes:
        {{- include "loadprobe.sidecar.volumes" .Subcharts.loadprobe | nindent 8 }}
"""


def run_parent(work: Path, archive: Path, binary: Path) -> None:
    """A chart of the user's own service that includes loadprobe as a sidecar dependency."""
    parent = work / "myapp"
    (parent / "templates").mkdir(parents=True)
    (parent / "charts").mkdir()
    shutil.copy(archive, parent / "charts")
    (parent / "Chart.yaml").write_text(
        "apiVersion: v2\nname: myapp\nversion: 1.0.0\n"
        f"dependencies:\n  - name: loadprobe\n    version: {chart_version()}\n")
    sidecar = load_values("sidecar")
    (parent / "values.yaml").write_text(yaml.safe_dump({"loadprobe": {
        "mode": "sidecar", "podMonitor": {"enabled": True, "selector": {"matchLabels": {"app.kubernetes.io/name": "myapp"}}},
        "config": sidecar["config"]}}))
    (parent / "templates" / "deployment.yaml").write_text(PARENT_TEMPLATE)
    for kube in ("1.28.0", "1.30.0"):
        docs, _ = render(parent, {}, kube)
        save(f"parent-chart-k{kube}", docs, "")
        kinds = Counter(d["kind"] for d in docs)
        check(kinds == Counter({"Deployment": 1, "ConfigMap": 1, "PodMonitor": 1}), f"parent@{kube}: objects {dict(kinds)}")
        for doc in docs:
            if doc["apiVersion"] in BUILTIN_GROUPS:
                validate(f"parent@{kube} {ident(doc)}", doc, kube)
        app = find(docs, "Deployment")[0]
        field, container, spec = the_loadprobe([app])
        check_sidecar_placement(f"parent@{kube}", field, container, kube != "1.28.0")
        check_security(f"parent@{kube} loadprobe", container)
        config_map = find(docs, "ConfigMap")[0]
        check(spec["volumes"][0]["configMap"]["name"] == config_map["metadata"]["name"] == f"{RELEASE}-loadprobe",
              f"parent@{kube}: the sidecar's volume is not the subchart's ConfigMap")
        check("checksum/loadprobe-config" in app["spec"]["template"]["metadata"]["annotations"],
              f"parent@{kube}: no config checksum on the pod template")
        check_pod_monitor(f"parent@{kube}", docs, app["spec"]["template"]["metadata"]["labels"])
        check_binary(f"parent@{kube}", binary, container, config_map["data"]["loadprobe.yml"], "myapp-5d9f-abcde")
        print(f"parent chart with loadprobe as sidecar dependency, k8s {kube}: {dict(sorted(kinds.items()))}; "
              f"loadprobe in {field}")


def chart_version() -> str:
    return yaml.safe_load((CHART / "Chart.yaml").read_text())["version"]


def main() -> int:
    binary = Path(sys.argv[1]).resolve()
    if not binary.is_file():
        print(f"no loadprobe binary at {binary}")
        return 1
    print(f"Helm library {helm.helm_sdk_version()} (helm-python-sdk, libhelm_c {helm.helm_c_version()}), "
          f"kubernetes-validate {kubernetes_validate.__version__}")
    shutil.rmtree(OUT, ignore_errors=True)
    run_lint()
    run_schema()
    run_sets(binary)
    run_checksum()
    with tempfile.TemporaryDirectory() as tmp:
        archive = run_package(Path(tmp))
        run_parent(Path(tmp), archive, binary)
    print(f"rendered manifests: {OUT.relative_to(ROOT)}/")
    print(f"{checks.passed} passed, {len(checks.failures)} failed")
    return 1 if checks.failures else 0


if __name__ == "__main__":
    sys.exit(main())
