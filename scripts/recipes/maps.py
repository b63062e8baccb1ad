"""pix2pix on maps, map -> aerial photo, 200 epochs (the book chapter's recipe).

    python scripts/recipes/maps.py [--quick | --dry_run]
"""
from scripts.recipes.recipe import Recipe, main

RECIPE = Recipe(
    name="maps_pix2pix",
    dataset="maps",
    download="bash ./datasets/download_pix2pix_dataset.sh maps",
    train="python train.py --dataroot {dataroot} --name {name} --model pix2pix --direction BtoA "
          "--n_epochs 100 --n_epochs_decay 100",
    test="python test.py --dataroot {dataroot} --name {name} --model pix2pix --direction BtoA",
    quick_data="paired",
    quick_size=256,  # unet_256 takes sides that are multiples of 256
    notes="pix2pix, map -> aerial photo (--direction BtoA), 100 epochs at the initial rate + 100 decaying",
)

if __name__ == "__main__":
    main(RECIPE)
