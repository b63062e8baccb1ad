"""Export a trained generator to TorchScript and ONNX, then check that the files compute what PyTorch computes.

    python scripts/export.py --name horse2zebra --net G_A
    python scripts/export.py --name apple2orange --net G_A G_B       # both CycleGAN directions in one call
    python scripts/export.py --checkpoint latest_net_G.pth --netG unet_256 --norm batch --out exported

The architecture comes from the run's train_opt.txt (``--name``); flags such as ``--netG``/``--ngf``/``--norm``/
``--no_dropout`` override it, and what is still unknown is read off the checkpoint's keys. Files (written
atomically into ``--out``, default: the checkpoint's folder):

- ``{stem}.pt``: TorchScript (``torch.jit.trace`` in eval mode), load with ``torch.jit.load``;
- ``{stem}.onnx``: ONNX, opset 18 by default (``--opset``, 11 to 20), input ``input`` and output ``output`` with
  dynamic ``batch``, ``height`` and ``width`` axes. It is written by torch.onnx's TorchScript-based exporter:
  in torch 2.14 the torch.export-based one (``dynamo=True``) gives the same parity but takes 10-30 s per
  network instead of about one and needs onnxscript.

``{stem}`` is ``{name}_{epoch}_net_{net}`` (e.g. horse2zebra_latest_net_G_A), or the ``.pth`` file's stem. Both
take and return float32 images in [-1, 1] shaped N x C x H x W, where H and W are multiples of the generator's
multiple (models/architectures.py: 4 for ResNets, 128 for unet_128, 256 for unet_256): pad and crop as
models/tiling.py does.

``--amp fp16`` / ``--amp bf16`` writes a reduced-precision network (half the size; faster where the runtime
has such kernels): weights and computation in that type, input and output still float32. The parity check
then compares the file with the same reduced-precision network in PyTorch. ONNX Runtime's CPU provider has no
bfloat16 convolutions, so ``--amp bf16`` writes TorchScript only.

After writing, PyTorch, the loaded TorchScript file and onnxruntime (CPU) run the same random inputs of two
batch sizes and spatial sizes; the maximum absolute difference of each is printed, and the script exits with
status 1 when one exceeds ``--tolerance``. ONNX needs optional packages: ``pip install onnx onnxruntime``.
scripts/translate.py runs the files on images (``--model FILE.pt --input photo.jpg --output out.png``).
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np
import torch
from torch import nn

from models.architectures import GENERATOR_FLAGS
from models.inference import (TORCHSCRIPT_METADATA, GeneratorSpec, add_generator_flags, export_metadata,
                              load_generator, load_onnx, load_torchscript, read_run_architecture,
                              resolve_run_checkpoint, run_directory)
from util.cli import run_cli, setup_logging
from util.errors import UserError
from util.fileio import atomic_write

FORMATS = ("torchscript", "onnx")
AMP_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}
DEFAULT_OPSET = 18
OPSETS = range(11, 21)  # what torch 2.14's exporter writes for these networks (a dynamic Pad needs 11)
DYNAMIC_AXES = {0: "batch", 2: "height", 3: "width"}


@dataclass
class ParityResult:
    """Maximum absolute difference between an exported file and PyTorch on one input."""

    format: str
    shape: tuple
    max_abs_diff: float
    file: str = ""  # the exported file checked


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Export a generator to TorchScript / ONNX and check parity.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--name", help="training run in --checkpoints_dir (architecture from its train_opt.txt)")
    source.add_argument("--checkpoint", help="a generator .pth file (architecture from the flags or the file)")
    parser.add_argument("--checkpoints_dir", default="./checkpoints",
                        help="where the runs are (default: ./checkpoints)")
    parser.add_argument("--epoch", default="latest",
                        help="which checkpoint of the run: latest (default), 5, iter_1000, ...")
    parser.add_argument("--net", nargs="+", default=[None], metavar="NET",
                        help="network(s) of the run: G (pix2pix), G_A and/or G_B (CycleGAN: --net G_A G_B exports "
                             "both directions); default G, else G_A")
    parser.add_argument("--format", nargs="+", choices=FORMATS, default=list(FORMATS),
                        help="what to write (default: both)")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                        help=f"ONNX opset version, {OPSETS.start} to {OPSETS.stop - 1} (default: {DEFAULT_OPSET})")
    parser.add_argument("--out", default=None, help="output folder (default: the checkpoint's folder)")
    parser.add_argument("--amp", choices=["none", *AMP_DTYPES], default="none",
                        help="write the network in float16 or bfloat16 (input and output stay float32)")
    parser.add_argument("--tolerance", type=float, default=None,
                        help="largest max |difference| to PyTorch that the parity check accepts (default: 1e-4, "
                             "1e-2 with --amp: runtimes accumulate half-precision sums in other orders)")
    add_generator_flags(parser)
    opt = parser.parse_args(argv)
    if opt.tolerance is None:
        opt.tolerance = 1e-4 if opt.amp == "none" else 1e-2
    return opt


def require_modules(modules: Sequence[str], purpose: str) -> None:
    """UserError naming the pip command when an optional package is missing (checked before writing anything)."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(f"{purpose} needs the optional package(s) {', '.join(missing)}: "
                        f"pip install {' '.join(missing)}")


@contextlib.contextmanager
def quiet_export_warnings() -> Iterator[None]:
    """Hide the deprecation notices and tracer chatter of torch.jit / torch.onnx; the parity check is what
    tells whether the export is right."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx")
        warnings.filterwarnings("ignore", category=UserWarning, message=r".*(Constant folding|instance_norm)")
        yield


class ReducedPrecision(nn.Module):
    """A generator computing in ``dtype`` behind a float32 interface (callers keep feeding float32 images)."""

    def __init__(self, net: nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        self.net = net.to(dtype)
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.to(self.dtype)).float()


def export_torchscript(net: nn.Module, spec: GeneratorSpec, example: torch.Tensor, path: Path) -> None:
    """Trace the network in eval mode and save it atomically.

    Tracing suits these generators (no data-dependent control flow; sizes are not baked in, as the parity
    check on a second size shows) and, unlike ``torch.jit.script``, gives a module whose first calls are not
    slowed down by the profiling executor (seconds per call for a U-Net).
    """
    extra = {TORCHSCRIPT_METADATA: json.dumps(export_metadata(spec))}
    with quiet_export_warnings(), torch.no_grad():
        traced = torch.jit.trace(net.eval(), example, check_trace=False)
        atomic_write(path, lambda f: torch.jit.save(traced, f, _extra_files=extra))


def export_onnx(net: nn.Module, spec: GeneratorSpec, example: torch.Tensor, path: Path,
                opset: int = DEFAULT_OPSET) -> None:
    """Export with dynamic axes ``batch``, ``height`` and ``width``, add the metadata, check, save atomically."""
    import onnx

    buffer = io.BytesIO()
    with quiet_export_warnings(), torch.no_grad():
        torch.onnx.export(net.eval(), (example,), buffer, dynamo=False, opset_version=opset, input_names=["input"],
                          output_names=["output"], dynamic_axes={"input": DYNAMIC_AXES, "output": DYNAMIC_AXES})
    model = onnx.load_from_string(buffer.getvalue())
    for key, value in export_metadata(spec).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    atomic_write(path, lambda f: f.write(data))


def parity_inputs(spec: GeneratorSpec, seed: int = 0) -> List[torch.Tensor]:
    """Two random batches in [-1, 1] of different batch sizes and spatial sizes, each valid for the generator."""
    multiple = spec.multiple
    base = -(-64 // multiple) * multiple  # 64 px for ResNets, one multiple for U-Nets
    taller = base + 32 if multiple <= 32 else base
    generator = torch.Generator().manual_seed(seed)
    shapes = [(1, spec.input_nc, base, base), (2, spec.input_nc, taller, base + max(multiple, 64))]
    return [torch.rand(shape, generator=generator) * 2 - 1 for shape in shapes]


def check_parity(net: nn.Module, files: Dict[str, Path], inputs: Sequence[torch.Tensor]) -> List[ParityResult]:
    """Run PyTorch and each written file, loaded back from disk as scripts/translate.py loads it, on ``inputs``;
    report max |difference|."""
    loaded: Dict[str, nn.Module] = {}
    if "torchscript" in files:
        loaded["torchscript"] = load_torchscript(files["torchscript"])[0]
    if "onnx" in files:
        loaded["onnx"] = load_onnx(files["onnx"])[0]
    results = []
    net = net.eval()
    for x in inputs:
        with torch.no_grad():
            expected = net(x).numpy()
            for fmt, runner in loaded.items():
                got = runner(x).numpy()
                diff = float(np.abs(got - expected).max()) if got.shape == expected.shape else float("inf")
                results.append(ParityResult(fmt, tuple(x.shape), diff, str(files[fmt])))
    return results


def export(opt: argparse.Namespace) -> List[ParityResult]:
    """Load each generator named by ``opt``, write the requested files, check parity; return the figures."""
    if "onnx" in opt.format:
        if opt.opset not in OPSETS:
            raise UserError(f"--opset {opt.opset} is not supported; choose {OPSETS.start} to {OPSETS.stop - 1}")
        require_modules(["onnx", "onnxruntime"], "ONNX export")
    if opt.amp == "bf16" and "onnx" in opt.format:
        raise UserError("--amp bf16: ONNX Runtime's CPU provider has no bfloat16 convolutions; "
                        "pass --format torchscript or use --amp fp16")
    flags = {name: getattr(opt, name) for name in GENERATOR_FLAGS}
    if not opt.name:
        if opt.net != [None]:
            raise UserError("--net picks networks of a run (--name); --checkpoint names one file already")
        return export_one(opt, Path(opt.checkpoint), Path(opt.checkpoint).stem, flags)
    run_dir = run_directory(opt.name, opt.checkpoints_dir)
    flags = {**read_run_architecture(run_dir), **{k: v for k, v in flags.items() if v is not None}}
    # every file is found before any is written, so a wrong network name writes nothing
    paths = [resolve_run_checkpoint(run_dir, opt.epoch, net) for net in dict.fromkeys(opt.net)]
    results: List[ParityResult] = []
    for path in paths:
        results += export_one(opt, path, f"{Path(opt.name).name}_{path.stem}", flags)
    return results


def export_one(opt: argparse.Namespace, path: Path, stem: str, flags: Dict[str, object]) -> List[ParityResult]:
    """Export the generator of one ``.pth`` file as ``{stem}.pt`` / ``{stem}.onnx`` and check its parity."""
    net, spec = load_generator(path, "cpu", **flags)
    if opt.amp != "none":
        net = ReducedPrecision(net, AMP_DTYPES[opt.amp])
        stem = f"{stem}_{opt.amp}"
    out_dir = Path(opt.out) if opt.out else path.parent
    inputs = parity_inputs(spec)
    files: Dict[str, Path] = {}
    if "torchscript" in opt.format:
        files["torchscript"] = out_dir / f"{stem}.pt"
        export_torchscript(net, spec, inputs[0], files["torchscript"])
        print(f"wrote {files['torchscript']} (TorchScript; load with torch.jit.load)")
    if "onnx" in opt.format:
        files["onnx"] = out_dir / f"{stem}.onnx"
        export_onnx(net, spec, inputs[0], files["onnx"], opt.opset)
        print(f"wrote {files['onnx']} (ONNX opset {opt.opset}; input 'input', output 'output', dynamic axes "
              f"batch, height, width)")
    results = check_parity(net, files, inputs)
    print(f"parity of {path.name} against PyTorch (max |difference|):")
    for r in results:
        print(f"  {r.format:<12} {'x'.join(map(str, r.shape)):<14} {r.max_abs_diff:.3e}")
    print(f"The exported model takes and returns float32 images in [-1, 1], shaped N x {spec.input_nc} x H x W "
          f"(output: N x {spec.output_nc} x H x W); H and W must be multiples of {spec.multiple} "
          f"(--netG {spec.netG}): pad other sizes and crop the result.")
    return results


def main(argv: Optional[Sequence[str]] = None) -> None:
    opt = parse_args(argv)
    setup_logging()
    results = export(opt)
    worst = max(results, key=lambda r: r.max_abs_diff, default=None)
    if worst is not None and not worst.max_abs_diff <= opt.tolerance:
        print(f"error: parity check failed: {worst.format} differs from PyTorch by {worst.max_abs_diff:.3e} on a "
              f"{'x'.join(map(str, worst.shape))} input (tolerance {opt.tolerance:g}; {worst.file})", file=sys.stderr)
        sys.exit(1)
    print(f"parity check passed (tolerance {opt.tolerance:g}); translate images with: python scripts/translate.py "
          f"--model {results[0].file if results else 'FILE'} --input IMAGE_OR_FOLDER --output FILE_OR_FOLDER")


if __name__ == "__main__":
    run_cli(main)
