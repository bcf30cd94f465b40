"""Checks one JSON answer of ade serve: check.py KIND FILE [ARG].  Exit 1 with a message."""
import json
import sys

kind, path = sys.argv[1], sys.argv[2]
arg = sys.argv[3] if len(sys.argv) > 3 else None
with open(path, encoding="utf-8") as f:
    doc = json.load(f)


def need(cond, msg):
    if not cond:
        print(f"{kind}: {msg}: {json.dumps(doc)[:400]}")
        sys.exit(1)


if kind == "error":
    e = doc.get("error", {})
    need(e.get("status") == int(arg), f"error.status is not {arg}")
    need(isinstance(e.get("message"), str) and e["message"], "no error.message")
elif kind == "runs":
    need(len(doc["runs"]) == int(arg), f"not {arg} runs")
    for r in doc["runs"]:
        for k in ("run_id", "pipeline", "ds", "run_number", "state", "started_at"):
            need(k in r, f"run without {k}")
    started = [r["started_at"] for r in doc["runs"]]
    need(started == sorted(started, reverse=True), "runs not newest first")
elif kind == "run":
    need(doc["run_id"] == arg, "wrong run")
    names = [s["name"] for s in doc["stages"]]
    need(names == ["ingest", "warehouse"], f"stages {names}")
    a = doc["stages"][0]["attempt_list"]
    need(len(a) == 1 and a[0]["state"] == "success" and a[0]["peak_rss_kb"] > 0, "attempts")
    need(doc["lineage"].startswith("/api/v1/lineage?pipeline=emp&date="), "lineage link")
elif kind == "kpis":
    n, kpis = arg.split(":", 1)
    need(len(doc["dates"]) == int(n), f"not {n} dates")
    if kpis:
        need(doc["kpis"] == kpis.split(","), f"kpis {doc['kpis']} != {kpis}")
    for d in doc["dates"]:
        need(set(d["values"]) <= set(doc["kpis"]), "a value not in kpis")
    dss = [d["ds"] for d in doc["dates"]]
    need(dss == sorted(dss), "dates not in order")
    if doc["dates"]:
        need(doc["dates"][0]["values"].get("rows_read", 50) == 50, "rows_read != 50")
elif kind == "lineage":
    need(doc["format"] == "ade-lineage" and doc["ds"] == arg, "not the lineage document")
    need({s["name"] for s in doc["stages"]} == {"ingest", "warehouse"}, "stages")
elif kind == "events":
    ev = doc["events"]
    types = sorted(e["eventType"] for e in ev)
    need(len(ev) == 6 and types.count("START") == 3, f"events {types}")
    rid = doc["run_id"]
    for e in ev:
        parent = e["run"].get("facets", {}).get("parent", {}).get("run", {}).get("runId")
        need(e["run"]["runId"] == rid or parent == rid, "an event of another run")
elif kind == "artifacts":
    a = doc["artifacts"]
    need(len(a) == int(arg), f"not {arg} archives")
    for x in a:
        need(x["path"].startswith("artifacts/emp/") and x["state"] == "success", "archive")
        need("evil" not in x["path"], "followed a planted link")
elif kind == "openapi":
    need(doc["openapi"].startswith("3.0"), "not OpenAPI 3.0")
    want = {"/", "/report/{pipeline}", "/healthz", "/metrics", "/api/v1/openapi.json",
            "/api/v1/runs", "/api/v1/runs/{id}", "/api/v1/kpis", "/api/v1/lineage",
            "/api/v1/artifacts"}
    need(set(doc["paths"]) == want, f"paths {sorted(doc['paths'])}")
elif kind == "healthz":
    need(doc["status"] == "ok", "status")
else:
    need(False, "unknown check")
