using Diffusion.Imaging;
using SkiaSharp;

namespace Diffusion.Runtime.Tests;

/// <summary>
/// The image-folder dataset (issue 17): classes from sorted folder names, greyscale or RGB at the model's size, the
/// errors a user's folder can cause, and the shapes dataset made here.
/// </summary>
public class ImageFolderTests
{
    private static void Png(string path, int w, int h, SKColor colour)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var bmp = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Premul));
        bmp.Erase(colour);
        using var img = SKImage.FromBitmap(bmp);
        using var data = img.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
    }

    private static string TwoClasses(int size = 8)
    {
        string root = TinyModels.NewTempDir();
        Png(Path.Combine(root, "red", "a.png"), size, size, new SKColor(200, 10, 20));
        Png(Path.Combine(root, "red", "b.png"), size, size, new SKColor(210, 0, 0));
        Png(Path.Combine(root, "blue", "a.png"), size, size, new SKColor(0, 0, 255));
        return root;
    }

    [Fact]
    public void Reads_classes_sorted_by_name_in_rgb_and_greyscale()
    {
        string root = TwoClasses();
        var rgb = ImageFolderDataset.Load(root, "train", new ImageFolderOptions(3, 8));
        Assert.Equal(["blue", "red"], rgb.ClassNames);
        Assert.Equal([0, 1, 1], rgb.Labels);
        Assert.Equal(3 * 3 * 64, rgb.Pixels.Length);
        // image 0 is blue: planes R, G, B
        Assert.Equal(0, rgb.Pixels[0]); Assert.Equal(0, rgb.Pixels[64]); Assert.Equal(255, rgb.Pixels[128]);
        // image 1 is red (200, 10, 20)
        int o = 3 * 64;
        Assert.Equal(200, rgb.Pixels[o]); Assert.Equal(10, rgb.Pixels[o + 64]); Assert.Equal(20, rgb.Pixels[o + 128]);
        var grey = ImageFolderDataset.Load(root, "train", new ImageFolderOptions(1, 8));
        Assert.Equal(64 * 3, grey.Pixels.Length);
        Assert.Equal((byte)Math.Round(0.299 * 200 + 0.587 * 10 + 0.114 * 20), grey.Pixels[64]); // BT.601 luma
        Assert.True(ImageFolderDataset.IsImageFolder(root));
        Assert.False(ImageFolderDataset.IsImageFolder(TinyModels.NewTempDir()));
    }

    [Fact]
    public void A_size_mismatch_is_refused_unless_resizing_is_asked_for()
    {
        string root = TwoClasses();
        Png(Path.Combine(root, "blue", "big.png"), 16, 12, new SKColor(0, 0, 255));
        var e = Assert.Throws<InvalidInputException>(() => ImageFolderDataset.Load(root, "train", new ImageFolderOptions(3, 8)));
        Assert.Contains(Path.Combine(root, "blue", "big.png"), e.Message);
        Assert.Contains("16x12", e.Message);
        var resized = ImageFolderDataset.Load(root, "train", new ImageFolderOptions(3, 8, ResizeMode.Linear));
        Assert.Equal(4, resized.Count);
        Assert.Equal(255, resized.Pixels[3 * 64 + 128 + 27]); // a plain colour stays that colour through the filter
    }

    [Fact]
    public void Corrupt_files_empty_classes_and_a_single_class_are_one_line_errors()
    {
        string root = TwoClasses();
        string bad = Path.Combine(root, "red", "c.png");
        File.WriteAllBytes(bad, [0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
        var e = Assert.Throws<InvalidInputException>(() => ImageFolderDataset.Load(root, "train", new ImageFolderOptions(3, 8)));
        Assert.Contains(bad, e.Message);
        var skipped = ImageFolderDataset.Load(root, "train", new ImageFolderOptions(3, 8, SkipBad: true));
        Assert.Equal(3, skipped.Count);
        Assert.Single(skipped.Skipped);

        Directory.CreateDirectory(Path.Combine(root, "green"));
        e = Assert.Throws<InvalidInputException>(() => ImageFolderDataset.Load(root, "train", new ImageFolderOptions(3, 8, SkipBad: true)));
        Assert.Contains(Path.Combine(root, "green"), e.Message);

        string one = TinyModels.NewTempDir();
        Png(Path.Combine(one, "only", "a.png"), 8, 8, SKColors.White);
        e = Assert.Throws<InvalidInputException>(() => ImageFolderDataset.Load(one, "train", new ImageFolderOptions(1, 8)));
        Assert.Contains("one class folder (only)", e.Message);
        Assert.Throws<InvalidInputException>(() => ImageFolderDataset.Load(Path.Combine(one, "nope"), "train", new ImageFolderOptions(1, 8)));
        Assert.Throws<InvalidInputException>(() => ImageFolderDataset.Load(one, "test", new ImageFolderOptions(1, 8)));
        Assert.Throws<InvalidInputException>(() => ImageFolderDataset.Load(one, "train", new ImageFolderOptions(2, 8)));
    }

    [Fact]
    public void The_shapes_dataset_is_an_image_folder_with_splits_and_is_deterministic()
    {
        string a = TinyModels.NewTempDir(), b = TinyModels.NewTempDir();
        Assert.Equal(4 * (3 + 2), ShapesDataset.Write(a, trainPerClass: 3, testPerClass: 2, size: 32, seed: 5));
        ShapesDataset.Write(b, trainPerClass: 3, testPerClass: 2, size: 32, seed: 5);
        var train = ImageFolderDataset.Load(a, "train", new ImageFolderOptions(3, 32));
        var test = ImageFolderDataset.Load(a, "test", new ImageFolderOptions(3, 32));
        Assert.Equal(ShapesDataset.Classes, train.ClassNames);
        Assert.Equal(12, train.Count);
        Assert.Equal(8, test.Count);
        Assert.Equal(train.Pixels, ImageFolderDataset.Load(b, "train", new ImageFolderOptions(3, 32)).Pixels);
        // shapes differ from their background: every image has more than one colour
        for (int i = 0; i < train.Count; i++)
        {
            var img = train.Pixels.AsSpan(i * 3 * 1024, 3 * 1024);
            Assert.True(img.ToArray().Distinct().Count() > 4, $"image {i} is flat");
        }
        Assert.NotEqual(train.Pixels, ImageFolderDataset.Load(TinyModels.NewTempDir() is var c && ShapesDataset.Write(c, 3, 2, 32, seed: 6) > 0 ? c : c, "train", new ImageFolderOptions(3, 32)).Pixels);
    }

    [Fact]
    public void The_cache_is_read_back_and_missed_when_the_folder_or_the_settings_change_or_it_is_damaged()
    {
        string root = TwoClasses(), cache = Path.Combine(TinyModels.NewTempDir(), "cache");
        var log = new List<string>();
        var o = new ImageFolderOptions(3, 8);
        var first = ImageFolderCache.Load(root, "train", o, cache, log.Add);
        string file = Assert.Single(Directory.GetFiles(cache));
        Assert.Contains("cached in", log[^1]);

        var again = ImageFolderCache.Load(root, "train", o, cache, log.Add);
        Assert.Contains("from " + file, log[^1]);
        Assert.Equal(first.Pixels, again.Pixels);
        Assert.Equal(first.Labels, again.Labels);
        Assert.Equal(first.ClassNames, again.ClassNames);
        Assert.Equal(first.Root, again.Root);

        // other settings: another key, another file; the split's older file goes
        var grey = ImageFolderCache.Load(root, "train", o with { Channels = 1 }, cache, log.Add);
        Assert.Equal(3 * 64, grey.Pixels.Length);
        Assert.NotEqual(file, Assert.Single(Directory.GetFiles(cache)));

        // a new image: a miss that sees it
        Png(Path.Combine(root, "blue", "c.png"), 8, 8, new SKColor(0, 0, 250));
        Assert.Equal(4, ImageFolderCache.Load(root, "train", o, cache, log.Add).Count);
        Assert.Contains("decoded 4 images", log[^1]);

        // a damaged cache file is never used: decoded again and rewritten
        file = Assert.Single(Directory.GetFiles(cache));
        var bytes = File.ReadAllBytes(file);
        bytes[bytes.Length / 2] ^= 0x40;
        File.WriteAllBytes(file, bytes);
        var fixedUp = ImageFolderCache.Load(root, "train", o, cache, log.Add);
        Assert.Contains("damaged", log[^2]);
        Assert.Equal(ImageFolderDataset.Load(root, "train", o).Pixels, fixedUp.Pixels);
        Assert.Contains("from", (ImageFolderCache.Load(root, "train", o, cache, log.Add), log[^1]).Item2);
    }

    [Fact]
    public void Resize_modes_parse_and_splits_are_found()
    {
        foreach (var m in Enum.GetValues<ResizeMode>()) Assert.Equal(m, ImageFolderDataset.ParseResize(ImageFolderDataset.ResizeName(m)));
        Assert.Contains("lanczos", Assert.Throws<InvalidInputException>(() => ImageFolderDataset.ParseResize("lanczos")).Message);

        string flat = TwoClasses();
        Assert.True(LabelledData.HasSplit(flat, DataSplit.Train));
        Assert.False(LabelledData.HasSplit(flat, DataSplit.Test));
        string split = TinyModels.NewTempDir();
        ShapesDataset.Write(split, trainPerClass: 1, testPerClass: 1, size: 16, seed: 1);
        Assert.True(LabelledData.HasSplit(split, DataSplit.Test));
        var test = LabelledData.Load(split, DataSplit.Test, ShapesDataset.Classes.Count, 1, 8, ResizeMode.Linear);
        Assert.Equal(ShapesDataset.Classes, test.ClassNames);
        Assert.Equal((1, 8, 8), (test.Channels, test.Height, test.Width));
        Assert.Contains("--resize", Assert.Throws<InvalidInputException>(() => LabelledData.Load(split, DataSplit.Test, ShapesDataset.Classes.Count, 1, 8)).Message);
        // the wrong number of classes is named
        Assert.Contains("expected 5 classes", Assert.Throws<InvalidInputException>(() => LabelledData.Load(split, DataSplit.Train, 5, 1, 16)).Message);
    }
}
