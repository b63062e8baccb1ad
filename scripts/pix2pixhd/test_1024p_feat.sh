#!/usr/bin/env bash
# Cluster the 1024p feature run's instance features, then synthesize with sampled features (see test_512p_feat.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python}"
DATAROOT="${DATAROOT:-./datasets/cityscapes}"
$PY scripts/pix2pixhd/cluster_features.py --model pix2pixhd --dataroot "$DATAROOT" --name label2city_1024p_feat \
  --netG local --ngf 32 --resize_or_crop none --instance_feat
$PY test.py --model pix2pixhd --dataroot "$DATAROOT" --name label2city_1024p_feat --netG local --ngf 32 \
  --resize_or_crop none --instance_feat "$@"
