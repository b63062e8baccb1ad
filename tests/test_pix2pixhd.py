"""pix2pixHD model, options and data: the reference's float64 training trace, input encoding, the recipe."""
from __future__ import annotations

from pathlib import Path
from typing import List

import numpy as np
import pytest
import torch
from PIL import Image

from models import create_model
from models import pix2pixhd_model as hdm
from options.test_options import TestOptions
from options.train_options import TrainOptions
from tests.conftest import SHARED, needs_fixture, run_script
from util.errors import UserError

TRACE = SHARED / "fixtures" / "pix2pixhd" / "steps64" / "hd_global.pt"
TINY_HD = ["--model", "pix2pixhd", "--gpu_ids", "-1", "--ngf", "8", "--ndf", "8", "--n_downsample_global", "2",
           "--n_blocks_global", "2", "--no_vgg_loss", "--display_id", "0", "--num_threads", "0"]


def train_options(tmp_path: Path, extra: List[str]) -> object:
    (tmp_path / "data").mkdir(exist_ok=True)
    argv = ["--dataroot", str(tmp_path / "data"), "--checkpoints_dir", str(tmp_path / "ckpt"), *TINY_HD, *extra]
    return TrainOptions().parse(argv, save=False)


@needs_fixture(TRACE)
def test_reference_training_trace_in_float64(tmp_path: Path, float64) -> None:
    trace = torch.load(TRACE, weights_only=True)
    o = trace["options"]
    opt = train_options(tmp_path, ["--label_nc", str(o["label_nc"]), "--resize_or_crop", o["resize_or_crop"],
                                   "--num_D", str(o["num_D"]), "--n_layers_D", str(o["n_layers_D"]),
                                   "--lambda_feat", str(o["lambda_feat"]), "--pool_size", str(o["pool_size"])])
    model = create_model(opt)
    model.setup(opt)
    model.netG.load_state_dict(trace["init"]["G"], strict=True)
    model.netD.load_state_dict(trace["init"]["D"], strict=True)
    assert next(model.netG.parameters()).dtype == torch.float64
    for batch, expected in zip(trace["batches"], trace["losses"], strict=True):
        model.set_input(batch)
        model.optimize_parameters()
        losses = model.get_current_losses()
        assert set(losses) == {"G_GAN", "G_GAN_Feat", "G_VGG", "D_real", "D_fake"}
        assert losses["G_VGG"] == 0.0
        for name, value in expected.items():
            assert losses[name] == pytest.approx(value, abs=1e-10, rel=0), name
    for name, net in (("G", model.netG), ("D", model.netD)):
        final = trace["final"][name]
        for key, value in net.state_dict().items():
            assert torch.allclose(value, final[key], atol=1e-10, rtol=0), f"{name} {key}"


def test_one_hot_on_a_hand_made_map() -> None:
    ids = torch.tensor([[[[0, 2], [1, 2]]]])
    expected = torch.tensor([[[[1, 0], [0, 0]], [[0, 0], [1, 0]], [[0, 1], [0, 1]]]], dtype=torch.float64)
    assert torch.equal(hdm.one_hot(ids, 3, torch.float64), expected)
    assert torch.equal(hdm.one_hot(ids.double(), 3, torch.float64), expected)  # the reference's float ids
    with pytest.raises(UserError, match="--label_nc 2.*at least 3"):
        hdm.one_hot(ids, 2, torch.float64)


def test_boundary_map_on_a_hand_made_map() -> None:
    inst = torch.tensor([[[[5, 5, 5, 7],
                           [5, 5, 5, 7],
                           [9, 9, 5, 7],
                           [9, 9, 5, 5]]]])
    expected = torch.tensor([[[[0, 0, 1, 1],
                               [1, 1, 1, 1],
                               [1, 1, 1, 1],
                               [0, 1, 1, 1]]]], dtype=torch.float32)
    assert torch.equal(hdm.boundary_map(inst, torch.float32), expected)
    assert hdm.boundary_map(torch.full((1, 1, 3, 3), 33000), torch.float32).sum() == 0


@pytest.mark.filterwarnings("ignore:Detected call of")
def test_reference_lr_decay(tmp_path: Path) -> None:
    opt = train_options(tmp_path, ["--label_nc", "4", "--niter", "3", "--niter_decay", "4"])
    model = create_model(opt)
    model.setup(opt)
    lrs = []
    for _ in range(7):
        lrs.append(model.get_learning_rate())
        model.update_learning_rate()
    # epochs 1..niter+1 at lr, then lr * (1 - (e - niter - 1) / niter_decay); the last epoch at lr / niter_decay
    assert lrs == pytest.approx([2e-4, 2e-4, 2e-4, 2e-4, 1.5e-4, 1e-4, 0.5e-4], rel=1e-12)
    assert model.optimizer_D.param_groups[0]["lr"] == model.optimizer_G.param_groups[0]["lr"]


def test_reference_flag_names_are_aliases(tmp_path: Path) -> None:
    opt = train_options(tmp_path, ["--label_nc", "4", "--loadSize", "96", "--fineSize", "64", "--batchSize", "2",
                                   "--resize_or_crop", "crop", "--niter", "5", "--niter_decay", "6",
                                   "--which_epoch", "7", "--no_lsgan", "--nThreads", "1", "--tf_log"])
    assert (opt.load_size, opt.crop_size, opt.batch_size, opt.preprocess) == (96, 64, 2, "crop")
    assert (opt.n_epochs, opt.n_epochs_decay, opt.epoch, opt.gan_mode, opt.num_threads) == (5, 6, "7", "vanilla", 1)
    assert opt.use_tensorboard
    defaults = train_options(tmp_path, [])
    assert (defaults.load_size, defaults.crop_size, defaults.preprocess, defaults.gan_mode) == \
        (1024, 512, "scale_width", "lsgan")
    assert (defaults.netG, defaults.label_nc, defaults.pool_size, defaults.num_D) == ("global", 35, 0, 2)


def test_fp16_is_amp_fp16_with_a_gradient_scaler(tmp_path: Path) -> None:
    model = create_model(train_options(tmp_path, ["--fp16"]))
    assert model.opt.amp == "fp16" and model.scaler is not None
    assert create_model(train_options(tmp_path, [])).scaler is None


def test_bad_flags_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="--fp16 means --amp fp16; it cannot go with --amp bf16"):
        create_model(train_options(tmp_path, ["--fp16", "--amp", "bf16"]))
    with pytest.raises(UserError, match="--niter_fix_global needs --netG local"):
        create_model(train_options(tmp_path, ["--niter_fix_global", "2"]))
    with pytest.raises(UserError, match="--netG resnet_9blocks"):
        create_model(train_options(tmp_path, ["--netG", "resnet_9blocks"]))
    with pytest.raises(SystemExit):  # a crop the generator cannot take: options name --crop_size
        train_options(tmp_path, ["--resize_or_crop", "crop", "--fineSize", "42"])


def test_vanilla_gan_with_feature_matching_trains(tmp_path: Path) -> None:
    """The reference's --no_lsgan broke with feature matching (BCE on raw logits); here it is BCE on logits."""
    torch.manual_seed(0)
    model = create_model(train_options(tmp_path, ["--label_nc", "4", "--no_lsgan", "--num_D", "1"]))
    model.setup(model.opt)
    batch = {"label": torch.randint(0, 4, (1, 1, 32, 32)), "inst": torch.randint(0, 3, (1, 1, 32, 32)),
             "image": torch.rand(1, 3, 32, 32) * 2 - 1}
    model.set_input(batch)
    with torch.no_grad():
        logits = model.netD(torch.cat((model.input_concat, model.real_image), 1))[0][-1]
        expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    model.optimize_parameters()
    losses = model.get_current_losses()
    assert all(np.isfinite(v) for v in losses.values())
    assert losses["D_real"] == pytest.approx(float(expected), rel=1e-6)


def test_niter_fix_global_trains_the_enhancer_then_everything(tmp_path: Path) -> None:
    torch.manual_seed(0)
    opt = train_options(tmp_path, ["--label_nc", "4", "--netG", "local", "--n_blocks_local", "1",
                                   "--niter_fix_global", "1", "--niter", "2", "--niter_decay", "0", "--num_D", "1"])
    model = create_model(opt)
    model.setup(opt)
    batch = {"label": torch.randint(0, 4, (1, 1, 32, 32)), "inst": torch.randint(0, 3, (1, 1, 32, 32)),
             "image": torch.rand(1, 3, 32, 32) * 2 - 1}

    def step_changes() -> tuple:
        before = {k: v.clone() for k, v in model.netG.state_dict().items()}
        model.set_input(batch)
        model.optimize_parameters()
        after = model.netG.state_dict()
        changed = {k for k in before if not torch.equal(before[k], after[k])}
        return any(k.startswith("model.") for k in changed), any(k.startswith("model1_") for k in changed)

    assert step_changes() == (False, True)  # epoch 1: only the enhancer
    model.update_learning_rate()  # end of epoch 1 = niter_fix_global: the global generator joins
    assert len(model.optimizer_G.state) == 0  # fresh moments, as the reference meant
    assert step_changes() == (True, True)


def test_load_pretrain_from_a_512p_run_into_a_local_enhancer(tmp_path: Path, caplog) -> None:
    torch.manual_seed(0)
    small = create_model(train_options(tmp_path, ["--label_nc", "4", "--num_D", "2"]))
    run = tmp_path / "run512"
    run.mkdir()
    torch.save(small.netG.state_dict(), run / "latest_net_G.pth")
    torch.save(small.netD.state_dict(), run / "latest_net_D.pth")
    opt = train_options(tmp_path, ["--label_nc", "4", "--netG", "local", "--ngf", "4", "--n_blocks_local", "1",
                                   "--num_D", "3", "--load_pretrain", str(run)])
    model = create_model(opt)
    with caplog.at_level("WARNING"):
        model.setup(opt)
    g = model.netG.state_dict()
    for key, value in small.netG.state_dict().items():
        if key in g and g[key].shape == value.shape:
            assert torch.equal(g[key], value)
    assert torch.equal(g["model.1.weight"], small.netG.state_dict()["model.1.weight"])
    key = "scale1_layer0.0.weight"
    assert torch.equal(model.netD.state_dict()[key], small.netD.state_dict()[key])
    assert "model1_1" in caplog.text and "scale2_layer0" in caplog.text
    with pytest.raises(UserError, match="latest_net_G.pth not found"):
        bad = train_options(tmp_path, ["--label_nc", "4", "--load_pretrain", str(tmp_path / "data")])
        create_model(bad).setup(bad)


def write_map(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)  # uint16 -> a 16-bit PNG, uint8 -> mode L
    return path


def make_hd_dataset(root: Path, n: int = 2, size=(64, 32), test_images: bool = False) -> Path:
    w, h = size
    for i in range(n):
        label = np.zeros((h, w), np.uint8)
        label[:, w // 2:] = 26
        label[: h // 4] = 23
        inst = label.astype(np.uint16)
        inst[h // 2:, w // 2: w // 2 + w // 4] = 26000 + i
        inst[h // 2:, w // 2 + w // 4:] = 33001  # above 32767: wrapped negative in the reference
        for phase in ("train", "test"):
            write_map(root / f"{phase}_label" / f"s{i}_gtFine_labelIds.png", label)
            write_map(root / f"{phase}_inst" / f"s{i}_gtFine_instanceIds.png", inst)
        photo = (np.random.RandomState(i).rand(h, w, 3) * 255).astype(np.uint8)
        for phase in ("train",) + (("test",) if test_images else ()):
            (root / f"{phase}_img").mkdir(parents=True, exist_ok=True)
            Image.fromarray(photo).save(root / f"{phase}_img" / f"s{i}_leftImg8bit.png")
    return root


def test_dataset_reads_ids_unsigned_and_resizes_nearest(tmp_path: Path) -> None:
    root = make_hd_dataset(tmp_path / "hd", size=(128, 64))
    opt = train_options(tmp_path, ["--dataroot", str(root), "--loadSize", "64", "--fineSize", "32", "--no_flip"])
    from data import create_dataset

    item = create_dataset(opt).dataset[0]
    assert item["label"].shape == (1, 32, 64) and item["label"].dtype == torch.int64
    assert set(item["label"].unique().tolist()) == {0, 23, 26}
    assert set(item["inst"].unique().tolist()) == {0, 23, 26, 26000, 33001}
    assert item["image"].shape == (3, 32, 64) and -1 <= item["image"].min() and item["image"].max() <= 1
    assert item["path"].endswith("s0_gtFine_labelIds.png")


def test_dataset_label_only_test_set_and_mismatched_folders(tmp_path: Path) -> None:
    root = make_hd_dataset(tmp_path / "hd")
    (tmp_path / "ckpt").mkdir()
    opt = TestOptions().parse(["--dataroot", str(root), "--checkpoints_dir", str(tmp_path / "ckpt"),
                               "--results_dir", str(tmp_path / "res"), *TINY_HD[:10], "--label_nc", "35",
                               "--loadSize", "64", "--fineSize", "32"], save=False)
    from data import create_dataset

    item = create_dataset(opt).dataset[1]
    assert item["image"] == 0 and item["inst"].shape == (1, 32, 64)
    (root / "test_inst" / "s1_gtFine_instanceIds.png").unlink()
    with pytest.raises(UserError, match="test_inst holds 1 images.*paired by sorted position"):
        create_dataset(opt)


@pytest.mark.slow
def test_train_without_vgg_weights_stops_with_one_line(tmp_path: Path) -> None:
    root = make_hd_dataset(tmp_path / "hd")
    args = ["--dataroot", str(root), "--checkpoints_dir", str(tmp_path / "ckpt"), "--name", "novgg",
            *[a for a in TINY_HD if a != "--no_vgg_loss"], "--loadSize", "64", "--fineSize", "32",
            "--vgg_weights", str(tmp_path / "vgg19.pth")]
    proc = run_script("train.py", args, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "--vgg_weights" in lines[0] and "--no_vgg_loss" in lines[0]


def test_half_precision_test_keeps_instance_ids_exact(tmp_path: Path) -> None:
    """--data_type 16 halves the networks and inputs, but boundaries come from the integer ids (26001 != 26002;
    the reference's half-precision ids merged them)."""
    train_model = create_model(train_options(tmp_path, ["--label_nc", "4", "--name", "half"]))
    (tmp_path / "ckpt" / "half").mkdir(parents=True)
    torch.save(train_model.netG.state_dict(), tmp_path / "ckpt" / "half" / "latest_net_G.pth")
    opt = TestOptions().parse(["--dataroot", str(tmp_path / "data"), "--checkpoints_dir", str(tmp_path / "ckpt"),
                               "--results_dir", str(tmp_path / "res"), "--name", "half", *TINY_HD[:12],
                               "--label_nc", "4", "--data_type", "16"], save=False)
    model = create_model(opt)
    model.setup(opt)
    inst = torch.full((1, 1, 16, 16), 26001)
    inst[..., 8:] = 26002
    model.set_input({"label": torch.zeros(1, 1, 16, 16, dtype=torch.int64), "inst": inst})
    model.test()
    assert model.synthesized_image.dtype == torch.float16
    assert model.input_concat[0, -1, :, 7:9].eq(1).all() and model.input_concat[0, -1].sum() == 32


@pytest.mark.parametrize("mode, size, expected", [
    ("none", (100, 52), (48, 96)),             # sides rounded to the local enhancer's multiple, 2^(2+1) = 8
    ("crop", (100, 52), (32, 32)),
    ("resize_and_crop", (100, 52), (32, 32)),
    ("scale_width_and_crop", (100, 52), (32, 32)),
    ("scale_shortside_and_crop", (100, 52), (32, 32)),
    ("scale_shortside", (100, 52), (40, 80)),  # 77x40 (shorter side 52 -> 40), rounded to multiples of 8
])
def test_dataset_preprocess_modes_keep_maps_aligned(tmp_path: Path, mode: str, size: tuple, expected: tuple) -> None:
    root = make_hd_dataset(tmp_path / "hd", n=1, size=size)
    opt = train_options(tmp_path, ["--dataroot", str(root), "--netG", "local", "--resize_or_crop", mode,
                                   "--loadSize", "40", "--fineSize", "32"])
    from data import create_dataset

    item = create_dataset(opt).dataset[0]
    assert item["label"].shape[1:] == item["inst"].shape[1:] == item["image"].shape[1:] == expected
    # nearest resizing never invents ids, and the instance map still splits where the label map does
    assert set(item["inst"].unique().tolist()) <= {0, 23, 26, 26000, 33001}
    assert torch.equal(item["label"] == 26, (item["inst"] == 26) | (item["inst"] >= 26000))


def test_rgb_input_without_instances_and_precomputed_features(tmp_path: Path) -> None:
    """--label_nc 0 reads {phase}_A / {phase}_B photos; --load_features feeds {phase}_feat to G and builds no E."""
    from data import create_dataset

    root = tmp_path / "rgb"
    for i in range(2):
        for folder in ("train_A", "train_B", "train_feat"):
            (root / folder).mkdir(parents=True, exist_ok=True)
            photo = (np.random.RandomState(i + len(folder)).rand(32, 64, 3) * 255).astype(np.uint8)
            Image.fromarray(photo).save(root / folder / f"{i}.png")
    opt = train_options(tmp_path, ["--dataroot", str(root), "--label_nc", "0", "--no_instance", "--instance_feat",
                                   "--load_features", "--loadSize", "64", "--fineSize", "32", "--num_D", "1"])
    batch = next(iter(create_dataset(opt)))
    assert batch["label"].shape == batch["image"].shape == batch["feat"].shape == (1, 3, 32, 64)
    model = create_model(opt)
    model.setup(opt)
    assert model.model_names == ["G", "D"] and not hasattr(model, "netE")
    assert model.netG.state_dict()["model.1.weight"].shape[1] == 3 + 3  # RGB input + loaded features
    model.set_input(batch)
    model.optimize_parameters()
    model.compute_visuals()
    visuals = model.get_current_visuals()
    assert list(visuals) == ["input_label", "synthesized_image", "real_image"]
    assert torch.equal(visuals["input_label"], batch["label"])


def test_precomputed_feature_maps_come_from_the_trained_encoder_and_cluster(tmp_path: Path) -> None:
    """precompute_feature_maps.py writes {phase}_feat with the run's trained encoder (the reference's used random
    weights); a --load_features run trains on them and cluster_features.py clusters them."""
    from data import create_dataset
    from models import pix2pixhd_networks as hd
    from scripts.pix2pixhd.cluster_features import encode_training_set
    from scripts.pix2pixhd.precompute_feature_maps import precompute_feature_maps

    root = make_hd_dataset(tmp_path / "hd", n=2, size=(64, 32))
    flags = ["--dataroot", str(root), "--name", "enc", "--instance_feat", "--nef", "4", "--n_downsample_E", "2",
             "--resize_or_crop", "scale_width", "--loadSize", "32", "--fineSize", "16", "--seed", "0"]
    opt = train_options(tmp_path, flags)
    with pytest.raises(UserError, match="enc/latest_net_E.pth not found: this needs the encoder of a run"):
        precompute_feature_maps(opt)
    torch.manual_seed(0)
    encoder = hd.define_G(3, 3, 4, "encoder", 2)
    (tmp_path / "ckpt" / "enc").mkdir(parents=True)
    torch.save(encoder.state_dict(), tmp_path / "ckpt" / "enc" / "latest_net_E.pth")
    assert precompute_feature_maps(opt) == 2

    item = create_dataset(opt).dataset[1]  # what the encoder saw: the photo at the run's 32 x 16
    with torch.no_grad():
        expected = encoder(item["image"][None], item["inst"][None])[0]
    stored = np.asarray(Image.open(root / "train_feat" / "s1_gtFine_labelIds.png"))
    assert stored.shape == (32, 64, 3)  # the label map's full size
    inst = np.asarray(Image.open(root / "train_inst" / "s1_gtFine_instanceIds.png")).astype(np.int64)
    small = item["inst"][0].numpy()
    for value in np.unique(inst):
        colours = np.unique(stored[inst == value], axis=0)
        assert len(colours) == 1  # one feature vector per instance
        want = expected[:, torch.from_numpy(small == value)][:, 0]
        assert np.array_equal(colours[0], ((want + 1) * 127.5).round().numpy().astype(np.uint8))

    load_opt = train_options(tmp_path, flags + ["--load_features", "--num_D", "1"])
    model = create_model(load_opt)
    model.setup(load_opt)
    assert "E" not in model.model_names
    batch = next(iter(create_dataset(load_opt)))
    model.set_input(batch)
    model.optimize_parameters()
    rows = encode_training_set(load_opt)
    cars = np.stack(rows[26])  # label 26 without an instance id, and instances 26000 + i
    assert cars.shape[1] == 3 + 1 and np.all(np.abs(cars[:, :3]) <= 1)
    for bad, message in ((["--resize_or_crop", "crop"], "the maps cover whole images"),
                         (["--load_features"], "writes the maps that --load_features reads"),
                         (["--feat_num", "4"], "--feat_num must be 3")):
        with pytest.raises(UserError, match=message):
            precompute_feature_maps(train_options(tmp_path, flags + bad))


def test_a_load_features_run_samples_clusters_at_test_time(tmp_path: Path) -> None:
    """test.py does not take --load_features from the run (its test set has no feature maps) and builds no encoder
    unless --use_encoded_image, which a --load_features run cannot give: one line says what to do instead."""
    trained = create_model(train_options(tmp_path, ["--label_nc", "4", "--name", "lf", "--instance_feat",
                                                    "--load_features"]))
    run = tmp_path / "ckpt" / "lf"
    run.mkdir(parents=True)
    torch.save(trained.netG.state_dict(), run / "latest_net_G.pth")
    np.savez(run / "features_clustered_010.npz", **{"1": np.full((2, 3), 0.5)})
    (run / "train_opt.txt").write_text("----------------- Options ---------------\n"
                                       "               instance_feat: True\n              load_features: True\n"
                                       "                    label_nc: 4\n----------------- End -------------------\n")
    argv = ["--dataroot", str(tmp_path / "data"), "--checkpoints_dir", str(tmp_path / "ckpt"), "--results_dir",
            str(tmp_path / "res"), "--name", "lf", *TINY_HD[:12]]
    opt = TestOptions().parse(argv, save=False)
    assert opt.instance_feat and not opt.load_features and opt.label_nc == 4
    model = create_model(opt)
    model.setup(opt)
    assert model.model_names == ["G"]
    label = torch.zeros(1, 1, 16, 16, dtype=torch.int64)
    label[..., 8:] = 1
    model.set_input({"label": label, "inst": label.clone()})
    model.test()
    assert model.synthesized_image.shape == (1, 3, 16, 16)
    encoded = TestOptions().parse(argv + ["--use_encoded_image"], save=False)
    with pytest.raises(UserError, match="--use_encoded_image needs the run's encoder.*precompute_feature_maps.py"):
        create_model(encoded).setup(encoded)
    with pytest.raises(UserError, match="--use_encoded_image and --load_features"):
        create_model(TestOptions().parse(argv + ["--use_encoded_image", "--load_features"], save=False))


def test_checkpoint_hints_name_the_multiscale_discriminator(tmp_path: Path) -> None:
    model = create_model(train_options(tmp_path, ["--label_nc", "4", "--num_D", "3"]))
    hints = model.architecture_hints()
    assert (hints["netD"], hints["num_D"], hints["n_blocks_global"], hints["label_nc"]) == ("multiscale", 3, 2, 4)


@pytest.mark.parametrize("script", sorted(p.name for p in (Path(__file__).parents[1] / "scripts" / "pix2pixhd")
                                          .glob("*.sh")))
def test_recipe_scripts_parse(tmp_path: Path, script: str) -> None:
    """Every command of scripts/pix2pixhd/*.sh parses with its entry point's options."""
    text = (Path(__file__).parents[1] / "scripts" / "pix2pixhd" / script).read_text().replace("\\\n", " ")
    commands = [line.split()[1:] for line in text.splitlines() if line.startswith("$PY ")]
    assert commands
    (tmp_path / "data").mkdir()
    for entry, *args in commands:
        args = [str(tmp_path / "data") if a == '"$DATAROOT"' else a for a in args if a != '"$@"']
        args += ["--checkpoints_dir", str(tmp_path / "ckpt"), "--gpu_ids", "-1"]
        if entry == "test.py":
            opt = TestOptions().parse(args + ["--results_dir", str(tmp_path / "res")], save=False)
        else:
            opt = TrainOptions().parse(args, save=False)
        assert opt.model == "pix2pixhd" and opt.dataset_mode == "pix2pixhd"


def test_scale_width_keeps_the_aspect_ratio_below_fine_size(tmp_path: Path) -> None:
    """pix2pixHD's scale_width: 128x64 maps at --loadSize 64 are 64x32 (the reference's CycleGAN/pix2pix would
    stretch them to --fineSize 512 high; without a crop nothing needs that height)."""
    root = make_hd_dataset(tmp_path / "hd", size=(128, 64))
    opt = train_options(tmp_path, ["--dataroot", str(root), "--resize_or_crop", "scale_width", "--loadSize", "64",
                                   "--no_flip"])
    from data import create_dataset

    item = create_dataset(opt).dataset[0]
    assert item["label"].shape == (1, 32, 64) and item["image"].shape == (3, 32, 64)
