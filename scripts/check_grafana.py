#!/usr/bin/env python3
"""Checks a Grafana dashboard JSON file.

    python3 scripts/check_grafana.py deploy/grafana/sluice-dashboard.json

The file must be a dashboard Grafana imports as it is: title, uid,
schemaVersion, panels with unique ids laid out on the 24-column grid
without overlaps, the Prometheus data source taken from a `datasource`
template variable (so the dashboard works with any data source name), and
only template variables that are defined. Every query is then parsed by
`promtool check rules` (variables replaced by sample values), so a PromQL
syntax error fails here rather than as an empty panel. That metric names
exist is checked by tests/it/metrics_promtool.rs. Exits non-zero on any
problem.
"""

import json
import os
import re
import subprocess
import sys
import tempfile

BUILTIN_VARS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h", "__range_s": "3600"}


def main(path):
    problems = []
    dash = json.load(open(path))
    for key in ("title", "uid", "schemaVersion", "panels", "templating"):
        if key not in dash:
            problems.append(f"missing top-level {key}")
    if dash.get("schemaVersion", 0) < 36:
        problems.append(f"schemaVersion {dash.get('schemaVersion')} is older than Grafana 9")
    if dash.get("id") is not None:
        problems.append("id must be null in a shared dashboard (Grafana assigns it)")

    variables = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problems.append("no `datasource` variable of type datasource for prometheus")

    ids, boxes, exprs = set(), [], []
    for p in dash.get("panels", []):
        pid = p.get("id")
        if pid in ids:
            problems.append(f"duplicate panel id {pid}")
        ids.add(pid)
        g = p.get("gridPos", {})
        if not all(k in g for k in ("x", "y", "w", "h")) or g["x"] + g["w"] > 24:
            problems.append(f"panel {pid} ({p.get('title')}): bad gridPos {g}")
            continue
        for b in boxes:
            if g["x"] < b["x"] + b["w"] and b["x"] < g["x"] + g["w"] and g["y"] < b["y"] + b["h"] and b["y"] < g["y"] + g["h"]:
                problems.append(f"panel {pid} ({p.get('title')}) overlaps panel {b['id']}")
        boxes.append({**g, "id": pid})
        if p.get("type") == "row":
            continue
        if not p.get("title"):
            problems.append(f"panel {pid} has no title")
        if p.get("datasource", {}).get("uid") != "${datasource}":
            problems.append(f"panel {pid} ({p.get('title')}) does not use the ${{datasource}} variable")
        targets = p.get("targets", [])
        if not targets:
            problems.append(f"panel {pid} ({p.get('title')}) has no queries")
        refs = set()
        for t in targets:
            if not t.get("expr") or not t.get("refId") or t["refId"] in refs:
                problems.append(f"panel {pid} ({p.get('title')}): query without expr or with a duplicate refId")
            refs.add(t.get("refId"))
            if t.get("datasource", {}).get("uid") != "${datasource}":
                problems.append(f"panel {pid} ({p.get('title')}) query {t.get('refId')} does not use ${{datasource}}")
            exprs.append((f"panel {pid} ({p.get('title')}) {t.get('refId')}", t.get("expr", "")))

    for name, v in variables.items():
        if v.get("type") == "query":
            query = v.get("query", {})
            query = query.get("query") if isinstance(query, dict) else query
            m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query or "")
            if not m:
                problems.append(f"variable {name}: expected label_values(selector, label), got {query!r}")
            else:
                exprs.append((f"variable {name}", m.group(1)))

    def substitute(where, expr):
        def repl(m):
            var = m.group(1) or m.group(2)
            if var in BUILTIN_VARS:
                return BUILTIN_VARS[var]
            if var not in variables:
                problems.append(f"{where}: unknown variable ${var}")
            return "sample"
        return re.sub(r"\$\{(\w+)\}|\$(\w+)", repl, expr)

    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        rules = [{"record": f"dashboard:query_{i}", "expr": substitute(w, e)} for i, (w, e) in enumerate(exprs)]
        json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
        rules_file = f.name
    try:
        result = subprocess.run(["promtool", "check", "rules", rules_file], capture_output=True, text=True)
    finally:
        os.unlink(rules_file)
    if result.returncode != 0:
        problems.append("promtool rejected a query (rule dashboard:query_N is the Nth query):\n" + result.stdout + result.stderr)
        for i, (w, e) in enumerate(exprs):
            problems.append(f"  query_{i}: {w}: {e}")

    print(f"{path}: {len(ids)} panels, {len(exprs)} queries checked")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: check_grafana.py DASHBOARD.json")
    sys.exit(main(sys.argv[1]))
