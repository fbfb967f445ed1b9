"""Pieces of the baseline scripts that the smoke runs do not reach (the ResNet-50 encoder path)."""

from __future__ import annotations

from .conftest import load_script, needs_torch


@needs_torch
def test_resnet50_has_torchvision_layout_and_stays_frozen(tmp_path):
    import torch

    base = load_script("imageCaptioningCOCO", "baseline.py")
    enc = base.ResNet50()
    sd = enc.state_dict()
    # torchvision's resnet50: 25,557,032 parameters, 320 state_dict entries, these names and shapes
    assert sum(p.numel() for p in enc.parameters()) == 25_557_032
    assert len(sd) == 320
    assert sd["fc.weight"].shape == (1000, 2048) and sd["layer4.2.bn3.running_var"].shape == (2048,)
    assert sd["layer1.0.downsample.0.weight"].shape == (256, 64, 1, 1)
    torch.save(sd, tmp_path / "resnet50.pth")  # a local weights file loads strictly
    enc2 = base.ResNet50()
    enc2.load_state_dict(torch.load(tmp_path / "resnet50.pth"))

    torch.manual_seed(0)
    model = base.Captioner(enc2, True, vocab=12, embed=16, hidden=32)
    model.train()
    imgs = torch.randn(2, 3, 64, 64)
    caps = torch.tensor([[1, 5, 6, 2], [1, 7, 2, 0]])
    logits = model(imgs, caps)
    assert logits.shape == (2, 4, 12)
    logits.sum().backward()
    assert all(p.grad is None for p in enc2.parameters())  # frozen encoder
    assert model.project.weight.grad is not None
    model.eval()
    out = model.generate(imgs, 1, 2, max_len=5)
    assert len(out) == 2 and all(len(w) <= 5 and 1 not in w and 2 not in w for w in out)
