using System.Diagnostics;
using System.Globalization;
using System.Text;
using Diffusion.Eval;
using Diffusion.Eval.Evaluation;
using Diffusion.Eval.Judges;
using Diffusion.Eval.Metrics;
using Diffusion.Experiments.Budget;
using Diffusion.Experiments.Matrix;
using Diffusion.Export;
using Diffusion.Imaging;
using Diffusion.Runtime;
using Diffusion.Runtime.Generation;
using Diffusion.Runtime.Samplers;
using Diffusion.Train.Checkpoints;
using Diffusion.Train.Training;
using Diffusion.Tools;

namespace Diffusion.Experiments.Study;

/// <summary>What every run of a study shares: output folder, evaluation settings, judges and the real-data reference.</summary>
/// <param name="OutDir">The study folder.</param>
/// <param name="Evaluation">Evaluation settings.</param>
/// <param name="Judges">The judges.</param>
/// <param name="Real">The real data, scored once.</param>
/// <param name="Threads">CPU threads for TorchSharp and ONNX Runtime (0 = all cores).</param>
/// <param name="Log">Progress lines.</param>
public sealed record StudyContext(string OutDir, EvaluationSettings Evaluation, JudgeSet Judges, RealReference Real, int Threads, TextWriter Log);

/// <summary>
/// One run: train (or continue, or skip when its checkpoint is complete), export, evaluate, sample the comparison
/// grid, and write <c>runs/&lt;name&gt;/result.json</c> last. A run whose result.json exists is read back, not redone.
/// </summary>
public static class RunExecutor
{
    /// <summary>File that marks a finished run.</summary>
    public const string ResultFile = "result.json";
    /// <summary>Per-step loss log (CSV: step, loss).</summary>
    public const string StepsFile = "loss-steps.csv";
    /// <summary>Comparison-grid samples (IDX).</summary>
    public const string SamplesFile = "grid-images-idx3-ubyte";
    /// <summary>Exported model folder inside the run folder.</summary>
    public const string ModelFolder = "model";

    /// <summary>Folder of run <paramref name="name"/> in the study folder.</summary>
    public static string RunDir(string outDir, string name) => Path.Combine(outDir, RunFolder.RunsRoot, name);

    /// <summary>Runs (or reads back) one run. The flag tells whether it was read back from an earlier invocation.</summary>
    /// <exception cref="OperationCanceledException">Cancelled; training saved a resumable checkpoint.</exception>
    public static (RunResult Result, bool Reused) Execute(RunSpec spec, RunAllocation plan, StudyContext ctx, CancellationToken ct)
    {
        string dir = RunDir(ctx.OutDir, spec.Name), resultPath = Path.Combine(dir, ResultFile);
        if (File.Exists(resultPath)) return (Json.Read<RunResult>(resultPath), true);

        int warmup = spec.Config.WarmupSteps == 0 ? 0 : Math.Max(1, (int)Math.Round(spec.Config.WarmupSteps * Math.Min(1, plan.Fraction)));
        var config = (spec.Config with
        {
            OutDir = dir, Epochs = plan.Epochs, MaxTrainImages = plan.MaxTrainImages, WarmupSteps = warmup, Threads = ctx.Threads,
        }).Validate();
        var epochs = Train(config, ctx, ct);
        var clock = Stopwatch.StartNew();

        ctx.Log.WriteLine($"  exporting {spec.Name}");
        var export = ExportCommand.Export(new RunFolder(dir).LastCheckpoint, Path.Combine(dir, ModelFolder));
        var e = ctx.Evaluation;
        using var pipeline = EvalRunner.LoadModel(Path.Combine(dir, ModelFolder), ctx.Threads);
        ctx.Judges.CheckModel(pipeline.Metadata, Path.Combine(dir, ModelFolder));
        ctx.Log.WriteLine($"  evaluating {spec.Name}: {e.PerClass} images per class ({e.Setting}, seed {e.Seed})");
        var metrics = Evaluate(pipeline, ctx, ct);
        ctx.Log.WriteLine($"  sampling digits {string.Join(", ", e.Digits)} at guidance {string.Join(", ", e.GuidanceScales.Select(s => s.ToString(CultureInfo.InvariantCulture)))}");
        var samples = SampleGrid(pipeline, e, dir, ct);

        long imagesPerEpoch = plan.MaxTrainImages > 0 ? plan.MaxTrainImages : plan.ImagesSeen / Math.Max(1, plan.Epochs);
        var result = new RunResult
        {
            Name = spec.Name, Factor = spec.Factor, Change = spec.Change, Architecture = config.Architecture(), Parameters = export.ParameterCount,
            MatrixEpochs = spec.Epochs, Plan = plan, WarmupSteps = warmup,
            Cost = new ActualCost
            {
                Epochs = epochs.Count, Steps = epochs.Count == 0 ? 0 : epochs[^1].Step,
                ImagesSeen = epochs.Count == 0 ? 0 : ImagesAt(epochs[^1].Step, config.BatchSize, imagesPerEpoch),
                TrainSeconds = epochs.Sum(r => r.Seconds), TrainCpuSeconds = epochs.Sum(r => r.CpuSeconds),
                EvalSeconds = Math.Round(clock.Elapsed.TotalSeconds, 1),
            },
            Epochs = epochs, LossCurve = LossCurve(ReadSteps(dir), config.BatchSize, imagesPerEpoch), Metrics = metrics, Samples = samples,
        };
        AtomicFile.WriteAllText(resultPath, Json.Serialize(result) + "\n");
        return (result, false);
    }

    /// <summary>Trains, continues or skips training; returns the run's epoch records.</summary>
    private static IReadOnlyList<EpochRecord> Train(Train.Config.TrainConfig config, StudyContext ctx, CancellationToken ct)
    {
        string dir = config.RunDir, last = new RunFolder(dir).LastCheckpoint, log = new RunFolder(dir).Log;
        bool exists = File.Exists(last);
        int done = 0;
        long step = 0;
        if (exists)
            using (var ck = Checkpoint.Load(last)) (done, step) = (ck.Epoch, ck.Step);
        if (done >= config.Epochs)
        {
            ctx.Log.WriteLine($"  {config.Name}: training already complete in {dir} ({done} epochs)");
            return new EpochLog(log, done).Records;
        }
        // an interrupted run continues from its checkpoint; its loss log keeps the steps up to there
        var steps = exists ? ReadSteps(dir).Where(s => s.Step <= step).ToList() : [];
        var options = new TrainOptions
        {
            Resume = exists, Force = !exists,
            ResumeOverrides = c => c with { Epochs = config.Epochs, Threads = config.Threads },
            Console = ConsoleMode.Plain, Output = ctx.Log,
            OnStep = (s, loss) => steps.Add((s, loss)),
        };
        TrainResult result;
        using (var trainer = DiffusionTrainer.Prepare(config, options))
            result = trainer.Run(ct);
        WriteSteps(dir, steps);
        if (!result.Completed) throw new OperationCanceledException($"Training of {config.Name} stopped at step {result.Step}; run the same command again to continue.");
        return result.Epochs;
    }

    private static RunMetrics Evaluate(DiffusionPipeline pipeline, StudyContext ctx, CancellationToken ct)
    {
        var e = ctx.Evaluation;
        var (set, seconds, _, _, _) = Sampling.Generate(pipeline, e.Setting, e.PerClass, e.Seed, e.Batch, null, ct);
        var m = SetEvaluation.Compute(set, ctx.Judges, ctx.Real);
        var features = ctx.Judges.Cnn.Score(set);
        int correct = (int)Math.Round(m.Cnn.Accuracy * set.Count);
        return new RunMetrics
        {
            Setting = e.Setting.ToString(), Count = set.Count, Accuracy = m.Cnn.Accuracy, AccuracySe = Stats.AccuracySe(correct, set.Count),
            PerClassAccuracy = m.Cnn.PerClassAccuracy, LightGbmAccuracy = m.LightGbm?.Accuracy, BothJudgesAccuracy = m.BothJudgesAccuracy,
            FrechetDistance = m.FrechetDistance, FrechetSe = Stats.BootstrapFrechetSe(features.Features!, features.FeatureDim, ctx.Real.TestStats, 20, (int)e.Seed),
            FrechetFloorSameSize = m.FrechetFloorSameSize, DiversityMean = m.DiversityMean, GenerationSeconds = Math.Round(seconds, 2),
        };
    }

    /// <summary>Samples every (scale, digit) cell with the same noise in every run; writes the IDX file and the run's own labelled grid.</summary>
    private static SampleSet SampleGrid(DiffusionPipeline pipeline, EvaluationSettings e, string dir, CancellationToken ct)
    {
        var meta = pipeline.Metadata;
        var labels = e.Digits.SelectMany(d => Enumerable.Repeat(d, e.ImagesPerCell)).ToArray();
        var bytes = new List<byte>();
        foreach (float scale in e.GuidanceScales)
        {
            var r = pipeline.Generate(new GenerationRequest
            {
                Labels = labels, GuidanceScale = scale, Steps = e.Steps, Sampler = EvalDefaults.Sampler, SamplerOptions = SamplerOptions.Images,
                Seed = e.Seed, BatchSize = e.Batch,
            }, ct);
            bytes.AddRange(r.ToBytes());
        }
        var set = new SampleSet { File = SamplesFile, Digits = e.Digits, Scales = e.GuidanceScales, PerCell = e.ImagesPerCell, Seed = e.Seed };
        int n = e.GuidanceScales.Length * labels.Length;
        Idx.Write(Path.Combine(dir, SamplesFile), [n, meta.Height, meta.Width], bytes.ToArray());
        var px = new float[bytes.Count];
        Pixels.ToModel(bytes.ToArray(), px);
        // the run's own grid: rows = digits, columns = scales
        int size = meta.Height * meta.Width, k = e.ImagesPerCell, d = e.Digits.Length, s = e.GuidanceScales.Length;
        var grid = new float[px.Length];
        for (int di = 0; di < d; di++)
            for (int si = 0; si < s; si++)
                px.AsSpan(((si * d + di) * k) * size, k * size).CopyTo(grid.AsSpan((di * s + si) * k * size));
        LabelledGrid.Write(Path.Combine(dir, "samples.png"), grid, e.Digits.Select(x => $"digit {x}").ToArray(),
            e.GuidanceScales.Select(x => new ColumnGroup(string.Create(CultureInfo.InvariantCulture, $"guidance {x:0.##}"), k)).ToArray(), meta.Height, meta.Width);
        return set;
    }

    /// <summary>Loads a run's comparison-grid samples in model space, [scales x digits x per cell, H * W].</summary>
    public static float[] LoadSamples(string outDir, RunResult run)
    {
        var idx = Idx.Read(Path.Combine(RunDir(outDir, run.Name), run.Samples.File));
        var px = new float[idx.Data.Length];
        Pixels.ToModel(idx.Data, px);
        return px;
    }

    private static List<(long Step, double Loss)> ReadSteps(string dir)
    {
        string path = Path.Combine(dir, StepsFile);
        if (!File.Exists(path)) return [];
        return File.ReadLines(path).Skip(1).Where(l => l.Length > 0).Select(l =>
        {
            var p = l.Split(',');
            return (long.Parse(p[0], CultureInfo.InvariantCulture), double.Parse(p[1], CultureInfo.InvariantCulture));
        }).ToList();
    }

    private static void WriteSteps(string dir, IReadOnlyList<(long Step, double Loss)> steps)
    {
        var sb = new StringBuilder("step,loss\n");
        foreach (var (step, loss) in steps) sb.Append(CultureInfo.InvariantCulture, $"{step},{loss:R}\n");
        AtomicFile.WriteAllText(Path.Combine(dir, StepsFile), sb.ToString());
    }

    /// <summary>
    /// The per-step loss averaged over windows of consecutive steps (about 200 windows), at the number of training images
    /// seen at the end of each window (<paramref name="imagesPerEpoch"/> images in batches of <paramref name="batchSize"/>, the last one partial).
    /// </summary>
    internal static LossPoint[] LossCurve(IReadOnlyList<(long Step, double Loss)> steps, int batchSize, long imagesPerEpoch)
    {
        if (steps.Count == 0) return [];
        int window = Math.Max(1, (int)Math.Ceiling(steps.Count / 200.0));
        return steps.Chunk(window).Select(c => new LossPoint(ImagesAt(c[^1].Step, batchSize, imagesPerEpoch), c.Average(s => s.Loss))).ToArray();
    }

    /// <summary>Training images seen after <paramref name="step"/> optimizer steps over epochs of <paramref name="imagesPerEpoch"/> images (the last batch of an epoch may be partial).</summary>
    internal static long ImagesAt(long step, int batchSize, long imagesPerEpoch)
    {
        long perEpoch = (imagesPerEpoch + batchSize - 1) / batchSize;
        return step / perEpoch * imagesPerEpoch + Math.Min(step % perEpoch * batchSize, imagesPerEpoch);
    }
}
