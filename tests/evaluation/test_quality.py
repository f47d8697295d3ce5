import numpy as np
import skimage.data
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from roadmap.evaluation.data import to_tensor
from roadmap.evaluation.quality import psnr, rgb_to_y, ssim


def _pair():
    clean = to_tensor(skimage.data.chelsea())[None, :, 100:228, 150:278]  # 128x128: fast
    noisy = (clean + torch.randn(clean.shape, generator=torch.Generator().manual_seed(0)) * 0.1).clamp(0, 1)
    return noisy, clean


def test_ssim_matches_skimage():
    noisy, clean = _pair()
    ref = structural_similarity(
        clean[0].double().numpy(),
        noisy[0].double().numpy(),
        data_range=1.0,
        channel_axis=0,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )
    assert abs(ssim(noisy, clean) - ref) < 1e-6


def test_psnr_matches_skimage_and_identity():
    noisy, clean = _pair()
    ref = peak_signal_noise_ratio(clean[0].numpy(), noisy[0].numpy(), data_range=1.0)
    assert abs(psnr(noisy, clean) - ref) < 1e-4
    assert psnr(clean, clean) == 100.0 and abs(ssim(clean, clean) - 1.0) < 1e-9


def test_y_channel_range():
    y = rgb_to_y(torch.tensor([[0.0, 1.0]]).T.expand(2, 3).reshape(2, 3, 1, 1))
    assert np.allclose(y.flatten().tolist(), [16 / 255, 235 / 255], atol=1e-3)
