#!/bin/sh
# bench/scheduler: the per-stage overhead of ade's scheduler against GNU make
# and ninja.  A chain of N stages (each needs the previous), every stage the
# same static no-op program, run with -j1 by:
#   floor   spawnloop.c: posix_spawn + waitpid N times, no bookkeeping at all
#   ade     ade run CHAIN.yaml -j1 into a fresh --home (state.db, logs, dirs)
#           in the work directory (same file system as make's and ninja's)
#   ade_shm the same with the fresh --home on /dev/shm (tmpfs), to separate
#           ade's file-system cost from the rest; skipped without /dev/shm
#   make    GNU make -j1, N chained .PHONY targets whose recipe is exactly the
#           no-op's path, so make execs it directly (no shell)
#   ninja   ninja -j1, N chained edges; ninja always runs /bin/sh -c
# Each runner is timed REPS times, interleaved, with date +%s%N around the
# command; the best and the median are reported, with per-stage figures
# (total / N) and the ratios ade/make and ade/ninja.  Every ade run is checked:
# state.db must hold N successful attempts.  Peak RSS comes from
# /usr/bin/time -v, and callgrind counts ade's own instructions (children not
# traced) on smaller chains, so growth per stage shows up as a number.
#
# Environment:
#   ADE=path        the ade binary (default: build/bin/ade)
#   N=1000          stages in the chain
#   REPS=11         timed repetitions of each runner (this machine swings ±5%
#                   between minutes: the median of 5 moved too much)
#   CALLGRIND_N="100 400"  chain sizes for callgrind; empty to skip
#   PROFILE=1       also print `strace -c -f` of one ade run
#   PHASES=1        also time ade's and make's start (exec to the first stage's
#                   exec) and end (last stage's exit to their own) from the
#                   kernel's sched tracepoints (perf, root)
#   RECORD=1        append the results section to bench/RESULTS.md
#   KEEP=1          keep the work directory
# Timings are wall-clock on a shared machine: read best and median together.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
ADE=${ADE:-$root/build/bin/ade}
N=${N:-1000}
REPS=${REPS:-11}
CALLGRIND_N=${CALLGRIND_N-100 400}
PROFILE=${PROFILE:-0}
PHASES=${PHASES:-0}
RECORD=${RECORD:-0}
DS=2026-01-01

die() { echo "bench/scheduler: $*" >&2; exit 1; }
[ -x "$ADE" ] || die "no ade binary at $ADE (build first, or set ADE=)"
command -v gcc >/dev/null || die "gcc not found"
command -v make >/dev/null || die "make not found"
command -v ninja >/dev/null || die "ninja not found (Debian package ninja-build)"
command -v sqlite3 >/dev/null || die "sqlite3 not found"
case ${BENCH_FS:-image} in
image | tmpdir) ;;
*) die "BENCH_FS must be image or tmpdir, not '$BENCH_FS'" ;;
esac

base=$(mktemp -d "${TMPDIR:-/tmp}/ade-bench-scheduler.XXXXXX")
work=$base
shm=
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	shm=$(mktemp -d /dev/shm/ade-bench-scheduler.XXXXXX)
fi
# The work directory is a new ext4 file system of its own (BENCH_FS=image,
# the default as root): mkfs.ext4's defaults, a journal, no history.  On
# a file system without a journal (this project's VMs' root) ext4 skips the
# inodes freed in the last one to six minutes at every inode it allocates
# (recently_deleted()), so an earlier test suite's or benchmark's clean-up
# made each of ade's mkdirs 10x slower; make and ninja create no inodes.
# BENCH_FS=tmpdir measures in TMPDIR's file system as it is.  Every runner
# uses the same directory either way.
mnt=
fs_kind="TMPDIR's file system ($(df -T "$base" | awk 'NR == 2 { print $2 }'))"
if [ "${BENCH_FS:-image}" = image ] && [ "$(id -u)" = 0 ] && command -v mkfs.ext4 >/dev/null &&
	truncate -s 4G "$base/fs.img" 2>/dev/null && mkfs.ext4 -q -F -N 600000 "$base/fs.img" &&
	mkdir "$base/mnt" && mount -o loop "$base/fs.img" "$base/mnt" 2>/dev/null; then
	mnt=$base/mnt
	work=$mnt/work
	mkdir "$work"
	fs_kind="a new ext4 file system (loop device, mkfs.ext4 defaults with a journal)"
fi
cleanup() {
	[ -z "$shm" ] || rm -rf "$shm"
	[ -z "$mnt" ] || umount "$mnt"
	rm -rf "$base"
}
if [ "${KEEP:-0}" = 1 ]; then
	echo "work directory: $work ${shm:+and $shm} (a loop mount is unmounted at the end)" >&2
	trap '[ -z "$shm" ] || rm -rf "$shm"; [ -z "$mnt" ] || umount "$mnt"' EXIT
else
	trap cleanup EXIT
fi
trap 'exit 130' INT TERM

# ---- build ------------------------------------------------------------------
gcc -O2 -static -o "$work/noop" "$here/noop.c" || die "cannot build noop.c statically (libc6-dev)"
gcc -O2 -o "$work/spawnloop" "$here/spawnloop.c" || die "cannot build spawnloop.c"
gcc -O2 -o "$work/fsops" "$here/fsops.c" || die "cannot build fsops.c"
noop=$work/noop

# ---- generate the three descriptions of the same chain ----------------------
# gen_yaml COUNT FILE: an ade pipeline of COUNT chained stages.
gen_yaml() {
	awk -v n="$1" -v noop="$noop" 'BEGIN {
		print "pipeline: chain"
		print "stages:"
		print "  s0: {run: " noop "}"
		for (i = 1; i < n; i++)
			print "  s" i ": {run: " noop ", needs: [s" i - 1 "]}"
	}' >"$2"
}
gen_yaml "$N" "$work/chain.yaml"

awk -v n="$N" -v noop="$noop" 'BEGIN {
	printf ".PHONY:"
	for (i = 0; i < n; i++) printf " s%d", i
	print ""
	print "all: s" n - 1
	print "s0:"
	print "\t" noop
	for (i = 1; i < n; i++) {
		print "s" i ": s" i - 1
		print "\t" noop
	}
}' >"$work/Makefile"

mkdir -p "$work/ninja"
awk -v n="$N" -v noop="$noop" 'BEGIN {
	print "rule noop"
	print "  command = " noop
	print "build s0: noop"
	for (i = 1; i < n; i++)
		print "build s" i ": noop | s" i - 1
	print "default s" n - 1
}' >"$work/ninja/build.ninja"

# ---- sanity: each runner runs the no-op exactly N times ---------------------
n_make=$(make -r -R -n -f "$work/Makefile" -C "$work" --no-print-directory all | grep -c "^$noop\$" || true)
[ "$n_make" = "$N" ] || die "make would run $n_make commands, not $N"
n_ninja=$(ninja -C "$work/ninja" -n -j1 | grep -c '^\[' || true)
[ "$n_ninja" = "$N" ] || die "ninja would run $n_ninja commands, not $N"
rm -f "$work/ninja/.ninja_log" "$work/ninja/.ninja_deps"

# ---- the runners ------------------------------------------------------------
now() { date +%s%N; }

run_floor() { "$work/spawnloop" "$N" "$noop"; }
run_ade() {
	"$ADE" --home "$home" run "$work/chain.yaml" --date "$DS" -j1 >/dev/null 2>"$work/ade.err" ||
		{ cat "$work/ade.err" >&2; die "ade run failed"; }
}
run_ade_shm() { run_ade; }
run_make() { make -r -R -s -j1 -f "$work/Makefile" -C "$work" --no-print-directory all >/dev/null; }
run_ninja() { ninja -C "$work/ninja" -j1 >/dev/null; }

# Fresh state for a runner, outside the timed region.  Each ade run gets a new
# home that is deleted only at the end: on ext4 without a journal, creating
# inodes right after deleting thousands makes ext4 skip the recently deleted
# ones (recently_deleted() in find_inode_bit), which measured 20-130% slower.
homes=0
reset() {
	case $1 in
	ade)
		homes=$((homes + 1))
		home=$work/home.$homes
		;;
	ade_shm)
		homes=$((homes + 1))
		home=$shm/home.$homes
		;;
	ninja) rm -f "$work/ninja/.ninja_log" "$work/ninja/.ninja_deps" ;;
	esac
}

check_ade() {
	got=$(sqlite3 "$home/state.db" "select count(*) from attempts where state='success'")
	[ "$got" = "$N" ] || die "state.db in $home holds $got successful attempts, not $N"
}

runners="floor ade make ninja"
[ -z "$shm" ] || runners="floor ade ade_shm make ninja"
for r in $runners; do : >"$work/t.$r"; done
# Warm-up: page cache, binaries, sqlite.
for r in $runners; do reset $r; run_$r; done
check_ade
# Every other repetition runs the runners in the reverse order, so that
# none always follows the same one (a file system still busy with the
# previous runner's files, say).
reversed=$(echo $runners | awk '{ for (k = NF; k > 0; k--) printf "%s%s", $k, (k > 1 ? " " : "") }')
i=0
while [ $i -lt "$REPS" ]; do
	i=$((i + 1))
	order=$runners
	[ $((i % 2)) -eq 1 ] || order=$reversed
	for r in $order; do
		reset $r
		t0=$(now)
		run_$r
		t1=$(now)
		echo $((t1 - t0)) >>"$work/t.$r"
		case $r in ade*) check_ade ;; esac
		[ -z "$shm" ] || rm -rf "$shm"/home.* # tmpfs: no inode-reuse penalty, free the memory
	done
	line="rep $i/$REPS:"
	for r in $runners; do line="$line $r $(($(tail -1 "$work/t.$r") / 1000000))"; done
	echo "$line ms" >&2
done

best() { sort -n "$1" | head -1; }
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
# paired A B: the median of the per-repetition ratios A/B.  The runners of
# one repetition run within seconds of each other, so this follows the
# machine's drift between minutes, which the ratio of two medians mixes in.
paired_raw() {
	paste "$work/t.$1" "$work/t.$2" | awk '{ print $1 / $2 }' | sort -g |
		awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
paired() { printf '%.2fx' "$(paired_raw "$1" "$2")"; }
for r in $runners; do
	eval "b_$r=\$(best \"\$work/t.$r\")"
	eval "m_$r=\$(median \"\$work/t.$r\")"
done

# ---- peak RSS ---------------------------------------------------------------
rss() { # rss COMMAND...: peak RSS in kB of the command itself, or "n/a"
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -v "$@" 2>"$work/time.out" >/dev/null || die "$* failed under /usr/bin/time"
		awk -F': ' '/Maximum resident set size/ { print $2 }' "$work/time.out"
	else
		echo n/a
	fi
}
reset ade
rss_ade=$(rss "$ADE" --home "$home" run "$work/chain.yaml" --date "$DS" -j1)
check_ade
rss_ade_shm=-
rss_make=$(rss make -r -R -s -j1 -f "$work/Makefile" -C "$work" --no-print-directory all)
reset ninja
rss_ninja=$(rss ninja -C "$work/ninja" -j1)
rss_floor=$(rss "$work/spawnloop" "$N" "$noop")

# ---- shells: make runs the recipe directly, ninja through /bin/sh -c --------
shells() { # shells COMMAND...: "execs of noop / execs of sh"
	if command -v strace >/dev/null && strace -f -qq -e trace=execve -o "$work/strace.out" "$@" >/dev/null 2>&1; then
		echo "$(grep -c "execve(\"$noop\"" "$work/strace.out" || true)/$(grep -c 'execve("/bin/sh"' "$work/strace.out" || true)"
	else
		echo n/a
	fi
}
sh_make=$(shells make -r -R -s -j1 -f "$work/Makefile" -C "$work" --no-print-directory all)
reset ninja
sh_ninja=$(shells ninja -C "$work/ninja" -j1)
reset ade
sh_ade=$(shells "$ADE" --home "$home" run "$work/chain.yaml" --date "$DS" -j1)

# ---- the file-system work of a stage, alone ----------------------------------
# fsops.c makes what ade makes per stage (two folders, a log, a rename) N
# times without starting anything: what the file system under the home
# charges, beside tmpfs.  After the timed runs, so their inodes are not in
# the way.
fs_work=$("$work/fsops" "$work/fsops.d" "$N") || die "fsops failed in $work"
fs_shm=-
[ -z "$shm" ] || fs_shm=$("$work/fsops" "$shm/fsops.d" "$N") || die "fsops failed in $shm"

# ---- start and end phases (PHASES=1) -----------------------------------------
# phase COMMAND...: "start end" in ms: the command's exec to the first
# no-op's exec, the last no-op's exit to the command's last thread's exit.
phase() {
	perf record -q -e sched:sched_process_exec -e sched:sched_process_exit -a \
		-o "$work/perf.data" "$@" >/dev/null 2>&1 || return 1
	perf script -i "$work/perf.data" -F comm,pid,time,event 2>/dev/null | awk '
		{ t = $3; sub(/:$/, "", t) }
		$4 ~ /sched_process_exec/ {
			if (root == "") { root = $2; t0 = t }
			else if ($1 == "noop" && first == "") first = t
		}
		$4 ~ /sched_process_exit/ { if ($1 == "noop") last = t; if ($2 == root) end = t }
		END { if (first == "" || end == "") exit 1; printf "%.1f %.1f\n", (first - t0) * 1000, (end - last) * 1000 }'
}
phases_line=
if [ "$PHASES" = 1 ]; then
	if command -v perf >/dev/null && [ "$(id -u)" = 0 ]; then
		: >"$work/ph.ade"
		: >"$work/ph.make"
		for k in 1 2 3 4 5; do
			reset ade
			phase "$ADE" --home "$home" run "$work/chain.yaml" --date "$DS" -j1 >>"$work/ph.ade" ||
				die "perf could not time ade's phases"
			phase make -r -R -s -j1 -f "$work/Makefile" -C "$work" --no-print-directory all >>"$work/ph.make" ||
				die "perf could not time make's phases"
		done
		med() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
		phases_line="Start (exec to the first stage's exec) and end (last stage's exit to exit), median of 5 runs each under perf: ade $(cut -d' ' -f1 "$work/ph.ade" | med) ms and $(cut -d' ' -f2 "$work/ph.ade" | med) ms, make $(cut -d' ' -f1 "$work/ph.make" | med) ms and $(cut -d' ' -f2 "$work/ph.make" | med) ms."
	else
		phases_line="Phases skipped: PHASES=1 needs perf and root."
	fi
fi

# ---- report -----------------------------------------------------------------
ms() { awk -v ns="$1" 'BEGIN { printf "%.1f", ns / 1e6 }'; }
us_per() { awk -v ns="$1" -v n="$N" 'BEGIN { printf "%.0f", ns / n / 1e3 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$root" status --porcelain -- core scheduler 2>/dev/null)" ]; then
	rev="$rev (core/ or scheduler/ modified)"
fi

out=$work/report.md
{
	echo "## scheduler"
	echo
	echo "$(date -u +%Y-%m-%d) · commit $rev · $(nproc) cores, $cpu · $(make --version | head -1), ninja $(ninja --version)"
	echo
	echo "Chain of $N stages, static no-op, -j1; $REPS interleaved repetitions, wall time by date +%s%N;"
	echo "work directory and ade's home on $fs_kind."
	echo
	echo "| runner | best total ms | median total ms | best µs/stage | median µs/stage | ade/runner (best) | ade/runner (median) | ade/runner (paired) | peak RSS kB | noop/sh execs |"
	echo "|---|---|---|---|---|---|---|---|---|---|"
	for r in $runners; do
		eval "b=\$b_$r m=\$m_$r rs=\$rss_$r"
		case $r in
		make) sx=$sh_make ;; ninja) sx=$sh_ninja ;; ade) sx=$sh_ade ;; *) sx=- ;;
		esac
		echo "| $r | $(ms "$b") | $(ms "$m") | $(us_per "$b") | $(us_per "$m") | $(ratio "$b_ade" "$b") | $(ratio "$m_ade" "$m") | $(paired ade "$r") | $rs | $sx |"
	done
	echo
	verdict=$(paired_raw ade make | awk '{ print ($1 <= 1.0) ? "met" : "NOT met" }')
	echo "Target ade ≤ 1.0x make (home on the same file system; median of the per-repetition ratios): $verdict ($(paired ade make); ratio of the medians $(ratio "$m_ade" "$m_make")); ade over the spawn floor: $(awk -v a="$m_ade" -v f="$m_floor" -v n="$N" 'BEGIN { printf "%.0f", (a - f) / n / 1e3 }') µs/stage (median)."
	[ -z "$shm" ] || echo "With the home on tmpfs: ade_shm/make $(paired ade_shm make) (paired), $(ratio "$m_ade_shm" "$m_make") (medians)."
	echo "Every ade run recorded $N successful attempts in state.db."
	set -- $fs_work
	line="File-system work of a stage alone (fsops.c: two mkdirat, a created log, a renameat; $N times): $1 µs a stage in the work directory (mkdir $2, mkdir $3, log $4, rename $5)"
	if [ "$fs_shm" != - ]; then
		set -- $fs_shm
		line="$line, $1 µs on tmpfs"
	fi
	echo "$line."
	[ -z "$phases_line" ] || echo "$phases_line"
} >"$out"

# ---- callgrind: ade's own instructions, children not traced -----------------
if [ -n "$CALLGRIND_N" ]; then
	if command -v valgrind >/dev/null; then
		{
			echo
			echo "callgrind (valgrind --tool=callgrind --trace-children=no), ade's own instructions:"
			echo
			echo "| stages | total Ir | Ir/stage | marginal Ir/stage (vs previous size) |"
			echo "|---|---|---|---|"
		} >>"$out"
		prev_c= prev_ir=
		for c in $CALLGRIND_N; do
			gen_yaml "$c" "$work/cg.yaml"
			rm -rf "$work/cghome"
			valgrind --tool=callgrind --trace-children=no --callgrind-out-file="$work/cg.$c.out" \
				"$ADE" --home "$work/cghome" run "$work/cg.yaml" --date "$DS" -j1 >/dev/null 2>"$work/cg.err" ||
				{ cat "$work/cg.err" >&2; die "ade under callgrind failed"; }
			ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$work/cg.$c.out")
			marg=-
			[ -z "$prev_c" ] || marg=$(awk -v a="$ir" -v b="$prev_ir" -v m="$c" -v n="$prev_c" 'BEGIN { printf "%.0f", (a - b) / (m - n) }')
			echo "| $c | $ir | $(awk -v i="$ir" -v n="$c" 'BEGIN { printf "%.0f", i / n }') | $marg |" >>"$out"
			prev_c=$c prev_ir=$ir last=$c
		done
		if command -v callgrind_annotate >/dev/null; then
			echo >>"$out"
			echo "Top functions by own Ir at $last stages:" >>"$out"
			echo '```' >>"$out"
			callgrind_annotate "$work/cg.$last.out" 2>/dev/null |
				awk '/file:function/ { on = 1; next } on && NF && !/^-/ { print; if (++k >= 15) exit }' >>"$out"
			echo '```' >>"$out"
		fi
	else
		echo "callgrind skipped: valgrind not installed." >>"$out"
	fi
fi

# ---- optional: where ade's system time goes ---------------------------------
if [ "$PROFILE" = 1 ] && command -v strace >/dev/null; then
	reset ade
	strace -c -o "$work/strace.c" "$ADE" --home "$home" run "$work/chain.yaml" --date "$DS" -j1 >/dev/null 2>&1
	{
		echo
		echo "strace -c of one ade run (ade's own syscalls, not the stages'; times inflated by strace):"
		echo '```'
		head -25 "$work/strace.c"
		echo '```'
	} >>"$out"
fi

cat "$out"
if [ "$RECORD" = 1 ]; then
	{
		echo
		cat "$out"
	} >>"$root/bench/RESULTS.md"
	echo "appended to bench/RESULTS.md" >&2
fi
