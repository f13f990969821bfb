using Diffusion.Runtime;
using Diffusion.Tools;

namespace Diffusion.Imaging;

/// <summary>
/// Frames of the forward diffusion process for visuals: real images noised by q(x_t | x_0) at chosen timesteps
/// (Ho et al. 2020, eq. 4), each image with its own fixed noise so the frames show one path from data to noise.
/// </summary>
public static class ProcessFrames
{
    /// <summary>The timestep that stands for the clean image x_0 in a frame list (as in a reverse trajectory).</summary>
    public const int Clean = -1;

    /// <summary>
    /// The first image of each class in <paramref name="classes"/>, in model space ([-1, 1]), [classes, H * W] (IDX files).
    /// </summary>
    /// <param name="data">Labelled images (e.g. the t10k split).</param>
    /// <param name="classes">Classes to take, in order.</param>
    /// <param name="source">Names the data in messages (an option or a folder).</param>
    /// <exception cref="InvalidInputException">A class has no image in <paramref name="data"/>.</exception>
    public static float[] FirstOfEachClass(IdxDataset data, IReadOnlyList<int> classes, string source)
        => FirstOfEachClass(data.Images.Data, data.Labels.Data, data.Height * data.Width, classes, source);

    /// <summary>The first image of each class in <paramref name="classes"/>, in model space, [classes, C * H * W] (IDX or image folder).</summary>
    /// <exception cref="InvalidInputException">A class has no image in <paramref name="data"/>.</exception>
    public static float[] FirstOfEachClass(LabelledImages data, IReadOnlyList<int> classes, string source)
        => FirstOfEachClass(data.Pixels, data.Labels, data.ImageSize, classes, source);

    private static float[] FirstOfEachClass(byte[] pixels, byte[] labels, int size, IReadOnlyList<int> classes, string source)
    {
        var x0 = new float[classes.Count * size];
        for (int k = 0; k < classes.Count; k++)
        {
            int index = Array.IndexOf(labels, (byte)classes[k]);
            if (index < 0) throw new InvalidInputException($"{source}: no test image of class {classes[k]}.");
            Pixels.ToModel(pixels.AsSpan(index * size, size), x0.AsSpan(k * size, size));
        }
        return x0;
    }

    /// <summary>
    /// One frame per timestep: x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps for every image of
    /// <paramref name="x0"/> ([N, H * W] model space), <see cref="Clean"/> giving x_0 itself. eps is the
    /// <see cref="GaussianNoise"/> draw 0 of (seed, image index), the same at every timestep.
    /// </summary>
    public static List<float[]> Forward(NoiseSchedule schedule, float[] x0, int imageSize, ulong seed, IReadOnlyList<int> timesteps)
    {
        var eps = new float[x0.Length];
        GaussianNoise.FillBatch(seed, 0, 0, imageSize, eps);
        var frames = new List<float[]>(timesteps.Count);
        foreach (int t in timesteps)
        {
            if (t == Clean) { frames.Add((float[])x0.Clone()); continue; }
            var xt = new float[x0.Length];
            ForwardProcess.Sample(schedule, t, x0, eps, xt);
            frames.Add(xt);
        }
        return frames;
    }

    /// <summary><paramref name="frames"/> evenly spaced timesteps after x_0: [Clean, round((T - 1) f / frames) for f = 1..frames].</summary>
    public static int[] EvenlySpaced(int timesteps, int frames)
        => [Clean, .. Enumerable.Range(1, frames).Select(f => (int)Math.Round((double)(timesteps - 1) * f / frames))];
}
