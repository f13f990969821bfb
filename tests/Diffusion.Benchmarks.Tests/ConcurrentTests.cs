using Diffusion.Benchmarks;
using Diffusion.Runtime.Generation;
using Diffusion.Runtime.Samplers;

namespace Diffusion.Benchmarks.Tests;

/// <summary>The concurrent form of the end-to-end benchmark generates exactly the images of the single request.</summary>
public sealed class ConcurrentTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"bench-concurrent-{Guid.NewGuid():N}");

    public ConcurrentTests() => BenchModel.ExportUntrained("small", 100, _dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void SplitRequestsGiveTheSameImages()
    {
        using var pipeline = DiffusionPipeline.Load(_dir, OrtStep.Options(1));
        var request = new GenerationRequest
        {
            Labels = [0, 1, 2, 3, 4, 5, 6], GuidanceScale = 3f, Steps = 3, Sampler = SamplerKind.DpmSolverPlusPlus, Seed = 5, BatchSize = 2,
        };
        var whole = pipeline.Generate(request);
        var parts = GenerateSetup.Concurrent(pipeline, request, 3);
        Assert.Equal(3, parts.Length);
        Assert.Equal(whole.Images, parts.SelectMany(p => p.Images).ToArray());
        Assert.Equal(whole.Labels, parts.SelectMany(p => p.Labels).ToArray());
    }
}
