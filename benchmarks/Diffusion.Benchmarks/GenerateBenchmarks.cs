using BenchmarkDotNet.Attributes;
using Diffusion.Runtime.Generation;
using Diffusion.Runtime.Samplers;

namespace Diffusion.Benchmarks;

/// <summary>
/// Generation end to end through the runtime's <see cref="DiffusionPipeline"/>: <see cref="BenchSettings.Images"/>
/// guided digits (an equal share of every class, guidance scale <see cref="BenchSettings.GuidanceScale"/>, so
/// unet-guided.onnx runs once per step), all cores. One operation = the whole set.
/// </summary>
[MemoryDiagnoser]
public class GenerateBenchmarks
{
    private DiffusionPipeline? _pipeline;
    private GenerationRequest? _request;

    /// <summary>Sampler and steps.</summary>
    [ParamsSource(nameof(Cases))]
    public SamplerCase Sampler { get; set; } = new(SamplerKind.DpmSolverPlusPlus, 20);

    /// <summary>The suite's samplers (DDPM at T runs in <see cref="DdpmGenerateBenchmarks"/>).</summary>
    public static IEnumerable<SamplerCase> Cases => BenchSettings.Current.Samplers;

    /// <summary>Loads both graphs and builds the request.</summary>
    [GlobalSetup]
    public void Setup() => (_pipeline, _request) = GenerateSetup.Create(Sampler);

    /// <summary>Disposes the pipeline.</summary>
    [GlobalCleanup]
    public void Cleanup() { _pipeline?.Dispose(); _pipeline = null; }

    /// <summary>Generates the whole set.</summary>
    [Benchmark]
    public GenerationResult Generate() => _pipeline!.Generate(_request!);
}

/// <summary>DDPM at T steps end to end: the slowest case, measured with one iteration (see Program's job for it).</summary>
[MemoryDiagnoser]
public class DdpmGenerateBenchmarks
{
    private DiffusionPipeline? _pipeline;
    private GenerationRequest? _request;

    /// <summary>DDPM at the suite's step count (T in the full suite).</summary>
    [ParamsSource(nameof(Cases))]
    public SamplerCase Sampler { get; set; } = new(SamplerKind.Ddpm, 1000);

    /// <summary>The one DDPM case.</summary>
    public static IEnumerable<SamplerCase> Cases => [new(SamplerKind.Ddpm, BenchSettings.Current.DdpmSteps)];

    /// <summary>Loads both graphs and builds the request.</summary>
    [GlobalSetup]
    public void Setup() => (_pipeline, _request) = GenerateSetup.Create(Sampler);

    /// <summary>Disposes the pipeline.</summary>
    [GlobalCleanup]
    public void Cleanup() { _pipeline?.Dispose(); _pipeline = null; }

    /// <summary>Generates the whole set.</summary>
    [Benchmark]
    public GenerationResult Generate() => _pipeline!.Generate(_request!);
}

/// <summary>The pipeline and request both generation benchmarks use.</summary>
public static class GenerateSetup
{
    /// <summary>Loads the suite's model with all cores and builds a request for <paramref name="sampler"/>.</summary>
    public static (DiffusionPipeline, GenerationRequest) Create(SamplerCase sampler)
    {
        var s = BenchSettings.Current;
        var pipeline = DiffusionPipeline.Load(s.ModelDir, OrtStep.Options(s.AllThreads));
        int classes = pipeline.Metadata.NumClasses;
        var request = new GenerationRequest
        {
            Labels = Enumerable.Range(0, s.Images).Select(i => i % classes).ToArray(),
            GuidanceScale = s.GuidanceScale,
            Steps = sampler.Steps,
            Sampler = sampler.Kind,
            Seed = 1,
            BatchSize = s.GenerateBatch,
        };
        pipeline.Validate(request);
        return (pipeline, request);
    }
}
