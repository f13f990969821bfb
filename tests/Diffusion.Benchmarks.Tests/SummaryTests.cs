using System.Text.Json;
using System.Text.Json.Nodes;
using Diffusion.Benchmarks;
using Diffusion.Runtime;

namespace Diffusion.Benchmarks.Tests;

/// <summary>The README section is computed from the reports: ratios, GFLOP/s, fractions of peak and target verdicts.</summary>
public sealed class SummaryTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"bench-summary-{Guid.NewGuid():N}");

    public SummaryTests() => Directory.CreateDirectory(Path.Combine(_dir, "results"));

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static JsonObject Case(string type, string method, string parameters, double medianNs, long allocated = 0) => new()
    {
        ["Type"] = type, ["Method"] = method, ["Parameters"] = parameters,
        ["Statistics"] = new JsonObject { ["Median"] = medianNs, ["StandardDeviation"] = 1.0, ["N"] = 15 },
        ["Memory"] = new JsonObject { ["BytesAllocatedPerOperation"] = allocated },
    };

    private void Report(string type, params JsonObject[] cases)
    {
        var doc = new JsonObject
        {
            ["HostEnvironmentInfo"] = new JsonObject
            {
                ["ProcessorName"] = "Test CPU", ["PhysicalCoreCount"] = 2, ["LogicalCoreCount"] = 2, ["OsVersion"] = "Linux",
                ["RuntimeVersion"] = ".NET 10", ["BenchmarkDotNetVersion"] = "0.15.8",
            },
            ["Benchmarks"] = new JsonArray(cases),
        };
        File.WriteAllText(Path.Combine(_dir, "results", $"Diffusion.Benchmarks.{type}-report-full.json"), doc.ToJsonString());
        File.WriteAllText(Path.Combine(_dir, "results", $"Diffusion.Benchmarks.{type}-report-github.md"), "| x |");
    }

    private void Info(AllocationReport? alloc = null)
    {
        var info = new RunInfo
        {
            Command = "make bench", Suite = "full", Threads = 2, Images = 1000, GenerateBatch = 250, GuidanceScale = 3, GemmSize = 1000,
            UnetFlopsPerImage = 500_000_000, GuidedFlopsPerImage = 1_000_000_000, Timesteps = 1000, Trained = true, Architecture = "medium",
            Allocation = alloc,
        };
        File.WriteAllBytes(Path.Combine(_dir, SuiteRunner.RunInfoFile), JsonSerializer.SerializeToUtf8Bytes(info, RunInfo.Json));
    }

    [Fact]
    public void The_student_target_is_its_time_for_the_set_with_the_teachers_times_of_the_same_run()
    {
        Info();
        Report("GenerateBenchmarks", Case("GenerateBenchmarks", "Generate", "Sampler=dpm++ 20", 25e9), Case("GenerateBenchmarks", "Generate", "Sampler=dpm++ 10", 12.8e9),
            Case("GenerateBenchmarks", "Generate", "Sampler=student 4", 2.5e9));
        string md = SummaryWriter.Write(BenchResults.Read(_dir));
        Assert.Contains("| 1,000 guided digits at 4 steps with the distilled student <= 3 s | 1,000 digits in 2.50 s; the teacher's DPM-Solver++ 20: 25.0 s (10.0x the student's time); the teacher's DPM-Solver++ 10: 12.8 s (5.1x the student's time) | **met** |", md);
        // its GFLOP/s count one U-Net pass per step: 0.5 GFLOP x 1,000 x 4 / 2.5 s
        Assert.Contains("| student | 4 | 1,000 | 15 | 2.5 | 2.5 | 400.0 | 2.50 | 0.625 | 800.0 |", md);

        Report("GenerateBenchmarks", Case("GenerateBenchmarks", "Generate", "Sampler=dpm++ 20", 25e9), Case("GenerateBenchmarks", "Generate", "Sampler=student 4", 3.5e9));
        md = SummaryWriter.Write(BenchResults.Read(_dir));
        Assert.Contains("1,000 digits in 3.50 s; the teacher's DPM-Solver++ 20: 25.0 s (7.1x the student's time) | **missed** |", md);
        Report("GenerateBenchmarks", Case("GenerateBenchmarks", "Generate", "Sampler=dpm++ 20", 25e9));
        md = SummaryWriter.Write(BenchResults.Read(_dir));
        Assert.Contains("| no student in the model folder (make distill, then export its checkpoint into the folder) | not measured |", md);
    }

    [Fact]
    public void RatiosAndTargetsAreComputedFromTheReports()
    {
        Info(new AllocationReport([new("ddim", 5, 1000), new("ddim", 10, 1020)], 4, 980, 200, 0));
        // GEMM 1000^3 * 2 = 2e9 FLOPs in 20 ms = 100 GFLOP/s at 2 threads (the peak); 1 thread slower
        Report("PeakBenchmarks", Case("PeakBenchmarks", "TorchMatMul", "Threads=2", 20e6), Case("PeakBenchmarks", "OrtMatMul", "Threads=2", 25e6),
            Case("PeakBenchmarks", "TorchMatMul", "Threads=1", 40e6));
        // batch 256: unet 256 * 0.5 GFLOP = 128 GFLOP in 3.2 s = 40 GFLOP/s = 40% of peak; torch 3x slower
        Report("StepBenchmarks",
            Case("StepBenchmarks", "TorchUnet", "Batch=64", 300e6), Case("StepBenchmarks", "OrtUnet", "Batch=64", 100e6),
            Case("StepBenchmarks", "TorchGuided", "Batch=64", 500e6), Case("StepBenchmarks", "OrtGuided", "Batch=64", 250e6),
            Case("StepBenchmarks", "TorchUnet", "Batch=256", 9.6e9), Case("StepBenchmarks", "OrtUnet", "Batch=256", 3.2e9));
        Report("GenerateBenchmarks", Case("GenerateBenchmarks", "Generate", "Sampler=dpm++ 20", 50e9));
        Report("GenerateTuningBenchmarks", Case("GenerateTuningBenchmarks", "Generate", "Batch=32", 45e9),
            Case("GenerateTuningBenchmarks", "GenerateConcurrent", "Batch=32", 40e9));

        string md = SummaryWriter.Write(BenchResults.Read(_dir));

        Assert.Contains("1,000 digits in 40.0 s (batch 32, one request per core", md); // the fastest way is the one judged
        Assert.Contains("| 32 | one request per core, concurrently, on a one-thread session | 15 | 40.0 | 25.0 | 500.0 | 1.12x |", md);
        Assert.Contains("unet batch 64: 3.00x", md);
        Assert.Contains("guided batch 64: 2.00x", md);
        Assert.Contains("unet batch 256: 3.00x", md);
        Assert.Contains("unet.onnx 40% of 100 GFLOP/s", md);
        Assert.Contains("| 256 | 37.500 | 12.500 | 3.00x |", md); // per-image ms and speed-up
        Assert.Contains("4.0 B per step", md);
        var targets = md.Split("### Targets")[1].Split("###")[0];
        Assert.Equal(4, targets.Split("**met**").Length - 1);
    }

    [Fact]
    public void ParallelismTable_ComparesEachModeWithIntraOp_AndDataParallelAllocationCounts()
    {
        Info(new AllocationReport([new("ddim", 5, 1000), new("ddim", 10, 1020)], 4, 980, 200, 0, 64, 40));
        Report("ParallelismBenchmarks",
            Case("ParallelismBenchmarks", "OrtUnet", "Mode=IntraOp&Batch=64", 64e6), Case("ParallelismBenchmarks", "OrtUnet", "Mode=DataParallel16&Batch=64", 48e6),
            Case("ParallelismBenchmarks", "OrtGuided", "Mode=IntraOp&Batch=64", 128e6), Case("ParallelismBenchmarks", "OrtGuided", "Mode=DataParallel8&Batch=64", 80e6),
            Case("ParallelismBenchmarks", "OrtGuidedInt8", "Mode=IntraOp&Batch=64", 120e6), Case("ParallelismBenchmarks", "OrtGuidedInt8", "Mode=DataParallel16&Batch=64", 60e6));

        string md = SummaryWriter.Write(BenchResults.Read(_dir));

        Assert.Contains("| unet.onnx | IntraOp | 64 | 64.00 | 1.000 | 1.00x |", md);
        Assert.Contains("| unet.onnx | DataParallel16 | 64 | 48.00 | 0.750 | 1.33x |", md);
        Assert.Contains("| unet-guided.onnx | DataParallel8 | 64 | 80.00 | 1.250 | 1.60x |", md);
        Assert.Contains("| unet-guided-int8.onnx | DataParallel16 | 64 | 60.00 | 0.938 | 2.00x |", md);
        Assert.Contains("40.0 B per data-parallel call (batch 64, all threads)", md);
        var targets = md.Split("### Targets")[1].Split("###")[0];
        Assert.Contains("| No managed allocation per step beyond a small constant (<= 16 B/step) |", targets);
        Assert.Contains("**missed**", targets.Split('\n').Single(l => l.Contains("managed allocation")));
    }

    // With int8 graphs in the folder the target is judged on them (the runtime's default on the CPU); the float32
    // comparison is a second row that says whether float32 alone meets it. Without them, on the float32 graphs.
    [Fact]
    public void SpeedTarget_IsJudgedOnTheDefaultInt8Graphs_WithTheFloat32RowBeside()
    {
        Info();
        Report("StepBenchmarks",
            Case("StepBenchmarks", "TorchUnet", "Batch=64", 300e6), Case("StepBenchmarks", "OrtUnet", "Batch=64", 200e6),
            Case("StepBenchmarks", "OrtUnetInt8", "Batch=64", 120e6),
            Case("StepBenchmarks", "TorchGuided", "Batch=64", 600e6), Case("StepBenchmarks", "OrtGuided", "Batch=64", 400e6),
            Case("StepBenchmarks", "OrtGuidedInt8", "Batch=64", 250e6));

        var (md, targets, target) = SpeedTarget();
        Assert.Contains("| guided batch 64: 2.40x; unet batch 64: 2.50x | **met** |", target);
        Assert.Contains("int8", target);
        Assert.Contains("| The same with the float32 graphs (`--precision float32`: same precision as TorchSharp) | guided batch 64: 1.50x; unet batch 64: 1.50x | missed in float32 |", targets);
        Assert.Contains("| 64 | 1.875 | 2.50x | 1.67x | 3.906 | 2.40x | 1.60x |", md);
    }

    // The summary, its Targets section and the speed-target row of the results written so far.
    private (string Md, string Targets, string Target) SpeedTarget()
    {
        string md = SummaryWriter.Write(BenchResults.Read(_dir));
        string targets = md.Split("### Targets")[1].Split("###")[0];
        return (md, targets, targets.Split('\n').Single(l => l.Contains(">= 2x faster")));
    }

    [Fact]
    public void SpeedTarget_WithoutInt8Graphs_IsJudgedOnFloat32()
    {
        Info();
        Report("StepBenchmarks",
            Case("StepBenchmarks", "TorchUnet", "Batch=64", 300e6), Case("StepBenchmarks", "OrtUnet", "Batch=64", 100e6),
            Case("StepBenchmarks", "TorchGuided", "Batch=64", 600e6), Case("StepBenchmarks", "OrtGuided", "Batch=64", 400e6));

        var (_, targets, target) = SpeedTarget();
        Assert.Contains("(float32)", target);
        Assert.Contains("| guided batch 64: 1.50x; unet batch 64: 3.00x | **missed** |", target);
        Assert.DoesNotContain("The same with the float32 graphs", targets);
    }

    [Fact]
    public void PartialRun_MergesWithTheEarlierRunInfo_AndSaysBoth()
    {
        string path = Path.Combine(_dir, "run-info.json");
        var earlier = new RunInfo
        {
            Command = "make bench", Minutes = 30, FinishedUtc = new DateTime(2026, 1, 2, 3, 4, 0, DateTimeKind.Utc),
            Allocation = new AllocationReport([new("ddim", 5, 1000)], 4, 980, 200, 0),
        };
        File.WriteAllBytes(path, System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(earlier, RunInfo.Json));
        var partial = new RunInfo { Command = "make bench ARGS='--filter Step'", Minutes = 6 };

        var merged = RunInfo.MergeWithExisting(partial, path, partial: true);

        Assert.Equal("make bench` (finished 2026-01-02 03:04 UTC), then `make bench ARGS='--filter Step'", merged.Command);
        Assert.Equal(36, merged.Minutes);
        Assert.Equal(4, merged.Allocation!.BytesPerStep);
        Assert.Same(partial, RunInfo.MergeWithExisting(partial, path, partial: false)); // a full run stands alone
    }

    [Fact]
    public void MissedTargetsSayMissed()
    {
        Info(new AllocationReport([new("ddim", 5, 1000), new("ddim", 10, 2000)], 200, 0, 200, 0));
        Report("StepBenchmarks", Case("StepBenchmarks", "TorchUnet", "Batch=64", 150e6), Case("StepBenchmarks", "OrtUnet", "Batch=64", 100e6));
        Report("GenerateBenchmarks", Case("GenerateBenchmarks", "Generate", "Sampler=dpm++ 20", 61e9));

        string md = SummaryWriter.Write(BenchResults.Read(_dir));

        Assert.Contains("unet batch 64: 1.50x", md);
        var targets = md.Split("### Targets")[1].Split("###")[0];
        Assert.Equal(3, targets.Split("**missed**").Length - 1); // speed, allocation, time
        Assert.Contains("not measured", targets);                 // no peak benchmark in this run
    }

    [Fact]
    public void ReplaceSectionKeepsTheRestOfTheFile()
    {
        string readme = Path.Combine(_dir, "README.md");
        File.WriteAllText(readme, $"# Title\n\nintro\n\n{SummaryWriter.Begin}\nold\n{SummaryWriter.End}\n\ntail\n");
        SummaryWriter.ReplaceSection(readme, "new table");
        string text = File.ReadAllText(readme);
        Assert.Contains("intro", text);
        Assert.Contains("tail", text);
        Assert.Contains("new table", text);
        Assert.DoesNotContain("old", text);

        File.WriteAllText(readme, $"{SummaryWriter.End}\n{SummaryWriter.Begin}\n");
        Assert.Throws<InvalidInputException>(() => SummaryWriter.ReplaceSection(readme, "x"));
    }

    [Fact]
    public void MissingRunInfoIsAClearError()
    {
        var e = Assert.Throws<InvalidInputException>(() => BenchResults.Read(Path.Combine(_dir, "nowhere")));
        Assert.Contains("run-info.json", e.Message);
    }
}
