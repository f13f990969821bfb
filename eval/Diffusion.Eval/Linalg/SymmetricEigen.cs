namespace Diffusion.Eval.Linalg;

/// <summary>
/// Eigen-decomposition of a real symmetric matrix A = V diag(w) V^T by the cyclic Jacobi method (Jacobi 1846;
/// Golub &amp; Van Loan, "Matrix Computations", 4th ed., sec. 8.5; rotation formulas of Rutishauser as in
/// Numerical Recipes sec. 11.1). Each rotation zeroes one off-diagonal element; sweeps repeat until the
/// off-diagonal norm is negligible. Quadratically convergent, accurate to working precision for small and
/// large eigenvalues alike, and simple enough to verify: fine for the 128 x 128 covariances used here.
/// </summary>
public static class SymmetricEigen
{
    /// <summary>Decomposes a symmetric matrix.</summary>
    /// <param name="a">Symmetric n x n matrix (only read; the upper triangle is assumed equal to the lower).</param>
    /// <param name="maxSweeps">Upper bound on sweeps (convergence is normally reached in under 15).</param>
    /// <returns>Eigenvalues [n] in ascending order and eigenvectors as the columns of V [n, n] (orthonormal).</returns>
    /// <exception cref="ArgumentException">Not square, not symmetric or not finite.</exception>
    /// <exception cref="InvalidOperationException">No convergence within <paramref name="maxSweeps"/>.</exception>
    public static (double[] Values, double[,] Vectors) Decompose(double[,] a, int maxSweeps = 100)
    {
        int n = a.GetLength(0);
        if (a.GetLength(1) != n) throw new ArgumentException($"Matrix is {n}x{a.GetLength(1)}; expected square.");
        double scale = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                if (!double.IsFinite(a[i, j])) throw new ArgumentException($"Matrix element [{i},{j}] = {a[i, j]} is not finite.");
                scale = Math.Max(scale, Math.Abs(a[i, j]));
            }
        for (int i = 0; i < n; i++)
            for (int j = 0; j < i; j++)
                if (Math.Abs(a[i, j] - a[j, i]) > 1e-9 * Math.Max(1, scale))
                    throw new ArgumentException($"Matrix is not symmetric: [{i},{j}] = {a[i, j]} but [{j},{i}] = {a[j, i]}.");

        var m = (double[,])a.Clone();
        var v = new double[n, n];
        for (int i = 0; i < n; i++) v[i, i] = 1;

        for (int sweep = 0; sweep < maxSweeps; sweep++)
        {
            double off = 0, diag = 0;
            for (int i = 0; i < n; i++)
            {
                diag += m[i, i] * m[i, i];
                for (int j = i + 1; j < n; j++) off += m[i, j] * m[i, j];
            }
            // Converged when the off-diagonal mass is negligible against the whole matrix (or exactly zero).
            if (off == 0 || off <= 1e-30 * (diag + 2 * off)) return Sorted(m, v, n);

            for (int p = 0; p < n - 1; p++)
                for (int q = p + 1; q < n; q++)
                {
                    double apq = m[p, q];
                    if (apq == 0) continue;
                    // theta = cot(2 phi) = (a_qq - a_pp) / (2 a_pq); t = tan(phi), the smaller root (|phi| <= pi/4).
                    double theta = (m[q, q] - m[p, p]) / (2 * apq);
                    double t = Math.Sign(theta == 0 ? 1 : theta) / (Math.Abs(theta) + Math.Sqrt(theta * theta + 1));
                    double c = 1 / Math.Sqrt(t * t + 1), s = t * c, tau = s / (1 + c);
                    m[p, p] -= t * apq;
                    m[q, q] += t * apq;
                    m[p, q] = m[q, p] = 0;
                    for (int r = 0; r < n; r++)
                    {
                        if (r != p && r != q)
                        {
                            double arp = m[r, p], arq = m[r, q];
                            m[r, p] = m[p, r] = arp - s * (arq + tau * arp);
                            m[r, q] = m[q, r] = arq + s * (arp - tau * arq);
                        }
                        double vrp = v[r, p], vrq = v[r, q];
                        v[r, p] = vrp - s * (vrq + tau * vrp);
                        v[r, q] = vrq + s * (vrp - tau * vrq);
                    }
                }
        }
        throw new InvalidOperationException($"Jacobi eigen-decomposition of a {n}x{n} matrix did not converge in {maxSweeps} sweeps.");
    }

    private static (double[], double[,]) Sorted(double[,] m, double[,] v, int n)
    {
        var order = Enumerable.Range(0, n).OrderBy(i => m[i, i]).ToArray();
        var values = new double[n];
        var vectors = new double[n, n];
        for (int k = 0; k < n; k++)
        {
            values[k] = m[order[k], order[k]];
            for (int r = 0; r < n; r++) vectors[r, k] = v[r, order[k]];
        }
        return (values, vectors);
    }
}
