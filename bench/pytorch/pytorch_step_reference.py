#!/usr/bin/python3
"""An outside check of `parnet train`'s step: the fashion-mnist recipe's first steps on PyTorch with the authors' blocks,
from the same weights and the same batches as ours.

What it does: builds the recipe's network from the authors' released blocks (pytorch_train_reference.py's
build_cifar_parnet), loads --weights (our initial weights, which `bench/ParNet.Bench -- train-steps` writes) strictly,
and trains --steps steps with the recipe's step as pytorch_recipe_reference.py writes it out (SGD, Nesterov momentum 0.9,
weight decay 5e-4 on every weight but the 1-D ones, cross-entropy with label smoothing 0.1, the recipe's LR at the
fractional epoch step / steps-per-epoch), on batches with no randomness in them: the training split in file order,
padded and normalized (pytorch_eval_reference.prepared), image i mirrored left-right when i is odd, batch k the images
128k .. 128k + 127 (the last of an epoch 96), epoch after epoch in the same order.

It prints one JSON line per step on stdout (step, loss, lr) and, with --compare FILE (our weights after the same steps,
a run's checkpoints/last/model.safetensors), a last line with the relative L2 distance of its weights and running
statistics from ours: over all of them, and the tensor that differs most. Progress goes to stderr. Ours and these
should agree to float rounding at the first steps; rounding differences (other kernels, other summation orders) then
grow slowly over the steps, as two runs of either on different thread counts do.

Run by `dotnet run -c Release --project bench/ParNet.Bench -- train-steps --pytorch-code DIR`, or alone:
/usr/bin/python3 bench/pytorch/pytorch_step_reference.py --code DIR --weights W [--steps 100] [--compare FILE]
"""
import argparse
import json
import math
import os

from pytorch_eval_reference import find, prepared, read_idx, read_safetensors, released_names
from pytorch_recipe_reference import RECIPE, lr_at, recipe_network, recipe_optimizer
from pytorch_reference import log


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--code', required=True, help="checkout of the authors' repository (NonDeepNetworks)")
    p.add_argument('--weights', required=True, help='the initial weights (safetensors, our key names)')
    p.add_argument('--steps', type=int, default=100)
    p.add_argument('--compare', help='our weights after the same steps (safetensors): print the distance of these from them')
    p.add_argument('--data', default='/usr/share/datasets/fashion-mnist')
    p.add_argument('--threads', type=int, default=os.cpu_count())
    a = p.parse_args()

    import numpy as np
    import torch
    torch.set_num_threads(a.threads)
    model = recipe_network(torch, a.code)
    model.load_state_dict(released_names(read_safetensors(torch, np, a.weights)), strict=True)
    model.train()

    x_all = torch.from_numpy(prepared(np, read_idx(np, find(a.data, 'train-images-idx3-ubyte'))))
    y_all = torch.from_numpy(read_idx(np, find(a.data, 'train-labels-idx1-ubyte')).astype(np.int64))
    odd = torch.arange(len(x_all)) % 2 == 1
    x_all[odd] = x_all[odd].flip(3)

    sgd, loss_fn = recipe_optimizer(torch, model, RECIPE['Epochs'])
    batch = RECIPE['BatchSize']
    per_epoch = (len(x_all) + batch - 1) // batch
    for step in range(a.steps):
        epoch, b = divmod(step, per_epoch)
        lr = lr_at(epoch + b / per_epoch, RECIPE['Epochs'])
        for group in sgd.param_groups:
            group['lr'] = lr
        x = x_all[b * batch:(b + 1) * batch].contiguous(memory_format=torch.channels_last)
        loss = loss_fn(model(x), y_all[b * batch:(b + 1) * batch])
        sgd.zero_grad(set_to_none=True)
        loss.backward()
        sgd.step()
        print(json.dumps({'step': step + 1, 'loss': float(loss), 'lr': lr}), flush=True)
        if (step + 1) % 100 == 0:
            log(f"step {step + 1}/{a.steps}: loss {float(loss):.5f}")

    if a.compare:
        ours = released_names(read_safetensors(torch, np, a.compare))
        theirs = {k: v for k, v in model.state_dict().items() if v.dtype.is_floating_point}
        if set(theirs) - set(ours):
            raise SystemExit(f"--compare {a.compare}: no {sorted(set(theirs) - set(ours))[:3]}")
        distance = {k: float((ours[k].double() - v.double()).norm() / max(v.double().norm(), 1e-30)) for k, v in theirs.items()}
        total = math.sqrt(sum(float((ours[k].double() - v.double()).norm()) ** 2 for k, v in theirs.items())
                          / sum(float(v.double().norm()) ** 2 for v in theirs.values()))
        worst = max(distance, key=distance.get)
        print(json.dumps({'relative_l2': total, 'worst': worst, 'worst_relative_l2': distance[worst], 'tensors': len(theirs)}), flush=True)


if __name__ == '__main__':
    main()
