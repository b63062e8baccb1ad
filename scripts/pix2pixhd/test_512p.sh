#!/usr/bin/env bash
# Synthesize the test label maps with the 512p model; results in results/label2city_512p/test_latest/index.html.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python}"
DATAROOT="${DATAROOT:-./datasets/cityscapes}"
$PY test.py --model pix2pixhd --dataroot "$DATAROOT" --name label2city_512p "$@"
