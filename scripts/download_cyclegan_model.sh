#!/usr/bin/env bash
# Usage: bash ./scripts/download_cyclegan_model.sh NAME [--dir DIR] [--retries N] [--timeout SECONDS]
#
# Downloads a pretrained CycleGAN generator to checkpoints/NAME_pretrained/latest_net_G.pth (use --model test --no_dropout).
# Run with no NAME (or --help) for the list of names.
#
# Environment variables:
#   CYCLEGAN_BASE_URL  folder on the server (default http://efrosgans.eecs.berkeley.edu/cyclegan)
#   IMG2IMG_DOWNLOAD_URL  server root holding cyclegan/ and pix2pix/, for a mirror
#   IMG2IMG_CHECKPOINTS_DIR  output folder instead of the repository's checkpoints/
#   PYTHON  interpreter to use (default: python, else python3)
# A broken-off download stays as a .part file and is resumed by running the command again.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/../datasets/download.sh" cyclegan-model "$@"
