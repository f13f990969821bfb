using Diffusion.Eval.Metrics;
using MathNet.Numerics.LinearAlgebra;

namespace Diffusion.Eval.Tests;

/// <summary>The PSD square roots behind the Frechet distance (MathNet.Numerics' symmetric eigen-decomposition).</summary>
public class MatrixRootTests
{
    private static Matrix<double> RandomPsd(int n, int seed)
    {
        var rng = new Random(seed);
        var b = Matrix<double>.Build.Dense(n, n, (_, _) => rng.NextDouble() * 2 - 1);
        return b * b.Transpose();
    }

    private static double MaxAbsDiff(Matrix<double> a, Matrix<double> b) => (a - b).Enumerate().Max(Math.Abs);

    [Theory]
    [InlineData(5, 1)]
    [InlineData(30, 4)]
    [InlineData(128, 3)]
    public void SqrtPsd_squares_back_to_the_matrix_and_is_symmetric(int n, int seed)
    {
        var a = RandomPsd(n, seed);
        var r = FrechetDistance.SqrtPsd(a);
        Assert.True(MaxAbsDiff(r * r, a) < 1e-9 * n, $"error {MaxAbsDiff(r * r, a)}");
        Assert.True(MaxAbsDiff(r, r.Transpose()) < 1e-12 * n);
        Assert.Equal(r.Trace(), FrechetDistance.TraceSqrtPsd(a), 9);
    }

    [Fact]
    public void SqrtPsd_of_a_known_matrix()
    {
        // [[5, 4], [4, 5]] = Q diag(1, 9) Q^T, so its root is Q diag(1, 3) Q^T = [[2, 1], [1, 2]].
        var a = Matrix<double>.Build.DenseOfArray(new double[,] { { 5, 4 }, { 4, 5 } });
        Assert.True(MaxAbsDiff(FrechetDistance.SqrtPsd(a), Matrix<double>.Build.DenseOfArray(new double[,] { { 2, 1 }, { 1, 2 } })) < 1e-12);
        Assert.Equal(4, FrechetDistance.TraceSqrtPsd(a), 12);
    }

    [Fact]
    public void SqrtPsd_clamps_rounding_negatives_of_a_singular_matrix()
    {
        // Rank 1: v v^T with v = (1, 2, 3); sqrt = v v^T / |v|.
        var v = Vector<double>.Build.DenseOfArray([1, 2, 3]);
        var r = FrechetDistance.SqrtPsd(v.OuterProduct(v));
        var expected = v.OuterProduct(v) / Math.Sqrt(14);
        Assert.True(MaxAbsDiff(r, expected) < 1e-10);
        Assert.DoesNotContain(r.Enumerate(), double.IsNaN);
    }

    [Fact]
    public void Frechet_rejects_non_finite_covariances()
    {
        var ok = new GaussianStats([0.0, 0.0], new double[,] { { 1, 0 }, { 0, 1 } }, 10);
        var bad = new GaussianStats([0.0, 0.0], new double[,] { { double.NaN, 0 }, { 0, 1 } }, 10);
        Assert.Throws<ArgumentException>(() => FrechetDistance.Compute(ok, bad));
        Assert.Throws<ArgumentException>(() => FrechetDistance.Compute(ok, new GaussianStats([0.0], new double[,] { { 1 } }, 10)));
    }
}
