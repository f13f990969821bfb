namespace Diffusion.Eval.Metrics;

/// <summary>Full-reference image quality: PSNR and SSIM between a reference and a test image.</summary>
public static class ImageQuality
{
    /// <summary>Dynamic range of model-space pixels ([-1, 1]).</summary>
    public const double ModelRange = 2.0;

    /// <summary>
    /// Peak signal-to-noise ratio in dB: 10 log10(L^2 / MSE) with L the data range; +infinity for identical images.
    /// </summary>
    public static double Psnr(ReadOnlySpan<float> reference, ReadOnlySpan<float> test, double dataRange = ModelRange)
    {
        if (reference.Length != test.Length || reference.Length == 0) throw new ArgumentException($"Image sizes differ or are empty: {reference.Length}, {test.Length}.");
        double mse = 0;
        for (int i = 0; i < reference.Length; i++) { double d = reference[i] - test[i]; mse += d * d; }
        mse /= reference.Length;
        return mse == 0 ? double.PositiveInfinity : 10 * Math.Log10(dataRange * dataRange / mse);
    }

    /// <summary>
    /// Structural similarity (Wang, Bovik, Sheikh &amp; Simoncelli 2004, eq. 13) with their defaults: an 11 x 11
    /// Gaussian window of sigma 1.5, K1 = 0.01, K2 = 0.03, C = (K L)^2, averaged over the positions where the
    /// window fits inside the image ("valid"). 1 for identical images.
    /// </summary>
    /// <exception cref="ArgumentException">Sizes differ or the image is smaller than the window.</exception>
    public static double Ssim(ReadOnlySpan<float> reference, ReadOnlySpan<float> test, int height, int width,
        double dataRange = ModelRange, int window = 11, double sigma = 1.5)
    {
        if (reference.Length != height * width || test.Length != height * width)
            throw new ArgumentException($"Images must be {height}x{width}; got {reference.Length} and {test.Length} pixels.");
        if (height < window || width < window) throw new ArgumentException($"Image {height}x{width} is smaller than the {window}x{window} window.");
        double c1 = Math.Pow(0.01 * dataRange, 2), c2 = Math.Pow(0.03 * dataRange, 2);
        var g = Gaussian(window, sigma);
        int oh = height - window + 1, ow = width - window + 1;
        var x = ToDouble(reference); var y = ToDouble(test);
        var xx = new double[x.Length]; var yy = new double[x.Length]; var xy = new double[x.Length];
        for (int i = 0; i < x.Length; i++) { xx[i] = x[i] * x[i]; yy[i] = y[i] * y[i]; xy[i] = x[i] * y[i]; }
        var mx = Filter(x, height, width, g); var my = Filter(y, height, width, g);
        var sxx = Filter(xx, height, width, g); var syy = Filter(yy, height, width, g); var sxy = Filter(xy, height, width, g);
        double sum = 0;
        for (int i = 0; i < oh * ow; i++)
        {
            double vx = sxx[i] - mx[i] * mx[i], vy = syy[i] - my[i] * my[i], cxy = sxy[i] - mx[i] * my[i];
            sum += (2 * mx[i] * my[i] + c1) * (2 * cxy + c2) / ((mx[i] * mx[i] + my[i] * my[i] + c1) * (vx + vy + c2));
        }
        return sum / (oh * ow);
    }

    private static double[] ToDouble(ReadOnlySpan<float> s)
    {
        var d = new double[s.Length];
        for (int i = 0; i < s.Length; i++) d[i] = s[i];
        return d;
    }

    /// <summary>Normalised 1-D Gaussian of <paramref name="size"/> taps.</summary>
    private static double[] Gaussian(int size, double sigma)
    {
        var g = new double[size];
        double c = (size - 1) / 2.0, sum = 0;
        for (int i = 0; i < size; i++) sum += g[i] = Math.Exp(-(i - c) * (i - c) / (2 * sigma * sigma));
        for (int i = 0; i < size; i++) g[i] /= sum;
        return g;
    }

    /// <summary>Separable "valid" correlation with the window g x g: output [(H - w + 1) * (W - w + 1)].</summary>
    private static double[] Filter(double[] img, int h, int w, double[] g)
    {
        int k = g.Length, oh = h - k + 1, ow = w - k + 1;
        var rows = new double[h * ow];
        for (int r = 0; r < h; r++)
            for (int c = 0; c < ow; c++)
            {
                double s = 0;
                for (int t = 0; t < k; t++) s += g[t] * img[r * w + c + t];
                rows[r * ow + c] = s;
            }
        var outp = new double[oh * ow];
        for (int r = 0; r < oh; r++)
            for (int c = 0; c < ow; c++)
            {
                double s = 0;
                for (int t = 0; t < k; t++) s += g[t] * rows[(r + t) * ow + c];
                outp[r * ow + c] = s;
            }
        return outp;
    }
}
