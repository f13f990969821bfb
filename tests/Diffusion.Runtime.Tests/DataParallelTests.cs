using Diffusion.Runtime.Generation;
using Diffusion.Runtime.Onnx;

namespace Diffusion.Runtime.Tests;

/// <summary>Data-parallel batches (<see cref="CpuParallelism.DataParallel"/>): the plan, the choice, the results, cancellation.</summary>
public class DataParallelTests
{
    private static readonly RuntimeOptions TwoThreads = new() { IntraOpThreads = 2 };

    [Fact]
    public void Plan_SplitsContiguousShares_IntoNearlyEqualCalls()
    {
        Assert.Equal([[new Chunk(0, 16), new Chunk(16, 16)], [new Chunk(32, 16), new Chunk(48, 16)]], DataParallelBatch.Plan(64, 2, 16));
        // 125 images: shares of 63 and 62, four calls each
        Assert.Equal([[new Chunk(0, 16), new Chunk(16, 16), new Chunk(32, 16), new Chunk(48, 15)],
                      [new Chunk(63, 16), new Chunk(79, 16), new Chunk(95, 15), new Chunk(110, 15)]], DataParallelBatch.Plan(125, 2, 16));
        // fewer images than workers: one image each, no empty worker
        Assert.Equal([[new Chunk(0, 1)], [new Chunk(1, 1)], [new Chunk(2, 1)]], DataParallelBatch.Plan(3, 4, 16));
        Assert.Equal([[new Chunk(0, 7), new Chunk(7, 6)]], DataParallelBatch.Plan(13, 1, 8));
        Assert.Throws<ArgumentOutOfRangeException>(() => DataParallelBatch.Plan(0, 2, 16));
        Assert.Throws<ArgumentOutOfRangeException>(() => DataParallelBatch.Plan(4, 2, 0));
    }

    [Theory]
    [InlineData(1, 64, 3, 5)]
    [InlineData(3, 10, 4, 2)]
    [InlineData(4, 1000, 7, 16)]
    public void Plan_CoversEveryImageOnce(int workers, int n, int chunk, int _)
    {
        var plan = DataParallelBatch.Plan(n, workers, chunk);
        var flat = plan.SelectMany(w => w).ToList();
        Assert.Equal(Enumerable.Range(0, n), flat.SelectMany(c => Enumerable.Range(c.Offset, c.Count)));
        Assert.All(flat, c => Assert.InRange(c.Count, 1, chunk));
        var shares = plan.Select(w => w.Sum(c => c.Count)).ToList();
        Assert.True(shares.Max() - shares.Min() <= 1, string.Join(",", shares));
    }

    [Fact]
    public void Auto_UsesDataParallel_ForBatchesWithEnoughRowsPerThread()
    {
        string dir = TinyModels.Folder(h: 8, w: 8);
        using var unet = DiffusionModel.Load(Path.Combine(dir, "unet.onnx"), TwoThreads);
        using var guided = DiffusionModel.Load(Path.Combine(dir, "unet-guided.onnx"), TwoThreads);
        int min = 2 * RuntimeOptions.AutoMinRowsPerWorker;
        Assert.Equal(CpuParallelism.IntraOp, unet.ParallelismFor(1));
        Assert.Equal(CpuParallelism.IntraOp, unet.ParallelismFor(min - 1));
        Assert.Equal(CpuParallelism.DataParallel, unet.ParallelismFor(min));
        Assert.Equal(CpuParallelism.IntraOp, guided.ParallelismFor(min / 2 - 1));
        Assert.Equal(CpuParallelism.DataParallel, guided.ParallelismFor(min / 2)); // two U-Net rows per image
        using var one = DiffusionModel.Load(Path.Combine(dir, "unet.onnx"), new RuntimeOptions { IntraOpThreads = 1, Parallelism = CpuParallelism.DataParallel });
        Assert.Equal(CpuParallelism.IntraOp, one.ParallelismFor(256));
        using var intra = DiffusionModel.Load(Path.Combine(dir, "unet.onnx"), TwoThreads with { Parallelism = CpuParallelism.IntraOp });
        Assert.Equal(CpuParallelism.IntraOp, intra.ParallelismFor(256));
        using var forced = DiffusionModel.Load(Path.Combine(dir, "unet.onnx"), TwoThreads with { Parallelism = CpuParallelism.DataParallel });
        Assert.Equal(CpuParallelism.DataParallel, forced.ParallelismFor(2));
    }

    // Every image of a data-parallel batch matches the closed-form model and the intra-op batch bit for bit (each
    // image's arithmetic does not depend on which call it is in), over several rounds of new inputs.
    [Theory]
    [InlineData("unet.onnx", 13, 4)]
    [InlineData("unet-guided.onnx", 13, 4)]
    [InlineData("unet-guided.onnx", 3, 16)]
    public void DataParallelBatch_MatchesTheModel_AndTheIntraOpBatch(string file, int n, int chunkRows)
    {
        string dir = TinyModels.Folder(h: 8, w: 8);
        string path = Path.Combine(dir, file);
        using var dp = DiffusionModel.Load(path, TwoThreads with { Parallelism = CpuParallelism.DataParallel, ChunkRows = chunkRows });
        using var io = DiffusionModel.Load(path, TwoThreads with { Parallelism = CpuParallelism.IntraOp });
        using var a = dp.CreateBatch(n);
        using var b = io.CreateBatch(n);
        Assert.IsNotType<DataParallelBatch>(b);
        var plan = Assert.IsType<DataParallelBatch>(a).Chunks;
        Assert.Equal(Math.Min(2, n), plan.Count);
        Assert.All(plan.SelectMany(w => w), c => Assert.InRange(c.Count, 1, Math.Max(1, chunkRows / dp.RowsPerImage)));
        int size = a.X.Length / n;
        var rng = new Random(7);
        for (int round = 0; round < 3; round++)
        {
            for (int i = 0; i < a.X.Length; i++) a.X[i] = b.X[i] = (float)(rng.NextDouble() * 4 - 2);
            for (int j = 0; j < n; j++)
            {
                a.T[j] = b.T[j] = rng.Next(1000);
                a.Y[j] = b.Y[j] = rng.Next(11);
                if (dp.IsGuided) a.Scale[j] = b.Scale[j] = (float)(rng.NextDouble() * 5);
            }
            a.Run(); b.Run();
            Assert.Equal(b.Output.ToArray(), a.Output.ToArray());
            for (int j = 0; j < n; j++)
            {
                int k = j * size + (j * 13 + round) % size;
                float cond = TinyModels.Eval(a.X[k], a.T[j], a.Y[j]);
                float expected = dp.IsGuided ? TinyModels.Eval(a.X[k], a.T[j], 10) + a.Scale[j] * (cond - TinyModels.Eval(a.X[k], a.T[j], 10)) : cond;
                Assert.Equal(expected, a.Output[k], 1e-4);
            }
        }
    }

    [Fact]
    public void Pipeline_GeneratesTheSameImages_EitherWay()
    {
        string dir = TinyModels.Folder(h: 8, w: 8);
        var r = new GenerationRequest { Labels = Enumerable.Range(0, 40).Select(i => i % 10).ToArray(), BatchSize = 40, Steps = 6, GuidanceScale = 3f, Seed = 5 };
        using var dp = DiffusionPipeline.Load(dir, TwoThreads with { Parallelism = CpuParallelism.DataParallel, ChunkRows = 8 });
        using var io = DiffusionPipeline.Load(dir, TwoThreads with { Parallelism = CpuParallelism.IntraOp });
        Assert.Equal(io.Generate(r).Images, dp.Generate(r).Images);
    }

    [Fact]
    public void ManyThreadsSharingOneDataParallelPipeline_GetTheImagesOfSequentialCalls()
    {
        // one pipeline (its worker sessions shared), 8 callers at once with different seeds and batch sizes
        string dir = TinyModels.Folder(h: 8, w: 8);
        using var dp = DiffusionPipeline.Load(dir, TwoThreads with { Parallelism = CpuParallelism.DataParallel, ChunkRows = 8 });
        var requests = Enumerable.Range(0, 8).Select(k => new GenerationRequest
        {
            Labels = Enumerable.Range(0, 16 + 4 * k).Select(i => (i + k) % 10).ToArray(), BatchSize = 16 + 4 * k, Steps = 5, GuidanceScale = 1f + k % 3, Seed = (ulong)(100 + k),
        }).ToArray();
        var sequential = requests.Select(r => dp.Generate(r).Images).ToArray();
        var concurrent = new float[requests.Length][];
        Parallel.For(0, requests.Length, new ParallelOptions { MaxDegreeOfParallelism = requests.Length }, k => concurrent[k] = dp.Generate(requests[k]).Images);
        for (int k = 0; k < requests.Length; k++) Assert.Equal(sequential[k], concurrent[k]);
    }

    [Fact]
    public void Cancellation_StopsAGeneration()
    {
        string dir = TinyModels.Folder(h: 8, w: 8);
        using var p = DiffusionPipeline.Load(dir, TwoThreads with { Parallelism = CpuParallelism.DataParallel });
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => p.Generate(new GenerationRequest { Labels = [1, 2, 3, 4], Steps = 50 }, cts.Token));
    }

    [Fact]
    public void Dispose_StopsTheWorkers_AndTheModelRefusesNewRuns()
    {
        string dir = TinyModels.Folder(h: 8, w: 8);
        var model = DiffusionModel.Load(Path.Combine(dir, "unet.onnx"), TwoThreads with { Parallelism = CpuParallelism.DataParallel });
        var batch = model.CreateBatch(8);
        batch.Run();
        model.Dispose();
        Assert.Throws<ObjectDisposedException>(batch.Run);
        batch.Dispose();
        batch.Dispose(); // twice is harmless
    }

    [Fact]
    public void Options_RejectDataParallelOnCuda_AndNegativeChunks()
    {
        Assert.Throws<InvalidInputException>(() => new RuntimeOptions { Device = ExecutionDevice.Cuda, Parallelism = CpuParallelism.DataParallel }.Validate());
        Assert.Throws<InvalidInputException>(() => new RuntimeOptions { ChunkRows = -1 }.Validate());
        Assert.Equal(CpuParallelism.DataParallel, RuntimeOptions.ParseParallelism("data-parallel"));
        Assert.Equal(CpuParallelism.IntraOp, RuntimeOptions.ParseParallelism("intra-op"));
        Assert.Equal(CpuParallelism.Auto, RuntimeOptions.ParseParallelism("Auto"));
        Assert.Contains("expected auto, intra-op or data-parallel", Assert.Throws<InvalidInputException>(() => RuntimeOptions.ParseParallelism("gpu")).Message);
    }

}

/// <summary>Tests that count every thread's allocations: run alone, after the parallel tests of this assembly.</summary>
[CollectionDefinition(nameof(AllocationCountingCollection), DisableParallelization = true)]
public sealed class AllocationCountingCollection;

/// <summary>The step loop's promise for data-parallel batches.</summary>
[Collection(nameof(AllocationCountingCollection))]
public class DataParallelAllocationTests
{
    private static readonly RuntimeOptions TwoThreads = new() { IntraOpThreads = 2 };

    // After the first calls, Run allocates nothing on any thread: the workers are the batch's own threads, so this
    // counts every thread's allocations (GC.GetTotalAllocatedBytes), alone in the process's test run.
    [Fact]
    public void DataParallelRun_DoesNotAllocate()
    {
        string dir = TinyModels.Folder(h: 8, w: 8);
        using var model = DiffusionModel.Load(Path.Combine(dir, "unet-guided.onnx"), TwoThreads with { Parallelism = CpuParallelism.DataParallel, ChunkRows = 4 });
        using var batch = model.CreateBatch(9);
        for (int i = 0; i < 20; i++) batch.Run();
        long best = long.MaxValue;
        for (int attempt = 0; attempt < 5; attempt++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            for (int i = 0; i < 100; i++) batch.Run();
            best = Math.Min(best, GC.GetTotalAllocatedBytes(precise: true) - before);
        }
        // The runner's own threads may allocate a little meanwhile (seen: a few hundred bytes under CPU load). An
        // allocation per call would be at least one object (24 B) per call: the least of five windows of 100 calls
        // must stay under half of that.
        Assert.True(best < 100 * 12, $"{best} bytes over 100 data-parallel calls");
    }
}
