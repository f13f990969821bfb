using Diffusion.Onnx;
using Diffusion.Runtime.Generation;
using Diffusion.Runtime.Onnx;
using Diffusion.Runtime.Samplers;
using DataType = Diffusion.Onnx.Proto.TensorProto.Types.DataType;

namespace Diffusion.Runtime.Tests;

/// <summary>DiffusionModel and DiffusionPipeline over real ONNX files (tiny linear models from Diffusion.Onnx).</summary>
public class OnnxModelTests
{
    private static readonly RuntimeOptions OneThread = new() { IntraOpThreads = 1 };

    [Fact]
    public void Load_ReadsMetadata_AndBothSignatures()
    {
        string dir = TinyModels.Folder(PredictionType.V, T: 300);
        using var unet = DiffusionModel.Load(Path.Combine(dir, "unet.onnx"), OneThread, GraphKind.Unet);
        using var guided = DiffusionModel.Load(Path.Combine(dir, "unet-guided.onnx"), OneThread, GraphKind.Guided);
        Assert.False(unet.IsGuided); Assert.True(guided.IsGuided);
        Assert.Equal(300, unet.Metadata.Timesteps);
        Assert.Equal(PredictionType.V, guided.Metadata.Prediction);
        Assert.Equal("tiny", unet.Metadata.Dataset);
        Assert.Equal("out", unet.OutputName);
    }

    [Fact]
    public void Batches_ComputeTheGraph_AndSeeNewInputsEveryRun()
    {
        string dir = TinyModels.Folder();
        using var p = DiffusionPipeline.Load(dir, OneThread);
        using var b = p.Unet!.CreateBatch(3);
        for (int round = 0; round < 3; round++)
        {
            for (int i = 0; i < b.X.Length; i++) b.X[i] = (i % 17) * 0.1f - round;
            b.T[0] = 5; b.T[1] = 500 + round; b.T[2] = 999;
            b.Y[0] = 0; b.Y[1] = 7; b.Y[2] = 10;
            b.Run();
            for (int j = 0; j < 3; j++)
                for (int k = j * 784; k < (j + 1) * 784; k += 97)
                    Assert.Equal(TinyModels.Eval(b.X[k], b.T[j], b.Y[j]), b.Output[k], 1e-5);
        }
        using var g = p.Guided!.CreateBatch(2);
        g.X.Fill(0.25f); g.T[0] = 100; g.T[1] = 900; g.Y[0] = 3; g.Y[1] = 10; g.Scale[0] = 4f; g.Scale[1] = 2f;
        g.Run();
        for (int j = 0; j < 2; j++)
        {
            float cond = TinyModels.Eval(0.25f, g.T[j], g.Y[j]), uncond = TinyModels.Eval(0.25f, g.T[j], 10);
            Assert.Equal(uncond + g.Scale[j] * (cond - uncond), g.Output[j * 784 + 5], 1e-5);
        }
    }

    // A full sampling loop worked out by hand: DDIM (eta 0), 3 trailing steps of T = 1000 (999, 666, 332), guidance
    // scale 2 through the guided graph, the epsilon model above; x_T from the documented Philox noise. Each step is
    // Song et al. eq. 12 in double precision, written independently of DdimSampler.
    [Fact]
    public void FullSamplingLoop_MatchesHandWrittenDdim()
    {
        string dir = TinyModels.Folder();
        using var p = DiffusionPipeline.Load(dir, OneThread);
        // unclipped: the hand-written loop below is the plain eq. 12
        var result = p.Generate(new GenerationRequest { Labels = [3, 8], Steps = 3, Sampler = SamplerKind.Ddim, GuidanceScale = 2f, Seed = 99, SamplerOptions = SamplerOptions.Default });
        Assert.Equal([999, 666, 332], TimestepSchedule.Create(1000, 3, TimestepSpacing.Trailing));
        var ab = new NoiseSchedule(NoiseScheduleKind.Linear, 1000).AlphasCumprod;
        for (int j = 0; j < 2; j++)
        {
            var x = new float[784];
            GaussianNoise.Fill(99, j, 0, x);
            var xd = x.Select(v => (double)v).ToArray();
            int y = j == 0 ? 3 : 8;
            int[] ts = [999, 666, 332];
            for (int i = 0; i < 3; i++)
            {
                double a = ab[ts[i]], ap = i < 2 ? ab[ts[i + 1]] : 1.0;
                for (int k = 0; k < 784; k++)
                {
                    double cond = TinyModels.A * xd[k] + TinyModels.Ct * ts[i] + TinyModels.Cy * y;
                    double uncond = TinyModels.A * xd[k] + TinyModels.Ct * ts[i] + TinyModels.Cy * 10;
                    double eps = uncond + 2 * (cond - uncond);
                    double x0 = (xd[k] - Math.Sqrt(1 - a) * eps) / Math.Sqrt(a);
                    xd[k] = Math.Sqrt(ap) * x0 + Math.Sqrt(1 - ap) * eps;
                }
            }
            for (int k = 0; k < 784; k += 13)
                Assert.True(Math.Abs(result.Images[j * 784 + k] - xd[k]) < 2e-3 * Math.Max(1, Math.Abs(xd[k])), $"image {j} pixel {k}: {result.Images[j * 784 + k]} vs {xd[k]}");
        }
    }

    // The same loop through ONNX Runtime and through a C# denoiser computing the same function agree for every
    // sampler and guidance path (this catches stale bindings and wrong input order).
    [Theory]
    [InlineData(SamplerKind.Ddpm, 1f)]
    [InlineData(SamplerKind.Ddim, 3f)]
    [InlineData(SamplerKind.DpmSolverPlusPlus, 0f)]
    public void OnnxPipeline_EqualsManagedTwin(SamplerKind sampler, float scale)
    {
        string dir = TinyModels.Folder(PredictionType.V, T: 300, h: 8, w: 8);
        using var onnx = DiffusionPipeline.Load(dir, OneThread);
        using var twin = new DiffusionPipeline(new LinearTwin(onnx.Unet!.Metadata), new LinearTwin(onnx.Guided!.Metadata));
        var r = new GenerationRequest { Labels = [0, 1, 2, 10, 9], Steps = 12, Sampler = sampler, GuidanceScale = scale, Seed = 3, BatchSize = 2 };
        var a = onnx.Generate(r).Images; var b = twin.Generate(r).Images;
        for (int k = 0; k < a.Length; k++) Assert.Equal(b[k], a[k], 1e-3);
    }

    private sealed class LinearTwin(ModelMetadata meta) : IDenoiser
    {
        public ModelMetadata Metadata => meta;
        public bool IsGuided => meta.Graph == GraphKind.Guided;
        public IDenoiserBatch CreateBatch(int n) => new Batch(this, n, meta.Height * meta.Width);
        private sealed class Batch(LinearTwin m, int n, int size) : IDenoiserBatch
        {
            private readonly float[] _x = new float[n * size], _o = new float[n * size], _s = m.IsGuided ? new float[n] : [];
            private readonly long[] _t = new long[n], _y = new long[n];
            public int BatchSize => n;
            public Span<float> X => _x; public Span<long> T => _t; public Span<long> Y => _y; public Span<float> Scale => _s;
            public ReadOnlySpan<float> Output => _o;
            public void Run()
            {
                for (int j = 0; j < n; j++)
                    for (int k = j * size; k < (j + 1) * size; k++)
                    {
                        float c = TinyModels.Eval(_x[k], _t[j], _y[j]);
                        if (!m.IsGuided) { _o[k] = c; continue; }
                        float u = TinyModels.Eval(_x[k], _t[j], m.Metadata.NullClass);
                        _o[k] = u + _s[j] * (c - u);
                    }
            }
            public void Dispose() { }
        }
    }

    [Fact]
    public void Onnx_SameSeed_SameBytes_ForBatch1_7_64()
    {
        string dir = TinyModels.Folder(h: 28, w: 28);
        using var p = DiffusionPipeline.Load(dir, OneThread);
        var labels = Enumerable.Range(0, 70).Select(i => i % 10).ToArray();
        byte[] Gen(int batch) => p.Generate(new GenerationRequest { Labels = labels, Steps = 6, Sampler = SamplerKind.Ddpm, GuidanceScale = 2.5f, Seed = 42, BatchSize = batch }).ToBytes();
        var b64 = Gen(64);
        Assert.Equal(b64, Gen(64));
        Assert.Equal(b64, Gen(7));
        Assert.Equal(b64, Gen(1));
    }

    [Fact]
    public void Onnx_ConcurrentGenerations_EqualSequential()
    {
        string dir = TinyModels.Folder(h: 16, w: 16);
        using var p = DiffusionPipeline.Load(dir, new RuntimeOptions { IntraOpThreads = 2 });
        var requests = Enumerable.Range(0, 8).Select(i => new GenerationRequest
        {
            Labels = Enumerable.Range(0, 9 + i).Select(k => (k + i) % 11).ToArray(), Steps = 8, Sampler = (SamplerKind)(i % 3),
            GuidanceScale = i % 2 == 0 ? 1f : 3f, Seed = (ulong)(100 + i), BatchSize = 1 + i % 4,
        }).ToArray();
        var sequential = requests.Select(r => p.Generate(r).ToBytes()).ToArray();
        var parallel = new byte[requests.Length][];
        Parallel.For(0, requests.Length, new ParallelOptions { MaxDegreeOfParallelism = requests.Length }, i => parallel[i] = p.Generate(requests[i]).ToBytes());
        for (int i = 0; i < requests.Length; i++) Assert.Equal(sequential[i], parallel[i]);
    }

    // With ONNX Runtime in the loop (RunWithBinding over OrtValues made once per batch) nothing is allocated per
    // step: only each batch's int[steps] timestep list grows with the step count.
    [Theory]
    [InlineData(1f)]
    [InlineData(4f)]
    public void Onnx_StepLoop_DoesNotAllocatePerStep(float scale)
    {
        string dir = TinyModels.Folder(h: 28, w: 28);
        using var p = DiffusionPipeline.Load(dir, OneThread);
        long Measure(int steps)
        {
            var r = new GenerationRequest { Labels = Enumerable.Range(0, 16).Select(i => i % 10).ToArray(), BatchSize = 8, Steps = steps, Sampler = SamplerKind.Ddpm, GuidanceScale = scale };
            p.Generate(r);
            long before = GC.GetAllocatedBytesForCurrentThread();
            p.Generate(r);
            return GC.GetAllocatedBytesForCurrentThread() - before;
        }
        Measure(5); Measure(50);
        // least of three: a one-off allocation on this thread (a lazy runtime structure, a tiering transition) is
        // not per step; an allocation in the step loop shows in every run
        long a5 = Enumerable.Range(0, 3).Min(_ => Measure(5)), a50 = Enumerable.Range(0, 3).Min(_ => Measure(50));
        Assert.True(a50 - a5 <= 2 * 45 * sizeof(int) + 16, $"5 steps: {a5} bytes, 50 steps: {a50} bytes ({(a50 - a5) / 90.0:F1} per extra batch-step)");
    }

    [Fact]
    public void OptimizedModelCache_IsWrittenOnce_ThenUsed_WithSameOutputs()
    {
        string dir = TinyModels.Folder(h: 8, w: 8);
        string cache = Path.Combine(dir, "cache");
        var opts = OneThread with { OptimizedModelCacheDirectory = cache };
        var r = new GenerationRequest { Labels = [1, 2], Steps = 4, GuidanceScale = 2f, Seed = 1 };
        float[] first, second, plain;
        using (var p = DiffusionPipeline.Load(dir, opts)) first = p.Generate(r).Images;
        var files = Directory.GetFiles(cache, "*.optimized.onnx");
        Assert.Equal(2, files.Length);
        var stamp = files.Select(File.GetLastWriteTimeUtc).ToArray();
        using (var p = DiffusionPipeline.Load(dir, opts))
        {
            Assert.StartsWith(cache, ((DiffusionModel)p.Guided!).OptimizedModelPath);
            second = p.Generate(r).Images;
        }
        Assert.Equal(stamp, files.Select(File.GetLastWriteTimeUtc).ToArray());
        using (var p = DiffusionPipeline.Load(dir, OneThread)) plain = p.Generate(r).Images;
        Assert.Equal(first, second);
        Assert.Equal(plain, second);
        Assert.Empty(Directory.GetFiles(cache, "*.tmp"));
    }

    [Fact]
    public void Cuda_WhenUnavailable_IsAClearError()
    {
        string dir = TinyModels.Folder(h: 8, w: 8);
        var e = Assert.Throws<InvalidInputException>(() => DiffusionModel.Load(Path.Combine(dir, "unet.onnx"), new RuntimeOptions { Device = ExecutionDevice.Cuda }));
        // this CPU build has no CUDA provider: the message says how to get one, on one line
        Assert.Contains("make build-cuda", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void CudaProbe_NamesEveryMissingLibrary_AndWhatInstallsIt()
    {
        var missing = Cuda.MissingLibraries(file => file is "libcuda.so.1" or "libcudart.so.13");
        Assert.Equal(["libcublasLt.so.13", "libcublas.so.13", "libcurand.so.10", "libcudnn.so.9"], missing.Select(l => l.File));
        string message = Cuda.MissingMessage("cuda", missing);
        Assert.StartsWith("--device cuda: the CUDA libraries libcublasLt.so.13, libcublas.so.13, libcurand.so.10, libcudnn.so.9 cannot be loaded", message);
        Assert.Contains("cuBLAS 13", message);
        Assert.Contains("cuDNN 9", message);
        Assert.DoesNotContain('\n', message);
        Assert.Empty(Cuda.MissingLibraries(_ => true));
    }

    [Fact]
    public void CudaOptions_AreCheckedAndParsed()
    {
        Assert.Equal(CudnnConvSearch.Exhaustive, RuntimeOptions.Default.CudnnSearch);
        Assert.False(RuntimeOptions.Default.CudaGraph);
        Assert.Equal(CudnnConvSearch.Heuristic, RuntimeOptions.ParseCudnnSearch("Heuristic"));
        Assert.Throws<InvalidInputException>(() => RuntimeOptions.ParseCudnnSearch("fastest"));
        var e = Assert.Throws<InvalidInputException>(() => new RuntimeOptions { CudaGraph = true }.Validate());
        Assert.Contains("--device cuda", e.Message);
        new RuntimeOptions { Device = ExecutionDevice.Cuda, CudaGraph = true, CudnnSearch = CudnnConvSearch.Default }.Validate();
    }

    public static TheoryData<string, Func<string>> BrokenModels => new()
    {
        { "not found", () => Path.Combine(Path.GetTempPath(), "no-such-dir", "unet.onnx") },
        { "cannot load", () => { var f = TinyModels.File(TinyModels.Build(TinyModels.Meta(GraphKind.Unet))); File.WriteAllBytes(f, [1, 2, 3, 4, 5, 6]); return f; } },
        { "foreign model", () => TinyModels.File(TinyModels.Build(TinyModels.Meta(GraphKind.Unet), editMeta: _ => [])) },
        { "diffusion.timesteps", () => TinyModels.File(TinyModels.Build(TinyModels.Meta(GraphKind.Unet), editMeta: m => { m.Remove("diffusion.timesteps"); return m; })) },
        { "schema version 9", () => TinyModels.File(TinyModels.Build(TinyModels.Meta(GraphKind.Unet), editMeta: m => { m["diffusion.schema_version"] = "9"; return m; })) },
        { "missing y", () => TinyModels.File(TinyModels.Build(TinyModels.Meta(GraphKind.Unet), dropY: true)) },
        { "unexpected scale", () => TinyModels.File(TinyModels.Build(TinyModels.Meta(GraphKind.Unet), guidedInputs: true)) },
        { "missing scale", () => TinyModels.File(TinyModels.Build(TinyModels.Meta(GraphKind.Guided), guidedInputs: false)) },
        { "'t' has element type Float", () => TinyModels.File(TinyModels.Build(TinyModels.Meta(GraphKind.Unet), tType: DataType.Float)) },
        { "fixed batch dimension", () => TinyModels.File(TinyModels.Build(TinyModels.Meta(GraphKind.Unet), fixedBatch: true)) },
        { "output 'out' has shape [batch, 1, 1, 28]", () => TinyModels.File(TinyModels.Build(TinyModels.Meta(GraphKind.Unet), outH: 1)) },
        { "input 'x' has shape [batch, 1, 28, 28]", () => TinyModels.File(TinyModels.Build(TinyModels.Meta(GraphKind.Unet), editMeta: m => { m["diffusion.image_shape"] = "[1,27,28]"; return m; })) },
        { "2 outputs", () => TinyModels.File(TinyModels.Build(TinyModels.Meta(GraphKind.Unet), twoOutputs: true)) },
    };

    [Theory]
    [MemberData(nameof(BrokenModels))]
    public void BrokenModels_GiveErrorsNamingFileAndProblem(string expected, Func<string> make)
    {
        string path = make();
        var e = Assert.Throws<InvalidInputException>(() => DiffusionModel.Load(path, OneThread));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Folder_Errors_AreClear()
    {
        string empty = TinyModels.NewTempDir();
        Assert.Contains("neither", Assert.Throws<InvalidInputException>(() => DiffusionPipeline.Load(empty)).Message);
        // a guided graph saved as unet.onnx
        string swapped = TinyModels.Folder(h: 8, w: 8);
        File.Copy(Path.Combine(swapped, "unet-guided.onnx"), Path.Combine(swapped, "unet.onnx"), overwrite: true);
        Assert.Contains("expected 'unet'", Assert.Throws<InvalidInputException>(() => DiffusionPipeline.Load(swapped, OneThread)).Message);
        // graphs from different models
        string mixed = TinyModels.Folder(h: 8, w: 8);
        OnnxHelper.Save(TinyModels.Build(TinyModels.Meta(GraphKind.Guided, T: 300, h: 8, w: 8)), Path.Combine(mixed, "unet-guided.onnx"));
        Assert.Contains("disagree", Assert.Throws<InvalidInputException>(() => DiffusionPipeline.Load(mixed, OneThread)).Message);
    }
}
