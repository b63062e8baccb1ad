"""pix2pix on facades in grayscale: one channel in, one channel out (--input_nc 1 --output_nc 1).

    python scripts/recipes/grayscale_facades.py [--quick | --dry_run]

The loader converts both halves of each A|B image to gray, so the colour dataset needs no conversion.
"""
from scripts.recipes.recipe import Recipe, main

RECIPE = Recipe(
    name="facades_gray_pix2pix",
    dataset="facades",
    download="bash ./datasets/download_pix2pix_dataset.sh facades",
    train="python train.py --dataroot {dataroot} --name {name} --model pix2pix --direction BtoA "
          "--input_nc 1 --output_nc 1",
    test="python test.py --dataroot {dataroot} --name {name} --model pix2pix --direction BtoA",
    quick_data="paired",
    quick_size=256,  # unet_256 takes sides that are multiples of 256
    notes="pix2pix, grayscale label map -> grayscale facade photo",
)

if __name__ == "__main__":
    main(RECIPE)
