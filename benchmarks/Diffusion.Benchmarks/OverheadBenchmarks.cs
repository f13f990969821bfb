using BenchmarkDotNet.Attributes;
using Diffusion.Onnx;
using Diffusion.Runtime.Onnx;
using Microsoft.ML.OnnxRuntime;
using DataType = Diffusion.Onnx.Proto.TensorProto.Types.DataType;
using Diffusion.Runtime;

namespace Diffusion.Benchmarks;

/// <summary>
/// Per-call overhead at batch 1: the runtime's bound call (<c>RunWithBinding</c>, what the sampling loop uses)
/// against <c>InferenceSession.Run</c> with OrtValue lists, on the U-Net and on a trivial graph with the same
/// inputs (out = x + x), whose time is almost all ONNX Runtime's fixed cost per call. MemoryDiagnoser shows the
/// managed bytes each form allocates per call.
/// </summary>
[MemoryDiagnoser]
public class OverheadBenchmarks
{
    private InferenceSession? _unet, _tiny;
    private OrtIoBinding? _unetBinding, _tinyBinding;
    private RunOptions? _runOptions;
    private readonly List<OrtValue> _inputs = [], _outputs = [];
    private static readonly string[] InputNames = [UNetSignature.X, UNetSignature.T, UNetSignature.Y], OutputNames = [UNetSignature.Output];

    /// <summary>Loads both sessions (all cores) and binds batch-1 buffers.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var s = BenchSettings.Current;
        var meta = BenchModel.Metadata(s.ModelDir);
        var inputs = new StepInputs(meta, 1);
        var output = new float[inputs.X.Length];
        _inputs.Add(OrtValue.CreateTensorValueFromMemory(inputs.X, inputs.Shape));
        _inputs.Add(OrtValue.CreateTensorValueFromMemory(inputs.T, [1]));
        _inputs.Add(OrtValue.CreateTensorValueFromMemory(inputs.Y, [1]));
        _outputs.Add(OrtValue.CreateTensorValueFromMemory(output, inputs.Shape));
        _runOptions = new RunOptions();
        using var so = new SessionOptions { IntraOpNumThreads = s.AllThreads, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        _unet = new InferenceSession(Path.Combine(s.ModelDir, ModelFolderLayout.Unet), so);
        _tiny = new InferenceSession(TinyGraph(meta.Channels, meta.Height, meta.Width), so);
        _unetBinding = Bind(_unet);
        _tinyBinding = Bind(_tiny);
    }

    private OrtIoBinding Bind(InferenceSession session)
    {
        var b = session.CreateIoBinding();
        for (int i = 0; i < InputNames.Length; i++) b.BindInput(InputNames[i], _inputs[i]);
        b.BindOutput(OutputNames[0], _outputs[0]);
        return b;
    }

    /// <summary>An ONNX model with the U-Net's inputs that computes out = x + x (t and y unused).</summary>
    public static byte[] TinyGraph(int c, int h, int w)
    {
        var g = new GraphBuilder();
        var x = g.Input(UNetSignature.X, DataType.Float, UNetSignature.BatchDim, c, h, w);
        g.Input(UNetSignature.T, DataType.Int64, UNetSignature.BatchDim);
        g.Input(UNetSignature.Y, DataType.Int64, UNetSignature.BatchDim);
        g.Output(g.Add(x, x), UNetSignature.Output);
        return OnnxHelper.Serialize(g.BuildModel("tiny"));
    }

    /// <summary>Disposes sessions, bindings and values.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _unetBinding?.Dispose(); _tinyBinding?.Dispose();
        _unet?.Dispose(); _tiny?.Dispose();
        _runOptions?.Dispose();
        foreach (var v in _inputs.Concat(_outputs)) v.Dispose();
        _inputs.Clear(); _outputs.Clear();
    }

    /// <summary>U-Net, batch 1, bound buffers (the runtime's sampling loop).</summary>
    [Benchmark(Baseline = true)]
    public void UnetRunWithBinding() => _unet!.RunWithBinding(_runOptions!, _unetBinding!);

    /// <summary>U-Net, batch 1, Run with OrtValue lists.</summary>
    [Benchmark]
    public void UnetRunOrtValues() => _unet!.Run(_runOptions!, InputNames, _inputs, OutputNames, _outputs);

    /// <summary>Trivial graph, bound buffers: ONNX Runtime's fixed cost per call.</summary>
    [Benchmark]
    public void TinyRunWithBinding() => _tiny!.RunWithBinding(_runOptions!, _tinyBinding!);

    /// <summary>Trivial graph, Run with OrtValue lists.</summary>
    [Benchmark]
    public void TinyRunOrtValues() => _tiny!.Run(_runOptions!, InputNames, _inputs, OutputNames, _outputs);
}
