"""CycleGAN on apple2orange, then deploy as the CycleGAN-TensorFlow walkthrough does: export both directions and
translate photos with the exported file.

    python scripts/recipes/apple2orange.py [--quick | --dry_run]

Then translate any photo: ``python scripts/translate.py --model
./checkpoints/apple2orange_cyclegan/apple2orange_cyclegan_latest_net_G_A.pt --input apple.jpg --output orange.jpg``
(``..._G_B.pt``: orange -> apple). Add ``--format torchscript onnx`` to the export for ONNX (``pip install onnx
onnxruntime``). Data in folders with other names (``a_resized/``, ``b_resized/``): add ``--dirA a_resized
--dirB b_resized`` to train.py.
"""
from scripts.recipes.recipe import Recipe, main

RECIPE = Recipe(
    name="apple2orange_cyclegan",
    dataset="apple2orange",
    download="bash ./datasets/download_cyclegan_dataset.sh apple2orange",
    train="python train.py --dataroot {dataroot} --name {name} --model cycle_gan",
    test="python test.py --dataroot {dataroot} --name {name} --model cycle_gan",
    after=("python scripts/export.py --name {name} --net G_A G_B --format torchscript",
           "python scripts/translate.py --model {checkpoints}/{name}/{name}_latest_net_G_A.pt "
           "--input {dataroot}/testA --output {results}/{name}/translated"),
    quick_data="unpaired",
    notes="CycleGAN, apple <-> orange; export G_A and G_B to TorchScript, translate the test apples",
)

if __name__ == "__main__":
    main(RECIPE)
