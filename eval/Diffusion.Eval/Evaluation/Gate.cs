using System.Globalization;
using Diffusion.Eval.Judges;
using Diffusion.Eval.Metrics;
using Diffusion.Runtime;
using Diffusion.Runtime.Onnx;
using Diffusion.Tools;

namespace Diffusion.Eval.Evaluation;

/// <summary>Settings of <c>eval gate</c>.</summary>
public sealed record GateOptions
{
    /// <summary>Model folder or file (default models/mnist).</summary>
    public string Model { get; init; } = Path.Combine("models", "mnist");
    /// <summary>IDX images to judge instead of generating (with <see cref="Labels"/>).</summary>
    public string? Images { get; init; }
    /// <summary>IDX labels.</summary>
    public string? Labels { get; init; }
    /// <summary>Judge folder (default: the model's folder, also with --images).</summary>
    public string? Judges { get; init; }
    /// <summary>Images per class.</summary>
    public int PerClass { get; init; } = EvalDefaults.GatePerClass;
    /// <summary>Sampling setting.</summary>
    public SamplingSetting Setting { get; init; } = EvalDefaults.Setting;
    /// <summary>Noise seed.</summary>
    public ulong Seed { get; init; } = EvalDefaults.Seed;
    /// <summary>Minimum main-judge accuracy, 0-1.</summary>
    public double Threshold { get; init; } = EvalDefaults.GateThreshold;
    /// <summary>Images per model call.</summary>
    public int BatchSize { get; init; } = 64;
    /// <summary>ONNX Runtime threads (0 = physical cores).</summary>
    public int Threads { get; init; }
    /// <summary>Float32 or int8 graphs of the model folder (<see cref="RuntimeOptions.Precision"/>; auto: int8 on the CPU when present).</summary>
    public PrecisionMode Precision { get; init; } = PrecisionMode.Auto;
    /// <summary>Optional JSON result file.</summary>
    public string? Out { get; init; }

    /// <summary>Checks values that need no file.</summary>
    /// <exception cref="InvalidInputException">The message names the option.</exception>
    public void Validate()
    {
        if ((Images is null) != (Labels is null)) throw new InvalidInputException("--images and --labels go together: give both IDX files or neither.");
        if (!(Threshold >= 0 && Threshold <= 1)) throw new InvalidInputException($"--threshold {Threshold}; expected a fraction between 0 and 1 (e.g. 0.99).");
        if (PerClass < 1) throw new InvalidInputException($"--per-class {PerClass}; expected >= 1.");
        if (BatchSize < 1) throw new InvalidInputException($"--batch {BatchSize}; expected >= 1.");
        if (Threads < 0) throw new InvalidInputException($"--threads {Threads}; expected 0 (all physical cores) or more.");
        if (Setting.Steps < 1) throw new InvalidInputException($"--steps {Setting.Steps}; expected >= 1.");
        Guidance.Validate(Setting.GuidanceScale);
    }
}

/// <summary>Outcome of the gate.</summary>
public sealed record GateResult
{
    /// <summary>Dataset.</summary>
    public string Dataset { get; init; } = "";
    /// <summary>Class names.</summary>
    public string[] ClassNames { get; init; } = [];
    /// <summary>What was judged ("runtime: ..." or the IDX path).</summary>
    public string Source { get; init; } = "";
    /// <summary>Main judge metrics.</summary>
    public ClassificationMetrics Metrics { get; init; } = new();
    /// <summary>Required accuracy.</summary>
    public double Threshold { get; init; }
    /// <summary>Generation time (seconds; 0 for IDX input).</summary>
    public double GenerationSeconds { get; init; }
    /// <summary>True when accuracy &gt;= threshold.</summary>
    public bool Passed => Metrics.Accuracy >= Threshold;
}

/// <summary>
/// The accuracy gate: a fixed, seeded set per class from the model with the default sampler, judged by the main
/// (ML.NET) judge; passes when the accuracy reaches the threshold.
/// </summary>
public static class Gate
{
    /// <summary>Exit code when the accuracy is below the threshold.</summary>
    public const int FailExitCode = 1;

    /// <summary>Generates (or reads) the set and judges it.</summary>
    /// <exception cref="InvalidInputException">Bad options, missing or foreign model or judges, bad IDX files.</exception>
    public static GateResult Run(GateOptions o, Action<string>? log = null, CancellationToken ct = default)
    {
        o.Validate();
        if (o.Out is not null) OutputPath.CheckFile(o.Out, "--out");
        using var judges = JudgeSet.Load(EvalRunner.JudgeFolder(o.Judges, o.Model, "mnist"));
        int k = judges.Card.NumClasses;
        ImageSet set;
        string source;
        double seconds = 0;
        if (o.Images is not null)
        {
            set = ImageSet.LoadIdx(o.Images, o.Labels!, k);
            source = o.Images;
        }
        else
        {
            using var pipeline = EvalRunner.LoadModel(o.Model, o.Threads, o.Precision);
            judges.CheckModel(pipeline.Metadata, o.Model);
            log?.Invoke($"generating {o.PerClass} images per class from {o.Model} ({o.Setting}, seed {o.Seed})");
            var generated = Sampling.Generate(pipeline, o.Setting, o.PerClass, o.Seed, o.BatchSize, null, ct);
            (set, seconds) = (generated.Images, generated.Seconds);
            source = generated.Student
                ? string.Create(CultureInfo.InvariantCulture, $"{o.Model} ({generated.What}): seed {o.Seed}, {o.PerClass} per class")
                : string.Create(CultureInfo.InvariantCulture, $"{o.Model} ({ModelMetadata.PrecisionName(pipeline.Precision)} graphs): {o.Setting}, seed {o.Seed}, {o.PerClass} per class");
        }
        if (set.Count == 0) throw new InvalidInputException($"{source}: no images to judge.");
        var metrics = ClassificationMetrics.Compute(set.Labels, judges.Cnn.Score(set).Probabilities, k);
        var result = new GateResult
        {
            Dataset = judges.Card.Dataset, ClassNames = judges.Card.ClassNames, Source = source, Metrics = metrics,
            Threshold = o.Threshold, GenerationSeconds = Math.Round(seconds, 2),
        };
        if (o.Out is not null) AtomicFile.WriteAllText(o.Out, Json.Serialize(result) + "\n");
        return result;
    }
}
