#!/usr/bin/env bash
# pix2pixHD at 512p (1024x512) on Cityscapes: global generator, 100 + 100 epochs, the reference's defaults.
# Prepare the data with datasets/prepare_cityscapes_dataset.py --layout pix2pixhd. The VGG loss needs
# torchvision's VGG19 weights (pass --vgg_weights PATH, or keep them in torch hub's cache); extra flags are passed on.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python}"
DATAROOT="${DATAROOT:-./datasets/cityscapes}"
$PY train.py --model pix2pixhd --dataroot "$DATAROOT" --name label2city_512p "$@"
