using Diffusion.Eval.Metrics;
using Diffusion.Runtime;

namespace Diffusion.Eval.Tests;

public class BackgroundTests
{
    // n images of 4 x 4 with the given 0-255 pixels, labels as given
    private static ImageSet Set(int[] labels, params byte[][] images)
    {
        var px = new float[images.Length * 16];
        for (int i = 0; i < images.Length; i++)
            for (int p = 0; p < 16; p++) px[i * 16 + p] = Pixels.ToModel(images[i][p]);
        return new ImageSet(px, labels, 4, 4, "test");
    }

    private static byte[] Image(byte ground, params (int Index, byte Value)[] ink)
    {
        var img = Enumerable.Repeat(ground, 16).ToArray();
        foreach (var (i, v) in ink) img[i] = v;
        return img;
    }

    [Fact]
    public void BackgroundValue_IsTheMostFrequentBorderValue()
    {
        // the 2-pixel border of a 4 x 4 image is all 16 pixels; 12 at 0 and 4 at 255 in each image
        var set = Set([0, 1], Image(0, (5, 255), (6, 255), (9, 255), (10, 255)), Image(0, (0, 255), (1, 255), (2, 255), (3, 255)));
        Assert.Equal(0, BackgroundStats.BackgroundValue(set));
        Assert.Equal(255, BackgroundStats.BackgroundValue(Set([0], Image(255, (0, 0)))));
    }

    [Fact]
    public void CleanFraction_CountsPixelsWithinTheTolerance_PerClass()
    {
        // class 0: 12 clean of 16; class 1: speckle at 20 (outside 8) on 8 pixels and 5 (inside) on 4 -> 8 clean of 16
        var speckled = Image(0, (0, 20), (1, 20), (2, 20), (3, 20), (4, 20), (5, 20), (6, 20), (7, 20), (8, 5), (9, 5), (10, 5), (11, 5));
        var set = Set([0, 1, 1], Image(0, (5, 255), (6, 255), (9, 255), (10, 255)), speckled, speckled);
        var stats = BackgroundStats.Compute(set, value: 0, classes: 3);
        Assert.Equal(0.75, stats.PerClass[0], 12);
        Assert.Equal(0.5, stats.PerClass[1], 12);
        Assert.True(double.IsNaN(stats.PerClass[2]));
        Assert.Equal((0.75 + 0.5 + 0.5) / 3, stats.Mean, 12);
        // a tolerance of 25 also counts the speckle at 20
        Assert.Equal(1.0, BackgroundStats.Compute(set, 0, 3, tolerance: 25).PerClass[1], 12);
        Assert.Equal(BackgroundStats.DefaultTolerance, stats.Tolerance);
    }
}
