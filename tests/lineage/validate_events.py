#!/usr/bin/python3
"""Validates OpenLineage events (NDJSON) against the official JSON Schemas.

usage: validate_events.py SPEC_DIR EVENTS.ndjson

Every event is checked against OpenLineage.json (RunEvent) and every facet
against the schema file its _schemaURL names, with date-time and uuid
checked explicitly (jsonschema's format checks depend on optional
packages).  Exit 0 when all are valid, 1 otherwise, 77 when jsonschema is
missing.
"""
import json
import os
import re
import sys
import uuid

try:
    import jsonschema
except ImportError:
    print("python3-jsonschema is not installed", file=sys.stderr)
    sys.exit(77)

spec_dir, events_path = sys.argv[1], sys.argv[2]
store = {}
with open(os.path.join(spec_dir, "OpenLineage.json")) as f:
    core = json.load(f)
store[core["$id"]] = core
facet_dir = os.path.join(spec_dir, "facets")
for name in os.listdir(facet_dir):
    if name.endswith(".json"):
        with open(os.path.join(facet_dir, name)) as f:
            s = json.load(f)
        store[s["$id"]] = s

Validator = jsonschema.validators.validator_for(core)
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def check(schema_url, obj, where):
    base, _, frag = schema_url.partition("#")
    if base not in store:
        return ["%s: no schema %s in %s" % (where, base, spec_dir)]
    schema = {"$ref": schema_url}
    resolver = jsonschema.RefResolver(base_uri=base, referrer=store[base], store=store)
    v = Validator(schema, resolver=resolver)
    return ["%s: %s at %s" % (where, e.message, "/".join(map(str, e.absolute_path)))
            for e in v.iter_errors(obj)]


def facets_in(obj, path):
    """Yields (path, facet) for every facet map in an event."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("facets", "inputFacets", "outputFacets") and isinstance(v, dict):
                for fk, fv in v.items():
                    yield "%s/%s/%s" % (path, k, fk), fv
            else:
                yield from facets_in(v, "%s/%s" % (path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from facets_in(v, "%s/%d" % (path, i))


errors, n = [], 0
with open(events_path) as f:
    for lineno, line in enumerate(f, 1):
        if not line.endswith("\n"):
            errors.append("line %d: torn (no newline)" % lineno)
        ev = json.loads(line)
        n += 1
        where = "line %d" % lineno
        errors += check(ev["schemaURL"], ev, where)
        if not RFC3339.match(ev.get("eventTime", "")):
            errors.append("%s: eventTime %r is not RFC 3339" % (where, ev.get("eventTime")))
        try:
            uuid.UUID(ev["run"]["runId"])
        except Exception:
            errors.append("%s: runId %r is not a UUID" % (where, ev["run"].get("runId")))
        for fpath, facet in facets_in(ev, ""):
            if not isinstance(facet, dict) or "_schemaURL" not in facet or "_producer" not in facet:
                errors.append("%s%s: facet without _producer/_schemaURL" % (where, fpath))
                continue
            errors += check(facet["_schemaURL"], facet, where + fpath)
            for key in ("nominalStartTime", "nominalEndTime"):
                if key in facet and not RFC3339.match(facet[key]):
                    errors.append("%s%s: %s not RFC 3339" % (where, fpath, key))
for e in errors[:50]:
    print(e, file=sys.stderr)
print("%d events, %d errors" % (n, len(errors)))
sys.exit(1 if errors or n == 0 else 0)
