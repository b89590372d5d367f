#!/usr/bin/env bash
# Rebuilds kvscope's shipped model from the repository alone: corpus -> tokenizer -> training.
#   bash scripts/make_model.sh /abs/path/to/build/kvtrain      (what `make model` runs)
# Fixed seeds, so a rerun on the same machine (and thread count) gives the same files.
# Writes assets/models/{kvscope6.bin,tokenizer.bin,kvscope6.loss.csv,kvscope6.loss.png};
# intermediate files (the corpus) go to build/model/. Takes about 40 minutes on 2 cores.
set -euo pipefail
KVTRAIN=${1:?usage: make_model.sh /path/to/kvtrain}
cd "$(dirname "$0")/.."
STEPS=${KVSCOPE_TRAIN_STEPS:-1200}
WORK=build/model
OUT=assets/models
mkdir -p "$WORK" "$OUT"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}   # a busy machine: do not spin at barriers

start=$(date +%s)
echo "make_model: corpus" >&2
"$KVTRAIN" corpus --seed 2024 --bytes 10000000 --train "$WORK/corpus_train.txt" --valid "$WORK/corpus_valid.txt"
echo "make_model: tokenizer" >&2
"$KVTRAIN" bpe --corpus "$WORK/corpus_train.txt" --vocab 1024 --out "$OUT/tokenizer.bin"
echo "make_model: training ($STEPS steps)" >&2
"$KVTRAIN" train --corpus "$WORK/corpus_train.txt" --valid "$WORK/corpus_valid.txt" \
    --tokenizer "$OUT/tokenizer.bin" --vocab 1024 \
    --dim 128 --hidden 344 --layers 6 --heads 4 --kv-heads 4 --seq 512 --batch 4 \
    --steps "$STEPS" --warmup 60 --lr 0.0025 --eval-every 50 --seed 7 \
    --out "$OUT/kvscope6.bin" --csv "$OUT/kvscope6.loss.csv" --png "$OUT/kvscope6.loss.png"
echo "make_model: done in $(( $(date +%s) - start )) s" >&2
