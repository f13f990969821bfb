using Diffusion.Eval.Judges;
using Diffusion.Eval.Metrics;
using Diffusion.Runtime;

namespace Diffusion.Eval.Evaluation;

/// <summary>Everything measured on one labelled (generated) set.</summary>
public sealed record SetEvaluation
{
    /// <summary>Images.</summary>
    public int Count { get; init; }
    /// <summary>Main judge (CNN through ML.NET).</summary>
    public ClassificationMetrics Cnn { get; init; } = new();
    /// <summary>Second judge (LightGBM), or null.</summary>
    public ClassificationMetrics? LightGbm { get; init; }
    /// <summary>Fraction of images both judges assign to the requested class.</summary>
    public double? BothJudgesAccuracy { get; init; }
    /// <summary>Frechet distance to the test set in the main judge's feature space.</summary>
    public double FrechetDistance { get; init; }
    /// <summary>Floor: the same distance for a class-balanced training sample of the same size.</summary>
    public double FrechetFloorSameSize { get; init; }
    /// <summary>Mean pairwise feature distance per class.</summary>
    public double[] Diversity { get; init; } = [];
    /// <summary>Mean over classes of <see cref="Diversity"/>.</summary>
    public double DiversityMean { get; init; }
    /// <summary>Clean-background fractions (against the real data's background value).</summary>
    public BackgroundStats? Background { get; init; }

    /// <summary>Scores <paramref name="set"/> with both judges and compares it with the real data.</summary>
    /// <exception cref="InvalidInputException">A label outside the judges' classes or a wrong image size.</exception>
    public static SetEvaluation Compute(ImageSet set, JudgeSet judges, RealReference real)
    {
        int k = judges.Card.NumClasses;
        for (int i = 0; i < set.Count; i++)
            if ((uint)set.Labels[i] >= (uint)k)
                throw new InvalidInputException($"{set.Source}: label {set.Labels[i]} at index {i}; the judges know classes 0 to {k - 1}.");
        if (set.Count < 2) throw new InvalidInputException($"{set.Source}: {set.Count} image(s); need at least 2 to compare distributions.");
        var cnn = judges.Cnn.Score(set);
        var cnnMetrics = ClassificationMetrics.Compute(set.Labels, cnn.Probabilities, k);
        ClassificationMetrics? lgbmMetrics = null;
        double? both = null;
        if (judges.LightGbm is { } lgbm)
        {
            var ls = lgbm.Score(set);
            lgbmMetrics = ClassificationMetrics.Compute(set.Labels, ls.Probabilities, k);
            var pc = cnn.Predicted();
            var pl = ls.Predicted();
            both = Enumerable.Range(0, set.Count).Count(i => pc[i] == set.Labels[i] && pl[i] == set.Labels[i]) / (double)set.Count;
        }
        var diversity = Metrics.Diversity.PerClass(cnn.Features, cnn.FeatureDim, set.Labels, k);
        return new SetEvaluation
        {
            Count = set.Count, Cnn = cnnMetrics, LightGbm = lgbmMetrics, BothJudgesAccuracy = both,
            FrechetDistance = Metrics.FrechetDistance.Compute(GaussianStats.FromFeatures(cnn.Features, cnn.FeatureDim), real.TestStats),
            FrechetFloorSameSize = real.FloorAt(set.Count),
            Diversity = diversity, DiversityMean = Metrics.Diversity.Mean(diversity),
            Background = BackgroundStats.Compute(set, real.BackgroundValue, k),
        };
    }
}
