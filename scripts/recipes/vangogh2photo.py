"""CycleGAN on vangogh2photo with paintings that are not square (the book chapter): the shorter side is scaled to
--load_size with the aspect ratio kept, then a square crop for training; at test time no crop.

    python scripts/recipes/vangogh2photo.py [--quick | --dry_run]
"""
from scripts.recipes.recipe import Recipe, main

RECIPE = Recipe(
    name="vangogh2photo_cyclegan",
    dataset="vangogh2photo",
    download="bash ./datasets/download_cyclegan_dataset.sh vangogh2photo",
    train="python train.py --dataroot {dataroot} --name {name} --model cycle_gan --netG resnet_9blocks "
          "--preprocess scale_shortside_and_crop --load_size 286 --crop_size 256",
    test="python test.py --dataroot {dataroot} --name {name} --model cycle_gan --preprocess scale_shortside "
         "--load_size 256",
    quick_data="paintings",
    notes="CycleGAN, Van Gogh painting <-> photo; non-square paintings keep their aspect ratio",
)

if __name__ == "__main__":
    main(RECIPE)
