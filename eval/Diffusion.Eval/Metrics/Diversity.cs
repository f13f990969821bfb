namespace Diffusion.Eval.Metrics;

/// <summary>
/// Intra-class diversity: the mean Euclidean distance between the feature vectors of every pair of images of
/// the same class. Mode collapse (for example at high guidance scales) shows as a value well below the real
/// data's. The mean over all pairs is an unbiased estimate whatever the sample size, so sets of different
/// sizes compare fairly.
/// </summary>
public static class Diversity
{
    /// <summary>Mean pairwise distance per class, index = class; NaN for a class with fewer than 2 images.</summary>
    /// <param name="features">[N * F] row-major.</param>
    /// <param name="dim">F.</param>
    /// <param name="labels">[N] classes.</param>
    /// <param name="numClasses">K.</param>
    /// <param name="maxPerClass">Use at most this many images per class (the first ones), to bound the O(n^2) cost.</param>
    public static double[] PerClass(ReadOnlySpan<float> features, int dim, IReadOnlyList<int> labels, int numClasses, int maxPerClass = 1000)
    {
        if (features.Length != (long)labels.Count * dim) throw new ArgumentException($"{features.Length} features for {labels.Count} images of F = {dim}.");
        var result = new double[numClasses];
        var members = new List<int>[numClasses];
        for (int c = 0; c < numClasses; c++) members[c] = [];
        for (int i = 0; i < labels.Count; i++)
            if ((uint)labels[i] < (uint)numClasses && members[labels[i]].Count < maxPerClass) members[labels[i]].Add(i);
        for (int c = 0; c < numClasses; c++)
        {
            var idx = members[c];
            if (idx.Count < 2) { result[c] = double.NaN; continue; }
            double sum = 0;
            long pairs = 0;
            for (int a = 0; a < idx.Count; a++)
            {
                var fa = features.Slice(idx[a] * dim, dim);
                for (int b = a + 1; b < idx.Count; b++)
                {
                    var fb = features.Slice(idx[b] * dim, dim);
                    double d2 = 0;
                    for (int j = 0; j < dim; j++) { double d = fa[j] - fb[j]; d2 += d * d; }
                    sum += Math.Sqrt(d2);
                    pairs++;
                }
            }
            result[c] = sum / pairs;
        }
        return result;
    }

    /// <summary>Mean of the per-class values that are defined (not NaN).</summary>
    public static double Mean(IEnumerable<double> perClass)
    {
        var v = perClass.Where(double.IsFinite).ToArray();
        return v.Length == 0 ? double.NaN : v.Average();
    }
}
