#!/usr/bin/python3
"""PyTorch reference rows for `parnet bench`: the authors' released ParNet code and torchvision's ResNets.

What it times: batch-1 and batch-N forward passes of (1) the authors' SimpNet (ParNet) built from a checkout
of https://github.com/imankgoyal/NonDeepNetworks, unfused and fused with the authors' own `fuse_repvgg_block`,
and (2) torchvision ResNet-18/34/50 for the benchmarked model's --in-channels and --classes, all in eval mode under
torch.inference_mode(), with torch.set_num_threads(--threads). It builds the models, prints one JSON line on stdout (torch version, threads, the
rows, the fixture check) and then serves `parnet bench`, which interleaves these rows with its own in the same rounds:
each stdin line `run ROW BATCH UNTIMED` runs model ROW UNTIMED times untimed and once timed on a seeded batch of
BATCH images and answers the timed run's seconds on one line; `ping` answers `pong` (the round trip that `parnet
bench` measures and reports); `quit` or the end of stdin ends it. Progress goes to stderr.

Run by `parnet bench --pytorch-code DIR` with Debian's PyTorch (`apt-get install python3-torch
python3-torchvision`, run by /usr/bin/python3). The authors' code is not part of this repository: DIR is
their checkout (or its `imagenet` folder). Their model imports two helpers from their timm fork
(ClassifierHead, drop_path); this script provides small equivalents so that only torch is needed.

--fixture FILE checks first that the code at DIR really is the authors' model: it builds the tiny SiLU
configuration of ../shared/fixtures, loads its weights, and compares the logits (unfused and fused) with
the ones the fixture recorded (relative L2 error, reported in the JSON).
"""
import argparse
import copy
import json
import os
import sys
import time
import types


def log(message):
    print(message, file=sys.stderr, flush=True)


def install_timm_helpers(torch):
    """The two timm modules the released model imports, as in timm 0.4 (pool -> flatten -> dropout -> fc)."""
    nn = torch.nn

    class ClassifierHead(nn.Module):
        def __init__(self, in_chs, num_classes, pool_type='avg', drop_rate=0.):
            super().__init__()
            assert pool_type == 'avg', pool_type
            self.drop_rate = drop_rate
            self.global_pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(in_chs, num_classes)

        def forward(self, x):
            x = torch.flatten(self.global_pool(x), 1)
            if self.drop_rate:
                x = nn.functional.dropout(x, p=self.drop_rate, training=self.training)
            return self.fc(x)

    def drop_path(x, drop_prob=0., training=False):
        if drop_prob == 0. or not training:
            return x
        keep = 1 - drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def drop_block_fast_2d(*args, **kwargs):
        raise NotImplementedError("drop_block_fast_2d is a training-only helper of the authors' timm fork")

    modules = {name: types.ModuleType(name) for name in
               ['timm', 'timm.models', 'timm.models.layers', 'timm.models.layers.classifier', 'timm.models.layers.drop']}
    modules['timm.models.layers.classifier'].ClassifierHead = ClassifierHead
    modules['timm.models.layers.drop'].drop_path = drop_path
    modules['timm.models.layers.drop'].drop_block_fast_2d = drop_block_fast_2d
    for name, module in modules.items():
        module.__path__ = []
        sys.modules[name] = module
    if 'tqdm' not in sys.modules:
        try:
            import tqdm  # noqa: F401  (the released utils.py imports it)
        except ImportError:
            sys.modules['tqdm'] = types.ModuleType('tqdm')


def import_authors_simpnet(code_dir):
    """simplenet_impl/simpnet.py of the authors' checkout, found under DIR, DIR/timm/models or DIR/imagenet/timm/models."""
    for root in [code_dir, os.path.join(code_dir, 'timm', 'models'), os.path.join(code_dir, 'imagenet', 'timm', 'models')]:
        if os.path.isfile(os.path.join(root, 'simplenet_impl', 'simpnet.py')):
            sys.path.insert(0, os.path.abspath(root))
            import simplenet_impl.simpnet as simpnet
            return simpnet
    raise SystemExit(f"--pytorch-code {code_dir}: no simplenet_impl/simpnet.py under it, nor under timm/models or "
                     f"imagenet/timm/models (expected a checkout of github.com/imankgoyal/NonDeepNetworks)")


def build_authors_parnet(simpnet, planes, num_blocks, activation):
    branches = ['swish'] if activation == 'silu' else []
    stdout = sys.stdout
    sys.stdout = sys.stderr  # SimpNet prints a line on construction; keep stdout for the JSON
    try:
        return simpnet.SimpNet(planes=list(planes), num_blocks=list(num_blocks), dropout_lin=0.0, additional_branches=branches).eval()
    finally:
        sys.stdout = stdout


def build_resnet(torch, torchvision, name, in_channels, classes):
    """torchvision's ResNet NAME for `parnet bench`'s model: CLASSES outputs, and a stem convolution taking IN_CHANNELS
    where that is not torchvision's 3 (as the C# rows, ResNetRows.cs), in eval mode."""
    model = getattr(torchvision.models, name)(num_classes=classes)
    if in_channels != 3:
        model.conv1 = torch.nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return model.eval()


def fuse_authors_parnet(model):
    """The authors' re-parameterization: fuse_repvgg_block on every RepVGGBlock (in place)."""
    for module in model.modules():
        if hasattr(module, 'fuse_repvgg_block'):
            module.fuse_repvgg_block()
    return model


def read_safetensors(torch, path):
    """Minimal safetensors reader (8-byte little-endian header length, JSON header, raw little-endian data)."""
    dtypes = {'F32': torch.float32, 'F64': torch.float64, 'I64': torch.int64, 'F16': torch.float16}
    with open(path, 'rb') as f:
        data = f.read()
    n = int.from_bytes(data[:8], 'little')
    header = json.loads(data[8:8 + n])
    tensors = {}
    for name, entry in header.items():
        if name == '__metadata__':
            continue
        start, end = entry['data_offsets']
        raw = bytearray(data[8 + n + start:8 + n + end])
        tensors[name] = torch.frombuffer(raw, dtype=dtypes[entry['dtype']]).reshape(entry['shape']).clone()
    return tensors


def check_fixture(torch, simpnet, fixture):
    """Relative L2 error of the authors' code at DIR against the fixture's recorded logits (unfused, fused)."""
    base = fixture[:-len('.safetensors')] if fixture.endswith('.safetensors') else fixture
    with open(base + '.json') as f:
        config = json.load(f)
    model = build_authors_parnet(simpnet, config['planes'], config['num_blocks'], config['activation'])
    model.load_state_dict(read_safetensors(torch, base + '.safetensors'), strict=True)
    io = read_safetensors(torch, base + '.io.safetensors')

    def relative_l2(a, b):
        return float((a - b).norm() / b.norm())

    with torch.inference_mode():
        unfused = relative_l2(model(io['input']), io['logits'])
        fused = relative_l2(fuse_authors_parnet(model)(io['input']), io['logits_fused'])
    return {'fixture': os.path.basename(base), 'relative_l2_unfused': unfused, 'relative_l2_fused': fused}


def commands(arguments):
    """The words of each stdin line until `quit` or the end of stdin, for the serving modes of both reference scripts:
    `ping` is answered `pong` here; any other command must be a key of `arguments`, with that many arguments."""
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == 'quit':
            return
        if words[0] == 'ping':
            print('pong', flush=True)
            continue
        if arguments.get(words[0]) != len(words) - 1:
            raise SystemExit(f"unknown command: {line.strip()!r}")
        yield words


def serve(torch, models, in_channels, image_size):
    """Answers `run ROW BATCH UNTIMED`, `ping` and `quit` lines from stdin (see the module docstring)."""
    inputs = {}
    with torch.inference_mode():
        for words in commands({'run': 3}):
            row, batch, untimed = (int(w) for w in words[1:])
            if batch not in inputs:
                torch.manual_seed(1)
                inputs[batch] = torch.randn(batch, in_channels, image_size, image_size)
            x = inputs[batch]
            for _ in range(untimed):
                models[row](x)
            start = time.perf_counter()
            models[row](x)
            print(repr(time.perf_counter() - start), flush=True)


def print_stages(torch, model, image_size, warmup, repeats):
    """--stages: batch-1 median ms of each stage of the (fused) model, the layout of the C# suite `stages`."""
    def median_ms(f):
        for _ in range(warmup):
            f()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            f()
            times.append((time.perf_counter() - start) * 1e3)
        return sorted(times)[len(times) // 2] if len(times) % 2 else sum(sorted(times)[len(times) // 2 - 1:len(times) // 2 + 1]) / 2

    with torch.inference_mode():
        torch.manual_seed(0)
        x = torch.randn(1, 3, image_size, image_size)
        inputs, h = [], x
        for init in model.inits:
            h = init(h)
            inputs.append(h)
        outputs = [stream(inputs[i]) for i, stream in enumerate(model.streams)]

        def fuse():
            y = model.downsamples_2[0](outputs[0])
            for i in range(1, len(model.downsamples_2)):
                y = model.downsamples_2[i]((outputs[i], y))
            return model.combine((outputs[-1], y))

        rows = [(f"inits.{i}", median_ms(lambda i=i: model.inits[i](([x] + inputs)[i]))) for i in range(len(model.inits))]
        rows += [(f"streams.{i}", median_ms(lambda i=i: model.streams[i](inputs[i]))) for i in range(len(model.streams))]
        rows.append(("downsamples_2 + combine", median_ms(fuse)))
        features = fuse()
        rows.append(("head", median_ms(lambda: model.head(features))))
        print("| stage | median ms |\n|---|---:|")
        for name, ms in rows:
            print(f"| {name} | {ms:.2f} |")
        print(f"| sum of stages | {sum(ms for _, ms in rows):.2f} |")
        print(f"| whole forward | {median_ms(lambda: model(x)):.2f} |")


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--code', help="checkout of the authors' repository (NonDeepNetworks)")
    p.add_argument('--planes', default='96,192,384,1280')
    p.add_argument('--num-blocks', default='5,6,6,1')
    p.add_argument('--activation', choices=['relu', 'silu'], default='silu')
    p.add_argument('--in-channels', type=int, default=3, help="input channels (the authors' ParNet takes 3 only)")
    p.add_argument('--classes', type=int, default=1000, help="the ResNets' classes")
    p.add_argument('--image-size', type=int, default=224)
    p.add_argument('--threads', type=int, default=os.cpu_count())
    p.add_argument('--warmup', type=int, default=3, help='with --stages: untimed runs first')
    p.add_argument('--repeats', type=int, default=15, help='with --stages: timed runs per stage')
    p.add_argument('--only', default='pytorch-unfused,pytorch-fused,pytorch-resnet18,pytorch-resnet34,pytorch-resnet50')
    p.add_argument('--stages', action='store_true', help='print per-stage batch-1 times of the fused ParNet (markdown) and exit')
    p.add_argument('--fixture', help='parnet_official_tiny_silu.safetensors: check the code at --code against it first')
    a = p.parse_args()

    import torch
    torch.set_num_threads(a.threads)
    wanted = set(a.only.split(','))
    out = {'torch': torch.__version__, 'threads': torch.get_num_threads(), 'python': sys.version.split()[0],
           'mkldnn': bool(torch.backends.mkldnn.is_available())}

    rows = []  # (key, name, model), served in this order

    if a.stages or wanted & {'pytorch-unfused', 'pytorch-fused'}:
        if not a.code:
            raise SystemExit("the ParNet rows need --code (a checkout of the authors' repository)")
        install_timm_helpers(torch)
        simpnet = import_authors_simpnet(a.code)
        if a.fixture:
            out['fixture_check'] = check_fixture(torch, simpnet, a.fixture)
        planes = [int(v) for v in a.planes.split(',')]
        num_blocks = [int(v) for v in a.num_blocks.split(',')]
        model = build_authors_parnet(simpnet, planes, num_blocks, a.activation)
        if a.stages:
            with torch.no_grad():
                fuse_authors_parnet(model)
            print_stages(torch, model, a.image_size, a.warmup, a.repeats)
            return
        label = f"authors' ParNet {planes} {a.activation}"
        if 'pytorch-unfused' in wanted:
            rows.append(('pytorch-unfused', f"{label} unfused", model))
        if 'pytorch-fused' in wanted:
            fused = copy.deepcopy(model)  # the authors' fusion works in place
            with torch.no_grad():
                fuse_authors_parnet(fused)
            rows.append(('pytorch-fused', f"{label} fused", fused))

    resnets = [k for k in ['resnet18', 'resnet34', 'resnet50'] if 'pytorch-' + k in wanted]
    if resnets:
        import torchvision
        for name in resnets:
            rows.append(('pytorch-' + name, f"torchvision {name}", build_resnet(torch, torchvision, name, a.in_channels, a.classes)))

    out['rows'] = [{'key': key, 'name': name} for key, name, _ in rows]
    print(json.dumps(out), flush=True)
    serve(torch, [m for _, _, m in rows], a.in_channels, a.image_size)


if __name__ == '__main__':
    main()
