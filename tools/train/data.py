"""COCO data for LDMSeg training: images with class-agnostic instance maps.

Instances JSON (polygons and RLE through pycocotools): every non-crowd instance gets its own
id; crowd regions and unlabeled pixels are void (0). Panoptic JSON + PNG are read as well.
Augmentation: random resized crop with scale jitter, horizontal flip, colour jitter, and a
random remapping of instance ids to slots 1..127 per sample (DESIGN §2).
"""
import json
import os
import random

import numpy as np
import torch
from PIL import Image

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_DATA = os.path.join(os.path.dirname(REPO), "shared", "data")
MAX_SLOTS = 127


def coco_instances(root, split):
    """[(image path, instance map int32 [H, W])] for `<root>/<split>` + annotations/instances_<split>.json."""
    from pycocotools import mask as mask_utils

    with open(os.path.join(root, "annotations", f"instances_{split}.json")) as f:
        data = json.load(f)
    by_image = {}
    for ann in data["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    samples = []
    for info in sorted(data["images"], key=lambda i: i["id"]):
        h, w = info["height"], info["width"]
        ids = np.zeros((h, w), dtype=np.int32)
        crowd = np.zeros((h, w), dtype=bool)
        # Larger instances first, so smaller ones on top stay visible.
        for k, ann in enumerate(sorted(by_image.get(info["id"], []), key=lambda a: -a["area"])):
            seg = ann["segmentation"]
            if isinstance(seg, list):
                rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
            elif isinstance(seg["counts"], list):
                rle = mask_utils.frPyObjects(seg, h, w)
            else:
                rle = seg
            m = mask_utils.decode(rle).astype(bool)
            if ann.get("iscrowd", 0):
                crowd |= m
            else:
                ids[m] = k + 1
        ids[crowd] = 0
        samples.append((os.path.join(root, split, info["file_name"]), ids))
    return samples


def coco_panoptic(json_path, png_dir, image_dir):
    """[(image path, segment id map)] from a COCO panoptic JSON + PNG folder; crowd -> void."""
    with open(json_path) as f:
        data = json.load(f)
    samples = []
    for ann in data["annotations"]:
        rgb = np.asarray(Image.open(os.path.join(png_dir, ann["file_name"])).convert("RGB"), dtype=np.int64)
        ids = rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]
        for s in ann["segments_info"]:
            if s.get("iscrowd", 0):
                ids[ids == s["id"]] = 0
        samples.append((os.path.join(image_dir, ann["file_name"].replace(".png", ".jpg")), ids.astype(np.int64)))
    return samples


def load_splits(data_root, split):
    """Both coco-instances sources for a split (train2017 / val2017), each image once.

    The two sources overlap (an image can be in both); the first source's copy is kept.
    """
    out, seen = [], set()
    for source in ("coco-mini", "coco-tiny"):
        for path, ids in coco_instances(os.path.join(data_root, "coco-instances", source), split):
            if os.path.basename(path) not in seen:
                seen.add(os.path.basename(path))
                out.append((path, ids))
    return out


def load_panoptic_samples(data_root):
    """The panoptic-samples set: every non-crowd segment (thing or stuff) is a segment."""
    root = os.path.join(data_root, "panoptic-samples")
    return coco_panoptic(os.path.join(root, "panoptic_examples.json"), os.path.join(root, "panoptic_examples"),
                         os.path.join(root, "input_images"))


class SegmentationCrops(torch.utils.data.Dataset):
    """Augmented square crops: (image float [3, S, S] in [0, 1], slots int64 [S, S])."""

    def __init__(self, samples, size, seed=0, augment=True, length=None):
        self.samples, self.size, self.augment = samples, size, augment
        self.images = [Image.open(p).convert("RGB") for p, _ in samples]
        self.seed = seed
        self.length = length or len(samples)

    def __len__(self):
        return self.length

    def __getitem__(self, index):
        rng = random.Random(self.seed * 1_000_003 + index)
        k = index % len(self.samples)
        image, ids = self.images[k], self.samples[k][1]
        w, h = image.size
        if self.augment:
            scale = rng.uniform(0.35, 1.0)
            side = max(16, int(min(w, h) * scale ** 0.5))
            x0, y0 = rng.randint(0, w - side), rng.randint(0, h - side)
        else:
            side = min(w, h)
            x0, y0 = (w - side) // 2, (h - side) // 2
        crop = image.crop((x0, y0, x0 + side, y0 + side)).resize((self.size, self.size), Image.BILINEAR)
        id_crop = Image.fromarray(ids[y0:y0 + side, x0:x0 + side].astype(np.int32)).resize((self.size, self.size), Image.NEAREST)
        pixels = torch.from_numpy(np.asarray(crop, dtype=np.float32) / 255).permute(2, 0, 1)
        ids_t = torch.from_numpy(np.asarray(id_crop, dtype=np.int64))
        if self.augment and rng.random() < 0.5:
            pixels, ids_t = pixels.flip(-1), ids_t.flip(-1)
        if self.augment:  # colour jitter: brightness, contrast, saturation
            b, c, s = rng.uniform(0.8, 1.2), rng.uniform(0.8, 1.2), rng.uniform(0.8, 1.2)
            gray = pixels.mean(0, keepdim=True)
            pixels = ((pixels - gray) * s + gray)
            pixels = ((pixels - pixels.mean()) * c + pixels.mean()) * b
            pixels = pixels.clamp(0, 1)
        return pixels, remap_slots(ids_t, rng)


def remap_slots(ids, rng):
    """Instance ids -> random distinct slots in 1..127 (void stays 0), so no id is memorised."""
    present = [int(v) for v in torch.unique(ids) if v != 0]
    rng.shuffle(present)
    present = present[:MAX_SLOTS]
    slots = rng.sample(range(1, MAX_SLOTS + 1), len(present))
    out = torch.zeros_like(ids)
    for v, s in zip(present, slots):
        out[ids == v] = s
    return out
