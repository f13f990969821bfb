using Diffusion.Runtime;
using SkiaSharp;
using Diffusion.Tools;

namespace Diffusion.Imaging;

/// <summary>Writes grayscale image grids as PNG files (SkiaSharp).</summary>
public static class PngGrid
{
    /// <summary>
    /// Encodes <paramref name="rows"/> x <paramref name="cols"/> images of <paramref name="height"/> x <paramref name="width"/>
    /// model-space pixels ([-1, 1], row-major, image after image in row-major grid order) as a PNG with
    /// <paramref name="pad"/> pixels of black padding, upscaled by <paramref name="scale"/>. Missing images are left black.
    /// </summary>
    public static byte[] Encode(ReadOnlySpan<float> images, int rows, int cols, int height, int width, int pad = 2, int scale = 1)
    {
        int cellH = height + pad, cellW = width + pad;
        int gh = rows * cellH + pad, gw = cols * cellW + pad;
        var info = new SKImageInfo(gw, gh, SKColorType.Gray8, SKAlphaType.Opaque);
        using var bmp = new SKBitmap(info);
        var px = new byte[gw * gh];
        int n = Math.Min(images.Length / (height * width), rows * cols);
        for (int i = 0; i < n; i++)
        {
            int r = i / cols, c = i % cols;
            var img = images.Slice(i * height * width, height * width);
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                    px[(pad + r * cellH + y) * gw + pad + c * cellW + x] = Pixels.ToByte(img[y * width + x]);
        }
        System.Runtime.InteropServices.Marshal.Copy(px, 0, bmp.GetPixels(), px.Length);
        using var scaled = scale == 1 ? bmp.Copy() : bmp.Resize(new SKImageInfo(gw * scale, gh * scale, SKColorType.Gray8, SKAlphaType.Opaque), new SKSamplingOptions(SKFilterMode.Nearest));
        using var image = SKImage.FromBitmap(scaled);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>Writes a grid PNG atomically; see <see cref="Encode"/>.</summary>
    public static void Write(string path, ReadOnlySpan<float> images, int rows, int cols, int height, int width, int pad = 2, int scale = 1)
        => AtomicFile.WriteAllBytes(path, Encode(images, rows, cols, height, width, pad, scale));
}
