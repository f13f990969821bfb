using Diffusion.Eval.Metrics;

namespace Diffusion.Eval.Tests;

public class FrechetDistanceTests
{
    /// <summary>N samples of a Gaussian with the given means and standard deviations per dimension (Box-Muller).</summary>
    private static float[] Gaussian(int n, double[] mean, double[] std, int seed, double[,]? rotation = null)
    {
        var rng = new Random(seed);
        int d = mean.Length;
        var x = new float[n * d];
        var z = new double[d];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < d; j++)
                z[j] = std[j] * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
            for (int j = 0; j < d; j++)
            {
                double v = 0;
                if (rotation is null) v = z[j];
                else for (int k = 0; k < d; k++) v += rotation[j, k] * z[k];
                x[i * d + j] = (float)(mean[j] + v);
            }
        }
        return x;
    }

    [Fact]
    public void Identical_sets_have_distance_zero()
    {
        var x = Gaussian(500, [0, 1, 2, 3], [1, 2, 0.5, 1], seed: 1);
        Assert.Equal(0, FrechetDistance.Compute(x, x, 4), 8);
    }

    [Fact]
    public void One_dimensional_closed_form_from_exact_statistics()
    {
        // FD between N(m1, s1^2) and N(m2, s2^2) is (m1 - m2)^2 + (s1 - s2)^2.
        var a = new GaussianStats([1.0], new double[,] { { 4.0 } }, 10);
        var b = new GaussianStats([-2.0], new double[,] { { 0.25 } }, 10);
        Assert.Equal(9 + Math.Pow(2 - 0.5, 2), FrechetDistance.Compute(a, b), 12);
    }

    [Fact]
    public void Diagonal_gaussians_match_the_closed_form_from_samples()
    {
        double[] m1 = [0, 1, -1], s1 = [1, 2, 0.5], m2 = [0.5, 1, 0], s2 = [1.5, 1, 0.5];
        var x = Gaussian(200_000, m1, s1, seed: 2);
        var y = Gaussian(200_000, m2, s2, seed: 3);
        double expected = 0;
        for (int j = 0; j < 3; j++) expected += Math.Pow(m1[j] - m2[j], 2) + Math.Pow(s1[j] - s2[j], 2);
        // 3.0 here; sampling error with 2e5 samples is about 1e-2.
        Assert.Equal(expected, FrechetDistance.Compute(x, y, 3), 1);
    }

    [Fact]
    public void Rotated_full_covariance_against_the_closed_form()
    {
        // S1 = R diag(4, 1) R^T (a full covariance), S2 = I. Then S1^1/2 S2 S1^1/2 = S1, whose root has trace 2 + 1,
        // so FD = |m1 - m2|^2 + (4 + 1) + 2 - 2 * 3 = |m1 - m2|^2 + 1. The same holds for exact statistics.
        double th = 0.6;
        var r = new double[,] { { Math.Cos(th), -Math.Sin(th) }, { Math.Sin(th), Math.Cos(th) } };
        var s1 = new double[2, 2];
        double[] ev = [4, 1];
        for (int i = 0; i < 2; i++) for (int j = 0; j < 2; j++) for (int k = 0; k < 2; k++) s1[i, j] += r[i, k] * ev[k] * r[j, k];
        Assert.True(Math.Abs(s1[0, 1]) > 0.5); // really not diagonal
        var a = new GaussianStats([1.0, 2.0], s1, 10);
        var b = new GaussianStats([0.0, 0.0], new double[,] { { 1, 0 }, { 0, 1 } }, 10);
        Assert.Equal(5 + 1, FrechetDistance.Compute(a, b), 10);
        Assert.Equal(5 + 1, FrechetDistance.Compute(b, a), 10); // symmetric

        // Two full covariances, one a scaled copy of the other: S2 = c^2 S1 gives Tr(S1) (1 - c)^2.
        var c = new GaussianStats([0.0, 0.0], Scale(s1, 9), 10);
        Assert.Equal(5 * Math.Pow(1 - 3, 2), FrechetDistance.Compute(new GaussianStats([0.0, 0.0], s1, 10), c), 10);

        // And from samples drawn through the rotation.
        var x = Gaussian(200_000, [1, 2], [2, 1], seed: 4, rotation: r);
        var y = Gaussian(200_000, [0, 0], [1, 1], seed: 5);
        Assert.Equal(6, FrechetDistance.Compute(x, y, 2), 1);
    }

    private static double[,] Scale(double[,] a, double s)
    {
        var r = (double[,])a.Clone();
        for (int i = 0; i < r.GetLength(0); i++) for (int j = 0; j < r.GetLength(1); j++) r[i, j] *= s;
        return r;
    }

    [Fact]
    public void Covariance_is_unbiased()
    {
        // Two points 0 and 2: mean 1, unbiased variance ((-1)^2 + 1^2) / (2 - 1) = 2.
        var s = GaussianStats.FromFeatures([0f, 2f], 1);
        Assert.Equal(1, s.Mean[0]);
        Assert.Equal(2, s.Covariance[0, 0]);
    }

    [Fact]
    public void Distance_grows_with_the_mean_shift()
    {
        var x = Gaussian(5000, [0, 0], [1, 1], seed: 6);
        var near = Gaussian(5000, [0.5, 0], [1, 1], seed: 7);
        var far = Gaussian(5000, [2, 0], [1, 1], seed: 8);
        Assert.True(FrechetDistance.Compute(x, near, 2) < FrechetDistance.Compute(x, far, 2));
    }
}

public class ClassificationMetricsTests
{
    private static float[] OneHot(int[] classes, int k, float p = 1f)
    {
        var probs = new float[classes.Length * k];
        for (int i = 0; i < classes.Length; i++)
        {
            for (int c = 0; c < k; c++) probs[i * k + c] = (1 - p) / (k - 1);
            probs[i * k + classes[i]] = p;
        }
        return probs;
    }

    [Fact]
    public void Crafted_predictions_give_the_expected_matrix_and_accuracies()
    {
        int[] truth = [0, 0, 0, 1, 1, 2, 2, 2, 2, 2];
        int[] pred = [0, 0, 1, 1, 2, 2, 2, 2, 0, 2];
        var m = ClassificationMetrics.Compute(truth, OneHot(pred, 3, 0.8f), 3);
        Assert.Equal(10, m.Count);
        Assert.Equal(0.7, m.Accuracy, 12);
        Assert.Equal([2.0 / 3, 0.5, 0.8], m.PerClassAccuracy);
        Assert.Equal([3, 2, 5], m.PerClassCount);
        Assert.Equal([2, 1, 0], m.Confusion[0]);
        Assert.Equal([0, 1, 1], m.Confusion[1]);
        Assert.Equal([1, 0, 4], m.Confusion[2]);
        Assert.Equal(0.8, m.MeanConfidence, 6);
        // true-class probability: 0.8 when right, 0.1 when wrong
        Assert.Equal((7 * 0.8 + 3 * 0.1) / 10, m.MeanTrueClassProbability, 6);
    }

    [Fact]
    public void Absent_class_has_nan_accuracy_and_bad_labels_throw()
    {
        var m = ClassificationMetrics.Compute([0, 0], OneHot([0, 1], 3), 3);
        Assert.Equal(0.5, m.Accuracy);
        Assert.True(double.IsNaN(m.PerClassAccuracy[2]));
        Assert.Throws<ArgumentException>(() => ClassificationMetrics.Compute([3], OneHot([0], 3), 3));
        Assert.Throws<ArgumentException>(() => ClassificationMetrics.Compute([0, 1], OneHot([0], 3), 3));
    }

    [Fact]
    public void Ties_go_to_the_lowest_class()
    {
        var m = ClassificationMetrics.Compute([1], [0.5f, 0.5f], 2);
        Assert.Equal(0, m.Accuracy);
        Assert.Equal(1, m.Confusion[1][0]);
    }
}

public class DiversityTests
{
    [Fact]
    public void Mean_pairwise_distance_of_crafted_points()
    {
        // class 0: (0,0), (3,4), (0,4): distances 5, 4, 3 -> mean 4. class 1: one point -> NaN. class 2: collapsed -> 0.
        float[] f = [0, 0, 3, 4, 9, 9, 0, 4, 1, 1, 1, 1];
        int[] labels = [0, 0, 1, 0, 2, 2];
        var d = Diversity.PerClass(f, 2, labels, 3);
        Assert.Equal(4, d[0], 12);
        Assert.True(double.IsNaN(d[1]));
        Assert.Equal(0, d[2]);
        Assert.Equal(2, Diversity.Mean(d), 12);
    }
}

public class ImageQualityTests
{
    private static float[] RandomImage(int seed, int n = 28 * 28)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
    }

    [Fact]
    public void Identical_images_have_infinite_psnr_and_unit_ssim()
    {
        var x = RandomImage(1);
        Assert.Equal(double.PositiveInfinity, ImageQuality.Psnr(x, x));
        Assert.Equal(1.0, ImageQuality.Ssim(x, x, 28, 28), 12);
    }

    [Fact]
    public void Psnr_of_a_known_error()
    {
        // A constant error of 0.02 on range 2: MSE = 4e-4, PSNR = 10 log10(4 / 4e-4) = 40 dB.
        var x = RandomImage(2);
        var y = x.Select(v => v + 0.02f).ToArray();
        Assert.Equal(40, ImageQuality.Psnr(x, y), 4);
        // On the 0-255 scale with error 255 * 0.01 the same ratio holds.
        Assert.Equal(40, ImageQuality.Psnr([0f], [2.55f], 255), 6);
    }

    [Fact]
    public void Psnr_of_gaussian_noise_matches_its_variance()
    {
        // Noise of standard deviation 0.1 on range 2: PSNR ~ 10 log10(4 / 0.01) = 26.02 dB.
        var rng = new Random(3);
        int n = 200_000;
        var x = new float[n]; var y = new float[n];
        for (int i = 0; i < n; i++) y[i] = (float)(0.1 * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        Assert.Equal(10 * Math.Log10(400), ImageQuality.Psnr(x, y), 1);
    }

    [Fact]
    public void Ssim_of_constant_images_is_the_luminance_term()
    {
        // With no variance the contrast-structure factor is C2 / C2 = 1, leaving (2 a b + C1) / (a^2 + b^2 + C1).
        float a = 0.2f, b = -0.5f;
        var x = Enumerable.Repeat(a, 28 * 28).ToArray();
        var y = Enumerable.Repeat(b, 28 * 28).ToArray();
        double c1 = Math.Pow(0.01 * 2, 2);
        double expected = (2.0 * a * b + c1) / ((double)a * a + (double)b * b + c1);
        Assert.Equal(expected, ImageQuality.Ssim(x, y, 28, 28), 6);
    }

    [Fact]
    public void Ssim_falls_as_noise_grows_and_is_symmetric()
    {
        var x = RandomImage(4);
        var rng = new Random(5);
        double prev = 1;
        foreach (double s in new[] { 0.05, 0.2, 0.8 })
        {
            var y = x.Select(v => (float)(v + s * (rng.NextDouble() * 2 - 1))).ToArray();
            double q = ImageQuality.Ssim(x, y, 28, 28);
            Assert.True(q < prev, $"SSIM {q} at noise {s} should be below {prev}");
            Assert.Equal(q, ImageQuality.Ssim(y, x, 28, 28), 12);
            prev = q;
        }
        Assert.Throws<ArgumentException>(() => ImageQuality.Ssim(new float[100], new float[100], 10, 10));
    }
}
