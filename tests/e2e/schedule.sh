#!/bin/sh
# ade schedule: catchup on and off, depends_on_past, pipeline sensors that
# succeed and time out, one scheduler per home with stale-lock takeover,
# SIGTERM and SIGHUP.  The clock is overridden (--now), so weeks of
# schedule take seconds.
. "$ADE_SRC/tests/e2e/lib.sh"
cd "$T" || exit 1
mkdir -p count
export ADE_TEST_COUNTER_DIR=$T/count

dates() { sql "SELECT group_concat(ds || ':' || state, ' ') FROM (SELECT ds, state FROM runs WHERE pipeline='$1' ORDER BY ds, run_number)"; }

cat > daily.yaml <<EOF2
pipeline: daily
schedule: "0 2 * * *"
start_date: 2026-01-01
catchup: true
max_active_runs: 2
stages:
  a: {run: $STAGES/ok.sh}
EOF2

case_ catchup
ade_out out schedule daily.yaml --once --now 2026-01-04T01:00:00Z
expect_rc 0 "$RC" "--once runs what is due and exits"
# 2026-01-03 falls due at 2026-01-04 02:00, after 'now'.
expect_eq "2026-01-01:success 2026-01-02:success" "$(dates daily)" "every missed day, none early"
ade_out out schedule daily.yaml --once --now 2026-01-04T01:30:00Z
expect_eq "2026-01-01:success 2026-01-02:success" "$(dates daily)" "nothing runs twice"
ade_out out schedule daily.yaml --once --now 2026-01-06T02:00:00Z
# 2026-01-05 falls due at 2026-01-06 02:00: exactly now.
expect_eq "2026-01-01:success 2026-01-02:success 2026-01-03:success 2026-01-04:success 2026-01-05:success" \
  "$(dates daily)" "the days that fell due since, one of them at its fire time exactly"
expect_eq "1" "$(executions 2026-01-03 a)" "each day ran once"

case_ no_catchup
sed 's/pipeline: daily/pipeline: latest/; s/catchup: true/catchup: false/' daily.yaml > latest.yaml
ade_out out schedule latest.yaml --once --now 2026-01-10T03:00:00Z
expect_eq "2026-01-09:success" "$(dates latest)" "catchup: false runs only the newest due day"

case_ weekly
sed 's/pipeline: daily/pipeline: weekly/; s/"0 2 \* \* \*"/"@weekly"/' daily.yaml > weekly.yaml
# 2026-01-04 is a Sunday: @weekly fires then, covering every day that ended.
ade_out out schedule weekly.yaml --once --now 2026-01-03T23:00:00Z
expect_eq "" "$(dates weekly)" "nothing before the first weekly fire"
ade_out out schedule weekly.yaml --once --now 2026-01-04T00:00:00Z
expect_eq "2026-01-01:success 2026-01-02:success 2026-01-03:success" "$(dates weekly)" \
  "at the fire, every day that ended"

case_ depends_on_past
cat > dop.yaml <<EOF2
pipeline: dop
schedule: "@daily"
start_date: 2026-02-01
depends_on_past: true
max_active_runs: 1
stages:
  a: {run: [$STAGES/fail-on-date.sh, 2026-02-02]}
EOF2
ade_out out schedule dop.yaml --once --now 2026-02-06T00:00:00Z
expect_rc 1 "$RC" "a failed day makes --once exit 1"
expect_eq "2026-02-01:success 2026-02-02:failed" "$(dates dop)" "later days wait for the failed one"
ade_out out schedule dop.yaml --once --now 2026-02-07T00:00:00Z
expect_eq "2026-02-01:success 2026-02-02:failed" "$(dates dop)" "and keep waiting"

case_ sensor_times_out
cat > sensor.yaml <<EOF2
pipeline: sensor
schedule: "@daily"
start_date: 2026-03-01
wait_for: {path: "in/{{ ds }}.ready", poke_interval: 100ms, timeout: 1h}
stages:
  a: {run: $STAGES/ok.sh}
EOF2
mkdir -p in
# Due at 2026-03-02 00:00; an hour later the sensor gives up.
ade_out out schedule sensor.yaml --once --now 2026-03-02T02:00:00Z
expect_rc 1 "$RC" "a sensor past its timeout fails the run"
expect_eq "2026-03-01:failed" "$(dates sensor)" "recorded as a failed run"
expect_grep "wait_for timed out after 3600s: '.*in/2026-03-01.ready' does not exist" out \
  "the reason names the file"
expect_eq "0" "$(executions 2026-03-01 a)" "its stage never ran"

case_ sensor_succeeds
ade_bg out2 schedule sensor.yaml --once --now 2026-03-03T00:10:00Z
reap_later "$BG"
check "the run waits for its file" wait_for grep -q "waiting for .*in/2026-03-02.ready" out2
expect_eq "0" "$(executions 2026-03-02 a)" "nothing ran while waiting"
touch in/2026-03-02.ready
check "the scheduler ends once the file came" wait_for dead "$BG"
wait "$BG"; expect_rc 0 $? "--once exit status"
expect_eq "1" "$(executions 2026-03-02 a)" "the stage ran after the file appeared"

case_ lock
cat > slow.yaml <<EOF2
pipeline: slow
schedule: "@daily"
start_date: 2026-04-01
stages:
  a: {run: [$STAGES/block.sh, $T/marks, 99]}
EOF2
mkdir -p marks
ade_bg out3 schedule slow.yaml --now 2026-04-02T00:00:00Z
FIRST=$BG
reap_later "$FIRST"
require "the first scheduler started its stage" wait_for test -s marks/a.1.pid
reap_later "$(cat marks/a.1.pid)"
ade_out out schedule daily.yaml --once
expect_rc 4 "$RC" "a second scheduler on the same home is refused"
expect_grep "another scheduler (pid $FIRST) holds" out "and names the holder"

case_ sigterm
kill -TERM "$FIRST"
check "SIGTERM stops it" wait_for dead "$FIRST"
wait "$FIRST"; expect_rc 0 $? "SIGTERM is a clean exit"
check "its running stage was stopped" wait_for dead "$(cat marks/a.1.pid)"
expect_eq "failed" "$(stage_state slow 2026-04-01 1 a)" "and marked failed"
expect_grep "interrupted" out3 "the output says so"

case_ stale_lock
ade_bg out4 schedule daily.yaml --now 2026-01-06T03:00:00Z
SECOND=$BG
reap_later "$SECOND"
require "a long-lived scheduler runs" wait_for grep -q "ade schedule: 1 pipeline" out4
kill -9 "$SECOND"
wait "$SECOND" 2>/dev/null
ade_out out schedule daily.yaml --once --now 2026-01-06T03:00:00Z
expect_rc 0 "$RC" "a killed scheduler's lock is taken over"
expect_grep "taking over the lock left by scheduler pid $SECOND" out "and says so"

case_ sighup
cp daily.yaml hup.yaml
sed -i 's/pipeline: daily/pipeline: hup/' hup.yaml
ade_bg out5 schedule hup.yaml --now 2026-01-02T03:00:00Z
HUP=$BG
reap_later "$HUP"
require "it ran the due day" wait_for grep -q "hup 2026-01-01 run 1 success" out5
echo "  b: {run: [unclosed" >> hup.yaml
kill -HUP "$HUP"
check "a broken file keeps the old definition" wait_for grep -q "keeping the old definition of 'hup'" out5
cp daily.yaml hup.yaml
sed -i 's/pipeline: daily/pipeline: hup/' hup.yaml
kill -HUP "$HUP"
check "a fixed file is reloaded" wait_for grep -q "reload: hup reloaded" out5
check "the scheduler is still running" test -d "/proc/$HUP"
kill -TERM "$HUP"
wait_for dead "$HUP"

case_ bad_input
sed 's/"0 2 \* \* \*"/"0 25 * * *"/' daily.yaml > badcron.yaml
ade_out out check badcron.yaml
expect_rc 3 "$RC" "a bad cron is refused by ade check"
expect_line "badcron.yaml:2:11: cron hour: '25' is outside 0-23 or reversed" out "with its position"
grep -v '^schedule:' daily.yaml > nosched.yaml
ade_out out schedule nosched.yaml --once
expect_rc 3 "$RC" "a pipeline without a schedule is refused"
expect_grep "no schedule" out "and says so"
ade_out out schedule daily.yaml --once --now 2026-13-01
expect_rc 2 "$RC" "a bad --now is a usage error"
expect_grep "bad time '2026-13-01'" out "naming the value"
ade_out out schedule --once
expect_rc 2 "$RC" "no pipeline file is a usage error"
ade_out out schedule daily.yaml --bogus
expect_rc 2 "$RC" "an unknown option is a usage error"

finish
