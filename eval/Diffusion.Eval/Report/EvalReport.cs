using Diffusion.Eval.Evaluation;
using Diffusion.Eval.Metrics;

namespace Diffusion.Eval.Report;

/// <summary>The diffusion model evaluated (from its ONNX metadata).</summary>
public sealed record ModelInfo
{
    /// <summary>Path given on the command line.</summary>
    public string Path { get; init; } = "";
    /// <summary>Dataset.</summary>
    public string Dataset { get; init; } = "";
    /// <summary>Architecture summary.</summary>
    public string Architecture { get; init; } = "";
    /// <summary>Diffusion steps T.</summary>
    public int Timesteps { get; init; }
    /// <summary>Noise schedule.</summary>
    public string Schedule { get; init; } = "";
    /// <summary>Prediction type.</summary>
    public string Prediction { get; init; } = "";
    /// <summary>EMA weights exported.</summary>
    public bool Ema { get; init; }
    /// <summary>Training config SHA-256.</summary>
    public string ConfigSha256 { get; init; } = "";
    /// <summary>Training source commit.</summary>
    public string SourceCommit { get; init; } = "";
}

/// <summary>The real data's own numbers, the reference for every generated number.</summary>
public sealed record RealSummary
{
    /// <summary>Test images.</summary>
    public int TestCount { get; init; }
    /// <summary>Training images in the floor sample.</summary>
    public int TrainSampleCount { get; init; }
    /// <summary>Main judge on the test set.</summary>
    public ClassificationMetrics Cnn { get; init; } = new();
    /// <summary>LightGBM on the test set.</summary>
    public ClassificationMetrics? LightGbm { get; init; }
    /// <summary>Frechet distance between the training sample and the test set.</summary>
    public double FrechetFloor { get; init; }
    /// <summary>Per-class diversity of the test set.</summary>
    public double[] Diversity { get; init; } = [];
    /// <summary>Mean of <see cref="Diversity"/>.</summary>
    public double DiversityMean { get; init; }
    /// <summary>Clean-background fractions of the test set.</summary>
    public BackgroundStats? Background { get; init; }
}

/// <summary>Where the evaluated images came from.</summary>
public sealed record GeneratedInfo
{
    /// <summary>"runtime" or the IDX images path.</summary>
    public string Source { get; init; } = "";
    /// <summary>Sampling setting (runtime only).</summary>
    public string? Setting { get; init; }
    /// <summary>Graphs that generated the images, "float32" or "int8" (runtime only).</summary>
    public string? Precision { get; init; }
    /// <summary>File of the graph that generated the images, e.g. unet-guided-int8.onnx or a distilled student (runtime only).</summary>
    public string? Graph { get; init; }
    /// <summary>Whether a distilled student generated the images (runtime only).</summary>
    public bool? Student { get; init; }
    /// <summary>Sampler name (runtime only).</summary>
    public string? Sampler { get; init; }
    /// <summary>Steps (runtime only).</summary>
    public int? Steps { get; init; }
    /// <summary>Guidance scale (runtime only).</summary>
    public float? GuidanceScale { get; init; }
    /// <summary>Seed (runtime only).</summary>
    public ulong? Seed { get; init; }
    /// <summary>Images per class requested (runtime only).</summary>
    public int? PerClass { get; init; }
    /// <summary>Images.</summary>
    public int Count { get; init; }
    /// <summary>Generation wall time, seconds (runtime only).</summary>
    public double? Seconds { get; init; }
}

/// <summary>The whole report; serialized to report.json, rendered to report.md.</summary>
public sealed record EvalReport
{
    /// <summary>UTC time of the run.</summary>
    public string CreatedUtc { get; init; } = "";
    /// <summary>Command line that reproduces it.</summary>
    public string Command { get; init; } = "";
    /// <summary>Machine.</summary>
    public string Machine { get; init; } = "";
    /// <summary>Wall time of the whole evaluation, seconds.</summary>
    public double Seconds { get; set; }
    /// <summary>Dataset.</summary>
    public string Dataset { get; init; } = "";
    /// <summary>Class names.</summary>
    public string[] ClassNames { get; init; } = [];
    /// <summary>The model (null when only IDX files were judged).</summary>
    public ModelInfo? Model { get; init; }
    /// <summary>Judge folder.</summary>
    public string Judges { get; init; } = "";
    /// <summary>The evaluated images.</summary>
    public GeneratedInfo Generated { get; init; } = new();
    /// <summary>Metrics of the evaluated images.</summary>
    public SetEvaluation Metrics { get; init; } = new();
    /// <summary>The real data's numbers.</summary>
    public RealSummary Real { get; init; } = new();
    /// <summary>One-step denoising quality (null without a model or when disabled).</summary>
    public DenoisingResult[]? Denoising { get; set; }
    /// <summary>Sampler used by the sweep.</summary>
    public string? SweepSampler { get; set; }
    /// <summary>Images per class in each sweep setting.</summary>
    public int? SweepPerClass { get; set; }
    /// <summary>Frechet floor for the sweep's set size.</summary>
    public double? SweepFrechetFloor { get; set; }
    /// <summary>Guidance sweep (null when disabled).</summary>
    public SweepPoint[]? Sweep { get; set; }
    /// <summary>Image files of the report, relative to its folder.</summary>
    public List<string> Files { get; init; } = [];
}
