"""Re-tars a restored run directory as the artifacts module would lay it out
(MANIFEST.json first, then the files in path order), uncompressed: used by
artifacts_e2e.sh to build an archive whose content no longer matches its
manifest.  Usage: repack.py DIR OUT"""
import os
import sys
import tarfile

src, out = sys.argv[1], sys.argv[2]
paths = []
for root, dirs, files in os.walk(src):
    for f in files:
        rel = os.path.relpath(os.path.join(root, f), src)
        if rel != "MANIFEST.json":
            paths.append(rel)
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    t.add(os.path.join(src, "MANIFEST.json"), "MANIFEST.json")
    for rel in sorted(paths, key=lambda p: p.encode()):
        t.add(os.path.join(src, rel), rel)
