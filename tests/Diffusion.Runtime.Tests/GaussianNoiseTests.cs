namespace Diffusion.Runtime.Tests;

public class GaussianNoiseTests
{
    // Random123's published known-answer vectors for Philox4x32-10 (kat_vectors).
    [Theory]
    [InlineData(0u, 0u, 0u, 0u, 0u, 0u, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u)]
    [InlineData(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu)]
    [InlineData(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u, 0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u)]
    public void Philox_MatchesKnownAnswers(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1, uint e0, uint e1, uint e2, uint e3)
        => Assert.Equal((e0, e1, e2, e3), GaussianNoise.Philox4x32_10(c0, c1, c2, c3, k0, k1));

    [Fact]
    public void SameKey_SameValues_DifferentKeys_Differ()
    {
        var a = new float[785]; var b = new float[785]; var c = new float[785]; var d = new float[785]; var e = new float[785];
        GaussianNoise.Fill(42, 7, 3, a);
        GaussianNoise.Fill(42, 7, 3, b);
        GaussianNoise.Fill(43, 7, 3, c);
        GaussianNoise.Fill(42, 8, 3, d);
        GaussianNoise.Fill(42, 7, 4, e);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c); Assert.NotEqual(a, d); Assert.NotEqual(a, e);
        // a prefix is the same whatever the length asked for
        var shortA = new float[10];
        GaussianNoise.Fill(42, 7, 3, shortA);
        Assert.Equal(a[..10], shortA);
    }

    [Fact]
    public void FillBatch_EqualsPerSampleFill()
    {
        const int size = 13;
        var batch = new float[5 * size];
        GaussianNoise.FillBatch(9, 100, 2, size, batch);
        for (int j = 0; j < 5; j++)
        {
            var one = new float[size];
            GaussianNoise.Fill(9, 100 + j, 2, one);
            Assert.Equal(one, batch[(j * size)..((j + 1) * size)]);
        }
    }

    [Fact]
    public void Moments_AreStandardNormal()
    {
        const int n = 200_000;
        var z = new float[n];
        GaussianNoise.Fill(1234, 0, 0, z);
        double mean = z.Average(v => (double)v);
        double var = z.Sum(v => (v - mean) * (v - mean)) / (n - 1);
        double m3 = z.Sum(v => Math.Pow(v - mean, 3)) / n, m4 = z.Sum(v => Math.Pow(v - mean, 4)) / n;
        // standard errors: mean 1/sqrt(n) = 0.0022, variance sqrt(2/n) = 0.0032, skew sqrt(6/n), kurtosis sqrt(24/n)
        Assert.InRange(mean, -0.01, 0.01);
        Assert.InRange(var, 0.985, 1.015);
        Assert.InRange(m3, -0.03, 0.03);
        Assert.InRange(m4, 3 - 0.06, 3 + 0.06);
        // tail mass beyond 2 sigma: 4.55%
        double tail = z.Count(v => Math.Abs(v) > 2) / (double)n;
        Assert.InRange(tail, 0.0425, 0.0485);
        // neighbouring samples are uncorrelated
        var w = new float[n];
        GaussianNoise.Fill(1234, 1, 0, w);
        double corr = Enumerable.Range(0, n).Sum(i => (double)z[i] * w[i]) / n;
        Assert.InRange(corr, -0.01, 0.01);
    }
}
