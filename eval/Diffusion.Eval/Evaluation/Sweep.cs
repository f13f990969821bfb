using Diffusion.Eval.Judges;
using Diffusion.Runtime;
using Diffusion.Runtime.Generation;
using Diffusion.Runtime.Samplers;

namespace Diffusion.Eval.Evaluation;

/// <summary>One point of the guidance sweep.</summary>
public sealed record SweepPoint
{
    /// <summary>Guidance scale.</summary>
    public float Scale { get; init; }
    /// <summary>Sampling steps.</summary>
    public int Steps { get; init; }
    /// <summary>Images generated.</summary>
    public int Count { get; init; }
    /// <summary>Wall time of generation (seconds).</summary>
    public double Seconds { get; init; }
    /// <summary>Main judge accuracy.</summary>
    public double CnnAccuracy { get; init; }
    /// <summary>Main judge mean confidence.</summary>
    public double CnnMeanConfidence { get; init; }
    /// <summary>LightGBM accuracy (null without that judge).</summary>
    public double? LightGbmAccuracy { get; init; }
    /// <summary>Frechet distance to the test set.</summary>
    public double FrechetDistance { get; init; }
    /// <summary>Mean intra-class diversity.</summary>
    public double DiversityMean { get; init; }
}

/// <summary>The guidance sweep: every scale by every step count, same sampler, seed and images per class.</summary>
public static class Sweep
{
    /// <summary>Default scales.</summary>
    public static readonly float[] DefaultScales = [1f, 1.5f, 2f, 3f, 4f, 6f];
    /// <summary>Default step counts.</summary>
    public static readonly int[] DefaultSteps = [10, 20, 50];

    /// <summary>Runs the sweep; <paramref name="onPoint"/> is called after each setting.</summary>
    /// <exception cref="InvalidInputException">A setting the model cannot run (e.g. more steps than T).</exception>
    public static SweepPoint[] Run(DiffusionPipeline pipeline, JudgeSet judges, RealReference real, SamplerKind sampler,
        IReadOnlyList<float> scales, IReadOnlyList<int> steps, int perClass, ulong seed, int batchSize,
        Action<SweepPoint>? onPoint = null, CancellationToken cancellationToken = default)
    {
        var points = new List<SweepPoint>();
        foreach (int n in steps)
            foreach (float s in scales)
            {
                var setting = new SamplingSetting(sampler, n, s);
                var (images, seconds, _, _, _) = Sampling.Generate(pipeline, setting, perClass, seed, batchSize, null, cancellationToken);
                var e = SetEvaluation.Compute(images, judges, real);
                var p = new SweepPoint
                {
                    Scale = s, Steps = n, Count = images.Count, Seconds = Math.Round(seconds, 2),
                    CnnAccuracy = e.Cnn.Accuracy, CnnMeanConfidence = e.Cnn.MeanConfidence, LightGbmAccuracy = e.LightGbm?.Accuracy,
                    FrechetDistance = e.FrechetDistance, DiversityMean = e.DiversityMean,
                };
                points.Add(p);
                onPoint?.Invoke(p);
            }
        return [.. points];
    }
}
