namespace Diffusion.Imaging;

/// <summary>Arranges frames of a process (reverse or forward diffusion) into grids.</summary>
public static class Strips
{
    /// <summary>
    /// A strip grid: row r = sample r, column c = frame c. <paramref name="frames"/>[c] holds all samples of frame c,
    /// [N, H, W] flattened; only the first <paramref name="samples"/> samples are used.
    /// Returns [samples * frames, H, W] in grid order.
    /// </summary>
    public static float[] Arrange(IReadOnlyList<float[]> frames, int samples, int imageSize)
    {
        var grid = new float[samples * frames.Count * imageSize];
        for (int r = 0; r < samples; r++)
            for (int c = 0; c < frames.Count; c++)
                frames[c].AsSpan(r * imageSize, imageSize).CopyTo(grid.AsSpan((r * frames.Count + c) * imageSize));
        return grid;
    }
}
