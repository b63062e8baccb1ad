#!/usr/bin/env bash
# Quick start on a CPU, no download: install, draw the toy dataset, train a small CycleGAN on it, translate the
# test images, and open the results page. Takes a few minutes on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
PY=.venv/bin/python
$PY datasets/make_toy_dataset.py --root ./datasets
$PY train.py --dataroot ./datasets/shapes --name shapes_cyclegan --model cycle_gan --gpu_ids -1 \
  --netG resnet_6blocks --ngf 16 --ndf 16 --load_size 64 --crop_size 64 --num_threads 2 \
  --n_epochs 3 --n_epochs_decay 2 --max_dataset_size 100 --display_id 0 --print_freq 50 --display_freq 100 --seed 0
$PY test.py --dataroot ./datasets/shapes --name shapes_cyclegan --model cycle_gan --gpu_ids -1 --num_test 20 \
  --load_size 64 --crop_size 64
page="$(pwd)/results/shapes_cyclegan/test_latest/index.html"
echo "Results page: $page"
$PY -c "import sys, webbrowser; webbrowser.open('file://' + sys.argv[1])" "$page" >/dev/null 2>&1 || true
