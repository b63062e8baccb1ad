"""pix2pix on facades, labels -> photo (the reference's README and the pix2pix tutorials).

    python scripts/recipes/facades.py [--quick | --dry_run]
"""
from scripts.recipes.recipe import Recipe, main

RECIPE = Recipe(
    name="facades_pix2pix",
    dataset="facades",
    download="bash ./datasets/download_pix2pix_dataset.sh facades",
    train="python train.py --dataroot {dataroot} --name {name} --model pix2pix --direction BtoA",
    test="python test.py --dataroot {dataroot} --name {name} --model pix2pix --direction BtoA",
    quick_data="paired",
    quick_size=256,  # unet_256 takes sides that are multiples of 256
    notes="pix2pix, label map -> facade photo, 200 epochs on 400 images",
)

if __name__ == "__main__":
    main(RECIPE)
