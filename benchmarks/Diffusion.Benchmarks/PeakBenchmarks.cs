using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Diffusion.Onnx;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using static TorchSharp.torch;
using DataType = Diffusion.Onnx.Proto.TensorProto.Types.DataType;

namespace Diffusion.Benchmarks;

/// <summary>
/// The machine's float32 GEMM peak: the product of two random n x n matrices (2 n^3 FLOPs) with TorchSharp's
/// matmul (libtorch: MKL / oneDNN) and with an ONNX Runtime graph holding one MatMul node (MLAS), with 1 thread
/// and all cores. The summary takes the faster engine at all cores as the measured peak.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByParams)]
public class PeakBenchmarks
{
    private Tensor? _a, _b;
    private InferenceSession? _session;
    private OrtIoBinding? _binding;
    private RunOptions? _runOptions;
    private readonly List<OrtValue> _values = [];

    /// <summary>Threads: 1 and all cores.</summary>
    [ParamsSource(nameof(ThreadCounts))]
    public int Threads { get; set; }

    /// <summary>1 and all cores.</summary>
    public static IEnumerable<int> ThreadCounts => new[] { 1, BenchSettings.Current.AllThreads }.Distinct();

    /// <summary>Matrix side n.</summary>
    public static int N => BenchSettings.Current.GemmSize;

    /// <summary>Random matrices for torch.</summary>
    [GlobalSetup(Target = nameof(TorchMatMul))]
    public void SetupTorch()
    {
        torch.set_num_threads(Threads);
        torch.manual_seed(0);
        _a = randn(N, N);
        _b = randn(N, N);
    }

    /// <summary>The one-node MatMul graph with bound inputs and output.</summary>
    [GlobalSetup(Target = nameof(OrtMatMul))]
    public void SetupOrt()
    {
        var g = new GraphBuilder();
        var a = g.Input("a", DataType.Float, N, N);
        var b = g.Input("b", DataType.Float, N, N);
        g.Output(g.MatMul(a, b), "c");
        using var so = new SessionOptions { IntraOpNumThreads = Threads, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        _session = new InferenceSession(OnnxHelper.Serialize(g.BuildModel("gemm")), so);
        var rng = new Random(0);
        float[] Random() => Enumerable.Range(0, N * N).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        long[] shape = [N, N];
        _values.Add(OrtValue.CreateTensorValueFromMemory(Random(), shape));
        _values.Add(OrtValue.CreateTensorValueFromMemory(Random(), shape));
        _values.Add(OrtValue.CreateTensorValueFromMemory(new float[N * N], shape));
        _binding = _session.CreateIoBinding();
        _binding.BindInput("a", _values[0]);
        _binding.BindInput("b", _values[1]);
        _binding.BindOutput("c", _values[2]);
        _runOptions = new RunOptions();
    }

    /// <summary>Frees everything and gives torch all cores back.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _a?.Dispose(); _b?.Dispose(); _a = _b = null;
        _binding?.Dispose(); _session?.Dispose(); _runOptions?.Dispose();
        _binding = null; _session = null; _runOptions = null;
        foreach (var v in _values) v.Dispose();
        _values.Clear();
        torch.set_num_threads(BenchSettings.Current.AllThreads);
    }

    /// <summary>TorchSharp matmul, n x n by n x n.</summary>
    [Benchmark(Baseline = true)]
    public void TorchMatMul()
    {
        using var c = _a!.matmul(_b!);
    }

    /// <summary>ONNX Runtime MatMul node, n x n by n x n.</summary>
    [Benchmark]
    public void OrtMatMul() => _session!.RunWithBinding(_runOptions!, _binding!);
}
