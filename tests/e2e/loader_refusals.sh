#!/bin/sh
# Every refusal of the pipeline loader, through `ade check`: exit 3 and the
# exact "file:line:column: reason" line on stderr, nothing on stdout.  A file
# that cannot be read is a bad command line (exit 2), not a bad pipeline.
. "$ADE_SRC/tests/e2e/lib.sh"
cd "$T" || exit 1
# A short relative run path (resolved against the pipeline's directory), so
# that columns in the messages below do not depend on where the tree is.
ln -s "$STAGES" st
OK=st/ok.sh

# refuse NAME WANT: writes stdin to NAME.yaml; `ade check NAME.yaml` must
# exit 3 with exactly WANT on stderr.
refuse() {
  case_ "$1"
  cat > "$1.yaml"
  ade check "$1.yaml" > out 2> err
  rc=$?
  expect_rc 3 "$rc" "refused"
  printf '%s\n' "$2" > want
  if cmp -s want err; then ok "message"; else
    not_ok "message: wanted '$2', got:"; sed 's/^/    /' err; fi
  check "nothing on stdout" test ! -s out
}

refuse unknown_top "unknown_top.yaml:3:1: unknown key 'schedul' in pipeline" <<EOF2
pipeline: p
stages: {a: {run: $OK}}
schedul: "0 2 * * *"
EOF2

refuse unknown_stage_key "unknown_stage_key.yaml:5:5: unknown key 'retrys' in stage 'a'" <<EOF2
pipeline: p
stages:
  a:
    run: $OK
    retrys: 2
EOF2

refuse unknown_defaults_key "unknown_defaults_key.yaml:2:12: unknown key 'retry' in defaults" <<EOF2
pipeline: p
defaults: {retry: 1}
stages: {a: {run: $OK}}
EOF2

refuse retries_abc "retries_abc.yaml:5:14: retries must be an integer, not 'abc'" <<EOF2
pipeline: p
stages:
  a:
    run: $OK
    retries: abc
EOF2

refuse retries_quoted "retries_quoted.yaml:5:14: retries must be an integer, not '2'" <<EOF2
pipeline: p
stages:
  a:
    run: $OK
    retries: "2"
EOF2

refuse retries_negative "retries_negative.yaml:5:14: retries must be between 0 and 1000, not -1" <<EOF2
pipeline: p
stages:
  a:
    run: $OK
    retries: -1
EOF2

refuse timeout_bad "timeout_bad.yaml:5:14: timeout must be a duration such as 30s, 10m or 2h, not '5x'" <<EOF2
pipeline: p
stages:
  a:
    run: $OK
    timeout: 5x
EOF2

refuse trigger_bad "trigger_bad.yaml:5:14: trigger must be all_success, all_done, one_failed or none_failed, not 'sometimes'" <<EOF2
pipeline: p
stages:
  a:
    run: $OK
    trigger: sometimes
EOF2

refuse catchup_bad "catchup_bad.yaml:2:10: catchup must be true or false, not 'maybe'" <<EOF2
pipeline: p
catchup: maybe
stages: {a: {run: $OK}}
EOF2

refuse needs_mapping "needs_mapping.yaml:5:12: needs must be a list of stage names, not a mapping" <<EOF2
pipeline: p
stages:
  a:
    run: $OK
    needs: {b: 1}
EOF2

refuse stages_list "stages_list.yaml:3:3: stages must be a mapping of name to stage, not a list" <<EOF2
pipeline: p
stages:
  - a
EOF2

refuse cycle2 "cycle2.yaml:5:12: dependency cycle: a -> b -> a" <<EOF2
pipeline: p
stages:
  a:
    run: $OK
    needs: [b]
  b:
    run: $OK
    needs: [a]
EOF2

# The path follows needs: b needs d, d needs c, c needs b.
refuse cycle3 "cycle3.yaml:7:12: dependency cycle: b -> d -> c -> b" <<EOF2
pipeline: p
stages:
  a:
    run: $OK
  b:
    run: $OK
    needs: [a, d]
  c:
    run: $OK
    needs: [b]
  d:
    run: $OK
    needs: [c]
EOF2

refuse self_cycle "self_cycle.yaml:5:12: dependency cycle: a -> a" <<EOF2
pipeline: p
stages:
  a:
    run: $OK
    needs: a
EOF2

refuse needs_missing "needs_missing.yaml:7:16: stage 'b' needs 'nope', which is not a stage" <<EOF2
pipeline: p
stages:
  a:
    run: $OK
  b:
    run: $OK
    needs: [a, nope]
EOF2

# Template positions point at the unknown name itself.
refuse template_run "template_run.yaml:4:25: unknown template name 'dss'" <<EOF2
pipeline: p
stages:
  a:
    run: [$OK, "{{ dss }}"]
EOF2

refuse template_with "template_with.yaml:5:24: unknown template name 'dss'" <<EOF2
pipeline: p
stages:
  a:
    run: $OK
    with: {day: "in {{ dss }}"}
EOF2

refuse template_param "template_param.yaml:3:15: unknown template name 'params.nope'" <<EOF2
pipeline: p
params: {region: eu}
source: "x/{{ params.nope }}.csv"
stages: {a: {run: $OK}}
EOF2

refuse template_env "template_env.yaml:5:18: unknown template name 'nope'" <<EOF2
pipeline: p
stages:
  a:
    run: $OK
    env: {X: "{{ nope }}"}
EOF2

refuse template_unterminated "template_unterminated.yaml:4:22: unterminated template: '{{' without '}}'" <<EOF2
pipeline: p
stages:
  a:
    run: [$OK, "{{ ds "]
EOF2

refuse template_exe "template_exe.yaml:4:10: the executable in run must not use templates" <<EOF2
pipeline: p
stages:
  a:
    run: "{{ ds }}/ok.sh"
EOF2

refuse env_contract "env_contract.yaml:5:11: env may not set 'ADE_DS': ADE_ names belong to the stage contract" <<EOF2
pipeline: p
stages:
  a:
    run: $OK
    env: {ADE_DS: x}
EOF2

refuse retry_on_bad "retry_on_bad.yaml:5:20: an exit code in retry_on must be an integer, not 'x'" <<EOF2
pipeline: p
stages:
  a:
    run: $OK
    retry_on: [75, x]
EOF2

refuse exe_path "exe_path.yaml:4:10: executable './missing.sh' not found or not executable" <<EOF2
pipeline: p
stages:
  a:
    run: ./missing.sh --flag
EOF2

refuse exe_path_search "exe_path_search.yaml:4:10: executable 'ade-no-such-stage' not found next to ade or on PATH" <<EOF2
pipeline: p
stages:
  a:
    run: ade-no-such-stage
EOF2

# A file that exists but is not executable cannot be a stage either.
printf '#!/bin/sh\n' > notexec.sh
refuse exe_not_executable "exe_not_executable.yaml:4:10: executable './notexec.sh' not found or not executable" <<EOF2
pipeline: p
stages:
  a:
    run: ./notexec.sh
EOF2

refuse no_run "no_run.yaml:4:5: stage 'a' has no run" <<EOF2
pipeline: p
stages:
  a:
    needs: []
EOF2

refuse duplicate_stage_key "duplicate_stage_key.yaml:6:5: duplicate key 'run' in stage 'a'" <<EOF2
pipeline: p
stages:
  a:
    run: $OK
    retries: 1
    run: $OK
EOF2

refuse missing_pipeline_name "missing_pipeline_name.yaml:1:1: missing required key 'pipeline' (the pipeline's name)" <<EOF2
stages: {a: {run: $OK}}
EOF2

refuse bad_pipeline_name "bad_pipeline_name.yaml:1:11: pipeline name 'a b/c' must be letters, digits, '_' or '-'" <<EOF2
pipeline: a b/c
stages: {a: {run: $OK}}
EOF2

refuse not_a_mapping "not_a_mapping.yaml:1:1: the pipeline file must be a mapping, not a list" <<EOF2
- a
- b
EOF2

refuse invalid_yaml "invalid_yaml.yaml:5:1: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence started at 4:10)" <<EOF2
pipeline: p
stages:
  a:
    run: [$OK, x
EOF2

refuse invalid_yaml_indent "invalid_yaml_indent.yaml:3:7: invalid YAML: mapping values are not allowed in this context" <<EOF2
pipeline: p
stages:
  a: b: c
EOF2

refuse empty "empty.yaml:1:1: the pipeline file is empty" < /dev/null

refuse comment_only "comment_only.yaml:1:1: the pipeline file is empty" <<EOF2
# nothing here yet
EOF2

# A file that cannot be read: exit 2 (bad command line), with a message.
case_ missing_file
ade check nope.yaml > out 2> err
expect_rc 2 $? "refused as a bad command line"
expect_line "cannot open 'nope.yaml': No such file or directory" err "message names the file"

case_ directory
mkdir adir
ade check adir > out 2> err
expect_rc 2 $? "a directory is refused"
expect_line "'adir' is not a regular file" err "message names it"

# The same refusals stop `ade run` and `ade plan` before anything runs.
case_ run_refuses
ade run cycle2.yaml --date 2026-01-01 > out 2> err
expect_rc 3 $? "run refuses a bad pipeline"
expect_line "cycle2.yaml:5:12: dependency cycle: a -> b -> a" err "with the same message"
check "no state.db was created" test ! -e "$ADE_HOME/state.db"
ade plan template_with.yaml --date 2026-01-01 > out 2> err
expect_rc 3 $? "plan refuses a bad pipeline"

# check on several files: each is reported, exit 3 if any is bad.
case_ check_many
cat > good.yaml <<EOF2
pipeline: good
stages: {a: {run: $OK}, b: {run: $OK, needs: [a]}}
EOF2
ade check good.yaml > out 2> err
expect_rc 0 $? "a good pipeline passes"
expect_line "good.yaml: ok: pipeline 'good', 2 stages" out "and says so"
ade check good.yaml empty.yaml > out 2> err
expect_rc 3 $? "one bad file of two"
expect_grep "good.yaml: ok" out "the good one is still reported"
expect_grep "empty.yaml:1:1" err "the bad one is reported"

finish
