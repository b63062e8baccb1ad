#!/usr/bin/env bash
# pix2pixHD at 1024p (2048x1024): local enhancer started from the 512p run (train_512p.sh first), training only
# the enhancer for 10 epochs and then everything (the reference never unfroze the global part; this does). The
# reference's 24 GB recipe; for 12 GB use --niter 100 --niter_decay 100 --niter_fix_global 20 --resize_or_crop crop
# --fineSize 1024 instead of the flags after --load_pretrain.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python}"
DATAROOT="${DATAROOT:-./datasets/cityscapes}"
$PY train.py --model pix2pixhd --dataroot "$DATAROOT" --name label2city_1024p --netG local --ngf 32 --num_D 3 \
  --load_pretrain checkpoints/label2city_512p/ --niter 50 --niter_decay 50 --niter_fix_global 10 --resize_or_crop none "$@"
