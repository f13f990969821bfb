using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Exporters.Json;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Diffusion.Runtime;
using Diffusion.Runtime.Generation;
using Diffusion.Runtime.Onnx;
using Microsoft.ML.OnnxRuntime;
using Diffusion.Tools;

namespace Diffusion.Benchmarks;

/// <summary>What the command line asked for.</summary>
public sealed record SuiteOptions
{
    /// <summary>Which suite.</summary>
    public Suite Suite { get; init; }
    /// <summary>--model, or null for the release model / a fresh one.</summary>
    public string? Model { get; init; }
    /// <summary>Preset of a fresh model.</summary>
    public string Preset { get; init; } = "medium";
    /// <summary>T of a fresh model.</summary>
    public int Timesteps { get; init; } = 1000;
    /// <summary>All-cores thread count (0 = physical cores).</summary>
    public int Threads { get; init; }
    /// <summary>Benchmark class names or prefixes to run (empty = all).</summary>
    public IReadOnlyList<string> Filter { get; init; } = [];
    /// <summary>Results folder.</summary>
    public string ResultsDir { get; init; } = "benchmarks/results/full";
    /// <summary>README whose results section is rewritten, or null.</summary>
    public string? Readme { get; init; }
    /// <summary>The command that produced the results (stated in the README).</summary>
    public string CommandLine { get; init; } = "";
}

/// <summary>
/// Runs a suite: resolves the model, checks that both engines compute the same function, runs each benchmark
/// class in this process with the suite's job, measures allocation per step, records the run (machine, load,
/// versions, FLOPs) in run-info.json and writes the summary.
/// </summary>
public static class SuiteRunner
{
    /// <summary>Name of the run description written beside BenchmarkDotNet's reports.</summary>
    public const string RunInfoFile = "run-info.json";

    /// <summary>Benchmark classes in the order they run.</summary>
    public static readonly Type[] Classes =
    [
        typeof(PeakBenchmarks), typeof(StepBenchmarks), typeof(ParallelismBenchmarks), typeof(ThreadBenchmarks), typeof(SpinningBenchmarks), typeof(OverheadBenchmarks),
        typeof(AllocationBenchmarks), typeof(GenerateBenchmarks), typeof(GenerateTuningBenchmarks), typeof(DdpmGenerateBenchmarks),
    ];

    /// <summary>Runs the suite described by <paramref name="o"/>.</summary>
    /// <exception cref="InvalidInputException">Bad model folder or filter.</exception>
    public static void Run(SuiteOptions o)
    {
        var clock = Stopwatch.StartNew();
        string loadBefore = LoadAverage();
        string modelDir = ResolveModel(o);
        var meta = BenchModel.Metadata(modelDir);
        int threads = o.Threads > 0 ? o.Threads : Hardware.PhysicalCores;
        var settings = BenchSettings.For(o.Suite, modelDir, meta.Timesteps, threads, o.ResultsDir);
        var classes = Select(o.Filter, settings);
        bool int8 = File.Exists(Path.Combine(modelDir, ModelFolderLayout.UnetInt8)) && File.Exists(Path.Combine(modelDir, ModelFolderLayout.GuidedInt8));
        settings = settings with { HasInt8 = int8, StudentSteps = ModelFolderLayout.StudentSteps(modelDir, int8: false).ToArray() };
        var precision = DiffusionPipeline.SelectFiles(modelDir, OrtStep.Options(threads)).Precision;
        Console.WriteLine(int8 ? $"bench: the step benchmark also times {modelDir}'s int8 graphs; pipelines run the {precision} graphs (the runtime's default)"
            : $"bench: {modelDir} has no int8 graphs (export writes them); everything runs the float32 graphs");
        BenchSettings.Current = settings;

        string reports = Path.Combine(o.ResultsDir, "results");
        if (o.Filter.Count == 0 && Directory.Exists(reports)) Directory.Delete(reports, recursive: true);
        Directory.CreateDirectory(o.ResultsDir);

        Console.WriteLine($"bench: suite {o.Suite}, model {modelDir} ({meta.Architecture}, T = {meta.Timesteps}), {threads} threads, load {loadBefore}");
        var parity = Parity(modelDir, threads);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"bench: TorchSharp vs ONNX Runtime on the same weights, max |diff| unet {parity.Unet:E2}, guided {parity.Guided:E2}"));

        foreach (var type in classes)
        {
            Console.WriteLine($"bench: {type.Name}");
            var config = Config(o.Suite, type, o.ResultsDir);
            if (!settings.HasInt8) config = ((ManualConfig)config).AddFilter(new BenchmarkDotNet.Filters.NameFilter(n => !n.EndsWith("Int8", StringComparison.Ordinal)));
            BenchmarkRunner.Run(type, config);
        }

        AllocationReport? alloc = null;
        if (o.Filter.Count == 0 || o.Filter.Any(f => "AllocationProbe".StartsWith(f, StringComparison.OrdinalIgnoreCase)))
        {
            int[] steps = o.Suite == Suite.Smoke ? [2, 4] : o.Suite == Suite.Quick ? [5, 10, 20] : [5, 10, 20, 40, 80];
            alloc = AllocationProbe.Measure(modelDir, threads, steps.Where(s => s <= meta.Timesteps).ToArray(), o.Suite == Suite.Smoke ? 20 : 200);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"bench: allocation {alloc.BytesPerStep:F1} B/step, {alloc.BytesPerRun:F1} B per bound Run"));
        }

        var (unetFlops, guidedFlops) = BenchModel.CountFlops(modelDir);
        var info = RunInfo.Create(o, settings, meta, modelDir, unetFlops.Total, guidedFlops.Total, parity, alloc, loadBefore, LoadAverage(), clock.Elapsed) with { PipelinePrecision = Diffusion.Runtime.ModelMetadata.PrecisionName(precision), PresetFlopsPerImage = o.Suite == Suite.Smoke ? new Dictionary<string, long>() : BenchModel.PresetFlops() };
        var merged = RunInfo.MergeWithExisting(info, Path.Combine(o.ResultsDir, RunInfoFile), o.Filter.Count > 0);
        AtomicFile.WriteAllBytes(Path.Combine(o.ResultsDir, RunInfoFile), JsonSerializer.SerializeToUtf8Bytes(merged, RunInfo.Json));
        Summarize(o);
        Console.WriteLine($"bench: done in {clock.Elapsed.TotalMinutes:F1} min; results in {o.ResultsDir}");
    }

    /// <summary>Rewrites the summary (and the README section) from the results folder.</summary>
    public static void Summarize(SuiteOptions o)
    {
        var results = BenchResults.Read(o.ResultsDir);
        // the raw reports' links are relative to the README the section goes into
        string md = SummaryWriter.Write(results, o.Readme is null ? null : Path.GetRelativePath(Path.GetDirectoryName(Path.GetFullPath(o.Readme))!, Path.GetFullPath(o.ResultsDir)));
        AtomicFile.WriteAllBytes(Path.Combine(o.ResultsDir, "summary.md"), System.Text.Encoding.UTF8.GetBytes(md));
        Console.WriteLine(md);
        if (o.Readme is not null)
        {
            SummaryWriter.ReplaceSection(o.Readme, md);
            Console.WriteLine($"bench: wrote the results section of {o.Readme}");
        }
    }

    /// <summary>The model folder: --model, else the release model, else a fresh export of --preset.</summary>
    /// <exception cref="InvalidInputException">--model lacks a file.</exception>
    public static string ResolveModel(SuiteOptions o)
    {
        if (o.Model is not null)
        {
            foreach (var f in new[] { Path.Combine(o.Model, ModelFolderLayout.Unet), Path.Combine(o.Model, ModelFolderLayout.Guided), Path.Combine(o.Model, ModelFolderLayout.CardJson) })
                if (!File.Exists(f)) throw new InvalidInputException($"--model {o.Model}: {f} not found; expected a folder written by `export` ({ModelFolderLayout.Unet}, {ModelFolderLayout.Guided}, {ModelFolderLayout.CardJson}).");
            return o.Model;
        }
        if (File.Exists(Path.Combine(BenchModel.ReleaseDir, ModelFolderLayout.Unet)) && File.Exists(Path.Combine(BenchModel.ReleaseDir, ModelFolderLayout.Guided))) return BenchModel.ReleaseDir;
        string dir = Path.Combine("out", "bench-models", string.Create(CultureInfo.InvariantCulture, $"{o.Preset}-T{o.Timesteps}"));
        var r = BenchModel.ExportUntrained(o.Preset, o.Timesteps, dir);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"bench: no release model in {BenchModel.ReleaseDir}; exported an untrained '{o.Preset}' U-Net ({r.ParameterCount:N0} parameters) to {dir}"));
        return dir;
    }

    private static Type[] Select(IReadOnlyList<string> filter, BenchSettings s)
    {
        // the smoke run proves that every kind of benchmark runs; thread scaling and graph variants repeat the step benchmark
        var all = Classes.Where(t => (t != typeof(DdpmGenerateBenchmarks) || s.DdpmSteps > 0)
            && (s.Suite != Suite.Quick || t != typeof(SpinningBenchmarks))
            && (s.Suite != Suite.Smoke || (t != typeof(ThreadBenchmarks) && t != typeof(SpinningBenchmarks) && t != typeof(ParallelismBenchmarks) && t != typeof(GenerateTuningBenchmarks)))).ToArray();
        if (filter.Count == 0) return all;
        var chosen = all.Where(t => filter.Any(f => t.Name.StartsWith(f, StringComparison.OrdinalIgnoreCase))).ToArray();
        var unknown = filter.Where(f => !Classes.Any(t => t.Name.StartsWith(f, StringComparison.OrdinalIgnoreCase))
            && !"AllocationProbe".StartsWith(f, StringComparison.OrdinalIgnoreCase)).ToList();
        if (unknown.Count > 0)
            throw new InvalidInputException($"--filter {string.Join(",", unknown)}: no such benchmark; expected one of {string.Join(", ", Classes.Select(t => t.Name.Replace("Benchmarks", "")))}, AllocationProbe.");
        return chosen;
    }

    /// <summary>
    /// BenchmarkDotNet configuration of one class: in-process toolchain (see the csproj), MemoryDiagnoser, GitHub
    /// Markdown and full JSON exporters, and the suite's job. Whole-set generation runs with the Monitoring
    /// strategy (one invocation per iteration); DDPM at T runs once.
    /// </summary>
    public static IConfig Config(Suite suite, Type type, string resultsDir)
    {
        bool generate = type == typeof(GenerateBenchmarks) || type == typeof(GenerateTuningBenchmarks), ddpm = type == typeof(DdpmGenerateBenchmarks);
        var job = (suite, generate || ddpm) switch
        {
            (Suite.Smoke, _) => Job.Dry,
            (_, true) => Job.Default.WithStrategy(RunStrategy.Monitoring).WithLaunchCount(1)
                .WithWarmupCount(ddpm || suite == Suite.Quick ? 0 : 1).WithIterationCount(ddpm || suite == Suite.Quick ? 1 : 3),
            (Suite.Quick, false) => Job.Default.WithLaunchCount(1).WithWarmupCount(2).WithIterationCount(5).WithIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(250)),
            _ => Job.Default.WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(15),
        };
        // The in-process toolchain stops a case after 5 minutes by default; DDPM at T = 1000 on the full suite's 100
        // digits takes about 3.5 minutes of measurement plus setup, which crossed it once here. An hour is the bound.
        job = job.WithToolchain(new InProcessEmitToolchain(TimeSpan.FromHours(1), logOutput: true)).WithId(suite.ToString());
        return ManualConfig.CreateEmpty()
            .AddJob(job)
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddColumnProvider(BenchmarkDotNet.Columns.DefaultColumnProviders.Instance)
            .AddColumn(BenchmarkDotNet.Columns.StatisticColumn.Median)
            .AddExporter(MarkdownExporter.GitHub, JsonExporter.Full)
            .AddLogger(ConsoleLogger.Default)
            .AddAnalyser(DefaultConfig.Instance.GetAnalysers().ToArray())
            .AddValidator(DefaultConfig.Instance.GetValidators().ToArray())
            .WithArtifactsPath(resultsDir)
            .WithOptions(ConfigOptions.DisableLogFile);
    }

    /// <summary>Max |TorchSharp - ONNX Runtime| over a batch of 3 for both graphs: proof that both engines run the same weights.</summary>
    public static (double Unet, double Guided) Parity(string modelDir, int threads)
    {
        var inputs = new StepInputs(BenchModel.Metadata(modelDir), 3);
        double Diff(bool guided)
        {
            using var ort = new OrtStep(guided ? Path.Combine(modelDir, ModelFolderLayout.Guided) : Path.Combine(modelDir, ModelFolderLayout.Unet), inputs, OrtStep.Options(threads));
            using var torch = new TorchStep(modelDir, inputs, threads, guided);
            ort.Run(); torch.Run();
            double max = 0;
            for (int i = 0; i < inputs.X.Length; i++) max = Math.Max(max, Math.Abs(ort.Output[i] - torch.Output[i]));
            return max;
        }
        return (Diff(false), Diff(true));
    }

    /// <summary>/proc/loadavg's 1, 5 and 15 minute averages (<see cref="MachineInfo.LoadAverage"/>).</summary>
    public static string LoadAverage() => MachineInfo.LoadAverage();

    /// <summary>ONNX Runtime's native version.</summary>
    public static string OrtVersion() => OrtEnv.Instance().GetVersionString();
}
