using Diffusion.Runtime;
using Diffusion.Runtime.Samplers;
using Diffusion.Train.Model;
using static TorchSharp.torch;

namespace Diffusion.Train.Training;

/// <summary>
/// Runs the runtime's shared samplers (<see cref="ISampler"/>, e.g. <see cref="DdimSampler"/>) with a TorchSharp
/// model: the model is called once per step on the doubled batch [x; x] with labels [y; null], the two halves are
/// combined by <see cref="Guidance.Combine"/>, and the sampler steps on float arrays. Used for the sample grids
/// written during training; no second sampler implementation lives here.
/// </summary>
public static class TorchSampling
{
    /// <summary>
    /// Generates one image per label. Returns model-space pixels, [N * C * H * W] row-major (image after image).
    /// </summary>
    /// <param name="model">Network (put in eval mode here), on <paramref name="device"/>.</param>
    /// <param name="sampler">Sampler; <see cref="ISampler.SetTimesteps"/> is called here.</param>
    /// <param name="labels">Class per image, 0..NumClasses-1.</param>
    /// <param name="steps">Sampling steps.</param>
    /// <param name="guidance">Guidance scale (diffusers convention; 1 = conditional only, one model call per step).</param>
    /// <param name="seed">Seed of the initial noise (and of the per-step noise of stochastic samplers).</param>
    /// <param name="device">Device of the model.</param>
    public static float[] Sample(UNet model, ISampler sampler, IReadOnlyList<int> labels, int steps, float guidance, long seed, Device device)
    {
        Guidance.Validate(guidance);
        var c = model.Config;
        int n = labels.Count, per = c.InChannels * c.ImageSize * c.ImageSize, len = n * per;
        // a guidance-conditioned student takes the scale as an input: one pass on the batch
        bool student = c.GuidanceEmbedding, guided = guidance != 1f && !student;
        using var gen = new Generator((ulong)seed);
        float[] NoiseArray() { using var z = randn([n, c.InChannels, c.ImageSize, c.ImageSize], generator: gen); return z.data<float>().ToArray(); }

        var x = NoiseArray();
        var prev = new float[len]; var x0 = new float[len]; var output = new float[len];
        var noise = new float[len];
        long[] yBatch = guided ? [.. labels.Select(l => (long)l), .. Enumerable.Repeat((long)c.NumClasses, n)] : labels.Select(l => (long)l).ToArray();
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var _ = no_grad();
            using var y = tensor(yBatch, dtype: int64, device: device);
            using var scale = student ? full([n], guidance, dtype: float32, device: device) : null;
            sampler.SetTimesteps(steps);
            foreach (int t in sampler.Timesteps)
            {
                using var scope = NewDisposeScope();
                var xt = tensor(x, [n, c.InChannels, c.ImageSize, c.ImageSize], device: device);
                var xIn = guided ? cat([xt, xt], 0) : xt;
                var tt = full([yBatch.Length], (long)t, dtype: int64, device: device);
                var result = model.forward(xIn, tt, y, scale).cpu().data<float>().ToArray();
                if (guided) Guidance.Combine(result.AsSpan(0, len), result.AsSpan(len, len), guidance, output);
                else result.CopyTo(output, 0);
                if (sampler.UsesNoise) noise = NoiseArray();
                sampler.Step(output, t, x, noise, prev, x0);
                (x, prev) = (prev, x);
            }
        }
        finally
        {
            if (wasTraining) model.train();
        }
        return x;
    }
}
