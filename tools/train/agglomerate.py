#!/usr/bin/env python3
"""Learned agglomeration of edge-prior regions: which adjacent watershed regions are one segment.

Regions: HED's fused edge probability at `resolution` px, smoothed (sigma), h-minima markers
(h), a watershed (`edge_prior.watershed_regions`); deliberately finer than the edge-prior
baseline's, so that merging, not splitting, is left to learn. Per region: area, CIELAB sums,
mean edge probability inside, and sums of deep feature maps on a 1/4 grid: HED's VGG blocks 3-5
and ImageNet MobileNetV2's stride-8/16/32 maps. Per adjacent pair: boundary length, the fused
edge probability along it (mean and quantiles) and each side output's mean, the two areas, colour
distance and spread, and the cosine similarity of each deep map's region means (28 numbers). With
`--votes`, a model's segmentations of the same images add three: how far the model puts the two
regions in one segment. With `--semantic`, ESPNetv2's Pascal VOC class probabilities
(`tools/reference/espnetv2.py`) summed per region add six: how alike the two class distributions
are, and how sure each region is of background or of its top object class. With `--boundary`, a
boundary map learnt on the training images' segment boundaries (`boundary_head.py`) adds five:
its mean, maximum and quantiles along the pair's boundary; with `--boundary-regions` the regions
are that map's watershed instead of HED's.

An MLP scores p(one segment) for a pair. Agglomeration merges the most likely pair, recomputes
the merged region's pairs, and stops when the best p is under a threshold; regions under
`min_area` original pixels become void. Training follows GALA (Nunez-Iglesias et al., PLoS ONE
2013): round 0 learns from the initial pairs, each further round also from every pair met while
agglomerating the training images in the current classifier's order with the ground truth deciding
each merge. Labels: do both regions' majority ground-truth segments agree; pairs of two void
regions are unknown, as are pairs with a void region in panoptic images (void there is
unlabelled; in instance images it is "no object").

Training images: every training set but the partially annotated ones, the dev images held out
(`data.training_sets`); the threshold is chosen on the dev split (`data.dev_samples`). `--folds K`
compares recipes by K-fold cross-validation over the training images instead (the dev split has
30 images per kind), next to the edge prior on the same images; `--val` confirms a merger on both
val splits at the threshold with the best dev PQ.

    python3 tools/train/agglomerate.py --work runs/agglomerate --edges EDGES [--rounds 2] [--json report.json]
    python3 tools/train/agglomerate.py --work runs/agglomerate --edges EDGES --votes PREDICTIONS
    python3 tools/train/agglomerate.py --work runs/agglomerate --edges EDGES --semantic --min-area 1000 --folds 5
    python3 tools/train/agglomerate.py --work runs/agglomerate --edges EDGES --semantic --min-area 1000 --rounds 1 --val
    python3 tools/train/agglomerate.py --work runs/agglomerate --edges EDGES --semantic --boundary runs/boundary/maps --min-area 1000 --folds 5
    python3 tools/train/agglomerate.py ... --boundary runs/boundary/maps --boundary-regions --h 0.3 --folds 5
"""
import argparse
import contextlib
import heapq
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from segtools.reference import espnetv2
from segtools.reference import hed as hed_ref
from segtools.reference import mobilenet_v2 as mnv2
from segtools.train import data, edge_prior
from segtools.train.train import cosine_lr

QUANTILES = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)
# HED's VGG blocks 3-5, then MobileNetV2's stride-8/16/32 taps: channels of the region feature sums.
DEEP_CHANNELS = (256, 512, 512, 32, 96, 320)
FEATURES = 22 + len(DEEP_CHANNELS)
# With a model's segmentations (--votes): three more features per pair (Graph.vote_features).
VOTE_FEATURES = ("overlap", "same_segment", "void_share")
# With Pascal VOC class probabilities (--semantic): six more (Graph.semantic_features).
SEMANTIC_FEATURES = ("class_overlap", "same_object_class", "min_background", "max_background",
                     "min_top_object", "max_top_object")
# With a learnt boundary map (--boundary): five more (Graph.boundary_features).
BOUNDARY_QUANTILES = (0.1, 0.5, 0.9)
BOUNDARY_FEATURES = ("boundary_mean", "boundary_max") + tuple(f"boundary_q{round(q * 100)}" for q in BOUNDARY_QUANTILES)


class Networks:
    """HED (edges and VGG features) and the MobileNetV2 backbone, frozen, on CPU."""

    def __init__(self, edges, inputs):
        self.hed = hed_ref.from_safetensors(edges)
        self.mobilenet = mnv2.MobileNetV2Encoder()
        path = os.path.join(inputs, "weights", "mobilenet_v2", "mobilenet_v2-b0353104.pth")
        self.mobilenet.load_torchvision(torch.load(path, map_location="cpu", weights_only=True))
        self.mobilenet.eval()

    @torch.no_grad()
    def outputs(self, image):
        """(HED's five side logits and fused logit, each [1, 1, H, W]; its VGG blocks' outputs;
        MobileNetV2's stride-8/16/32 maps) of an RGB image."""
        rgb = torch.from_numpy(np.asarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
        x = hed_ref.preprocess(rgb)
        feats = self.hed.features(x)
        return self.hed.side_logits_of(feats, x.shape[-2:]), feats, self.mobilenet.taps(rgb / 255)

    def maps(self, image):
        """(fused probability [H, W], side probabilities [5, H, W], deep maps) of an RGB image."""
        logits, feats, taps = self.outputs(image)
        return (torch.sigmoid(logits[-1])[0, 0].numpy(), torch.sigmoid(torch.cat(logits[:-1], 1))[0].numpy(),
                [f[0] for f in feats[2:] + taps])


def grid_sums(regions, maps):
    """Per region (labels 1..n) sums of feature maps sampled on the 1/4 grid (coarser maps
    upsampled bilinearly to it), and the cells counted; a region the grid misses gets the cell at
    its centroid with weight 1e-3."""
    from scipy import sparse
    height, width = regions.shape
    h4, w4 = -(-height // 4), -(-width // 4)
    n = int(regions.max())
    grid = (regions[np.minimum(np.arange(h4) * 4 + 2, height - 1)][:, np.minimum(np.arange(w4) * 4 + 2, width - 1)] - 1).ravel()
    deep = torch.cat([m if m.shape[-2:] == (h4, w4) else
                      F.interpolate(m[None], size=(h4, w4), mode="bilinear", align_corners=False)[0] for m in maps])
    deep = deep.reshape(deep.shape[0], -1).numpy().astype(np.float64)
    onehot = sparse.csr_matrix((np.ones(len(grid)), (grid, np.arange(len(grid)))), shape=(n, len(grid)))
    sums, counts = np.asarray(onehot @ deep.T), np.bincount(grid, minlength=n).astype(np.float64)
    flat = regions.ravel() - 1
    ys, xs = np.divmod(np.arange(flat.size), width)
    for r in np.nonzero(counts == 0)[0]:
        cy, cx = ys[flat == r].mean(), xs[flat == r].mean()
        cell = min(int(cy / 4), h4 - 1) * w4 + min(int(cx / 4), w4 - 1)
        sums[r], counts[r] = deep[:, cell] * 1e-3, 1e-3
    return sums, counts


def region_statistics(networks, path, settings, ids=None, learnt=None):
    """Regions and the raw statistics a `Graph` is built from (and, given the ground truth
    `ids`, each region's pixel count of every ground-truth id). The regions are the watershed of
    HED's map, or of a `learnt` boundary map of the image at the regions' size."""
    from skimage.color import rgb2lab
    image = edge_prior.resized(Image.open(path).convert("RGB"), settings["resolution"])
    prob, sides, deep = networks.maps(image)
    regions = edge_prior.watershed_regions(prob if learnt is None else learnt, settings["sigma"], settings["h"])
    n = int(regions.max())
    flat = regions.ravel() - 1
    lab = rgb2lab(np.asarray(image)).transpose(2, 0, 1).reshape(3, -1)
    stats = dict(regions=regions.astype(np.int32), area=np.bincount(flat, minlength=n).astype(np.float64),
                 lab=np.stack([np.bincount(flat, weights=c, minlength=n) for c in lab], 1),
                 lab2=np.stack([np.bincount(flat, weights=c * c, minlength=n) for c in lab], 1),
                 inside=np.bincount(flat, weights=prob.ravel().astype(np.float64), minlength=n))
    stats["deep"], stats["cells"] = grid_sums(regions, deep)
    stats["lo"], stats["hi"], stats["v"], stats["s"] = boundary_pairs(regions, prob, sides)
    if ids is not None:
        stats["gt"], stats["gt_ids"] = id_counts(regions, ids)
    return stats


def boundary_pairs(regions, prob, sides=None):
    """The boundary pixel pairs of labels 1..n (4-neighbours in different regions): (lower
    region, higher region (0-based), the larger of the pair's two probabilities, and of each side
    map's), sorted by region pair, then probability."""
    pairs = [(regions[:, :-1], regions[:, 1:], (slice(None), slice(None, -1)), (slice(None), slice(1, None))),
             (regions[:-1, :], regions[1:, :], (slice(None, -1), slice(None)), (slice(1, None), slice(None)))]
    lo, hi, v, s = [], [], [], []
    for a, b, ia, ib in pairs:
        keep = a != b
        lo.append(np.minimum(a, b)[keep] - 1)
        hi.append(np.maximum(a, b)[keep] - 1)
        v.append(np.maximum(prob[ia], prob[ib])[keep])
        if sides is not None:
            s.append(np.maximum(sides[(slice(None),) + ia], sides[(slice(None),) + ib])[:, keep])
    lo, hi, v = np.concatenate(lo), np.concatenate(hi), np.concatenate(v)
    order = np.lexsort((v, hi, lo))
    out = lo[order].astype(np.int32), hi[order].astype(np.int32), v[order]
    return out + (np.concatenate(s, 1)[:, order],) if sides is not None else out


def pair_runs(lo, hi):
    """((u, w), slice) of each region pair's run in `boundary_pairs`' sorted arrays."""
    if not len(lo):
        return []
    starts = np.nonzero(np.r_[True, (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])])[0]
    return [((int(lo[st]), int(hi[st])), slice(st, en)) for st, en in zip(starts, np.r_[starts[1:], len(lo)])]


def resized_ids(ids, shape):
    """A segmentation resized to `shape` (H, W), nearest neighbour."""
    return np.asarray(Image.fromarray(ids.astype(np.int32)).resize(shape[::-1], Image.NEAREST))


def id_counts(regions, ids):
    """Per region (labels 1..n), its pixels of each id of a segmentation `ids` resized to the
    regions' size (nearest): ([n, k] counts, the k ids in order, 0 (void) first)."""
    small = resized_ids(ids, regions.shape)
    values = np.unique(np.r_[0, small.ravel()])
    index = np.searchsorted(values, small.ravel())
    n = int(regions.max())
    counts = np.bincount((regions.ravel() - 1) * len(values) + index, minlength=n * len(values))
    return counts.reshape(n, len(values)), values


class Graph:
    """Regions (nodes 0..n-1) and their boundaries as they merge; the features of adjacent pairs."""

    def __init__(self, stats, panoptic=True):
        self.regions, self.panoptic = stats["regions"], panoptic
        self.nodes = {k: np.array(stats[k], dtype=np.float64) for k in ("area", "lab", "lab2", "inside", "deep", "cells")}
        self.gt, self.gt_ids = (stats["gt"].astype(np.int64), stats["gt_ids"]) if "gt" in stats else (None, None)
        if "votes" in stats:  # a model's segmentation: per region, pixels of each of its ids (column 0 void)
            self.nodes["votes"] = np.array(stats["votes"], dtype=np.float64)
        if "semantic" in stats:  # per region, sums of the 21 Pascal VOC class probabilities
            self.nodes["semantic"] = np.array(stats["semantic"], dtype=np.float64)
        self.width = (FEATURES + (len(VOTE_FEATURES) if "votes" in stats else 0)
                      + (len(SEMANTIC_FEATURES) if "semantic" in stats else 0)
                      + (len(BOUNDARY_FEATURES) if "learnt" in stats else 0))
        self.parent = np.arange(len(self.nodes["area"]))
        self.adj = [set() for _ in self.parent]
        self.edges = {}  # (u, w), u < w -> (sorted boundary probabilities, side-output sums)
        lo, hi, v, s = stats["lo"], stats["hi"], stats["v"], stats["s"]
        for (u, w), run in pair_runs(lo, hi):
            self.edges[(u, w)] = (v[run].astype(np.float64), s[:, run].sum(1, dtype=np.float64))
            self.adj[u].add(w)
            self.adj[w].add(u)
        # (u, w) -> the learnt boundary probabilities along it, sorted (--boundary).
        self.learnt = None
        if "learnt" in stats:
            lo, hi, v = boundary_pairs(self.regions, stats["learnt"])
            self.learnt = {pair: v[run].astype(np.float64) for pair, run in pair_runs(lo, hi)}
        self.splits = np.cumsum((0,) + DEEP_CHANNELS)

    def features(self, pairs):
        """[len(pairs), self.width] float32."""
        nd = self.nodes
        out = np.zeros((len(pairs), self.width), np.float32)
        for row, (u, w) in enumerate(pairs):
            values, sides = self.edges[(u, w)]
            c = len(values)
            au, aw = nd["area"][u], nd["area"][w]
            mu, mw = nd["lab"][u] / au, nd["lab"][w] / aw
            su = np.sqrt(np.maximum(nd["lab2"][u] / au - mu ** 2, 0)).sum()
            sw = np.sqrt(np.maximum(nd["lab2"][w] / aw - mw ** 2, 0)).sum()
            iu, iw = nd["inside"][u] / au, nd["inside"][w] / aw
            du, dw = nd["deep"][u], nd["deep"][w]  # cosines are scale-free: sums will do
            cos = [du[a:b] @ dw[a:b] / (np.linalg.norm(du[a:b]) * np.linalg.norm(dw[a:b]) + 1e-8)
                   for a, b in zip(self.splits[:-1], self.splits[1:])]
            small, large = np.log(min(au, aw)), np.log(max(au, aw))
            out[row] = [np.log(c), values.mean(), *(values[min(round(q * (c - 1)), c - 1)] for q in QUANTILES),
                        *(sides / c), small, large, np.log(c) - 0.5 * small, np.linalg.norm(mu - mw) / 10,
                        abs(mu[0] - mw[0]) / 10, min(su, sw) / 10, max(su, sw) / 10, min(iu, iw), max(iu, iw), *cos,
                        *(self.vote_features(u, w) if "votes" in nd else ()),
                        *(self.semantic_features(u, w) if "semantic" in nd else ()),
                        *(self.boundary_features(u, w) if self.learnt is not None else ())]
        return out

    def boundary_features(self, u, w):
        """The learnt boundary probability along the pair's boundary: mean, maximum, quantiles."""
        values = self.learnt[(u, w)]
        c = len(values)
        return (values.mean(), values[-1], *(values[min(round(q * (c - 1)), c - 1)] for q in BOUNDARY_QUANTILES))

    def vote_features(self, u, w):
        """How far the model puts both regions in one segment: the overlap of their segment
        histograms (void left out), whether their largest segment is the same, the larger void share."""
        vu, vw = self.nodes["votes"][u], self.nodes["votes"][w]
        pu, pw = vu[1:] / max(vu[1:].sum(), 1), vw[1:] / max(vw[1:].sum(), 1)
        same = float(vu[1:].any() and vw[1:].any() and pu.argmax() == pw.argmax())
        return np.minimum(pu, pw).sum(), same, max(vu[0] / vu.sum(), vw[0] / vw.sum())

    def semantic_features(self, u, w):
        """How alike the regions' class distributions are: their overlap, whether both lean to
        the same object class, and each one's background and top object-class probabilities."""
        pu = self.nodes["semantic"][u] / self.nodes["area"][u]
        pw = self.nodes["semantic"][w] / self.nodes["area"][w]
        cu, cw = pu[1:].argmax(), pw[1:].argmax()
        same = float(cu == cw and pu[1 + cu] > pu[0] and pw[1 + cw] > pw[0])
        return (np.minimum(pu, pw).sum(), same, min(pu[0], pw[0]), max(pu[0], pw[0]),
                min(pu[1 + cu], pw[1 + cw]), max(pu[1 + cu], pw[1 + cw]))

    def truth(self, u, w):
        """(same segment, known, weight: the smaller share of a region's majority)."""
        gu, gw = self.gt[u], self.gt[w]
        tu, tw = self.gt_ids[gu.argmax()], self.gt_ids[gw.argmax()]
        known = (tu != 0 and tw != 0) if self.panoptic else (tu != 0 or tw != 0)
        return float(tu == tw), known, min(gu.max() / max(gu.sum(), 1), gw.max() / max(gw.sum(), 1))

    def merge(self, u, w):
        """Merges region w into u (u < w): sums add, boundaries with common neighbours join."""
        self.parent[w] = u
        for values in self.nodes.values():
            values[u] += values[w]
        if self.gt is not None:
            self.gt[u] += self.gt[w]
        del self.edges[(u, w)]
        if self.learnt is not None:
            del self.learnt[(u, w)]
        self.adj[u].discard(w)
        for k in self.adj[w] - {u}:
            old_key, key = (min(w, k), max(w, k)), (min(u, k), max(u, k))
            edge = self.edges.pop(old_key)
            self.adj[k].discard(w)
            if key in self.edges:
                old = self.edges[key]
                edge = (np.sort(np.concatenate([old[0], edge[0]])), old[1] + edge[1])
            self.edges[key] = edge
            if self.learnt is not None:
                values = self.learnt.pop(old_key)
                self.learnt[key] = np.sort(np.concatenate([self.learnt[key], values])) if key in self.learnt else values
            self.adj[u].add(k)
            self.adj[k].add(u)
        self.adj[w] = set()

    def labels(self):
        """The merged regions as an id map (1..) at the regions' size."""
        roots = self.parent.copy()
        while not np.array_equal(roots, roots[roots]):
            roots = roots[roots]
        return (roots + 1)[self.regions - 1].astype(np.int32)


def agglomerate(graph, score, threshold, oracle=False, collect=None):
    """Merges the most likely adjacent pair while its p >= threshold. `oracle`: the ground truth
    decides each merge; `collect` (a list) gathers (features, label, weight) of known scored pairs."""
    heap, version, refused = [], {}, set()

    def push(pairs):
        if not pairs:
            return
        x = graph.features(pairs)
        for pair, p, features in zip(pairs, score(x), x):
            version[pair] = version.get(pair, 0) + 1
            refused.discard(pair)
            heapq.heappush(heap, (-p, pair, version[pair]))
            if collect is not None:
                y, known, weight = graph.truth(*pair)
                if known:
                    collect.append((features, y, weight))
    push(list(graph.edges))
    while heap:
        negative, pair, ver = heapq.heappop(heap)
        if pair not in graph.edges or version[pair] != ver or pair in refused:
            continue
        if -negative < threshold:
            break
        if oracle:
            y, known, _ = graph.truth(*pair)
            if not (known and y > 0):
                refused.add(pair)
                continue
        graph.merge(*pair)
        u = pair[0]
        push([(min(u, k), max(u, k)) for k in graph.adj[u]])
    return graph


class Merger(nn.Module):
    """p(one segment) of a pair as a logit: standardised features, two hidden ReLU layers."""

    def __init__(self, features, width=64):
        super().__init__()
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("std", torch.ones(features))
        self.net = nn.Sequential(nn.Linear(features, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, 1))

    def forward(self, x):
        return self.net((x - self.mean) / self.std)[:, 0]

    def probability(self, x):
        with torch.no_grad():
            return torch.sigmoid(self(torch.from_numpy(x))).numpy()


def fit(examples, steps=4000, lr=3e-3, seed=0):
    """A Merger trained on (features, label, weight) examples: weighted cross-entropy, AdamW,
    batches of 1,024, cosine schedule."""
    if not examples:
        raise ValueError("no labelled region pairs to learn from: are there training images with segments?")
    torch.manual_seed(seed)
    x = torch.from_numpy(np.stack([e[0] for e in examples]))
    y = torch.tensor([e[1] for e in examples], dtype=torch.float32)
    w = torch.tensor([e[2] for e in examples], dtype=torch.float32)
    net = Merger(x.shape[1])
    net.mean.copy_(x.mean(0))
    net.std.copy_(x.std(0) + 1e-6)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = cosine_lr(step, steps, lr, warmup=0, floor=0.0)
        idx = torch.randint(0, len(x), (1024,))
        loss = (F.binary_cross_entropy_with_logits(net(x[idx]), y[idx], reduction="none") * w[idx]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


def train_merger(train, steps, rounds):
    """A Merger learnt from the statistics of the training images, and its number of pairs:
    round 0 on the initial pairs, each GALA round adding the pairs met while the ground truth
    agglomerates in the current merger's order."""
    first = []
    for stats in train:
        graph = Graph(stats, bool(stats["panoptic"]))
        pairs = list(graph.edges)
        for pair, x in zip(pairs, graph.features(pairs)):
            y, known, weight = graph.truth(*pair)
            if known:
                first.append((x, y, weight))
    merger, examples = fit(first, steps), first
    for _ in range(rounds):
        more = []
        for stats in train:
            agglomerate(Graph(stats, bool(stats["panoptic"])), merger.probability, 0.0, oracle=True, collect=more)
        examples = first + more
        merger = fit(examples, steps)
    return merger, len(examples)


def cross_validate(train, args):
    """PQ of each training-image kind by K-fold cross-validation (image k in fold k mod K, scored
    by the merger trained on the other folds), next to the edge prior as `evaluate.py` runs it."""
    from segtools.train import evaluate
    maps = {t: [None] * len(train) for t in args.thresholds}
    for fold in range(args.folds):
        merger, _ = train_merger([stats for k, (_, stats) in enumerate(train) if k % args.folds != fold],
                                 args.steps, args.rounds)
        for k, (s, stats) in enumerate(train):
            if k % args.folds == fold:
                for t in args.thresholds:
                    maps[t][k] = segment(stats, merger, t, s.ids.shape, args.min_area)
        print(f"fold {fold + 1} of {args.folds}", flush=True)
    prior = edge_prior.edge_prior_maps([(s.path, s.ids) for s, _ in train], evaluate.EDGE_SETTINGS, args.edges)
    report = {"settings": dict(resolution=args.resolution, sigma=args.sigma, h=args.h, min_area=args.min_area,
                               rounds=args.rounds, votes=bool(args.votes), semantic=args.semantic, boundary=bool(args.boundary),
                               folds=args.folds),
              "cv": {}}
    for kind, panoptic in (("panoptic", True), ("instances", False)):
        index = [k for k, (_, stats) in enumerate(train) if bool(stats["panoptic"]) == panoptic]
        if not index:
            continue
        images = [(train[k][0].path, train[k][0].ids) for k in index]
        names = ["edge_prior"] + [f"{t:g}" for t in args.thresholds]
        results = pq(images, [prior[k] for k in index], *([maps[t][k] for k in index] for t in args.thresholds))
        scores = {"images": len(index), **dict(zip(names, results))}
        report["cv"][kind] = scores
        print(f"{kind} ({len(index)} images): " + "  ".join(
            f"{name} PQ {v['pq']:.1f}" for name, v in scores.items() if name != "images"), flush=True)
    return report


def written(report, path):
    """`report`, also written to `path` as JSON when one is given."""
    if path:
        with open(path, "w") as f:
            json.dump(report, f, indent=2)
    return report


def cached(work, networks, settings, name, sample, panoptic, learnt_regions=None):
    """The statistics of one image, computed once into `work`; with `learnt_regions` (a folder
    of learnt boundary maps) its regions are the watershed of the image's map there."""
    path = os.path.join(work, f"{name}-{sample.image_id}.npz")
    if not os.path.exists(path):
        learnt = learnt_map(learnt_regions, sample, name) if learnt_regions else None
        np.savez(path, panoptic=panoptic, **region_statistics(networks, sample.path, settings, sample.ids, learnt))
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def with_votes(stats, sample, votes):
    """`stats` with the votes of the segmentation `<votes>/panoptic/<image name>.png` (`segserve
    predict`'s layout), or None where there is none."""
    from segtools.codec import read_ids
    path = os.path.join(votes, "panoptic", os.path.splitext(os.path.basename(sample.path))[0] + ".png")
    return dict(stats, votes=id_counts(stats["regions"], read_ids(path))[0]) if os.path.exists(path) else None


def with_semantics(stats, sample, model, cache, name, resolution):
    """`stats` with each region's sums of ESPNetv2's Pascal VOC class probabilities (the image
    resized as for the regions, the network at its own 384 x 384), computed once into `cache`."""
    path = os.path.join(cache, f"{name}-{sample.image_id}.npy")
    if not os.path.exists(path):
        image = np.asarray(edge_prior.resized(Image.open(sample.path).convert("RGB"), resolution))
        probs = espnetv2.predict(model, image)  # [21, h, w] at the regions' size
        flat = stats["regions"].ravel() - 1
        n = int(stats["regions"].max())
        np.save(path, np.stack([np.bincount(flat, weights=p.ravel().astype(np.float64), minlength=n) for p in probs], 1))
    return dict(stats, semantic=np.load(path))


def learnt_map(folder, sample, name):
    """The learnt boundary map `<folder>/<name>-<image id>.npy` (`boundary_head.py apply`, at the
    regions' size), which must exist."""
    path = os.path.join(folder, f"{name}-{sample.image_id}.npy")
    if not os.path.exists(path):
        sys.exit(f"no learnt boundary map {path}: run boundary_head.py apply first")
    return np.load(path).astype(np.float32)


def with_boundary(stats, sample, folder, name):
    """`stats` with the image's learnt boundary map (`learnt_map`)."""
    learnt = learnt_map(folder, sample, name)
    assert learnt.shape == stats["regions"].shape, (name, sample.image_id, learnt.shape, stats["regions"].shape)
    return dict(stats, learnt=learnt)


def val_samples(data_root, kind):
    """The images of one val split as `data.Sample`s keyed by their file name's number."""
    from segtools.train import evaluate
    return [data.Sample(path, ids, image_id=int("".join(filter(str.isdigit, os.path.basename(path))) or k))
            for k, (path, ids) in enumerate(evaluate.load_images(data_root, kind))]


def segment(stats, merger, threshold, shape, min_area):
    """The id map at `shape` of one image's statistics."""
    graph = agglomerate(Graph(stats), merger.probability, threshold)
    return edge_prior.drop_small(edge_prior.upsampled(graph.labels(), shape), min_area)


def pq(images, *predictions):
    """PQ / SQ / RQ of each list of id maps for `images`, the ground truth written once."""
    from segtools.train import evaluate
    with tempfile.TemporaryDirectory() as tmp:
        gt_json, gt_dir = evaluate.write_set(tmp, "gt", images, [ids for _, ids in images])
        scores = []
        for k, maps in enumerate(predictions):
            pred_json, pred_dir = evaluate.write_set(tmp, f"pred{k}", images, maps)
            with contextlib.redirect_stdout(sys.stderr):  # panopticapi's progress lines
                scores.append(evaluate.pq(gt_json, gt_dir, pred_json, pred_dir))
        return scores


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True, help="statistics cache and outputs")
    ap.add_argument("--edges", required=True, help="an edges.safetensors (tools/export_hed.py)")
    ap.add_argument("--inputs", default=data.DEFAULT_INPUTS, help="the folder of weights/ (MobileNetV2)")
    ap.add_argument("--data-root", default=data.DEFAULT_DATA)
    ap.add_argument("--resolution", type=int, default=384)
    ap.add_argument("--sigma", type=float, default=1.0)
    ap.add_argument("--h", type=float, default=0.2)
    ap.add_argument("--min-area", type=int, default=4000)
    ap.add_argument("--rounds", type=int, default=2, help="GALA rounds after round 0")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.3, 0.4, 0.5, 0.6, 0.7])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--votes", help="a model's segmentations of the training and dev images (`segserve predict` "
                                    "output): pairs get its votes as features; training images without one are left out")
    ap.add_argument("--semantic", action="store_true",
                    help="pairs get ESPNetv2's Pascal VOC class probabilities as features (weights/espnetv2 under --inputs)")
    ap.add_argument("--boundary", help="a folder of learnt boundary maps (boundary_head.py apply): pairs get "
                                       "five features of the map along their boundary")
    ap.add_argument("--boundary-regions", action="store_true",
                    help="the regions are the watershed of the learnt map (--boundary) instead of HED's")
    ap.add_argument("--folds", type=int, default=0,
                    help="instead of the dev split, score K-fold cross-validation over the training images, "
                         "next to the edge prior")
    ap.add_argument("--val", action="store_true",
                    help="also score both val splits, at the threshold with the best mean dev PQ (to confirm, never to choose)")
    ap.add_argument("--json", help="write the scores here")
    args = ap.parse_args(argv)
    if args.folds and args.val:
        ap.error("--val confirms a merger chosen on the dev split; --folds trains one per fold")
    if args.boundary_regions and not args.boundary:
        ap.error("--boundary-regions needs --boundary")
    torch.set_num_threads(args.threads)
    settings = {"resolution": args.resolution, "sigma": args.sigma, "h": args.h}
    work = os.path.join(args.work, f"r{args.resolution}-s{args.sigma:g}-h{args.h:g}" + ("-learnt" if args.boundary_regions else ""))
    os.makedirs(work, exist_ok=True)
    networks = Networks(args.edges, args.inputs)
    semantic = None
    if args.semantic:
        semantic = (espnetv2.from_checkpoint(os.path.join(args.inputs, "weights", "espnetv2", espnetv2.CHECKPOINT)),
                    os.path.join(work, "espnetv2"))
        os.makedirs(semantic[1], exist_ok=True)

    def statistics(samples, name, panoptic):
        """(sample, statistics) of each sample with the extra features asked for; the statistics
        are None where --votes has no segmentation of the image."""
        out = []
        for s in samples:
            stats = cached(work, networks, settings, name, s, panoptic, args.boundary if args.boundary_regions else None)
            stats = with_votes(stats, s, args.votes) if args.votes else stats
            if stats is not None and semantic:
                stats = with_semantics(stats, s, *semantic, name, args.resolution)
            if stats is not None and args.boundary:
                stats = with_boundary(stats, s, args.boundary, name)
            out.append((s, stats))
        return out

    def complete(items, split):
        missing = [s.path for s, stats in items if stats is None]
        if missing:
            sys.exit(f"no segmentation under {args.votes} for {len(missing)} {split} images, such as {missing[0]}")
        return items

    start = time.time()
    train = [item for t in data.training_sets(args.data_root) if t.kind != "partial"
             for item in statistics(t.samples, "train", t.kind == "panoptic") if item[1] is not None]
    dev = {kind: complete(statistics(data.dev_samples(args.data_root, kind), f"dev-{kind}", kind == "panoptic"), "dev")
           for kind in ("panoptic", "things")}
    print(f"statistics of {len(train)} training and {sum(map(len, dev.values()))} dev images: "
          f"{time.time() - start:.0f} s", flush=True)
    if args.folds:
        return written(cross_validate(train, args), args.json)
    merger, examples = train_merger([stats for _, stats in train], args.steps, args.rounds)
    print(f"{examples} training pairs, {time.time() - start:.0f} s", flush=True)
    report = {"settings": dict(settings, min_area=args.min_area, rounds=args.rounds, votes=bool(args.votes),
                               semantic=args.semantic, boundary=bool(args.boundary)),
              "pairs": examples, "dev": {}}
    for kind, items in dev.items():
        results = pq([(s.path, s.ids) for s, _ in items],
                     *([segment(stats, merger, t, s.ids.shape, args.min_area) for s, stats in items] for t in args.thresholds))
        for t, scores in zip(args.thresholds, results):
            report["dev"].setdefault(kind, {})[f"{t:g}"] = scores
            print(f"{kind} dev, threshold {t:g}: PQ {scores['pq']:.1f} SQ {scores['sq']:.1f} RQ {scores['rq']:.1f}", flush=True)
    if args.val:
        best = max(args.thresholds, key=lambda t: sum(report["dev"][kind][f"{t:g}"]["pq"] for kind in dev))
        report["val"] = {"threshold": best}
        for kind in ("panoptic", "things"):
            items = complete(statistics(val_samples(args.data_root, kind), f"val-{kind}", kind == "panoptic"), "val")
            scores, = pq([(s.path, s.ids) for s, _ in items],
                         [segment(stats, merger, best, s.ids.shape, args.min_area) for s, stats in items])
            report["val"][kind] = scores
            print(f"{kind} val, threshold {best:g}: PQ {scores['pq']:.1f} SQ {scores['sq']:.1f} RQ {scores['rq']:.1f}", flush=True)
    torch.save(merger.state_dict(), os.path.join(work, "merger.pt"))
    return written(report, args.json)


if __name__ == "__main__":
    main()
