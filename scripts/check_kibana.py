#!/usr/bin/env python3
"""Checks Kibana saved objects (ndjson, as `_import` takes them).

    python3 scripts/check_kibana.py deploy/kibana/nginx.ndjson

Each line must be a saved object of a known type with an id, attributes
and references; every reference must resolve to an object in the file;
Lens layers, dashboard panels and map layers must each have the reference
they name; and every field a visualization uses must exist in the index
template whose index_patterns cover the data view (templates/*.json), with
a type that suits the use (aggregatable, geo_point for maps, date for the
time field). Standard library only; exits non-zero on any problem.
"""

import fnmatch
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
KNOWN_TYPES = {"index-pattern", "lens", "map", "dashboard", "visualization", "search", "tag"}
AGGREGATABLE = {"keyword", "long", "integer", "short", "byte", "double", "float", "ip", "date", "boolean",
                "wildcard", "constant_keyword"}


def template_fields():
    """(index_patterns, {dotted field: type}) for each index template."""
    out = []
    for path in sorted((ROOT / "templates").glob("*.json")):
        body = json.loads(path.read_text())
        fields = {}

        def walk(prefix, props):
            for name, spec in props.items():
                if "properties" in spec:
                    walk(f"{prefix}{name}.", spec["properties"])
                else:
                    fields[f"{prefix}{name}"] = spec.get("type", "object")

        walk("", body.get("template", {}).get("mappings", {}).get("properties", {}))
        out.append((body["index_patterns"], fields, path.name))
    return out


def fields_for(title, templates):
    """The mapped fields of the template that would apply to a data view's
    indices: the data view title with its wildcard filled in must match one
    of the template's index_patterns."""
    probe = title.replace("*", "2024.01.01")
    for patterns, fields, name in templates:
        if any(fnmatch.fnmatchcase(probe, p) for p in patterns):
            return fields, name
    return None, None


def main(paths):
    problems = []
    templates = template_fields()
    for path in paths:
        objects = {}
        lines = pathlib.Path(path).read_text().splitlines()
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(f"{path}:{n}: not JSON: {e}")
                continue
            missing = [k for k in ("id", "type", "attributes", "references") if k not in obj]
            if missing:
                problems.append(f"{path}:{n}: missing {', '.join(missing)}")
                continue
            if obj["type"] not in KNOWN_TYPES:
                problems.append(f"{path}:{n}: unknown saved object type {obj['type']}")
            key = (obj["type"], obj["id"])
            if key in objects:
                problems.append(f"{path}:{n}: duplicate {obj['type']} {obj['id']}")
            objects[key] = obj
            if not obj["attributes"].get("title"):
                problems.append(f"{path}:{n}: {obj['type']} {obj['id']} has no title")

        def where(o):
            return f"{path}: {o['type']} {o['id']}"

        for o in objects.values():
            names = {}
            for ref in o["references"]:
                if (ref.get("type"), ref.get("id")) not in objects:
                    problems.append(f"{where(o)}: reference {ref.get('name')} -> {ref.get('type')} {ref.get('id')} is not in the file")
                if ref.get("name") in names:
                    problems.append(f"{where(o)}: two references named {ref.get('name')}")
                names[ref.get("name")] = ref
            attrs = o["attributes"]

            def data_view(ref_name):
                ref = names.get(ref_name)
                if ref is None:
                    problems.append(f"{where(o)}: no reference named {ref_name}")
                    return None, None
                dv = objects.get(("index-pattern", ref["id"]))
                if dv is None:
                    return None, None
                fields, _ = fields_for(dv["attributes"]["title"], templates)
                return dv, fields

            if o["type"] == "index-pattern":
                fields, template = fields_for(attrs["title"], templates)
                if fields is None:
                    problems.append(f"{where(o)}: no index template in templates/ covers {attrs['title']}")
                elif fields.get(attrs.get("timeFieldName")) != "date":
                    problems.append(f"{where(o)}: time field {attrs.get('timeFieldName')} is not a date in {template}")

            elif o["type"] == "lens":
                state = attrs["state"]
                layers = state["datasourceStates"]["formBased"]["layers"]
                column_ids = set()
                for layer_id, layer in layers.items():
                    dv, fields = data_view(f"indexpattern-datasource-layer-{layer_id}")
                    if set(layer["columnOrder"]) != set(layer["columns"]):
                        problems.append(f"{where(o)}: layer {layer_id} columnOrder and columns differ")
                    for col_id, col in layer["columns"].items():
                        column_ids.add(col_id)
                        field = col.get("sourceField")
                        if field in (None, "___records___") or fields is None:
                            continue
                        if field not in fields:
                            problems.append(f"{where(o)}: column {col_id} uses {field}, which the index template does not map")
                        elif fields[field] not in AGGREGATABLE:
                            problems.append(f"{where(o)}: column {col_id} aggregates {field} of type {fields[field]}")
                        elif col["operationType"] == "date_histogram" and fields[field] != "date":
                            problems.append(f"{where(o)}: date histogram on {field} of type {fields[field]}")
                vis = state["visualization"]
                used = set()
                for layer in vis.get("layers", [vis]):
                    for k in ("xAccessor", "splitAccessor"):
                        if layer.get(k):
                            used.add(layer[k])
                    for k in ("accessors", "primaryGroups", "metrics"):
                        used.update(layer.get(k, []))
                    used.update(c["columnId"] for c in layer.get("columns", []))
                    if layer.get("layerId") not in layers:
                        problems.append(f"{where(o)}: visualization layer {layer.get('layerId')} has no datasource layer")
                for col in sorted(used - column_ids):
                    problems.append(f"{where(o)}: visualization uses unknown column {col}")

            elif o["type"] == "map":
                for layer in json.loads(attrs["layerListJSON"]):
                    src = layer.get("sourceDescriptor", {})
                    if "indexPatternRefName" not in src:
                        continue
                    dv, fields = data_view(src["indexPatternRefName"])
                    geo = src.get("geoField")
                    if fields is not None and fields.get(geo) not in ("geo_point", "geo_shape"):
                        problems.append(f"{where(o)}: layer {layer.get('id')} geoField {geo} is not a geo field")
                json.loads(attrs["mapStateJSON"])
                json.loads(attrs["uiStateJSON"])

            elif o["type"] == "dashboard":
                panels = json.loads(attrs["panelsJSON"])
                json.loads(attrs["optionsJSON"])
                json.loads(attrs["kibanaSavedObjectMeta"]["searchSourceJSON"])
                seen = set()
                boxes = []
                for p in panels:
                    idx = p.get("panelIndex")
                    grid = p.get("gridData", {})
                    if idx in seen or grid.get("i") != idx:
                        problems.append(f"{where(o)}: panel {idx}: duplicate panelIndex or gridData.i differs")
                    seen.add(idx)
                    if grid.get("x", 0) + grid.get("w", 0) > 48:
                        problems.append(f"{where(o)}: panel {idx} is wider than the 48-column grid")
                    for b in boxes:
                        if (grid["x"] < b["x"] + b["w"] and b["x"] < grid["x"] + grid["w"]
                                and grid["y"] < b["y"] + b["h"] and b["y"] < grid["y"] + grid["h"]):
                            problems.append(f"{where(o)}: panel {idx} overlaps panel {b['i']}")
                    boxes.append(grid)
                    if "panelRefName" in p:
                        ref = names.get(f"{idx}:{p['panelRefName']}")
                        if ref is None:
                            problems.append(f"{where(o)}: panel {idx} has no reference {idx}:{p['panelRefName']}")
                        elif ref["type"] != p.get("type"):
                            problems.append(f"{where(o)}: panel {idx} is a {p.get('type')} but references a {ref['type']}")
        print(f"{path}: {len(objects)} saved objects checked")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: check_kibana.py FILE.ndjson...")
    sys.exit(main(sys.argv[1:]))
