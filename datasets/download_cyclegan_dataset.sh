#!/usr/bin/env bash
# Usage: bash ./datasets/download_cyclegan_dataset.sh NAME [--dir DIR] [--retries N] [--timeout SECONDS]
#
# Downloads a CycleGAN dataset (trainA/trainB/testA/testB) to datasets/NAME/.
# Run with no NAME (or --help) for the list of names.
#
# Environment variables:
#   CYCLEGAN_BASE_URL  folder on the server (default http://efrosgans.eecs.berkeley.edu/cyclegan)
#   IMG2IMG_DOWNLOAD_URL  server root holding cyclegan/ and pix2pix/, for a mirror
#   IMG2IMG_DATASETS_DIR  output folder instead of the repository's datasets/
#   PYTHON  interpreter to use (default: python, else python3)
# A broken-off download stays as a .part file and is resumed by running the command again.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/download.sh" cyclegan-dataset "$@"
