"""pix2pixHD (Wang et al. 2018): high-resolution label-to-image synthesis, compatible with NVIDIA's checkpoints.

Label maps go in one-hot (``--label_nc``; 0 = an RGB input), plus a boundary map of the instance map and,
optionally, instance-wise encoded features. The generator is the global one or the coarse-to-fine local
enhancer; the discriminator is always the multi-scale PatchGAN. Losses: multi-scale LSGAN (or vanilla),
discriminator feature matching and VGG19 perceptual loss, with the reference's weights.

Where the reference has bugs, this model does what it meant: the global generator is trained again after
``--niter_fix_global`` epochs, ``--no_lsgan`` works with feature matching (BCE on logits), instance ids are read
as unsigned and never rounded to half precision, the encoder's pooling is vectorised, clusters without centres
give zero features. Unusual choices are kept so numbers carry over: the GAN loss is summed over scales and the
VGG loss sees [-1, 1] images without ImageNet normalisation.
"""
from __future__ import annotations

import argparse
import logging
import os
from collections import OrderedDict
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from torch import nn
from torch.optim import lr_scheduler

from util.errors import UserError
from util.fileio import load_checkpoint_file
from util.image_pool import ImagePool

from . import networks
from . import pix2pixhd_networks as hd
from .base_model import BaseModel
from .checkpoint import CheckpointMismatchError, load_network_weights

logger = logging.getLogger(__name__)

# Cityscapes colours of label ids 0..33 and the licence plate (34), for showing 35-class label maps
CITYSCAPES_COLORS = (
    (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (111, 74, 0), (81, 0, 81), (128, 64, 128),
    (244, 35, 232), (250, 170, 160), (230, 150, 140), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (180, 165, 180), (150, 100, 100), (150, 120, 90), (153, 153, 153), (153, 153, 153), (250, 170, 30),
    (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142),
    (0, 0, 70), (0, 60, 100), (0, 0, 90), (0, 0, 110), (0, 80, 100), (0, 0, 230), (119, 11, 32), (0, 0, 142),
)
# Flags that shape the saved networks: test.py takes them from train_opt.txt. Not --load_features: it says where
# the training features came from; at test time they are sampled from the clusters unless it is given again.
ARCHITECTURE_FLAGS = ("label_nc", "no_instance", "instance_feat", "label_feat", "feat_num", "n_downsample_E", "nef",
                      "n_downsample_global", "n_blocks_global", "n_blocks_local", "n_local_enhancers", "ngf", "netG",
                      "norm", "input_nc", "output_nc")
# Feature maps are stored as RGB images ({phase}_feat, scripts/pix2pixhd/precompute_feature_maps.py)
STORED_FEAT_NUM = 3


def label_palette(label_nc: int) -> torch.Tensor:
    """label_nc x 3 colours in [0, 255]: Cityscapes' for 35 classes, else the bit-interleaved PASCAL palette."""
    if label_nc == len(CITYSCAPES_COLORS):
        return torch.tensor(CITYSCAPES_COLORS, dtype=torch.float32)
    colors = torch.zeros(label_nc, 3)
    for i in range(label_nc):
        r = g = b = 0
        cid = i
        for shift in range(7, -1, -1):
            r |= (cid & 1) << shift
            g |= ((cid >> 1) & 1) << shift
            b |= ((cid >> 2) & 1) << shift
            cid >>= 3
        colors[i] = torch.tensor([r, g, b], dtype=torch.float32)
    return colors


def colorize_labels(ids: torch.Tensor, label_nc: int) -> torch.Tensor:
    """N x 1 x H x W label ids -> N x 3 x H x W colour image in [-1, 1] (the visual ``input_label``)."""
    palette = label_palette(label_nc).to(ids.device)
    rgb = palette[ids[:, 0].long().clamp(0, label_nc - 1)].permute(0, 3, 1, 2)
    return rgb / 127.5 - 1.0


def one_hot(ids: torch.Tensor, label_nc: int, dtype: torch.dtype) -> torch.Tensor:
    """N x 1 x H x W integer (or integer-valued float) ids -> N x label_nc x H x W one-hot map."""
    ids = ids.long()
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= label_nc):
        raise UserError(f"--label_nc {label_nc}: the label map holds id {int(ids.max())}, so --label_nc must be "
                        f"at least {int(ids.max()) + 1}")
    out = torch.zeros(ids.shape[0], label_nc, *ids.shape[2:], dtype=dtype, device=ids.device)
    return out.scatter_(1, ids, 1.0)


def boundary_map(inst: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """1 where a pixel's instance id differs from a 4-neighbour's (both sides of each pair), else 0."""
    edge = torch.zeros(inst.shape, dtype=torch.bool, device=inst.device)
    horizontal = inst[..., :, 1:] != inst[..., :, :-1]
    vertical = inst[..., 1:, :] != inst[..., :-1, :]
    edge[..., :, 1:] |= horizontal
    edge[..., :, :-1] |= horizontal
    edge[..., 1:, :] |= vertical
    edge[..., :-1, :] |= vertical
    return edge.to(dtype)


def class_of_instance(value: int) -> int:
    """Cityscapes instance ids are the class id, or class id * 1000 + k for instances of thing classes."""
    return value if value < 1000 else value // 1000


def load_pretrained(net: nn.Module, path: str) -> None:
    """Load ``path`` strictly if it fits; else copy every tensor with the same name and shape, as the reference
    does for ``--load_pretrain`` (e.g. a 512p global generator into a 1024p local enhancer)."""
    state = load_checkpoint_file(path)
    try:
        load_network_weights(net, state, path)
        logger.info("loaded %s", path)
        return
    except CheckpointMismatchError:
        pass
    own = net.state_dict()
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not fitting:
        raise UserError(f"--load_pretrain: no tensor of {path} fits the network built from the current flags")
    own.update(fitting)
    net.load_state_dict(own)
    fresh = sorted({k.split(".")[0] for k in own if k not in fitting})
    logger.warning("%s: loaded %d of %d tensors; left at their initialisation: %s", path, len(fitting), len(own),
                   ", ".join(fresh) or "none")


def pooling_regions(opt: argparse.Namespace, label: torch.Tensor, inst: Optional[torch.Tensor]) -> torch.Tensor:
    """The regions features are averaged over: instances, or classes with --label_feat (or without instances)."""
    return label if opt.label_feat or inst is None else inst


def load_run_encoder(opt: argparse.Namespace) -> nn.Module:
    """The trained encoder ``{epoch}_net_E.pth`` of the run ``--name``, in eval mode, for the feature scripts."""
    path = os.path.join(opt.checkpoints_dir, opt.name, f"{opt.epoch}_net_E.pth")
    if not os.path.isfile(path):
        raise UserError(f"{path} not found: this needs the encoder of a run trained with --instance_feat or "
                        f"--label_feat and without --load_features (check --name, --checkpoints_dir, --epoch)")
    encoder = hd.define_G(opt.output_nc, opt.feat_num, opt.nef, "encoder", opt.n_downsample_E, norm=opt.norm)
    load_network_weights(encoder, load_checkpoint_file(path), path,
                         hints={"nef": opt.nef, "n_downsample_E": opt.n_downsample_E, "norm": opt.norm})
    return encoder.to(opt.device).eval()


def encodes_images(opt: argparse.Namespace) -> bool:
    """Whether the encoder runs: for training features unless they are loaded, at test time for
    --use_encoded_image (sampled cluster features need none)."""
    if not (opt.instance_feat or opt.label_feat) or opt.load_features:
        return False
    return opt.isTrain or getattr(opt, "use_encoded_image", False)


class Pix2PixHDModel(BaseModel):
    """Losses ``G_GAN G_GAN_Feat G_VGG D_real D_fake``; visuals ``input_label synthesized_image real_image``.

    Networks ``netG`` (global or local), ``netD`` (multi-scale, training only) and ``netE`` (with
    ``--instance_feat``/``--label_feat`` unless ``--load_features``). One iteration is the reference's: one
    forward, a G step, then a D step.
    """

    architecture_flags = ARCHITECTURE_FLAGS

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool = True) -> argparse.ArgumentParser:
        parser.set_defaults(netG="global", dataset_mode="pix2pixhd", preprocess="scale_width", load_size=1024,
                            crop_size=512, norm="instance", display_winsize=512, num_threads=2)
        alias = {"default": argparse.SUPPRESS}
        parser.add_argument("--resize_or_crop", dest="preprocess", help="the reference's --preprocess", **alias)
        parser.add_argument("--loadSize", dest="load_size", type=int, help="the reference's --load_size", **alias)
        parser.add_argument("--fineSize", dest="crop_size", type=int, help="the reference's --crop_size", **alias)
        parser.add_argument("--batchSize", dest="batch_size", type=int, help="the reference's --batch_size", **alias)
        parser.add_argument("--which_epoch", dest="epoch", help="the reference's --epoch", **alias)
        parser.add_argument("--nThreads", dest="num_threads", type=int, help="the reference's --num_threads", **alias)
        parser.add_argument("--label_nc", type=int, default=35, help="# of label classes (one-hot); 0 = RGB input")
        parser.add_argument("--no_instance", action="store_true", help="do not add the instance boundary map")
        parser.add_argument("--instance_feat", action="store_true", help="add instance-wise encoded features")
        parser.add_argument("--label_feat", action="store_true", help="add label-wise encoded features")
        parser.add_argument("--feat_num", type=int, default=3, help="length of the encoded feature vector")
        parser.add_argument("--load_features", action="store_true",
                            help="read precomputed feature maps from {phase}_feat instead of running the encoder")
        parser.add_argument("--n_downsample_E", type=int, default=4, help="# of downsampling layers in the encoder")
        parser.add_argument("--nef", type=int, default=16, help="# of encoder filters in the first conv layer")
        parser.add_argument("--n_clusters", type=int, default=10, help="# of k-means clusters per class")
        parser.add_argument("--n_downsample_global", type=int, default=4,
                            help="# of downsampling layers in the global generator")
        parser.add_argument("--n_blocks_global", type=int, default=9, help="# of residual blocks in the global G")
        parser.add_argument("--n_blocks_local", type=int, default=3, help="# of residual blocks per local enhancer")
        parser.add_argument("--n_local_enhancers", type=int, default=1, help="# of local enhancers (--netG local)")
        parser.add_argument("--data_type", type=int, default=32, choices=(16, 32),
                            help="16: half-precision inputs and networks at test time")
        parser.add_argument("--fp16", action="store_true", help="pix2pixHD's name for --amp fp16")
        if is_train:
            parser.set_defaults(pool_size=0, display_freq=100, save_latest_freq=1000, save_epoch_freq=10)
            parser.add_argument("--niter", dest="n_epochs", type=int, help="the reference's --n_epochs", **alias)
            parser.add_argument("--niter_decay", dest="n_epochs_decay", type=int,
                                help="the reference's --n_epochs_decay", **alias)
            parser.add_argument("--tf_log", dest="use_tensorboard", action="store_true",
                                help="the reference's name for --use_tensorboard", **alias)
            parser.add_argument("--no_lsgan", dest="gan_mode", action="store_const", const="vanilla",
                                help="vanilla GAN loss (BCE) instead of least squares", **alias)
            parser.add_argument("--niter_fix_global", type=int, default=0,
                                help="epochs during which only the outermost local enhancer is trained")
            parser.add_argument("--load_pretrain", type=str, default="",
                                help="folder of a run to start from ({epoch}_net_G/D/E.pth, same-shaped tensors)")
            parser.add_argument("--num_D", type=int, default=2, help="# of discriminators (scales)")
            parser.add_argument("--lambda_feat", type=float, default=10.0,
                                help="weight of the feature matching and VGG losses")
            parser.add_argument("--no_ganFeat_loss", action="store_true", help="no discriminator feature matching")
            parser.add_argument("--no_vgg_loss", action="store_true", help="no VGG19 perceptual loss")
            parser.add_argument("--vgg_weights", type=str, default=None,
                                help=f"torchvision's vgg19 state_dict file ({hd.VGG19_URL}); default: torch hub's "
                                     f"cache")
        else:
            parser.add_argument("--how_many", dest="num_test", type=int, help="the reference's --num_test", **alias)
            parser.add_argument("--use_encoded_image", action="store_true",
                                help="encode the real test image instead of sampling feature clusters")
            parser.add_argument("--cluster_path", type=str, default=None,
                                help="cluster file in the run folder (default features_clustered_{n_clusters}.npz)")
            parser.add_argument("--n_samples", type=int, default=1,
                                help="outputs per label map, each with features sampled from the clusters")
        return parser

    @staticmethod
    def size_multiple(opt: argparse.Namespace) -> int:
        """The size multiple of the generator and the encoder (read by the options' check and the dataset)."""
        return hd.input_multiple(opt.netG, opt.n_downsample_global, opt.n_local_enhancers,
                                 opt.n_downsample_E if encodes_images(opt) else 0)

    def __init__(self, opt: argparse.Namespace) -> None:
        self.check_options(opt)  # first: it turns --fp16 into --amp fp16, which BaseModel reads
        super().__init__(opt)
        self.use_features = opt.instance_feat or opt.label_feat
        self.gen_features = encodes_images(opt)
        label_channels = opt.label_nc if opt.label_nc else opt.input_nc
        cond_channels = label_channels + (0 if opt.no_instance else 1)
        self.netG = hd.define_G(cond_channels + (opt.feat_num if self.use_features else 0), opt.output_nc, opt.ngf,
                                opt.netG, opt.n_downsample_global, opt.n_blocks_global, opt.n_local_enhancers,
                                opt.n_blocks_local, opt.norm).to(self.device)
        self.model_names = ["G"]
        if self.isTrain:
            self.netD = hd.define_D(cond_channels + opt.output_nc, opt.ndf, opt.n_layers_D, opt.norm,
                                    use_sigmoid=False, num_D=opt.num_D,
                                    getIntermFeat=not opt.no_ganFeat_loss).to(self.device)
            self.model_names.append("D")
        if self.gen_features:
            self.netE = hd.define_G(opt.output_nc, opt.feat_num, opt.nef, "encoder", opt.n_downsample_E,
                                    norm=opt.norm).to(self.device)
            self.model_names.append("E")
        self.visual_names = ["input_label", "synthesized_image", "real_image"]
        self.loss_names = ["G_GAN", "G_GAN_Feat", "G_VGG", "D_real", "D_fake"]
        self.real_image: Optional[torch.Tensor] = None
        self.clusters: Optional[Dict[int, torch.Tensor]] = None
        self.sampler = torch.Generator().manual_seed(opt.seed if opt.seed is not None else 0)
        if self.isTrain:
            for name in self.loss_names:
                setattr(self, "loss_" + name, 0.0)
            self.criterionGAN = networks.GANLoss(opt.gan_mode).to(self.device)  # vanilla = BCE on logits
            self.criterionVGG = None if opt.no_vgg_loss else hd.VGGLoss(hd.load_vgg19(opt.vgg_weights)).to(self.device)
            self.fake_pool = ImagePool(opt.pool_size)
            params_G = list(self.netG.parameters()) + (list(self.netE.parameters()) if self.gen_features else [])
            self.optimizer_G = torch.optim.Adam(params_G, lr=opt.lr, betas=(opt.beta1, 0.999))
            self.optimizer_D = torch.optim.Adam(self.netD.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))
            self.optimizers = [self.optimizer_G, self.optimizer_D]

    @staticmethod
    def check_options(opt: argparse.Namespace) -> None:
        """Reject flag combinations the model cannot run, naming the flag."""
        if opt.netG not in hd.GENERATOR_CHOICES:
            raise UserError(f"--netG {opt.netG}: --model pix2pixhd takes {' or '.join(hd.GENERATOR_CHOICES)}")
        if opt.fp16:
            if opt.amp not in ("none", "fp16"):
                raise UserError(f"--fp16 means --amp fp16; it cannot go with --amp {opt.amp}")
            opt.amp = "fp16"
        if opt.label_nc < 0:
            raise UserError(f"--label_nc must be 0 (RGB input) or more, got {opt.label_nc}")
        if opt.isTrain:
            if opt.gan_mode not in ("lsgan", "vanilla"):
                raise UserError(f"--gan_mode {opt.gan_mode}: pix2pixHD trains with lsgan or vanilla (--no_lsgan)")
            if opt.data_type == 16:
                raise UserError("--data_type 16 is for test.py (half-precision inference); train with --data_type 32")
            if opt.niter_fix_global and opt.netG != "local":
                raise UserError("--niter_fix_global needs --netG local (it trains only the outermost enhancer first)")
            if opt.load_pretrain and not os.path.isdir(opt.load_pretrain):
                raise UserError(f"--load_pretrain {opt.load_pretrain} is not a folder")
        elif opt.n_samples > 1 and not (opt.instance_feat or opt.label_feat):
            raise UserError("--n_samples above 1 needs --instance_feat or --label_feat (outputs differ only by the "
                            "sampled features)")
        elif opt.use_encoded_image and opt.load_features:
            raise UserError("--use_encoded_image and --load_features both say where the test features come from; "
                            "pass one of them")
        if opt.load_features and opt.feat_num != STORED_FEAT_NUM:
            raise UserError(f"--load_features reads feature maps stored as RGB images, so --feat_num must be "
                            f"{STORED_FEAT_NUM}, got {opt.feat_num}")

    # ------------------------------------------------------------------ set-up
    def setup(self, opt: argparse.Namespace) -> None:
        encoder = self.network_path(self.load_prefix(opt), "E") if self.gen_features else ""
        if not self.isTrain and encoder and not os.path.isfile(encoder):
            raise UserError(f"--use_encoded_image needs the run's encoder, {encoder}, which is not there (a run "
                            f"trained with --load_features has none: precompute the test set's feature maps with "
                            f"scripts/pix2pixhd/precompute_feature_maps.py and pass --load_features instead)")
        super().setup(opt)
        if not self.isTrain:
            if opt.data_type == 16:
                for net in self.networks().values():
                    net.half()
            return
        if opt.lr_policy == "linear":  # the reference's decay, not the CycleGAN code's (README, pix2pixHD)
            self.schedulers = [lr_scheduler.LambdaLR(o, self.reference_lr_factor) for o in self.optimizers]
        if opt.load_pretrain and not opt.continue_train:
            self.load_pretrain(opt.load_pretrain, opt.epoch)
        self.sync_global_freeze()

    def reference_lr_factor(self, step: int) -> float:
        """Epoch e trains at lr * (1 - max(0, e - niter - 1) / niter_decay): flat for niter + 1 epochs."""
        epoch = self.opt.epoch_count + step
        if self.opt.n_epochs_decay == 0:
            return 1.0
        return 1.0 - max(0, epoch - self.opt.n_epochs - 1) / self.opt.n_epochs_decay

    def load_pretrain(self, folder: str, epoch: str) -> None:
        """Start from another run's weights; a missing G file is an error, missing D or E only a warning."""
        for name, net in self.networks().items():
            path = os.path.join(folder, f"{epoch}_net_{name}.pth")
            if os.path.isfile(path):
                load_pretrained(net, path)
            elif name == "G":
                raise UserError(f"--load_pretrain: {path} not found (check the folder and --epoch/--which_epoch)")
            else:
                logger.warning("--load_pretrain: %s not found; net%s starts from its initialisation", path, name)

    def architecture_hints(self) -> Dict[str, Any]:
        """The base hints plus pix2pixHD's depth flags; its discriminator is always the multi-scale one."""
        hints = super().architecture_hints()
        extra = ARCHITECTURE_FLAGS + ("n_layers_D", "num_D", "no_ganFeat_loss")
        hints.update({k: getattr(self.opt, k) for k in extra if hasattr(self.opt, k)})
        hints["netD"] = "multiscale"
        return hints

    def load_training_state(self, prefix: str) -> Optional[Dict[str, Any]]:
        counters = super().load_training_state(prefix)
        self.sync_global_freeze()
        return counters

    def epochs_done(self) -> int:
        return self.opt.epoch_count - 1 + self.schedulers[0].last_epoch

    def sync_global_freeze(self, at_epoch_end: bool = False) -> None:
        """With --niter_fix_global, train only the outermost enhancer (and E) for that many epochs, then all of G.

        At the switch the G optimiser starts with fresh moments, as the reference meant (its loop kept stepping
        the enhancer-only optimiser, so the global generator never trained again).
        """
        if not self.opt.niter_fix_global:
            return
        frozen = self.epochs_done() < self.opt.niter_fix_global
        prefix = f"model{self.opt.n_local_enhancers}_"
        for name, param in self.netG.named_parameters():
            if not name.startswith(prefix):
                param.requires_grad = not frozen
        if at_epoch_end and self.epochs_done() == self.opt.niter_fix_global:
            self.optimizer_G.state.clear()
            logger.info("------------ Now also finetuning global generator -----------")

    def update_learning_rate(self) -> None:
        super().update_learning_rate()
        self.sync_global_freeze(at_epoch_end=True)

    # ------------------------------------------------------------------ inputs
    def set_input(self, input: Dict[str, Any]) -> None:
        """Take a batch of the pix2pixhd dataset mode or of the reference's loader (same keys).

        ``label`` and ``inst`` are N x 1 x H x W id maps (integer or float), ``image`` and ``feat`` in [-1, 1];
        an absent entry may be missing or a non-image placeholder (the reference collates 0s).
        """
        dtype = torch.float16 if (not self.isTrain and self.opt.data_type == 16) else torch.get_default_dtype()

        def present(key: str) -> Optional[torch.Tensor]:
            value = input.get(key)
            return value.to(self.device) if torch.is_tensor(value) and value.dim() == 4 else None

        self.label_map = present("label")
        if self.label_map is None:
            raise UserError("pix2pixhd needs a 'label' map in each batch (use --dataset_mode pix2pixhd)")
        self.inst_map = None if self.opt.no_instance else present("inst")
        if not self.opt.no_instance and self.inst_map is None:
            raise UserError("the batch has no instance map: add {phase}_inst or pass --no_instance")
        image = present("image")
        self.real_image = None if image is None else image.to(dtype)
        feat = present("feat")
        self.loaded_feat = None if feat is None else feat.to(dtype)
        paths = input.get("path", [])
        self.image_paths = [paths] if isinstance(paths, str) else list(paths)
        if self.opt.label_nc:
            cond = one_hot(self.label_map, self.opt.label_nc, dtype)
        else:
            cond = self.label_map.to(dtype)
        if self.inst_map is not None:
            cond = torch.cat((cond, boundary_map(self.inst_map, dtype)), 1)
        self.input_concat = cond

    # ------------------------------------------------------------------ features
    def feature_map(self) -> torch.Tensor:
        """Loaded ({phase}_feat), encoded from the real image (training, --use_encoded_image) or sampled."""
        if self.opt.load_features:
            if self.loaded_feat is None:
                raise UserError("--load_features: the batch has no feature map (add the {phase}_feat folder)")
            return self.loaded_feat
        regions = pooling_regions(self.opt, self.label_map, self.inst_map)
        if self.gen_features:
            if self.real_image is None:
                raise UserError("--use_encoded_image needs the real images ({phase}_img folder)")
            return self.netE(self.real_image, regions)
        return self.sample_features(regions)

    def cluster_file(self) -> str:
        name = self.opt.cluster_path or f"features_clustered_{self.opt.n_clusters:03d}.npz"
        return os.path.join(self.save_dir, name)

    def load_clusters(self) -> Dict[int, torch.Tensor]:
        """{class id: k x feat_num centres} from the file cluster_features.py wrote (read once)."""
        if self.clusters is None:
            path = self.cluster_file()
            if not os.path.isfile(path):
                raise UserError(f"--cluster_path: {path} not found; run scripts/pix2pixhd/cluster_features.py with "
                                f"the training flags first, or pass --use_encoded_image")
            with np.load(path, allow_pickle=False) as data:
                self.clusters = {int(k): torch.from_numpy(data[k]) for k in data.files}
        return self.clusters

    def sample_features(self, regions: torch.Tensor) -> torch.Tensor:
        """Per region, the features of one cluster centre of its class, chosen at random (seeded by --seed).

        Classes without centres get zero features (the reference left that memory uninitialised).
        """
        clusters = self.load_clusters()
        dtype = self.input_concat.dtype
        feat = torch.zeros(regions.shape[0], self.opt.feat_num, *regions.shape[2:], dtype=dtype, device=self.device)
        for b in range(regions.shape[0]):
            for value in torch.unique(regions[b]).tolist():
                centres = clusters.get(class_of_instance(int(value)))
                if centres is None:
                    continue
                row = centres[int(torch.randint(len(centres), (1,), generator=self.sampler))]
                mask = (regions[b, 0] == value)
                feat[b][:, mask] = row.to(dtype=dtype, device=self.device)[:, None]
        return feat

    # ------------------------------------------------------------------ forward and update
    def forward(self) -> None:
        g_input = self.input_concat
        if self.use_features:
            g_input = torch.cat((g_input, self.feature_map()), 1)
        self.synthesized_image = self.netG(g_input)

    def discriminate(self, image: torch.Tensor, use_pool: bool = False) -> List[List[torch.Tensor]]:
        d_input = torch.cat((self.input_concat, image), 1)
        if use_pool:
            d_input = self.fake_pool.query(d_input)
        return self.netD(d_input)

    def compute_losses(self) -> None:
        """All five losses from one forward (three D passes), as the reference computes them."""
        pred_fake_pool = self.discriminate(self.synthesized_image.detach(), use_pool=True)
        self.loss_D_fake = hd.multiscale_gan_loss(self.criterionGAN, pred_fake_pool, False)
        pred_real = self.discriminate(self.real_image.detach())
        self.loss_D_real = hd.multiscale_gan_loss(self.criterionGAN, pred_real, True)
        pred_fake = self.discriminate(self.synthesized_image)
        self.loss_G_GAN = hd.multiscale_gan_loss(self.criterionGAN, pred_fake, True)
        self.loss_G_GAN_Feat = 0.0
        if not self.opt.no_ganFeat_loss:
            self.loss_G_GAN_Feat = hd.feature_matching_loss(pred_fake, pred_real, self.opt.lambda_feat)
        self.loss_G_VGG = 0.0
        if self.criterionVGG is not None:
            self.loss_G_VGG = self.criterionVGG(self.synthesized_image, self.real_image) * self.opt.lambda_feat
        self.loss_G = self.loss_G_GAN + self.loss_G_GAN_Feat + self.loss_G_VGG
        self.loss_D = (self.loss_D_fake + self.loss_D_real) * 0.5

    def optimize_parameters(self) -> None:
        if self.real_image is None:
            raise UserError("training needs the real images: add the {phase}_img folder")
        self.forward()
        self.compute_losses()
        # G step; gradients only for G's (and E's) trainable weights: D's would be discarded anyway
        trainable = [p for group in self.optimizer_G.param_groups for p in group["params"] if p.requires_grad]
        self.optimizer_G.zero_grad()
        self.backward(self.loss_G, inputs=trainable)
        self.step(self.optimizer_G)
        # D step from the same forward: the fake of G's pre-step weights, D's pre-step weights
        self.optimizer_D.zero_grad()
        self.backward(self.loss_D)
        self.step(self.optimizer_D)

    # ------------------------------------------------------------------ visuals
    def test(self) -> None:
        """Synthesize ``--n_samples`` images per label map (features sampled anew for each)."""
        with torch.no_grad():
            samples = []
            for _ in range(getattr(self.opt, "n_samples", 1)):
                self.forward()
                samples.append(self.synthesized_image)
            for k, sample in enumerate(samples[1:], start=2):
                setattr(self, f"synthesized_image_{k}", sample)
            self.visual_names = (["input_label", "synthesized_image"]
                                 + [f"synthesized_image_{k}" for k in range(2, len(samples) + 1)] + ["real_image"])
            self.synthesized_image = samples[0]
            self.compute_visuals()

    def compute_visuals(self) -> None:
        if self.opt.label_nc:
            self.input_label = colorize_labels(self.label_map, self.opt.label_nc)
        else:
            self.input_label = self.label_map

    def get_current_visuals(self) -> "OrderedDict[str, Any]":
        """Visuals that exist for this batch (no ``real_image`` for label-only test sets)."""
        return OrderedDict((name, value) for name, value in super().get_current_visuals().items()
                           if value is not None)
