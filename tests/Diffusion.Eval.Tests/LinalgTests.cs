using Diffusion.Eval.Linalg;

namespace Diffusion.Eval.Tests;

public class LinalgTests
{
    private static double[,] RandomSymmetric(int n, int seed, bool psd)
    {
        var rng = new Random(seed);
        var b = new double[n, n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) b[i, j] = rng.NextDouble() * 2 - 1;
        if (psd) return Matrix.Multiply(b, Transpose(b));
        return Matrix.Symmetrize(b);
    }

    private static double[,] Transpose(double[,] a)
    {
        int n = a.GetLength(0), m = a.GetLength(1);
        var t = new double[m, n];
        for (int i = 0; i < n; i++) for (int j = 0; j < m; j++) t[j, i] = a[i, j];
        return t;
    }

    private static double MaxAbsDiff(double[,] a, double[,] b)
    {
        double m = 0;
        for (int i = 0; i < a.GetLength(0); i++) for (int j = 0; j < a.GetLength(1); j++) m = Math.Max(m, Math.Abs(a[i, j] - b[i, j]));
        return m;
    }

    [Fact]
    public void Eigen_of_a_2x2_matches_the_closed_form()
    {
        // [[2, 1], [1, 2]] has eigenvalues 1 and 3 with eigenvectors (1, -1)/sqrt2 and (1, 1)/sqrt2.
        var (w, v) = SymmetricEigen.Decompose(new double[,] { { 2, 1 }, { 1, 2 } });
        Assert.Equal(1, w[0], 12);
        Assert.Equal(3, w[1], 12);
        Assert.Equal(1 / Math.Sqrt(2), Math.Abs(v[0, 1]), 12);
        Assert.Equal(v[0, 1], v[1, 1], 12);
        Assert.Equal(v[0, 0], -v[1, 0], 12);
    }

    [Fact]
    public void Eigen_of_a_diagonal_matrix_is_its_sorted_diagonal()
    {
        var (w, _) = SymmetricEigen.Decompose(new double[,] { { 5, 0, 0 }, { 0, -2, 0 }, { 0, 0, 0.5 } });
        Assert.Equal([-2, 0.5, 5], w);
    }

    [Theory]
    [InlineData(5, 1)]
    [InlineData(40, 2)]
    [InlineData(128, 3)]
    public void Eigen_reconstructs_the_matrix_with_orthonormal_vectors(int n, int seed)
    {
        var a = RandomSymmetric(n, seed, psd: false);
        var (w, v) = SymmetricEigen.Decompose(a);
        var d = new double[n, n];
        for (int i = 0; i < n; i++) d[i, i] = w[i];
        var rebuilt = Matrix.Multiply(Matrix.Multiply(v, d), Transpose(v));
        Assert.True(MaxAbsDiff(a, rebuilt) < 1e-10 * n, $"reconstruction error {MaxAbsDiff(a, rebuilt)}");
        var identity = new double[n, n];
        for (int i = 0; i < n; i++) identity[i, i] = 1;
        Assert.True(MaxAbsDiff(Matrix.Multiply(Transpose(v), v), identity) < 1e-12 * n);
        for (int i = 1; i < n; i++) Assert.True(w[i - 1] <= w[i]);
        // The trace is the sum of the eigenvalues.
        Assert.Equal(Matrix.Trace(a), w.Sum(), 9);
    }

    [Fact]
    public void Eigen_rejects_non_symmetric_and_non_finite_input()
    {
        Assert.Throws<ArgumentException>(() => SymmetricEigen.Decompose(new double[,] { { 1, 2 }, { 3, 4 } }));
        Assert.Throws<ArgumentException>(() => SymmetricEigen.Decompose(new double[,] { { double.NaN, 0 }, { 0, 1 } }));
        Assert.Throws<ArgumentException>(() => SymmetricEigen.Decompose(new double[2, 3]));
    }

    [Fact]
    public void SqrtPsd_squares_back_to_the_matrix()
    {
        var a = RandomSymmetric(30, 4, psd: true);
        var r = Matrix.SqrtPsd(a);
        Assert.True(MaxAbsDiff(Matrix.Multiply(r, r), a) < 1e-9, $"error {MaxAbsDiff(Matrix.Multiply(r, r), a)}");
        Assert.True(MaxAbsDiff(r, Transpose(r)) < 1e-12);
        // A PSD square root has non-negative eigenvalues.
        Assert.True(SymmetricEigen.Decompose(Matrix.Symmetrize(r)).Values[0] > -1e-9);
    }

    [Fact]
    public void SqrtPsd_of_a_known_matrix()
    {
        // [[5, 4], [4, 5]] = Q diag(1, 9) Q^T, so its root is Q diag(1, 3) Q^T = [[2, 1], [1, 2]].
        var r = Matrix.SqrtPsd(new double[,] { { 5, 4 }, { 4, 5 } });
        Assert.True(MaxAbsDiff(r, new double[,] { { 2, 1 }, { 1, 2 } }) < 1e-12);
        Assert.Equal(4, Matrix.TraceSqrtPsd(new double[,] { { 5, 4 }, { 4, 5 } }), 12);
    }

    [Fact]
    public void SqrtPsd_clamps_rounding_negatives_of_a_singular_matrix()
    {
        // Rank 1: v v^T with v = (1, 2, 3); sqrt = v v^T / |v|.
        double[] v = [1, 2, 3];
        var a = new double[3, 3];
        for (int i = 0; i < 3; i++) for (int j = 0; j < 3; j++) a[i, j] = v[i] * v[j];
        var r = Matrix.SqrtPsd(a);
        double norm = Math.Sqrt(14);
        for (int i = 0; i < 3; i++) for (int j = 0; j < 3; j++) Assert.Equal(v[i] * v[j] / norm, r[i, j], 10);
    }
}
