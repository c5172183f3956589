"""Checks the helm chart offline (run by scripts/check-chart, which makes its venv).

1. yamllint on Chart.yaml and the values files (helm/.yamllint).
2. For the default values, values-production.yaml and helm/ci/values-all.yaml: renders the
   chart with the Helm SDK (helm-python-sdk, no helm binary), lints it (strict), yamllints
   every rendered manifest, validates every Kubernetes object with `kubernetes-validate
   --strict` (at the chart's lowest Kubernetes version and at the newest the tool knows),
   and the Prometheus Operator's objects against helm/ci/schemas/ (jsonschema, no
   properties beyond the CRD's). With --binaries DIR, the rendered ledgerd.toml and
   dialerd.toml are loaded by the real binaries in DIR with the pods' environment (each
   binary validates its settings and names a bad one), and the migration Job's command is
   run as written with that ledgerd on an SQLite file.
3. The Grafana dashboard is JSON, and every metric a PromQL expression of the dashboard or
   the alerts names is registered in the code (services/, crates/), or, for alerts only,
   listed in helm/ci/expected-metrics.txt (asked for, not exported yet).
4. Every key of values.yaml has its comment.
5. The image's Dockerfile (CI has no container engine to build it): hadolint clean, its final
   stage runs as the chart's runAsUser:runAsGroup, copies the binaries the chart starts,
   builds them from workspace packages that define them, and exposes the chart's ports.
6. Self-tests: a deliberately broken template, an unknown field in a Deployment and in a
   ServiceMonitor, a renamed metric in the dashboard, a dashboard that is not JSON and an
   undocumented value and a Dockerfile running as another user must each make the check fail, for
   that reason.

Exit status 0 when everything passes; the last line says `N passed, N failed`.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import helm_python as helm
import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
HELM = ROOT / "helm"
CHART = HELM / "collections-dialer"
CI = HELM / "ci"
YAMLLINT = HELM / ".yamllint"
RELEASE, NAMESPACE = "dialer", "collections"
# The chart's kubeVersion floor (Chart.yaml) and the newest schemas kubernetes-validate has.
KUBE_VERSIONS = ["1.27.0", None]
CRD_SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): CI / "schemas" / "servicemonitor-v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): CI / "schemas" / "prometheusrule-v1.json",
}
VALUE_SETS = {
    "default": None,
    "production": CHART / "values-production.yaml",
    "all": CI / "values-all.yaml",
}
BIN = Path(sys.executable).parent


class Failed(Exception):
    """One check failed; the message says which and why."""


# ---------------------------------------------------------------- rendering and validation


def load_values(path: Path | None) -> dict:
    return {} if path is None else (yaml.safe_load(path.read_text()) or {})


def render(chart_dir: Path, values: dict) -> dict[str, str]:
    """Template path -> rendered text (NOTES.txt included), as `helm install` would."""
    try:
        with helm.Chart.load(str(chart_dir)) as chart:
            return chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    except helm.HelmError as e:  # every error of the SDK derives from it
        raise Failed(f"render: {e}") from None


def lint(chart_dir: Path, values: dict) -> None:
    report = helm.lint(str(chart_dir), values, strict=True, namespace=NAMESPACE)
    problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
    if problems or report.get("errors"):
        raise Failed(f"helm lint: {problems or report['errors']}")


def yamllint(paths: list[Path]) -> None:
    r = subprocess.run(
        [str(BIN / "yamllint"), "-f", "parsable", "-c", str(YAMLLINT), *map(str, paths)],
        capture_output=True, text=True,
    )
    if r.returncode != 0:
        raise Failed("yamllint:\n" + (r.stdout + r.stderr).strip())


def documents(manifests: dict[str, str]) -> list[tuple[str, dict]]:
    """(template, object) of every rendered Kubernetes object."""
    out = []
    for name, text in sorted(manifests.items()):
        if not name.endswith((".yaml", ".yml")):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
                    raise Failed(f"{name}: a document that is not a Kubernetes object")
                out.append((name, doc))
    return out


def kubernetes_validate(files: list[Path]) -> None:
    """`kubernetes-validate --strict` on files of core objects: any error or warning fails
    (an unknown kind or apiVersion is only a warning to the tool)."""
    for version in KUBE_VERSIONS:
        cmd = [str(BIN / "kubernetes-validate"), "--strict", "--quiet"]
        if version:
            cmd += ["-k", version]
        r = subprocess.run(cmd + [str(f) for f in files], capture_output=True, text=True)
        out = (r.stdout + r.stderr).strip()
        if r.returncode != 0 or "WARN" in out or "ERROR" in out:
            raise Failed(f"kubernetes-validate {version or 'latest'}:\n{out}")


def crd_validate(template: str, doc: dict) -> None:
    schema_path = CRD_SCHEMAS[(doc["apiVersion"], doc["kind"])]
    schema = json.loads(schema_path.read_text())
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(doc), key=lambda e: list(e.path)
    )
    if errors:
        lines = [f"  {'.'.join(map(str, e.path)) or '(root)'}: {e.message}" for e in errors[:10]]
        raise Failed(f"{template}: {doc['kind']} against {schema_path.name}:\n" + "\n".join(lines))


def check_manifests(manifests: dict[str, str], workdir: Path) -> list[dict]:
    """yamllint, kubernetes-validate and CRD schemas on one rendering; returns the objects."""
    docs = documents(manifests)
    rendered = []
    for name, text in sorted(manifests.items()):
        if name.endswith(".yaml") and text.strip():
            # As `helm template` prints it: each manifest trimmed.
            p = workdir / Path(name).name
            p.write_text(text.strip() + "\n")
            rendered.append(p)
    yamllint(rendered)
    core = []
    for i, (template, doc) in enumerate(docs):
        if (doc["apiVersion"], doc["kind"]) in CRD_SCHEMAS:
            crd_validate(template, doc)
        elif "." in doc["apiVersion"].split("/")[0] and not doc["apiVersion"].split("/")[0].endswith(
            ".k8s.io"
        ):
            raise Failed(f"{template}: {doc['apiVersion']} {doc['kind']} has no schema to check it")
        else:
            p = workdir / f"object-{i:03d}.yaml"
            p.write_text(yaml.safe_dump(doc))
            core.append(p)
    kubernetes_validate(core)
    return [d for _, d in docs]


def undocumented_values(path: Path) -> list[str]:
    """Keys of a values file with no comment: a scalar or empty value needs a `# --` comment
    right above it, or an ancestor documented as a whole by one (resources, config...)."""
    missing, stack = [], []  # stack: (indent, key, documented-as-a-whole)
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)([A-Za-z_][\w.-]*):(.*)$", line)
        if not m or line.lstrip().startswith("-"):
            continue
        indent, key, rest = len(m.group(1)), m.group(2), m.group(3).split(" #")[0].strip()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        above = lines[i - 1].strip() if i else ""
        j = i - 1
        while j >= 0 and lines[j].strip().startswith("#"):
            j -= 1
        block = [ln.strip() for ln in lines[j + 1:i]]
        whole = any(b.startswith("# --") for b in block)
        covered = whole or any(d for _, _, d in stack)
        if rest and not covered and not above.startswith("#"):
            missing.append(".".join([k for _, k, _ in stack] + [key]))
        stack.append((indent, key, whole))
    return missing


# ------------------------------------------------------------- config files and binaries


def secret_values(objs: list[dict]) -> dict[tuple[str, str], str]:
    out = {}
    for o in objs:
        if o["kind"] == "Secret":
            for k, v in (o.get("data") or {}).items():
                out[(o["metadata"]["name"], k)] = base64.b64decode(v).decode()
    return out


# Stand-ins for values held in existing Secrets (not rendered), by the variable's name.
PLACEHOLDERS = [
    (re.compile(r"DATABASE_URL$"), "postgres://user:secret@db.example:5432/collections"),
    (re.compile(r"REDIS_URL$"), "rediss://:secret@redis.example:6379/0"),
    (re.compile(r"JWT_HS256_KEY$"), "placeholder-key-0123456789abcdef0123"),
    (re.compile(r"SIP_PASSWORD_\d+$"), "trunk-password"),
]


def pod_env(workload: dict, container: dict, secrets: dict) -> dict[str, str]:
    """The container's environment as the pod would have it."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for e in container.get("env", []):
        name = e["name"]
        if "value" in e:
            env[name] = e["value"]
        elif "secretKeyRef" in (e.get("valueFrom") or {}):
            ref = e["valueFrom"]["secretKeyRef"]
            got = secrets.get((ref["name"], ref["key"]))
            if got is None:
                got = next((v for rx, v in PLACEHOLDERS if rx.search(name)), None)
                if got is None:
                    raise Failed(f"{name}: no value for Secret {ref['name']} key {ref['key']}")
            env[name] = got
        elif "fieldRef" in (e.get("valueFrom") or {}):
            # metadata.name of a StatefulSet's first pod.
            env[name] = f"{workload['metadata']['name']}-0"
    return env


def check_binaries(objs: list[dict], bindir: Path, workdir: Path) -> bool:
    """Each rendered config file loaded by its binary with the pod's environment:
    `NAME --config FILE token ...` loads and validates every setting, then only mints a
    token (no database, no network)."""
    config = next(o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-config"))
    secrets = secret_values(objs)
    for kind, binary, role in (("Deployment", "ledgerd", "admin"), ("StatefulSet", "dialerd", "admin")):
        workload = next(o for o in objs if o["kind"] == kind)
        container = workload["spec"]["template"]["spec"]["containers"][0]
        text = config["data"][f"{binary}.toml"]
        # TLS files exist in the pod only: point the check at readable stand-ins.
        if "[tls]" in text:
            for f in ("tls.crt", "tls.key"):
                (workdir / f).write_text("stand-in\n")
            text = text.replace("/etc/collections-dialer/tls", str(workdir))
        cfg = workdir / f"{binary}.toml"
        cfg.write_text(text)
        env = pod_env(workload, container, secrets)
        r = subprocess.run(
            [str(bindir / binary), "--config", str(cfg), "token", "--sub", "chart-check", "--role", role],
            capture_output=True, text=True, env=env, timeout=60,
        )
        if r.returncode != 0:
            raise Failed(f"{binary} refuses the rendered {binary}.toml:\n{r.stderr.strip()}\n--- config:\n{text}")
    return check_migration_job(objs, bindir, workdir)


def check_migration_job(objs: list[dict], bindir: Path, workdir: Path) -> bool:
    """The migration Job's command (`ledgerd migrate`, or the shell fallback that starts and
    stops `ledgerd serve`), run as written with the real ledgerd on an SQLite file: it must
    exit 0 with the ledger's migrations applied. False: no such command."""
    job = next((o for o in objs if o["kind"] == "Job"), None)
    if job is None:
        return False
    container = job["spec"]["template"]["spec"]["containers"][0]
    command = container.get("command", [""])
    if command[0] not in ("/bin/sh", "ledgerd"):
        return False  # a custom command (values-all): nothing to run here
    db = workdir / "ledger.db"
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    env.update(PATH=f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}", TMPDIR=str(workdir),
               LEDGER_DATABASE_URL=f"sqlite://{db}?mode=rwc")
    r = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    if r.returncode != 0 or "ledger migrations applied" not in r.stdout:
        raise Failed(f"the migration Job's command failed ({r.returncode}):\n{r.stdout}{r.stderr[-2000:]}")
    with sqlite3.connect(db) as c:
        applied = c.execute("SELECT count(*) FROM _sqlx_migrations WHERE success").fetchone()[0]
    if applied == 0:
        raise Failed("the migration Job's command applied no migration")
    return True


# ------------------------------------------------------------------------- metric names


REGISTRATION = re.compile(
    r"\b(?:Opts::new|HistogramOpts::new|IntGauge::new|IntCounter::new|Gauge::new|Counter::new"
    r"|Histogram::new|counter|gauge|histogram)\(\s*\"([a-zA-Z_:][a-zA-Z0-9_:]*)\"",
    re.S,
)
HISTOGRAM = re.compile(r"HistogramOpts::new\(\s*\"([a-zA-Z_:][a-zA-Z0-9_:]*)\"", re.S)
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and",
    "or", "unless", "inf", "nan", "atan2",
}


def code_metrics() -> set[str]:
    """Every metric name the code registers (histograms with their _bucket/_sum/_count)."""
    names: set[str] = set()
    for base in (ROOT / "services", ROOT / "crates"):
        for f in base.rglob("*.rs"):
            if "/target/" in str(f):
                continue
            text = f.read_text(errors="replace")
            names.update(REGISTRATION.findall(text))
            for h in HISTOGRAM.findall(text):
                names.update({f"{h}_bucket", f"{h}_sum", f"{h}_count"})
    return names


def promql_metrics(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (Grafana variables and functions aside)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    e = re.sub(r"\$\{[^}]*\}|\$\w+", "0", e)  # Grafana variables
    e = re.sub(r"\{[^}]*\}", "", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)  # ranges and subqueries
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\boffset\s+-?\w+", " ", e)
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        word, rest = m.group(0), e[m.end():]
        if rest.lstrip().startswith("("):
            continue  # a function or aggregation
        if word.lower() in PROMQL_WORDS or re.fullmatch(r"\d+[a-z]+", word):
            continue
        if m.start() > 0 and (e[m.start() - 1].isdigit() or e[m.start() - 1] == "."):
            continue  # 1e3, 0.5
        names.add(word)
    return names


def dashboard_exprs(dash: dict) -> list[str]:
    exprs = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("expr", "definition") and isinstance(v, str):
                    exprs.append(re.sub(r"^label_values\((\w+).*\)$", r"\1", v))
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(dash)
    return exprs


def check_dashboard(path: Path, known: set[str]) -> int:
    try:
        dash = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise Failed(f"{path.name} is not JSON: {e}") from None
    if not isinstance(dash, dict) or not dash.get("panels") or not dash.get("uid"):
        raise Failed(f"{path.name}: not a Grafana dashboard (no panels or uid)")
    exprs = dashboard_exprs(dash)
    unknown = {m: e for e in exprs for m in promql_metrics(e) if m not in known}
    if unknown:
        raise Failed(
            f"{path.name}: metrics the code does not register: "
            + "; ".join(f"{m} (in {e!r})" for m, e in sorted(unknown.items()))
        )
    return len(exprs)


def expected_metrics() -> set[str]:
    lines = (CI / "expected-metrics.txt").read_text().splitlines()
    return {ln.split("#")[0].strip() for ln in lines if ln.split("#")[0].strip()}


def check_alerts(objs: list[dict], known: set[str], pending: set[str]) -> int:
    n = 0
    for o in objs:
        if o["kind"] != "PrometheusRule":
            continue
        for g in o["spec"]["groups"]:
            for rule in g["rules"]:
                n += 1
                bad = promql_metrics(str(rule["expr"])) - known - pending
                if bad:
                    raise Failed(f"alert {rule.get('alert')}: metrics the code does not register: {sorted(bad)}")
    return n


# ------------------------------------------------------------------------------ main


def check_values_set(label: str, path: Path | None, args, known, pending, chart_dir=CHART) -> str:
    values = load_values(path)
    manifests = render(chart_dir, values)
    lint(chart_dir, values)
    ran_job = False
    with tempfile.TemporaryDirectory() as d:
        objs = check_manifests(manifests, Path(d))
        if args.binaries:
            ran_job = check_binaries(objs, Path(args.binaries), Path(d))
    alerts = check_alerts(objs, known, pending)
    # The dashboard ConfigMap carries the file as it is.
    for o in objs:
        if o["kind"] == "ConfigMap" and "collections-dialer.json" in o.get("data", {}):
            if json.loads(o["data"]["collections-dialer.json"]) != json.loads(
                (chart_dir / "dashboards" / "dialer.json").read_text()
            ):
                raise Failed("the dashboard ConfigMap differs from dashboards/dialer.json")
    kinds = sorted({o["kind"] for o in objs})
    loaded = "configs loaded by ledgerd and dialerd" if args.binaries else "configs not loaded (no --binaries)"
    if ran_job:
        loaded += ", migration Job's command run"
    return f"{len(objs)} objects ({', '.join(kinds)}), {alerts} alerts, {loaded}"


# ---------------------------------------------------------------- the image


def workspace_binaries() -> dict[str, set[str]]:
    """Package name -> its [[bin]] names, for the workspace's members."""
    import tomllib
    members = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["members"]
    out: dict[str, set[str]] = {}
    for pattern in members:
        for manifest in ROOT.glob(f"{pattern}/Cargo.toml"):
            doc = tomllib.loads(manifest.read_text())
            name = doc["package"]["name"]
            bins = {b["name"] for b in doc.get("bin", [])}
            # Cargo's implicit targets: src/main.rs is a binary named after the package.
            if (manifest.parent / "src" / "main.rs").is_file():
                bins.add(name)
            out[name] = bins
    return out


def check_dockerfile(path: Path) -> str:
    """Lints the Dockerfile and checks it against the chart's defaults."""
    lint = subprocess.run([str(BIN / "hadolint"), "--failure-threshold", "warning", str(path)],
                          capture_output=True, text=True)
    if lint.returncode != 0:
        raise Failed("hadolint: " + (lint.stdout + lint.stderr).strip())
    # Joined continuation lines, comments dropped, split into stages at FROM.
    text = re.sub(r"\\\n", " ", path.read_text())
    lines = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
    stages: list[list[str]] = []
    for l in lines:
        if l.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(l)
    if len(stages) < 2:
        raise Failed("Dockerfile: expected a build stage and a run stage")
    final = stages[-1]
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    psc = values["podSecurityContext"]
    want_user = f"{psc['runAsUser']}:{psc['runAsGroup']}"
    users = [l.split(None, 1)[1] for l in final if l.upper().startswith("USER ")]
    if users[-1:] != [want_user]:
        raise Failed(f"Dockerfile: the final stage runs as {users[-1] if users else 'root'}, "
                     f"the chart's podSecurityContext as {want_user}")
    copied = {Path(w).name for l in final if l.upper().startswith("COPY --FROM")
              for w in l.split()[2:-1]}
    needed = {"ledgerd", "dialerd", values["migrations"]["command"][0]}
    if needed - copied:
        raise Failed("Dockerfile: the chart starts " + ", ".join(sorted(needed - copied))
                     + " but the image does not copy it")
    builds = [l for st in stages[:-1] for l in st if "cargo build" in l]
    packages = {m for l in builds for m in re.findall(r"-p\s+([A-Za-z0-9_-]+)", l)}
    ws = workspace_binaries()
    unknown = packages - ws.keys()
    if unknown:
        raise Failed("Dockerfile: builds packages not in the workspace: " + ", ".join(sorted(unknown)))
    built = set().union(*(ws[p] for p in packages)) if packages else set()
    if copied - built:
        raise Failed("Dockerfile: copies " + ", ".join(sorted(copied - built))
                     + " which no package it builds defines")
    exposed = {int(p) for l in final if l.upper().startswith("EXPOSE ") for p in l.split()[1:]}
    ports = {values[s][k] for s in ("ledger", "dialer") for k in ("grpcPort", "metricsPort")}
    if ports - exposed:
        raise Failed("Dockerfile: does not EXPOSE the chart's ports " + ", ".join(map(str, sorted(ports - exposed))))
    return f"hadolint clean; runs as {want_user}; copies {', '.join(sorted(copied))}; builds {', '.join(sorted(packages))}"


def expect_failure(what: str, fn, because: str) -> str:
    """`fn` must fail, and for the reason `because` (a part of its message)."""
    try:
        fn()
    except Failed as e:
        if because not in str(e):
            raise Failed(f"self-test: {what} failed for another reason than {because!r}: {e}") from None
        first = str(e).splitlines()[0]
        return f"fails as it should: {first[:140]}"
    raise Failed(f"self-test: {what} was not caught")


def self_tests(args, known, pending) -> list[tuple[str, callable]]:
    def broken_copy(edit) -> Path:
        d = Path(tempfile.mkdtemp(prefix="chart-selftest-"))
        shutil.copytree(CHART, d / CHART.name)
        edit(d / CHART.name)
        return d / CHART.name

    def broken_template():
        def edit(c: Path):
            p = c / "templates" / "ledger-service.yaml"
            p.write_text(p.read_text().replace("{{- end }}", "", 1) + "\n  {{ if .Values.ledger }}\n")
        c = broken_copy(edit)
        try:
            check_values_set("broken", None, args, known, pending, chart_dir=c)
        finally:
            shutil.rmtree(c.parent)

    def unknown_field():
        def edit(c: Path):
            p = c / "templates" / "ledger-deployment.yaml"
            p.write_text(p.read_text().replace("  revisionHistoryLimit: 5", "  revisionHistoryLimt: 5"))
        c = broken_copy(edit)
        try:
            check_values_set("typo", None, args, known, pending, chart_dir=c)
        finally:
            shutil.rmtree(c.parent)

    def crd_field():
        def edit(c: Path):
            p = c / "templates" / "servicemonitor.yaml"
            p.write_text(p.read_text().replace("scrapeTimeout:", "scrapeTimout:"))
        c = broken_copy(edit)
        try:
            check_values_set("crd typo", VALUE_SETS["all"], args, known, pending, chart_dir=c)
        finally:
            shutil.rmtree(c.parent)

    def renamed_metric():
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "dialer.json"
            p.write_text((CHART / "dashboards" / "dialer.json").read_text().replace(
                "dialer_outbox_depth", "dialer_outbox_backlog"))
            check_dashboard(p, known)

    def not_json():
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "dialer.json"
            p.write_text((CHART / "dashboards" / "dialer.json").read_text()[:-20])
            check_dashboard(p, known)

    def undocumented():
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "values.yaml"
            p.write_text((CHART / "values.yaml").read_text() + "newSetting: 3\n")
            missing = undocumented_values(p)
            if missing:
                raise Failed(f"values.yaml keys without a comment: {missing}")

    def refused_config():
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "values.yaml"
            p.write_text("dialer:\n  config:\n    replica_claim_ttl_s: 1\n")
            check_values_set("bad setting", p, args, known, pending)

    def other_user_image():
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "Dockerfile"
            p.write_text((ROOT / "Dockerfile").read_text().replace("USER 10001:10001", "USER 10002:10002"))
            check_dockerfile(p)

    binaries = [
        ("self-test: a setting dialerd refuses fails (with --binaries)",
         lambda: expect_failure("refused setting", refused_config, "replica_claim_ttl_s: must be 3 to 600")),
    ] if args.binaries else []
    return binaries + [
        ("self-test: an undocumented value fails",
         lambda: expect_failure("undocumented value", undocumented, "newSetting")),
        ("self-test: a broken template fails the render",
         lambda: expect_failure("broken template", broken_template, "render:")),
        ("self-test: an unknown Deployment field fails kubernetes-validate --strict",
         lambda: expect_failure("unknown field", unknown_field, "revisionHistoryLimt")),
        ("self-test: an unknown ServiceMonitor field fails its CRD schema",
         lambda: expect_failure("CRD field", crd_field, "scrapeTimout")),
        ("self-test: a renamed metric in the dashboard fails",
         lambda: expect_failure("renamed metric", renamed_metric, "dialer_outbox_backlog")),
        ("self-test: a dashboard that is not JSON fails",
         lambda: expect_failure("not JSON", not_json, "is not JSON")),
        ("self-test: an image running as another user than the chart's fails",
         lambda: expect_failure("other user", other_user_image, "runs as 10002:10002")),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binaries", help="directory of ledgerd and dialerd: load the rendered configs with them")
    ap.add_argument("--no-self-test", action="store_true", help="skip the self-tests")
    args = ap.parse_args()
    if args.binaries:
        for b in ("ledgerd", "dialerd"):
            if not (Path(args.binaries) / b).is_file():
                print(f"--binaries: no {b} in {args.binaries}", file=sys.stderr)
                return 2
    known = code_metrics()
    pending = expected_metrics()
    def documented():
        missing = undocumented_values(CHART / "values.yaml")
        if missing:
            raise Failed("values.yaml keys without a comment: " + ", ".join(missing))
        return "every key has its comment"

    checks: list[tuple[str, callable]] = [
        ("yamllint Chart.yaml and values files",
         lambda: yamllint([CHART / "Chart.yaml", CHART / "values.yaml", *[p for p in VALUE_SETS.values() if p]])
         or "clean"),
        ("every value documented in values.yaml", documented),
    ]
    for label, path in VALUE_SETS.items():
        checks.append((f"chart with {label} values", lambda label=label, path=path:
                       check_values_set(label, path, args, known, pending)))
    checks.append(("dashboard JSON and its metrics", lambda: "%d expressions, every metric registered in the code"
                   % check_dashboard(CHART / "dashboards" / "dialer.json", known)))
    checks.append(("the image's Dockerfile against the chart", lambda: check_dockerfile(ROOT / "Dockerfile")))
    checks.append(("expected metrics not yet in the code", lambda: (
        "still missing: " + ", ".join(sorted(pending - known)) if pending - known else "none")))
    if not args.no_self_test:
        checks += self_tests(args, known, pending)
    passed = failed = 0
    for name, fn in checks:
        t = time.monotonic()
        try:
            detail = fn()
            passed += 1
            print(f"ok   {name} ({time.monotonic() - t:.1f} s): {detail}")
        except Failed as e:
            failed += 1
            print(f"FAIL {name}: {e}")
    print(f"check-chart: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
