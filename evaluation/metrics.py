"""Image-translation metrics on tensors, batched on one device.

Paired images (pix2pix): L1, PSNR and SSIM of each pair (torchmetrics, on the device; Gaussian SSIM of Wang et
al. 2004 over the valid region, the same numbers as scikit-image's), averaged over the pairs. Image sets
(CycleGAN): FID with pytorch-fid's Inception network, weights and statistics, equal to the number papers report
with ``python -m pytorch_fid`` (its matrix square root replaced by an exact, faster eigenvalue form: see
``frechet_inception_distance``); KID with torch-fidelity's estimator (seeded subsets) on the same features.

Images are N x C x H x W floats in [0, 1]. ``from_model_range`` turns generator outputs in [-1, 1] into that,
rounded to 8 bits as the result images are saved, so a number measured during training equals the one
``scripts/evaluate.py`` gives for the written files.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union
from unittest import mock

import numpy as np
import torch

from util.errors import UserError
from util.fileio import PathLike

logger = logging.getLogger(__name__)

PAIRED_METRICS = ("l1", "psnr", "ssim")
SET_METRICS = ("fid", "kid")
ALL_METRICS = PAIRED_METRICS + SET_METRICS
# Direction of each metric, for choosing the best checkpoint (``kid_std`` is reported beside ``kid``, not ranked).
HIGHER_IS_BETTER = {"l1": False, "psnr": True, "ssim": True, "fid": False, "kid": False}
WEIGHTS_ENV = "IMG2IMG_INCEPTION_WEIGHTS"
# Dataset modes whose A and B of one item are a pair (the translation of A should equal B): measured image by
# image. Other modes (unaligned) pair their items arbitrarily, so only the sets are compared (FID/KID).
PAIRED_DATASET_MODES = ("aligned", "colorization")
# KID as torch-fidelity computes it: 100 random subsets of up to 1000 images (smaller sets use all their images).
KID_SUBSETS = 100
KID_MAX_SUBSET_SIZE = 1000
DEFAULT_BATCH_SIZE = 50  # pytorch-fid's batch size
SSIM_WINDOW = 11  # Gaussian window of sigma 1.5, as torchmetrics and scikit-image size it

Device = Union[str, torch.device]


def from_model_range(images: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] -> [0, 1], rounded to 8 bits exactly as ``util.util.tensor2im`` saves it."""
    return torch.clamp(torch.round((images.detach().float() + 1.0) / 2.0 * 255.0), 0.0, 255.0) / 255.0


def paired_metrics(fake: torch.Tensor, real: torch.Tensor) -> Dict[str, torch.Tensor]:
    """L1, PSNR (dB) and SSIM of each pair of two N x C x H x W batches in [0, 1]: three tensors of N values.

    Computed on the batches' device, L1 and PSNR in float64. L1 is the mean absolute difference on the [0, 1]
    scale; identical images have PSNR ``inf``.
    """
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    if fake.shape != real.shape or fake.dim() != 4:
        raise ValueError(f"paired metrics need two N x C x H x W batches of one shape, got {tuple(fake.shape)} "
                         f"and {tuple(real.shape)}")
    if min(fake.shape[2:]) < SSIM_WINDOW:
        raise UserError(f"SSIM needs images of at least {SSIM_WINDOW} x {SSIM_WINDOW} pixels, got "
                        f"{fake.shape[3]} x {fake.shape[2]}")
    fake64 = fake.double()
    real64 = real.to(fake.device).double()
    # torchmetrics averages the SSIM map over the whole image, borders (from reflected padding) included; Wang et
    # al.'s reference and scikit-image average the valid part only, where the 11 x 11 window lies in the image.
    # float32: its 11 x 11 convolutions run 30 times slower in float64 on the CPU, for differences near 1e-5.
    _, ssim_map = structural_similarity_index_measure(fake64.float(), real64.float(), data_range=1.0,
                                                      return_full_image=True)
    border = SSIM_WINDOW // 2
    return {
        "l1": (fake64 - real64).abs().flatten(1).mean(1),
        "psnr": peak_signal_noise_ratio(fake64, real64, data_range=1.0, reduction="none", dim=(1, 2, 3)),
        "ssim": ssim_map[..., border:-border, border:-border].flatten(1).double().mean(1),
    }


def _weights_url() -> str:
    from pytorch_fid.inception import FID_WEIGHTS_URL

    return FID_WEIGHTS_URL


def weights_file_name() -> str:
    """``pt_inception-2015-12-05-6726825d.pth``: the file pytorch-fid publishes."""
    return _weights_url().rsplit("/", 1)[-1]


def inception_weights_file(path: Optional[PathLike] = None) -> Optional[Path]:
    """The pytorch-fid Inception weights to use, or None when there are none on this machine. Never downloads.

    ``path`` (``--inception_weights``) comes first, then ``$IMG2IMG_INCEPTION_WEIGHTS``, then the copy pytorch-fid
    keeps in the torch hub cache when it has been run here before. A path that is given but missing is an error.
    """
    if path:
        if not Path(path).is_file():
            raise UserError(f"--inception_weights: no file '{path}'")
        return Path(path)
    from_env = os.environ.get(WEIGHTS_ENV)
    if from_env:
        if not Path(from_env).is_file():
            raise UserError(f"{WEIGHTS_ENV}: no file '{from_env}'")
        return Path(from_env)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / weights_file_name()
    return cached if cached.is_file() else None


def weights_hint() -> str:
    """Where to get the Inception weights and how to hand them over (part of the one-line messages)."""
    return f"download {_weights_url()} and pass --inception_weights PATH (or set {WEIGHTS_ENV}=PATH)"


def missing_weights_message() -> str:
    """The one line a user sees when FID/KID cannot run: where to get the file and what still runs."""
    return f"FID and KID skipped: no Inception weights; {weights_hint()}; L1, PSNR and SSIM still run"


def load_inception(weights: PathLike, device: Device = "cpu") -> torch.nn.Module:
    """pytorch-fid's FID Inception network (2048-d pool features) with the weights read from a local file."""
    import pytorch_fid.inception

    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as err:  # any unreadable file: the message names it
        raise UserError(f"cannot read Inception weights '{weights}': {' '.join(str(err).split())[:200]}") from err
    # pytorch-fid builds its network and loads the weights only through a URL download; hand it the file's
    # state dict instead, so the network, its strict key check and its forward pass stay pytorch-fid's own.
    try:
        with mock.patch.object(pytorch_fid.inception, "load_state_dict_from_url", lambda *_, **__: state):
            block = pytorch_fid.inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]
            network = pytorch_fid.inception.InceptionV3([block])
    except (RuntimeError, TypeError, AttributeError) as err:
        raise UserError(f"'{weights}' is not the pytorch-fid Inception weights file ({weights_file_name()})") from err
    return network.eval().to(device)


class InceptionFeatures:
    """2048-d Inception pool features of images in [0, 1], computed in batches on ``device``."""

    def __init__(self, weights: PathLike, device: Device = "cpu", batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.network = load_inception(weights, self.device)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        """N x C x H x W in [0, 1] (gray is tiled to RGB, as pytorch-fid's ``convert('RGB')``) -> N x 2048 float32."""
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        out: List[np.ndarray] = []
        for start in range(0, images.shape[0], self.batch_size):
            batch = images[start:start + self.batch_size].to(self.device, torch.float32)
            out.append(self.network(batch)[0].squeeze(3).squeeze(2).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 2048), np.float32)


def frechet_inception_distance(fake_features: np.ndarray, real_features: np.ndarray) -> float:
    """FID of two feature sets: |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)), statistics as pytorch-fid.

    The means and covariances are pytorch-fid's (``np.mean``, ``np.cov`` of the float32 features). Its
    ``calculate_frechet_distance`` takes scipy's ``sqrtm`` of the 2048 x 2048 product S1 S2 for the last trace:
    over a minute on one core, and inexact for the singular covariances of sets under 2048 images. The trace
    is the sum of the square roots of the eigenvalues of S1 S2, which equal those of the symmetric
    L^T S2 L for any S1 = L L^T; L is set 1's centred features / sqrt(n1 - 1) (n1 columns) when n1 <= 2048,
    else S1's symmetric square root. The result equals pytorch-fid's (tests/test_evaluation.py checks it).
    """
    _check_set_sizes(fake_features, real_features)
    mu1, mu2 = np.mean(fake_features, axis=0), np.mean(real_features, axis=0)
    sigma1, sigma2 = np.cov(fake_features, rowvar=False), np.cov(real_features, rowvar=False)
    n1, dims = fake_features.shape
    if n1 <= dims:
        centred = fake_features.astype(np.float64)
        factor = (centred - centred.mean(axis=0)).T / np.sqrt(n1 - 1)
    else:
        eigenvalues, eigenvectors = np.linalg.eigh(sigma1)
        factor = eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))
    product_eigenvalues = np.linalg.eigvalsh(factor.T @ sigma2 @ factor)
    trace_sqrt = np.sqrt(np.clip(product_eigenvalues, 0.0, None)).sum()
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)


def kernel_inception_distance(fake_features: np.ndarray, real_features: np.ndarray) -> Tuple[float, float]:
    """KID (mean, std over subsets) by torch-fidelity's estimator: cubic polynomial kernel, unbiased MMD^2."""
    from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

    _check_set_sizes(fake_features, real_features)
    subset_size = min(KID_MAX_SUBSET_SIZE, len(fake_features), len(real_features))
    kid = kid_features_to_metric(torch.from_numpy(fake_features), torch.from_numpy(real_features),
                                 kid_subsets=KID_SUBSETS, kid_subset_size=subset_size, verbose=False)
    return kid[KEY_METRIC_KID_MEAN], kid[KEY_METRIC_KID_STD]


def _check_set_sizes(fake_features: np.ndarray, real_features: np.ndarray) -> None:
    if min(len(fake_features), len(real_features)) < 2:
        raise UserError(f"FID and KID need at least 2 images on each side, got {len(fake_features)} fake and "
                        f"{len(real_features)} real")


class Evaluator:
    """Collects batches, then computes the chosen metrics over all of them.

    ``update(fake, real)`` takes pairs; ``update_fake``/``update_real`` take the two sets separately (unpaired
    data, different counts). ``reset(keep_real=True)`` keeps the real set's features, which do not change from
    one validation to the next. Without Inception weights FID/KID are dropped with one logged line
    (``missing_weights_message``) and the paired metrics still run; ``self.metrics`` says what is computed.
    ``features``: an Inception network already loaded, shared by evaluators that run side by side (both
    CycleGAN directions) so that it is read and held once.
    """

    def __init__(self, metrics: Sequence[str] = ALL_METRICS, device: Device = "cpu",
                 inception_weights: Optional[PathLike] = None, batch_size: int = DEFAULT_BATCH_SIZE,
                 features: Optional[InceptionFeatures] = None) -> None:
        unknown = [m for m in metrics if m not in ALL_METRICS]
        if unknown:
            raise UserError(f"unknown metric(s) {', '.join(unknown)}: choose from {', '.join(ALL_METRICS)}")
        self.device = torch.device(device)
        self.metrics = tuple(m for m in ALL_METRICS if m in metrics)
        self.features = features
        if self.features is None and any(m in SET_METRICS for m in self.metrics):
            weights = inception_weights_file(inception_weights)
            if weights is None:
                logger.warning(missing_weights_message())
                self.metrics = tuple(m for m in self.metrics if m not in SET_METRICS)
            else:
                self.features = InceptionFeatures(weights, self.device, batch_size)
        self._paired: Dict[str, List[torch.Tensor]] = {m: [] for m in PAIRED_METRICS}
        self._fake: List[np.ndarray] = []
        self._real: List[np.ndarray] = []

    @property
    def wants_paired(self) -> bool:
        return any(m in PAIRED_METRICS for m in self.metrics)

    def update(self, fake: torch.Tensor, real: torch.Tensor) -> None:
        """Add a batch of pairs (N x C x H x W in [0, 1], same shape)."""
        if self.wants_paired:
            for name, values in paired_metrics(fake.to(self.device), real.to(self.device)).items():
                self._paired[name].append(values.cpu())
        self.update_fake(fake)
        self.update_real(real)

    def update_fake(self, fake: torch.Tensor) -> None:
        """Add translated images to the set side (FID/KID) only."""
        if self.features is not None:
            self._fake.append(self.features(fake))

    def update_real(self, real: torch.Tensor) -> None:
        """Add target-domain images to the set side (FID/KID) only."""
        if self.features is not None:
            self._real.append(self.features(real))

    def compute(self) -> Dict[str, float]:
        """The metrics over everything added since the last reset; KID comes with ``kid_std``."""
        result: Dict[str, float] = {}
        for name in PAIRED_METRICS:
            if name in self.metrics and self._paired[name]:
                result[name] = float(torch.cat(self._paired[name]).mean())
        if self.features is not None and (self._fake or self._real):
            fake = np.concatenate(self._fake) if self._fake else np.zeros((0, 2048), np.float32)
            real = np.concatenate(self._real) if self._real else np.zeros((0, 2048), np.float32)
            if "fid" in self.metrics:
                result["fid"] = frechet_inception_distance(fake, real)
            if "kid" in self.metrics:
                result["kid"], result["kid_std"] = kernel_inception_distance(fake, real)
        return result

    def reset(self, keep_real: bool = False) -> None:
        """Forget the added images (all but the real set's features when ``keep_real``)."""
        self._paired = {m: [] for m in PAIRED_METRICS}
        self._fake = []
        if not keep_real:
            self._real = []
