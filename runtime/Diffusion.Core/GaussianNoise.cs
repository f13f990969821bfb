using System.Runtime.CompilerServices;

namespace Diffusion.Runtime;

/// <summary>
/// Counter-based standard normal noise: Philox4x32-10 (Salmon, Moraes, Dror &amp; Shaw 2011, "Parallel random
/// numbers: as easy as 1, 2, 3") followed by the Box-Muller transform. A value depends only on
/// (seed, sample index, draw, element), never on how samples are batched or which thread runs them, so the same
/// request gives the same image whatever the batch size. Draw 0 is the initial x_T; reverse step k (0-based) uses
/// draw k + 1. Layout: key = seed (64 bits), counter = (element / 4, draw, sample index low, sample index high);
/// each Philox block gives four 32-bit words = two Box-Muller pairs = four normals.
/// </summary>
public static class GaussianNoise
{
    private const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57; // Philox4x32 multipliers
    private const uint W0 = 0x9E3779B9, W1 = 0xBB67AE85; // Weyl key increments (golden ratio, sqrt(3) - 1)

    /// <summary>The Philox4x32-10 bijection of a 128-bit counter under a 64-bit key.</summary>
    public static (uint X0, uint X1, uint X2, uint X3) Philox4x32_10(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1)
    {
        for (int round = 0; round < 10; round++)
        {
            if (round > 0) { k0 += W0; k1 += W1; }
            ulong p0 = (ulong)M0 * c0, p1 = (ulong)M1 * c2;
            uint hi0 = (uint)(p0 >> 32), lo0 = (uint)p0, hi1 = (uint)(p1 >> 32), lo1 = (uint)p1;
            (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0);
        }
        return (c0, c1, c2, c3);
    }

    /// <summary>Fills <paramref name="dst"/> with N(0, 1) values for (seed, sample index, draw), element 0 first.</summary>
    public static void Fill(ulong seed, long sampleIndex, uint draw, Span<float> dst)
    {
        uint k0 = (uint)seed, k1 = (uint)(seed >> 32), c2 = (uint)sampleIndex, c3 = (uint)((ulong)sampleIndex >> 32);
        int n = dst.Length;
        for (int block = 0, e = 0; e < n; block++, e += 4)
        {
            var (x0, x1, x2, x3) = Philox4x32_10((uint)block, draw, c2, c3, k0, k1);
            BoxMuller(x0, x1, out double z0, out double z1);
            BoxMuller(x2, x3, out double z2, out double z3);
            dst[e] = (float)z0;
            if (e + 1 < n) dst[e + 1] = (float)z1;
            if (e + 2 < n) dst[e + 2] = (float)z2;
            if (e + 3 < n) dst[e + 3] = (float)z3;
        }
    }

    /// <summary>Fills one noise slice of <paramref name="sampleSize"/> elements per sample for samples firstIndex.. of a batch.</summary>
    public static void FillBatch(ulong seed, long firstIndex, uint draw, int sampleSize, Span<float> dst)
    {
        for (int j = 0, o = 0; o < dst.Length; j++, o += sampleSize)
            Fill(seed, firstIndex + j, draw, dst.Slice(o, sampleSize));
    }

    // Box-Muller (1958): u1, u2 uniform on (0, 1) (never 0: the half offset keeps log finite),
    // z0 = sqrt(-2 ln u1) cos(2 pi u2), z1 = sqrt(-2 ln u1) sin(2 pi u2)
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void BoxMuller(uint a, uint b, out double z0, out double z1)
    {
        const double inv = 1.0 / 4294967296.0;
        double u1 = (a + 0.5) * inv, u2 = (b + 0.5) * inv;
        double r = Math.Sqrt(-2.0 * Math.Log(u1));
        (double sin, double cos) = Math.SinCos(2.0 * Math.PI * u2);
        z0 = r * cos; z1 = r * sin;
    }
}
