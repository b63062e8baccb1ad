#!/usr/bin/env bash
# Usage: bash ./datasets/download_pix2pix_dataset.sh NAME [--dir DIR] [--retries N] [--timeout SECONDS]
#
# Downloads a pix2pix dataset (aligned A|B images in train/val/test) to datasets/NAME/.
# Run with no NAME (or --help) for the list of names.
#
# Environment variables:
#   PIX2PIX_BASE_URL  folder on the server (default http://efrosgans.eecs.berkeley.edu/pix2pix)
#   IMG2IMG_DOWNLOAD_URL  server root holding cyclegan/ and pix2pix/, for a mirror
#   IMG2IMG_DATASETS_DIR  output folder instead of the repository's datasets/
#   PYTHON  interpreter to use (default: python, else python3)
# A broken-off download stays as a .part file and is resumed by running the command again.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/download.sh" pix2pix-dataset "$@"
