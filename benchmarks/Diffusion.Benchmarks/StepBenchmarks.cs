using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Diffusion.Runtime;

namespace Diffusion.Benchmarks;

/// <summary>
/// One denoising step (one model call) at several batch sizes: ONNX Runtime through the runtime's
/// <c>DiffusionModel</c> (unet.onnx, unet-guided.onnx and their int8 forms, the runtime's default on the CPU) against
/// the same float32 weights run eagerly in TorchSharp, all threads for both. Per-image times and ratios are derived by the summary (time / batch).
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
public class StepBenchmarks
{
    private OrtStep? _ort;
    private TorchStep? _torch;

    /// <summary>Images per call.</summary>
    [ParamsSource(nameof(Batches))]
    public int Batch { get; set; }

    /// <summary>The suite's batch sizes.</summary>
    public static IEnumerable<int> Batches => BenchSettings.Current.StepBatches;

    private static BenchSettings S => BenchSettings.Current;

    private StepInputs Inputs => new(BenchModel.Metadata(S.ModelDir), Batch);

    /// <summary>Loads unet.onnx.</summary>
    [GlobalSetup(Target = nameof(OrtUnet))]
    public void SetupOrtUnet() => _ort = new OrtStep(Path.Combine(S.ModelDir, ModelFolderLayout.Unet), Inputs, OrtStep.Options(S.AllThreads));

    /// <summary>Loads unet-guided.onnx.</summary>
    [GlobalSetup(Target = nameof(OrtGuided))]
    public void SetupOrtGuided() => _ort = new OrtStep(Path.Combine(S.ModelDir, ModelFolderLayout.Guided), Inputs, OrtStep.Options(S.AllThreads));

    /// <summary>Loads unet-int8.onnx (<see cref="BenchSettings.HasInt8"/>).</summary>
    [GlobalSetup(Target = nameof(OrtUnetInt8))]
    public void SetupOrtUnetInt8() => _ort = new OrtStep(Path.Combine(S.ModelDir, ModelFolderLayout.UnetInt8), Inputs, OrtStep.Options(S.AllThreads));

    /// <summary>Loads unet-guided-int8.onnx.</summary>
    [GlobalSetup(Target = nameof(OrtGuidedInt8))]
    public void SetupOrtGuidedInt8() => _ort = new OrtStep(Path.Combine(S.ModelDir, ModelFolderLayout.GuidedInt8), Inputs, OrtStep.Options(S.AllThreads));

    /// <summary>Builds the TorchSharp U-Net.</summary>
    [GlobalSetup(Target = nameof(TorchUnet))]
    public void SetupTorchUnet() => _torch = new TorchStep(S.ModelDir, Inputs, S.AllThreads, guided: false);

    /// <summary>Builds the TorchSharp U-Net (guided step).</summary>
    [GlobalSetup(Target = nameof(TorchGuided))]
    public void SetupTorchGuided() => _torch = new TorchStep(S.ModelDir, Inputs, S.AllThreads, guided: true);

    /// <summary>Disposes whichever engine ran.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _ort?.Dispose(); _ort = null;
        _torch?.Dispose(); _torch = null;
    }

    /// <summary>TorchSharp eager, plain U-Net (baseline of the "unet" group).</summary>
    [Benchmark(Baseline = true), BenchmarkCategory("unet")]
    public void TorchUnet() => _torch!.Run();

    /// <summary>ONNX Runtime, unet.onnx.</summary>
    [Benchmark, BenchmarkCategory("unet")]
    public void OrtUnet() => _ort!.Run();

    /// <summary>TorchSharp eager, guided step (doubled batch; baseline of the "guided" group).</summary>
    [Benchmark(Baseline = true), BenchmarkCategory("guided")]
    public void TorchGuided() => _torch!.Run();

    /// <summary>ONNX Runtime, unet-guided.onnx.</summary>
    [Benchmark, BenchmarkCategory("guided")]
    public void OrtGuided() => _ort!.Run();

    /// <summary>ONNX Runtime, unet-int8.onnx (the runtime's default on the CPU).</summary>
    [Benchmark, BenchmarkCategory("unet")]
    public void OrtUnetInt8() => _ort!.Run();

    /// <summary>ONNX Runtime, unet-guided-int8.onnx (the runtime's default on the CPU).</summary>
    [Benchmark, BenchmarkCategory("guided")]
    public void OrtGuidedInt8() => _ort!.Run();
}
