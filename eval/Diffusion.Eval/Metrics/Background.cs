using Diffusion.Runtime;

namespace Diffusion.Eval.Metrics;

/// <summary>
/// How clean the backgrounds are: the fraction of an image's pixels within <see cref="Tolerance"/> grey levels of
/// the dataset's background value, averaged per class and overall. A classifier can accept a digit drawn on a grey,
/// speckled ground that a person would reject; this number does not: real MNIST digits sit on about 80% clean
/// background, a speckled generated set on far less. Colour images count every channel value as a pixel, which
/// suits a dataset on one plain ground; on grounds of random colours (the shapes demo) the number says little.
/// </summary>
/// <param name="Value">The background value (0-255): the most frequent value of the real images' border pixels.</param>
/// <param name="Tolerance">Grey levels either side of <paramref name="Value"/> that count as background.</param>
/// <param name="Mean">Mean over images of the clean fraction.</param>
/// <param name="PerClass">The same per class (NaN for a class with no image).</param>
public sealed record BackgroundStats(int Value, int Tolerance, double Mean, double[] PerClass)
{
    /// <summary>Grey levels (of 255) that still count as background: a few, so JPEG-like ripple or a faint haze of 1-3 levels is clean and visible speckle is not.</summary>
    public const int DefaultTolerance = 8;

    /// <summary>Width of the frame whose pixels define the background value.</summary>
    public const int BorderPixels = 2;

    /// <summary>The most frequent 0-255 value among the outer <see cref="BorderPixels"/> pixels of every image of <paramref name="real"/>.</summary>
    public static int BackgroundValue(ImageSet real)
    {
        var counts = new long[256];
        int h = real.Height, w = real.Width;
        for (int i = 0; i < real.Count; i++)
        {
            var img = real.Image(i);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    if (y < BorderPixels || y >= h - BorderPixels || x < BorderPixels || x >= w - BorderPixels)
                        for (int c = 0; c < real.Channels; c++)
                            counts[Pixels.ToByte(img[c * h * w + y * w + x])]++;
        }
        int best = 0;
        for (int v = 1; v < 256; v++) if (counts[v] > counts[best]) best = v;
        return best;
    }

    /// <summary>The clean fractions of <paramref name="set"/> for a background <paramref name="value"/>.</summary>
    /// <param name="set">Images and their labels (0..<paramref name="classes"/> - 1).</param>
    /// <param name="value">Background value, 0-255.</param>
    /// <param name="classes">Number of classes.</param>
    /// <param name="tolerance">Grey levels either side of <paramref name="value"/>.</param>
    public static BackgroundStats Compute(ImageSet set, int value, int classes, int tolerance = DefaultTolerance)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tolerance);
        var sum = new double[classes];
        var count = new int[classes];
        double total = 0;
        for (int i = 0; i < set.Count; i++)
        {
            var img = set.Image(i);
            int clean = 0;
            foreach (float p in img) if (Math.Abs(Pixels.ToByte(p) - value) <= tolerance) clean++;
            double f = clean / (double)img.Length;
            total += f;
            sum[set.Labels[i]] += f;
            count[set.Labels[i]]++;
        }
        var perClass = new double[classes];
        for (int c = 0; c < classes; c++) perClass[c] = count[c] == 0 ? double.NaN : sum[c] / count[c];
        return new BackgroundStats(value, tolerance, set.Count == 0 ? double.NaN : total / set.Count, perClass);
    }
}
