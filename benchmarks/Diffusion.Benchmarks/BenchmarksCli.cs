using System.CommandLine;
using Diffusion.Export;
using Diffusion.Runtime;
using Diffusion.Tools.Cli;

namespace Diffusion.Benchmarks;

/// <summary>The benchmark suite's command line (the Exe beside this library only calls <see cref="Run"/>).</summary>
public static class BenchmarksCli
{
    /// <summary>Parses <paramref name="args"/> and runs the command; returns the process exit code.</summary>
    public static int Run(string[] args)
    {
        // bench [--quick | --smoke] [--model DIR] [--preset medium] [--filter Step,Peak] [--out DIR] [--readme FILE] [--summarize-only]
        var quick = new Option<bool>("--quick") { Description = "Short suite (under 5 minutes): fewer parameters, few iterations." };
        var smoke = new Option<bool>("--smoke") { Description = "Smoke run (under 1 minute): one iteration of tiny cases; proves the suite runs." };
        var model = new Option<string?>("--model")
        {
            Description = $"Model folder ({ModelFolderLayout.Unet}, {ModelFolderLayout.Guided}, {ModelFolderLayout.CardJson}). Default: {BenchModel.ReleaseDir} when it exists, "
                + "else a freshly initialised U-Net of --preset exported to out/bench-models/ (weights do not change speed).",
        };
        var release = BenchModel.ReleaseConfig();
        var preset = new Option<string>("--preset")
        {
            Description = $"U-Net preset of the freshly initialised model (small, medium, large) when there is no release model (default: {BenchModel.ReleaseConfigFile}'s).",
            DefaultValueFactory = _ => release.Preset,
        };
        var timesteps = new Option<int>("--timesteps")
        {
            Description = $"T of the freshly initialised model (default: {BenchModel.ReleaseConfigFile}'s).",
            DefaultValueFactory = _ => release.Timesteps,
        };
        var threads = new Option<int>("--threads") { Description = "'All cores' for ONNX Runtime and TorchSharp (0 = physical cores).", DefaultValueFactory = _ => 0 };
        var filter = new Option<string[]>("--filter")
        {
            Description = "Run only these benchmark classes (names or prefixes, e.g. Step Peak Generate Ddpm Overhead Allocation Thread).",
            AllowMultipleArgumentsPerToken = true,
        };
        var outDir = new Option<string?>("--out") { Description = "Results folder (default benchmarks/results/<suite>)." };
        var readme = new Option<string?>("--readme")
        {
            Description = "Markdown file whose results section is rewritten from the results (default: benchmarks/README.md for the full suite, none otherwise).",
        };
        var summarizeOnly = new Option<bool>("--summarize-only") { Description = "Run nothing; rewrite the summary (and README section) from the results folder." };

        var root = new RootCommand("Benchmarks: ONNX Runtime vs TorchSharp eager, end-to-end generation, overhead, threads, GEMM peak.")
        {
            quick, smoke, model, preset, timesteps, threads, filter, outDir, readme, summarizeOnly,
        };
        root.SetAction(r =>
        {
            try
            {
                var suite = r.GetValue(smoke) ? Suite.Smoke : r.GetValue(quick) ? Suite.Quick : Suite.Full;
                var options = new SuiteOptions
                {
                    Suite = suite,
                    Model = r.GetValue(model),
                    Preset = r.GetValue(preset)!,
                    Timesteps = r.GetValue(timesteps),
                    Threads = r.GetValue(threads),
                    Filter = r.GetValue(filter) ?? [],
                    ResultsDir = r.GetValue(outDir) ?? Path.Combine("benchmarks", "results", suite.ToString().ToLowerInvariant()),
                    Readme = r.GetValue(readme) ?? (suite == Suite.Full ? Path.Combine("benchmarks", "README.md") : null),
                    // the Makefile passes the command it ran; run by hand, the arguments are recorded as given
                    CommandLine = Environment.GetEnvironmentVariable("BENCH_COMMAND") is { Length: > 0 } c ? c
                        : "dotnet Diffusion.Benchmarks.dll " + string.Join(' ', args),
                };
                if (r.GetValue(summarizeOnly)) SuiteRunner.Summarize(options);
                else SuiteRunner.Run(options);
                return 0;
            }
            catch (InvalidInputException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return InvalidInputException.ExitCode;
            }
        });

        // profile: where ONNX Runtime spends a step (diagnostic for graph and session changes)
        var graph = new Option<string>("--graph") { Description = "unet, guided, unet-int8 or guided-int8.", DefaultValueFactory = _ => "unet" };
        var batch = new Option<int>("--batch") { Description = "Batch size.", DefaultValueFactory = _ => 64 };
        var runs = new Option<int>("--runs") { Description = "Profiled runs.", DefaultValueFactory = _ => 10 };
        var level = new Option<string>("--level") { Description = "Graph optimization level: all, extended, basic, none.", DefaultValueFactory = _ => "all" };
        var profile = new Command("profile", "Profile one ONNX Runtime step by operator type (diagnostic).") { model, preset, timesteps, threads, graph, batch, runs, level };
        profile.SetAction(r =>
        {
            try
            {
                var o = new SuiteOptions { Model = r.GetValue(model), Preset = r.GetValue(preset)!, Timesteps = r.GetValue(timesteps) };
                string dir = SuiteRunner.ResolveModel(o);
                string file = r.GetValue(graph) switch
                {
                    "unet" => Path.Combine(dir, ModelFolderLayout.Unet),
                    "guided" => Path.Combine(dir, ModelFolderLayout.Guided),
                    "unet-int8" => Path.Combine(dir, ModelFolderLayout.UnetInt8),
                    "guided-int8" => Path.Combine(dir, ModelFolderLayout.GuidedInt8),
                    var v => throw new InvalidInputException($"--graph {v}: expected unet, guided, unet-int8 or guided-int8."),
                };
                if (!File.Exists(file)) throw new InvalidInputException($"--graph {r.GetValue(graph)}: {file} not found (int8 graphs come from make export / make int8).");
                int n = r.GetValue(threads) > 0 ? r.GetValue(threads) : Diffusion.Runtime.Onnx.Hardware.PhysicalCores;
                var lvl = r.GetValue(level) switch
                {
                    "all" => Microsoft.ML.OnnxRuntime.GraphOptimizationLevel.ORT_ENABLE_ALL,
                    "extended" => Microsoft.ML.OnnxRuntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                    "basic" => Microsoft.ML.OnnxRuntime.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                    "none" => Microsoft.ML.OnnxRuntime.GraphOptimizationLevel.ORT_DISABLE_ALL,
                    var v => throw new InvalidInputException($"--level {v}: expected all, extended, basic or none."),
                };
                var (ops, optimized, wall) = OrtProfile.Run(file, r.GetValue(batch), r.GetValue(runs), n, lvl);
                Console.WriteLine($"{file}, batch {r.GetValue(batch)}, {n} threads, level {r.GetValue(level)}, load {SuiteRunner.LoadAverage()}");
                Console.WriteLine(OrtProfile.Format(ops, r.GetValue(runs), optimized, wall));
                return 0;
            }
            catch (InvalidInputException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return InvalidInputException.ExitCode;
            }
        });
        root.Subcommands.Add(profile);

        return CliHost.Run(root, args);
    }
}
