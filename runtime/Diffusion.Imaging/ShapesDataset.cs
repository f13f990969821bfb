using Diffusion.Runtime;
using Diffusion.Tools;
using SkiaSharp;

namespace Diffusion.Imaging;

/// <summary>
/// A small colour dataset made here, for the image-folder path's tests and demo (issue 17; CIFAR-10 cannot be fetched
/// on these machines): filled shapes in random colours, sizes and positions on random plain backgrounds, drawn
/// anti-aliased with SkiaSharp, written as an image folder (<c>train/&lt;class&gt;/NNNNN.png</c>, <c>test/...</c>).
/// Deterministic: the same seed gives the same files.
/// </summary>
public static class ShapesDataset
{
    /// <summary>The classes, in label order (sorted, as the image-folder reader orders folders).</summary>
    public static readonly IReadOnlyList<string> Classes = ["circle", "cross", "square", "triangle"];

    /// <summary>Writes the dataset into <paramref name="root"/> (created; existing files of the same names are replaced).</summary>
    /// <param name="root">Output folder.</param>
    /// <param name="trainPerClass">Training images per class.</param>
    /// <param name="testPerClass">Test images per class.</param>
    /// <param name="size">Image side in pixels.</param>
    /// <param name="seed">Seed of every random choice.</param>
    /// <returns>Files written.</returns>
    /// <exception cref="InvalidInputException">Counts below 1 or a size outside 16..256.</exception>
    public static int Write(string root, int trainPerClass = 1000, int testPerClass = 200, int size = 32, int seed = 0)
    {
        if (trainPerClass < 1 || testPerClass < 1) throw new InvalidInputException($"Shapes: {trainPerClass} training and {testPerClass} test images per class; expected at least 1 each.");
        if (size < 16 || size > 256) throw new InvalidInputException($"Shapes: size {size}; expected 16 to 256.");
        int written = 0;
        foreach (var (split, count, offset) in new[] { ("train", trainPerClass, 0), ("test", testPerClass, 1) })
            for (int k = 0; k < Classes.Count; k++)
            {
                string dir = Path.Combine(root, split, Classes[k]);
                Directory.CreateDirectory(dir);
                for (int i = 0; i < count; i++)
                {
                    var rng = new Random(unchecked(seed * 7919 + offset * 104729 + k * 1_000_003 + i));
                    AtomicFile.WriteAllBytes(Path.Combine(dir, $"{i:D5}.png"), Draw(Classes[k], size, rng));
                    written++;
                }
            }
        return written;
    }

    /// <summary>One image of <paramref name="shape"/> as PNG bytes.</summary>
    public static byte[] Draw(string shape, int size, Random rng)
    {
        var info = new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Premul);
        using var surface = SKSurface.Create(info);
        var canvas = surface.Canvas;
        var (bg, fg) = Colours(rng);
        canvas.Clear(bg);
        float r = size * (0.18f + 0.14f * (float)rng.NextDouble());                 // radius: 18-32% of the side
        float cx = r + (float)rng.NextDouble() * (size - 2 * r), cy = r + (float)rng.NextDouble() * (size - 2 * r);
        using var paint = new SKPaint { Color = fg, IsAntialias = true, Style = SKPaintStyle.Fill };
        switch (shape)
        {
            case "circle":
                canvas.DrawCircle(cx, cy, r, paint);
                break;
            case "square":
                canvas.Save();
                canvas.RotateDegrees((float)(rng.NextDouble() * 90), cx, cy);
                canvas.DrawRect(cx - r * 0.85f, cy - r * 0.85f, 1.7f * r, 1.7f * r, paint);
                canvas.Restore();
                break;
            case "triangle":
            {
                double a0 = rng.NextDouble() * 2 * Math.PI;
                using var path = new SKPath();
                for (int v = 0; v < 3; v++)
                {
                    double a = a0 + v * 2 * Math.PI / 3;
                    var p = new SKPoint(cx + r * (float)Math.Cos(a), cy + r * (float)Math.Sin(a));
                    if (v == 0) path.MoveTo(p); else path.LineTo(p);
                }
                path.Close();
                canvas.DrawPath(path, paint);
                break;
            }
            case "cross":
                canvas.Save();
                canvas.RotateDegrees((float)(rng.NextDouble() * 90), cx, cy);
                canvas.DrawRect(cx - r, cy - r * 0.3f, 2 * r, 0.6f * r, paint);
                canvas.DrawRect(cx - r * 0.3f, cy - r, 0.6f * r, 2 * r, paint);
                canvas.Restore();
                break;
            default:
                throw new ArgumentException($"Unknown shape '{shape}'; expected {string.Join(", ", Classes)}.", nameof(shape));
        }
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    // A background and a shape colour far enough apart to see (at least 0.35 in HSV value, or a different hue).
    private static (SKColor Background, SKColor Shape) Colours(Random rng)
    {
        float h1 = (float)(rng.NextDouble() * 360), h2 = (h1 + 90 + (float)rng.NextDouble() * 180) % 360;
        bool darkBackground = rng.Next(2) == 0;
        float v1 = darkBackground ? 10 + (float)rng.NextDouble() * 30 : 70 + (float)rng.NextDouble() * 30;
        float v2 = darkBackground ? 70 + (float)rng.NextDouble() * 30 : 10 + (float)rng.NextDouble() * 30;
        return (SKColor.FromHsv(h1, 20 + (float)rng.NextDouble() * 60, v1), SKColor.FromHsv(h2, 40 + (float)rng.NextDouble() * 60, v2));
    }
}
