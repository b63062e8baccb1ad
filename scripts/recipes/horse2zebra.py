"""CycleGAN on horse2zebra as the TensorFlow/Keras tutorial trains it: the last 5 checkpoints kept, TensorBoard on.

    python scripts/recipes/horse2zebra.py [--quick | --dry_run]

Watch it with ``tensorboard --logdir ./checkpoints/horse2zebra_cyclegan/tensorboard`` (losses, images, the
generator's graph). TensorBoard is an optional package: ``pip install tensorboard``.
"""
from scripts.recipes.recipe import Recipe, main

RECIPE = Recipe(
    name="horse2zebra_cyclegan",
    dataset="horse2zebra",
    download="bash ./datasets/download_cyclegan_dataset.sh horse2zebra",
    train="python train.py --dataroot {dataroot} --name {name} --model cycle_gan --save_epoch_freq 1 "
          "--keep_last 5 --use_tensorboard",
    test="python test.py --dataroot {dataroot} --name {name} --model cycle_gan",
    quick_data="unpaired",
    notes="CycleGAN, horse <-> zebra; a checkpoint every epoch, the last 5 kept; TensorBoard",
)

if __name__ == "__main__":
    main(RECIPE)
