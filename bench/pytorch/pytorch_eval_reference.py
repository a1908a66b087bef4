#!/usr/bin/python3
"""An outside check of `parnet eval`: our trained weights scored by the authors' blocks on PyTorch, on data read here.

What it does: builds the fashion-mnist recipe's network from the authors' released blocks (pytorch_train_reference.py's
build_cifar_parnet, the network `train-bench --pytorch-code` times), loads a run's model.safetensors into it strictly
(every key and shape; the file is read here with numpy: Debian has no python3-safetensors, and the point is a reader
that is not ours), reads the Fashion-MNIST test split from its IDX files with gzip and numpy, and prepares each image
as the recipe's evaluation does, written out here from its description rather than from our code: the 28x28 image
zero-padded, centred, to 32x32, scaled to [0, 1], normalized with mean 0.2860 and std 0.3530 (Fashion-MNIST's). It
prints one JSON object: top-1, top-5, the confusion matrix (rows: true class, columns: predicted) and the predicted
class of every image, to set beside `parnet eval --run RUN` (summary.json, confusion.csv; RESULTS.md, "An outside check
of the evaluation", has the main job's run checked this way).

Run: /usr/bin/python3 bench/pytorch/pytorch_eval_reference.py --code DIR --weights RUN/checkpoints/last/model.safetensors
     --planes 16,32,64 --blocks 3,4,4 --final-width 64 [--data DIR]
(the main job's model; a run trained with EMA is scored by `parnet eval --run` on its EMA weights: pass
RUN/checkpoints/last/ema.safetensors then)
"""
import argparse
import gzip
import json
import os
import struct
import sys

from pytorch_reference import install_timm_helpers, import_authors_simpnet, log
from pytorch_train_reference import build_cifar_parnet

MEAN, STD = 0.2860, 0.3530   # Fashion-MNIST's pixel statistics, as the recipe normalizes


def read_safetensors(torch, np, path):
    """{name: tensor} of a safetensors file: an 8-byte little-endian header length, a JSON header, then the raw data."""
    dtypes = {'F32': np.float32, 'F64': np.float64, 'I64': np.int64, 'I32': np.int32, 'BF16': None}
    with open(path, 'rb') as f:
        (n,) = struct.unpack('<Q', f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, entry in header.items():
        if name == '__metadata__':
            continue
        if dtypes.get(entry['dtype']) is None:
            raise SystemExit(f"{path}: {name} is {entry['dtype']}; this check reads float32/64 and int32/64 tensors")
        begin, end = entry['data_offsets']
        array = np.frombuffer(data[begin:end], dtype=dtypes[entry['dtype']]).reshape(entry['shape'])
        tensors[name] = torch.from_numpy(array.copy())
    return tensors


def released_names(tensors):
    """Our keys are the released blocks' names; two pieces have no released counterpart and are named by the module
    built here: the classifier (ours timm's head.fc, here fc) and the final 1x1 conv + BN (ours a block, here a Sequential)."""
    final = 'combine.3.'   # merge's three modules (MultiBatchNorm2d, Concat2d, the fusion block), then the final conv
    renamed = {}
    for name, tensor in tensors.items():
        if name.startswith('head.fc.'):
            name = 'fc.' + name[len('head.fc.'):]
        elif name.startswith(final + 'block.convbn.'):
            name = final + '0.' + name[len(final + 'block.convbn.'):]
        renamed[name] = tensor
    return renamed


def read_idx(np, path):
    """An IDX file (gzip or not): big-endian magic (dtype code, dimension count), the dimensions, then the values."""
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as f:
        raw = f.read()
    zero, dtype, dims = struct.unpack('>HBB', raw[:4])
    if zero != 0 or dtype != 0x08:
        raise SystemExit(f"{path}: not an unsigned-byte IDX file")
    shape = struct.unpack('>' + 'I' * dims, raw[4:4 + 4 * dims])
    return np.frombuffer(raw[4 + 4 * dims:], dtype=np.uint8).reshape(shape)


def prepared(np, images):
    """28x28 bytes to 1x32x32 normalized floats: zero-padded by 2 on each side (black, pixel 0) before normalizing."""
    x = np.zeros((len(images), 1, 32, 32), dtype=np.float32)
    x[:, 0, 2:30, 2:30] = images / 255.0
    return (x - MEAN) / STD


def find(data_dir, stem):
    for name in (stem, stem + '.gz'):
        if os.path.isfile(os.path.join(data_dir, name)):
            return os.path.join(data_dir, name)
    raise SystemExit(f"--data {data_dir}: no {stem}[.gz]")


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--code', required=True, help="checkout of the authors' repository (NonDeepNetworks)")
    p.add_argument('--weights', required=True, help="a run's model.safetensors (not fused: the training form)")
    p.add_argument('--data', default=None, help='the IDX files (default: data/fashion-mnist, then /usr/share/datasets/fashion-mnist, as train looks)')
    p.add_argument('--planes', required=True, type=lambda s: [int(v) for v in s.split(',')])
    p.add_argument('--blocks', required=True, type=lambda s: [int(v) for v in s.split(',')], help='stream blocks per stream (ours)')
    p.add_argument('--final-width', required=True, type=int)
    p.add_argument('--activation', choices=['relu', 'silu'], default='silu')
    p.add_argument('--threads', type=int, default=os.cpu_count())
    p.add_argument('--batch', type=int, default=500)
    a = p.parse_args()
    a.in_channels, a.classes, a.sse = 1, 10, True

    import numpy as np
    import torch
    torch.set_num_threads(a.threads)
    install_timm_helpers(torch)
    simpnet = import_authors_simpnet(a.code)
    stdout, sys.stdout = sys.stdout, sys.stderr   # the authors' modules may print; stdout is for the JSON
    try:
        model = build_cifar_parnet(torch, simpnet, a)
    finally:
        sys.stdout = stdout
    model.load_state_dict(released_names(read_safetensors(torch, np, a.weights)), strict=True)
    model.eval()

    if a.data is None:
        a.data = next((d for d in ('data/fashion-mnist', '/usr/share/datasets/fashion-mnist') if os.path.isdir(d)), '/usr/share/datasets/fashion-mnist')
    images = read_idx(np, find(a.data, 't10k-images-idx3-ubyte'))
    labels = read_idx(np, find(a.data, 't10k-labels-idx1-ubyte')).astype(np.int64)
    x = prepared(np, images)
    log(f"{len(images)} test images; scoring with {sum(q.numel() for q in model.parameters()):,} parameters")

    top1 = top5 = 0
    predicted = []
    confusion = np.zeros((10, 10), dtype=np.int64)
    with torch.no_grad():
        for i in range(0, len(x), a.batch):
            logits = model(torch.from_numpy(x[i:i + a.batch]))
            target = torch.from_numpy(labels[i:i + a.batch])
            best5 = logits.topk(5, dim=1).indices
            top1 += int((best5[:, 0] == target).sum())
            top5 += int((best5 == target[:, None]).any(dim=1).sum())
            for t, q in zip(target.tolist(), best5[:, 0].tolist()):
                confusion[t, q] += 1
                predicted.append(q)
    print(json.dumps({'torch': torch.__version__, 'images': len(x), 'top1': top1 / len(x), 'top5': top5 / len(x),
                      'confusion': confusion.tolist(), 'predicted': predicted}))


if __name__ == '__main__':
    main()
