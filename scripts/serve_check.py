#!/usr/bin/env python3
"""Checks `parnet serve` and `parnet predict` answers against each other, for scripts/gpu-device.sh (standard library only).

  serve_check.py --url U --image I --requests N --label L --expect P.json
      waits for U/readyz (up to 90 s), POSTs the PNG I to U/v1/predict N times one after another, checks every answer's
      top classes and probabilities against `parnet predict --json`'s P.json (the same image), and prints one markdown
      row: label, requests, median / p90 / min ms per request as the client saw it, the server's own median ms, whether
      every answer matched, and the largest probability difference.
  serve_check.py --compare A.json B.json
      prints whether two `parnet predict --json` outputs (e.g. --engine onnxruntime and onnxruntime-cuda) agree: same
      classes in the same order, and the largest probability difference.
Probabilities match within 1e-3 (TF32 convolutions on a GPU move them ~1e-4). Exit 1 on any mismatch.
"""
import argparse
import json
import sys
import time
import urllib.request

TOLERANCE = 1e-3


def top(answer):
    return [(t['class'], t['probability']) for t in answer['top']]


def difference(a, b):
    """(same classes in the same order, largest probability difference) of two `top` lists."""
    same = [c for c, _ in a] == [c for c, _ in b]
    return same, max(abs(p - q) for (_, p), (_, q) in zip(a, b))


def compare(first, second):
    with open(first) as f, open(second) as g:
        a, b = top(json.load(f)[0]), top(json.load(g)[0])
    same, largest = difference(a, b)
    ok = same and largest <= TOLERANCE
    print(f"predict {first} vs {second}: same classes in order {same}, largest probability difference {largest:.1e}: {'match' if ok else 'MISMATCH'}")
    return ok


def serve(url, image, requests, label, expect):
    deadline = time.time() + 90
    while True:
        try:
            with urllib.request.urlopen(url + '/readyz', timeout=5) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.time() > deadline:
            print(f"| {label} | server not ready within 90 s |")
            return False
        time.sleep(0.5)
    with open(image, 'rb') as f:
        body = f.read()
    with open(expect) as f:
        expected = top(json.load(f)[0])
    client, server, worst, all_same = [], [], 0.0, True
    for _ in range(requests):
        request = urllib.request.Request(url + '/v1/predict', data=body, headers={'Content-Type': 'image/png'})
        start = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as r:
            answer = json.loads(r.read())
        client.append((time.perf_counter() - start) * 1e3)
        server.append(answer['server_ms'])
        same, largest = difference(top(answer), expected)
        all_same &= same
        worst = max(worst, largest)
    client.sort()
    server.sort()
    ok = all_same and worst <= TOLERANCE
    print(f"| {label} | {requests} | {client[len(client) // 2]:.2f} | {client[int(len(client) * 0.9)]:.2f} | {client[0]:.2f} | "
          f"{server[len(server) // 2]:.2f} | {'all match' if ok else 'MISMATCH'} | {worst:.1e} |")
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--url')
    p.add_argument('--image')
    p.add_argument('--requests', type=int, default=300)
    p.add_argument('--label', default='serve')
    p.add_argument('--expect', help="`parnet predict --json` output for the same image")
    p.add_argument('--compare', nargs=2, metavar=('A', 'B'))
    a = p.parse_args()
    if a.compare:
        ok = compare(*a.compare)
    elif a.url and a.image and a.expect:
        ok = serve(a.url.rstrip('/'), a.image, a.requests, a.label, a.expect)
    else:
        p.error('give --compare A B, or --url, --image and --expect')
    sys.exit(0 if ok else 1)


if __name__ == '__main__':
    main()
