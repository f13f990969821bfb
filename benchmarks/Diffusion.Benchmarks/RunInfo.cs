using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using Diffusion.Runtime;
using Diffusion.Runtime.Onnx;
using Diffusion.Tools;

namespace Diffusion.Benchmarks;

/// <summary>
/// What BenchmarkDotNet's reports do not hold: the command, the model and its FLOPs per image, the machine's load
/// before and after, library versions, the engines' agreement and the allocation probe. Written as run-info.json.
/// </summary>
public sealed record RunInfo
{
    /// <summary>snake_case JSON, indented.</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>The command that produced the results.</summary>
    public string Command { get; init; } = "";
    /// <summary>full, quick or smoke.</summary>
    public string Suite { get; init; } = "";
    /// <summary>UTC time the run finished.</summary>
    public DateTime FinishedUtc { get; init; }
    /// <summary>Wall time of the whole run, minutes.</summary>
    public double Minutes { get; init; }
    /// <summary>Git commit of the code (with "+dirty" when the tree had changes).</summary>
    public string Commit { get; init; } = "";
    /// <summary>Model folder.</summary>
    public string ModelDir { get; init; } = "";
    /// <summary>Metadata architecture (preset).</summary>
    public string Architecture { get; init; } = "";
    /// <summary>True when the weights are a trained model's (the release model), false for a fresh initialisation.</summary>
    public bool Trained { get; init; }
    /// <summary>T.</summary>
    public int Timesteps { get; init; }
    /// <summary>FLOPs per image of unet.onnx.</summary>
    public long UnetFlopsPerImage { get; init; }
    /// <summary>FLOPs per image of unet-guided.onnx (two U-Net passes).</summary>
    public long GuidedFlopsPerImage { get; init; }
    /// <summary>FLOPs per image of unet.onnx for each preset (small, medium, large).</summary>
    public IReadOnlyDictionary<string, long> PresetFlopsPerImage { get; init; } = new Dictionary<string, long>();
    /// <summary>"All cores" thread count.</summary>
    public int Threads { get; init; }
    /// <summary>Images in the end-to-end benchmark.</summary>
    public int Images { get; init; }
    /// <summary>Images of the DDPM-at-T case (its time is scaled to <see cref="Images"/> in the summary).</summary>
    public int DdpmImages { get; init; }
    /// <summary>Images per model call in the end-to-end benchmark.</summary>
    public int GenerateBatch { get; init; }
    /// <summary>Guidance scale in the end-to-end benchmark.</summary>
    public float GuidanceScale { get; init; }
    /// <summary>Side of the GEMM peak matrices.</summary>
    public int GemmSize { get; init; }
    /// <summary>/proc/loadavg (1, 5, 15 min) before the run.</summary>
    public string LoadBefore { get; init; } = "";
    /// <summary>/proc/loadavg after the run.</summary>
    public string LoadAfter { get; init; } = "";
    /// <summary>CPU model from /proc/cpuinfo.</summary>
    public string Cpu { get; init; } = "";
    /// <summary>Physical cores seen by the runtime.</summary>
    public int PhysicalCores { get; init; }
    /// <summary>Logical processors.</summary>
    public int LogicalCores { get; init; }
    /// <summary>Total memory, GiB.</summary>
    public double MemoryGiB { get; init; }
    /// <summary>OS description.</summary>
    public string Os { get; init; } = "";
    /// <summary>.NET runtime.</summary>
    public string Dotnet { get; init; } = "";
    /// <summary>ONNX Runtime native version.</summary>
    public string OnnxRuntime { get; init; } = "";
    /// <summary>TorchSharp assembly version.</summary>
    public string TorchSharp { get; init; } = "";
    /// <summary>Max |TorchSharp - ONNX Runtime| of unet on a batch of 3.</summary>
    public double ParityUnet { get; init; }
    /// <summary>Same for the guided step.</summary>
    public double ParityGuided { get; init; }
    /// <summary>Graphs the pipelines (generation, allocation) ran: "int8" or "float32", the runtime's default for the folder on the CPU.</summary>
    public string PipelinePrecision { get; init; } = "float32";
    /// <summary>The explicit allocation measurement, or null when it did not run.</summary>
    public AllocationReport? Allocation { get; init; }

    /// <summary>Collects the facts of a finished run.</summary>
    public static RunInfo Create(SuiteOptions o, BenchSettings s, ModelMetadata meta, string modelDir, long unetFlops, long guidedFlops,
        (double Unet, double Guided) parity, AllocationReport? alloc, string loadBefore, string loadAfter, TimeSpan elapsed) => new()
    {
        Command = o.CommandLine,
        Suite = o.Suite.ToString().ToLowerInvariant(),
        FinishedUtc = DateTime.UtcNow,
        Minutes = Math.Round(elapsed.TotalMinutes, 2),
        Commit = Git("rev-parse --short HEAD") + (Git("status --porcelain --untracked-files=no") is { Length: > 0 } and not "unknown" ? "+dirty" : ""),
        ModelDir = modelDir,
        Architecture = meta.Architecture,
        Trained = meta.ConfigSha256 != "untrained",
        Timesteps = meta.Timesteps,
        UnetFlopsPerImage = unetFlops,
        GuidedFlopsPerImage = guidedFlops,
        Threads = s.AllThreads,
        Images = s.Images,
        DdpmImages = s.DdpmImages,
        GenerateBatch = s.GenerateBatch,
        GuidanceScale = s.GuidanceScale,
        GemmSize = s.GemmSize,
        LoadBefore = loadBefore,
        LoadAfter = loadAfter,
        Cpu = MachineInfo.CpuModel(),
        PhysicalCores = Hardware.PhysicalCores,
        LogicalCores = Environment.ProcessorCount,
        MemoryGiB = Math.Round(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024.0 * 1024 * 1024), 1),
        Os = RuntimeInformation.OSDescription,
        Dotnet = RuntimeInformation.FrameworkDescription,
        OnnxRuntime = SuiteRunner.OrtVersion(),
        TorchSharp = typeof(TorchSharp.torch).Assembly.GetName().Version?.ToString() ?? "",
        ParityUnet = parity.Unet,
        ParityGuided = parity.Guided,
        Allocation = alloc,
    };

    /// <summary>For a filtered run (a subset of classes), keeps the allocation probe of the earlier run when this one has none.</summary>
    public static RunInfo MergeWithExisting(RunInfo info, string path, bool partial)
    {
        if (!partial || !File.Exists(path)) return info;
        var old = JsonSerializer.Deserialize<RunInfo>(File.ReadAllText(path), Json);
        if (old is null) return info;
        // the tables now come from both runs: say so, and keep what only the earlier run measured
        return info with
        {
            Command = $"{old.Command}` (finished {old.FinishedUtc:yyyy-MM-dd HH:mm} UTC), then `{info.Command}",
            Minutes = old.Minutes + info.Minutes,
            Allocation = info.Allocation ?? old.Allocation,
        };
    }

    /// <summary>Reads run-info.json.</summary>
    /// <exception cref="InvalidInputException">Missing or unreadable.</exception>
    public static RunInfo Read(string path)
    {
        if (!File.Exists(path)) throw new InvalidInputException($"{path}: not found; run the suite first (make bench).");
        try { return JsonSerializer.Deserialize<RunInfo>(File.ReadAllText(path), Json) ?? throw new JsonException("empty"); }
        catch (JsonException e) { throw new InvalidInputException($"{path}: not a run description ({e.Message}).", e); }
    }

    private static string Git(string arguments)
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("git", arguments) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false });
            if (p is null) return "unknown";
            string output = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit();
            return p.ExitCode == 0 ? output : "unknown";
        }
        catch (System.ComponentModel.Win32Exception) { return "unknown"; }
    }
}
