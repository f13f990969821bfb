using Diffusion.Runtime;
using SkiaSharp;
using Diffusion.Tools;

namespace Diffusion.Imaging;

/// <summary>Writes image grids as PNG files (SkiaSharp): greyscale, or RGB for 3-channel models.</summary>
public static class PngGrid
{
    /// <summary>
    /// Encodes <paramref name="rows"/> x <paramref name="cols"/> images of <paramref name="height"/> x <paramref name="width"/>
    /// model-space pixels ([-1, 1], image after image in row-major grid order; each image [C, H, W] with
    /// <paramref name="channels"/> = 1 (greyscale) or 3 (RGB planes)) as a PNG with <paramref name="pad"/> pixels of
    /// black padding, upscaled by <paramref name="scale"/>. Missing images are left black.
    /// </summary>
    /// <exception cref="ArgumentException">Channels other than 1 or 3.</exception>
    public static byte[] Encode(ReadOnlySpan<float> images, int rows, int cols, int height, int width, int pad = 2, int scale = 1, int channels = 1)
    {
        if (channels is not (1 or 3)) throw new ArgumentException($"PNG grids take 1 or 3 channels, not {channels}.", nameof(channels));
        int cellH = height + pad, cellW = width + pad;
        int gh = rows * cellH + pad, gw = cols * cellW + pad, plane = height * width;
        var colour = channels == 3 ? SKColorType.Rgba8888 : SKColorType.Gray8;
        var info = new SKImageInfo(gw, gh, colour, SKAlphaType.Opaque);
        using var bmp = new SKBitmap(info);
        int bpp = channels == 3 ? 4 : 1;
        var px = new byte[gw * gh * bpp];
        if (bpp == 4) for (int i = 3; i < px.Length; i += 4) px[i] = 255; // opaque black padding
        int n = Math.Min(images.Length / (channels * plane), rows * cols);
        for (int i = 0; i < n; i++)
        {
            int r = i / cols, c = i % cols;
            var img = images.Slice(i * channels * plane, channels * plane);
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                {
                    int at = ((pad + r * cellH + y) * gw + pad + c * cellW + x) * bpp;
                    if (bpp == 1) { px[at] = Pixels.ToByte(img[y * width + x]); continue; }
                    for (int ch = 0; ch < 3; ch++) px[at + ch] = Pixels.ToByte(img[ch * plane + y * width + x]);
                }
        }
        System.Runtime.InteropServices.Marshal.Copy(px, 0, bmp.GetPixels(), px.Length);
        using var scaled = scale == 1 ? bmp.Copy() : bmp.Resize(new SKImageInfo(gw * scale, gh * scale, colour, SKAlphaType.Opaque), new SKSamplingOptions(SKFilterMode.Nearest));
        using var image = SKImage.FromBitmap(scaled);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>Writes a grid PNG atomically; see <see cref="Encode"/>.</summary>
    public static void Write(string path, ReadOnlySpan<float> images, int rows, int cols, int height, int width, int pad = 2, int scale = 1, int channels = 1)
        => AtomicFile.WriteAllBytes(path, Encode(images, rows, cols, height, width, pad, scale, channels));
}
