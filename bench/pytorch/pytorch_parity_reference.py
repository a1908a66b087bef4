#!/usr/bin/python3
"""An outside check of the model family: every ImageNet-layout ParNet built by the authors' released code with random
weights and randomized BatchNorm statistics, run by `parnet forward` from the checkpoint written here, against the
authors' logits.

What it does, per variant (ParNet-S, -S92 from the authors' YAML, -M, -M with ReLU from their YAML, -L, -XL): builds
the authors' SimpNet (their simplenet_impl, found under --code DIR), draws every conv, linear and BatchNorm weight at
random, sets the BatchNorm running statistics from a training-mode pass and then moves them (means by up to half a
standard deviation, variances by x0.4-2.5: statistics a fresh network would not have, so a wrong epsilon, a dropped
statistic or a mis-fused branch shows), saves the state dict as a timm training checkpoint (.pth.tar, read by `parnet`
as data only), and writes random inputs (224 px at batch 1, 160 px at batch 3) as safetensors. Then, for each input:
the authors' logits unfused and after their own `fuse_repvgg_block`, their unfused logits in float64 (the truth both
float32 runs are measured against), and ours from `parnet forward --weights CKPT [--fused]`, the fused form also laid
out channels_last (`--channels-last`, as predict and serve's torch engines run it), and from the state dict their
fusion leaves (saved as they would save it). It prints one line per case: max |ours - authors'| / max |authors'| for
the unfused form, the fused form (NCHW, channels_last) and their fused file, and each side's distance from float64;
and exits 1 when any of ours is above 1e-4 of the authors' (float32 parity is ~1e-5 here).

The committed fixtures (tests/fixtures) hold one tiny network; this covers the registered sizes, ReLU and SiLU, and
the authors' YAML files, at two sizes and batches (RESULTS.md, "Parity across every variant").

Run: /usr/bin/python3 bench/pytorch/pytorch_parity_reference.py --code DIR [--parnet "dotnet PATH/parnet.dll"]
     [--only parnet_s,parnet_m] [--work DIR]   (DIR: a checkout of github.com/imankgoyal/NonDeepNetworks; about 4 min on 2 cores)
"""
import argparse
import json
import os
import shlex
import struct
import subprocess
import sys
import tempfile

from pytorch_reference import install_timm_helpers, import_authors_simpnet, build_authors_parnet, fuse_authors_parnet, read_safetensors

# name, how `parnet forward` is told the model, planes + final width, activation; every one has 5/6/6 stream blocks + 1
VARIANTS = [
    ('parnet_s', ['--model', 'parnet_s'], [96, 192, 384, 1280], 'silu'),
    ('parnet_s92', ['--config', 'imagenet/models/planes_92_192_384_1280_num_blocks_5_6_6_1_sebv_13.yaml'], [92, 192, 384, 1280], 'relu'),
    ('parnet_m', ['--model', 'parnet_m'], [128, 256, 512, 2048], 'silu'),
    ('parnet_m_relu', ['--config', 'imagenet/models/planes_128_256_512_2048_num_blocks_5_6_6_1_sebv_13.yaml'], [128, 256, 512, 2048], 'relu'),
    ('parnet_l', ['--model', 'parnet_l'], [160, 320, 640, 2560], 'silu'),
    ('parnet_xl', ['--model', 'parnet_xl'], [200, 400, 800, 3200], 'silu'),
]
INPUTS = [(1, 224), (3, 160)]   # (batch, side): 160 is the smallest side both codes take that is not 224
LIMIT = 1e-4                    # of max |authors' logit|: float32 parity runs at ~1e-5


def write_safetensors(path, tensors):
    """Minimal safetensors writer (8-byte little-endian header length, JSON header padded to 8, raw little-endian data)."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        raw = t.detach().contiguous().float().numpy().tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def randomize(torch, model, seed):
    """Random weights; BatchNorm statistics from a training-mode pass of noise, then moved away from it."""
    g = torch.Generator().manual_seed(seed)
    nn = torch.nn
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (1.0 / m.weight[0].numel()) ** 0.5)
            elif isinstance(m, nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 0.3 / m.weight.shape[1] ** 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.5)
            elif isinstance(m, nn.BatchNorm2d):
                sign = torch.where(torch.rand(m.num_features, generator=g) < 0.15, -1.0, 1.0)   # some negative scales
                m.weight.copy_(sign * (0.4 + 1.2 * torch.rand(m.num_features, generator=g)))
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.3)
        norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None   # a cumulative average over the pass
        model.train()
        model(torch.randn(4, 3, 64, 64, generator=g))
        model.eval()
        for m in norms:
            std = m.running_var.clamp_min(1e-6).sqrt()
            m.running_mean.add_(torch.randn(m.num_features, generator=g) * 0.5 * std)
            m.running_var.mul_(torch.exp(torch.empty(m.num_features).uniform_(-0.9, 0.9, generator=g)))
            m.momentum = 0.1


def relative(ours, reference):
    return ((ours - reference).abs().max() / reference.abs().max()).item()


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--code', required=True, help="a checkout of the authors' repository")
    repository = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cli = os.path.join(repository, 'src', 'ParNet.Cli', 'bin', 'Release', 'net10.0', 'parnet.dll')
    p.add_argument('--parnet', default=f'dotnet {shlex.quote(cli)}', help="how to run parnet (default: this repository's Release build)")
    p.add_argument('--only', help='comma-separated variant names (default: all)')
    p.add_argument('--work', help='folder for checkpoints and tensors (default: a temporary one, removed)')
    p.add_argument('--seed', type=int, default=0)
    a = p.parse_args()
    if a.parnet == f'dotnet {shlex.quote(cli)}' and not os.path.exists(cli):
        sys.exit(f"no parnet build at {cli}: build it first (dotnet build src/ParNet.Cli -c Release), or give --parnet")
    import torch
    torch.set_num_threads(os.cpu_count() or 1)
    install_timm_helpers(torch)
    simpnet = import_authors_simpnet(a.code)
    chosen = [v for v in VARIANTS if a.only is None or v[0] in a.only.split(',')]
    if not chosen:
        sys.exit(f"--only {a.only}: no such variant; the variants are {', '.join(v[0] for v in VARIANTS)}")
    work = a.work or tempfile.mkdtemp(prefix='parnet-parity-')
    os.makedirs(work, exist_ok=True)
    worst = 0.0
    print(f"{'variant':<14} {'input':<14} {'unfused vs authors':>18} {'fused vs authors':>17} {'channels_last':>15} {'their fused file':>17}   "
          f"{'ours vs float64':>15} {'authors vs float64':>18}")
    for name, model_args, widths, activation in chosen:
        torch.manual_seed(a.seed)
        model = build_authors_parnet(simpnet, widths, [5, 6, 6, 1], activation)
        randomize(torch, model, a.seed + 1)
        checkpoint = os.path.join(work, f'{name}.pth.tar')
        torch.save({'epoch': 0, 'state_dict': model.state_dict()}, checkpoint)
        model_args = [os.path.join(a.code, w) if w.endswith('.yaml') else w for w in model_args]
        g = torch.Generator().manual_seed(a.seed + 2)
        cases = []
        with torch.no_grad():
            for batch, side in INPUTS:
                x = torch.randn(batch, 3, side, side, generator=g)
                path = os.path.join(work, f'{name}-{side}-b{batch}.safetensors')
                write_safetensors(path, {'input': x})
                cases.append((batch, side, x, path, model(x), model.double()(x.double())))
                model.float()
            fuse_authors_parnet(model)
            fused = [model(x) for _, _, x, _, _, _ in cases]
        their_fused_file = os.path.join(work, f'{name}-fused-by-the-authors.pth.tar')
        torch.save({'epoch': 0, 'state_dict': model.state_dict()}, their_fused_file)
        for (batch, side, x, path, unfused, truth), authors_fused in zip(cases, fused):
            ours = {}
            for form in ('unfused', 'fused', 'fused channels_last', 'their fused file'):
                out = os.path.join(work, f'{name}-{side}-b{batch}-{form.replace(" ", "-")}-ours.safetensors')
                weights = their_fused_file if form == 'their fused file' else checkpoint
                command = shlex.split(a.parnet) + ['forward', '--weights', weights, *model_args, '--input', path, '--out', out] \
                    + (['--fused'] if form.startswith('fused') else []) + (['--channels-last'] if form.endswith('channels_last') else [])
                done = subprocess.run(command, capture_output=True, text=True)
                if done.returncode != 0:
                    sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
                ours[form] = read_safetensors(torch, out)['logits']
            errors = [relative(ours['unfused'], unfused), relative(ours['fused'], authors_fused),
                      relative(ours['fused channels_last'], authors_fused), relative(ours['their fused file'], authors_fused)]
            worst = max(worst, *errors)
            print(f"{name:<14} {f'{batch}x3x{side}x{side}':<14} {errors[0]:>18.2e} {errors[1]:>17.2e} {errors[2]:>15.2e} {errors[3]:>17.2e}   "
                  f"{relative(ours['unfused'].double(), truth):>15.2e} {relative(unfused.double(), truth):>18.2e}", flush=True)
    print(f"largest: {worst:.2e} of max |authors' logit| (limit {LIMIT:.0e})")
    if a.work is None:
        for f in os.listdir(work):
            os.remove(os.path.join(work, f))
        os.rmdir(work)
    sys.exit(1 if worst > LIMIT else 0)


if __name__ == '__main__':
    main()
