#!/usr/bin/python3
"""Quick checks of tools/train/vqvae.py (a few seconds, untrained weights):
- the exported decs.1.* names and shapes are exactly those tests/make_vqvae_fixture.py
  writes for the same Decoder(channels, channels_mult, num_res_blocks, z_channels, 3);
- shapes and dtypes of encode / decode, the pixel convention (icetk mean/std round trip);
- the training loop runs a few steps on random frames and save/load/export work."""
import os
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests"))
import vqvae  # noqa: E402
import make_vqvae_fixture as fx  # noqa: E402


def main():
    torch.set_num_threads(1)
    m = vqvae.VQVAE()
    c = m.cfg
    fx.P = dict(fx.PRESETS["A"], CH=c["channels"], MULT=c["channels_mult"], NRB=c["num_res_blocks"],
                Z=c["z_channels"], CODES=c["n_codes"])
    want = [("quantize.embed.weight", [c["n_codes"], c["z_channels"]])] + fx.decoder()
    sd = vqvae.export_state_dict(m)
    got = [(k, list(v.shape)) for k, v in sd.items()]
    assert sorted(got) == sorted(want), set(got) ^ set(want)
    assert all(v.dtype == torch.float16 for v in sd.values())
    assert not any(k.startswith("enc.") for k in sd)
    assert any(k.startswith("enc.") for k in vqvae.export_state_dict(m, with_encoder=True))

    rng = np.random.default_rng(0)
    fr = rng.integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    x = vqvae.frames_to_input(fr)
    assert torch.equal(torch.as_tensor(vqvae.image_to_u8(vqvae.output_to_image(x))), torch.as_tensor(fr))
    m.eval()
    m.quantize.kmeans_init(torch.randn(2048, c["z_channels"]), torch.Generator().manual_seed(0))
    ids = vqvae.encode(fr, m)
    assert ids.shape == (5, 8, 8) and ids.dtype == np.int64 and ids.min() >= 0 and ids.max() < 512
    out = vqvae.decode(ids, m)
    assert out.shape == (5, 64, 64, 3) and out.dtype == np.uint8
    assert vqvae.decode_float(ids, m).shape == (5, 3, 64, 64)

    with tempfile.TemporaryDirectory() as td:
        npz = os.path.join(td, "d.npz")
        np.savez(npz, frames=rng.integers(0, 256, (2, 33, 64, 64, 3), dtype=np.uint8))
        vqvae.main(["train", "--data", npz, "--val-data", npz, "--steps", "6", "--out", td, "--log-every", "1000",
                    "--batch", "4", "--warmup", "2"])
        vqvae.main(["export", td, "-o", os.path.join(td, "x.pt"), "--f32"])
        m2 = vqvae.load(td)
        assert vqvae.encode(fr, m2).shape == (5, 8, 8)
        sd2 = torch.load(os.path.join(td, "x.pt"))
        assert sd2["decs.1.conv_out.weight"].dtype == torch.float32
    print("test_vqvae: ok")


if __name__ == "__main__":
    main()
