using Diffusion.Eval.Metrics;
using Diffusion.Runtime;
using Diffusion.Runtime.Generation;

namespace Diffusion.Eval.Evaluation;

/// <summary>One-step denoising quality at one timestep.</summary>
/// <param name="Timestep">Model timestep t (0-based).</param>
/// <param name="AlphaBar">alpha_bar_t.</param>
/// <param name="Count">Images.</param>
/// <param name="Psnr">Mean PSNR (dB) of the predicted x0 against the clean image.</param>
/// <param name="Ssim">Mean SSIM of the predicted x0.</param>
/// <param name="NoisyPsnr">Mean PSNR of the rescaled noisy input x_t / sqrt(alpha_bar_t) (the baseline the model improves on).</param>
/// <param name="NoisySsim">Mean SSIM of that baseline.</param>
public sealed record DenoisingResult(int Timestep, double AlphaBar, int Count, double Psnr, double Ssim, double NoisyPsnr, double NoisySsim);

/// <summary>
/// Denoising quality of a model: real images x0 are noised to x_t = sqrt(ab) x0 + sqrt(1 - ab) eps (Ho et al.
/// eq. 4) with counter-based noise, the model predicts once (conditional, true label), the prediction is turned
/// into x0 with <see cref="Prediction.ToX0"/>, clamped to [-1, 1] and compared with x0 (PSNR, SSIM).
/// </summary>
public static class Denoising
{
    /// <summary>Timesteps T/10, T/4 and T/2 (0-based model timesteps).</summary>
    public static int[] DefaultTimesteps(int T) => [T / 10, T / 4, T / 2];

    /// <summary>Evaluates <paramref name="denoiser"/> (plain or guided; guided runs at scale 1) on <paramref name="real"/>.</summary>
    /// <exception cref="InvalidInputException">A timestep outside 0..T-1 or image shapes that differ from the model's.</exception>
    public static DenoisingResult[] Evaluate(IDenoiser denoiser, ImageSet real, IReadOnlyList<int> timesteps, ulong seed, int batchSize = 64)
    {
        var meta = denoiser.Metadata;
        var schedule = meta.CreateSchedule();
        if (real.Height != meta.Height || real.Width != meta.Width || real.Channels != meta.Channels)
            throw new InvalidInputException($"{real.Source}: [{real.Channels},{real.Height},{real.Width}] images; the model takes [{meta.Channels},{meta.Height},{meta.Width}].");
        int size = real.ImageSize;
        var results = new List<DenoisingResult>();
        foreach (int t in timesteps)
        {
            if (t < 0 || t >= schedule.T) throw new InvalidInputException($"Denoising timestep {t}; expected 0 to {schedule.T - 1}.");
            double ab = schedule.AlphasCumprod[t];
            var toX0 = Prediction.ToX0(meta.Prediction, ab);
            double psnr = 0, ssim = 0, npsnr = 0, nssim = 0;
            var eps = new float[size];
            var x0Hat = new float[size];
            var noisy = new float[size];
            for (int start = 0; start < real.Count; start += batchSize)
            {
                int n = Math.Min(batchSize, real.Count - start);
                using var batch = denoiser.CreateBatch(n);
                for (int j = 0; j < n; j++)
                {
                    // draw = t keeps the noise of each timestep independent and reproducible
                    GaussianNoise.Fill(seed, start + j, (uint)t, eps);
                    ForwardProcess.Sample(schedule, t, real.Image(start + j), eps, batch.X.Slice(j * size, size));
                    batch.Y[j] = real.Labels[start + j];
                }
                batch.T.Fill(t);
                batch.Scale.Fill(1f);
                batch.Run();
                for (int j = 0; j < n; j++)
                {
                    var x0 = real.Image(start + j);
                    var xt = batch.X.Slice(j * size, size);
                    Prediction.Apply(toX0, xt, batch.Output.Slice(j * size, size), x0Hat);
                    Clamp(x0Hat);
                    psnr += Finite(ImageQuality.Psnr(x0, x0Hat));
                    ssim += PlaneSsim(x0, x0Hat, real);
                    for (int i = 0; i < size; i++) noisy[i] = (float)(xt[i] / Math.Sqrt(ab));
                    Clamp(noisy);
                    npsnr += Finite(ImageQuality.Psnr(x0, noisy));
                    nssim += PlaneSsim(x0, noisy, real);
                }
            }
            int c = real.Count;
            results.Add(new DenoisingResult(t, ab, c, psnr / c, ssim / c, npsnr / c, nssim / c));
        }
        return [.. results];
    }

    // SSIM of each channel plane, averaged (one plane for greyscale: exactly ImageQuality.Ssim)
    private static double PlaneSsim(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ImageSet set)
    {
        if (set.Channels == 1) return ImageQuality.Ssim(a, b, set.Height, set.Width);
        int plane = set.PlaneSize;
        double sum = 0;
        for (int c = 0; c < set.Channels; c++) sum += ImageQuality.Ssim(a.Slice(c * plane, plane), b.Slice(c * plane, plane), set.Height, set.Width);
        return sum / set.Channels;
    }

    private static void Clamp(Span<float> v)
    {
        for (int i = 0; i < v.Length; i++) v[i] = Math.Clamp(v[i], Pixels.Min, Pixels.Max);
    }

    /// <summary>Caps a perfect reconstruction's infinite PSNR at 100 dB so that means stay finite.</summary>
    private static double Finite(double psnr) => Math.Min(psnr, 100);
}
