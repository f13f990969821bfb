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

    [Fact]
    public void The_untrained_folder_has_a_student_and_the_student_case_is_served_by_it()
    {
        BenchSettings.Current = new BenchSettings { ModelDir = _dir, Images = 6, AllThreads = 1 };
        try
        {
            var (pipeline, request) = GenerateSetup.Create(SamplerCase.OfStudent(4), 3);
            using (pipeline)
            {
                var r = pipeline.Generate(request);
                Assert.Equal(Diffusion.Runtime.ModelFolderLayout.StudentFile(4, false), r.Graph);
                Assert.Equal(2 * 4, r.ModelCalls);   // 2 batches of 3, one pass per step
            }
            var (teacher, teacherRequest) = GenerateSetup.Create(new SamplerCase(SamplerKind.Ddim, 4), 3);
            using (teacher) Assert.Equal(Diffusion.Runtime.ModelFolderLayout.Guided, teacher.Generate(teacherRequest).Graph);
            Assert.Equal("student 4", SamplerCase.OfStudent(4).ToString());
        }
        finally { BenchSettings.Current = new BenchSettings(); }
    }
}
