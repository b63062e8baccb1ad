"""util/device.py: the one resolver behind --gpu_ids and the inference API's device=."""
from __future__ import annotations

import pytest
import torch

from util.device import resolve_device, resolve_gpu_ids
from util.errors import UserError

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")


def test_cpu_and_bad_names() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_gpu_ids("-1") == ([], torch.device("cpu"))
    with pytest.raises(UserError, match=r"^device 'gpu0' is not a valid torch device"):
        resolve_device("gpu0")
    with pytest.raises(UserError, match=r"^argument --gpu_ids: expected a comma list of integers"):
        resolve_gpu_ids("x")


@no_cuda
def test_asking_for_a_missing_gpu_names_the_flag_and_the_cpu_setting() -> None:
    with pytest.raises(UserError, match=r"^device 'cuda:1' asks for a GPU, .* use device='cpu' for the CPU$"):
        resolve_device("cuda:1")
    with pytest.raises(UserError, match=r"^--device cuda asks for a GPU, .* use --device cpu for the CPU$"):
        resolve_device("cuda", "--device")  # the command-line tools' phrasing (translate.py, evaluate.py)
    with pytest.raises(UserError, match=r"^argument --gpu_ids 0,1 asks for a GPU, .* use --gpu_ids -1 for the CPU$"):
        resolve_gpu_ids("0,1")
    assert resolve_gpu_ids("0") == ([], torch.device("cpu"))  # the reference's default falls back, with a warning
