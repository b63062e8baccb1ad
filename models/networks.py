"""Generators, discriminators, losses and schedulers with the reference's layouts.

Which ``--netG`` / ``--netD`` name builds which class, and each network's size multiple, is in the table of
models/architectures.py; checkpoint files are read and diagnosed in models/checkpoint.py.

The layer order, the attribute names (``model`` / ``net``) and the bias rule (a conv before a norm slot has a
bias only with instance norm) are those of the reference implementation, because the state_dict keys of its
checkpoints (and of the pretrained models people download) depend on them.
"""
from __future__ import annotations

import functools
import logging
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from torch.nn import init
from torch.optim import lr_scheduler

from util.distributed import SyncBatchNorm
from util.errors import UserError

logger = logging.getLogger(__name__)

NormLayer = Callable[[int], nn.Module]

NORM_CHOICES = ("batch", "instance", "syncbatch", "none")
INIT_CHOICES = ("normal", "xavier", "kaiming", "orthogonal")
GAN_MODE_CHOICES = ("lsgan", "vanilla", "wgangp")
LR_POLICY_CHOICES = ("linear", "step", "plateau", "cosine")


def _choices(values: Sequence[str]) -> str:
    return " | ".join(values)


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
        return functools.partial(SyncBatchNorm, affine=True, track_running_stats=True)
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
             init_type: str = "normal", init_gain: float = 0.02, gpu_ids: Sequence[int] = (),
             **extra: Any) -> nn.Module:
    """Build and initialise the generator ``--netG`` names in models/architectures.py; ``extra`` holds the
    architecture flags of a model's own networks (builders ignore what they do not use)."""
    from . import architectures  # the table imports this module's network classes

    net = architectures.generator(netG).build(input_nc=input_nc, output_nc=output_nc, ngf=ngf, norm=norm,
                                              norm_layer=get_norm_layer(norm), use_dropout=use_dropout, **extra)
    return init_net(net, init_type, init_gain, gpu_ids)


def define_D(input_nc: int, ndf: int, netD: str, n_layers_D: int = 3, norm: str = "batch",
             init_type: str = "normal", init_gain: float = 0.02, gpu_ids: Sequence[int] = (),
             **extra: Any) -> nn.Module:
    """Build and initialise the discriminator ``--netD`` names in models/architectures.py."""
    from . import architectures  # the table imports this module's network classes

    net = architectures.discriminator(netD).build(input_nc=input_nc, ndf=ndf, n_layers_D=n_layers_D, norm=norm,
                                                  norm_layer=get_norm_layer(norm), **extra)
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
        prediction = full_precision(prediction)  # under --amp the loss is still taken in float32
        if self.loss is None:
            return -prediction.mean() if target_is_real else prediction.mean()
        return self.loss(prediction, self.get_target_tensor(prediction, target_is_real))


def full_precision(t: torch.Tensor) -> torch.Tensor:
    """``t`` in float32 when autocast left it in bfloat16/float16; float32 and float64 tensors unchanged."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


class Float32Loss(nn.Module):
    """``loss`` taken in float32 whatever autocast made of its inputs: a mean over many pixels in bf16/fp16
    loses the small differences the L1 and cycle terms are made of."""

    def __init__(self, loss: nn.Module) -> None:
        super().__init__()
        self.loss = loss

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.loss(*(full_precision(t) for t in tensors))


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
            # at most 0 past the schedule's end (a resume with a shorter schedule asks for the rate there)
            return max(0.0, 1.0 - max(0, step + epoch_count - n_epochs) / float(n_epochs_decay + 1))

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
