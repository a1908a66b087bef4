#!/usr/bin/python3
"""An outside check of `parnet train`: the fashion-mnist recipe trained from scratch on PyTorch with the authors' blocks.

What it does: builds the recipe's network from the authors' released blocks (pytorch_train_reference.py's
build_cifar_parnet, the network `train-bench --pytorch-code` times and pytorch_eval_reference.py scores), reads
Fashion-MNIST from its IDX files with gzip and numpy, and trains it with the fashion-mnist recipe as
src/ParNet.Core/Training/Recipe.cs describes it, written out here from that description rather than taken from our
code: 8 epochs of batch 128 (the last batch of an epoch smaller, none dropped), each epoch a fresh shuffle; each image
zero-padded, centred, from 28x28 to 32x32, flipped left-right with probability 1/2 (no random shift), scaled to [0, 1]
and normalized with mean 0.2860, std 0.3530; SGD with Nesterov momentum 0.9, weight decay 5e-4 added to the gradient
of every weight but the 1-D ones (BatchNorm weights and biases, biases); the LR set before every step from the
fractional epoch e = epoch + step / steps: 0.1 x (0.1 + 0.9 e) in the first epoch, then a half cosine from 0.1 at
epoch 1 to 0 at epoch 8; cross-entropy with label smoothing 0.1; no EMA, no dropout. PyTorch's own initialization
(the authors' modules' defaults). After every epoch the test split (10,000 images, padded and normalized, not
flipped) is scored with the BatchNorm running statistics.

It prints one JSON line per epoch on stdout (epoch, LR at its end, training loss, test top-1 and top-5, seconds) and
progress on stderr; set its last line beside the main job's `eval.txt` (README's table: 93.56-93.83% on Zen 5 over 14
runs). The two trainings share no random numbers (shuffles, flips, initial weights): read the difference against the
spread of seeds, not as a bit-for-bit comparison. RESULTS.md, "An outside check of training", has the runs.

Run: /usr/bin/python3 bench/pytorch/pytorch_recipe_reference.py --code DIR [--seed N] [--epochs 8] [--data DIR]
(12-20 minutes on 2 cores; DIR a checkout of https://github.com/imankgoyal/NonDeepNetworks)
"""
import argparse
import json
import math
import os
import sys
import time
from types import SimpleNamespace

from pytorch_eval_reference import MEAN, STD, find, prepared, read_idx
from pytorch_reference import install_timm_helpers, import_authors_simpnet, log
from pytorch_train_reference import build_cifar_parnet

# The fashion-mnist recipe as the docstring says, in Recipe's own field names (printed by --print-recipe; the test
# PyTorchRecipeReferenceTests holds it to Recipes.FashionMnist, so that a change of the recipe is a change here too).
# The code below reads the numbers; the switches and the rest it implements as written (Nesterov, no decay on 1-D weights,
# flips, no shift, no erasing or other augmentation, no EMA, no dropout: the authors' blocks have none, one LR for all
# parameters) are listed so that the test sees them change.
RECIPE = {
    'Dataset': 'fashion-mnist', 'Model': 'parnet_cifar_small', 'Width': 16, 'HeadDropout': 0.0, 'BlockDropout': 0.0,
    'Epochs': 8, 'BatchSize': 128, 'ReferenceBatchSize': None, 'Lr': 0.1, 'BackboneLrScale': 1.0, 'Momentum': 0.9, 'Nesterov': True,
    'WeightDecay': 5e-4, 'NoDecayBnBias': True, 'Schedule': 'Cosine', 'WarmupEpochs': 1.0, 'WarmupStartFactor': 0.1, 'MinLr': 0.0,
    'LabelSmoothing': 0.1, 'EmaDecay': 0.0, 'CropPadding': 0, 'Flip': True, 'RandomErasing': 0.0, 'RandAugment': False, 'ColorJitter': 0.0,
}


def lr_at(epoch, epochs):
    """The recipe's LR at fractional epoch `epoch`: linear warm-up from WarmupStartFactor x Lr over the warm-up epochs,
    then a half cosine to MinLr at the last epoch."""
    lr, warmup, start, floor = RECIPE['Lr'], RECIPE['WarmupEpochs'], RECIPE['WarmupStartFactor'], RECIPE['MinLr']
    if epoch < warmup:
        return lr * (start + (1 - start) * epoch / warmup)
    t = min(max((epoch - warmup) / (epochs - warmup), 0.0), 1.0)
    return floor + (lr - floor) * 0.5 * (1 + math.cos(math.pi * t))


def recipe_network(torch, code):
    """The recipe's network from the authors' blocks in `code`, channels_last: ParNet CIFAR layout at width w, planes
    [w, 2w, 4w], final 4w, blocks per stream 3, 4, 4, one grey channel in, 10 classes, SSE, SiLU. Seed torch first."""
    w = RECIPE['Width']
    shape = SimpleNamespace(planes=[w, 2 * w, 4 * w], blocks=[3, 4, 4], final_width=4 * w, in_channels=1, classes=10, sse=True,
                            activation='silu')
    install_timm_helpers(torch)
    stdout, sys.stdout = sys.stdout, sys.stderr   # the authors' modules may print; stdout is for the JSON lines
    try:
        model = build_cifar_parnet(torch, import_authors_simpnet(code), shape)
    finally:
        sys.stdout = stdout
    return model.to(memory_format=torch.channels_last)


def recipe_optimizer(torch, model, epochs):
    """The recipe's SGD (Nesterov, weight decay on every weight but the 1-D ones, at the LR of epoch 0) and its loss
    (cross-entropy with label smoothing); the caller sets the LR before every step (lr_at)."""
    decay = [q for q in model.parameters() if q.ndim > 1]
    no_decay = [q for q in model.parameters() if q.ndim <= 1]
    sgd = torch.optim.SGD([{'params': decay, 'weight_decay': RECIPE['WeightDecay']}, {'params': no_decay, 'weight_decay': 0.0}],
                          lr=lr_at(0, epochs), momentum=RECIPE['Momentum'], nesterov=RECIPE['Nesterov'])
    return sgd, torch.nn.CrossEntropyLoss(label_smoothing=RECIPE['LabelSmoothing'])


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--code', help="checkout of the authors' repository (NonDeepNetworks)")
    p.add_argument('--data', default=None, help='the IDX files (default: data/fashion-mnist, then /usr/share/datasets/fashion-mnist, as train looks)')
    p.add_argument('--epochs', type=int, default=RECIPE['Epochs'], help=f"default: the recipe's {RECIPE['Epochs']}")
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=os.cpu_count())
    p.add_argument('--print-recipe', nargs='*', type=float, metavar='EPOCH',
                   help="print the recipe trained here and its LR at these fractional epochs as one JSON object, and exit")
    a = p.parse_args()
    if a.print_recipe is not None:
        print(json.dumps({'recipe': RECIPE, 'mean': MEAN, 'std': STD, 'lr': [lr_at(e, RECIPE['Epochs']) for e in a.print_recipe]}))
        return
    if a.code is None:
        p.error("--code DIR is required (a checkout of https://github.com/imankgoyal/NonDeepNetworks)")
    if a.epochs <= RECIPE['WarmupEpochs']:
        raise SystemExit(f"--epochs: more than the warm-up's {RECIPE['WarmupEpochs']:g}")

    import numpy as np
    import torch
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    model = recipe_network(torch, a.code)

    if a.data is None:
        a.data = next((d for d in ('data/fashion-mnist', '/usr/share/datasets/fashion-mnist') if os.path.isdir(d)), '/usr/share/datasets/fashion-mnist')
    train_x = torch.from_numpy(prepared(np, read_idx(np, find(a.data, 'train-images-idx3-ubyte'))))
    train_y = torch.from_numpy(read_idx(np, find(a.data, 'train-labels-idx1-ubyte')).astype(np.int64))
    test_x = torch.from_numpy(prepared(np, read_idx(np, find(a.data, 't10k-images-idx3-ubyte'))))
    test_y = torch.from_numpy(read_idx(np, find(a.data, 't10k-labels-idx1-ubyte')).astype(np.int64))

    sgd, loss_fn = recipe_optimizer(torch, model, a.epochs)
    batch = RECIPE['BatchSize']
    steps = (len(train_x) + batch - 1) // batch
    log(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {sum(q.numel() for q in model.parameters()):,} parameters, "
        f"{len(train_x)} training images, {steps} steps per epoch, {a.epochs} epochs, seed {a.seed}")

    for epoch in range(a.epochs):
        start = time.perf_counter()
        model.train()
        order = torch.from_numpy(rng.permutation(len(train_x)))
        flips = torch.from_numpy(rng.random(len(train_x)) < 0.5)
        total_loss = 0.0
        for step in range(steps):
            lr = lr_at(epoch + step / steps, a.epochs)
            for group in sgd.param_groups:
                group['lr'] = lr
            index = order[step * batch:(step + 1) * batch]
            x = train_x[index]
            flip = flips[index]
            x[flip] = x[flip].flip(3)
            x = x.contiguous(memory_format=torch.channels_last)
            loss = loss_fn(model(x), train_y[index])
            sgd.zero_grad(set_to_none=True)
            loss.backward()
            sgd.step()
            total_loss += float(loss) * len(index)
            if step % 100 == 0:
                log(f"epoch {epoch + 1} step {step}/{steps}: loss {float(loss):.4f}, lr {lr:.5f}, {time.perf_counter() - start:.0f} s")
        model.eval()
        top1 = top5 = 0
        with torch.no_grad():
            for i in range(0, len(test_x), 500):
                best5 = model(test_x[i:i + 500].contiguous(memory_format=torch.channels_last)).topk(5, dim=1).indices
                target = test_y[i:i + 500]
                top1 += int((best5[:, 0] == target).sum())
                top5 += int((best5 == target[:, None]).any(dim=1).sum())
        # lr: the schedule's at the epoch's end, as metrics.csv's (EpochMetrics.Lr); until 2026-12-05 08:30 UTC the last step's
        print(json.dumps({'epoch': epoch + 1, 'lr': lr_at(epoch + 1, a.epochs), 'train_loss': total_loss / len(train_x), 'top1': top1 / len(test_x),
                          'top5': top5 / len(test_x), 'seconds': round(time.perf_counter() - start, 1), 'seed': a.seed,
                          'torch': torch.__version__}), flush=True)


if __name__ == '__main__':
    main()
