#!/usr/bin/env bash
# Cluster the 512p feature run's instance features (scikit-learn k-means), then synthesize with sampled features:
# --n_samples K gives K outputs per label map, --use_encoded_image encodes the real test photos instead.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python}"
DATAROOT="${DATAROOT:-./datasets/cityscapes}"
$PY scripts/pix2pixhd/cluster_features.py --model pix2pixhd --dataroot "$DATAROOT" --name label2city_512p_feat \
  --instance_feat
$PY test.py --model pix2pixhd --dataroot "$DATAROOT" --name label2city_512p_feat --instance_feat "$@"
