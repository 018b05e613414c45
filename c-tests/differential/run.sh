#!/bin/bash
# Differential test: the same scripted scenario (scenario.c) on libvirt 9.0 and on virshim.
#
#   run.sh [VIRSHIM_LIBDIR]       compare virshim with libvirt (the default mode)
#   run.sh --record               run the system libvirt twice, check the two traces are
#                                 identical, store the trace as expected.txt
#   run.sh --reference-only       run the system libvirt and compare with expected.txt
#
# Options:
#   --libdir DIR   directory holding virshim's libvirt.so.0 (or a positional argument, or
#                  $VIRSHIM_LIBDIR; default: <repo>/target/virshim/lib when it exists)
#   --valgrind     also run the scenario under valgrind (memcheck, definite leaks are errors)
#                  on the system libvirt, and on virshim in the default mode
#   --verbose      print the difference for steps whose difference is allowed as well
#   --keep         keep the working directory (binary, traces) and print its path
#
# scenario.c is built once against the system headers (pkg-config libvirt) and linked
# against the system libvirt.so.0; the virshim run only changes LD_LIBRARY_PATH.
#
# Comparison, step by step (a step is its "name ..." line plus its indented lines; steps are
# matched by name, and a name used twice in a trace is an error):
#   - virshim's trace is compared with expected.txt, and a fresh run of the system libvirt
#     is compared with expected.txt as well (a difference there is "reference drift":
#     expected.txt is stale or this machine's libvirt differs; re-record with --record);
#   - [superset] steps may differ only where libvirt failed (FAIL) and virshim succeeded (OK);
#   - [superset-err] steps may differ where libvirt failed and virshim succeeded or failed;
#   - [deliberate] steps may differ in any way: virshim chose otherwise on purpose, and
#     the README's "Differences from libvirt" says why;
#   - [env] steps depend on the machine (a libvirt daemon socket, root): virshim must match
#     either expected.txt or this machine's libvirt;
#   - the process's own stderr (outside what the scenario captures, e.g. dynamic loader
#     warnings) must be empty, and the exit status 0.
# Exit status: 0 when there is no difference that the rules do not allow, 1 otherwise,
# 2 on a usage or setup error.
#
# CI=true: no colour; never records; a missing expected.txt is an error.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
expected=$here/expected.txt

mode=compare
libdir=${VIRSHIM_LIBDIR:-}
valgrind=0
verbose=0
keep=0

usage() {
    sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

while (($#)); do
    case $1 in
    --record) mode=record ;;
    --reference-only) mode=reference ;;
    --libdir)
        [[ $# -ge 2 ]] || { echo "run.sh: --libdir needs a directory" >&2; exit 2; }
        libdir=$2
        shift
        ;;
    --libdir=*) libdir=${1#--libdir=} ;;
    --valgrind) valgrind=1 ;;
    --verbose | -v) verbose=1 ;;
    --keep) keep=1 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) libdir=$1 ;;
    esac
    shift
done

ci=0
case ${CI:-} in true | 1 | yes) ci=1 ;; esac

if [[ -t 1 && $ci -eq 0 ]]; then
    red=$'\e[31m' green=$'\e[32m' yellow=$'\e[33m' bold=$'\e[1m' off=$'\e[0m'
else
    red='' green='' yellow='' bold='' off=''
fi

die() {
    echo "run.sh: $*" >&2
    exit 2
}

# A deterministic environment for libvirt: no default URI, no logging, C messages.
export LC_ALL=C LANG=C
unset LANGUAGE LIBVIRT_DEFAULT_URI VIRSH_DEFAULT_CONNECT_URI LIBVIRT_DEBUG \
    LIBVIRT_LOG_FILTERS LIBVIRT_LOG_OUTPUTS LIBVIRT_AUTOSTART 2>/dev/null || true

# ---------------------------------------------------------------------------
# Build.

cc=${CC:-cc}
command -v "$cc" >/dev/null 2>&1 || die "no C compiler ($cc); on Debian: apt-get install gcc"
command -v pkg-config >/dev/null 2>&1 || die "pkg-config missing; on Debian: apt-get install pkg-config"
pkg-config --exists libvirt 2>/dev/null ||
    die "libvirt development files missing; on Debian: apt-get install libvirt-dev libvirt0"
sys_version=$(pkg-config --modversion libvirt)

work=$(mktemp -d "${TMPDIR:-/tmp}/virshim-differential.XXXXXX") || die "mktemp failed"
if ((keep)); then
    trap 'echo "working directory kept: $work"' EXIT
else
    trap 'rm -rf "$work"' EXIT
fi

# pkg-config may point at an installed virshim (PKG_CONFIG_PATH): the scenario must be built
# against the system libvirt, so prefer the system's .pc file when it exists.
pc_flags=$(env -u PKG_CONFIG_PATH pkg-config --cflags --libs libvirt 2>/dev/null ||
    pkg-config --cflags --libs libvirt)
# shellcheck disable=SC2086
if ! "$cc" -std=gnu11 -O1 -g -Wall -Wextra -Wno-deprecated-declarations \
    -o "$work/scenario" "$here/scenario.c" $pc_flags >"$work/build.log" 2>&1; then
    cat "$work/build.log" >&2
    die "building scenario.c failed"
fi
[[ -s $work/build.log ]] && { echo "compiler output:"; cat "$work/build.log"; }

# The system libvirt.so.0 the scenario resolves to without LD_LIBRARY_PATH.
resolved_lib() { # [libdir]
    if [[ -n ${1:-} ]]; then
        LD_LIBRARY_PATH=$1 ldd "$work/scenario" 2>/dev/null
    else
        env -u LD_LIBRARY_PATH ldd "$work/scenario" 2>/dev/null
    fi | awk '$1 == "libvirt.so.0" { print $3; exit }'
}
sys_lib=$(resolved_lib)
[[ -n $sys_lib ]] || die "the scenario does not resolve libvirt.so.0 (is libvirt0 installed?)"

# ---------------------------------------------------------------------------
# Running.

vg_log_check() { # log rc label -> 0 if clean (valgrind -q logs nothing when clean;
    # errors and definite leaks make it exit 99)
    local log=$1 rc=$2 label=$3
    if ((rc != 99)) && [[ ! -s $log ]]; then
        echo "valgrind ($label): clean"
        return 0
    fi
    echo "${red}valgrind ($label): errors or definite leaks${off}"
    sed 's/^/    /' "$log" | head -60
    echo "    (full log: $log; --keep keeps it)"
    return 1
}

# run_scenario NAME [LIBDIR] [valgrind]: writes $work/NAME.{out,err,rc}
run_scenario() {
    local name=$1 dir=${2:-} vg=${3:-0}
    local -a cmd=(timeout 600)
    ((vg)) && cmd+=(valgrind -q --leak-check=full --errors-for-leak-kinds=definite
        --show-leak-kinds=definite --error-exitcode=99 "--log-file=$work/$name.vg")
    cmd+=("$work/scenario")
    (
        cd "$work" || exit 2
        unset LD_PRELOAD
        # the scenario's own temporary directory goes below $work (left behind on a crash)
        export TMPDIR=$work
        export SCENARIO_STDERR_CAPTURE=$work/$name.captured
        if [[ -n $dir ]]; then
            export LD_LIBRARY_PATH=$dir
        else
            unset LD_LIBRARY_PATH
        fi
        "${cmd[@]}" >"$work/$name.out" 2>"$work/$name.err"
    )
    echo $? >"$work/$name.rc"
}

describe_rc() { # rc
    local rc=$1
    if ((rc == 0)); then
        echo "exit 0"
    elif ((rc == 124)); then
        echo "timed out"
    elif ((rc > 128)); then
        echo "killed by signal $((rc - 128))$( ((rc - 128 == 11)) && echo ' (SIGSEGV)')$( ((rc - 128 == 6)) && echo ' (SIGABRT)')"
    else
        echo "exit $rc"
    fi
}

# split TRACE DIR: one file per step, named for the step (the record's first word; the
# final "END" line is one too), plus PRE for indented lines before the first record;
# DIR/.order lists them in order.  A name seen twice is an error: records are keyed by name.
split_trace() {
    local trace=$1 dir=$2
    mkdir -p "$dir"
    awk -v dir="$dir" '
        /^[^ ]/ {
            if (seen[$1]++) { print "duplicate step name " $1 > "/dev/stderr"; bad = 1 }
            if (f != "") close(f); f = dir "/" $1; print $1; print > f; next
        }
        { if (f == "") { f = dir "/PRE"; print "PRE" } print > f }
        END { exit bad }
    ' "$trace" >"$dir/.order" || die "$trace: a step name is used twice (records are keyed by step name)"
}

steps_in() { grep -c -v -e '^ ' -e '^END ' "$1"; } # trace -> how many records

header_of() { head -n 1 "$1" 2>/dev/null; }

status_of() { # header -> OK / FAIL / INFO / ?
    local h=$1
    if [[ $h =~ ^[^\ ]+((\ \[[^]]*\])*)\ (OK|FAIL|INFO)(\ |$) ]]; then
        echo "${BASH_REMATCH[3]}"
    else
        echo "?"
    fi
}

tags_of() { # header -> " [a] [b]"
    local h=$1
    if [[ $h =~ ^[^\ ]+((\ \[[^]]*\])*)\ (OK|FAIL|INFO)(\ |$) ]]; then
        echo "${BASH_REMATCH[1]}"
    fi
}

show_diff() { # a b label-a label-b
    diff -u --label "$3" --label "$4" "$1" "$2" | sed 's/^/    /'
}

# ---------------------------------------------------------------------------
# Modes.

echo "${bold}virshim differential test${off}: scenario.c on test:///default"
echo "system libvirt $sys_version: $sys_lib"

if [[ $mode == record ]]; then
    ((ci)) && die "refusing to record expected.txt with CI=true"
    run_scenario ref1
    run_scenario ref2
    for r in ref1 ref2; do
        rc=$(<"$work/$r.rc")
        ((rc == 0)) || { cat "$work/$r.err" >&2; die "the scenario failed on the system libvirt: $(describe_rc "$rc")"; }
        [[ -s $work/$r.err ]] && { cat "$work/$r.err" >&2; die "the scenario wrote to stderr outside its capture"; }
    done
    if ! cmp -s "$work/ref1.out" "$work/ref2.out"; then
        diff -u "$work/ref1.out" "$work/ref2.out" | head -50
        die "two runs on the system libvirt differ: the trace is not deterministic"
    fi
    if ((valgrind)); then
        run_scenario refvg "" 1
        vg_log_check "$work/refvg.vg" "$(<"$work/refvg.rc")" "system libvirt" || exit 1
        cmp -s "$work/ref1.out" "$work/refvg.out" || die "the trace under valgrind differs"
    fi
    cp "$work/ref1.out" "$expected"
    echo "recorded $expected: $(steps_in "$expected") steps (two runs identical)"
    exit 0
fi

[[ -f $expected ]] || die "$expected does not exist; record it with: $0 --record"

if [[ $mode == compare ]]; then
    if [[ -z $libdir && -e $repo/target/virshim/lib/libvirt.so.0 ]]; then
        libdir=$repo/target/virshim/lib
    fi
    [[ -n $libdir ]] || die "give the directory holding virshim's libvirt.so.0 (argument, --libdir or VIRSHIM_LIBDIR)"
    libdir=$(cd "$libdir" 2>/dev/null && pwd) || die "no such directory: $libdir"
    [[ -e $libdir/libvirt.so.0 ]] || die "$libdir has no libvirt.so.0"
    shim_lib=$(resolved_lib "$libdir")
    if [[ $(readlink -f "$shim_lib") != $(readlink -f "$libdir/libvirt.so.0") ]]; then
        die "with LD_LIBRARY_PATH=$libdir the scenario resolves libvirt.so.0 to ${shim_lib:-nothing}"
    fi
    echo "virshim: $libdir/libvirt.so.0"
fi

failures=0

# Reference run, compared with expected.txt.
run_scenario ref "" "$valgrind"
ref_rc=$(<"$work/ref.rc")
if ((valgrind)); then
    vg_log_check "$work/ref.vg" "$ref_rc" "system libvirt" || failures=$((failures + 1))
    # valgrind's own exit code 99 means errors; the trace is still complete
    ((ref_rc == 99)) && ref_rc=0
fi
if ((ref_rc != 0)); then
    echo "${red}the scenario failed on the system libvirt: $(describe_rc "$ref_rc")${off}"
    sed 's/^/    /' "$work/ref.err" | head -20
    [[ -s $work/ref.captured ]] && tail -n 5 "$work/ref.captured" | sed 's/^/    /'
    exit 2
fi
if [[ -s $work/ref.err ]]; then
    echo "${yellow}the system libvirt run wrote to stderr:${off}"
    sed 's/^/    /' "$work/ref.err" | head -20
fi

split_trace "$expected" "$work/exp"
split_trace "$work/ref.out" "$work/ref"

drift=0
env_drift=0
while read -r id; do
    e=$work/exp/$id r=$work/ref/$id
    if [[ ! -f $r ]]; then
        echo "${red}reference drift: $id missing from this machine's run${off}"
        drift=$((drift + 1))
    elif ! cmp -s "$e" "$r"; then
        if [[ $(tags_of "$(header_of "$e")") == *"[env]"* ]]; then
            env_drift=$((env_drift + 1))
            echo "${yellow}note: [env] step $id differs on this machine (daemon socket or user):${off}"
            show_diff "$e" "$r" "expected.txt" "this machine's libvirt"
        else
            drift=$((drift + 1))
            echo "${red}reference drift at $id${off}"
            show_diff "$e" "$r" "expected.txt" "this machine's libvirt"
        fi
    fi
done <"$work/exp/.order"
while read -r id; do
    [[ -f $work/exp/$id ]] || { echo "${red}reference drift: extra step $id${off}"; drift=$((drift + 1)); }
done <"$work/ref/.order"
if ((drift)); then
    echo "${red}reference drift: $drift step(s) of this machine's libvirt differ from expected.txt;"
    echo "expected.txt is stale or this libvirt is not the one it was recorded with (re-record: $0 --record)${off}"
    failures=$((failures + drift))
fi

if [[ $mode == reference ]]; then
    echo "reference: $(steps_in "$expected") steps, $drift drifted, $env_drift [env] notes"
    ((failures == 0)) && echo "${green}PASS${off}" || echo "${red}FAIL${off}"
    ((failures == 0))
    exit
fi

# virshim run.
run_scenario shim "$libdir" "$valgrind"
shim_rc=$(<"$work/shim.rc")
vg_fail=0
if ((valgrind)); then
    vg_log_check "$work/shim.vg" "$shim_rc" "virshim" || vg_fail=1
    ((shim_rc == 99)) && shim_rc=0
fi
split_trace "$work/shim.out" "$work/shim"

same=0 allowed_sup=0 allowed_env=0 different=0 missing=0 extra=0
echo
echo "${bold}step by step (virshim against expected.txt)${off}"
while read -r id; do
    e=$work/exp/$id a=$work/shim/$id r=$work/ref/$id
    h=$(header_of "$e")
    if [[ ! -f $a ]]; then
        missing=$((missing + 1))
        if ((missing == 1)); then
            echo "${red}-- $h${off}"
            echo "    missing from virshim's trace: it stops before this step ($(describe_rc "$shim_rc"))"
        fi
        continue
    fi
    if cmp -s "$e" "$a"; then
        same=$((same + 1))
        continue
    fi
    tags=$(tags_of "$h")
    se=$(status_of "$h")
    sa=$(status_of "$(header_of "$a")")
    why=''
    if [[ $tags == *"[superset]"* && $se == FAIL && $sa == OK ]]; then
        why='[superset]: libvirt failed, virshim succeeded'
    elif [[ $tags == *"[superset-err]"* && $se == FAIL && ($sa == OK || $sa == FAIL) ]]; then
        why="[superset-err]: libvirt failed, virshim $([[ $sa == OK ]] && echo succeeded || echo 'failed differently')"
    elif [[ $tags == *"[deliberate]"* ]]; then
        why='[deliberate]: see "Differences from libvirt" in the README'
    elif [[ $tags == *"[env]"* && -f $r ]] && cmp -s "$r" "$a"; then
        why="[env]: matches this machine's libvirt"
        allowed_env=$((allowed_env + 1))
    fi
    if [[ -n $why ]]; then
        [[ $why == \[env\]* ]] || allowed_sup=$((allowed_sup + 1))
        echo "${yellow}-- $id allowed, $why${off}"
        ((verbose)) && show_diff "$e" "$a" "libvirt (expected.txt)" "virshim"
        continue
    fi
    different=$((different + 1))
    echo "${red}-- $h${off}"
    if [[ $tags == *"[superset"* ]]; then
        echo "    not allowed: libvirt $se, virshim $sa (superset steps may only turn a libvirt failure into a success)"
    fi
    show_diff "$e" "$a" "libvirt (expected.txt)" "virshim"
done <"$work/exp/.order"
while read -r id; do
    if [[ ! -f $work/exp/$id ]]; then
        extra=$((extra + 1))
        echo "${red}-- extra in virshim's trace:${off}"
        sed 's/^/    /' "$work/shim/$id" | head -20
    fi
done <"$work/shim/.order"

stderr_fail=0
if [[ -s $work/shim.err ]]; then
    stderr_fail=1
    echo "${red}-- virshim's process wrote to stderr (outside the scenario's capture):${off}"
    # repeated lines (one loader warning per version node) are shown once, with a count
    awk '{ n[$0]++; if (n[$0] == 1) order[++k] = $0 }
         END { for (i = 1; i <= k; i++) print "    " (n[order[i]] > 1 ? "(" n[order[i]] "x) " : "") order[i] }' \
        "$work/shim.err" | head -40
fi
rc_fail=0
if ((shim_rc != 0)); then
    rc_fail=1
    echo "${red}-- the scenario on virshim: $(describe_rc "$shim_rc")${off}"
    if [[ -s $work/shim.captured ]]; then
        echo "   last lines the process wrote to its (captured) stderr:"
        tail -n 5 "$work/shim.captured" | sed 's/^/    /'
    fi
fi

total=$(grep -c . "$work/exp/.order")
echo
echo "${bold}summary${off}: $total records; identical $same; allowed $allowed_sup (superset) + $allowed_env ([env]);"
echo "         different $different; missing $missing; extra $extra; reference drift $drift;" \
    "stderr $([[ $stderr_fail == 1 ]] && echo 'not empty' || echo empty); $(describe_rc "$shim_rc")"
failures=$((failures + different + missing + extra + stderr_fail + rc_fail + vg_fail))
if ((failures)); then
    echo "${red}FAIL${off}"
    exit 1
fi
echo "${green}PASS${off}"
exit 0
