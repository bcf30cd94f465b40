#!/bin/sh
# The report in a real browser: headless Chromium opens it from disk, and
# the test fails on any console message (script errors, refused fetches),
# on a rendered page whose charts are empty, or on a blank screenshot.
# Skipped (exit 77) only when chromium is not installed.
set -u
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [ -z "$CHROMIUM" ]; then
  echo "# SKIP: chromium is not installed (apt-get install chromium)"
  exit 77
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/ade-report-chromium.XXXXXX")
. "$ADE_SRC/tests/report/lib.sh"
SHOT=${REPORT_SHOT:-$T/report.png}
FAIL=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; FAIL=$((FAIL + 1)); }
cd "$T" || exit 1
# Chromium wants a writable home and profile; keep both in the test's directory.
export HOME=$T/chromium-home
mkdir -p "$HOME"
chrome() {
  timeout 120 "$CHROMIUM" --headless=new --no-sandbox --disable-gpu --no-first-run \
    --user-data-dir="$T/profile" --enable-logging=stderr --v=0 --hide-scrollbars "$@"
}
# Console messages as Chromium logs them to stderr.
console() { grep -E 'CONSOLE|Uncaught|Refused to' "$1"; }

# The detector itself: a page with a script error must be caught.
printf '<!DOCTYPE html><p>x</p><script>no_such_function()</script>\n' > bad.html
chrome --dump-dom "file://$T/bad.html" > bad.dom 2> bad.log
if console bad.log | grep -q no_such_function; then ok "a console error is detected"; else
  bad "the console capture saw nothing on a page with an error; stderr:"; sed 's/^/    /' bad.log | head; fi

make_history || { echo "not ok - could not build the history"; exit 1; }
"$BIN/ade" --home "$H" report employees --out "$T/report.html" > out 2>&1 || { bad "ade report"; cat out; }

chrome --dump-dom "file://$T/report.html" > dom.html 2> dom.log
[ -s dom.html ] && ok "the page renders (--dump-dom)" || bad "no DOM from chromium"
if console dom.log > console.txt; then bad "console messages:"; sed 's/^/    /' console.txt; else
  ok "no console message (no error, nothing refused by the CSP)"; fi
/usr/bin/python3 - dom.html <<'EOF' || FAIL=$((FAIL + 1))
import re, sys
dom = open(sys.argv[1], encoding="utf-8").read()
svgs = re.findall(r"<svg\b.*?</svg>", dom, re.S)
# A "no data" box has a rect too: a chart counts as drawn when it is not one.
empty = [s[:120] for s in svgs if 'class="nodata"' in s or not re.search(r"<(polyline|circle|rect|path)\b", s)]
print(("ok" if len(svgs) >= 12 else "not ok") + " - %d charts in the rendered page" % len(svgs))
print(("ok" if not empty else "not ok") + " - every chart has plotted elements" + ("" if not empty else ": %r" % empty))
lines = len(re.findall(r"<polyline\b", dom))
points = len(re.findall(r"<circle\b", dom))
print(("ok" if lines >= 10 and points >= 40 else "not ok") + " - lines and points drawn (%d, %d)" % (lines, points))
sys.exit(0 if len(svgs) >= 12 and not empty and lines >= 10 and points >= 40 else 1)
EOF

rm -f "$SHOT"
chrome --screenshot="$SHOT" --window-size=1280,4000 "file://$T/report.html" > shot.log 2>&1
if [ -s "$SHOT" ]; then ok "screenshot written: $SHOT"; else bad "no screenshot"; sed 's/^/    /' shot.log | tail; fi
if console shot.log > console.txt; then bad "console messages while taking the screenshot:"; sed 's/^/    /' console.txt; fi
if [ -s "$SHOT" ]; then
  if /usr/bin/python3 "$ADE_SRC/tests/report/png.py" check "$SHOT"; then ok "the screenshot is not blank"
  else bad "the screenshot is (almost) one colour"; fi
fi

if [ "$FAIL" = 0 ]; then rm -rf "$T"; else echo "# kept $T"; fi
[ "$FAIL" = 0 ]
