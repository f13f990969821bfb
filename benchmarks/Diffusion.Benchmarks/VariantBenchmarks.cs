using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Microsoft.ML.OnnxRuntime;
using Diffusion.Runtime;

namespace Diffusion.Benchmarks;

/// <summary>ONNX Runtime graph optimization level, as a benchmark parameter.</summary>
public enum OptLevel
{
    /// <summary>ORT_ENABLE_EXTENDED: fusions, no layout transformation.</summary>
    Extended,
    /// <summary>ORT_ENABLE_ALL (the runtime's default): also the NCHWc layout for convolutions.</summary>
    All,
}

/// <summary>
/// What was tried to make the step faster: each <see cref="GraphVariant"/> of the exported graph (same weights,
/// exported by <see cref="GraphVariants"/> into out/) under each optimization level, one plain U-Net step.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByParams)]
public class VariantBenchmarks
{
    private OrtStep? _ort;

    /// <summary>Graph form.</summary>
    [ParamsAllValues]
    public GraphVariant Variant { get; set; }

    /// <summary>Optimization level.</summary>
    [ParamsSource(nameof(Levels))]
    public OptLevel Level { get; set; }

    /// <summary>Both levels in the full suite; the runtime's default (All) in the others.</summary>
    public static IEnumerable<OptLevel> Levels => BenchSettings.Current.Suite == Suite.Full ? [OptLevel.Extended, OptLevel.All] : [OptLevel.All];

    /// <summary>Images per call.</summary>
    [ParamsSource(nameof(Batches))]
    public int Batch { get; set; }

    /// <summary>The suite's batch sizes for this benchmark.</summary>
    public static IEnumerable<int> Batches => BenchSettings.Current.VariantBatches;

    /// <summary>Folder of the exported variant.</summary>
    public static string Dir(GraphVariant v) => Path.Combine(BenchSettings.Current.VariantsDir, v.ToString().ToLowerInvariant());

    /// <summary>Loads the variant's unet.onnx with all cores at <see cref="Level"/>.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var s = BenchSettings.Current;
        var level = Level == OptLevel.All ? GraphOptimizationLevel.ORT_ENABLE_ALL : GraphOptimizationLevel.ORT_ENABLE_EXTENDED;
        _ort = new OrtStep(Path.Combine(Dir(Variant), ModelFolderLayout.Unet), new StepInputs(BenchModel.Metadata(s.ModelDir), Batch), OrtStep.Options(s.AllThreads, level));
    }

    /// <summary>Disposes the session.</summary>
    [GlobalCleanup]
    public void Cleanup() { _ort?.Dispose(); _ort = null; }

    /// <summary>One plain U-Net step.</summary>
    [Benchmark]
    public void OrtUnet() => _ort!.Run();
}
