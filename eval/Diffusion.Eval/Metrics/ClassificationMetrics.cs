namespace Diffusion.Eval.Metrics;

/// <summary>
/// How a judge's predictions compare with the requested (true) classes: overall and per-class accuracy,
/// the confusion matrix and the judge's confidence.
/// </summary>
public sealed record ClassificationMetrics
{
    /// <summary>Images scored.</summary>
    public int Count { get; init; }
    /// <summary>Fraction of images whose predicted class is the requested one (0-1).</summary>
    public double Accuracy { get; init; }
    /// <summary>Accuracy per requested class (recall), index = class; NaN for a class with no image.</summary>
    public double[] PerClassAccuracy { get; init; } = [];
    /// <summary>Images per requested class.</summary>
    public int[] PerClassCount { get; init; } = [];
    /// <summary>Confusion matrix: [true class][predicted class] = image count.</summary>
    public int[][] Confusion { get; init; } = [];
    /// <summary>Mean probability of the predicted class (the judge's confidence in its own answer).</summary>
    public double MeanConfidence { get; init; }
    /// <summary>Mean probability the judge gives the requested class.</summary>
    public double MeanTrueClassProbability { get; init; }
    /// <summary>Mean probability of the requested class, per class; NaN for a class with no image.</summary>
    public double[] PerClassMeanTrueClassProbability { get; init; } = [];

    /// <summary>Computes every metric from true labels [N] and a judge's probabilities [N * K].</summary>
    /// <exception cref="ArgumentException">Sizes disagree, a label is outside 0..K-1, or N = 0.</exception>
    public static ClassificationMetrics Compute(IReadOnlyList<int> labels, ReadOnlySpan<float> probabilities, int numClasses)
    {
        int n = labels.Count, k = numClasses;
        if (n == 0) throw new ArgumentException("No images to score.");
        if (probabilities.Length != (long)n * k) throw new ArgumentException($"{probabilities.Length} probabilities for {n} images of K = {k}.");
        var confusion = new int[k][];
        for (int i = 0; i < k; i++) confusion[i] = new int[k];
        var count = new int[k];
        var trueProbSum = new double[k];
        double confSum = 0, trueSum = 0;
        int correct = 0;
        for (int i = 0; i < n; i++)
        {
            int y = labels[i];
            if ((uint)y >= (uint)k) throw new ArgumentException($"Label {y} at index {i} is outside 0..{k - 1}.");
            var row = probabilities.Slice(i * k, k);
            int pred = 0;
            for (int c = 1; c < k; c++) if (row[c] > row[pred]) pred = c;
            confusion[y][pred]++;
            count[y]++;
            if (pred == y) correct++;
            confSum += row[pred];
            trueSum += row[y];
            trueProbSum[y] += row[y];
        }
        return new ClassificationMetrics
        {
            Count = n,
            Accuracy = (double)correct / n,
            PerClassAccuracy = Enumerable.Range(0, k).Select(c => count[c] == 0 ? double.NaN : (double)confusion[c][c] / count[c]).ToArray(),
            PerClassCount = count,
            Confusion = confusion,
            MeanConfidence = confSum / n,
            MeanTrueClassProbability = trueSum / n,
            PerClassMeanTrueClassProbability = Enumerable.Range(0, k).Select(c => count[c] == 0 ? double.NaN : trueProbSum[c] / count[c]).ToArray(),
        };
    }
}
