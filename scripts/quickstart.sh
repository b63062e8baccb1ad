#!/usr/bin/env bash
# Quick start, no download: install, draw the toy datasets, train a small pix2pix (paired) and then a small
# CycleGAN (unpaired) on them, translate the test images, and measure the translations. About 2 minutes on two
# CPU cores once installed; seconds on a GPU.
#   scripts/quickstart.sh [--gpu | --cpu] [--n_train N] [--seed S] [--out DIR]
# --gpu / --cpu: the device (default: the GPU when nvidia-smi lists one). --n_train: training images per folder
# (fewer train faster and worse). --seed: the training seed. --out: write datasets/, checkpoints/ and results/
# under DIR instead of here.
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: scripts/quickstart.sh [--gpu | --cpu] [--n_train N] [--seed S] [--out DIR]"
gpu=auto
n_train=200
seed=0
out=.
while [ $# -gt 0 ]; do
  case "$1" in
    --gpu) gpu=0 ;;
    --cpu) gpu=-1 ;;
    --n_train|--seed|--out)
      [ $# -ge 2 ] || { echo "error: $1 needs a value; $usage" >&2; exit 2; }
      case "$1" in --n_train) n_train=$2 ;; --seed) seed=$2 ;; --out) out=$2 ;; esac
      shift ;;
    -h|--help) echo "$usage"; exit 0 ;;
    *) echo "error: unknown argument $1; $usage" >&2; exit 2 ;;
  esac
  shift
done
if [ "$gpu" = auto ]; then
  if nvidia-smi -L >/dev/null 2>&1; then gpu=0; else gpu=-1; fi
fi
scripts/install.sh
PY=.venv/bin/python
# the scripts import this checkout, even where the venv has another one installed
export PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$out"
out=$(cd "$out" && pwd)
data="$out/datasets"
$PY datasets/make_toy_dataset.py --root "$data" --n_train "$n_train"

# 64 px images in batches of 4, with the learning rate decaying over the last quarter of the epochs; pages show
# the images at 128 px, with a loss point every 12 images. pix2pix gets a U-Net, whose skip connections carry the
# outline's exact place to the output, with batch norm (the reference's pix2pix default): instance norm rescales
# each channel of each image on its own, which erases the colour of a thin outline on white, so its fills come
# out grey. A U-Net step costs a tenth of CycleGAN's ResNet one, so pix2pix trains for 12 epochs at 2.5 times the
# usual learning rate (at 5 times, bright rims of a channel above 200 miss the ink measure). CycleGAN keeps the
# reference's ResNet and instance norm, for 3 epochs at 5 times the usual rate.
common=(--gpu_ids "$gpu" --checkpoints_dir "$out/checkpoints" --load_size 64 --crop_size 64 --num_threads 0
        --display_winsize 128)
train=(--batch_size 4 --seed "$seed" --display_id 0 --print_freq 12 --display_freq 200 --update_html_freq 200)
test=(--results_dir "$out/results" --num_test 50)

$PY train.py "${common[@]}" "${train[@]}" --dataroot "$data/shapes_paired" --name shapes_pix2pix --model pix2pix \
  --netG unet_64 --norm batch --ngf 16 --ndf 16 --lr 0.0005 --n_epochs 9 --n_epochs_decay 3
$PY test.py "${common[@]}" "${test[@]}" --dataroot "$data/shapes_paired" --name shapes_pix2pix --model pix2pix

$PY train.py "${common[@]}" "${train[@]}" --dataroot "$data/shapes" --name shapes_cyclegan --model cycle_gan \
  --netG resnet_6blocks --norm instance --ngf 8 --ndf 16 --lambda_identity 2 --lr 0.001 --n_epochs 2 \
  --n_epochs_decay 1
$PY test.py "${common[@]}" "${test[@]}" --dataroot "$data/shapes" --name shapes_cyclegan --model cycle_gan

echo
echo "Results pages (translated test images):"
echo "  pix2pix:  file://$out/results/shapes_pix2pix/test_latest/index.html"
echo "  CycleGAN: file://$out/results/shapes_cyclegan/test_latest/index.html"
echo "Training pages (losses, snapshots, options):"
echo "  pix2pix:  file://$out/checkpoints/shapes_pix2pix/web/index.html"
echo "  CycleGAN: file://$out/checkpoints/shapes_cyclegan/web/index.html"
echo
exec $PY scripts/quickstart_score.py --pix2pix "$out/results/shapes_pix2pix/test_latest" \
  --cyclegan "$out/results/shapes_cyclegan/test_latest"
