using System.IO.Compression;
using System.Reflection;
using System.Runtime.CompilerServices;
using Razorvine.Pickle;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace ParNet.Weights;

/// <summary>
/// A torch.save file's tensors rebuilt as torch.load rebuilds them: any strides and any storage offset, read as contiguous
/// tensors. TorchSharp.PyBridge 1.4.4 wrote a storage's bytes into a tensor of the saved strides, which refused every tensor
/// that is not plainly row-major ("Bytes() called on non-contiguous tensor": the weights of a model trained channels-last,
/// timm's train.py --channels-last) and left a shape or offset past its storage to libtorch's native error (an audit of
/// session 47). PyBridge still reads the file (its unpickler, its storage records); this replaces its constructor of
/// torch._utils._rebuild_tensor_v2 (and _rebuild_tensor) in Razorvine's registry, which is the process's: PyBridge's lazy
/// form (its load into a module) goes on to PyBridge's own constructor, so a program that also uses PyBridge is unchanged there.
/// PyBridge's storage record is a private type, read by its property names: a PyBridge version that renames them is refused here.
/// </summary>
static class PickledTensors
{
    static readonly object Gate = new();
    static bool _installed;

    /// <summary>Registers the rebuild, once, after PyBridge's own registrations (its static constructor), so that it stands.</summary>
    public static void Install()
    {
        lock (Gate)
        {
            if (_installed) return;
            RuntimeHelpers.RunClassConstructor(typeof(PyTorchUnpickler).TypeHandle);
            var rebuild = new Rebuild();
            Unpickler.registerConstructor("torch._utils", "_rebuild_tensor_v2", rebuild);
            Unpickler.registerConstructor("torch._utils", "_rebuild_tensor", rebuild);
            _installed = true;
        }
    }

    /// <summary>Its reflection done when it is made, in <see cref="Install"/>: a PyBridge without these members is refused there
    /// in these words (as static fields, a TypeInitializationException said only that a type initializer threw).</summary>
    sealed class Rebuild : IObjectConstructor
    {
        readonly Type Storage = PyBridgeType("TensorStream");
        readonly PropertyInfo Entry, DType, Lazy;
        readonly IObjectConstructor _pyBridge = (IObjectConstructor)Activator.CreateInstance(PyBridgeType("TensorObjectConstructor"), nonPublic: true)!;

        public Rebuild() => (Entry, DType, Lazy) = (Property("ArchiveEntry"), Property("DType"), Property("SkipTensorRead"));

        static Type PyBridgeType(string name) => typeof(PyTorchUnpickler).GetNestedType(name, BindingFlags.NonPublic)
            ?? throw new InvalidOperationException($"TorchSharp.PyBridge has no {name} (another version than 1.4.4?): its tensors cannot be rebuilt here");

        PropertyInfo Property(string name) => Storage.GetProperty(name)
            ?? throw new InvalidOperationException($"TorchSharp.PyBridge's storage record has no {name} (another version than 1.4.4?)");

        /// <summary>torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks); the
        /// older _rebuild_tensor has the first four.</summary>
        public object construct(object[] args)
        {
            if (args.Length < 4 || args[0]?.GetType() != Storage) throw new InvalidDataException("a tensor whose storage is not one of the file's");
            if ((bool)Lazy.GetValue(args[0])!) return _pyBridge.construct(args);
            var entry = (ZipArchiveEntry)Entry.GetValue(args[0])!;
            var dtype = (ScalarType)DType.GetValue(args[0])!;
            long offset = Convert.ToInt64(args[1]);
            long[] shape = Longs(args[2]), stride = Longs(args[3]);
            long elementSize;
            using (var probe = empty(0, dtype, device: CPU)) elementSize = probe.ElementSize;
            long span = RequireWithin(entry, offset, shape, stride, elementSize);
            if (span == 0) return empty(shape, dtype, device: CPU);   // no elements: nothing to read
            // only the elements it reaches, offset..last: each of N views of one large storage read all of it (review, session 47)
            var bytes = new byte[span * elementSize];
            using (var data = entry.Open())
            {
                SkipBytes(data, offset * elementSize);
                data.ReadExactly(bytes);
            }
            using var scope = NewDisposeScope();
            var flat = empty(span, dtype, device: CPU);   // its bytes are written through a host pointer
            flat.bytes = bytes;
            var view = flat.as_strided(shape, stride, 0);
            // a copy of its own in every case: a contiguous view would keep the elements it skips alive
            return (view.is_contiguous() ? view.clone() : view.contiguous()).MoveToOuterDisposeScope();
        }

        static void SkipBytes(Stream data, long count)
        {
            var discard = new byte[(int)Math.Min(count, 1 << 16)];
            while (count > 0) count -= data.ReadAtLeast(discard.AsSpan(0, (int)Math.Min(count, discard.Length)), 1);
        }

        static long[] Longs(object value) => value is object[] items ? items.Select(Convert.ToInt64).ToArray()
            : throw new InvalidDataException($"a tensor's size or stride is not a tuple ({value?.GetType().Name ?? "null"})");

        /// <summary>The elements from the tensor's offset to its last element (0 for a tensor of no elements), once they are
        /// found within the storage; InvalidDataException naming what is wrong (libtorch's own error was a native stack trace).</summary>
        static long RequireWithin(ZipArchiveEntry entry, long offset, long[] shape, long[] stride, long elementSize)
        {
            string layout = $"size [{string.Join(",", shape)}], stride [{string.Join(",", stride)}], offset {offset}";
            if (shape.Length != stride.Length || offset < 0 || shape.Any(s => s < 0) || stride.Any(s => s < 0))
                throw new InvalidDataException($"a tensor of {layout}: not a layout torch.save writes");
            if (entry.Length % elementSize != 0 || entry.Length > Array.MaxLength)
                throw new InvalidDataException($"the storage {entry.FullName} holds {entry.Length:N0} bytes: " +
                                               (entry.Length % elementSize != 0 ? $"not whole elements of {elementSize} bytes" : "more than one array holds here"));
            long elements = entry.Length / elementSize;
            if (shape.Contains(0)) return 0;
            long last = offset;
            try { for (int i = 0; i < shape.Length; i++) last = checked(last + (shape[i] - 1) * stride[i]); }
            catch (OverflowException) { last = long.MaxValue; }
            if (last >= elements)
                throw new InvalidDataException($"a tensor of {layout} reaches past its storage {entry.FullName} of {elements:N0} elements");
            return last - offset + 1;
        }
    }
}
