using System.Runtime.InteropServices;
using Diffusion.Runtime.Generation;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Diffusion.Runtime.Onnx;

/// <summary>
/// A batch on the CUDA execution provider. Every input and the output live in device memory that this batch owns
/// (cudaMalloc), bound once to an <see cref="OrtIoBinding"/>, so ONNX Runtime never allocates or copies a tensor of
/// its own and the buffers keep their addresses (what CUDA graphs, <see cref="RuntimeOptions.CudaGraph"/>, need).
/// The samplers run on the host, so a step moves x_t, t, y (and the scales) up and the prediction down once:
/// one upload and one download per step, from host buffers pinned for the batch's lifetime, no managed allocation.
/// </summary>
internal sealed class CudaBatch : BatchBuffers, ICancellableBatch
{
    private readonly DiffusionModel _model;
    private readonly RunOptions _runOptions = new();
    private readonly OrtIoBinding _binding;
    private readonly OrtMemoryInfo _memory;
    private readonly List<GCHandle> _pins = [];
    private readonly List<Cuda.DeviceBuffer> _device = [];
    private readonly List<OrtValue> _values = [];
    // (host, device, bytes) for each input, uploaded before every run
    private readonly List<(IntPtr Host, IntPtr Device, long Bytes)> _uploads = [];
    private readonly IntPtr _outHost, _outDevice;
    private readonly long _outBytes;

    public CudaBatch(DiffusionModel model, int n) : base(model.Metadata, model.IsGuided, n)
    {
        _model = model;
        var m = model.Metadata;
        int id = model.Options.DeviceId;
        long[] image = [n, m.Channels, m.Height, m.Width], vec = [n];
        try
        {
            _memory = new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA, OrtAllocatorType.DeviceAllocator, id, OrtMemType.Default);
            _binding = model.Session.CreateIoBinding();
            var names = UNetSignature.Inputs(model.Graph);
            Bind(names[0], _x, TensorElementType.Float, image, sizeof(float), input: true);
            Bind(names[1], _t, TensorElementType.Int64, vec, sizeof(long), input: true);
            Bind(names[2], _y, TensorElementType.Int64, vec, sizeof(long), input: true);
            if (model.IsGuided) Bind(names[3], _scale, TensorElementType.Float, vec, sizeof(float), input: true);
            (_outHost, _outDevice, _outBytes) = Bind(model.OutputName, _out, TensorElementType.Float, image, sizeof(float), input: false);
            // CUDA graphs: one captured graph per batch size on a session (ONNX Runtime's gpu_graph_id run option).
            if (model.Options.CudaGraph) _runOptions.AddRunConfigEntry("gpu_graph_id", n.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        catch { Dispose(); throw; }
    }

    // Pins the host array, allocates its device twin, wraps the device memory in an OrtValue and binds it.
    private (IntPtr Host, IntPtr Device, long Bytes) Bind(string name, Array host, TensorElementType type, long[] shape, int elementSize, bool input)
    {
        var pin = GCHandle.Alloc(host, GCHandleType.Pinned);
        _pins.Add(pin);
        long bytes = (long)host.Length * elementSize;
        var buffer = new Cuda.DeviceBuffer(_model.Options.DeviceId, bytes);
        _device.Add(buffer);
        var value = OrtValue.CreateTensorValueWithData(_memory, type, shape, buffer.Pointer, bytes);
        _values.Add(value);
        var entry = (pin.AddrOfPinnedObject(), buffer.Pointer, bytes);
        if (input) { _binding.BindInput(name, value); _uploads.Add(entry); }
        else _binding.BindOutput(name, value);
        return entry;
    }

    public override void Run()
    {
        ObjectDisposedException.ThrowIf(_model.IsDisposed, _model);
        foreach (var (host, device, bytes) in _uploads) Cuda.Upload(device, host, bytes);
        Cuda.Synchronize();
        _model.Session.RunWithBinding(_runOptions, _binding);   // returns when the device has finished (ORT syncs its stream)
        Cuda.Download(_outHost, _outDevice, _outBytes);
    }

    public void Cancel() => _runOptions.Terminate = true;

    public override void Dispose()
    {
        _binding?.Dispose();
        foreach (var v in _values) v.Dispose();
        foreach (var d in _device) d.Dispose();
        foreach (var p in _pins) if (p.IsAllocated) p.Free();
        _values.Clear(); _device.Clear(); _pins.Clear();
        _memory?.Dispose();
        _runOptions.Dispose();
    }
}
