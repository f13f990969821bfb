using BenchmarkDotNet.Attributes;
using Diffusion.Runtime.Generation;
using Diffusion.Runtime.Samplers;

namespace Diffusion.Benchmarks;

/// <summary>
/// Managed allocation against the number of steps: one guided image (batch 1, DDIM) at several step counts.
/// The sampling loop reuses its buffers, so the Allocated column must not grow with Steps (the per-call constant
/// is the result object, the image and per-batch buffers). <see cref="AllocationProbe"/> measures the slope directly.
/// </summary>
[MemoryDiagnoser]
public class AllocationBenchmarks
{
    private DiffusionPipeline? _pipeline;
    private GenerationRequest? _request;

    /// <summary>Sampling steps.</summary>
    [ParamsSource(nameof(StepCounts))]
    public int Steps { get; set; }

    /// <summary>The suite's step counts.</summary>
    public static IEnumerable<int> StepCounts => BenchSettings.Current.AllocationSteps;

    /// <summary>Loads the model (all cores) and builds the request.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var s = BenchSettings.Current;
        _pipeline = DiffusionPipeline.Load(s.ModelDir, OrtStep.Options(s.AllThreads));
        _request = AllocationProbe.Request(Steps);
    }

    /// <summary>Disposes the pipeline.</summary>
    [GlobalCleanup]
    public void Cleanup() { _pipeline?.Dispose(); _pipeline = null; }

    /// <summary>Generates one guided image at <see cref="Steps"/> steps.</summary>
    [Benchmark]
    public GenerationResult Generate() => _pipeline!.Generate(_request!);
}
