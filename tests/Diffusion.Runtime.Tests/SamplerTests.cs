using Diffusion.Runtime.Samplers;

namespace Diffusion.Runtime.Tests;

public class SamplerTests
{
    private static readonly NoiseSchedule Linear1000 = new(NoiseScheduleKind.Linear, 1000);
    private static readonly NoiseSchedule Cosine300 = new(NoiseScheduleKind.Cosine, 300);

    private static float[] Noise(ulong seed, int n) { var z = new float[n]; GaussianNoise.Fill(seed, 0, 0, z); return z; }

    // An oracle that knows x0 returns the true noise eps = (x_t - sqrt(ab) x0) / sqrt(1 - ab) (or the matching x0 / v).
    // DDIM with eta 0 (and DPM-Solver++, whose update only combines exact x0 predictions) then lands exactly on x0
    // from any start t, any number of steps and any spacing.
    [Theory]
    [InlineData(SamplerKind.Ddim, PredictionType.Epsilon)]
    [InlineData(SamplerKind.Ddim, PredictionType.X0)]
    [InlineData(SamplerKind.Ddim, PredictionType.V)]
    [InlineData(SamplerKind.DpmSolverPlusPlus, PredictionType.Epsilon)]
    [InlineData(SamplerKind.DpmSolverPlusPlus, PredictionType.V)]
    [InlineData(SamplerKind.DpmSolverPlusPlus3M, PredictionType.Epsilon)]
    [InlineData(SamplerKind.DpmSolverPlusPlus3M, PredictionType.V)]
    public void TrueNoiseOracle_RecoversX0_FromAnyT(SamplerKind kind, PredictionType type)
    {
        foreach (var schedule in new[] { Linear1000, Cosine300 })
            foreach (var spacing in Enum.GetValues<TimestepSpacing>())
                foreach (int steps in new[] { 1, 2, 7, 50, schedule.T })
                {
                    var sampler = SamplerFactory.Create(kind, schedule, type, new SamplerOptions { Spacing = spacing });
                    sampler.SetTimesteps(steps);
                    int tStart = sampler.Timesteps[0];
                    var x0 = Noise(11, 64).Select(v => Math.Clamp(v / 2, -1f, 1f)).ToArray();
                    var eps = Noise(12, 64);
                    var xt = new float[64];
                    for (int k = 0; k < 64; k++) xt[k] = (float)(schedule.SqrtAlphasCumprod[tStart] * x0[k] + schedule.SqrtOneMinusAlphasCumprod[tStart] * eps[k]);
                    var result = Oracles.Sample(sampler, steps, xt, (t, x, output) =>
                    {
                        double ab = schedule.AlphasCumprod[t];
                        for (int k = 0; k < x.Length; k++)
                            output[k] = Oracles.Output(type, ab, x[k], (x[k] - Math.Sqrt(ab) * x0[k]) / Math.Sqrt(1 - ab));
                    });
                    // float32 rounding of the model output is amplified by 1 / sqrt(alpha_bar) when x0 is recovered
                    // from an epsilon prediction (cosine's alpha_bar_{T-1} is about 1e-8): allow for it
                    double tol = 2e-4 + 3e-7 / schedule.SqrtAlphasCumprod[tStart];
                    for (int k = 0; k < 64; k++)
                        Assert.True(Math.Abs(result[k] - x0[k]) < tol, $"{kind} {type} T={schedule.T} {spacing} n={steps} t0={tStart}: x0[{k}] = {x0[k]}, got {result[k]}");
                }
    }

    // Data N(m, s^2) has the exact eps* (Oracles.GaussianEps); samples produced with it must have mean m and
    // variance s^2 up to sampling error (20480 values: SE 0.0035 on the mean, 0.0025 on the variance). The step
    // counts are those where the solver's own discretisation error is below that (FewSteps_* covers the rest).
    [Theory]
    [InlineData(SamplerKind.Ddpm, PredictionType.Epsilon, 1000)]
    [InlineData(SamplerKind.Ddpm, PredictionType.X0, 1000)]
    [InlineData(SamplerKind.Ddpm, PredictionType.V, 1000)]
    [InlineData(SamplerKind.Ddim, PredictionType.Epsilon, 1000)]
    [InlineData(SamplerKind.Ddim, PredictionType.X0, 1000)]
    [InlineData(SamplerKind.Ddim, PredictionType.V, 1000)]
    [InlineData(SamplerKind.DpmSolverPlusPlus, PredictionType.Epsilon, 25)]
    [InlineData(SamplerKind.DpmSolverPlusPlus, PredictionType.X0, 25)]
    [InlineData(SamplerKind.DpmSolverPlusPlus, PredictionType.V, 25)]
    [InlineData(SamplerKind.DpmSolverPlusPlus, PredictionType.Epsilon, 50)]
    [InlineData(SamplerKind.DpmSolverPlusPlus3M, PredictionType.Epsilon, 50)]
    [InlineData(SamplerKind.DpmSolverPlusPlus3M, PredictionType.V, 50)]
    public void GaussianData_ExactScore_MatchesMeanAndVariance(SamplerKind kind, PredictionType type, int steps)
    {
        var (mean, var) = SampleGaussian(kind, type, steps, SamplerOptions.Default);
        Assert.InRange(mean, M - 0.015, M + 0.015);
        Assert.InRange(var, S * S - 0.012, S * S + 0.012);
    }

    // With few steps DDIM and DDPM are biased (variance too small: DDIM's deterministic map is a contraction,
    // k^2 Var(x_t) <= Var(x_prev) by Cauchy-Schwarz). For Gaussian data every step is affine in x_t, so the exact
    // mean and variance after n steps follow from propagating (mean, var) through each step's affine map
    // x' = K x + C + sigma z, written here from Song et al. eq. 12 and Ho et al. eq. 7 in double precision.
    [Theory]
    [InlineData(SamplerKind.Ddim, 10)]
    [InlineData(SamplerKind.Ddim, 100)]
    [InlineData(SamplerKind.Ddpm, 10)]
    [InlineData(SamplerKind.Ddpm, 250)]
    public void FewSteps_MatchExactDiscreteMoments(SamplerKind kind, int steps)
    {
        var sch = Linear1000;
        var ts = TimestepSchedule.Create(1000, steps, TimestepSpacing.Trailing);
        double mean = 0, var = 1;
        for (int i = 0; i < ts.Length; i++)
        {
            double a = sch.AlphasCumprod[ts[i]], ap = i + 1 < ts.Length ? sch.AlphasCumprod[ts[i + 1]] : 1.0;
            double Map(double x)
            {
                double eps = Oracles.GaussianEps(a, x, M, S), x0 = (x - Math.Sqrt(1 - a) * eps) / Math.Sqrt(a);
                if (kind == SamplerKind.Ddim) return Math.Sqrt(ap) * x0 + Math.Sqrt(1 - ap) * eps;
                double beta = 1 - a / ap;
                return Math.Sqrt(ap) * beta / (1 - a) * x0 + Math.Sqrt(1 - beta) * (1 - ap) / (1 - a) * x;
            }
            double c = Map(0), k = Map(1) - c;
            double noiseVar = kind == SamplerKind.Ddpm ? (1 - ap) / (1 - a) * (1 - a / ap) : 0;
            (mean, var) = (k * mean + c, k * k * var + noiseVar);
        }
        Assert.True(var < S * S - 0.01, $"expected a visible bias at {steps} steps, exact variance {var}");
        var (m, v) = SampleGaussian(kind, PredictionType.Epsilon, steps, SamplerOptions.Default);
        Assert.InRange(m, mean - 0.015, mean + 0.015);
        Assert.InRange(v, var * 0.955, var * 1.045);
    }

    private const double M = 0.3, S = 0.5;

    private static (double Mean, double Var) SampleGaussian(SamplerKind kind, PredictionType type, int steps, SamplerOptions options)
    {
        const int n = 20480;
        var schedule = Linear1000;
        var sampler = SamplerFactory.Create(kind, schedule, type, options);
        var x = Oracles.Sample(sampler, steps, Noise(77, n), (t, xs, output) =>
        {
            double ab = schedule.AlphasCumprod[t];
            for (int k = 0; k < xs.Length; k++) output[k] = Oracles.Output(type, ab, xs[k], Oracles.GaussianEps(ab, xs[k], M, S));
        }, seed: 78);
        double mean = x.Average(v => (double)v);
        return (mean, x.Sum(v => (v - mean) * (v - mean)) / (n - 1));
    }

    // A sampler that ignored the model would give N(0, 1)-like output; make sure the Gaussian test can fail.
    [Fact]
    public void GaussianTest_CanFail_WithAWrongScore()
    {
        var schedule = Linear1000;
        var sampler = SamplerFactory.Create(SamplerKind.Ddim, schedule, PredictionType.Epsilon);
        var x = Oracles.Sample(sampler, 100, Noise(77, 20480), (t, xs, output) =>
        {
            double ab = schedule.AlphasCumprod[t];
            for (int k = 0; k < xs.Length; k++) output[k] = (float)Oracles.GaussianEps(ab, xs[k], 0.3, 0.6); // wrong s
        });
        double mean = x.Average(v => (double)v), var = x.Sum(v => (v - mean) * (v - mean)) / (x.Length - 1);
        Assert.False(var > 0.25 - 0.012 && var < 0.25 + 0.012, $"variance {var} should be near 0.36, not 0.25");
    }

    // With T steps DDPM is Ho et al. Alg. 2: x_{t-1} = mu~(x0, x_t) + sqrt(beta~_t) z with the schedule's own
    // posterior coefficients (eq. 7), computed here from NoiseSchedule's arrays rather than the sampler's code.
    [Fact]
    public void Ddpm_FullSteps_IsHoAlgorithm2()
    {
        var sch = Cosine300;
        var ddpm = new DdpmSampler(sch, PredictionType.Epsilon);
        ddpm.SetTimesteps(sch.T);
        var x = Noise(1, 32); var eps = Noise(2, 32); var z = Noise(3, 32);
        var prev = new float[32]; var x0 = new float[32];
        foreach (int t in new[] { 299, 150, 1, 0 })
        {
            ddpm.Step(eps, t, x, z, prev, x0, 32);
            for (int k = 0; k < 32; k++)
            {
                double x0k = (x[k] - sch.SqrtOneMinusAlphasCumprod[t] * eps[k]) / sch.SqrtAlphasCumprod[t];
                double mu = sch.PosteriorMeanCoef1[t] * x0k + sch.PosteriorMeanCoef2[t] * x[k];
                double expected = mu + (t > 0 ? Math.Sqrt(sch.PosteriorVariance[t]) * z[k] : 0);
                Assert.Equal(expected, prev[k], 3e-4);
            }
        }
    }

    // Song et al. (sec. 4.1): DDIM with eta = 1 is DDPM; with skipped steps this holds with DDPM's betas recomputed
    // from the alpha_bar of the chosen timesteps, as diffusers does.
    [Theory]
    [InlineData(1000)]
    [InlineData(37)]
    [InlineData(5)]
    public void DdimEtaOne_EqualsDdpm(int steps)
    {
        foreach (var type in Enum.GetValues<PredictionType>())
        {
            var opts = new SamplerOptions { Spacing = TimestepSpacing.Linspace };
            var ddpm = new DdpmSampler(Linear1000, type, opts);
            var ddim = new DdimSampler(Linear1000, type, opts with { Eta = 1 });
            ddpm.SetTimesteps(steps); ddim.SetTimesteps(steps);
            Assert.Equal(ddpm.Timesteps, ddim.Timesteps);
            var x = Noise(4, 50); var output = Noise(5, 50).Select(v => v * 0.5f).ToArray(); var z = Noise(6, 50);
            var a = new float[50]; var b = new float[50]; var x0a = new float[50]; var x0b = new float[50];
            foreach (int t in ddpm.Timesteps.Where((_, i) => i % Math.Max(1, steps / 6) == 0 || i == steps - 1))
            {
                ddpm.Step(output, t, x, z, a, x0a, 50);
                ddim.Step(output, t, x, z, b, x0b, 50);
                for (int k = 0; k < 50; k++) Assert.Equal(a[k], b[k], 2e-4);
                Assert.Equal(x0a, x0b);
            }
        }
    }

    // Every sampler's last step goes to alpha_bar = 1 and returns the predicted x0.
    [Theory]
    [InlineData(SamplerKind.Ddpm)]
    [InlineData(SamplerKind.Ddim)]
    [InlineData(SamplerKind.DpmSolverPlusPlus)]
    public void LastStep_ReturnsPredictedX0(SamplerKind kind)
    {
        var sampler = SamplerFactory.Create(kind, Linear1000, PredictionType.V);
        sampler.SetTimesteps(10);
        var x = Noise(7, 40); var output = Noise(8, 40); var z = Noise(9, 40);
        var prev = new float[40]; var x0 = new float[40];
        if (kind == SamplerKind.DpmSolverPlusPlus)
            for (int i = 0; i < 9; i++) sampler.Step(output, sampler.Timesteps[i], x, z, prev, x0, 40);
        sampler.Step(output, sampler.Timesteps[^1], x, z, prev, x0, 40);
        for (int k = 0; k < 40; k++) Assert.Equal(x0[k], prev[k], 1e-6);
    }

    // DPM-Solver++(2M)'s second-order update, written out from Lu et al. Alg. 2 in double precision.
    [Fact]
    public void DpmSolver_SecondStep_MatchesAlgorithm2()
    {
        var sch = Linear1000;
        var solver = new DpmSolverPlusPlusSampler(sch, PredictionType.X0, new SamplerOptions { Spacing = TimestepSpacing.Leading });
        solver.SetTimesteps(10); // 900, 800, ...
        var x = Noise(1, 16); var m0 = Noise(2, 16); var m1 = Noise(3, 16);
        var prev = new float[16]; var x0 = new float[16]; var prev2 = new float[16];
        solver.Step(m0, 900, x, [], prev, x0, 16);
        solver.Step(m1, 800, prev, [], prev2, x0, 16);
        double L(int t) { double ab = sch.AlphasCumprod[t]; return Math.Log(Math.Sqrt(ab) / Math.Sqrt(1 - ab)); }
        double h = L(700) - L(800), h0 = L(800) - L(900), r = h0 / h;
        double alphaT = Math.Sqrt(sch.AlphasCumprod[700]), sT = Math.Sqrt(1 - sch.AlphasCumprod[700]), sS = Math.Sqrt(1 - sch.AlphasCumprod[800]);
        for (int k = 0; k < 16; k++)
        {
            double d = (1 + 1 / (2 * r)) * m1[k] - 1 / (2 * r) * m0[k];
            double expected = sT / sS * prev[k] - alphaT * (Math.Exp(-h) - 1) * d;
            Assert.Equal(expected, prev2[k], 1e-4);
        }
    }

    // DPM-Solver++(3M)'s third-order update, written out in double precision in the form of Lu et al. (appendix) and
    // diffusers' multistep_dpm_solver_third_order_update (D1, D2 from the three latest x0 predictions).
    [Fact]
    public void DpmSolver3M_ThirdStep_MatchesTheThirdOrderUpdate()
    {
        var sch = Linear1000;
        var solver = new DpmSolverPlusPlusSampler(sch, PredictionType.X0, new SamplerOptions { Spacing = TimestepSpacing.Leading }, order: 3);
        solver.SetTimesteps(20); // 950, 900, 850, 800, ...
        Assert.Equal([950, 900, 850, 800], solver.Timesteps.Take(4));
        var x = Noise(1, 16); var m0 = Noise(2, 16); var m1 = Noise(3, 16); var m2 = Noise(4, 16);
        var p1 = new float[16]; var p2 = new float[16]; var p3 = new float[16]; var x0 = new float[16];
        solver.Step(m0, 950, x, [], p1, x0, 16);
        solver.Step(m1, 900, p1, [], p2, x0, 16);
        solver.Step(m2, 850, p2, [], p3, x0, 16);
        double L(int t) { double ab = sch.AlphasCumprod[t]; return Math.Log(Math.Sqrt(ab) / Math.Sqrt(1 - ab)); }
        double h = L(800) - L(850), h0 = L(850) - L(900), h1 = L(900) - L(950), r0 = h0 / h, r1 = h1 / h;
        double alphaT = Math.Sqrt(sch.AlphasCumprod[800]), sT = Math.Sqrt(1 - sch.AlphasCumprod[800]), sS = Math.Sqrt(1 - sch.AlphasCumprod[850]);
        for (int k = 0; k < 16; k++)
        {
            // latest first: m2 is the x0 prediction at s0 = 850, m1 at s1 = 900, m0 at s2 = 950
            double d10 = (m2[k] - m1[k]) / r0, d11 = (m1[k] - m0[k]) / r1;
            double d1 = d10 + r0 / (r0 + r1) * (d10 - d11), d2 = (d10 - d11) / (r0 + r1);
            double expected = sT / sS * p2[k] - alphaT * (Math.Exp(-h) - 1) * m2[k]
                + alphaT * ((Math.Exp(-h) - 1) / h + 1) * d1 - alphaT * ((Math.Exp(-h) - 1 + h) / (h * h) - 0.5) * d2;
            Assert.Equal(expected, p3[k], 1e-4);
        }
    }

    // The order warms up with the history and drops at the end: first order first and last, at most second order the
    // step before the last below 15 steps (diffusers' lower_order_final); 3M's first two steps are 2M's.
    [Fact]
    public void DpmSolver3M_Orders_WarmUpAndLowerAtTheEnd()
    {
        var s3 = new DpmSolverPlusPlusSampler(Linear1000, PredictionType.Epsilon, order: 3);
        var s2 = new DpmSolverPlusPlusSampler(Linear1000, PredictionType.Epsilon);
        Assert.Equal([1, 2, 3, 3, 3, 3, 3, 3, 2, 1], Enumerable.Range(0, 10).Select(i => s3.OrderAt(i, 10)));
        Assert.Equal([1, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 1], Enumerable.Range(0, 20).Select(i => s3.OrderAt(i, 20)));
        Assert.Equal([1, 2, 2, 2, 1], Enumerable.Range(0, 5).Select(i => s2.OrderAt(i, 5)));
        Assert.Equal([1], Enumerable.Range(0, 1).Select(i => s3.OrderAt(i, 1)));
        s3.SetTimesteps(10); s2.SetTimesteps(10);
        var x = Noise(5, 32); var out1 = Noise(6, 32); var out2 = Noise(7, 32);
        var a = new float[32]; var b = new float[32]; var x0 = new float[32];
        s3.Step(out1, s3.Timesteps[0], x, [], a, x0, 32); s2.Step(out1, s2.Timesteps[0], x, [], b, x0, 32);
        Assert.Equal(b, a);
        s3.Step(out2, s3.Timesteps[1], a, [], a, x0, 32); s2.Step(out2, s2.Timesteps[1], b, [], b, x0, 32);
        Assert.Equal(b, a);
        Assert.Throws<InvalidInputException>(() => new DpmSolverPlusPlusSampler(Linear1000, PredictionType.Epsilon, order: 4));
    }

    // Higher order pays off where the ODE is smooth: on Gaussian data with the exact score, from the same x_T, 3M's
    // samples after 8 and 10 steps lie closer to the converged solution (DDIM at T = 1000 steps) than 2M's.
    [Theory]
    [InlineData(8)]
    [InlineData(10)]
    public void DpmSolver3M_IsCloserToTheConvergedOde_Than2M(int steps)
    {
        var schedule = Linear1000;
        var xT = Noise(91, 2048);
        float[] Solve(ISampler sampler, int n) => Oracles.Sample(sampler, n, (float[])xT.Clone(), (t, xs, output) =>
        {
            double ab = schedule.AlphasCumprod[t];
            for (int k = 0; k < xs.Length; k++) output[k] = Oracles.Output(PredictionType.Epsilon, ab, xs[k], Oracles.GaussianEps(ab, xs[k], M, S));
        }, seed: 92);
        var noClip = SamplerOptions.Default with { ClipSample = false };
        var reference = Solve(SamplerFactory.Create(SamplerKind.Ddim, schedule, PredictionType.Epsilon, noClip), schedule.T);
        double Rms(float[] x) => Math.Sqrt(x.Zip(reference, (a, b) => (double)(a - b) * (a - b)).Average());
        double e2 = Rms(Solve(SamplerFactory.Create(SamplerKind.DpmSolverPlusPlus, schedule, PredictionType.Epsilon, noClip), steps));
        double e3 = Rms(Solve(SamplerFactory.Create(SamplerKind.DpmSolverPlusPlus3M, schedule, PredictionType.Epsilon, noClip), steps));
        Assert.True(e3 < e2, $"{steps} steps: RMS distance to the converged ODE solution 3M {e3:E3}, 2M {e2:E3}");
    }

    [Fact]
    public void DpmSolver_OutOfOrderStep_Throws()
    {
        var solver = new DpmSolverPlusPlusSampler(Linear1000, PredictionType.Epsilon);
        solver.SetTimesteps(10);
        var b = new float[4];
        solver.Step(b, solver.Timesteps[0], b, [], new float[4], new float[4], 4);
        Assert.Throws<InvalidOperationException>(() => solver.Step(b, solver.Timesteps[2], b, [], new float[4], new float[4], 4));
    }

    [Fact]
    public void Factory_RejectsEtaOutsideDdim_AndUnknownNames()
    {
        Assert.Throws<InvalidInputException>(() => SamplerFactory.Create(SamplerKind.Ddpm, Linear1000, PredictionType.Epsilon, new SamplerOptions { Eta = 0.5 }));
        Assert.Throws<InvalidInputException>(() => SamplerFactory.Create(SamplerKind.DpmSolverPlusPlus, Linear1000, PredictionType.Epsilon, new SamplerOptions { Eta = 1 }));
        Assert.Throws<InvalidInputException>(() => SamplerFactory.Create(SamplerKind.Ddim, Linear1000, PredictionType.Epsilon, new SamplerOptions { Eta = double.NaN }));
        Assert.Throws<InvalidInputException>(() => SamplerFactory.Parse("euler"));
        Assert.Equal(SamplerKind.DpmSolverPlusPlus, SamplerFactory.Parse("DPM++"));
        foreach (var k in Enum.GetValues<SamplerKind>()) Assert.Equal(k, SamplerFactory.Parse(SamplerFactory.Name(k)));
    }

    // Imagen's dynamic thresholding, worked by hand: |x| = 0, 0.5, ..., 4.5 (10 values), ratio 0.9:
    // position 0.9 * 9 = 8.1 -> 4.0 + 0.1 * 0.5 = 4.05; x = clamp(x, -4.05, 4.05) / 4.05.
    [Fact]
    public void DynamicThreshold_WorkedExample()
    {
        var x = Enumerable.Range(0, 10).Select(i => (i % 2 == 0 ? 1 : -1) * i * 0.5f).ToArray();
        var expected = x.Select(v => Math.Clamp(v, -4.05f, 4.05f) / 4.05f).ToArray();
        SamplerBase.DynamicThreshold(x, 0.9, double.PositiveInfinity, new float[10]);
        for (int k = 0; k < 10; k++) Assert.Equal(expected[k], x[k], 1e-6);
        // a sample already within [-1, 1] has s clamped up to 1: unchanged
        var small = new[] { 0.1f, -0.9f, 0.5f };
        SamplerBase.DynamicThreshold(small, 0.995, double.PositiveInfinity, new float[3]);
        Assert.Equal(new[] { 0.1f, -0.9f, 0.5f }, small);
        // sample_max_value caps s: with max 2, values are clamped to [-2, 2] and halved
        var big = new[] { 10f, -3f, 1f, 0f };
        SamplerBase.DynamicThreshold(big, 1.0, 2.0, new float[4]);
        Assert.Equal(new[] { 1f, -1f, 0.5f, 0f }, big);
    }

    // Thresholding is per sample: one loud sample does not rescale a quiet one in the same batch.
    [Fact]
    public void Thresholding_IsPerSample_AndClippingBounds()
    {
        var opts = new SamplerOptions { Thresholding = true, Spacing = TimestepSpacing.Leading };
        var ddim = new DdimSampler(Linear1000, PredictionType.X0, opts);
        ddim.SetTimesteps(10);
        float[] modelOut = [5f, -4f, 3f, 0.2f, 0.1f, -0.3f, 0.5f, 0.4f];
        var prev = new float[8]; var x0 = new float[8];
        ddim.Step(modelOut, 900, new float[8], [], prev, x0, sampleSize: 4);
        Assert.Equal(new[] { 0.1f, -0.3f, 0.5f, 0.4f }, x0[4..]);
        Assert.All(x0[..4], v => Assert.InRange(v, -1f, 1f));
        Assert.Equal(1f, x0[0], 1e-6);
        Assert.Throws<ArgumentException>(() => ddim.Step(modelOut, 900, new float[8], [], prev, x0, sampleSize: 0));

        var clip = new DdimSampler(Linear1000, PredictionType.X0, clipSample: true);
        clip.SetTimesteps(10);
        clip.Step(modelOut, 900, new float[8], [], prev, x0);
        Assert.Equal(new[] { 1f, -1f, 1f, 0.2f }, x0[..4]);
    }
}
