"""COCO data for LDMSeg training: images with class-agnostic instance maps.

Instances JSON (polygons and RLE through pycocotools): every non-crowd instance gets its own
id; crowd regions and unlabeled pixels are void (0). COCO panoptic sets (images/, panoptic/,
panoptic.json): every non-crowd segment, thing or stuff, gets its own id. `training_sets` lists
every train split with a sampling weight and never a val one. Each sample knows which void
pixels are unknown (not annotated) rather than background. Augmentation: random resized crop
with scale jitter or large-scale jitter, copy-paste of objects from other images, horizontal
flip, colour jitter, and a random remapping of instance ids to slots 1..127 per sample.
"""
import json
import os
import random
from typing import NamedTuple, Optional

import numpy as np
import torch
from PIL import Image

from segtools import codec

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# The inputs of training (docs/model.md, Training data): data sets under data/, weights under
# weights/; SEGSERVE_INPUTS names the folder, by default inputs/ in the repository (not in git).
DEFAULT_INPUTS = os.environ.get("SEGSERVE_INPUTS") or os.path.join(REPO, "inputs")
DEFAULT_DATA = os.path.join(DEFAULT_INPUTS, "data")
MAX_SLOTS = 127
# Default share of draws per kind of set, scaled by its number of images: fully annotated
# panoptic images teach things and stuff, instance-only and partial ones only some objects.
KIND_WEIGHTS = {"panoptic": 2.0, "instances": 1.0, "partial": 0.5, "stuff-only": 0.5}
# Panoptic sets whose void pixels include objects the conversion could not label.
VOID_UNKNOWN_SETS = {"cocostuff-spade-train"}
# The dev split: the last images (by id) of two train sets, one per val kind, held out of every
# training set so that choices are made on them and never on val.
DEV_SETS = {"panoptic": ("panoptic-train/cocostuff-taming-train", 30), "things": ("coco-instances/coco128/train2017", 30)}


class Sample(NamedTuple):
    """One training image. `known` is False where the label is void because the source did not
    annotate it; None means exactly the labelled pixels are known (ids != 0)."""
    path: str
    ids: np.ndarray  # int32 [H, W], 0 = void
    things: Optional[frozenset] = None  # ids of objects (copy-paste sources); None: every segment
    image_id: int = -1
    known: Optional[np.ndarray] = None  # bool [H, W]


def known_pixels(sample):
    """Per-pixel bool: is the label (segment or void) there an annotation?"""
    return sample.ids != 0 if sample.known is None else sample.known


def instance_samples(root, split):
    """[Sample] for `<root>/<split>` + annotations/instances_<split>.json; void is unknown."""
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
        samples.append(Sample(os.path.join(root, split, info["file_name"]), ids, None, info["id"]))
    return samples


def coco_instances(root, split):
    """[(image path, instance map int32 [H, W])] for `<root>/<split>` + annotations/instances_<split>.json."""
    return [(s.path, s.ids) for s in instance_samples(root, split)]


def coco_panoptic(json_path, png_dir, image_dir):
    """[(image path, segment id map)] from a COCO panoptic JSON + PNG folder; crowd -> void."""
    with open(json_path) as f:
        data = json.load(f)
    samples = []
    for ann in data["annotations"]:
        ids = codec.read_ids(os.path.join(png_dir, ann["file_name"]))
        for s in ann["segments_info"]:
            if s.get("iscrowd", 0):
                ids[ids == s["id"]] = 0
        samples.append((os.path.join(image_dir, ann["file_name"].replace(".png", ".jpg")), ids.astype(np.int64)))
    return samples


def panoptic_samples(root, void_known=True):
    """[Sample] for a set in COCO panoptic layout (images/, panoptic/, panoptic.json): things and
    stuff are segments; crowd and id 0 are void. Crowd is unknown; other void is known (nothing
    there to label) if `void_known`, except in images whose things were left void."""
    with open(os.path.join(root, "panoptic.json")) as f:
        data = json.load(f)
    infos = {i["id"]: i for i in data["images"]}
    thing_classes = {c["id"] for c in data["categories"] if c.get("isthing", 1)}
    samples = []
    for ann in sorted(data["annotations"], key=lambda a: a["image_id"]):
        info = infos[ann["image_id"]]
        ids = codec.read_ids(os.path.join(root, "panoptic", ann["file_name"]), np.int32)
        segments = [s for s in ann["segments_info"] if not s.get("iscrowd", 0)]
        crowd = np.isin(ids, [s["id"] for s in ann["segments_info"] if s.get("iscrowd", 0)])
        ids[~np.isin(ids, [s["id"] for s in segments])] = 0  # crowd and ids without an entry
        things = frozenset(s["id"] for s in segments if s["category_id"] in thing_classes)
        known = ~crowd if void_known and info.get("things") != "void" else None
        samples.append(Sample(os.path.join(root, "images", info["file_name"]), ids, things, info["id"], known))
    return samples


def load_splits(data_root, split, sources=("coco-mini", "coco-tiny")):
    """coco-instances sources for a split (train2017 / val2017), each image once; `sources=None`:
    every fully annotated set (all but the `-partial` ones, by name), such as all 251 val2017 images.

    Sources overlap (an image can be in several); the first source's copy of a file name is kept.
    """
    folder = os.path.join(data_root, "coco-instances")
    if sources is None:
        sources = [n for n in sorted(os.listdir(folder)) if os.path.isdir(os.path.join(folder, n)) and not n.endswith("-partial")]
    out, seen = [], set()
    for source in sources:
        root = os.path.join(folder, source)
        if not os.path.exists(os.path.join(root, "annotations", f"instances_{split}.json")):
            continue
        for path, ids in coco_instances(root, split):
            if os.path.basename(path) not in seen:
                seen.add(os.path.basename(path))
                out.append((path, ids))
    return out


def load_panoptic_samples(data_root):
    """The panoptic-samples set: every non-crowd segment (thing or stuff) is a segment."""
    root = os.path.join(data_root, "panoptic-samples")
    return coco_panoptic(os.path.join(root, "panoptic_examples.json"), os.path.join(root, "panoptic_examples"),
                         os.path.join(root, "input_images"))


class Source(NamedTuple):
    """A train split: `kind` picks its default weight, `load()` decodes its samples."""
    name: str  # panoptic-train/<set> or coco-instances/<set>/<split>
    kind: str  # a key of KIND_WEIGHTS
    root: str
    split: Optional[str] = None  # the instances split; None: COCO panoptic layout

    def image_infos(self):
        path = (os.path.join(self.root, "panoptic.json") if self.split is None
                else os.path.join(self.root, "annotations", f"instances_{self.split}.json"))
        with open(path) as f:
            return json.load(f)["images"]

    def load(self):
        if self.split is None:
            return panoptic_samples(self.root, void_known=os.path.basename(self.root) not in VOID_UNKNOWN_SETS)
        return instance_samples(self.root, self.split)


class TrainingSet(NamedTuple):
    name: str
    kind: str
    samples: list  # [Sample]
    weight: float  # share of draws; all sets sum to 1


def is_val_name(name):
    """True for a set or split named as validation data: `*-val`, or `val*` such as val2017."""
    return any(part.endswith("-val") or part.startswith("val") for part in name.split("/"))


def is_val_image(info):
    """True for an image entry from a validation split (COCO val2017 url, ADE20K `ADE_val_*`)."""
    return "/val2017/" in info.get("coco_url", "") or info.get("source_name", "").startswith("ADE_val")


def training_sources(data_root=DEFAULT_DATA):
    """Every train split under data_root, fully annotated kinds first. Val sets and splits, and
    sets holding a validation image (such as ADE20K val maps), are left out."""
    sources = []
    panoptic = os.path.join(data_root, "panoptic-train")
    for name in sorted(os.listdir(panoptic)) if os.path.isdir(panoptic) else []:
        root = os.path.join(panoptic, name)
        if is_val_name(name) or not os.path.exists(os.path.join(root, "panoptic.json")):
            continue
        source = Source(f"panoptic-train/{name}", "panoptic", root)
        infos = source.image_infos()
        if any(is_val_image(i) for i in infos):
            continue
        if any(i.get("things") == "void" for i in infos):
            source = source._replace(kind="stuff-only")
        sources.append(source)
    instances = os.path.join(data_root, "coco-instances")
    for name in sorted(os.listdir(instances)) if os.path.isdir(instances) else []:
        root = os.path.join(instances, name)
        if is_val_name(name) or not os.path.exists(os.path.join(root, "annotations", "instances_train2017.json")):
            continue
        sources.append(Source(f"coco-instances/{name}/train2017", "partial" if name.endswith("-partial") else "instances",
                              root, "train2017"))
    kinds = list(KIND_WEIGHTS)
    sources.sort(key=lambda s: kinds.index(s.kind))  # stable: by name within a kind
    assert not any(is_val_name(s.name) for s in sources)
    return sources


def dev_samples(data_root=DEFAULT_DATA, kind="panoptic"):
    """The dev images of one kind (`DEV_SETS`): things and stuff, or instances only; none where
    data_root lacks the set."""
    name, count = DEV_SETS[kind]
    root = os.path.join(data_root, *name.split("/")[:2])
    if kind == "panoptic":
        samples = panoptic_samples(root) if os.path.exists(os.path.join(root, "panoptic.json")) else []
    else:
        split = name.split("/")[2]
        found = os.path.exists(os.path.join(root, "annotations", f"instances_{split}.json"))
        samples = instance_samples(root, split) if found else []
    return sorted(samples, key=lambda x: x.image_id)[-count:]


def dev_image_ids(data_root=DEFAULT_DATA):
    return {x.image_id for kind in DEV_SETS for x in dev_samples(data_root, kind)}


def val_image_ids(data_root=DEFAULT_DATA):
    """Ids of every image in a val split or `-val` set, or marked as a validation image."""
    ids = set()
    panoptic = os.path.join(data_root, "panoptic-train")
    for name in sorted(os.listdir(panoptic)) if os.path.isdir(panoptic) else []:
        path = os.path.join(panoptic, name, "panoptic.json")
        if os.path.exists(path):
            with open(path) as f:
                ids.update(i["id"] for i in json.load(f)["images"] if is_val_name(name) or is_val_image(i))
    instances = os.path.join(data_root, "coco-instances")
    for name in sorted(os.listdir(instances)) if os.path.isdir(instances) else []:
        folder = os.path.join(instances, name, "annotations")
        for file in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            split = file[len("instances_"):-len(".json")]
            if file.startswith("instances_") and file.endswith(".json") and is_val_name(split):
                with open(os.path.join(folder, file)) as f:
                    ids.update(i["id"] for i in json.load(f)["images"])
    samples = os.path.join(data_root, "panoptic-samples", "panoptic_examples.json")
    if os.path.exists(samples):
        with open(samples) as f:
            ids.update(i["id"] for i in json.load(f)["images"] if is_val_image(i))
    return ids


def assert_train_only(sets, val_ids):
    """Fails if a set is named as val data or holds an image of a val split."""
    for s in sets:
        assert not is_val_name(s.name), f"{s.name} is validation data"
        leaked = sorted({x.image_id for x in s.samples} & val_ids)
        assert not leaked, f"{s.name} holds validation images {leaked[:5]}"
        folders = {os.path.basename(os.path.dirname(x.path)) for x in s.samples}
        assert not any(is_val_name(f) for f in folders), f"{s.name} reads images from {sorted(folders)}"


def training_sets(data_root=DEFAULT_DATA, weights=None):
    """[TrainingSet] for every train split under data_root, each image once (the first set with
    it keeps it), the dev images left out. A set's weight is weights[name or set folder] if given,
    else KIND_WEIGHTS[kind] times its images, normalised to sum to 1. Asserts that no validation
    data is returned."""
    weights = weights or {}
    sets, seen = [], dev_image_ids(data_root)
    for source in training_sources(data_root):
        samples = [x for x in source.load() if x.image_id not in seen]
        seen.update(x.image_id for x in samples)
        if samples:
            default = KIND_WEIGHTS[source.kind] * len(samples)
            weight = weights.get(source.name, weights.get(source.name.split("/")[1], default))
            sets.append(TrainingSet(source.name, source.kind, samples, float(weight)))
    total = sum(s.weight for s in sets) or 1.0
    sets = [s._replace(weight=s.weight / total) for s in sets]
    assert_train_only(sets, val_image_ids(data_root))
    return sets


def mixed(sets):
    """(samples, per-sample draw weights) over all sets; a set's weight is shared by its images."""
    samples, weights = [], []
    for s in sets:
        samples += s.samples
        weights += [s.weight / len(s.samples)] * len(s.samples)
    return samples, weights


def copy_paste(image, ids, known, src_image, src_ids, src_things, rng, share=0.5):
    """Simple Copy-Paste (Ghiasi et al. 2021): each object of the source (ids in `src_things`,
    every segment if None) is pasted with chance `share`, pixels and mask, on top of the target.
    Pasted objects get new ids above the target's and are known; objects they cover shrink or vanish."""
    objects = [int(v) for v in np.unique(src_ids) if v != 0 and (src_things is None or int(v) in src_things)]
    chosen = [v for v in objects if rng.random() < share]
    image, ids, known = np.array(image), np.array(ids), np.array(known)
    fresh = int(ids.max(initial=0)) + 1
    for n, v in enumerate(chosen):
        m = src_ids == v
        image[m], ids[m], known[m] = src_image[m], fresh + n, True
    return image, ids, known


class SegmentationCrops(torch.utils.data.Dataset):
    """Augmented square crops: (image float [3, S, S] in [0, 1], slots int64 [S, S]), and with
    `with_known` also the known pixels (bool [S, S]; see Sample).

    samples: (path, ids) pairs or Samples; weights: per-sample draw weights (default: in turn);
    jitter: (low, high) for large-scale jitter (resize the long side to S * U(low, high), then
    crop, or pad with void unknown pixels) instead of the default crop; copy_paste: the chance
    that objects of another drawn image are pasted on top.
    """

    def __init__(self, samples, size, seed=0, augment=True, length=None, weights=None, jitter=None,
                 copy_paste=0.0, with_known=False):
        self.samples = [s if isinstance(s, Sample) else Sample(*s) for s in samples]
        self.size, self.augment = size, augment
        self.images = [Image.open(s.path).convert("RGB") for s in self.samples]
        self.seed = seed
        self.length = length or len(samples)
        self.cum_weights = None if weights is None else list(np.cumsum(weights))
        self.jitter, self.copy_paste, self.with_known = jitter, copy_paste, with_known

    def __len__(self):
        return self.length

    def draw(self, rng, index=None):
        """A sample index: weighted if weights were given, else `index` in turn (or uniform)."""
        if self.cum_weights is not None:
            return rng.choices(range(len(self.samples)), cum_weights=self.cum_weights)[0]
        return index % len(self.samples) if index is not None else rng.randrange(len(self.samples))

    def view(self, k, rng):
        """Sample k in a random window (the centre square without augmentation), resized to S x S:
        (PIL image, ids int32, known bool)."""
        image, sample = self.images[k], self.samples[k]
        w, h = image.size
        size = (self.size, self.size)
        if self.augment and self.jitter:
            f = self.size * rng.uniform(*self.jitter) / max(w, h)
            scaled = (max(1, round(w * f)), max(1, round(h * f)))
            x0 = rng.randint(min(0, scaled[0] - self.size), max(0, scaled[0] - self.size))
            y0 = rng.randint(min(0, scaled[1] - self.size), max(0, scaled[1] - self.size))
            box = (x0, y0, x0 + self.size, y0 + self.size)  # outside the image: zeros
            warp = lambda im, how: im.resize(scaled, how).crop(box)
        else:
            if self.augment:
                scale = rng.uniform(0.35, 1.0)
                side = max(16, int(min(w, h) * scale ** 0.5))
                x0, y0 = rng.randint(0, w - side), rng.randint(0, h - side)
            else:
                side = min(w, h)
                x0, y0 = (w - side) // 2, (h - side) // 2
            box = (x0, y0, x0 + side, y0 + side)
            warp = lambda im, how: im.crop(box).resize(size, how)
        crop = warp(image, Image.BILINEAR)
        ids = np.asarray(warp(Image.fromarray(sample.ids.astype(np.int32)), Image.NEAREST), dtype=np.int32)
        if sample.known is None:
            known = ids != 0
        else:
            known = np.asarray(warp(Image.fromarray(sample.known.astype(np.uint8)), Image.NEAREST)) > 0
        return crop, ids, known

    def __getitem__(self, index):
        rng = random.Random(self.seed * 1_000_003 + index)
        k = self.draw(rng, index)
        crop, ids, known = self.view(k, rng)
        if self.augment and self.copy_paste and rng.random() < self.copy_paste:
            j = self.draw(rng)
            src_crop, src_ids, _ = self.view(j, rng)
            crop, ids, known = copy_paste(np.asarray(crop), ids, known, np.asarray(src_crop), src_ids,
                                          self.samples[j].things, rng)
        pixels = torch.from_numpy(np.asarray(crop, dtype=np.float32) / 255).permute(2, 0, 1)
        ids_t = torch.from_numpy(np.asarray(ids, dtype=np.int64))
        known_t = torch.from_numpy(np.array(known, dtype=bool))
        if self.augment and rng.random() < 0.5:
            pixels, ids_t, known_t = pixels.flip(-1), ids_t.flip(-1), known_t.flip(-1)
        if self.augment:  # colour jitter: brightness, contrast, saturation
            b, c, s = rng.uniform(0.8, 1.2), rng.uniform(0.8, 1.2), rng.uniform(0.8, 1.2)
            gray = pixels.mean(0, keepdim=True)
            pixels = ((pixels - gray) * s + gray)
            pixels = ((pixels - pixels.mean()) * c + pixels.mean()) * b
            pixels = pixels.clamp(0, 1)
        slots = remap_slots(ids_t, rng)
        if not self.with_known:
            return pixels, slots
        return pixels, slots, known_t & ~((ids_t != 0) & (slots == 0))  # ids past the last slot: unknown


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
