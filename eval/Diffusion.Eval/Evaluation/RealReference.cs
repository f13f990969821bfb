using Diffusion.Eval.Judges;
using Diffusion.Eval.Metrics;
using Diffusion.Runtime;
using Diffusion.Tools;

namespace Diffusion.Eval.Evaluation;

/// <summary>
/// The real data every generated set is compared with, scored once: the test set (judge accuracies, features,
/// Gaussian statistics, per-class diversity) and a fixed random sample of training images, whose distance to
/// the test set is the floor no model can beat (two samples of the same distribution still differ).
/// Because the Frechet distance is biased upward for small samples, <see cref="FloorAt"/> gives the floor for a
/// class-balanced training sample of the same size as a generated set.
/// </summary>
public sealed class RealReference
{
    private readonly Dictionary<int, double> _floors = [];

    /// <summary>The test set.</summary>
    public ImageSet Test { get; }
    /// <summary>Main judge on the test set.</summary>
    public JudgeScores TestCnn { get; }
    /// <summary>Main judge's metrics on the test set.</summary>
    public ClassificationMetrics TestCnnMetrics { get; }
    /// <summary>LightGBM's metrics on the test set (null without that judge).</summary>
    public ClassificationMetrics? TestLightGbmMetrics { get; }
    /// <summary>Gaussian statistics of the test features.</summary>
    public GaussianStats TestStats { get; }
    /// <summary>Mean pairwise feature distance per class in the test set.</summary>
    public double[] TestDiversity { get; }
    /// <summary>The training sample (seeded random draw).</summary>
    public ImageSet Train { get; }
    /// <summary>Main judge features of the training sample.</summary>
    public JudgeScores TrainCnn { get; }
    /// <summary>Frechet distance between the whole training sample and the test set.</summary>
    public double Floor { get; }
    /// <summary>The background value of the data (0-255; <see cref="BackgroundStats.BackgroundValue"/> of the test set).</summary>
    public int BackgroundValue { get; }
    /// <summary>Clean-background fractions of the test set.</summary>
    public BackgroundStats TestBackground { get; }

    private RealReference(ImageSet test, JudgeScores testCnn, ClassificationMetrics? testLgbm, ImageSet train, JudgeScores trainCnn, int k)
    {
        Test = test; TestCnn = testCnn; Train = train; TrainCnn = trainCnn;
        TestCnnMetrics = ClassificationMetrics.Compute(test.Labels, testCnn.Probabilities, k);
        TestLightGbmMetrics = testLgbm;
        TestStats = GaussianStats.FromFeatures(testCnn.Features, testCnn.FeatureDim);
        TestDiversity = Diversity.PerClass(testCnn.Features, testCnn.FeatureDim, test.Labels, k);
        Floor = FrechetDistance.Compute(GaussianStats.FromFeatures(trainCnn.Features, trainCnn.FeatureDim), TestStats);
        BackgroundValue = BackgroundStats.BackgroundValue(test);
        TestBackground = BackgroundStats.Compute(test, BackgroundValue, k);
    }

    /// <summary>Loads and scores the real data in <paramref name="dataFolder"/>.</summary>
    /// <param name="judges">The judges.</param>
    /// <param name="dataFolder">Folder with the train and t10k IDX files, or an image folder with train/ and test/ (<see cref="Imaging.LabelledData"/>).</param>
    /// <param name="trainCount">Size of the training sample (10,000 by default).</param>
    /// <param name="seed">Seed of the training sample.</param>
    /// <exception cref="InvalidInputException">Missing or bad data.</exception>
    /// <param name="resize">What an image folder's images of another size than the judges' get.</param>
    public static RealReference Load(JudgeSet judges, string dataFolder, int trainCount = 10_000, int seed = 0, Imaging.ResizeMode resize = Imaging.ResizeMode.Refuse)
    {
        int k = judges.Card.NumClasses;
        var test = ImageSet.From(judges.LoadData(dataFolder, Imaging.DataSplit.Test, resize));
        var trainData = judges.LoadData(dataFolder, Imaging.DataSplit.Train, resize);
        var order = Enumerable.Range(0, trainData.Count).ToArray();
        new Random(seed).Shuffle(order);
        var train = ImageSet.From(trainData, order.Take(Math.Min(trainCount, order.Length)).ToArray());
        var lgbm = judges.LightGbm is null ? null : ClassificationMetrics.Compute(test.Labels, judges.LightGbm.Score(test).Probabilities, k);
        return new RealReference(test, judges.Cnn.Score(test), lgbm, train, judges.Cnn.Score(train), k);
    }

    /// <summary>
    /// Frechet distance between the test set and <paramref name="n"/> training images, n / K of each class (the
    /// first ones of the random sample), the floor for a generated set of n images.
    /// </summary>
    public double FloorAt(int n)
    {
        if (_floors.TryGetValue(n, out double v)) return v;
        int k = TestCnn.NumClasses, perClass = Math.Max(1, n / k), f = TrainCnn.FeatureDim;
        var taken = new int[k];
        var rows = new List<int>();
        for (int i = 0; i < Train.Count; i++)
            if (taken[Train.Labels[i]] < perClass) { taken[Train.Labels[i]]++; rows.Add(i); }
        var feats = new float[rows.Count * f];
        for (int j = 0; j < rows.Count; j++) TrainCnn.FeatureRow(rows[j]).CopyTo(feats.AsSpan(j * f, f));
        return _floors[n] = FrechetDistance.Compute(GaussianStats.FromFeatures(feats, f), TestStats);
    }
}
