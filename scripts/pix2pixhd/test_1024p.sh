#!/usr/bin/env bash
# Synthesize at 1024p, e.g. with NVIDIA's released label2city model (latest_net_G.pth in checkpoints/label2city_1024p/).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python}"
DATAROOT="${DATAROOT:-./datasets/cityscapes}"
$PY test.py --model pix2pixhd --dataroot "$DATAROOT" --name label2city_1024p --netG local --ngf 32 --resize_or_crop none "$@"
