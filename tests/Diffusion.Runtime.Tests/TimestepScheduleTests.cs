using Diffusion.Runtime.Samplers;

namespace Diffusion.Runtime.Tests;

// Golden arrays computed with numpy 1.24 from diffusers' formulas (DDIMScheduler.set_timesteps, steps_offset 0):
//   linspace: np.linspace(0, T - 1, n).round()[::-1]
//   leading:  (np.arange(0, n) * (T // n)).round()[::-1]
//   trailing: np.round(np.arange(T, 0, -T / n)) - 1
public class TimestepScheduleTests
{
    public static TheoryData<TimestepSpacing, int, int, int[]> Golden => new()
    {
        { TimestepSpacing.Linspace, 1000, 10, [999, 888, 777, 666, 555, 444, 333, 222, 111, 0] },
        { TimestepSpacing.Leading, 1000, 10, [900, 800, 700, 600, 500, 400, 300, 200, 100, 0] },
        { TimestepSpacing.Trailing, 1000, 10, [999, 899, 799, 699, 599, 499, 399, 299, 199, 99] },
        // 166.5 and 832.5 round half to even (numpy), to 166 and 832; 499.5 to 500
        { TimestepSpacing.Linspace, 1000, 7, [999, 832, 666, 500, 333, 166, 0] },
        { TimestepSpacing.Leading, 1000, 7, [852, 710, 568, 426, 284, 142, 0] },
        { TimestepSpacing.Trailing, 1000, 7, [999, 856, 713, 570, 428, 285, 142] },
        { TimestepSpacing.Linspace, 300, 7, [299, 249, 199, 150, 100, 50, 0] },
        { TimestepSpacing.Leading, 300, 7, [252, 210, 168, 126, 84, 42, 0] },
        // numpy's arange gives an 8th entry (-1) here: ceil(300 / (300 / 7)) = 8 in floating point; diffusers
        // would then visit t = -1. We keep exactly n entries.
        { TimestepSpacing.Trailing, 300, 7, [299, 256, 213, 170, 128, 85, 42] },
    };

    [Theory]
    [MemberData(nameof(Golden))]
    public void MatchesDiffusersFormulas(TimestepSpacing spacing, int T, int n, int[] expected)
        => Assert.Equal(expected, TimestepSchedule.Create(T, n, spacing));

    [Fact]
    public void Fifty_Of_1000_MatchDiffusers()
    {
        var lin = TimestepSchedule.Create(1000, 50, TimestepSpacing.Linspace);
        Assert.Equal([999, 979, 958, 938, 917, 897, 877, 856, 836, 816], lin[..10]);
        Assert.Equal([102, 82, 61, 41, 20, 0], lin[^6..]);
        var trail = TimestepSchedule.Create(1000, 50, TimestepSpacing.Trailing);
        Assert.Equal(19, trail[^1]);
        Assert.Equal(Enumerable.Range(0, 50).Select(i => 999 - 20 * i), trail);
        Assert.Equal(Enumerable.Range(0, 50).Select(i => 980 - 20 * i), TimestepSchedule.Create(1000, 50, TimestepSpacing.Leading));
    }

    [Theory]
    [InlineData(TimestepSpacing.Linspace)]
    [InlineData(TimestepSpacing.Leading)]
    [InlineData(TimestepSpacing.Trailing)]
    public void FullSteps_AreEveryTimestepDescending(TimestepSpacing spacing)
        => Assert.Equal(Enumerable.Range(0, 300).Reverse(), TimestepSchedule.Create(300, 300, spacing));

    [Theory]
    [InlineData(TimestepSpacing.Linspace)]
    [InlineData(TimestepSpacing.Leading)]
    [InlineData(TimestepSpacing.Trailing)]
    public void AnyN_StrictlyDescending_InRange(TimestepSpacing spacing)
    {
        foreach (int T in new[] { 1, 2, 10, 300, 1000 })
            for (int n = 1; n <= T; n += Math.Max(1, T / 37))
            {
                var ts = TimestepSchedule.Create(T, n, spacing);
                Assert.Equal(n, ts.Length);
                for (int i = 0; i < n; i++)
                {
                    Assert.InRange(ts[i], 0, T - 1);
                    if (i > 0) Assert.True(ts[i] < ts[i - 1], $"{spacing} T={T} n={n}: not descending at {i}");
                }
            }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    [InlineData(1001)]
    public void StepsOutsideOneToT_Throw(int n)
    {
        var e = Assert.Throws<InvalidInputException>(() => TimestepSchedule.Create(1000, n, TimestepSpacing.Trailing));
        Assert.Contains(n.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message);
        Assert.Contains("1000", e.Message);
    }
}

public class ImageDefaultsTests
{
    // Epsilon model at the first trailing step of the cosine schedule (alpha_bar ~ 0): a small error in eps is
    // divided by sqrt(alpha_bar). Image defaults clip predicted x0 to the pixel range, so the step stays bounded.
    [Fact]
    public void ImageDefaults_ClipPredictedX0_AtTheFirstTrailingStep()
    {
        Assert.True(SamplerOptions.Images.ClipSample);
        Assert.Same(SamplerOptions.Images, new Diffusion.Runtime.Generation.GenerationRequest { Labels = [0] }.SamplerOptions);
        var schedule = new NoiseSchedule(NoiseScheduleKind.Cosine, 1000);
        var x = Enumerable.Range(0, 64).Select(i => (float)Math.Sin(i)).ToArray();
        var eps = x.Select(v => v * 0.98f).ToArray(); // 2% error in the predicted noise
        var prev = new float[64]; var x0 = new float[64];
        var clipped = SamplerFactory.Create(SamplerKind.Ddim, schedule, PredictionType.Epsilon, SamplerOptions.Images);
        clipped.SetTimesteps(20);
        clipped.Step(eps, clipped.Timesteps[0], x, new float[64], prev, x0);
        Assert.All(x0, v => Assert.InRange(v, -1f, 1f));
        var raw = SamplerFactory.Create(SamplerKind.Ddim, schedule, PredictionType.Epsilon, SamplerOptions.Default);
        raw.SetTimesteps(20);
        raw.Step(eps, raw.Timesteps[0], x, new float[64], prev, x0);
        Assert.Contains(x0, v => Math.Abs(v) > 10f);
    }
}
