using Diffusion.Runtime;
using Diffusion.Runtime.Samplers;
using Diffusion.Train.Training;
using static TorchSharp.torch;

namespace Diffusion.Train.Tests;

public class DistillationTests
{
    private static readonly NoiseSchedule Cosine = new(NoiseScheduleKind.Cosine, 1000);

    [Theory]
    [InlineData(PredictionType.Epsilon)]
    [InlineData(PredictionType.V)]
    [InlineData(PredictionType.X0)]
    public void DdimStep_is_the_runtimes_DDIM_at_eta_0_with_clipping(PredictionType prediction)
    {
        using var d = new GuidanceDistillation(Cosine, prediction, prediction, 1, 5, CPU);
        var sampler = new DdimSampler(Cosine, prediction, eta: 0, spacing: TimestepSpacing.Trailing, clipSample: true);
        sampler.SetTimesteps(4);
        random.manual_seed(5);
        int size = 3 * 4 * 4;                                // one sample [3, 4, 4]
        for (int i = 0; i < 4; i++)
        {
            int t = sampler.Timesteps[i], tPrev = i + 1 < 4 ? sampler.Timesteps[i + 1] : -1;
            using var z = randn(1, 3, 4, 4);
            using var output = randn(1, 3, 4, 4);
            var (zPrev, x0) = d.DdimStep(output, tensor(new long[] { t }), tensor(new long[] { tPrev }), z);
            var want = new float[size]; var wantX0 = new float[size];
            sampler.Step(output.data<float>().ToArray(), t, z.data<float>().ToArray(), new float[size], want, wantX0);
            var got = zPrev.data<float>().ToArray(); var gotX0 = x0.data<float>().ToArray();
            for (int k = 0; k < size; k++)
            {
                Assert.Equal(want[k], got[k], 2e-4 * Math.Max(1, Math.Abs(want[k])));
                Assert.Equal(wantX0[k], gotX0[k], 2e-4 * Math.Max(1, Math.Abs(wantX0[k])));
            }
        }
    }

    [Fact]
    public void Timesteps_nest_for_halvings_and_refuse_step_counts_that_do_not()
    {
        using var d = new GuidanceDistillation(Cosine, PredictionType.Epsilon, PredictionType.Epsilon, 1, 5, CPU);
        var (student, teacher) = d.Timesteps(4);
        Assert.Equal([999, 749, 499, 249], student);
        Assert.Equal([999, 874, 749, 624, 499, 374, 249, 124], teacher);
        foreach (int n in new[] { 1, 2, 8, 16, 32, 64 }) d.Timesteps(n);
        // trailing timesteps round half to even: 48 steps put 936 where 96 steps have 937
        var e = Assert.Throws<InvalidInputException>(() => d.Timesteps(48));
        Assert.Contains("is not on the 96-step teacher's grid", e.Message);
        Assert.Throws<InvalidInputException>(() => d.Timesteps(0));
        Assert.Throws<InvalidInputException>(() => new GuidanceDistillation(Cosine, PredictionType.V, PredictionType.V, 5, 1, CPU));
    }

    // A teacher that knows x0 (its prediction is exact) lands every DDIM step on alpha x0 + sigma eps with the same
    // eps: the one-step target is x0 itself.
    [Theory]
    [InlineData(PredictionType.Epsilon, 1)]   // (at t = 999 an epsilon model's x0 = (z - sigma eps) / alpha amplifies float32 rounding 300x)
    [InlineData(PredictionType.V, 0)]
    [InlineData(PredictionType.X0, 3)]
    public void HalvingTarget_of_an_exact_teacher_is_the_data(PredictionType prediction, int stepIndex)
    {
        using var d = new GuidanceDistillation(Cosine, prediction, prediction, 1, 5, CPU);
        random.manual_seed(6);
        using var x0 = rand(3, 1, 4, 4) * 2 - 1;
        using var eps = randn_like(x0);
        int t = d.Timesteps(4).Student[stepIndex];
        double ab = Cosine.AlphasCumprod[t];
        using var z = Math.Sqrt(ab) * x0 + Math.Sqrt(1 - ab) * eps;
        GuidedPrediction exact = (zt, tt, y, s) =>
        {
            // the prediction that makes x0 exact at this z_t: from ToX0 = A z + B out, out = (x0 - A z) / B, or x0 itself
            // the exact prediction at z_t: eps = (z_t - alpha x0) / sigma, v = alpha eps - sigma x0, or x0 itself
            var ab2 = tensor(tt.data<long>().ToArray().Select(v => (float)Cosine.AlphasCumprod[v]).ToArray()).view(-1, 1, 1, 1);
            var (a, sg) = (ab2.sqrt(), (1 - ab2).sqrt());
            var e = (zt - a * x0) / sg;
            return prediction switch { PredictionType.X0 => x0.clone(), PredictionType.Epsilon => e, _ => a * e - sg * x0 };
        };
        using var idx = full([3], (long)stepIndex);
        using var target = d.HalvingTarget(exact, 4, z, idx, zeros([3], int64), ones(3));
        Assert.True((target - x0).abs().max().item<float>() < 2e-4f, $"max |x~ - x0| = {(target - x0).abs().max().item<float>()}");
    }

    // Whatever the teacher does, one DDIM step of the student with x0 = x~ lands where the teacher's two steps land.
    [Fact]
    public void One_student_step_with_the_target_lands_on_the_teachers_two_steps()
    {
        using var d = new GuidanceDistillation(Cosine, PredictionType.V, PredictionType.V, 1, 5, CPU);
        random.manual_seed(7);
        using var w = randn(1, 2, 1, 1) * 0.3;
        GuidedPrediction teacher = (zt, tt, y, s) => zt.tanh() * w + s.view(-1, 1, 1, 1) * 0.1 * zt;
        using var z = randn(4, 2, 4, 4);
        long[] steps = [0, 1, 2, 3];
        using var idx = tensor(steps);
        using var scale = tensor(new float[] { 1, 2, 3, 4 });
        using var y = zeros([4], int64);
        using var target = d.HalvingTarget(teacher, 4, z, idx, y, scale);
        var (student, teacherGrid) = d.Timesteps(4);
        for (int i = 0; i < 4; i++)
        {
            using var zi = z[i].unsqueeze(0);
            using var si = scale[i].unsqueeze(0);
            long t = student[i], tMid = teacherGrid[2 * i + 1], tNext = i + 1 < 4 ? student[i + 1] : -1;
            var (zMid, _) = d.DdimStep(teacher(zi, tensor(new[] { t }), y.narrow(0, 0, 1), si), tensor(new[] { t }), tensor(new[] { tMid }), zi);
            var (zNext, _) = d.DdimStep(teacher(zMid, tensor(new[] { tMid }), y.narrow(0, 0, 1), si), tensor(new[] { tMid }), tensor(new[] { tNext }), zMid);
            // one DDIM step from z_t whose x0 is x~: alpha_next x~ + sigma_next (z_t - alpha_t x~) / sigma_t
            double abT = Cosine.AlphasCumprod[t], abN = tNext < 0 ? 1 : Cosine.AlphasCumprod[tNext];
            var xt = target[i].unsqueeze(0);
            var landed = Math.Sqrt(abN) * xt + Math.Sqrt(1 - abN) * (zi - Math.Sqrt(abT) * xt) / Math.Sqrt(1 - abT);
            float err = (landed - zNext).abs().max().item<float>();
            Assert.True(err < 1e-4f, $"step {i}: max |student step - teacher's two steps| = {err}");
        }
    }

    [Fact]
    public void Guided_teacher_is_uncond_plus_scale_times_the_difference_and_stage_one_loss_is_zero_for_it()
    {
        random.manual_seed(8);
        using var w = randn(11, 1, 1, 1);
        // a "model" whose output depends on the label: x * w[y]
        Func<Tensor, Tensor, Tensor, Tensor> model = (x, t, y) => x * w.index_select(0, y);
        var guided = GuidanceDistillation.Guided(model, nullClass: 10);
        using var x = randn(3, 1, 2, 2);
        using var y = tensor(new long[] { 0, 4, 9 });
        using var s = tensor(new float[] { 0, 1, 3.5f });
        using var t = zeros([3], int64);
        var got = guided(x, t, y, s).data<float>().ToArray();
        var xs = x.data<float>().ToArray(); var ws = w.data<float>().ToArray();
        long[] ys = [0, 4, 9]; float[] ss = [0, 1, 3.5f];
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 4; k++)
            {
                float cond = xs[i * 4 + k] * ws[ys[i]], uncond = xs[i * 4 + k] * ws[10];
                Assert.Equal(uncond + ss[i] * (cond - uncond), got[i * 4 + k], 1e-5);
            }
    }

    // An epsilon teacher that knows the data: its eps makes x0 exact (inside [-1, 1], so clipping leaves it). A student
    // with the same target that outputs the same loses nothing, one 0.1 off loses 0.01; a v student is taught
    // v = alpha eps - sigma x0.
    [Theory]
    [InlineData(PredictionType.Epsilon)]
    [InlineData(PredictionType.V)]
    public void Stage_one_teaches_the_teachers_output_in_the_students_target(PredictionType studentPrediction)
    {
        using var d = new GuidanceDistillation(Cosine, PredictionType.Epsilon, studentPrediction, 1, 8, CPU);
        random.manual_seed(9);
        using var x0 = rand(5, 1, 2, 2) * 1.8 - 0.9;
        using var labels = tensor(new long[] { 1, 2, 3, 4, 5 });
        Tensor Coef(Tensor t, Func<double, double> f) => tensor(t.data<long>().ToArray().Select(v => (float)f(Cosine.AlphasCumprod[v])).ToArray()).view(-1, 1, 1, 1);
        GuidedPrediction teacher = (z, t, y, s) => (z - Coef(t, Math.Sqrt) * x0) / Coef(t, ab => Math.Sqrt(1 - ab));
        GuidedPrediction exact = studentPrediction == PredictionType.Epsilon ? teacher
            : (z, t, y, s) => Coef(t, Math.Sqrt) * teacher(z, t, y, s) - Coef(t, ab => Math.Sqrt(1 - ab)) * x0;
        random.manual_seed(10);
        float loss = d.GuidanceLoss(exact, teacher, x0, labels).item<float>();
        Assert.True(loss < 1e-6f, $"loss of the exact student {loss}");
        GuidedPrediction off = (a, b, c, e) => exact(a, b, c, e) + 0.1f;
        random.manual_seed(10);
        Assert.Equal(0.01f, d.GuidanceLoss(off, teacher, x0, labels).item<float>(), 2e-4);
    }
}
