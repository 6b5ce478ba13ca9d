#!/bin/bash
# Read-only. Times ./bench against ./bench-base, alternating (A B, B A, ...), ROUNDS times
# (default 5), and prints each round's wall-clock speedup (bench-base time / bench time) and
# their median. The verifier does the same with 10 rounds and a confidence interval.
set -e
make -s
rounds=${1:-5}
TIMEFORMAT='%R'
declare -A wall
ratios=()
for ((i = 0; i < rounds; i++)); do
    if ((i % 2 == 0)); then order="bench bench-base"; else order="bench-base bench"; fi
    for b in $order; do
        wall[$b]=$({ time ./$b -log compare-$b.log -seed $((i + 1)) -bench > /dev/null; } 2>&1)
    done
    r=$(awk -v a="${wall[bench]}" -v b="${wall[bench-base]}" 'BEGIN { printf "%.3f", b / a }')
    ratios+=("$r")
    echo "round $i: bench ${wall[bench]} s, bench-base ${wall[bench-base]} s, speedup $r"
done
rm -f compare-bench.log compare-bench-base.log
printf '%s\n' "${ratios[@]}" | sort -n | awk '{ r[NR] = $1 } END { print "median speedup " (NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2) }'
