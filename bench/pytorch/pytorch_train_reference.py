#!/usr/bin/python3
"""PyTorch reference row for `parnet train-bench`: training steps of the same network built from the authors' blocks.

What it measures: seconds of forward (+ label-smoothed cross-entropy), backward and SGD update per step of a CIFAR-layout
ParNet (the fashion-mnist recipe's network) on random data, after warm-up steps, with torch.set_num_threads(--threads),
in the layout asked for. It prints one JSON object on stdout (raw per-step seconds and the parameter count, which the
C# side checks against its own model so that both rows time the same network). With --serve (how `train-bench` runs it)
it prints the header after the warm-up and then times `steps N fp32` or `steps N bf16` on request, one JSON line each,
so that its steps take turns with ours in the same rounds. Progress goes to stderr.

bf16 (--bf16, `train-bench --bf16`) is PyTorch's own mixed precision: the forward and the loss under
torch.autocast('cpu', dtype=torch.bfloat16), the model and the optimizer float32, as a PyTorch user trains in bfloat16
on a CPU. (Our --bf16 keeps bfloat16 weights beside float32 master weights and BatchNorm; the authors' model cast to
bfloat16 with float32 BatchNorm, probed on Zen 4, ran at autocast's speed, slower than float32: RESULTS.md.)

The authors released no CIFAR code (paper section 3.3), so the network is assembled here, the way
src/ParNet.Core/Models/ParNetModel.cs assembles it, from the authors' released modules: RepVGGOur/RepVGGBlock (every
downsampling, fusion and stream block), SE1, MultiBatchNorm2d and Concat2d, imported from a checkout of
https://github.com/imankgoyal/NonDeepNetworks (--code). Two pieces have no released counterpart and are built here:
a stride-1 downsampling block whose input and output widths are equal (the CIFAR stem) has no identity branch and the
downsampling gate (their RepVGGBlock would add an identity for that shape), and the final 1x1 conv + BN + activation
that replaces the ImageNet layout's wide downsampling block.

Run by `parnet train-bench --pytorch-code DIR` under Debian's PyTorch (/usr/bin/python3; apt-get install python3-torch),
beside pytorch_reference.py, whose helpers it imports.
"""
import argparse
import json
import os
import sys
import time

from pytorch_reference import commands, install_timm_helpers, import_authors_simpnet, log


def build_cifar_parnet(torch, simpnet, a):
    nn = torch.nn
    from simplenet_impl.repvgg import conv_bn
    from simplenet_impl.utils import SE1, MultiBatchNorm2d, Concat2d
    branches = ['swish'] if a.activation == 'silu' else []
    planes, blocks = a.planes, a.blocks

    def down(cin, cout, stride, groups=1):
        block = simpnet.RepVGGOur(cin, cout, stride=stride, groups=groups, additional_branches=branches)
        if stride == 1 and cin == cout:
            block.block.rbr_identity = None
            block.block.se = SE1(cin, cout, g=groups, ver=2)
        return block

    def stream_block(width):
        return simpnet.RepVGGOur(width, width, stride=1, se_block=a.sse, additional_branches=branches)

    def merge(width, out_width, stride):
        return [MultiBatchNorm2d(width, width), Concat2d(shuffle=True), down(2 * width, out_width, stride, groups=2)]

    class CifarParNet(nn.Module):
        def __init__(self):
            super().__init__()
            stem = min(64, planes[0])
            self.inits = nn.ModuleList([nn.Sequential(down(a.in_channels, stem, 1), down(stem, planes[0], 1), down(planes[0], planes[0], 2))]
                                       + [down(planes[i - 1], planes[i], 2) for i in range(1, len(planes))])
            self.streams = nn.ModuleList([nn.Sequential(*[stream_block(p) for _ in range(n)]) for p, n in zip(planes, blocks)])
            self.downsamples_2 = nn.ModuleList([down(planes[0], planes[1], 2)]
                                               + [nn.Sequential(*merge(planes[i], planes[i + 1], 2)) for i in range(1, len(planes) - 1)])
            activation = nn.SiLU() if a.activation == 'silu' else nn.ReLU()
            final = nn.Sequential(conv_bn(planes[-1], a.final_width, kernel_size=1, stride=1, padding=0), activation)
            self.combine = nn.Sequential(*merge(planes[-1], planes[-1], 1), final)
            self.fc = nn.Linear(a.final_width, a.classes)

        def forward(self, x):
            inputs = []
            for init in self.inits:
                x = init(x)
                inputs.append(x)
            path = None
            for i, (h, stream) in enumerate(zip(inputs, self.streams)):
                y = stream(h)
                if path is None:
                    path = self.downsamples_2[i](y)
                elif i < len(self.downsamples_2):
                    path = self.downsamples_2[i]((y, path))
                else:
                    path = (y, path)
            return self.fc(torch.flatten(self.combine(path).mean((2, 3)), 1))

    if len(planes) != 3:
        raise SystemExit(f"the PyTorch training reference builds 3 streams (the fashion-mnist network); got {len(planes)}")
    return CifarParNet()


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--code', required=True, help="checkout of the authors' repository (NonDeepNetworks)")
    p.add_argument('--planes', required=True, type=lambda s: [int(v) for v in s.split(',')])
    p.add_argument('--blocks', required=True, type=lambda s: [int(v) for v in s.split(',')], help='stream blocks per stream (ours)')
    p.add_argument('--final-width', required=True, type=int)
    p.add_argument('--in-channels', type=int, default=1)
    p.add_argument('--classes', type=int, default=10)
    p.add_argument('--activation', choices=['relu', 'silu'], default='silu')
    p.add_argument('--sse', type=lambda s: s == 'true', default=True)
    p.add_argument('--image-size', type=int, default=32)
    p.add_argument('--batch', type=int, default=128)
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--threads', type=int, default=os.cpu_count())
    p.add_argument('--channels-last', type=lambda s: s == 'true', default=True)
    p.add_argument('--bf16', action='store_true',
                   help="warm up bfloat16 autocast steps too (and time or profile those, without --serve)")
    p.add_argument('--profile', type=int, default=0, metavar='N',
                   help="instead of timing: N steps under torch.profiler, its operator table (self CPU time) on stdout; "
                        "where the authors' step goes, op by op, beside `perf record` of ours (RESULTS.md)")
    p.add_argument('--serve', action='store_true',
                   help="after the warm-up steps print one JSON line (torch, threads, parameters), then answer each stdin line "
                        "'steps N' with one JSON line of N steps' timings, until 'quit' or the end of stdin")
    a = p.parse_args()

    import torch
    torch.set_num_threads(a.threads)
    install_timm_helpers(torch)
    simpnet = import_authors_simpnet(a.code)
    torch.manual_seed(0)
    stdout = sys.stdout
    sys.stdout = sys.stderr  # the authors' modules may print; keep stdout for the JSON
    try:
        model = build_cifar_parnet(torch, simpnet, a)
    finally:
        sys.stdout = stdout
    memory_format = torch.channels_last if a.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format).train()
    # as our trainer: SGD Nesterov 0.9, weight decay 5e-4 but not on BN weights and biases, label smoothing 0.1
    decay = [q for q in model.parameters() if q.ndim > 1]
    no_decay = [q for q in model.parameters() if q.ndim <= 1]
    sgd = torch.optim.SGD([{'params': decay, 'weight_decay': 5e-4}, {'params': no_decay, 'weight_decay': 0.0}],
                          lr=0.01, momentum=0.9, nesterov=True)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    x = torch.randn(a.batch, a.in_channels, a.image_size, a.image_size).contiguous(memory_format=memory_format)
    y = torch.randint(0, a.classes, (a.batch,))
    header = {'torch': torch.__version__, 'threads': torch.get_num_threads(), 'parameters': sum(q.numel() for q in model.parameters())}

    def steps(n, bf16=False):
        forward, backward, update = [], [], []
        for _ in range(n):
            start = time.perf_counter()
            with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
                loss = loss_fn(model(x), y)
            f = time.perf_counter()
            sgd.zero_grad(set_to_none=True)
            loss.backward()
            b = time.perf_counter()
            sgd.step()
            u = time.perf_counter()
            forward.append(f - start)
            backward.append(b - f)
            update.append(u - b)
        return {'forward_s': forward, 'backward_s': backward, 'update_s': update}

    log(f"  {'profiling' if a.profile > 0 else 'timing'} the authors' blocks, training (PyTorch {torch.__version__}) ...")
    steps(a.warmup)
    if a.bf16:
        steps(a.warmup, bf16=True)
    if a.profile > 0:   # takes the place of timing, --serve included
        from torch.profiler import profile, ProfilerActivity
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            steps(a.profile, bf16=a.bf16)
        print(f"{a.profile} steps, {torch.get_num_threads()} thread(s), PyTorch {torch.__version__}, batch {a.batch}, "
              f"{a.image_size}x{a.image_size}{', bf16 autocast' if a.bf16 else ''}")
        print(prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=25))
        return
    if not a.serve:
        print(json.dumps({**header, **steps(a.steps, bf16=a.bf16)}))
        return
    print(json.dumps(header), flush=True)
    for words in commands({'steps': 2}):
        if words[2] not in ('fp32', 'bf16') or (words[2] == 'bf16' and not a.bf16):
            raise SystemExit(f"steps {words[1]} {words[2]}: the precision is fp32, or bf16 when started with --bf16")
        print(json.dumps(steps(int(words[1]), bf16=words[2] == 'bf16')), flush=True)


if __name__ == '__main__':
    main()
