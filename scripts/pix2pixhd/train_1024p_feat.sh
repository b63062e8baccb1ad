#!/usr/bin/env bash
# pix2pixHD at 1024p with instance features, started from train_512p_feat.sh (G, D and E). The reference precomputed
# feature maps with an untrained encoder (its bug); here the encoder is loaded from the 512p run and trained on.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python}"
DATAROOT="${DATAROOT:-./datasets/cityscapes}"
$PY train.py --model pix2pixhd --dataroot "$DATAROOT" --name label2city_1024p_feat --netG local --ngf 32 --num_D 3 \
  --load_pretrain checkpoints/label2city_512p_feat/ --niter 50 --niter_decay 50 --niter_fix_global 10 \
  --resize_or_crop none --instance_feat "$@"
