using Diffusion.Runtime;
using ImageMagick;
using Diffusion.Tools;

namespace Diffusion.Imaging;

/// <summary>Animated GIFs of image grids (Magick.NET), e.g. the reverse or forward diffusion process.</summary>
public static class AnimatedGif
{
    /// <summary>
    /// Encodes one frame per entry of <paramref name="frames"/>; each frame is a grid of <paramref name="rows"/> x
    /// <paramref name="cols"/> model-space images ([-1, 1], [rows * cols, C, H, W] flattened, as <see cref="PngGrid"/>);
    /// colour frames (C = 3) get Magick.NET's 256-colour GIF palette per frame.
    /// </summary>
    /// <param name="frames">Frames in order.</param>
    /// <param name="rows">Grid rows.</param>
    /// <param name="cols">Grid columns.</param>
    /// <param name="height">Image height H.</param>
    /// <param name="width">Image width W.</param>
    /// <param name="delayMs">Time each frame is shown.</param>
    /// <param name="lastDelayMs">Time the last frame is shown before the loop restarts.</param>
    /// <param name="scale">Nearest-neighbour upscaling factor.</param>
    /// <param name="channels">Channels C: 1 (greyscale) or 3 (RGB planes).</param>
    public static byte[] Encode(IReadOnlyList<float[]> frames, int rows, int cols, int height, int width, int delayMs = 120, int lastDelayMs = 1500, int scale = 2, int channels = 1)
    {
        if (frames.Count == 0) throw new ArgumentException("An animation needs at least one frame.", nameof(frames));
        using var collection = new MagickImageCollection();
        for (int f = 0; f < frames.Count; f++)
        {
            var png = PngGrid.Encode(frames[f], rows, cols, height, width, pad: 2, scale: scale, channels: channels);
            var image = new MagickImage(png)
            {
                AnimationDelay = (uint)Math.Max(1, (f == frames.Count - 1 ? lastDelayMs : delayMs) / 10), // 1/100 s
                AnimationIterations = 0, // loop forever
            };
            collection.Add(image);
        }
        collection.Optimize();
        return collection.ToByteArray(MagickFormat.Gif);
    }

    /// <summary>Writes an animated GIF atomically; see <see cref="Encode"/>.</summary>
    public static void Write(string path, IReadOnlyList<float[]> frames, int rows, int cols, int height, int width, int delayMs = 120, int lastDelayMs = 1500, int scale = 2, int channels = 1)
        => AtomicFile.WriteAllBytes(path, Encode(frames, rows, cols, height, width, delayMs, lastDelayMs, scale, channels));
}
