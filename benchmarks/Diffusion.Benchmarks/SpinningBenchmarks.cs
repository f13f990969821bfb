using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Microsoft.ML.OnnxRuntime;
using Diffusion.Runtime;

namespace Diffusion.Benchmarks;

/// <summary>
/// ONNX Runtime's intra-op thread pool spins between operators by default (session.intra_op.allow_spinning = 1).
/// That is cheapest on an idle machine; on a shared one, spinning threads compete with other processes. One plain
/// U-Net step with all cores, spinning on and off.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByParams)]
public class SpinningBenchmarks
{
    private InferenceSession? _session;
    private OrtIoBinding? _binding;
    private RunOptions? _runOptions;
    private readonly List<OrtValue> _values = [];

    /// <summary>session.intra_op.allow_spinning.</summary>
    [Params(true, false)]
    public bool Spinning { get; set; }

    /// <summary>Images per call.</summary>
    [ParamsSource(nameof(Batches))]
    public int Batch { get; set; }

    /// <summary>The suite's batch sizes for this benchmark.</summary>
    public static IEnumerable<int> Batches => BenchSettings.Current.ThreadBatches;

    /// <summary>Loads unet.onnx with the runtime's settings plus the spinning choice and binds a batch.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var s = BenchSettings.Current;
        var inputs = new StepInputs(BenchModel.Metadata(s.ModelDir), Batch);
        using var so = new SessionOptions { IntraOpNumThreads = s.AllThreads, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        so.AddSessionConfigEntry("session.intra_op.allow_spinning", Spinning ? "1" : "0");
        _session = new InferenceSession(Path.Combine(s.ModelDir, ModelFolderLayout.Unet), so);
        _values.Add(OrtValue.CreateTensorValueFromMemory(inputs.X, inputs.Shape));
        _values.Add(OrtValue.CreateTensorValueFromMemory(inputs.T, [Batch]));
        _values.Add(OrtValue.CreateTensorValueFromMemory(inputs.Y, [Batch]));
        _values.Add(OrtValue.CreateTensorValueFromMemory(new float[inputs.X.Length], inputs.Shape));
        _binding = _session.CreateIoBinding();
        _binding.BindInput(UNetSignature.X, _values[0]);
        _binding.BindInput(UNetSignature.T, _values[1]);
        _binding.BindInput(UNetSignature.Y, _values[2]);
        _binding.BindOutput(_session.OutputNames[0], _values[3]);
        _runOptions = new RunOptions();
    }

    /// <summary>Disposes everything.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _binding?.Dispose(); _session?.Dispose(); _runOptions?.Dispose();
        _binding = null; _session = null; _runOptions = null;
        foreach (var v in _values) v.Dispose();
        _values.Clear();
    }

    /// <summary>One plain U-Net step.</summary>
    [Benchmark]
    public void OrtUnet() => _session!.RunWithBinding(_runOptions!, _binding!);
}
