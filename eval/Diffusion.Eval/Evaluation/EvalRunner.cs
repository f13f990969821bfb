using System.Diagnostics;
using System.Globalization;
using Diffusion.Eval.Judges;
using Diffusion.Eval.Report;
using Diffusion.Imaging;
using Diffusion.Runtime;
using Diffusion.Runtime.Generation;
using Diffusion.Runtime.Onnx;
using Diffusion.Runtime.Samplers;
using Diffusion.Tools;

namespace Diffusion.Eval.Evaluation;

/// <summary>Settings of <c>eval report</c>.</summary>
public sealed record EvalOptions
{
    /// <summary>Model folder (unet.onnx, unet-guided.onnx) or one .onnx file; null to judge IDX files only.</summary>
    public string? Model { get; init; }
    /// <summary>IDX images to judge instead of generating (with <see cref="Labels"/>).</summary>
    public string? Images { get; init; }
    /// <summary>IDX labels of <see cref="Images"/>.</summary>
    public string? Labels { get; init; }
    /// <summary>Judge folder (default: the model's folder, else models/&lt;dataset&gt;).</summary>
    public string? Judges { get; init; }
    /// <summary>Dataset whose judges to use when neither a model nor a judge folder is given.</summary>
    public string Dataset { get; init; } = "mnist";
    /// <summary>Real data folder (default data/&lt;judge dataset&gt;).</summary>
    public string? Data { get; init; }
    /// <summary>What an image folder's images of another size than the judges' get (refused by default).</summary>
    public Imaging.ResizeMode Resize { get; init; }
    /// <summary>Images per class to generate.</summary>
    public int PerClass { get; init; } = 100;
    /// <summary>Sampling setting of the main set.</summary>
    public SamplingSetting Setting { get; init; } = EvalDefaults.Setting;
    /// <summary>Noise seed.</summary>
    public ulong Seed { get; init; } = EvalDefaults.Seed;
    /// <summary>Images per model call.</summary>
    public int BatchSize { get; init; } = 64;
    /// <summary>ONNX Runtime threads (0 = physical cores).</summary>
    public int Threads { get; init; }
    /// <summary>Float32 or int8 graphs of the model folder (<see cref="RuntimeOptions.Precision"/>; auto: int8 on the CPU when present).</summary>
    public PrecisionMode Precision { get; init; } = PrecisionMode.Auto;
    /// <summary>Test images for the denoising metrics (0 = skip).</summary>
    public int DenoiseCount { get; init; } = 500;
    /// <summary>Run the guidance sweep.</summary>
    public bool Sweep { get; init; } = true;
    /// <summary>Sweep scales.</summary>
    public IReadOnlyList<float> SweepScales { get; init; } = Evaluation.Sweep.DefaultScales;
    /// <summary>Sweep step counts.</summary>
    public IReadOnlyList<int> SweepSteps { get; init; } = Evaluation.Sweep.DefaultSteps;
    /// <summary>Images per class in each sweep setting.</summary>
    public int SweepPerClass { get; init; } = 20;
    /// <summary>Report folder (default reports/&lt;dataset&gt;-&lt;UTC time&gt;).</summary>
    public string? Out { get; init; }
    /// <summary>Command line, recorded in the report.</summary>
    public string Command { get; init; } = "";

    /// <summary>Checks values that need no file.</summary>
    /// <exception cref="InvalidInputException">The message names the option.</exception>
    public void Validate()
    {
        if ((Images is null) != (Labels is null)) throw new InvalidInputException("--images and --labels go together: give both IDX files or neither.");
        if (Model is null && Images is null) throw new InvalidInputException("Nothing to evaluate: give --model (to generate) or --images and --labels (IDX files).");
        if (PerClass < 1) throw new InvalidInputException($"--per-class {PerClass}; expected >= 1.");
        if (BatchSize < 1) throw new InvalidInputException($"--batch {BatchSize}; expected >= 1.");
        if (Threads < 0) throw new InvalidInputException($"--threads {Threads}; expected 0 (all physical cores) or more.");
        if (DenoiseCount < 0) throw new InvalidInputException($"--denoise {DenoiseCount}; expected 0 (off) or more.");
        if (SweepPerClass < 1) throw new InvalidInputException($"--sweep-per-class {SweepPerClass}; expected >= 1.");
        if (Setting.Steps < 1) throw new InvalidInputException($"--steps {Setting.Steps}; expected >= 1.");
        Guidance.Validate(Setting.GuidanceScale);
        foreach (float s in SweepScales) Guidance.Validate(s);
        foreach (int n in SweepSteps) if (n < 1) throw new InvalidInputException($"--sweep-steps contains {n}; expected step counts >= 1.");
    }
}

/// <summary>Runs <c>eval report</c>: generate (or read) a set, judge it, compare it with the real data, sweep, write the report.</summary>
public static class EvalRunner
{
    /// <summary>The report's JSON file in its folder (<c>eval table</c> reads it).</summary>
    public const string ReportJsonName = "report.json";

    /// <summary>Resolves the judge folder of a command: explicit, else the model's folder, else models/&lt;dataset&gt;.</summary>
    public static string JudgeFolder(string? judges, string? model, string dataset)
    {
        if (judges is not null) return judges;
        if (model is not null)
        {
            if (Directory.Exists(model)) return model;
            if (!File.Exists(model)) throw new InvalidInputException($"Model not found: {model}; expected an exported model folder (make export) or one of its .onnx files.");
            return Path.GetDirectoryName(Path.GetFullPath(model))!;
        }
        return Path.Combine("models", dataset);
    }

    /// <summary>Loads the model folder or file with the given threads and precision (int8 graphs on the CPU when present by default).</summary>
    /// <exception cref="InvalidInputException">Missing or foreign model.</exception>
    public static DiffusionPipeline LoadModel(string path, int threads, PrecisionMode precision = PrecisionMode.Auto)
        => DiffusionPipeline.Load(path, RuntimeOptions.Default with { IntraOpThreads = threads, Precision = precision });

    /// <summary>Runs the evaluation and writes report.json, report.md and the PNGs; returns the report and its folder.</summary>
    /// <exception cref="InvalidInputException">Bad options, files, or a model foreign to the judges.</exception>
    public static (EvalReport Report, string Folder) Run(EvalOptions o, Action<string>? log = null, CancellationToken ct = default)
    {
        o.Validate();
        if (o.Out is not null) OutputPath.CheckFolder(o.Out, "--out");
        var clock = Stopwatch.StartNew();
        log ??= _ => { };
        using var judges = JudgeSet.Load(JudgeFolder(o.Judges, o.Model, o.Dataset));
        if (judges.LightGbm is null) log($"note: no LightGBM judge in {judges.Folder}; reporting the main judge only");
        using var pipeline = o.Model is null ? null : LoadModel(o.Model, o.Threads, o.Precision);
        if (pipeline is not null) judges.CheckModel(pipeline.Metadata, o.Model!);
        int k = judges.Card.NumClasses;

        ImageSet set;
        GeneratedInfo info;
        if (o.Images is not null)
        {
            set = ImageSet.LoadIdx(o.Images, o.Labels!, k);
            info = new GeneratedInfo { Source = o.Images, Count = set.Count };
            log($"read {set.Count} images from {o.Images}");
        }
        else
        {
            log($"generating {o.PerClass} images per class ({o.Setting}, seed {o.Seed})");
            var generated = Sampling.Generate(pipeline!, o.Setting, o.PerClass, o.Seed, o.BatchSize, null, ct);
            (set, double seconds) = (generated.Images, generated.Seconds);
            var graph = generated.Student ? pipeline!.Students[o.Setting.Steps].Metadata : pipeline!.Metadata;
            info = new GeneratedInfo
            {
                Source = "runtime", Precision = ModelMetadata.PrecisionName(graph.Precision), Setting = generated.What,
                Sampler = generated.Student ? SamplerFactory.Name(SamplerKind.Ddim) : SamplerFactory.Name(o.Setting.Sampler), Steps = o.Setting.Steps,
                GuidanceScale = o.Setting.GuidanceScale, Seed = o.Seed, PerClass = o.PerClass, Count = set.Count, Seconds = Math.Round(seconds, 2),
                Graph = generated.Graph, Student = generated.Student,
            };
            log(string.Create(CultureInfo.InvariantCulture, $"generated {set.Count} images in {seconds:F1} s"));
        }

        string data = o.Data ?? Path.Combine("data", judges.Card.Dataset);
        log($"scoring the real data in {data}");
        var real = RealReference.Load(judges, data, resize: o.Resize);
        var metrics = SetEvaluation.Compute(set, judges, real);
        log(string.Create(CultureInfo.InvariantCulture, $"main judge accuracy {metrics.Cnn.Accuracy:P2}, Frechet distance {metrics.FrechetDistance:F3} (floor {metrics.FrechetFloorSameSize:F3}), clean background {metrics.Background!.Mean:P1} (real {real.TestBackground.Mean:P1})"));

        string folder = o.Out ?? Path.Combine("reports", $"{judges.Card.Dataset}-{DateTime.UtcNow:yyyyMMdd-HHmmss}");
        Directory.CreateDirectory(folder);
        var marker = IncompleteMarker.Begin(folder, "eval report", $"model {o.Model ?? "(IDX files)"}, judges {judges.Folder}, {o.Command}");
        var report = new EvalReport
        {
            CreatedUtc = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            Command = o.Command, Machine = MachineInfo.Describe(), Dataset = judges.Card.Dataset, ClassNames = judges.Card.ClassNames,
            Model = pipeline is null ? null : Describe(o.Model!, pipeline.Metadata), Judges = judges.Folder, Generated = info, Metrics = metrics,
            Real = new RealSummary
            {
                TestCount = real.Test.Count, TrainSampleCount = real.Train.Count, Cnn = real.TestCnnMetrics, LightGbm = real.TestLightGbmMetrics,
                FrechetFloor = real.Floor, Diversity = real.TestDiversity, DiversityMean = Metrics.Diversity.Mean(real.TestDiversity),
                Background = real.TestBackground,
            },
        };

        WriteSamples(Path.Combine(folder, "samples.png"), set, k);
        report.Files.Add("samples.png");
        Plots.Confusion(Path.Combine(folder, "confusion.png"), metrics.Cnn.Confusion, judges.Card.ClassNames, "Main judge on the evaluated images (fraction of each requested class)");
        report.Files.Add("confusion.png");

        if (pipeline is not null && o.DenoiseCount > 0)
        {
            var subset = real.Test.Subset(Enumerable.Range(0, Math.Min(o.DenoiseCount, real.Test.Count)).ToArray());
            log($"denoising {subset.Count} test images at t = {string.Join(", ", Denoising.DefaultTimesteps(pipeline.Metadata.Timesteps))}");
            report.Denoising = Denoising.Evaluate(pipeline.Unet ?? pipeline.Guided!, subset, Denoising.DefaultTimesteps(pipeline.Metadata.Timesteps), o.Seed, o.BatchSize);
        }

        if (pipeline is not null && o.Sweep)
        {
            var steps = o.SweepSteps.Where(n => n <= pipeline.Metadata.Timesteps).ToArray();
            log($"guidance sweep: scales {string.Join(", ", o.SweepScales)} x steps {string.Join(", ", steps)}, {o.SweepPerClass} per class");
            report.Sweep = Evaluation.Sweep.Run(pipeline, judges, real, o.Setting.Sampler, o.SweepScales, steps, o.SweepPerClass, o.Seed, o.BatchSize,
                p => log(string.Create(CultureInfo.InvariantCulture, $"  scale {p.Scale:0.##}, {p.Steps} steps: accuracy {p.CnnAccuracy:P2}, FD {p.FrechetDistance:F3}, diversity {p.DiversityMean:F3}, {p.Seconds:F1} s")), ct);
            report.SweepSampler = SamplerFactory.Name(o.Setting.Sampler);
            report.SweepPerClass = o.SweepPerClass;
            report.SweepFrechetFloor = real.FloorAt(o.SweepPerClass * k);
            var pts = report.Sweep;
            Plots.SweepMetric(Path.Combine(folder, "sweep-accuracy.png"), pts, p => p.CnnAccuracy, "Main judge accuracy vs guidance", "accuracy",
                (real.TestCnnMetrics.Accuracy, "real test data"));
            Plots.SweepMetric(Path.Combine(folder, "sweep-frechet.png"), pts, p => p.FrechetDistance, "Frechet distance to the test set vs guidance",
                "Frechet distance (judge features)", (report.SweepFrechetFloor.Value, "real-data floor, same size"));
            Plots.SweepMetric(Path.Combine(folder, "sweep-diversity.png"), pts, p => p.DiversityMean, "Intra-class diversity vs guidance",
                "mean pairwise feature distance", (report.Real.DiversityMean, "real test data"));
            Plots.SweepMetric(Path.Combine(folder, "sweep-time.png"), pts, p => p.Seconds, $"Generation time of {o.SweepPerClass * k} images", "seconds");
            report.Files.AddRange(["sweep-accuracy.png", "sweep-frechet.png", "sweep-diversity.png", "sweep-time.png"]);
        }

        report.Seconds = Math.Round(clock.Elapsed.TotalSeconds, 1);
        AtomicFile.WriteAllText(Path.Combine(folder, ReportJsonName), Json.Serialize(report) + "\n");
        AtomicFile.WriteAllText(Path.Combine(folder, "report.md"), MarkdownReport.Render(report));
        marker.Complete();
        return (report, folder);
    }

    /// <summary>The model's metadata for the report.</summary>
    public static ModelInfo Describe(string path, ModelMetadata m) => new()
    {
        Path = path, Dataset = m.Dataset, Architecture = m.Architecture, Timesteps = m.Timesteps, Schedule = NoiseSchedule.Name(m.Schedule),
        Prediction = Prediction.Name(m.Prediction), Ema = m.Ema, ConfigSha256 = m.ConfigSha256, SourceCommit = m.SourceCommit,
    };

    /// <summary>A grid of up to 10 images of every class, one row per class.</summary>
    public static void WriteSamples(string path, ImageSet set, int numClasses, int perRow = 10)
    {
        var px = new float[numClasses * perRow * set.ImageSize];
        Array.Fill(px, Pixels.Min);
        for (int c = 0; c < numClasses; c++)
        {
            var idx = set.IndicesOf(c);
            for (int j = 0; j < Math.Min(perRow, idx.Length); j++)
                set.Image(idx[j]).CopyTo(px.AsSpan((c * perRow + j) * set.ImageSize, set.ImageSize));
        }
        PngGrid.Write(path, px, numClasses, perRow, set.Height, set.Width, pad: 2, scale: 2, channels: set.Channels);
    }
}
