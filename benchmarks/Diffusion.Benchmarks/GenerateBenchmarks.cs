using BenchmarkDotNet.Attributes;
using Diffusion.Runtime.Generation;
using Diffusion.Runtime.Samplers;

namespace Diffusion.Benchmarks;

/// <summary>
/// Generation end to end through the runtime's <see cref="DiffusionPipeline"/>: <see cref="BenchSettings.Images"/>
/// guided digits (an equal share of every class, guidance scale <see cref="BenchSettings.GuidanceScale"/>, so
/// unet-guided.onnx runs once per step, or a distilled student once per step of its own), all cores. One operation = the whole set.
/// </summary>
[MemoryDiagnoser]
public class GenerateBenchmarks
{
    private DiffusionPipeline? _pipeline;
    private GenerationRequest? _request;

    /// <summary>Sampler and steps.</summary>
    [ParamsSource(nameof(Cases))]
    public SamplerCase Sampler { get; set; } = new(SamplerKind.DpmSolverPlusPlus, 20);

    /// <summary>The suite's samplers (DDPM at T runs in <see cref="DdpmGenerateBenchmarks"/>), then the folder's students.</summary>
    public static IEnumerable<SamplerCase> Cases => BenchSettings.Current.Samplers.Concat(BenchSettings.Current.StudentSteps.Select(SamplerCase.OfStudent));

    /// <summary>Loads both graphs (all cores) and builds the request.</summary>
    [GlobalSetup]
    public void Setup() => (_pipeline, _request) = GenerateSetup.Create(Sampler, BenchSettings.Current.GenerateBatch);

    /// <summary>Disposes the pipeline.</summary>
    [GlobalCleanup]
    public void Cleanup() { _pipeline?.Dispose(); _pipeline = null; }

    /// <summary>Generates the whole set.</summary>
    [Benchmark]
    public GenerationResult Generate() => _pipeline!.Generate(_request!);
}

/// <summary>
/// How to run the pipeline for the target case (1,000 guided digits, DPM-Solver++ 20 steps): images per model call,
/// and one request with all cores inside each operator against one request per core at once on a one-thread session.
/// </summary>
[MemoryDiagnoser]
public class GenerateTuningBenchmarks
{
    private DiffusionPipeline? _pipeline;
    private GenerationRequest? _request;

    /// <summary>Images per model call (the guided graph runs the U-Net on twice as many).</summary>
    [ParamsSource(nameof(Batches))]
    public int Batch { get; set; }

    /// <summary>The suite's batch sizes for this benchmark.</summary>
    public static IEnumerable<int> Batches => BenchSettings.Current.TuningBatches;

    private static readonly SamplerCase Target = new(SamplerKind.DpmSolverPlusPlus, 20);

    /// <summary>One session with all cores as intra-op threads (the runtime's default).</summary>
    [GlobalSetup(Target = nameof(Generate))]
    public void Setup() => (_pipeline, _request) = GenerateSetup.Create(Target, Batch, BenchSettings.Current.AllThreads);

    /// <summary>One session with one intra-op thread, shared by concurrent requests.</summary>
    [GlobalSetup(Target = nameof(GenerateConcurrent))]
    public void SetupConcurrent() => (_pipeline, _request) = GenerateSetup.Create(Target, Batch, 1);

    /// <summary>Disposes the pipeline.</summary>
    [GlobalCleanup]
    public void Cleanup() { _pipeline?.Dispose(); _pipeline = null; }

    /// <summary>Generates the whole set in one request; ONNX Runtime splits every operator over all cores.</summary>
    [Benchmark(Baseline = true)]
    public GenerationResult Generate() => _pipeline!.Generate(_request!);

    /// <summary>
    /// Generates the same images as one request per core running at once on a one-thread session (the pipeline
    /// serves concurrent calls; noise is keyed by sample index, so the images are the same): no synchronisation
    /// inside operators.
    /// </summary>
    [Benchmark]
    public GenerationResult[] GenerateConcurrent() => GenerateSetup.Concurrent(_pipeline!, _request!, BenchSettings.Current.AllThreads);
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
    public void Setup() => (_pipeline, _request) = GenerateSetup.Create(Sampler, BenchSettings.Current.GenerateBatch, images: BenchSettings.Current.DdpmImages);

    /// <summary>Disposes the pipeline.</summary>
    [GlobalCleanup]
    public void Cleanup() { _pipeline?.Dispose(); _pipeline = null; }

    /// <summary>Generates <see cref="BenchSettings.DdpmImages"/> digits.</summary>
    [Benchmark]
    public GenerationResult Generate() => _pipeline!.Generate(_request!);
}

/// <summary>The pipeline and request both generation benchmarks use.</summary>
public static class GenerateSetup
{
    /// <summary>
    /// Loads the suite's model with <paramref name="threads"/> intra-op threads (all cores when 0) and builds a request
    /// for <paramref name="sampler"/> with <paramref name="batch"/> images per model call, generating
    /// <paramref name="images"/> digits (default <see cref="BenchSettings.Images"/>).
    /// </summary>
    public static (DiffusionPipeline, GenerationRequest) Create(SamplerCase sampler, int batch, int threads = 0, int images = 0)
    {
        var s = BenchSettings.Current;
        var pipeline = DiffusionPipeline.Load(s.ModelDir, OrtStep.Options(threads > 0 ? threads : s.AllThreads));
        int classes = pipeline.Metadata.NumClasses;
        var request = new GenerationRequest
        {
            Labels = Enumerable.Range(0, images > 0 ? images : s.Images).Select(i => i % classes).ToArray(),
            GuidanceScale = s.GuidanceScale,
            Steps = sampler.Steps,
            Sampler = sampler.Kind,
            // a student case must be served by the student, and a teacher case by the teacher's graphs
            Student = sampler.Student ? StudentMode.Require : StudentMode.Off,
            Seed = 1,
            BatchSize = batch,
        };
        pipeline.Validate(request);
        return (pipeline, request);
    }

    /// <summary>
    /// Splits <paramref name="request"/> into <paramref name="parts"/> contiguous requests (FirstIndex keeps each
    /// image's noise) and runs them at once on their own threads.
    /// </summary>
    public static GenerationResult[] Concurrent(DiffusionPipeline pipeline, GenerationRequest request, int parts)
    {
        int n = request.Labels.Count, chunk = (n + parts - 1) / parts;
        var requests = Enumerable.Range(0, parts).Select(p => (Start: p * chunk, Count: Math.Min(chunk, n - p * chunk))).Where(c => c.Count > 0)
            .Select(c => request with { Labels = request.Labels.Skip(c.Start).Take(c.Count).ToArray(), FirstIndex = request.FirstIndex + c.Start })
            .ToArray();
        var results = new GenerationResult[requests.Length];
        var threads = requests.Select((r, k) => new Thread(() => results[k] = pipeline.Generate(r))).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        return results;
    }
}
