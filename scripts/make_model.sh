#!/usr/bin/env bash
# Rebuilds kvscope's shipped model from the repository alone: corpus -> tokenizer -> training.
#   bash scripts/make_model.sh /abs/path/to/build/kvtrain      (what `make model` runs)
# Fixed seeds, so a rerun on the same machine (and thread count) gives the same files.
# Writes assets/models/{kvscope6.bin,tokenizer.bin,kvscope6.loss.csv,kvscope6.loss.png};
# intermediate files (the corpus, the stage-1 checkpoint) go to build/model/.
# Time: about 25 minutes on 2 idle cores (0.5 s per step of 2048 tokens); the shipped model took
# longer because the machine was shared (see the closing note of issue 4).
set -euo pipefail
KVTRAIN=${1:?usage: make_model.sh /path/to/kvtrain}
cd "$(dirname "$0")/.."
STEPS=${KVSCOPE_TRAIN_STEPS:-1200}      # stage 1: warm-up + cosine from 2.5e-3
STEPS2=${KVSCOPE_TRAIN_STEPS2:-1500}    # stage 2: a warm restart from stage 1, cosine from 1.5e-3,
                                        # on the copy-heavy corpus variant (more invented names)
WORK=build/model
OUT=assets/models
mkdir -p "$WORK" "$OUT"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}   # a busy machine: do not spin at barriers

start=$(date +%s)
echo "make_model: corpus" >&2
"$KVTRAIN" corpus --seed 2024 --bytes 10000000 --train "$WORK/corpus_train.txt" --valid "$WORK/corpus_valid.txt"
"$KVTRAIN" corpus --seed 2025 --variant 1 --bytes 10000000 --train "$WORK/corpus2_train.txt" --valid "$WORK/corpus2_valid.txt"
echo "make_model: tokenizer" >&2
"$KVTRAIN" bpe --corpus "$WORK/corpus_train.txt" --vocab 1024 --out "$OUT/tokenizer.bin"
echo "make_model: training ($STEPS steps)" >&2
"$KVTRAIN" train --corpus "$WORK/corpus_train.txt" --valid "$WORK/corpus_valid.txt" \
    --tokenizer "$OUT/tokenizer.bin" --vocab 1024 \
    --dim 128 --hidden 344 --layers 6 --heads 4 --kv-heads 4 --seq 512 --batch 4 \
    --steps "$STEPS" --warmup 60 --lr 0.0025 --eval-every 50 --seed 7 \
    --out "$OUT/kvscope6.bin" --csv "$OUT/kvscope6.loss.csv" --png "$OUT/kvscope6.loss.png"
echo "make_model: training, stage 2 ($STEPS2 steps, continuing)" >&2
cp "$OUT/kvscope6.bin" "$WORK/kvscope6.stage1.bin"
"$KVTRAIN" train --corpus "$WORK/corpus2_train.txt" --valid "$WORK/corpus_valid.txt" \
    --tokenizer "$OUT/tokenizer.bin" --vocab 1024 \
    --dim 128 --hidden 344 --layers 6 --heads 4 --kv-heads 4 --seq 512 --batch 4 \
    --steps "$STEPS2" --warmup 50 --lr 0.0015 --eval-every 50 --seed 8 \
    --init "$WORK/kvscope6.stage1.bin" --step0 "$STEPS" \
    --out "$OUT/kvscope6.bin" --csv "$OUT/kvscope6.loss.csv" --png "$OUT/kvscope6.loss.png"
echo "make_model: done in $(( $(date +%s) - start )) s" >&2
