#!/usr/bin/env python3
"""The authors' fused ParNet on a CUDA GPU, batch 1: the peer of the `onnx-cuda` bench suite (scripts/gpu-device.sh).

What it times, for each of --models (the paper's S/M/L/XL widths, 224x224, random weights, eval, float32, the
authors' `fuse_repvgg_block` applied), with PyTorch's defaults (cuDNN may use TF32 for convolutions):
  pytorch-cuda          the whole forward; the input copied from and the logits back to the host, as the C# rows do
  pytorch-cuda-streams  the paper's Table 3 on one GPU: the stem on the default CUDA stream, then each of the three
                        streams on its own CUDA stream at once, the fusion blocks and head after all three
  pytorch-cuda-graph    the whole forward captured once as a CUDA graph and replayed (no per-kernel launch cost: the
                        floor that launch overhead hides at batch 1); input and logits through host memory too
Rounds are interleaved (each round runs every row once, the first row rotating); median / min / max ms of --rounds
rounds after --warmup. The streams row's and the graph row's logits are compared with the whole forward's (relative
L2). With --fixture the authors' code is first checked against ../shared's fixture on the GPU.
Prints one markdown table. Imports the helpers of pytorch_reference.py (beside it): only torch is needed.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pytorch_reference as ref  # noqa: E402

WIDTHS = {'parnet_s': '96,192,384,1280', 'parnet_m': '128,256,512,2048',
          'parnet_l': '160,320,640,2560', 'parnet_xl': '200,400,800,3200'}   # Table A1; ModelRegistry.cs


def streamed_forward(torch, model, streams):
    """The authors' forward with each stream on its own CUDA stream (the stages of pytorch_reference.print_stages)."""
    main = torch.cuda.current_stream()

    def forward(x):
        inputs, h = [], x
        for init in model.inits:
            h = init(h)
            inputs.append(h)
        outputs = [None] * len(model.streams)
        for i, stream in enumerate(model.streams):
            streams[i].wait_stream(main)
            with torch.cuda.stream(streams[i]):
                outputs[i] = stream(inputs[i])
        for s in streams:
            main.wait_stream(s)
        y = model.downsamples_2[0](outputs[0])
        for i in range(1, len(model.downsamples_2)):
            y = model.downsamples_2[i]((outputs[i], y))
        return model.head(model.combine((outputs[-1], y)))
    return forward


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--code', required=True, help="checkout of the authors' repository (NonDeepNetworks)")
    p.add_argument('--models', default='parnet_s,parnet_m,parnet_l,parnet_xl')
    p.add_argument('--image-size', type=int, default=224)
    p.add_argument('--warmup', type=int, default=5, help='untimed rounds first (cuDNN picks its algorithms)')
    p.add_argument('--rounds', '--runs', type=int, default=30, help='timed rounds, one run of every row each (--runs: its older name)')
    p.add_argument('--fixture', help='parnet_official_tiny_silu.safetensors: check the code at --code against it first')
    a = p.parse_args()

    import torch
    if not torch.cuda.is_available():
        raise SystemExit('pytorch_cuda_reference: torch.cuda.is_available() is False: no CUDA device for PyTorch here')
    ref.install_timm_helpers(torch)
    simpnet = ref.import_authors_simpnet(a.code)
    print(f"pytorch_cuda_reference: torch {torch.__version__}, {torch.cuda.get_device_name(0)}, cuDNN {torch.backends.cudnn.version()}, "
          f"cudnn.allow_tf32 {torch.backends.cudnn.allow_tf32}, matmul TF32 {torch.backends.cuda.matmul.allow_tf32}; "
          f"{a.warmup} warm-up + {a.rounds} timed interleaved rounds", flush=True)
    if a.fixture:
        print(f"fixture check (CPU, the authors' code at --code): {ref.check_fixture(torch, simpnet, a.fixture)}", flush=True)

    table = ['| model | row | median ms | min ms | max ms | whole / this, per round: median | logits vs whole: relative L2 |',
             '|---|---|---:|---:|---:|---:|---:|']
    for name in a.models.split(','):
        planes = [int(v) for v in WIDTHS[name].split(',')]
        model = ref.build_authors_parnet(simpnet, planes, [5, 6, 6, 1], 'silu')
        with torch.no_grad():
            ref.fuse_authors_parnet(model)
        model = model.cuda().eval()
        torch.manual_seed(1)
        host = torch.randn(1, 3, a.image_size, a.image_size).pin_memory()
        streams = [torch.cuda.Stream() for _ in model.streams]
        streamed = streamed_forward(torch, model, streams)
        with torch.inference_mode():
            static_in = host.cuda()
            for _ in range(3):   # warm the allocator and cuDNN before capture
                model(static_in)
            torch.cuda.synchronize()
            graph = torch.cuda.CUDAGraph()
            try:
                with torch.cuda.graph(graph):
                    static_out = model(static_in)
            except RuntimeError as e:   # a row less, not a run lost
                print(f"{name}: CUDA graph capture failed, no pytorch-cuda-graph row: {e}", flush=True)
                graph = None

            def whole():
                return model(host.cuda(non_blocking=True)).cpu()

            def in_streams():
                return streamed(host.cuda(non_blocking=True)).cpu()

            def replay():
                static_in.copy_(host, non_blocking=True)
                graph.replay()
                return static_out.cpu()

            rows = [('pytorch-cuda', whole), ('pytorch-cuda-streams', in_streams)] + ([('pytorch-cuda-graph', replay)] if graph else [])
            reference = whole()
            errors = [float((f() - reference).norm() / reference.norm()) for _, f in rows]
            times = [[] for _ in rows]
            for r in range(a.warmup + a.rounds):
                for k in range(len(rows)):
                    i = (r + k) % len(rows)
                    torch.cuda.synchronize()
                    start = time.perf_counter()
                    rows[i][1]()   # .cpu() waits for the GPU
                    if r >= a.warmup:
                        times[i].append(time.perf_counter() - start)
        for (row, _), t, err in zip(rows, times, errors):
            s = sorted(t)
            ratio = sorted(w / x for w, x in zip(times[0], t))[len(t) // 2]
            table.append(f"| {name} ({len(model.streams)} streams) | {row} | {s[len(s) // 2] * 1e3:.2f} | {s[0] * 1e3:.2f} | "
                         f"{s[-1] * 1e3:.2f} | {ratio:.2f}x | {err:.1e} |")
        print('\n'.join(table[-len(rows):]), flush=True)
        del model, graph
        torch.cuda.empty_cache()
    print()
    print('\n'.join(table))


if __name__ == '__main__':
    main()
