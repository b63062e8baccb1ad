#!/usr/bin/env bash
# Cluster the feature maps the 1024p feature run trained on (train_feat/, from train_1024p_feat.sh), then synthesize
# with features sampled from the clusters (see test_512p_feat.sh). The reference clustered with an encoder that run
# never had (random weights).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python}"
DATAROOT="${DATAROOT:-./datasets/cityscapes}"
$PY scripts/pix2pixhd/cluster_features.py --model pix2pixhd --dataroot "$DATAROOT" --name label2city_1024p_feat \
  --netG local --ngf 32 --resize_or_crop none --instance_feat --load_features
$PY test.py --model pix2pixhd --dataroot "$DATAROOT" --name label2city_1024p_feat --netG local --ngf 32 \
  --resize_or_crop none --instance_feat "$@"
