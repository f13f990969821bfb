using Diffusion.Eval.Metrics;

namespace Diffusion.Experiments.Study;

/// <summary>Noise estimates for the differences the findings compare.</summary>
public static class Stats
{
    /// <summary>
    /// Binomial standard error of an accuracy of <paramref name="correct"/> out of <paramref name="n"/>, with one success
    /// and one failure added (p = (correct + 1) / (n + 2)) so a perfect or zero score still has a non-zero error.
    /// </summary>
    public static double AccuracySe(int correct, int n)
    {
        if (n < 1) return double.NaN;
        double p = (correct + 1.0) / (n + 2.0);
        return Math.Sqrt(p * (1 - p) / n);
    }

    /// <summary>
    /// Bootstrap standard error of the Frechet distance between the rows of <paramref name="features"/> ([N * F]) and
    /// <paramref name="reference"/>: the standard deviation over <paramref name="rounds"/> resamples of N rows drawn
    /// with replacement (seeded).
    /// </summary>
    public static double BootstrapFrechetSe(float[] features, int dim, GaussianStats reference, int rounds, int seed)
    {
        int n = features.Length / dim;
        if (n < 2 || rounds < 2) return double.NaN;
        var rng = new Random(seed);
        var sample = new float[features.Length];
        var values = new double[rounds];
        for (int b = 0; b < rounds; b++)
        {
            for (int i = 0; i < n; i++) features.AsSpan(rng.Next(n) * dim, dim).CopyTo(sample.AsSpan(i * dim, dim));
            values[b] = FrechetDistance.Compute(GaussianStats.FromFeatures(sample, dim), reference);
        }
        double mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (rounds - 1));
    }
}
