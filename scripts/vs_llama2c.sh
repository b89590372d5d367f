#!/usr/bin/env bash
# vs_llama2c.sh — kvscope's engine side by side with llama2.c's run.c on the same checkpoints.
#
#   scripts/vs_llama2c.sh LLAMA2C_DIR [MODEL ...]
#
# LLAMA2C_DIR holds llama2.c's run.c (git clone https://github.com/karpathy/llama2.c); nothing
# of it is in this repository. The script builds run.c twice, -Ofast -march=native and the same
# with -fopenmp, writes 15M-, 42M- and 110M-shaped checkpoints with random weights through
# kvscope's own writer (kvscope bench checkpoint), and runs both programs greedily over the same
# positions: whole processes, N tokens and one token (start-up: load to first token), in pairs
# that alternate which side goes first, PAIRS times (default 7), on one thread (run.c -Ofast
# against kvscope --threads 1) and on two (run.c -fopenmp with OMP_NUM_THREADS=2 against
# kvscope --threads 2). It prints a table of medians: decode tok/s (N - 1 tokens over the time
# N tokens take beyond one), start-up, peak memory (max RSS), and each ratio; then kvscope's
# peak memory with --verify (the other mode's shadow engine) and with a drift shadow
# (--cache window:32), and the machine's load before and after.
#
# MODEL: 15m 42m 110m shipped (default: all). Environment: PAIRS, THREADS (default "1 2"),
# TOKENS (default 256, 128 on 110m), KVSCOPE (default build/kvscope: run make first), WORK (a
# folder for the builds and checkpoints, default a temporary one, removed at the end), CC
# (default cc).
set -euo pipefail

usage() { echo "usage: scripts/vs_llama2c.sh LLAMA2C_DIR [15m|42m|110m|shipped ...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
src=$1; shift
[ -f "$src/run.c" ] || { echo "vs_llama2c.sh: $src/run.c: not found" >&2; exit 2; }
here=$(cd "$(dirname "$0")/.." && pwd)
kvscope=${KVSCOPE:-$here/build/kvscope}
[ -x "$kvscope" ] || { echo "vs_llama2c.sh: $kvscope: not built (make)" >&2; exit 2; }
pairs=${PAIRS:-7}
cc=${CC:-cc}
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(15m 42m 110m shipped)
if [ -n "${WORK:-}" ]; then work=$WORK; mkdir -p "$work"; else
    work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; fi
[ -x /usr/bin/time ] || { echo "vs_llama2c.sh: /usr/bin/time: needed for peak memory" >&2; exit 2; }

"$cc" -Ofast -march=native -o "$work/run_fast" "$src/run.c" -lm
"$cc" -Ofast -march=native -fopenmp -o "$work/run_omp" "$src/run.c" -lm

load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "machine: $(nproc) cores, load average before: $(load)"
echo "kvscope: $("$kvscope" bench engine --model "$here/assets/models/kvscope6.bin" 2>/dev/null \
    | head -1 | grep -o 'isa=[a-z0-9-]*')"

# One run: prints "wall_seconds max_rss_kib". $1 = threads for OMP, then the command.
measure() {
    local omp=$1; shift
    local t0 t1
    t0=$(date +%s%N)
    OMP_NUM_THREADS=$omp /usr/bin/time -f '%M' -o "$work/rss" "$@" >/dev/null 2>&1
    t1=$(date +%s%N)
    echo "$(( (t1 - t0) / 1000 )) $(tail -1 "$work/rss")"
}
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

printf '\n| model | threads | run.c tok/s | kvscope tok/s | ratio | run.c start-up s | kvscope start-up s | ratio | run.c peak MiB | kvscope peak MiB | ratio |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|\n'
declare -A verify_rss
for m in "${models[@]}"; do
    case $m in
    15m|42m|110m)
        model=$work/$m.bin tok=$work/tok.bin
        [ -f "$model" ] || "$kvscope" bench checkpoint "$m" "$model" "$tok" >/dev/null ;;
    shipped)
        model=$here/assets/models/kvscope6.bin tok=$here/assets/models/tokenizer.bin ;;
    *) usage ;;
    esac
    case $m in 110m) n=${TOKENS:-128} ;; *) n=${TOKENS:-256} ;; esac
    # the prompt "a" is three positions on both sides (BOS, the dummy space, "a"): run.c's
    # -n counts positions, kvscope's -n generated tokens
    steps_r=$((n + 2)) steps_k=$n
    cat "$model" "$tok" >/dev/null # both sides start from the page cache
    for threads in ${THREADS:-1 2}; do
        if [ "$threads" = 1 ]; then runc=$work/run_fast; else runc=$work/run_omp; fi
        : >"$work/r.n"; : >"$work/k.n"; : >"$work/r.1"; : >"$work/k.1"
        for ((p = 0; p < pairs; p++)); do
            for side in $( ((p % 2)) && echo "k r" || echo "r k"); do
                if [ "$side" = r ]; then
                    measure "$threads" "$runc" "$model" -z "$tok" -t 0 -n "$steps_r" -i a >>"$work/r.n"
                    measure "$threads" "$runc" "$model" -z "$tok" -t 0 -n 3 -i a >>"$work/r.1"
                else
                    measure 1 "$kvscope" generate --model "$model" --tokenizer "$tok" --prompt a \
                        -n "$steps_k" --threads "$threads" >>"$work/k.n"
                    measure 1 "$kvscope" generate --model "$model" --tokenizer "$tok" --prompt a \
                        -n 1 --threads "$threads" >>"$work/k.1"
                fi
            done
        done
        rn=$(cut -d' ' -f1 "$work/r.n" | median); r1=$(cut -d' ' -f1 "$work/r.1" | median)
        kn=$(cut -d' ' -f1 "$work/k.n" | median); k1=$(cut -d' ' -f1 "$work/k.1" | median)
        rm_=$(cut -d' ' -f2 "$work/r.n" | median); km=$(cut -d' ' -f2 "$work/k.n" | median)
        awk -v m="$m" -v t="$threads" -v n="$n" -v rn="$rn" -v r1="$r1" -v kn="$kn" -v k1="$k1" \
            -v rm="$rm_" -v km="$km" 'BEGIN {
            rt = (n - 1) / ((rn - r1) / 1e6); kt = (n - 1) / ((kn - k1) / 1e6)
            printf "| %s | %d | %.1f | %.1f | %.2fx | %.3f | %.3f | %.2fx | %.0f | %.0f | %.2fx |\n",
                m, t, rt, kt, kt / rt, r1 / 1e6, k1 / 1e6, k1 / r1, rm / 1024, km / 1024, km / rm }'
    done
    vr=$(measure 1 "$kvscope" generate --model "$model" --tokenizer "$tok" --prompt a -n 8 \
        --threads 1 --verify | cut -d' ' -f2)
    wr=$(measure 1 "$kvscope" generate --model "$model" --tokenizer "$tok" --prompt a -n 8 \
        --threads 1 --cache window:32 | cut -d' ' -f2)
    verify_rss[$m]="$((vr / 1024)) MiB with --verify, $((wr / 1024)) MiB with --cache window:32"
done
echo
for m in "${models[@]}"; do echo "kvscope peak memory, $m: ${verify_rss[$m]}"; done
echo "load average after: $(load)"
