using Diffusion.Runtime;
using Diffusion.Train.Data;
using Diffusion.Train.Optim;
using Diffusion.Train.Training;
using static TorchSharp.torch;

namespace Diffusion.Train.Tests;

public class ObjectiveTests
{
    [Theory]
    [InlineData(NoiseScheduleKind.Cosine, PredictionType.Epsilon)]
    [InlineData(NoiseScheduleKind.Linear, PredictionType.V)]
    [InlineData(NoiseScheduleKind.Quadratic, PredictionType.X0)]
    public void TorchQSampleAndTarget_MatchRuntimeMath(NoiseScheduleKind kind, PredictionType prediction)
    {
        var schedule = new NoiseSchedule(kind, 300);
        using var objective = new DiffusionObjective(schedule, prediction, 10, 0.1, CPU);
        random.manual_seed(1);
        int n = 6, size = 784;
        using var x0 = rand(n, 1, 28, 28) * 2 - 1;
        using var eps = randn(n, 1, 28, 28);
        long[] ts = [0, 1, 77, 150, 298, 299];
        using var t = tensor(ts);
        var xt = objective.QSample(x0, t, eps).data<float>().ToArray();
        var target = objective.Target(x0, t, eps).data<float>().ToArray();
        var x0a = x0.data<float>().ToArray(); var epsa = eps.data<float>().ToArray();
        var expXt = new float[size]; var expTarget = new float[size];
        for (int i = 0; i < n; i++)
        {
            var slice = new Range(i * size, (i + 1) * size);
            ForwardProcess.Sample(schedule, (int)ts[i], x0a[slice], epsa[slice], expXt);
            Prediction.Apply(Prediction.Target(prediction, schedule.AlphasCumprod[ts[i]]), x0a[slice], epsa[slice], expTarget);
            for (int k = 0; k < size; k++)
            {
                Assert.Equal(expXt[k], xt[i * size + k], 5e-6);
                Assert.Equal(expTarget[k], target[i * size + k], 5e-6);
            }
        }
    }

    [Theory]
    // alpha_bar 0.5: SNR 1 (below gamma); alpha_bar 0.9: SNR 9 (above gamma 5)
    [InlineData(PredictionType.Epsilon, 0.5, 1.0)]
    [InlineData(PredictionType.V, 0.5, 0.5)]
    [InlineData(PredictionType.X0, 0.5, 1.0)]
    [InlineData(PredictionType.Epsilon, 0.9, 5.0 / 9)]
    [InlineData(PredictionType.V, 0.9, 0.5)]
    [InlineData(PredictionType.X0, 0.9, 5.0)]
    public void MinSnrWeight_IsMinSnrGammaOverTheTargetsFactor(PredictionType prediction, double alphaBar, double expected)
    {
        Assert.Equal(expected, DiffusionObjective.MinSnrWeight(prediction, alphaBar, 5), 12);
    }

    [Theory]
    [InlineData(PredictionType.Epsilon)]
    [InlineData(PredictionType.V)]
    public void MinSnrLoss_WeightsEachImagesMse(PredictionType prediction)
    {
        var schedule = new NoiseSchedule(NoiseScheduleKind.Cosine, 100);
        using var weighted = new DiffusionObjective(schedule, prediction, 10, 0.0, CPU, minSnrGamma: 5);
        using var plain = new DiffusionObjective(schedule, prediction, 10, 0.0, CPU);
        random.manual_seed(3);
        int n = 8;
        using var x0 = rand(n, 3, 4, 4) * 2 - 1;
        using var y = zeros([n], int64);
        Tensor? t = null, xt = null;
        Tensor Model(Tensor x, Tensor tt, Tensor yy) { t = tt.clone(); xt = x.clone(); return x * 0.5; }
        random.manual_seed(4);
        double got = weighted.Loss(Model, x0, y).item<float>();
        // the same draws again: the per-image MSE against the target, weighted by MinSnrWeight(t)
        random.manual_seed(4);
        _ = rand(n); _ = randint(0, 100, [n], dtype: int64);
        using var eps = randn_like(x0);
        using var target = plain.Target(x0, t!, eps);
        var perImage = (xt! * 0.5 - target).square().mean([1, 2, 3]).data<float>().ToArray();
        var ts = t!.data<long>().ToArray();
        double expected = Enumerable.Range(0, n).Average(i => DiffusionObjective.MinSnrWeight(prediction, schedule.AlphasCumprod[ts[i]], 5) * perImage[i]);
        Assert.Equal(expected, got, 5e-6 * Math.Max(1, Math.Abs(expected)));
        Assert.NotEqual(plain.Loss(Model, x0, y).item<float>(), got);
    }

    [Fact]
    public void LabelDropout_ReplacesAboutTheRequestedFractionWithTheNullClass()
    {
        var schedule = new NoiseSchedule(NoiseScheduleKind.Cosine, 100);
        using var objective = new DiffusionObjective(schedule, PredictionType.Epsilon, 10, 0.25, CPU);
        random.manual_seed(2);
        int n = 4000, nulls = 0;
        using var x0 = zeros(n, 1, 2, 2);
        using var y = full([n], 3L);
        using var loss = objective.Loss((x, t, yIn) => { nulls = (int)(yIn == 10).sum().item<long>(); Assert.Equal(n - nulls, (int)(yIn == 3).sum().item<long>()); return x; }, x0, y);
        Assert.InRange(nulls / (double)n, 0.25 - 0.03, 0.25 + 0.03);
    }

    [Fact]
    public void LearningRate_WarmsUpLinearly_ThenDecaysByCosineToMin()
    {
        var s = new LearningRateSchedule(1e-3, 1e-5, 10, 110);
        Assert.Equal(1e-4, s.At(0), 12);
        Assert.Equal(1e-3, s.At(9), 12);
        Assert.Equal(1e-3, s.At(10), 12);
        Assert.Equal((1e-3 + 1e-5) / 2, s.At(60), 12);
        Assert.Equal(1e-5, s.At(110), 12);
        for (long i = 11; i <= 110; i++) Assert.True(s.At(i) < s.At(i - 1));
    }

    [Fact]
    public void EpochShuffle_IsASeededPermutationPerEpoch()
    {
        var a = new EpochShuffle(1000, 64, 7);
        var p0 = a.Permutation(0);
        Assert.Equal(Enumerable.Range(0, 1000).Select(i => (long)i), p0.Order());
        Assert.Equal(p0, new EpochShuffle(1000, 64, 7).Permutation(0));
        Assert.NotEqual(p0, a.Permutation(1));
        Assert.NotEqual(p0, new EpochShuffle(1000, 64, 8).Permutation(0));
        Assert.Equal(16, a.BatchesPerEpoch);
        Assert.Equal(1000 - 15 * 64, a.Batch(p0, 15).Length);
    }

    [Fact]
    public void RandomHorizontalFlip_MirrorsSomeImagesWholeAndLeavesTheRest_Seeded()
    {
        using var scope = NewDisposeScope();
        var images = arange(64 * 3 * 4 * 5, dtype: float32).reshape(64, 3, 4, 5);
        manual_seed(11);
        var a = ImageData.RandomHorizontalFlip(images);
        manual_seed(11);
        var b = ImageData.RandomHorizontalFlip(images);
        Assert.True(a.eq(b).all().item<bool>());                                       // the global generator decides
        Assert.Equal(images.shape, a.shape);
        int mirrored = 0;
        for (int i = 0; i < 64; i++)
        {
            bool same = a[i].eq(images[i]).all().item<bool>(), flipped = a[i].eq(images[i].flip(2)).all().item<bool>();
            Assert.True(same ^ flipped, $"image {i} is neither itself nor its mirror");
            if (flipped) mirrored++;
        }
        Assert.InRange(mirrored, 16, 48);                                            // p = 1/2 of 64 (±4 sd)
    }
}
