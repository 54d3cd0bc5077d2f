"""COCO panoptic PNGs: segment id = R + 256 G + 65536 B, 0 = void."""
import numpy as np
from PIL import Image


def ids_from_rgb(rgb, dtype=np.int64):
    """Segment id map [H, W] from an RGB array [H, W, 3]."""
    rgb = np.asarray(rgb, dtype=dtype)
    return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


def rgb_from_ids(ids):
    """RGB uint8 array [H, W, 3] for a segment id map (ids below 2**24)."""
    ids = np.asarray(ids).astype(np.uint32)
    return np.stack([ids & 255, (ids >> 8) & 255, (ids >> 16) & 255], -1).astype(np.uint8)


def read_ids(path, dtype=np.int64):
    """The segment id map stored in a panoptic PNG."""
    return ids_from_rgb(Image.open(path).convert("RGB"), dtype)


def write_ids(ids, path):
    """Stores a segment id map as a panoptic PNG."""
    Image.fromarray(rgb_from_ids(ids)).save(path)
