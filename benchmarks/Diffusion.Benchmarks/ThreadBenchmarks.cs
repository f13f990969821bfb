using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Diffusion.Runtime;

namespace Diffusion.Benchmarks;

/// <summary>
/// Thread scaling: one plain U-Net step with 1 thread against all cores, for ONNX Runtime (intra-op threads)
/// and TorchSharp (torch.set_num_threads). The summary reports the speed-up of all cores over one.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByParams)]
public class ThreadBenchmarks
{
    private OrtStep? _ort;
    private TorchStep? _torch;

    /// <summary>Threads: 1 and all cores.</summary>
    [ParamsSource(nameof(ThreadCounts))]
    public int Threads { get; set; }

    /// <summary>Images per call.</summary>
    [ParamsSource(nameof(Batches))]
    public int Batch { get; set; }

    /// <summary>1 and <see cref="BenchSettings.AllThreads"/> (just 1 on a one-core machine).</summary>
    public static IEnumerable<int> ThreadCounts => new[] { 1, BenchSettings.Current.AllThreads }.Distinct();

    /// <summary>The suite's batch sizes for this benchmark.</summary>
    public static IEnumerable<int> Batches => BenchSettings.Current.ThreadBatches;

    private static BenchSettings S => BenchSettings.Current;

    private StepInputs Inputs => new(BenchModel.Metadata(S.ModelDir), Batch);

    /// <summary>Loads unet.onnx with <see cref="Threads"/> intra-op threads.</summary>
    [GlobalSetup(Target = nameof(OrtUnet))]
    public void SetupOrt() => _ort = new OrtStep(Path.Combine(S.ModelDir, ModelFolderLayout.Unet), Inputs, OrtStep.Options(Threads));

    /// <summary>Builds the TorchSharp U-Net with <see cref="Threads"/> threads.</summary>
    [GlobalSetup(Target = nameof(TorchUnet))]
    public void SetupTorch() => _torch = new TorchStep(S.ModelDir, Inputs, Threads, guided: false);

    /// <summary>Disposes whichever engine ran (and gives torch all cores back).</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _ort?.Dispose(); _ort = null;
        _torch?.Dispose(); _torch = null;
        TorchSharp.torch.set_num_threads(S.AllThreads);
    }

    /// <summary>TorchSharp eager, plain U-Net.</summary>
    [Benchmark(Baseline = true)]
    public void TorchUnet() => _torch!.Run();

    /// <summary>ONNX Runtime, unet.onnx.</summary>
    [Benchmark]
    public void OrtUnet() => _ort!.Run();
}
