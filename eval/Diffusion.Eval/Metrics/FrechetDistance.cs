using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.LinearAlgebra.Factorization;

namespace Diffusion.Eval.Metrics;

/// <summary>Mean [F] and covariance [F, F] of N feature vectors.</summary>
/// <param name="Mean">Sample mean, [F].</param>
/// <param name="Covariance">Unbiased sample covariance (divides by N - 1, as numpy.cov and pytorch-fid), [F, F].</param>
/// <param name="Count">N.</param>
public sealed record GaussianStats(double[] Mean, double[,] Covariance, int Count)
{
    /// <summary>Feature width F.</summary>
    public int Dim => Mean.Length;

    /// <summary>Statistics of the rows of <paramref name="features"/> ([N * F], row-major), in double precision.</summary>
    /// <exception cref="ArgumentException">Fewer than 2 rows or a size mismatch.</exception>
    public static GaussianStats FromFeatures(ReadOnlySpan<float> features, int dim)
    {
        if (dim < 1 || features.Length % dim != 0) throw new ArgumentException($"{features.Length} features are not rows of F = {dim}.");
        int n = features.Length / dim;
        if (n < 2) throw new ArgumentException($"Need at least 2 feature vectors for a covariance; got {n}.");
        var mean = new double[dim];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < dim; j++) mean[j] += features[i * dim + j];
        for (int j = 0; j < dim; j++) mean[j] /= n;
        var cov = new double[dim, dim];
        var d = new double[dim];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < dim; j++) d[j] = features[i * dim + j] - mean[j];
            for (int a = 0; a < dim; a++)
            {
                double da = d[a];
                if (da == 0) continue;
                for (int b = a; b < dim; b++) cov[a, b] += da * d[b];
            }
        }
        for (int a = 0; a < dim; a++)
            for (int b = a; b < dim; b++) cov[b, a] = cov[a, b] /= n - 1;
        return new GaussianStats(mean, cov, n);
    }
}

/// <summary>
/// Frechet (2-Wasserstein) distance between the Gaussians fitted to two feature sets (Dowson &amp; Landau 1982;
/// the FID of Heusel et al. 2017 computed in this project's judge feature space instead of Inception's):
/// FD = |m1 - m2|^2 + Tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2).
/// The symmetric form S1^1/2 S2 S1^1/2 has the same eigenvalues as S1 S2 but stays symmetric PSD, so both
/// square roots come from MathNet.Numerics' symmetric eigen-decomposition with no complex arithmetic.
/// </summary>
public static class FrechetDistance
{
    /// <summary>Distance between two fitted Gaussians (squared units of the features; 0 for identical statistics).</summary>
    /// <exception cref="ArgumentException">Dimensions differ, or a covariance is not finite.</exception>
    public static double Compute(GaussianStats a, GaussianStats b)
    {
        if (a.Dim != b.Dim) throw new ArgumentException($"Feature widths differ: {a.Dim} and {b.Dim}.");
        double meanTerm = 0;
        for (int j = 0; j < a.Dim; j++) { double d = a.Mean[j] - b.Mean[j]; meanTerm += d * d; }
        var s1 = Dense(a.Covariance, nameof(a));
        var s2 = Dense(b.Covariance, nameof(b));
        var s1Half = SqrtPsd(s1);
        double traceCross = TraceSqrtPsd(s1Half * s2 * s1Half);
        double fd = meanTerm + s1.Trace() + s2.Trace() - 2 * traceCross;
        return Math.Max(fd, 0); // rounding can leave a tiny negative value for identical inputs
    }

    /// <summary>Distance between the Gaussians fitted to two feature sets ([N1 * F] and [N2 * F]).</summary>
    public static double Compute(ReadOnlySpan<float> features1, ReadOnlySpan<float> features2, int dim)
        => Compute(GaussianStats.FromFeatures(features1, dim), GaussianStats.FromFeatures(features2, dim));

    /// <summary>
    /// Principal square root of a symmetric positive semi-definite matrix, V diag(sqrt(max(w, 0))) V^T: eigenvalues
    /// that rounding made slightly negative count as 0.
    /// </summary>
    public static Matrix<double> SqrtPsd(Matrix<double> a)
    {
        var evd = Symmetrize(a).Evd(Symmetricity.Symmetric);
        var roots = evd.EigenValues.Map(w => Math.Sqrt(Math.Max(w.Real, 0)));
        return evd.EigenVectors * Matrix<double>.Build.DiagonalOfDiagonalVector(roots) * evd.EigenVectors.Transpose();
    }

    /// <summary>Tr(sqrt(A)) of a symmetric PSD matrix: the sum of the square roots of its (clamped) eigenvalues.</summary>
    public static double TraceSqrtPsd(Matrix<double> a) =>
        Symmetrize(a).Evd(Symmetricity.Symmetric).EigenValues.Sum(w => Math.Sqrt(Math.Max(w.Real, 0)));

    // (A + A^T) / 2: removes rounding asymmetry before the decomposition.
    private static Matrix<double> Symmetrize(Matrix<double> a) => (a + a.Transpose()) * 0.5;

    private static Matrix<double> Dense(double[,] covariance, string which)
    {
        foreach (double v in covariance)
            if (!double.IsFinite(v)) throw new ArgumentException($"Covariance of {which} has a non-finite element ({v}).");
        return Matrix<double>.Build.DenseOfArray(covariance);
    }
}
