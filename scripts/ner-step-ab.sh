#!/usr/bin/env bash
# Median NER training step of several duet commands, run alternately: on a machine
# shared with other work, load drifts within seconds, so each round runs every
# variant once and the verdict is the median over rounds of each variant's median
# step and of its ratio to the first variant within the same round.
#
#   scripts/ner-step-ab.sh [-r ROUNDS] [-s STEPS] 'LABEL=COMMAND' ...
#   scripts/ner-step-ab.sh -r 5 'old=/tmp/old/duet' '1t=build/duet --threads 1' \
#                              '2t=build/duet --threads 2'
#
# COMMAND is a duet binary with extra `duet train` flags; each run is
# `COMMAND train ner --synthetic --steps STEPS --no-eval --quiet` plus those flags.
set -euo pipefail

rounds=5 steps=300
while getopts "r:s:" opt; do
    case $opt in
    r) rounds=$OPTARG ;;
    s) steps=$OPTARG ;;
    *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
if [ $# -lt 1 ]; then
    echo "usage: $0 [-r ROUNDS] [-s STEPS] 'LABEL=COMMAND' ..." >&2
    exit 2
fi

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

declare -a labels=() cmds=()
for spec in "$@"; do
    labels+=("${spec%%=*}")
    cmds+=("${spec#*=}")
done
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for ((r = 1; r <= rounds; r++)); do
    first=""
    for i in "${!cmds[@]}"; do
        read -r bin flags <<<"${cmds[$i]} "
        # shellcheck disable=SC2086 # flags are words by design
        ms=$("$bin" train ner --synthetic --steps "$steps" --no-eval --quiet $flags |
             sed -n 's/.*median step \([0-9.]*\) ms.*/\1/p')
        [ -n "$ms" ] || { echo "no median step from: ${cmds[$i]}" >&2; exit 1; }
        first=${first:-$ms}
        echo "${labels[$i]} $ms $(awk -v a="$ms" -v b="$first" 'BEGIN {print a / b}')" >>"$results"
        echo "round $r: ${labels[$i]} $ms ms" >&2
    done
done
echo "median over $rounds rounds of $steps steps (load: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-12s %10s %22s\n' variant "step ms" "ratio to ${labels[0]}"
for l in "${labels[@]}"; do
    printf '%-12s %10.2f %22.3f\n' "$l" \
        "$(awk -v l="$l" '$1 == l {print $2}' "$results" | median)" \
        "$(awk -v l="$l" '$1 == l {print $3}' "$results" | median)"
done
