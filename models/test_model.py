"""One-direction inference (``test.py --model test``): loads ``[epoch]_net_G[model_suffix].pth`` only.

Use it for a CycleGAN direction (``--model_suffix _A``), a pretrained generator, or any single generator.
Images of any size work: each batch is padded to the generator's multiple (4 for ResNets, 128/256 for U-Nets)
and the result cropped back. ``--keep_size`` skips all resizing so results have the input's exact width and
height, and ``--tile_size`` translates large images in overlapping tiles to bound memory.
"""
from __future__ import annotations

import argparse
from typing import Any, Dict, Optional, Sequence, Union

from util.errors import UserError

from . import networks
from .architectures import generator
from .base_model import BaseModel
from .tiling import DEFAULT_TILE_OVERLAP, check_tiling, translate_tensor


class KeepSizeAction(argparse.Action):
    """``--keep_size``: sets the flag and ``--preprocess none`` (no resize or crop at load time)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Union[str, Sequence[Any], None], option_string: Optional[str] = None) -> None:
        setattr(namespace, self.dest, True)
        namespace.preprocess = "none"


class TestModel(BaseModel):
    """Visuals ``real`` and ``fake``; no losses, no training."""

    pads_inputs = True  # forward() pads to the generator's multiple, so the options check no image size

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool = True) -> argparse.ArgumentParser:
        if is_train:
            raise UserError("argument --model: the test model only runs in test.py; "
                            "train with --model cycle_gan or --model pix2pix")
        parser.set_defaults(dataset_mode="single")
        parser.add_argument("--model_suffix", type=str, default="",
                            help="In checkpoints_dir, [epoch]_net_G[model_suffix].pth will be loaded as the generator.")
        parser.add_argument("--keep_size", action=KeepSizeAction, default=False,
                            help="write results at each input's exact width and height: implies --preprocess none "
                                 "(no resize, no crop); the generator pads and crops back instead")
        parser.add_argument("--tile_size", type=int, default=0,
                            help="translate in overlapping tiles of this many pixels to bound memory on large "
                                 "images (0: whole image at once)")
        parser.add_argument("--tile_overlap", type=int, default=DEFAULT_TILE_OVERLAP,
                            help="pixels shared by neighbouring tiles, blended to hide seams (with --tile_size)")
        return parser

    def __init__(self, opt: argparse.Namespace) -> None:
        super().__init__(opt)
        if opt.keep_size and opt.preprocess != "none":
            raise UserError(f"--keep_size keeps the input size and needs --preprocess none, not --preprocess "
                            f"{opt.preprocess}")
        self.multiple = generator(opt.netG).multiple
        check_tiling(opt.tile_size, opt.tile_overlap, self.multiple)
        self.loss_names = []
        self.visual_names = ["real", "fake"]
        self.model_names = ["G" + opt.model_suffix]
        self.netG = networks.define_G(opt.input_nc, opt.output_nc, opt.ngf, opt.netG, opt.norm,
                                      not opt.no_dropout, opt.init_type, opt.init_gain).to(self.device)
        setattr(self, "netG" + opt.model_suffix, self.netG)

    def set_input(self, input: Dict[str, Any]) -> None:
        self.real = input["A"].to(self.device, non_blocking=True)
        self.image_paths = input["A_paths"]

    def forward(self) -> None:
        """The generator on the whole batch (padded, cropped back) or, with --tile_size, tile by tile."""
        self.fake = translate_tensor(self.netG, self.real, self.multiple, self.opt.tile_size, self.opt.tile_overlap)

    def optimize_parameters(self) -> None:
        """Nothing to optimise at test time."""
