"""pix2pixHD's networks (Wang et al. 2018) with the state_dict keys of NVIDIA's checkpoints.

Global generator, local enhancer (coarse-to-fine), feature encoder with instance-wise average pooling, the
multi-scale PatchGAN discriminator with intermediate features, and the VGG19 feature extractor of the perceptual
loss. Attribute names and layer order follow the reference, because released checkpoints (e.g. label2city 1024p)
depend on them: ``model.*``, ``model{n}_1.*``, ``model{n}_2.*``, ``scale{i}_layer{j}.*`` / ``layer{i}.*``.
"""
from __future__ import annotations

import logging
import os
from typing import List, Mapping, Optional, Sequence

import torch
import torch.nn as nn

from util.errors import UserError

from .networks import NormLayer, ResnetBlock, full_precision, get_norm_layer

logger = logging.getLogger(__name__)

GENERATOR_CHOICES = ("global", "local")
# torchvision's file name for its ImageNet VGG19 weights, and where torch.hub would have cached it
VGG19_FILE = "vgg19-dcbb9e9d.pth"
VGG19_URL = f"https://download.pytorch.org/models/{VGG19_FILE}"
# relu1_1, relu2_1, relu3_1, relu4_1, relu5_1: the last index of each slice of vgg19.features, and its weight
VGG_SLICE_ENDS = (1, 6, 11, 20, 29)
VGG_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)


def hd_init_weights(net: nn.Module) -> None:
    """The reference's init: conv weights ~ N(0, 0.02) with PyTorch's default biases; batch norm N(1, 0.02), 0."""
    def init_module(m: nn.Module) -> None:
        if isinstance(m, nn.modules.conv._ConvNd):
            m.weight.normal_(0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.normal_(1.0, 0.02)
            m.bias.fill_(0)

    with torch.no_grad():
        net.apply(init_module)


def _resnet_block(dim: int, norm_layer: NormLayer) -> ResnetBlock:
    """pix2pixHD's residual block: reflect padding, biases always, no dropout (keys conv_block.1 / .5)."""
    return ResnetBlock(dim, "reflect", norm_layer, use_dropout=False, use_bias=True)


def _global_layers(input_nc: int, output_nc: int, ngf: int, n_downsampling: int, n_blocks: int,
                   norm_layer: NormLayer) -> List[nn.Module]:
    """The layer list of a global generator: 7x7 conv, stride-2 convs, residual blocks, transposed convs, 7x7."""
    layers: List[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, kernel_size=7, padding=0),
                               norm_layer(ngf), nn.ReLU(True)]
    for i in range(n_downsampling):
        mult = 2 ** i
        layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1),
                   norm_layer(ngf * mult * 2), nn.ReLU(True)]
    mult = 2 ** n_downsampling
    layers += [_resnet_block(ngf * mult, norm_layer) for _ in range(n_blocks)]
    for i in range(n_downsampling):
        mult = 2 ** (n_downsampling - i)
        layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, kernel_size=3, stride=2, padding=1,
                                      output_padding=1),
                   norm_layer(ngf * mult // 2), nn.ReLU(True)]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, kernel_size=7, padding=0), nn.Tanh()]
    return layers


class GlobalGenerator(nn.Module):
    """G1 of the paper: ``n_downsampling`` stride-2 convs, ``n_blocks`` residual blocks, back up. Keys ``model.*``."""

    def __init__(self, input_nc: int, output_nc: int, ngf: int = 64, n_downsampling: int = 3, n_blocks: int = 9,
                 norm_layer: NormLayer = nn.BatchNorm2d) -> None:
        super().__init__()
        self.model = nn.Sequential(*_global_layers(input_nc, output_nc, ngf, n_downsampling, n_blocks, norm_layer))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.model(input)


class LocalEnhancer(nn.Module):
    """G2 of the paper: a global generator of width ``ngf * 2**L`` (without its output layers) run on the input
    downsampled L times, then L enhancers, each adding its front end's features to the coarser result.

    Enhancer n (1 = coarsest) is ``model{n}_1`` (front end) and ``model{n}_2`` (residual blocks, upsampling;
    the outermost one also has the output layers).
    """

    def __init__(self, input_nc: int, output_nc: int, ngf: int = 32, n_downsample_global: int = 3,
                 n_blocks_global: int = 9, n_local_enhancers: int = 1, n_blocks_local: int = 3,
                 norm_layer: NormLayer = nn.BatchNorm2d) -> None:
        super().__init__()
        if n_local_enhancers < 1:
            raise UserError(f"--n_local_enhancers must be at least 1 with --netG local, got {n_local_enhancers}")
        self.n_local_enhancers = n_local_enhancers
        ngf_global = ngf * 2 ** n_local_enhancers
        trunk = _global_layers(input_nc, output_nc, ngf_global, n_downsample_global, n_blocks_global, norm_layer)
        self.model = nn.Sequential(*trunk[:-3])
        for n in range(1, n_local_enhancers + 1):
            width = ngf * 2 ** (n_local_enhancers - n)
            front = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, width, kernel_size=7, padding=0),
                     norm_layer(width), nn.ReLU(True),
                     nn.Conv2d(width, width * 2, kernel_size=3, stride=2, padding=1),
                     norm_layer(width * 2), nn.ReLU(True)]
            back: List[nn.Module] = [_resnet_block(width * 2, norm_layer) for _ in range(n_blocks_local)]
            back += [nn.ConvTranspose2d(width * 2, width, kernel_size=3, stride=2, padding=1, output_padding=1),
                     norm_layer(width), nn.ReLU(True)]
            if n == n_local_enhancers:
                back += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, kernel_size=7, padding=0), nn.Tanh()]
            setattr(self, f"model{n}_1", nn.Sequential(*front))
            setattr(self, f"model{n}_2", nn.Sequential(*back))
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        pyramid = [input]
        for _ in range(self.n_local_enhancers):
            pyramid.append(self.downsample(pyramid[-1]))
        out = self.model(pyramid[-1])
        for n in range(1, self.n_local_enhancers + 1):
            front = getattr(self, f"model{n}_1")(pyramid[self.n_local_enhancers - n])
            out = getattr(self, f"model{n}_2")(front + out)
        return out


def instance_average(features: torch.Tensor, inst: torch.Tensor) -> torch.Tensor:
    """Replace every pixel of ``features`` (N x C x H x W) by the mean of its region in ``inst`` (N x 1 x H x W).

    One mean per (sample, instance id, channel), computed with a scatter-add (the reference looped over ids,
    samples and channels); gradients flow through the means.
    """
    n, c = features.shape[:2]
    out = []
    for b in range(n):
        ids, region = torch.unique(inst[b, 0].reshape(-1), return_inverse=True)
        flat = features[b].reshape(c, -1)
        sums = flat.new_zeros(c, len(ids)).index_add_(1, region, flat)
        counts = torch.bincount(region, minlength=len(ids)).to(flat.dtype)
        out.append((sums / counts)[:, region].reshape(features.shape[1:]))
    return torch.stack(out)


class Encoder(nn.Module):
    """E of the paper: a global generator without residual blocks whose output is averaged per instance.

    ``forward(image, inst)`` returns an N x feat_num x H x W map, constant over each region of ``inst``.
    """

    def __init__(self, input_nc: int, output_nc: int, ngf: int = 16, n_downsampling: int = 4,
                 norm_layer: NormLayer = nn.BatchNorm2d) -> None:
        super().__init__()
        self.model = nn.Sequential(*_global_layers(input_nc, output_nc, ngf, n_downsampling, 0, norm_layer))

    def forward(self, input: torch.Tensor, inst: torch.Tensor) -> torch.Tensor:
        return instance_average(self.model(input), inst)


def _patch_blocks(input_nc: int, ndf: int, n_layers: int, norm_layer: NormLayer,
                  use_sigmoid: bool) -> List[nn.Sequential]:
    """The blocks of one PatchGAN (kernel 4, padding 2): their outputs are the features of feature matching."""
    kw, padw = 4, 2
    blocks = [nn.Sequential(nn.Conv2d(input_nc, ndf, kernel_size=kw, stride=2, padding=padw),
                            nn.LeakyReLU(0.2, True))]
    nf = ndf
    for n in range(1, n_layers + 1):
        nf_prev, nf = nf, min(nf * 2, 512)
        stride = 2 if n < n_layers else 1
        blocks.append(nn.Sequential(nn.Conv2d(nf_prev, nf, kernel_size=kw, stride=stride, padding=padw),
                                    norm_layer(nf), nn.LeakyReLU(0.2, True)))
    last: List[nn.Module] = [nn.Conv2d(nf, 1, kernel_size=kw, stride=1, padding=padw)]
    if use_sigmoid:
        last.append(nn.Sigmoid())
    blocks.append(nn.Sequential(*last))
    return blocks


class MultiscaleDiscriminator(nn.Module):
    """``num_D`` PatchGANs, each on the input average-pooled once more; ``scale{num_D-1}`` sees full resolution.

    ``forward`` returns one list per scale (finest first): all block outputs with ``get_interm_feat`` (keys
    ``scale{i}_layer{j}``), else only the logits (keys ``layer{i}``, the blocks flattened).
    """

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3, norm_layer: NormLayer = nn.BatchNorm2d,
                 use_sigmoid: bool = False, num_D: int = 3, get_interm_feat: bool = False) -> None:
        super().__init__()
        self.num_D, self.n_layers, self.get_interm_feat = num_D, n_layers, get_interm_feat
        for i in range(num_D):
            blocks = _patch_blocks(input_nc, ndf, n_layers, norm_layer, use_sigmoid)
            if get_interm_feat:
                for j, block in enumerate(blocks):
                    setattr(self, f"scale{i}_layer{j}", block)
            else:
                setattr(self, f"layer{i}", nn.Sequential(*[m for block in blocks for m in block]))
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def single_scale(self, i: int, x: torch.Tensor) -> List[torch.Tensor]:
        if not self.get_interm_feat:
            return [getattr(self, f"layer{i}")(x)]
        outputs = []
        for j in range(self.n_layers + 2):
            x = getattr(self, f"scale{i}_layer{j}")(x)
            outputs.append(x)
        return outputs

    def forward(self, input: torch.Tensor) -> List[List[torch.Tensor]]:
        results = []
        x = input
        for k in range(self.num_D):
            results.append(self.single_scale(self.num_D - 1 - k, x))
            if k != self.num_D - 1:
                x = self.downsample(x)
        return results


def define_G(input_nc: int, output_nc: int, ngf: int, netG: str, n_downsample_global: int = 3,
             n_blocks_global: int = 9, n_local_enhancers: int = 1, n_blocks_local: int = 3,
             norm: str = "instance") -> nn.Module:
    """The reference's ``define_G`` (same arguments, no gpu_ids): ``global``, ``local`` or ``encoder``, built by
    the architecture table's entries, with the reference's initialisation."""
    from . import architectures  # the table imports this module's classes

    if netG not in GENERATOR_CHOICES + ("encoder",):
        raise UserError(f"--netG {netG!r} is not a pix2pixHD generator; choose one of {' | '.join(GENERATOR_CHOICES)}")
    net = architectures.generator(netG).build(
        input_nc=input_nc, output_nc=output_nc, ngf=ngf, norm_layer=get_norm_layer(norm),
        n_downsample_global=n_downsample_global, n_blocks_global=n_blocks_global,
        n_local_enhancers=n_local_enhancers, n_blocks_local=n_blocks_local, n_downsample_E=n_downsample_global)
    hd_init_weights(net)
    return net


def define_D(input_nc: int, ndf: int, n_layers_D: int, norm: str = "instance", use_sigmoid: bool = False,
             num_D: int = 1, getIntermFeat: bool = False) -> nn.Module:
    """The reference's ``define_D`` (same arguments, no gpu_ids): always the multi-scale discriminator."""
    if n_layers_D < 1 or num_D < 1:
        raise UserError(f"--n_layers_D and --num_D must be at least 1, got {n_layers_D} and {num_D}")
    from . import architectures  # the table imports this module's classes

    net = architectures.discriminator("multiscale").build(input_nc=input_nc, ndf=ndf, n_layers_D=n_layers_D,
                                                          norm_layer=get_norm_layer(norm), num_D=num_D,
                                                          get_interm_feat=getIntermFeat, use_sigmoid=use_sigmoid)
    hd_init_weights(net)
    return net


def input_multiple(netG: str, n_downsample_global: int, n_local_enhancers: int, n_downsample_E: int = 0) -> int:
    """The side length inputs must be a multiple of: stride-2 convs round up, transposed convs double exactly.

    ``n_downsample_E``: the encoder's downsamplings where it runs (its output is pooled by the full-size map).
    """
    return max(2 ** (n_downsample_global + (n_local_enhancers if netG == "local" else 0)), 2 ** n_downsample_E)


class VGG19Features(nn.Module):
    """vgg19.features cut into the five slices of the perceptual loss; frozen.

    Built from torchvision's layout so that its state_dict (``features.{index}.*``) loads, minus the classifier.
    """

    def __init__(self, state_dict: Optional[Mapping[str, torch.Tensor]] = None, source: str = "") -> None:
        super().__init__()
        from torchvision.models import vgg

        # only the convolutional part: building the whole vgg19 would initialise 120 M unused classifier weights
        features = vgg.make_layers(vgg.cfgs["E"])[: VGG_SLICE_ENDS[-1] + 1]
        if state_dict is not None:
            wanted = {k[len("features."):]: v for k, v in state_dict.items() if k.startswith("features.")}
            expected = features.state_dict()
            missing = [k for k in expected if k not in wanted]
            wrong = [k for k in expected if k in wanted and wanted[k].shape != expected[k].shape]
            if missing or wrong:
                what = f"missing features.{missing[0]}" if missing else f"wrong shape of features.{wrong[0]}"
                raise UserError(f"--vgg_weights {source}: not torchvision's vgg19 state_dict ({what})")
            features.load_state_dict({k: wanted[k] for k in expected})
        starts = (0,) + tuple(end + 1 for end in VGG_SLICE_ENDS[:-1])
        self.slices = nn.ModuleList(nn.Sequential(*features[s: e + 1]) for s, e in zip(starts, VGG_SLICE_ENDS))
        for p in self.parameters():
            p.requires_grad = False

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        outputs = []
        for block in self.slices:
            x = block(x)
            outputs.append(x)
        return outputs


def default_vgg_weights() -> str:
    """Where torchvision would have cached its VGG19 weights (used when --vgg_weights is not given)."""
    return os.path.join(torch.hub.get_dir(), "checkpoints", VGG19_FILE)


def load_vgg19(path: Optional[str]) -> VGG19Features:
    """The frozen VGG19 of the perceptual loss from a local torchvision state_dict file (no download here)."""
    path = path or default_vgg_weights()
    if not os.path.isfile(path):
        raise UserError(f"--vgg_weights: {path} not found; the VGG loss needs torchvision's ImageNet VGG19 weights: "
                        f"download {VGG19_URL} and pass --vgg_weights PATH, or train without it (--no_vgg_loss)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load raises many types for a bad file
        raise UserError(f"--vgg_weights {path}: cannot read it as a PyTorch file: "
                        f"{(str(err).splitlines() or [type(err).__name__])[0][:200]}") from err
    if not isinstance(state, Mapping):
        raise UserError(f"--vgg_weights {path}: not a state_dict (it holds {type(state).__name__})")
    return VGG19Features(state, path)


class VGGLoss(nn.Module):
    """Perceptual loss: sum over the five slices of weight * mean |phi(x) - phi(y)|, target detached.

    Images go in as they are, in [-1, 1], without ImageNet normalisation: the reference did so and its
    checkpoints and loss values depend on it.
    """

    def __init__(self, vgg: VGG19Features) -> None:
        super().__init__()
        self.vgg = vgg

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        fx, fy = self.vgg(x), self.vgg(y)
        # in float32 under --amp: a mean of small feature differences in bf16/fp16 loses them
        return sum(w * torch.mean(torch.abs(full_precision(a) - full_precision(b.detach())))
                   for w, a, b in zip(VGG_WEIGHTS, fx, fy))


def feature_matching_loss(pred_fake: Sequence[Sequence[torch.Tensor]], pred_real: Sequence[Sequence[torch.Tensor]],
                          lambda_feat: float) -> torch.Tensor:
    """Sum over scales and intermediate blocks of (1/num_D) * (4/(n_layers+1)) * lambda * mean L1, real detached."""
    num_D = len(pred_fake)
    total = pred_fake[0][0].new_zeros(())
    for fake_scale, real_scale in zip(pred_fake, pred_real):
        n_layers = len(fake_scale) - 2
        weight = (1.0 / num_D) * (4.0 / (n_layers + 1)) * lambda_feat
        for fake, real in zip(fake_scale[:-1], real_scale[:-1]):
            # in float32 under --amp
            total = total + weight * torch.mean(torch.abs(full_precision(fake) - full_precision(real.detach())))
    return total


def multiscale_gan_loss(criterion: nn.Module, predictions: Sequence[Sequence[torch.Tensor]],
                        target_is_real: bool) -> torch.Tensor:
    """``criterion`` on each scale's logits (the last output), summed over scales as the reference does."""
    return sum(criterion(scale[-1], target_is_real) for scale in predictions)

