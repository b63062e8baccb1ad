#!/usr/bin/env bash
# pix2pixHD at 512p with the instance feature encoder (multi-modal outputs); then scripts/pix2pixhd/test_512p_feat.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python}"
DATAROOT="${DATAROOT:-./datasets/cityscapes}"
$PY train.py --model pix2pixhd --dataroot "$DATAROOT" --name label2city_512p_feat --instance_feat "$@"
