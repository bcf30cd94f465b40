#!/usr/bin/python3
"""Checks the structure of ade's OpenLineage events for one run.

usage: check_events.py EVENTS.ndjson PIPELINE_RUN_ID EXPECT(success|failed) [FAILED_STAGE]
"""
import json
import re
import sys
import uuid

events = [json.loads(l) for l in open(sys.argv[1])]
run_id, expect = sys.argv[2], sys.argv[3]
failed_stage = sys.argv[4] if len(sys.argv) > 4 else None
errors = []


def err(msg):
    errors.append(msg)


iso = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
mine = []
for e in events:
    rid = e["run"]["runId"]
    parent = e["run"].get("facets", {}).get("parent")
    if rid == run_id or (parent and parent["run"]["runId"] == run_id):
        mine.append(e)
if not mine:
    err("no events for run %s" % run_id)
pipe = [e for e in mine if e["run"]["runId"] == run_id]
stages = [e for e in mine if e["run"]["runId"] != run_id]
# The pipeline run: START first, its terminal event last.
if [e["eventType"] for e in pipe] != ["START", "COMPLETE" if expect == "success" else "FAIL"]:
    err("pipeline events: %s" % [e["eventType"] for e in pipe])
if mine and (mine[0] is not pipe[0] or mine[-1] is not pipe[-1]):
    err("pipeline START/end do not enclose the stage events")
by_run = {}
for e in mine:
    uuid.UUID(e["run"]["runId"])
    if not iso.match(e["eventTime"]):
        err("eventTime %r" % e["eventTime"])
    f = e["run"]["facets"]
    for key in ("nominalTime", "processing_engine"):
        if key not in f:
            err("%s missing in %s" % (key, e["job"]["name"]))
    if f["processing_engine"]["name"] != "ade":
        err("processing_engine.name")
    if f["nominalTime"]["nominalStartTime"] != "2026-01-01T00:00:00Z" or \
       f["nominalTime"]["nominalEndTime"] != "2026-01-02T00:00:00Z":
        err("nominalTime %s" % f["nominalTime"])
    jt = e["job"]["facets"]["jobType"]
    want = "PIPELINE" if e in pipe else "TASK"
    if (jt["processingType"], jt["integration"], jt["jobType"]) != ("BATCH", "ADE", want):
        err("jobType %s" % jt)
    if "inputs" not in e or "outputs" not in e:
        err("dataset lists missing")
    by_run.setdefault(e["run"]["runId"], []).append(e)
for rid, evs in by_run.items():
    if rid == run_id:
        continue
    types = [e["eventType"] for e in evs]
    if types[0] != "START" or len(types) != 2 or types[1] not in ("COMPLETE", "FAIL"):
        err("stage run %s: %s" % (evs[0]["job"]["name"], types))
    p = evs[0]["run"]["facets"]["parent"]
    if p["job"]["name"] != pipe[0]["job"]["name"] or p["job"]["namespace"] != pipe[0]["job"]["namespace"]:
        err("parent job %s" % p["job"])
    for e in evs:
        if e["run"]["facets"]["parent"]["run"]["runId"] != run_id:
            err("parent runId")
    if types[-1] == "FAIL":
        em = evs[-1]["run"]["facets"].get("errorMessage")
        if not em or "exit code" not in em["message"] and "signal" not in em["message"]:
            err("FAIL without errorMessage: %s" % em)
if failed_stage:
    fails = [e for e in stages if e["eventType"] == "FAIL" and e["job"]["name"].endswith("." + failed_stage)]
    if not fails:
        err("no FAIL for stage %s" % failed_stage)
    elif "boom-line" not in fails[0]["run"]["facets"]["errorMessage"].get("stackTrace", ""):
        err("last log lines missing from errorMessage: %s" % fails[0]["run"]["facets"]["errorMessage"])
    if "errorMessage" not in pipe[-1]["run"]["facets"]:
        err("pipeline FAIL without errorMessage")
for m in errors:
    print(m, file=sys.stderr)
print("%d events checked, %d errors" % (len(mine), len(errors)))
sys.exit(1 if errors else 0)
