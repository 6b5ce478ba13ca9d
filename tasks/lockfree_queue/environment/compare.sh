#!/bin/bash
# Read-only. Times ./bench against ./bench-base, alternating (A B, B A, ...), ROUNDS times
# (default 5), and prints each round's speedups (bench-base time / bench time) in CPU time
# (user + system, what the verifier scores) and wall time, then the medians. The verifier
# does the same with 12 rounds and a confidence interval.
set -e
make -s
rounds=${1:-5}
TIMEFORMAT='%U %S %R'
declare -A cpu wall
cpus=() walls=()
for ((i = 0; i < rounds; i++)); do
    if ((i % 2 == 0)); then order="bench bench-base"; else order="bench-base bench"; fi
    for b in $order; do
        read -r user sys real < <({ time ./$b -bench -seed $((i + 1)) > /dev/null; } 2>&1)
        cpu[$b]=$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')
        wall[$b]=$real
    done
    c=$(awk -v a="${cpu[bench]}" -v b="${cpu[bench-base]}" 'BEGIN { printf "%.3f", b / a }')
    w=$(awk -v a="${wall[bench]}" -v b="${wall[bench-base]}" 'BEGIN { printf "%.3f", b / a }')
    cpus+=("$c") walls+=("$w")
    echo "round $i: cpu bench ${cpu[bench]} s, bench-base ${cpu[bench-base]} s, speedup $c; wall speedup $w"
done
median() { sort -n | awk '{ r[NR] = $1 } END { print (NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2) }'; }
echo "median speedup: cpu $(printf '%s\n' "${cpus[@]}" | median), wall $(printf '%s\n' "${walls[@]}" | median)"
