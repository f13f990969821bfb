using System.Text.Json.Serialization;
using Diffusion.Runtime.Generation;
using Diffusion.Runtime.Onnx;
using Diffusion.Runtime.Samplers;
using Diffusion.Runtime;

namespace Diffusion.Benchmarks;

/// <summary>Managed bytes allocated by one generation at a step count.</summary>
/// <param name="Sampler">Sampler ("ddim", "dpm++", "ddpm").</param>
/// <param name="Steps">Sampling steps.</param>
/// <param name="Bytes">GC.GetTotalAllocatedBytes(precise) difference over the call (all threads).</param>
public sealed record AllocationPoint(string Sampler, int Steps, long Bytes);

/// <summary>Result of <see cref="AllocationProbe.Measure"/>.</summary>
/// <param name="Points">Bytes per generation at each sampler and step count (minimum over repeats).</param>
/// <param name="BytesPerStep">Largest least-squares slope of bytes against steps over the samplers.</param>
/// <param name="BytesAtZeroSteps">Intercept of that sampler's line: the per-call constant.</param>
/// <param name="RunCalls">Bound model calls timed for <see cref="BytesPerRun"/>.</param>
/// <param name="BytesPerRun">Managed bytes per bound model call (batch 1), averaged over <see cref="RunCalls"/>.</param>
/// <param name="DataParallelBatch">Batch of the data-parallel per-call figure (0 when not measured: one thread).</param>
/// <param name="BytesPerDataParallelRun">Managed bytes per data-parallel model call (all threads), averaged over <see cref="RunCalls"/>.</param>
public sealed record AllocationReport(
    [property: JsonPropertyName("points")] IReadOnlyList<AllocationPoint> Points,
    [property: JsonPropertyName("bytes_per_step")] double BytesPerStep,
    [property: JsonPropertyName("bytes_at_zero_steps")] double BytesAtZeroSteps,
    [property: JsonPropertyName("run_calls")] int RunCalls,
    [property: JsonPropertyName("bytes_per_run")] double BytesPerRun,
    [property: JsonPropertyName("data_parallel_batch")] int DataParallelBatch = 0,
    [property: JsonPropertyName("bytes_per_data_parallel_run")] double BytesPerDataParallelRun = 0);

/// <summary>
/// Explicit per-step allocation measurement, outside BenchmarkDotNet: bytes allocated by a guided batch-1
/// generation at growing step counts (a flat line means nothing is allocated per step), and bytes per bound
/// model call.
/// </summary>
public static class AllocationProbe
{
    /// <summary>One guided image (class 3, scale 3) at <paramref name="steps"/> steps, batch 1 (DDIM unless given).</summary>
    public static GenerationRequest Request(int steps, SamplerKind sampler = SamplerKind.Ddim) => new()
    {
        Labels = [3], GuidanceScale = 3f, Steps = steps, Sampler = sampler, Seed = 7, BatchSize = 1,
    };

    /// <summary>Measures on the model in <paramref name="modelDir"/> with <paramref name="threads"/> threads.</summary>
    /// <param name="modelDir">Model folder.</param>
    /// <param name="threads">Intra-op threads.</param>
    /// <param name="stepCounts">Step counts to measure (each at most T).</param>
    /// <param name="runCalls">Bound calls for the per-call figure.</param>
    public static AllocationReport Measure(string modelDir, int threads, IReadOnlyList<int> stepCounts, int runCalls)
    {
        using var pipeline = DiffusionPipeline.Load(modelDir, OrtStep.Options(threads));
        pipeline.Generate(Request(2)); // warm up: JIT, ONNX Runtime's first-run allocations
        var points = new List<AllocationPoint>();
        double slope = double.NegativeInfinity, intercept = double.NaN;
        foreach (var sampler in new[] { SamplerKind.Ddim, SamplerKind.DpmSolverPlusPlus, SamplerKind.DpmSolverPlusPlus3M, SamplerKind.Ddpm })
        {
            var line = new List<AllocationPoint>();
            foreach (int steps in stepCounts)
            {
                var request = Request(steps, sampler);
                long best = long.MaxValue;
                for (int r = 0; r < 3; r++)
                {
                    long before = GC.GetTotalAllocatedBytes(precise: true);
                    pipeline.Generate(request);
                    best = Math.Min(best, GC.GetTotalAllocatedBytes(precise: true) - before);
                }
                line.Add(new AllocationPoint(SamplerFactory.Name(sampler), steps, best));
            }
            var (a, b) = Fit(line);
            if (a > slope) (slope, intercept) = (a, b);
            points.AddRange(line);
        }

        using var model = DiffusionModel.Load(Path.Combine(modelDir, ModelFolderLayout.Guided), OrtStep.Options(threads));
        using var batch = model.CreateBatch(1);
        batch.Scale.Fill(3f);
        for (int i = 0; i < 5; i++) batch.Run();
        long start = GC.GetTotalAllocatedBytes(precise: true);
        for (int i = 0; i < runCalls; i++) batch.Run();
        double perRun = (GC.GetTotalAllocatedBytes(precise: true) - start) / (double)runCalls;

        // a data-parallel batch (its worker threads included: the count covers every thread)
        int dpBatch = 0;
        double perDpRun = 0;
        if (model.ParallelismFor(64) == CpuParallelism.DataParallel)
        {
            dpBatch = 64;
            using var dp = model.CreateBatch(dpBatch);
            dp.Scale.Fill(3f);
            for (int i = 0; i < 5; i++) dp.Run();
            long dpStart = GC.GetTotalAllocatedBytes(precise: true);
            for (int i = 0; i < runCalls; i++) dp.Run();
            perDpRun = (GC.GetTotalAllocatedBytes(precise: true) - dpStart) / (double)runCalls;
        }
        return new AllocationReport(points, slope, intercept, runCalls, perRun, dpBatch, perDpRun);
    }

    /// <summary>Least-squares line bytes = a * steps + b.</summary>
    public static (double Slope, double Intercept) Fit(IReadOnlyList<AllocationPoint> points)
    {
        if (points.Count < 2) return (double.NaN, points.Count == 1 ? points[0].Bytes : double.NaN);
        double mx = points.Average(p => (double)p.Steps), my = points.Average(p => (double)p.Bytes);
        double sxy = points.Sum(p => (p.Steps - mx) * (p.Bytes - my)), sxx = points.Sum(p => (p.Steps - mx) * (p.Steps - mx));
        double slope = sxx == 0 ? double.NaN : sxy / sxx;
        return (slope, my - slope * mx);
    }
}
