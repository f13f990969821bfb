using Diffusion.Runtime;

namespace Diffusion.Runtime.Tests;

public class NoiseScheduleTests
{
    [Theory]
    [InlineData(NoiseScheduleKind.Linear, 1000)]
    [InlineData(NoiseScheduleKind.Cosine, 1000)]
    [InlineData(NoiseScheduleKind.Quadratic, 1000)]
    [InlineData(NoiseScheduleKind.Linear, 300)]
    [InlineData(NoiseScheduleKind.Cosine, 300)]
    [InlineData(NoiseScheduleKind.Quadratic, 50)]
    [InlineData(NoiseScheduleKind.Cosine, 1)]
    public void AlphasCumprod_IsStrictlyDecreasing_InUnitInterval(NoiseScheduleKind kind, int T)
    {
        var s = new NoiseSchedule(kind, T);
        Assert.Equal(T, s.Betas.Length);
        for (int i = 0; i < T; i++)
        {
            Assert.InRange(s.Betas[i], 1e-12, 0.999);
            Assert.InRange(s.AlphasCumprod[i], 0.0, 1.0);
            if (i > 0) Assert.True(s.AlphasCumprod[i] < s.AlphasCumprod[i - 1]);
            Assert.Equal(1.0, s.SqrtAlphasCumprod[i] * s.SqrtAlphasCumprod[i] + s.SqrtOneMinusAlphasCumprod[i] * s.SqrtOneMinusAlphasCumprod[i], 12);
        }
        Assert.Equal(1.0, s.AlphasCumprodPrev[0]);
    }

    [Fact]
    public void Linear_EndsAtDdpmValues()
    {
        var s = new NoiseSchedule(NoiseScheduleKind.Linear, 1000);
        Assert.Equal(1e-4, s.Betas[0], 15);
        Assert.Equal(0.02, s.Betas[^1], 15);
        // alpha_bar_T for the DDPM schedule is about 4.04e-5 (Ho et al.: "L_T ~ 1e-5 bits per dim")
        Assert.InRange(s.AlphasCumprod[^1], 3.9e-5, 4.2e-5);
    }

    [Fact]
    public void Cosine_SpotValues_WorkedByHand()
    {
        // f(u) = cos^2(((u + s)/(1 + s)) pi/2), s = 0.008; beta_1 = 1 - f(1/T)/f(0).
        // T = 4: f(0) = cos^2(0.008/1.008 * pi/2) = cos^2(0.0124666) = 0.99984460...
        //        f(1/4) = cos^2(0.258/1.008 * pi/2) = cos^2(0.4020491) = 0.85031...
        var s = new NoiseSchedule(NoiseScheduleKind.Cosine, 4);
        double f0 = Math.Pow(Math.Cos(0.008 / 1.008 * Math.PI / 2), 2);
        Assert.Equal(0.9998446, f0, 6);
        double f1 = Math.Pow(Math.Cos(0.258 / 1.008 * Math.PI / 2), 2);
        Assert.Equal(1 - f1 / f0, s.Betas[0], 12);
        // alpha_bar_t = f(t/T) / f(0) exactly (telescoping product)
        Assert.Equal(f1 / f0, s.AlphasCumprod[0], 12);
        // the last beta hits the 0.999 clip: f(1) = cos^2(pi/2) = 0
        Assert.Equal(0.999, s.Betas[3], 12);
    }

    [Fact]
    public void PosteriorVariance_MatchesEquation7()
    {
        var s = new NoiseSchedule(NoiseScheduleKind.Linear, 100);
        Assert.Equal(0.0, s.PosteriorVariance[0], 15);
        for (int t = 1; t < 100; t++)
        {
            double expected = s.Betas[t] * (1 - s.AlphasCumprod[t - 1]) / (1 - s.AlphasCumprod[t]);
            Assert.Equal(expected, s.PosteriorVariance[t], 15);
            Assert.True(s.PosteriorVariance[t] <= s.Betas[t]);
        }
    }

    [Fact]
    public void InvalidArguments_Throw()
    {
        Assert.Throws<InvalidInputException>(() => new NoiseSchedule(NoiseScheduleKind.Linear, 0));
        var e = Assert.Throws<InvalidInputException>(() => NoiseSchedule.ParseKind("sigmoid"));
        Assert.Contains("sigmoid", e.Message);
    }

    [Theory]
    [InlineData(PredictionType.Epsilon)]
    [InlineData(PredictionType.X0)]
    [InlineData(PredictionType.V)]
    public void Prediction_ConversionsRoundTrip(PredictionType type)
    {
        var rng = new Random(1);
        foreach (double ab in new[] { 0.999, 0.7, 0.3, 0.01 })
        {
            var x0 = Enumerable.Range(0, 32).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            var eps = Enumerable.Range(0, 32).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            var xt = new float[32]; var target = new float[32]; var x0b = new float[32]; var epsb = new float[32];
            Prediction.Apply(new(Math.Sqrt(ab), Math.Sqrt(1 - ab)), x0, eps, xt);
            Prediction.Apply(Prediction.Target(type, ab), x0, eps, target);
            Prediction.Apply(Prediction.ToX0(type, ab), xt, target, x0b);
            Prediction.Apply(Prediction.ToEpsilon(type, ab), xt, target, epsb);
            for (int i = 0; i < 32; i++)
            {
                Assert.Equal(x0[i], x0b[i], 2e-3);
                Assert.Equal(eps[i], epsb[i], 2e-3);
            }
        }
    }
}

public class ForwardProcessTests
{
    /// <summary>
    /// q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I) (Ho et al. eq. 4): the empirical mean and variance of
    /// many QSample draws for a fixed x_0 match, within 5 standard errors.
    /// </summary>
    [Theory]
    [InlineData(NoiseScheduleKind.Linear, 1000)]
    [InlineData(NoiseScheduleKind.Cosine, 1000)]
    [InlineData(NoiseScheduleKind.Quadratic, 300)]
    public void QSample_HasTheForwardProcessMeanAndVariance(NoiseScheduleKind kind, int T)
    {
        var schedule = new NoiseSchedule(kind, T);
        var rng = new Random(1234);
        float[] x0 = [-1f, -0.3f, 0.5f, 1f];
        const int draws = 20000;
        foreach (int t in new[] { 0, T / 10, T / 2, T - 1 })
        {
            var sum = new double[x0.Length]; var sumSq = new double[x0.Length];
            var eps = new float[x0.Length]; var xt = new float[x0.Length];
            for (int d = 0; d < draws; d++)
            {
                for (int i = 0; i < eps.Length; i++) eps[i] = Gaussian(rng);
                ForwardProcess.Sample(schedule, t, x0, eps, xt);
                for (int i = 0; i < xt.Length; i++) { sum[i] += xt[i]; sumSq[i] += (double)xt[i] * xt[i]; }
            }
            double ab = schedule.AlphasCumprod[t], variance = 1 - ab;
            for (int i = 0; i < x0.Length; i++)
            {
                double mean = sum[i] / draws, var = sumSq[i] / draws - mean * mean;
                double meanSe = Math.Sqrt(variance / draws), varSe = variance * Math.Sqrt(2.0 / draws);
                Assert.InRange(mean, Math.Sqrt(ab) * x0[i] - 5 * meanSe, Math.Sqrt(ab) * x0[i] + 5 * meanSe);
                Assert.InRange(var, variance - 5 * varSe - 1e-9, variance + 5 * varSe + 1e-9);
            }
        }
    }

    private static float Gaussian(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return (float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
    }

    // ScheduleSpec: one record for configs, checkpoints and metadata; its metadata form round-trips and equality
    // means "the same schedule".
    [Theory]
    [InlineData(NoiseScheduleKind.Linear, 1000, 1e-4, 0.02, 0.008)]
    [InlineData(NoiseScheduleKind.Quadratic, 300, 2e-4, 0.03, 0.008)]
    [InlineData(NoiseScheduleKind.Cosine, 1000, 1e-4, 0.02, 0.01)]
    public void ScheduleSpec_RoundTripsThroughMetadata_AndBuildsTheSameSchedule(NoiseScheduleKind kind, int T, double b0, double b1, double s)
    {
        var spec = new ScheduleSpec(kind, T, b0, b1, s);
        var back = ScheduleSpec.FromMetadata(kind, T, spec.MetadataParameters);
        Assert.Equal(spec, back);
        var direct = new NoiseSchedule(kind, T, b0, b1, s);
        Assert.Equal(direct.AlphasCumprod, spec.Create().AlphasCumprod);
        Assert.Equal(spec, direct.Spec);
        var meta = Oracles.Metadata(T: T).WithSchedule(spec);
        var props = meta.ToProperties();
        Assert.Equal(spec, ModelMetadata.FromProperties(props, "test").ScheduleSpec);
        Assert.NotEqual(spec, new ScheduleSpec(kind, T + 1, b0, b1, s));
    }

    [Fact]
    public void ScheduleSpec_IgnoresTheParametersItsKindDoesNotUse()
    {
        Assert.Equal(new ScheduleSpec(NoiseScheduleKind.Cosine, 1000), new ScheduleSpec(NoiseScheduleKind.Cosine, 1000, betaStart: 0.5, betaEnd: 0.6));
        Assert.Equal(new ScheduleSpec(NoiseScheduleKind.Linear, 1000), new ScheduleSpec(NoiseScheduleKind.Linear, 1000, cosineS: 0.5));
        Assert.NotEqual(new ScheduleSpec(NoiseScheduleKind.Cosine, 1000), new ScheduleSpec(NoiseScheduleKind.Cosine, 1000, cosineS: 0.01));
        Assert.Equal(["max_beta", "s"], new ScheduleSpec(NoiseScheduleKind.Cosine, 10).MetadataParameters.Keys);
        Assert.Equal(["beta_end", "beta_start"], new ScheduleSpec(NoiseScheduleKind.Linear, 10).MetadataParameters.Keys);
    }
}
