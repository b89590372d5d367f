#!/usr/bin/env bash
# Rebuilds kvscope's shipped model from the repository alone: corpus -> tokenizer -> training.
#   bash scripts/make_model.sh /abs/path/to/build/kvtrain      (what `make model` runs)
# Fixed seeds, so a rerun on the same machine (and thread count) gives the same files.
# Writes assets/models/{kvscope6.bin,tokenizer.bin,kvscope6.loss.csv,kvscope6.loss.png}, the
# grouped-query twin kvscope6_gqa.{bin,loss.csv,loss.png} and the multi-query twin
# kvscope6_mqa.{bin,loss.csv,loss.png};
# intermediate files (the corpora, the checkpoints between stages) go to build/model/.
#
# Training runs in four stages, each a warm-up + cosine schedule continuing from the last
# checkpoint (a warm restart): 1200 steps on the basic corpus, then 1500, 2500 and 1000 steps on
# three fresh corpora of the copy-heavy variant (more invented names, magic words said twice, calls
# that repeat function names), which is what teaches the model to copy names it never saw.
# A step is 4 x 512 tokens (6200 steps, 12.7M tokens). Time: about 40 minutes on 2 idle cores
# (0.35 s per step); longer when the machine is shared (the shipped run shared it).
set -euo pipefail
KVTRAIN=${1:?usage: make_model.sh /path/to/kvtrain}
cd "$(dirname "$0")/.."
WORK=build/model
OUT=assets/models
mkdir -p "$WORK" "$OUT"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} # a busy machine: do not spin at barriers

start=$(date +%s)
echo "make_model: corpora" >&2
"$KVTRAIN" corpus --seed 2024 --variant 0 --bytes 10000000 \
    --train "$WORK/corpus_train.txt" --valid "$WORK/corpus_valid.txt"
"$KVTRAIN" corpus --seed 2025 --variant 1 --bytes 10000000 \
    --train "$WORK/corpus2_train.txt" --valid "$WORK/corpus2_valid.txt"
"$KVTRAIN" corpus --seed 2026 --variant 1 --bytes 10000000 \
    --train "$WORK/corpus3_train.txt" --valid "$WORK/corpus3_valid.txt"
"$KVTRAIN" corpus --seed 2027 --variant 1 --bytes 10000000 \
    --train "$WORK/corpus4_train.txt" --valid "$WORK/corpus4_valid.txt"
echo "make_model: tokenizer" >&2
"$KVTRAIN" bpe --corpus "$WORK/corpus_train.txt" --vocab 1024 --out "$OUT/tokenizer.bin"

# train_stage CORPUS STEPS LR SEED STEP0 [INIT]: one stage; validation always on the basic
# corpus's held-out split, so the loss curve is one curve.
train_stage() {
    local init=()
    [ -n "${6:-}" ] && init=(--init "$6" --step0 "$5")
    echo "make_model: training on $1, $2 steps from step $5" >&2
    "$KVTRAIN" train --corpus "$1" --valid "$WORK/corpus_valid.txt" \
        --tokenizer "$OUT/tokenizer.bin" --vocab 1024 \
        --dim 128 --hidden 344 --layers 6 --heads 4 --kv-heads 4 --seq 512 --batch 4 \
        --steps "$2" --warmup "$([ "$5" = 0 ] && echo 60 || echo 50)" --lr "$3" \
        --eval-every 50 --seed "$4" "${init[@]}" \
        --out "$OUT/kvscope6.bin" --csv "$OUT/kvscope6.loss.csv" --png "$OUT/kvscope6.loss.png"
}
train_stage "$WORK/corpus_train.txt" 1200 0.0025 7 0
cp "$OUT/kvscope6.bin" "$WORK/kvscope6.stage1.bin"
train_stage "$WORK/corpus2_train.txt" 1500 0.0015 8 1200 "$WORK/kvscope6.stage1.bin"
cp "$OUT/kvscope6.bin" "$WORK/kvscope6.stage2.bin"
train_stage "$WORK/corpus3_train.txt" 2500 0.001 9 2700 "$WORK/kvscope6.stage2.bin"
cp "$OUT/kvscope6.bin" "$WORK/kvscope6.stage3.bin"
train_stage "$WORK/corpus4_train.txt" 1000 0.0006 10 5200 "$WORK/kvscope6.stage3.bin"
# The grouped-query twin (2 kv heads): mean-pooled k and v heads of the final model, then 600
# steps of continued training.
echo "make_model: grouped-query twin" >&2
"$KVTRAIN" gqa --model "$OUT/kvscope6.bin" --kv-heads 2 --out "$WORK/kvscope6_gqa.init.bin"
"$KVTRAIN" train --corpus "$WORK/corpus4_train.txt" --valid "$WORK/corpus_valid.txt" \
    --tokenizer "$OUT/tokenizer.bin" --vocab 1024 \
    --dim 128 --hidden 344 --layers 6 --heads 4 --kv-heads 2 --seq 512 --batch 4 \
    --steps 600 --warmup 30 --lr 0.0006 --eval-every 50 --seed 11 \
    --init "$WORK/kvscope6_gqa.init.bin" \
    --out "$OUT/kvscope6_gqa.bin" --csv "$OUT/kvscope6_gqa.loss.csv" --png "$OUT/kvscope6_gqa.loss.png"
# Last: every matrix weight of both models rounded to the nearest bfloat16, so the engine keeps
# them in half the bytes (a decode step streams 2.6 MB instead of 5.3) and computes exactly what
# the rounded weights give. The loss curves are of the float training run.
echo "make_model: bfloat16 weights" >&2
"$KVTRAIN" bf16 --model "$OUT/kvscope6.bin" --out "$OUT/kvscope6.bin"
"$KVTRAIN" bf16 --model "$OUT/kvscope6_gqa.bin" --out "$OUT/kvscope6_gqa.bin"
# The multi-query twin (1 kv head), added after the two above were shipped: mean-pooled from the
# final (bfloat16) model, then 400 steps at lr 1e-3 (it starts further off than the 2-kv twin),
# then rounded.
echo "make_model: multi-query twin" >&2
"$KVTRAIN" gqa --model "$OUT/kvscope6.bin" --kv-heads 1 --out "$WORK/kvscope6_mqa.init.bin"
"$KVTRAIN" train --corpus "$WORK/corpus4_train.txt" --valid "$WORK/corpus_valid.txt" \
    --tokenizer "$OUT/tokenizer.bin" --vocab 1024 \
    --dim 128 --hidden 344 --layers 6 --heads 4 --kv-heads 1 --seq 512 --batch 4 \
    --steps 400 --warmup 30 --lr 0.001 --eval-every 50 --seed 12 \
    --init "$WORK/kvscope6_mqa.init.bin" \
    --out "$OUT/kvscope6_mqa.bin" --csv "$OUT/kvscope6_mqa.loss.csv" --png "$OUT/kvscope6_mqa.loss.png"
"$KVTRAIN" bf16 --model "$OUT/kvscope6_mqa.bin" --out "$OUT/kvscope6_mqa.bin"
echo "make_model: done in $(($(date +%s) - start)) s" >&2
