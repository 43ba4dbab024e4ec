"""Pictures for media tests and a decoder that reads a video's frames back as RGB arrays."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from PIL import Image


def picture(width: int = 640, height: int = 480, seed: int = 0) -> np.ndarray:
    """A picture with large flat areas and a gradient (H.264 keeps it close)."""
    rng = np.random.default_rng(seed)
    img = np.zeros((height, width, 3), np.uint8)
    colours = rng.integers(20, 235, (4, 3))
    img[: height // 2, : width // 2] = colours[0]
    img[: height // 2, width // 2 :] = colours[1]
    img[height // 2 :, : width // 2] = colours[2]
    img[height // 2 :, width // 2 :] = colours[3]
    img[..., 2] = (img[..., 2] * 0.5 + np.linspace(0, 120, width)[None, :]).astype(np.uint8)
    return img


def frames(path: Path) -> list[np.ndarray]:
    """Every frame of the video as an RGB array."""
    with av.open(str(path)) as box:
        return [f.to_ndarray(format="rgb24") for f in box.decode(video=0)]


def mean_error(frame: np.ndarray, image: np.ndarray | Image.Image) -> float:
    """Mean absolute difference (0-255) between a frame and an image scaled to its size."""
    img = image if isinstance(image, Image.Image) else Image.fromarray(image)
    scaled = np.asarray(img.convert("RGB").resize((frame.shape[1], frame.shape[0])), np.float32)
    return float(np.abs(frame.astype(np.float32) - scaled).mean())
