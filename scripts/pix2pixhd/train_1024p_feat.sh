#!/usr/bin/env bash
# pix2pixHD at 1024p with instance features, the reference's recipe: the 512p feature run's trained encoder
# (train_512p_feat.sh first) writes train_feat/ at full size, then the local enhancer trains on those maps
# (--load_features), started from the 512p run. The reference precomputed with an untrained encoder (its bug).
# For 12 GB use --niter 100 --niter_decay 100 --niter_fix_global 20 --resize_or_crop crop --fineSize 896 instead of
# the flags after --load_pretrain.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python}"
DATAROOT="${DATAROOT:-./datasets/cityscapes}"
$PY scripts/pix2pixhd/precompute_feature_maps.py --model pix2pixhd --dataroot "$DATAROOT" --name label2city_512p_feat \
  --instance_feat
$PY train.py --model pix2pixhd --dataroot "$DATAROOT" --name label2city_1024p_feat --netG local --ngf 32 --num_D 3 \
  --load_pretrain checkpoints/label2city_512p_feat/ --niter 50 --niter_decay 50 --niter_fix_global 10 \
  --resize_or_crop none --instance_feat --load_features "$@"
