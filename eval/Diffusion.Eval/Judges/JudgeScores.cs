namespace Diffusion.Eval.Judges;

/// <summary>What a judge says about N images: class probabilities [N, K] and, when it has them, features [N, F].</summary>
public sealed class JudgeScores
{
    /// <summary>Class probabilities, [N * K], row-major; each row sums to 1.</summary>
    public float[] Probabilities { get; }
    /// <summary>Penultimate-layer features, [N * F], row-major; null for judges without a feature layer.</summary>
    public float[]? Features { get; }
    /// <summary>Number of images N.</summary>
    public int Count { get; }
    /// <summary>Number of classes K.</summary>
    public int NumClasses { get; }
    /// <summary>Feature width F (0 without features).</summary>
    public int FeatureDim { get; }

    /// <summary>Wraps probabilities [N * K] and optional features [N * F].</summary>
    /// <exception cref="ArgumentException">Sizes disagree.</exception>
    public JudgeScores(float[] probabilities, int numClasses, float[]? features, int featureDim)
    {
        if (numClasses < 1 || probabilities.Length % numClasses != 0)
            throw new ArgumentException($"JudgeScores: {probabilities.Length} probabilities are not a multiple of K = {numClasses}.");
        Count = probabilities.Length / numClasses;
        if (features is not null && (featureDim < 1 || features.Length != (long)Count * featureDim))
            throw new ArgumentException($"JudgeScores: {features.Length} features do not make {Count} rows of F = {featureDim}.");
        Probabilities = probabilities; NumClasses = numClasses; Features = features; FeatureDim = features is null ? 0 : featureDim;
    }

    /// <summary>Probabilities of image <paramref name="i"/>, [K].</summary>
    public ReadOnlySpan<float> Row(int i) => Probabilities.AsSpan(i * NumClasses, NumClasses);

    /// <summary>Features of image <paramref name="i"/>, [F].</summary>
    public ReadOnlySpan<float> FeatureRow(int i) => Features is null
        ? throw new InvalidOperationException("This judge has no feature layer.")
        : Features.AsSpan(i * FeatureDim, FeatureDim);

    /// <summary>Predicted class of every image (arg max; the lowest index wins ties), [N].</summary>
    public int[] Predicted()
    {
        var p = new int[Count];
        for (int i = 0; i < Count; i++)
        {
            var r = Row(i);
            int best = 0;
            for (int k = 1; k < r.Length; k++) if (r[k] > r[best]) best = k;
            p[i] = best;
        }
        return p;
    }

    /// <summary>Probability given to the predicted class of every image, [N].</summary>
    public float[] Confidence()
    {
        var pred = Predicted();
        return Enumerable.Range(0, Count).Select(i => Row(i)[pred[i]]).ToArray();
    }
}

/// <summary>A classifier of 28 x 28 images that gives class probabilities (and maybe features).</summary>
public interface IJudge : IDisposable
{
    /// <summary>Short name for reports ("cnn-onnx", "lightgbm").</summary>
    string Name { get; }
    /// <summary>Number of classes K.</summary>
    int NumClasses { get; }
    /// <summary>Scores every image of <paramref name="images"/>.</summary>
    JudgeScores Score(ImageSet images);
}
