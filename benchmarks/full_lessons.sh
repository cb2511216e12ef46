#!/bin/bash
# The course's full-mode lesson results, in the background: one thread, niced, resumable (a stopped run goes on
# after its last finished epoch the next time this runs), each lesson's result committed as it lands.
#   nohup benchmarks/full_lessons.sh > /dev/null 2>&1 &      # from a checkout; log: $CKPT/bench.log
# DATA: a data directory holding CIFAR-10 / MNIST / Fashion-MNIST (../shared/data here); CKPT: where runs go.
# Two workers on a 2-core machine: give each its own lessons (ORDER, comma-separated), its own NAME (its resume
# state and log in $CKPT) and the same CKPT (runs of the same settings are reused across lessons):
#   ORDER=004-q3-mlp,000-p1-baseline NAME=second nohup benchmarks/full_lessons.sh > /dev/null 2>&1 &
# REDO=1: run ORDER's lessons again even when their result is shipped, and replace it (with a CKPT of its own, or
# the runs already there are reused), e.g. results made before a fix that changed the training's speed:
#   REDO=1 ORDER=002-q2-depth,002-q3-dropout-weight-decay NAME=redo CKPT=../full-ck-redo nohup benchmarks/full_lessons.sh ...
# 001-q1-resolution's lab trains its three 150-epoch models one after another (about 3 h each here). With a core
# free, train a later one beside it, with the same environment (the lab takes the finished run by its name):
#   CNNKIT_DATA_DIR=$DATA CNNKIT_THREADS=1 CNNKIT_CHECKPOINT_DIR=$CKPT nice -n 10 "$PYTHON" -m cnnkit resolution-lab \
#     --resume LAB_ID --only "TVTV 8 px"          # LAB_ID: the newest vgg6 lab in `python -m cnnkit labs`
# Before a session ends on a machine that will not come back: benchmarks/full_progress.py save, then commit.
set -u
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
CKPT=${CKPT:-../full-ck}   # beside the checkout: kept when the checkout is laid anew
PYTHON=${PYTHON:-.venv/bin/python}
mkdir -p "$CKPT"
export CNNKIT_DATA_DIR=$DATA CNNKIT_THREADS=1 CNNKIT_CHECKPOINT_DIR=$CKPT
# Order: every course lesson (a test checks it), those with their results shipped first (skipped at once), cheap
# lessons and the 002 runs that share the report's base CNN next, "how far can the same network go" after them,
# the P4 chain after the P3 network it starts from, the 8-hour resolution study last.
COURSE="002-q1-base,002-q4-batchnorm,002-q8-gradcam,003-q2-kernel-size,003-q2-kernel-count,002-q2-depth,002-q3-dropout-weight-decay,002-x-same-network-further,002-q6-augmentation,002-q7-lr-schedules,002-q5-transfer,004-q45-cnn-batchnorm-dropout,001-q1b-splits,004-q6-vgg16-transfer,004-q3-mlp,000-p1-baseline,000-p2-half-width,000-p3-bn-dropout-augmentation,000-p4-transfer-chain,001-q2-adam-vs-sgd,001-q2-third-conv,001-q1-resolution"
ORDER=${ORDER:-$COURSE}
NAME=${NAME:-}
REDO=${REDO:+--redo}
OUT="$CKPT/bench_lessons${NAME:+-$NAME}"
LOG="$CKPT/bench${NAME:+-$NAME}"
# A fresh machine: lay back the unfinished runs a session before carried in the repository (full_progress.py save).
"$PYTHON" benchmarks/full_progress.py restore --ckpt "$CKPT" >> "$LOG.log" 2>&1
for lesson in ${ORDER//,/ }; do
  nice -n 10 "$PYTHON" benchmarks/bench_lessons.py --full --resume --device cpu --only "$lesson" \
    --save-shipped --commit $REDO --json --out "$OUT" >> "$LOG.out" 2>> "$LOG.log"
done
