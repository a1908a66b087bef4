"""Writes the torch.save files of tests/ParNet.Tests/Weights/PickleLayoutTests.cs (PyTorch 1.13, Debian's python3-torch):
   python3 tests/data/pickles/make_pickles.py
Valid files come from torch.save itself, each odd layout beside a contiguous copy that PyTorch made (KEY.expected), so the
tests compare our reading with PyTorch's own values. The malformed ones are pickled here by hand, as a hostile or damaged
file would be: torch.save's format (a zip of data.pkl and data/KEY storages) with a tensor whose layout does not fit its
storage, an unknown storage type, a storage missing from the archive, or a list at the top. Nothing in them runs code."""
import collections, io, os, pickle, struct, zipfile
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
g = torch.Generator().manual_seed(0)
w = torch.randn(4, 3, 3, 3, generator=g)
a = torch.randn(3, 5, generator=g)
big = torch.randn(12, generator=g)
row = torch.arange(3.0)
torch.save({
    'channels_last': w.contiguous(memory_format=torch.channels_last), 'channels_last.expected': w.clone(),
    'transposed': a.t(), 'transposed.expected': a.t().contiguous(),
    'offset_view': big[5:9], 'offset_view.expected': big[5:9].clone(),
    'expanded': row.expand(4, 3), 'expanded.expected': row.expand(4, 3).contiguous(),
    'scalar': torch.tensor(2.5), 'scalar.expected': torch.tensor(2.5),
    'half_channels_last': w.half().contiguous(memory_format=torch.channels_last), 'half_channels_last.expected': w.half().clone(),
}, os.path.join(HERE, 'layouts.pt'))

# a training checkpoint as torchvision's reference scripts write one: the weights under "model", and under "model_ema" the
# state dict of their ExponentialMovingAverage, an AveragedModel: its count n_averaged beside the model's keys under "module."
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(w.clone())
averaged = torch.optim.swa_utils.AveragedModel(Net())
with torch.no_grad():
    averaged.module.w.mul_(0.5)
torch.save({'model': Net().state_dict(), 'model_ema': averaged.state_dict(),
            'optimizer': {'state': {}, 'param_groups': []}, 'epoch': 3}, os.path.join(HERE, 'model-key-checkpoint.pth'))
# a timm checkpoint of EMA weights alone
torch.save({'state_dict_ema': collections.OrderedDict(w=w * 0.5), 'epoch': 3}, os.path.join(HERE, 'ema-only.pth.tar'))


class Storage:
    def __init__(self, key, elements, kind=torch.FloatStorage): self.key, self.elements, self.kind = key, elements, kind


class Tensor:
    def __init__(self, storage, offset, size, stride): self.storage, self.offset, self.size, self.stride = storage, offset, size, stride
    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, (self.storage, self.offset, tuple(self.size), tuple(self.stride), False, collections.OrderedDict()))


class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        return ('storage', obj.kind, obj.key, 'cpu', obj.elements) if isinstance(obj, Storage) else None


def write(name, obj, storages):
    data = io.BytesIO()
    Pickler(data, protocol=2).dump(obj)
    with zipfile.ZipFile(os.path.join(HERE, name), 'w') as z:
        z.writestr('archive/data.pkl', data.getvalue())
        for key, payload in storages.items(): z.writestr(f'archive/data/{key}', payload)
        z.writestr('archive/version', '3\n')


four = struct.pack('<4f', 1, 2, 3, 4)
write('past-storage.pt', {'w': Tensor(Storage('0', 4), 2, [4], [1])}, {'0': four})       # elements 2..5 of 4
write('negative-size.pt', {'w': Tensor(Storage('0', 4), 0, [-4], [1])}, {'0': four})
write('quantized-storage.pt', {'w': Tensor(Storage('0', 4, torch.QInt8Storage), 0, [4], [1])}, {'0': four})
write('missing-storage.pt', {'w': Tensor(Storage('7', 4), 0, [4], [1])}, {'0': four})
torch.save([torch.ones(2)], os.path.join(HERE, 'list.pt'))
