using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Diffusion.Runtime.Onnx;
using Diffusion.Runtime;

namespace Diffusion.Benchmarks;

/// <summary>How a model call uses the cores, as a benchmark parameter (<see cref="CpuParallelism"/> and its chunk).</summary>
public enum CallMode
{
    /// <summary>One session, operators split over all threads (the runtime before data-parallel batches).</summary>
    IntraOp,
    /// <summary>Data-parallel, calls of 8 U-Net rows per worker.</summary>
    DataParallel8,
    /// <summary>Data-parallel, calls of 16 U-Net rows per worker (the runtime's default chunk).</summary>
    DataParallel16,
    /// <summary>Data-parallel, calls of 32 U-Net rows per worker.</summary>
    DataParallel32,
    /// <summary>Data-parallel, the whole share of a worker in one call.</summary>
    DataParallelWhole,
}

/// <summary>
/// What data-parallel batches gave: one step of unet.onnx and unet-guided.onnx at the same batch with intra-op
/// parallelism (one session over all threads) and data-parallel at several chunk sizes (one single-threaded session
/// per thread, each running its share of the batch in calls of a few rows); the int8 graphs too when the folder has them.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
public class ParallelismBenchmarks
{
    private OrtStep? _ort;

    /// <summary>How the call uses the cores.</summary>
    [ParamsSource(nameof(Modes))]
    public CallMode Mode { get; set; }

    /// <summary>Every mode in the full suite; intra-op against the default data-parallel chunk in the others.</summary>
    public static IEnumerable<CallMode> Modes => BenchSettings.Current.Suite == Suite.Full ? Enum.GetValues<CallMode>() : [CallMode.IntraOp, CallMode.DataParallel16];

    /// <summary>Images per call.</summary>
    [ParamsSource(nameof(Batches))]
    public int Batch { get; set; }

    /// <summary>The suite's batch sizes for this benchmark.</summary>
    public static IEnumerable<int> Batches => BenchSettings.Current.ParallelismBatches;

    private static BenchSettings S => BenchSettings.Current;

    /// <summary>Runtime options of <paramref name="mode"/> on <paramref name="threads"/> threads.</summary>
    public static RuntimeOptions Options(CallMode mode, int threads) => mode switch
    {
        CallMode.IntraOp => new RuntimeOptions { IntraOpThreads = threads, Parallelism = CpuParallelism.IntraOp },
        CallMode.DataParallel8 => new RuntimeOptions { IntraOpThreads = threads, Parallelism = CpuParallelism.DataParallel, ChunkRows = 8 },
        CallMode.DataParallel16 => new RuntimeOptions { IntraOpThreads = threads, Parallelism = CpuParallelism.DataParallel, ChunkRows = 16 },
        CallMode.DataParallel32 => new RuntimeOptions { IntraOpThreads = threads, Parallelism = CpuParallelism.DataParallel, ChunkRows = 32 },
        _ => new RuntimeOptions { IntraOpThreads = threads, Parallelism = CpuParallelism.DataParallel, ChunkRows = int.MaxValue / 4 },
    };

    private StepInputs Inputs => new(BenchModel.Metadata(S.ModelDir), Batch);

    /// <summary>Loads unet.onnx in <see cref="Mode"/>.</summary>
    [GlobalSetup(Target = nameof(OrtUnet))]
    public void SetupUnet() => _ort = new OrtStep(Path.Combine(S.ModelDir, ModelFolderLayout.Unet), Inputs, Options(Mode, S.AllThreads));

    /// <summary>Loads unet-guided.onnx in <see cref="Mode"/>.</summary>
    [GlobalSetup(Target = nameof(OrtGuided))]
    public void SetupGuided() => _ort = new OrtStep(Path.Combine(S.ModelDir, ModelFolderLayout.Guided), Inputs, Options(Mode, S.AllThreads));

    /// <summary>Loads unet-int8.onnx in <see cref="Mode"/> (when the folder has it: <see cref="BenchSettings.HasInt8"/>).</summary>
    [GlobalSetup(Target = nameof(OrtUnetInt8))]
    public void SetupUnetInt8() => _ort = new OrtStep(Path.Combine(S.ModelDir, ModelFolderLayout.UnetInt8), Inputs, Options(Mode, S.AllThreads));

    /// <summary>Loads unet-guided-int8.onnx in <see cref="Mode"/>.</summary>
    [GlobalSetup(Target = nameof(OrtGuidedInt8))]
    public void SetupGuidedInt8() => _ort = new OrtStep(Path.Combine(S.ModelDir, ModelFolderLayout.GuidedInt8), Inputs, Options(Mode, S.AllThreads));

    /// <summary>Disposes the model.</summary>
    [GlobalCleanup]
    public void Cleanup() { _ort?.Dispose(); _ort = null; }

    /// <summary>One unet.onnx step.</summary>
    [Benchmark, BenchmarkCategory("unet")]
    public void OrtUnet() => _ort!.Run();

    /// <summary>One unet-guided.onnx step.</summary>
    [Benchmark, BenchmarkCategory("guided")]
    public void OrtGuided() => _ort!.Run();

    /// <summary>One unet-int8.onnx step.</summary>
    [Benchmark, BenchmarkCategory("unet-int8")]
    public void OrtUnetInt8() => _ort!.Run();

    /// <summary>One unet-guided-int8.onnx step.</summary>
    [Benchmark, BenchmarkCategory("guided-int8")]
    public void OrtGuidedInt8() => _ort!.Run();
}
