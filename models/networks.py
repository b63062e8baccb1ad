"""Generators, discriminators, losses, schedulers and checkpoint I/O with the reference's layouts.

The layer order, the attribute names (``model`` / ``net``) and the bias rule (a conv before a norm slot has a
bias only with instance norm) are those of the reference implementation, because the state_dict keys of its
checkpoints (and of the pretrained models people download) depend on them.
"""
from __future__ import annotations

import functools
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from torch.nn import init
from torch.optim import lr_scheduler

from util.errors import UserError

logger = logging.getLogger(__name__)

NormLayer = Callable[[int], nn.Module]

NORM_CHOICES = ("batch", "instance", "syncbatch", "none")
INIT_CHOICES = ("normal", "xavier", "kaiming", "orthogonal")
NET_G_CHOICES = ("resnet_9blocks", "resnet_6blocks", "unet_256", "unet_128")
NET_D_CHOICES = ("basic", "n_layers", "pixel")
GAN_MODE_CHOICES = ("lsgan", "vanilla", "wgangp")
LR_POLICY_CHOICES = ("linear", "step", "plateau", "cosine")


def _choices(values: Sequence[str]) -> str:
    return " | ".join(values)


class CheckpointMismatchError(UserError):
    """A checkpoint's keys or shapes do not fit the network built from the current flags."""


###############################################################################
# Normalization and initialisation
###############################################################################


class Identity(nn.Module):
    """Stands in for a norm layer with ``--norm none``; it has no parameters and so adds no keys."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _no_norm(num_features: int) -> nn.Module:
    return Identity()


def get_norm_layer(norm_type: str = "instance") -> NormLayer:
    """Return a constructor ``f(num_features) -> module`` for ``--norm``.

    Instance norm is affine-free and tracks no running statistics, so it contributes no state_dict keys.
    """
    if norm_type == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if norm_type == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    if norm_type == "syncbatch":
        return functools.partial(nn.SyncBatchNorm, affine=True, track_running_stats=True)
    if norm_type == "none":
        return _no_norm
    raise UserError(f"--norm {norm_type!r} is not a known normalization; choose one of {_choices(NORM_CHOICES)}")


def _uses_bias(norm_layer: NormLayer) -> bool:
    """The reference's rule: convolutions in front of a norm slot have a bias only with instance norm."""
    layer_cls = getattr(norm_layer, "func", norm_layer)
    return isinstance(layer_cls, type) and issubclass(layer_cls, nn.InstanceNorm2d)


def init_weights(net: nn.Module, init_type: str = "normal", init_gain: float = 0.02) -> None:
    """Initialise conv/linear weights with ``init_type`` and biases with 0; batch-norm weights ~ N(1, gain).

    Modules are visited in ``nn.Module.apply`` order, as in the reference, so a given seed draws the same
    numbers. SyncBatchNorm is initialised like BatchNorm2d (the reference skipped it).
    """
    if init_type not in INIT_CHOICES:
        raise UserError(f"--init_type {init_type!r} is not a known initialization; "
                        f"choose one of {_choices(INIT_CHOICES)}")

    def init_module(m: nn.Module) -> None:
        if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)):
            if init_type == "normal":
                init.normal_(m.weight, 0.0, init_gain)
            elif init_type == "xavier":
                init.xavier_normal_(m.weight, gain=init_gain)
            elif init_type == "kaiming":
                init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            else:
                init.orthogonal_(m.weight, gain=init_gain)
            if m.bias is not None:
                init.constant_(m.bias, 0.0)
        elif isinstance(m, (nn.BatchNorm2d, nn.SyncBatchNorm)) and m.weight is not None:
            init.normal_(m.weight, 1.0, init_gain)
            init.constant_(m.bias, 0.0)

    logger.info("initialize network with %s", init_type)
    with torch.no_grad():
        net.apply(init_module)


def init_net(net: nn.Module, init_type: str = "normal", init_gain: float = 0.02,
             gpu_ids: Sequence[int] = ()) -> nn.Module:
    """Initialise ``net`` (on the CPU, so a seed gives the same weights on any device), then move it to
    ``cuda:gpu_ids[0]`` when GPUs are given. Multi-GPU wrapping is left to the caller (DDP)."""
    init_weights(net, init_type, init_gain)
    if gpu_ids:
        if not torch.cuda.is_available():
            raise UserError(f"--gpu_ids {','.join(str(i) for i in gpu_ids)} asks for a GPU, but CUDA is not "
                            "available (use --gpu_ids -1 for the CPU)")
        net.to(torch.device("cuda", gpu_ids[0]))
    return net


###############################################################################
# Network builders
###############################################################################


def define_G(input_nc: int, output_nc: int, ngf: int, netG: str, norm: str = "batch", use_dropout: bool = False,
             init_type: str = "normal", init_gain: float = 0.02, gpu_ids: Sequence[int] = ()) -> nn.Module:
    """Build and initialise a generator: resnet_9blocks | resnet_6blocks | unet_256 | unet_128."""
    norm_layer = get_norm_layer(norm)
    if netG == "resnet_9blocks":
        net: nn.Module = ResnetGenerator(input_nc, output_nc, ngf, norm_layer=norm_layer, use_dropout=use_dropout,
                                         n_blocks=9)
    elif netG == "resnet_6blocks":
        net = ResnetGenerator(input_nc, output_nc, ngf, norm_layer=norm_layer, use_dropout=use_dropout, n_blocks=6)
    elif netG == "unet_128":
        net = UnetGenerator(input_nc, output_nc, 7, ngf, norm_layer=norm_layer, use_dropout=use_dropout)
    elif netG == "unet_256":
        net = UnetGenerator(input_nc, output_nc, 8, ngf, norm_layer=norm_layer, use_dropout=use_dropout)
    else:
        raise UserError(f"--netG {netG!r} is not a known generator; choose one of {_choices(NET_G_CHOICES)}")
    return init_net(net, init_type, init_gain, gpu_ids)


def generator_multiple(netG: str) -> int:
    """The side length every input of ``netG`` must be a multiple of.

    A ResNet generator downsamples twice (stride 2), a U-Net 7 (unet_128) or 8 (unet_256) times down to 1x1.
    """
    if netG.startswith("resnet_"):
        return 4
    if netG == "unet_256":
        return 256
    if netG == "unet_128":
        return 128
    raise UserError(f"--netG {netG!r} is not a known generator; choose one of "
                    f"{' | '.join(NET_G_CHOICES)}")


def define_D(input_nc: int, ndf: int, netD: str, n_layers_D: int = 3, norm: str = "batch",
             init_type: str = "normal", init_gain: float = 0.02, gpu_ids: Sequence[int] = ()) -> nn.Module:
    """Build and initialise a discriminator: basic (70x70 PatchGAN) | n_layers | pixel (1x1 PatchGAN)."""
    norm_layer = get_norm_layer(norm)
    if netD == "basic":
        net: nn.Module = NLayerDiscriminator(input_nc, ndf, n_layers=3, norm_layer=norm_layer)
    elif netD == "n_layers":
        if n_layers_D < 1:
            raise UserError(f"--n_layers_D must be at least 1 (got {n_layers_D})")
        net = NLayerDiscriminator(input_nc, ndf, n_layers_D, norm_layer=norm_layer)
    elif netD == "pixel":
        net = PixelDiscriminator(input_nc, ndf, norm_layer=norm_layer)
    else:
        raise UserError(f"--netD {netD!r} is not a known discriminator; choose one of {_choices(NET_D_CHOICES)}")
    return init_net(net, init_type, init_gain, gpu_ids)


###############################################################################
# Losses and schedulers
###############################################################################


class GANLoss(nn.Module):
    """Adversarial loss for ``--gan_mode`` lsgan (MSE), vanilla (BCE on logits) or wgangp (signed mean).

    For a prediction map ``p`` of D and a target ``t`` (1 for real, 0 for fake): vanilla is the original GAN's
    ``-mean(t log s(p) + (1 - t) log(1 - s(p)))`` with ``s`` the sigmoid; lsgan is ``mean((p - t)^2)``, whose
    gradients do not vanish for confident D (the CycleGAN paper's choice); wgangp is ``-mean(p)`` for real and
    ``mean(p)`` for fake, a Wasserstein critic kept 1-Lipschitz by ``cal_gradient_penalty``. With a PatchGAN
    ``p`` is a map and every patch is judged. The target labels are buffers so ``.to(device)`` moves them.
    """

    def __init__(self, gan_mode: str, target_real_label: float = 1.0, target_fake_label: float = 0.0) -> None:
        super().__init__()
        self.register_buffer("real_label", torch.tensor(target_real_label))
        self.register_buffer("fake_label", torch.tensor(target_fake_label))
        self.gan_mode = gan_mode
        self.loss: Optional[nn.Module]
        if gan_mode == "lsgan":
            self.loss = nn.MSELoss()
        elif gan_mode == "vanilla":
            self.loss = nn.BCEWithLogitsLoss()
        elif gan_mode == "wgangp":
            self.loss = None
        else:
            raise UserError(f"--gan_mode {gan_mode!r} is not a known GAN objective; "
                            f"choose one of {_choices(GAN_MODE_CHOICES)}")

    def get_target_tensor(self, prediction: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        """The real or fake label, expanded to the prediction's shape."""
        label = self.real_label if target_is_real else self.fake_label
        return label.expand_as(prediction)

    def forward(self, prediction: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        if self.loss is None:
            return -prediction.mean() if target_is_real else prediction.mean()
        return self.loss(prediction, self.get_target_tensor(prediction, target_is_real))


def cal_gradient_penalty(netD: nn.Module, real_data: torch.Tensor, fake_data: torch.Tensor,
                         device: Union[torch.device, str], type: str = "mixed", constant: float = 1.0,
                         lambda_gp: float = 10.0) -> Tuple[Union[torch.Tensor, float], Optional[torch.Tensor]]:
    """WGAN-GP penalty ``lambda_gp * mean((||grad_x D(x)|| - constant)^2)`` and the per-sample gradients.

    ``x`` is the real data, the fake data, or (``mixed``) a per-sample uniform blend of the two. The penalty
    keeps its graph (create_graph) so that it can be added to the discriminator loss.
    """
    if lambda_gp <= 0.0:
        return 0.0, None
    if type == "real":
        inputs = real_data
    elif type == "fake":
        inputs = fake_data
    elif type == "mixed":
        alpha = torch.rand(real_data.shape[0], 1, device=device)
        alpha = alpha.expand(real_data.shape[0], real_data.nelement() // real_data.shape[0])
        alpha = alpha.contiguous().view(*real_data.shape)
        inputs = alpha * real_data + (1 - alpha) * fake_data
    else:
        raise ValueError(f"gradient penalty type {type!r} is not one of real | fake | mixed")
    if not inputs.requires_grad:
        inputs = inputs.detach().requires_grad_(True)
    disc = netD(inputs)
    gradients = torch.autograd.grad(outputs=disc, inputs=inputs, grad_outputs=torch.ones_like(disc),
                                    create_graph=True, retain_graph=True, only_inputs=True)[0]
    gradients = gradients.reshape(real_data.size(0), -1)
    penalty = (((gradients + 1e-16).norm(2, dim=1) - constant) ** 2).mean() * lambda_gp
    return penalty, gradients


def get_scheduler(optimizer: torch.optim.Optimizer, opt: Any) -> Any:
    """Learning-rate scheduler for ``opt.lr_policy``; it is meant to be stepped at the END of each epoch.

    linear: epoch k trains with ``1 - max(0, k - n_epochs) / (n_epochs_decay + 1)`` (k starts at
    ``epoch_count``), so the LR stays flat for n_epochs and never reaches 0. cosine spans all
    ``n_epochs + n_epochs_decay`` epochs (the reference restarted it after n_epochs). step divides the LR by
    10 every ``lr_decay_iters`` epochs; plateau multiplies it by 0.2 when the metric stalls.
    """
    policy = opt.lr_policy
    if policy == "linear":
        epoch_count, n_epochs, n_epochs_decay = opt.epoch_count, opt.n_epochs, opt.n_epochs_decay

        def lambda_rule(step: int) -> float:
            return 1.0 - max(0, step + epoch_count - n_epochs) / float(n_epochs_decay + 1)

        return lr_scheduler.LambdaLR(optimizer, lr_lambda=lambda_rule)
    if policy == "step":
        return lr_scheduler.StepLR(optimizer, step_size=opt.lr_decay_iters, gamma=0.1)
    if policy == "plateau":
        return lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.2, threshold=0.01, patience=5)
    if policy == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=opt.n_epochs + opt.n_epochs_decay, eta_min=0)
    raise UserError(f"--lr_policy {policy!r} is not a known learning-rate policy; "
                    f"choose one of {_choices(LR_POLICY_CHOICES)}")


def schedule_flags(opt: Any) -> Dict[str, Any]:
    """The flags that shape the learning-rate schedule, saved with the training state to notice a change."""
    return {k: getattr(opt, k) for k in ("lr", "lr_policy", "n_epochs", "n_epochs_decay", "lr_decay_iters",
                                         "epoch_count")}


def resume_scheduler(scheduler: Any, saved: Dict[str, Any], lr: float, same_flags: bool) -> None:
    """Restore a saved scheduler; when the schedule flags changed, continue under the flags given now.

    With the same flags the saved state is loaded as it is (bitwise like an uninterrupted run). Otherwise only
    the number of epochs done is taken from the save and the rate is computed from the new schedule, as a
    straight run with the new flags has it at that epoch (the plateau policy keeps its saved state: its rate
    depends on the metric's history, not on the flags).
    """
    if same_flags or isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
        scheduler.load_state_dict(saved)
        return
    epochs_done = saved["last_epoch"]
    groups = scheduler.optimizer.param_groups
    for group in groups:
        group["initial_lr"] = lr
    scheduler.base_lrs = [lr] * len(groups)
    scheduler.last_epoch = epochs_done
    if isinstance(scheduler, lr_scheduler.LambdaLR):
        rates = [lr * rule(epochs_done) for rule in scheduler.lr_lambdas]
    else:
        rates = scheduler._get_closed_form_lr()
    for group, rate in zip(groups, rates):
        group["lr"] = rate
    scheduler._last_lr = [group["lr"] for group in groups]


###############################################################################
# Generators
###############################################################################


class ResnetGenerator(nn.Module):
    """Encoder (7x7 conv, two stride-2 convs), ``n_blocks`` residual blocks, decoder (two transposed convs,
    7x7 conv, tanh). Keys: ``model.{index}.*``."""

    def __init__(self, input_nc: int, output_nc: int, ngf: int = 64, norm_layer: NormLayer = nn.BatchNorm2d,
                 use_dropout: bool = False, n_blocks: int = 6, padding_type: str = "reflect") -> None:
        if n_blocks < 0:
            raise ValueError(f"n_blocks must be >= 0, got {n_blocks}")
        super().__init__()
        use_bias = _uses_bias(norm_layer)
        layers: List[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, kernel_size=7, padding=0,
                                                                    bias=use_bias),
                                   norm_layer(ngf), nn.ReLU(True)]
        n_downsampling = 2
        for i in range(n_downsampling):
            mult = 2 ** i
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1, bias=use_bias),
                       norm_layer(ngf * mult * 2), nn.ReLU(True)]
        mult = 2 ** n_downsampling
        for _ in range(n_blocks):
            layers.append(ResnetBlock(ngf * mult, padding_type=padding_type, norm_layer=norm_layer,
                                      use_dropout=use_dropout, use_bias=use_bias))
        for i in range(n_downsampling):
            mult = 2 ** (n_downsampling - i)
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, kernel_size=3, stride=2, padding=1,
                                          output_padding=1, bias=use_bias),
                       norm_layer(ngf * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, kernel_size=7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.model(input)


class ResnetBlock(nn.Module):
    """``x + conv_block(x)`` with conv_block = [pad, conv, norm, ReLU, (Dropout), pad, conv, norm].

    The optional Dropout shifts the second conv from index 5 to 6, which is why ``--no_dropout`` must match
    the checkpoint.
    """

    def __init__(self, dim: int, padding_type: str, norm_layer: NormLayer, use_dropout: bool,
                 use_bias: bool) -> None:
        super().__init__()
        self.conv_block = self.build_conv_block(dim, padding_type, norm_layer, use_dropout, use_bias)

    @staticmethod
    def _padding(padding_type: str) -> Tuple[List[nn.Module], int]:
        if padding_type == "reflect":
            return [nn.ReflectionPad2d(1)], 0
        if padding_type == "replicate":
            return [nn.ReplicationPad2d(1)], 0
        if padding_type == "zero":
            return [], 1
        raise ValueError(f"padding type {padding_type!r} is not one of reflect | replicate | zero")

    def build_conv_block(self, dim: int, padding_type: str, norm_layer: NormLayer, use_dropout: bool,
                         use_bias: bool) -> nn.Sequential:
        pad, p = self._padding(padding_type)
        layers: List[nn.Module] = pad + [nn.Conv2d(dim, dim, kernel_size=3, padding=p, bias=use_bias),
                                         norm_layer(dim), nn.ReLU(True)]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        pad, p = self._padding(padding_type)
        layers += pad + [nn.Conv2d(dim, dim, kernel_size=3, padding=p, bias=use_bias), norm_layer(dim)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class UnetGenerator(nn.Module):
    """U-Net with ``num_downs`` stride-2 downsamplings (8 for 256 px inputs, 7 for 128 px), built from the
    innermost block outwards. Keys: ``model.model.*`` nested through ``.model.1`` / ``.model.3``."""

    def __init__(self, input_nc: int, output_nc: int, num_downs: int, ngf: int = 64,
                 norm_layer: NormLayer = nn.BatchNorm2d, use_dropout: bool = False) -> None:
        if num_downs < 5:
            raise ValueError(f"num_downs must be >= 5, got {num_downs}")
        super().__init__()
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=None, norm_layer=norm_layer, innermost=True)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=block, norm_layer=norm_layer,
                                            use_dropout=use_dropout)
        block = UnetSkipConnectionBlock(ngf * 4, ngf * 8, submodule=block, norm_layer=norm_layer)
        block = UnetSkipConnectionBlock(ngf * 2, ngf * 4, submodule=block, norm_layer=norm_layer)
        block = UnetSkipConnectionBlock(ngf, ngf * 2, submodule=block, norm_layer=norm_layer)
        self.model = UnetSkipConnectionBlock(output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True,
                                             norm_layer=norm_layer)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.model(input)


class UnetSkipConnectionBlock(nn.Module):
    """One U-Net level: downsample, the inner submodule, upsample; non-outermost levels concatenate their
    input to the output (the skip connection)."""

    def __init__(self, outer_nc: int, inner_nc: int, input_nc: Optional[int] = None,
                 submodule: Optional[nn.Module] = None, outermost: bool = False, innermost: bool = False,
                 norm_layer: NormLayer = nn.BatchNorm2d, use_dropout: bool = False) -> None:
        super().__init__()
        self.outermost = outermost
        use_bias = _uses_bias(norm_layer)
        if input_nc is None:
            input_nc = outer_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
        layers: List[nn.Module]
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            layers = [downconv, _required(submodule), nn.ReLU(True), upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            layers = [nn.LeakyReLU(0.2, True), downconv, nn.ReLU(True), upconv, norm_layer(outer_nc)]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            layers = [nn.LeakyReLU(0.2, True), downconv, norm_layer(inner_nc), _required(submodule),
                      nn.ReLU(True), upconv, norm_layer(outer_nc)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


def _required(submodule: Optional[nn.Module]) -> nn.Module:
    if submodule is None:
        raise ValueError("a U-Net block that is not the innermost one needs a submodule")
    return submodule


###############################################################################
# Discriminators
###############################################################################


class NLayerDiscriminator(nn.Module):
    """PatchGAN with ``n_layers`` stride-2 4x4 convs; outputs raw logits per patch. Keys: ``model.{index}.*``."""

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3,
                 norm_layer: NormLayer = nn.BatchNorm2d) -> None:
        super().__init__()
        use_bias = _uses_bias(norm_layer)
        kw, padw = 4, 1
        layers: List[nn.Module] = [nn.Conv2d(input_nc, ndf, kernel_size=kw, stride=2, padding=padw),
                                   nn.LeakyReLU(0.2, True)]
        nf_mult = 1
        for n in range(1, n_layers):
            nf_mult_prev, nf_mult = nf_mult, min(2 ** n, 8)
            layers += [nn.Conv2d(ndf * nf_mult_prev, ndf * nf_mult, kernel_size=kw, stride=2, padding=padw,
                                 bias=use_bias),
                       norm_layer(ndf * nf_mult), nn.LeakyReLU(0.2, True)]
        nf_mult_prev, nf_mult = nf_mult, min(2 ** n_layers, 8)
        layers += [nn.Conv2d(ndf * nf_mult_prev, ndf * nf_mult, kernel_size=kw, stride=1, padding=padw,
                             bias=use_bias),
                   norm_layer(ndf * nf_mult), nn.LeakyReLU(0.2, True),
                   nn.Conv2d(ndf * nf_mult, 1, kernel_size=kw, stride=1, padding=padw)]
        self.model = nn.Sequential(*layers)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.model(input)


class PixelDiscriminator(nn.Module):
    """1x1 PatchGAN: judges every pixel on its own. Keys: ``net.{index}.*``."""

    def __init__(self, input_nc: int, ndf: int = 64, norm_layer: NormLayer = nn.BatchNorm2d) -> None:
        super().__init__()
        use_bias = _uses_bias(norm_layer)
        self.net = nn.Sequential(
            nn.Conv2d(input_nc, ndf, kernel_size=1, stride=1, padding=0),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, kernel_size=1, stride=1, padding=0, bias=use_bias),
            norm_layer(ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, kernel_size=1, stride=1, padding=0, bias=use_bias))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.net(input)


###############################################################################
# Checkpoint files
###############################################################################

_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def _unwrap(net: nn.Module) -> nn.Module:
    """The plain network inside DataParallel / DistributedDataParallel / torch.compile wrappers."""
    while True:
        if isinstance(net, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            net = net.module
        elif isinstance(getattr(net, "_orig_mod", None), nn.Module):
            net = net._orig_mod
        else:
            return net


def state_dict_for_saving(net: nn.Module) -> Dict[str, torch.Tensor]:
    """The reference file format: the unwrapped network's state_dict (no prefix) as a CPU copy."""
    state = _unwrap(net).state_dict()
    saved: Dict[str, torch.Tensor] = OrderedDict(
        (key, value.detach().to("cpu", copy=True)) for key, value in state.items())
    metadata = getattr(state, "_metadata", None)
    if metadata is not None:
        saved._metadata = metadata  # type: ignore[attr-defined]
    return saved


def _check_state_dict(obj: Any, source: str) -> None:
    if not isinstance(obj, Mapping) or not obj:
        raise UserError(f"checkpoint {source} is not a network state_dict (it holds "
                        f"{'an empty mapping' if isinstance(obj, Mapping) else type(obj).__name__})")
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise UserError(f"checkpoint {source} is not a network state_dict (entry {key!r} holds "
                            f"{type(value).__name__}, not a tensor)")


def load_checkpoint_file(path: Union[str, Path]) -> Dict[str, torch.Tensor]:
    """Read a ``.pth`` state_dict onto the CPU without running pickled code; a bad file is a UserError."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"checkpoint {p} not found")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load raises many types (EOFError, RuntimeError, UnpicklingError, ...)
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise UserError(f"cannot read checkpoint {p} (truncated or not a PyTorch file?): {reason}") from err
    _check_state_dict(obj, str(p))
    return dict(obj)


def _strip_wrapper_prefix(key: str) -> str:
    stripped = True
    while stripped:
        stripped = False
        for prefix in _WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key, stripped = key[len(prefix):], True
    return key


def load_network_weights(net: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str,
                         hints: Optional[Mapping[str, object]] = None) -> None:
    """Load ``state_dict`` into ``net`` strictly, after the repairs that old reference files need.

    Repairs: ``module.`` / ``_orig_mod.`` prefixes are stripped; running statistics stored for instance-norm
    layers that keep none (pretrained files from 2018) are dropped; a missing BatchNorm
    ``num_batches_tracked`` (pre-0.4 files) takes the network's current value. Anything else that does not fit
    raises ``CheckpointMismatchError`` naming ``source`` and the flag that most likely differs; ``hints``
    holds the current flag values used in that message.
    """
    _check_state_dict(state_dict, source)
    target = _unwrap(net)
    sd: Dict[str, torch.Tensor] = {_strip_wrapper_prefix(k): v for k, v in state_dict.items()}
    modules = dict(target.named_modules())
    for key in list(sd):
        owner_name, _, leaf = key.rpartition(".")
        owner = modules.get(owner_name)
        if isinstance(owner, nn.modules.instancenorm._InstanceNorm):
            if leaf == "num_batches_tracked" or (leaf in ("running_mean", "running_var")
                                                 and owner.running_mean is None):
                del sd[key]
    for name, module in modules.items():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.num_batches_tracked is not None:
            prefix = f"{name}." if name else ""
            if f"{prefix}running_mean" in sd and f"{prefix}num_batches_tracked" not in sd:
                sd[f"{prefix}num_batches_tracked"] = module.num_batches_tracked.detach().clone()

    expected = target.state_dict()
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    wrong_shape = [(k, tuple(sd[k].shape), tuple(expected[k].shape))
                   for k in expected if k in sd and sd[k].shape != expected[k].shape]
    if missing or unexpected or wrong_shape:
        reasons = _diagnose(sd, expected, hints or {})
        details = _mismatch_details(missing, unexpected, wrong_shape)
        raise CheckpointMismatchError(f"checkpoint {source} does not fit the network: {'; '.join(reasons)} "
                                      f"({details})")
    try:
        target.load_state_dict(sd, strict=True)
    except RuntimeError as err:
        reason = (str(err).strip().splitlines() or ["load_state_dict failed"])[0][:300]
        raise CheckpointMismatchError(f"checkpoint {source} does not fit the network: {reason}") from err


def _examples(items: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(items[:limit])
    return shown + (", ..." if len(items) > limit else "")


def _count(n: int, singular: str, plural: str) -> str:
    return f"{n} {singular if n == 1 else plural}"


def _mismatch_details(missing: Sequence[str], unexpected: Sequence[str],
                      wrong_shape: Sequence[Tuple[str, Tuple[int, ...], Tuple[int, ...]]]) -> str:
    parts = []
    if missing:
        parts.append(f"{_count(len(missing), 'key', 'keys')} missing from the file, e.g. {_examples(missing)}")
    if unexpected:
        parts.append(f"{_count(len(unexpected), 'unexpected key', 'unexpected keys')} in the file, "
                     f"e.g. {_examples(unexpected)}")
    if wrong_shape:
        shown = [f"{k}: file {list(a)} vs network {list(b)}" for k, a, b in wrong_shape]
        parts.append(f"{_count(len(wrong_shape), 'shape mismatch', 'shape mismatches')}, e.g. {_examples(shown, 2)}")
    return "; ".join(parts)


###############################################################################
# Reading the architecture off a state_dict (for mismatch messages)
###############################################################################

_GENERATOR_FAMILIES = ("resnet", "unet")
_FAMILY_NAMES = {"resnet": "ResNet generator", "unet": "U-Net generator",
                 "nlayer": "PatchGAN discriminator", "pixel": "pixel discriminator"}
_NORM_EVIDENCE = {"batch": "it has BatchNorm keys", "instance": "its convs have biases and no norm keys",
                  "none": "it has no norm keys and its inner convs no biases"}
_RESNET_BLOCK_KEY = re.compile(r"^model\.(\d+)\.conv_block\.(\d+)\.weight$")
_NLAYER_CONV_KEY = re.compile(r"^model\.(\d+)\.weight$")


@dataclass
class _Layout:
    """What a state_dict says about the flags that built it."""

    family: str
    depth: int  # resnet: residual blocks; unet: downsamplings; nlayer: n_layers; pixel: 0
    norm: str  # batch | instance | none (syncbatch has batch's keys)
    dropout: Optional[bool]  # known for resnet only; dropout leaves no key in the other networks
    width: Optional[int]
    in_nc: Optional[int]
    out_nc: Optional[int]

    @property
    def is_generator(self) -> bool:
        return self.family in _GENERATOR_FAMILIES

    def arch(self) -> str:
        """The --netG / --netD flags that build this layout, or a description when no flag value does."""
        if self.family == "resnet":
            named = {9: "resnet_9blocks", 6: "resnet_6blocks"}.get(self.depth)
            return f"--netG {named}" if named else f"a ResNet generator with {self.depth} blocks"
        if self.family == "unet":
            named = {8: "unet_256", 7: "unet_128"}.get(self.depth)
            return f"--netG {named}" if named else f"a U-Net generator with {self.depth} downsamplings"
        if self.family == "pixel":
            return "--netD pixel"
        return "--netD basic" if self.depth == 3 else f"--netD n_layers --n_layers_D {self.depth}"


def _dims(sd: Mapping[str, torch.Tensor], key: str) -> Optional[Tuple[int, ...]]:
    value = sd.get(key)
    return tuple(value.shape) if value is not None and value.dim() == 4 else None


def _has_vector(sd: Mapping[str, torch.Tensor], key: str) -> bool:
    value = sd.get(key)
    return value is not None and value.dim() == 1


def _read_layout(sd: Mapping[str, torch.Tensor]) -> Optional[_Layout]:
    """Infer the architecture from key names and the first/last conv shapes; None if unrecognised."""
    if "net.0.weight" in sd:
        first = _dims(sd, "net.0.weight")
        norm = "batch" if _has_vector(sd, "net.3.weight") else "instance" if "net.2.bias" in sd else "none"
        return _Layout("pixel", 0, norm, None, first and first[0], first and first[1], None)
    if "model.model.0.weight" in sd:
        depth, prefix = 1, "model.model.1.model"
        while f"{prefix}.1.weight" in sd:
            depth, prefix = depth + 1, f"{prefix}.3.model"
        first, last = _dims(sd, "model.model.0.weight"), _dims(sd, "model.model.3.weight")
        norm = ("batch" if _has_vector(sd, "model.model.1.model.2.weight")
                else "instance" if "model.model.0.bias" in sd else "none")
        return _Layout("unet", depth, norm, None, first and first[0], first and first[1], last and last[1])
    block_convs = [(int(m.group(1)), int(m.group(2))) for m in map(_RESNET_BLOCK_KEY.match, sd) if m
                   and sd[m.group(0)].dim() == 4]
    if block_convs:
        depth = len({block for block, _ in block_convs})
        conv_indices = {index for _, index in block_convs}
        dropout = True if 6 in conv_indices else False if 5 in conv_indices else None
        first, last = _dims(sd, "model.1.weight"), _dims(sd, f"model.{17 + depth}.weight")
        norm = "batch" if _has_vector(sd, "model.2.weight") else "instance" if "model.1.bias" in sd else "none"
        return _Layout("resnet", depth, norm, dropout, first and first[0], first and first[1], last and last[0])
    if "model.0.weight" in sd:
        convs = [m for m in map(_NLAYER_CONV_KEY.match, sd) if m and sd[m.group(0)].dim() == 4]
        first = _dims(sd, "model.0.weight")
        norm = "batch" if _has_vector(sd, "model.3.weight") else "instance" if "model.2.bias" in sd else "none"
        return _Layout("nlayer", len(convs) - 2, norm, None, first and first[0], first and first[1], None)
    return None


def _hint(hints: Mapping[str, object], key: str, fallback: object) -> object:
    value = hints.get(key)
    return fallback if value is None else value


def _diagnose(file_sd: Mapping[str, torch.Tensor], net_sd: Mapping[str, torch.Tensor],
              hints: Mapping[str, object]) -> List[str]:
    """Phrases naming the flags whose values the checkpoint most likely disagrees with."""
    file_layout, net_layout = _read_layout(file_sd), _read_layout(net_sd)
    if file_layout is None:
        return [f"its keys ({_examples(list(file_sd))}) do not look like a network of this toolkit"]
    if net_layout is None:
        return [f"it holds a {_FAMILY_NAMES[file_layout.family]} ({file_layout.arch()}), which the network "
                "being loaded is not"]
    if file_layout.is_generator != net_layout.is_generator:
        return [f"it holds a {_FAMILY_NAMES[file_layout.family]}, but a {_FAMILY_NAMES[net_layout.family]} is "
                "being loaded (wrong file?)"]
    reasons = []
    if file_layout.family != net_layout.family or file_layout.depth != net_layout.depth:
        if net_layout.is_generator:
            current = f"--netG is {hints['netG']}" if hints.get("netG") else f"the network is {net_layout.arch()}"
        elif hints.get("netD"):
            current = f"--netD is {hints['netD']}"
            if hints["netD"] == "n_layers" and hints.get("n_layers_D") is not None:
                current += f" with --n_layers_D {hints['n_layers_D']}"
        else:
            current = f"the network is {net_layout.arch()}"
        reasons.append(f"it looks like {file_layout.arch()}, but {current}")
    if file_layout.norm != net_layout.norm:
        reasons.append(f"it looks like --norm {file_layout.norm} ({_NORM_EVIDENCE[file_layout.norm]}), "
                       f"but --norm is {_hint(hints, 'norm', net_layout.norm)}")
    if (file_layout.family == net_layout.family == "resnet" and file_layout.dropout is not None
            and net_layout.dropout is not None and file_layout.dropout != net_layout.dropout):
        if file_layout.dropout:
            reasons.append("it was saved with dropout (second conv of each block at conv_block.6), but the "
                           "network has none: leave out --no_dropout")
        else:
            reasons.append("it was saved without dropout (second conv of each block at conv_block.5, norm at 6), "
                           "but the network has dropout: add --no_dropout")
    width_flag = "ngf" if net_layout.is_generator else "ndf"
    if file_layout.width is not None and net_layout.width is not None and file_layout.width != net_layout.width:
        reasons.append(f"it looks like --{width_flag} {file_layout.width}, but --{width_flag} is "
                       f"{_hint(hints, width_flag, net_layout.width)}")
    if file_layout.in_nc != net_layout.in_nc or file_layout.out_nc != net_layout.out_nc:
        if net_layout.is_generator:
            reasons.append(f"it maps {file_layout.in_nc} to {file_layout.out_nc} channels, but the network maps "
                           f"{net_layout.in_nc} to {net_layout.out_nc} (check --input_nc/--output_nc)")
        else:
            reasons.append(f"it takes {file_layout.in_nc} input channels, but the network takes {net_layout.in_nc} "
                           "(check --input_nc/--output_nc; the pix2pix discriminator takes input_nc + output_nc)")
    return reasons or ["its keys do not match the network built from the current flags"]
