#!/usr/bin/env bash
# The induct recipe (issue 16), not yet what ships: corpus -> tokenizer -> training, as
# make_model.sh, into build/model-induct/ (the shipped files in assets/models are not touched).
#   bash scripts/make_model_induct.sh /abs/path/to/build/kvtrain
# Measured (README, The model): after 2300 steps it copies unseen story names no better than the
# shipped model and has no induction head yet; a longer run is needed.
# Fixed seeds, so a rerun on the same machine (and thread count) gives the same files.
# Writes build/model-induct/{kvscope6.bin,tokenizer.bin,kvscope6.loss.csv,kvscope6.loss.png}, the
# grouped-query twin kvscope6_gqa.* and the multi-query twin kvscope6_mqa.*, and the corpora and
# checkpoints between stages beside them.
#
# Training runs in four stages, each a warm-up + cosine schedule continuing from the last
# checkpoint (a warm restart): 800 steps on the held-out basic corpus (variant 3), then 900, 900
# and 300 steps on three fresh corpora of the induct variant (names and identifiers from any
# letters, accents too, one to four syllables; magic words and roll calls said twice; one-line
# functions), which is meant to teach the model to copy names it never saw. In every stage a share
# of the batch rows (--induct: 10%, 15%, 15%, 40%) are random token sequences said two or three
# times, scored only on the repeats: the classic way to grow induction heads. A step is 4 x 512
# tokens (2900 steps, 5.9M tokens). The grouped-query (2 kv heads) and multi-query (1 kv head)
# twins are mean-pooled from the final model and trained 100 steps each on the last corpus.
# Time and figures: README (The model).
set -euo pipefail
KVTRAIN=${1:?usage: make_model_induct.sh /path/to/kvtrain}
cd "$(dirname "$0")/.."
WORK=build/model-induct
OUT=build/model-induct
mkdir -p "$WORK" "$OUT"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} # a busy machine: do not spin at barriers

start=$(date +%s)
echo "make_model: corpora" >&2
"$KVTRAIN" corpus --seed 2024 --variant 3 --bytes 10000000 \
    --train "$WORK/corpus_train.txt" --valid "$WORK/corpus_valid.txt"
"$KVTRAIN" corpus --seed 2025 --variant 2 --bytes 10000000 \
    --train "$WORK/corpus2_train.txt" --valid "$WORK/corpus2_valid.txt"
"$KVTRAIN" corpus --seed 2026 --variant 2 --bytes 10000000 \
    --train "$WORK/corpus3_train.txt" --valid "$WORK/corpus3_valid.txt"
"$KVTRAIN" corpus --seed 2027 --variant 2 --bytes 10000000 \
    --train "$WORK/corpus4_train.txt" --valid "$WORK/corpus4_valid.txt"
echo "make_model: tokenizer" >&2
"$KVTRAIN" bpe --corpus "$WORK/corpus_train.txt" --vocab 1024 --out "$OUT/tokenizer.bin"

# train_stage CORPUS STEPS LR SEED STEP0 INDUCT [INIT]: one stage; validation always on the basic
# corpus's held-out split, so the loss curve is one curve.
train_stage() {
    local init=()
    [ -n "${7:-}" ] && init=(--init "$7" --step0 "$5")
    echo "make_model: training on $1, $2 steps from step $5" >&2
    "$KVTRAIN" train --corpus "$1" --valid "$WORK/corpus_valid.txt" \
        --tokenizer "$OUT/tokenizer.bin" --vocab 1024 \
        --dim 128 --hidden 344 --layers 6 --heads 4 --kv-heads 4 --seq 512 --batch 4 \
        --steps "$2" --warmup "$([ "$5" = 0 ] && echo 60 || echo 50)" --lr "$3" --induct "$6" \
        --eval-every 50 --seed "$4" "${init[@]}" \
        --out "$OUT/kvscope6.bin" --csv "$OUT/kvscope6.loss.csv" --png "$OUT/kvscope6.loss.png"
}
train_stage "$WORK/corpus_train.txt" 800 0.0025 7 0 10
cp "$OUT/kvscope6.bin" "$WORK/kvscope6.stage1.bin"
train_stage "$WORK/corpus2_train.txt" 900 0.0015 8 800 15 "$WORK/kvscope6.stage1.bin"
cp "$OUT/kvscope6.bin" "$WORK/kvscope6.stage2.bin"
train_stage "$WORK/corpus3_train.txt" 900 0.001 9 1700 15 "$WORK/kvscope6.stage2.bin"
cp "$OUT/kvscope6.bin" "$WORK/kvscope6.stage3.bin"
train_stage "$WORK/corpus4_train.txt" 300 0.001 10 2600 40 "$WORK/kvscope6.stage3.bin"
# The twins: k and v heads of the final model mean-pooled into 2 (grouped-query) and 1
# (multi-query) kv heads, then 100 steps of continued training each, on the same recipe.
twin() { # NAME KV_HEADS SEED
    echo "make_model: $1 twin ($2 kv heads)" >&2
    "$KVTRAIN" gqa --model "$OUT/kvscope6.bin" --kv-heads "$2" --out "$WORK/kvscope6_$1.init.bin"
    "$KVTRAIN" train --corpus "$WORK/corpus4_train.txt" --valid "$WORK/corpus_valid.txt" \
        --tokenizer "$OUT/tokenizer.bin" --vocab 1024 \
        --dim 128 --hidden 344 --layers 6 --heads 4 --kv-heads "$2" --seq 512 --batch 4 \
        --steps 100 --warmup 20 --lr 0.0006 --induct 25 --eval-every 50 --seed "$3" \
        --init "$WORK/kvscope6_$1.init.bin" \
        --out "$OUT/kvscope6_$1.bin" --csv "$OUT/kvscope6_$1.loss.csv" \
        --png "$OUT/kvscope6_$1.loss.png"
}
twin gqa 2 11
twin mqa 1 12
# Last: every matrix weight of the three models rounded to the nearest bfloat16, so the engine
# keeps them in half the bytes (a decode step streams 2.6 MB instead of 5.3) and computes exactly
# what the rounded weights give. The loss curves are of the float training run.
echo "make_model: bfloat16 weights" >&2
for m in kvscope6 kvscope6_gqa kvscope6_mqa; do
    "$KVTRAIN" bf16 --model "$OUT/$m.bin" --out "$OUT/$m.bin"
done
echo "make_model: done in $(($(date +%s) - start)) s" >&2
