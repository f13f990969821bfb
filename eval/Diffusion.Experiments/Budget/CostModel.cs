using System.Diagnostics;
using System.Text.Json;
using Diffusion.Experiments.Matrix;
using Diffusion.Train.Config;
using Diffusion.Train.Training;
using static TorchSharp.torch;

namespace Diffusion.Experiments.Budget;

/// <summary>Measured speed of one model at one batch size on this machine.</summary>
/// <param name="Architecture">The model (preset plus overrides, as in model cards).</param>
/// <param name="BatchSize">Training batch size.</param>
/// <param name="Parameters">Trainable parameters.</param>
/// <param name="TrainImagesPerSecond">Training images per wall-clock second (full training step).</param>
/// <param name="TrainImagesPerCpuSecond">Training images per CPU second.</param>
/// <param name="InferenceImagesPerSecond">Network evaluations per second in eval mode (one sampling step of one image).</param>
/// <param name="Runs">The runs that use this model and batch size.</param>
public sealed record Throughput(string Architecture, int BatchSize, long Parameters, double TrainImagesPerSecond, double TrainImagesPerCpuSecond,
    double InferenceImagesPerSecond, string[] Runs);

/// <summary>
/// Estimates what a run costs: measures training and inference speed once per distinct (model, batch size) with the
/// trainer's benchmark code (<see cref="TrainBenchmark"/>), and counts the network evaluations its evaluation needs.
/// </summary>
public static class CostModel
{
    /// <summary>Seconds per run outside sampling: export, loading the model, judging, checkpoints (a rough constant).</summary>
    public const double PerRunOverheadSeconds = 10;
    /// <summary>Seconds reserved for writing the report (plots, grids).</summary>
    public const double ReportSeconds = 20;

    /// <summary>
    /// Times <paramref name="trainSteps"/> training steps (after one warmup step) for every distinct (model, batch size)
    /// and a few forward passes for every distinct model, with the threads already set.
    /// </summary>
    public static IReadOnlyList<Throughput> Measure(IReadOnlyList<RunSpec> runs, Device device, int trainSteps, Action<string> log)
    {
        var result = new List<Throughput>();
        var inference = new Dictionary<string, double>();
        foreach (var group in runs.GroupBy(r => (Model: ModelKey(r.Config), r.Config.BatchSize)))
        {
            var config = group.First().Config;
            var sw = Stopwatch.StartNew();
            var train = TrainBenchmark.MeasureTraining(config.Model, config.BatchSize, trainSteps, device, warmupSteps: 1);
            if (!inference.TryGetValue(group.Key.Model, out double ips))
                inference[group.Key.Model] = ips = TrainBenchmark.MeasureInference(config.Model, 32, 3, device);
            var t = new Throughput(config.Architecture(), config.BatchSize, train.Parameters, train.ImagesPerSecond, train.ImagesPerCpuSecond, ips,
                group.Select(r => r.Name).ToArray());
            log(FormattableString.Invariant($"  {t.Architecture}, batch {t.BatchSize}: {t.TrainImagesPerSecond:F1} training images/s, {t.InferenceImagesPerSecond:F0} network evaluations/s ({sw.Elapsed.TotalSeconds:F0} s to measure)"));
            result.Add(t);
        }
        return result;
    }

    /// <summary>The measurement that applies to <paramref name="run"/>.</summary>
    public static Throughput For(IReadOnlyList<Throughput> measured, RunSpec run)
        => measured.First(t => t.Runs.Contains(run.Name));

    /// <summary>
    /// Network evaluations after training: the trainer's final sample grid, the metric set, the comparison-grid
    /// samples and, for the baseline, the reverse-process trajectory. A guided step (scale other than 1) costs two.
    /// </summary>
    public static double NetworkEvaluations(RunSpec run, EvaluationSettings e)
    {
        static int Passes(double scale) => scale == 1 ? 1 : 2;
        var c = run.Config;
        int classes = c.ClassNames.Count;
        double trainerGrid = (double)classes * c.SamplesPerClass * c.SampleSteps * Passes(c.SampleGuidance);
        double metricSet = (double)classes * e.PerClass * e.Steps * Passes(e.Guidance);
        double grids = e.GuidanceScales.Sum(s => (double)e.Digits.Length * e.ImagesPerCell * e.Steps * Passes(s));
        double trajectory = run.IsBaseline ? (double)e.Digits.Length * e.Steps * Passes(e.Guidance) : 0;
        return trainerGrid + metricSet + grids + trajectory;
    }

    /// <summary>Estimated seconds of a run's evaluation at <paramref name="inferenceImagesPerSecond"/>.</summary>
    public static double EvalSeconds(RunSpec run, EvaluationSettings e, double inferenceImagesPerSecond)
        => NetworkEvaluations(run, e) / inferenceImagesPerSecond + PerRunOverheadSeconds;

    private static string ModelKey(TrainConfig c) => JsonSerializer.Serialize(c.Model, TrainConfig.JsonOptions);
}
