namespace Diffusion.Eval.Linalg;

/// <summary>Small dense matrix helpers in double precision (row-major <c>double[,]</c>).</summary>
public static class Matrix
{
    /// <summary>C = A B.</summary>
    public static double[,] Multiply(double[,] a, double[,] b)
    {
        int n = a.GetLength(0), k = a.GetLength(1), m = b.GetLength(1);
        if (b.GetLength(0) != k) throw new ArgumentException($"Cannot multiply {n}x{k} by {b.GetLength(0)}x{m}.");
        var c = new double[n, m];
        for (int i = 0; i < n; i++)
            for (int p = 0; p < k; p++)
            {
                double aip = a[i, p];
                if (aip == 0) continue;
                for (int j = 0; j < m; j++) c[i, j] += aip * b[p, j];
            }
        return c;
    }

    /// <summary>Trace of a square matrix.</summary>
    public static double Trace(double[,] a)
    {
        double t = 0;
        for (int i = 0; i < a.GetLength(0); i++) t += a[i, i];
        return t;
    }

    /// <summary>(A + A^T) / 2: removes rounding asymmetry before an eigen-decomposition.</summary>
    public static double[,] Symmetrize(double[,] a)
    {
        int n = a.GetLength(0);
        var s = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) s[i, j] = 0.5 * (a[i, j] + a[j, i]);
        return s;
    }

    /// <summary>
    /// Principal square root of a symmetric positive semi-definite matrix: V diag(sqrt(max(w, 0))) V^T from
    /// <see cref="SymmetricEigen"/>. Eigenvalues that rounding made slightly negative are treated as 0.
    /// </summary>
    public static double[,] SqrtPsd(double[,] a)
    {
        var (w, v) = SymmetricEigen.Decompose(Symmetrize(a));
        int n = w.Length;
        var r = new double[n, n];
        for (int k = 0; k < n; k++)
        {
            double s = Math.Sqrt(Math.Max(w[k], 0));
            if (s == 0) continue;
            for (int i = 0; i < n; i++)
            {
                double vik = v[i, k] * s;
                for (int j = 0; j < n; j++) r[i, j] += vik * v[j, k];
            }
        }
        return r;
    }

    /// <summary>Tr(sqrt(A)) of a symmetric PSD matrix: the sum of the square roots of its (clamped) eigenvalues.</summary>
    public static double TraceSqrtPsd(double[,] a)
        => SymmetricEigen.Decompose(Symmetrize(a)).Values.Sum(w => Math.Sqrt(Math.Max(w, 0)));
}
