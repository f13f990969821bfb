using Diffusion.Runtime;
using Diffusion.Tools;

namespace Diffusion.Eval;

/// <summary>
/// Labelled images in model space: pixels [N, C, H, W] float in [-1, 1] (channel planes, row-major), and labels [N].
/// The unit every judge and metric takes.
/// </summary>
public sealed class ImageSet
{
    /// <summary>Pixels, [N * C * H * W], image after image, in [-1, 1].</summary>
    public float[] Pixels { get; }
    /// <summary>Labels, [N], each in 0..NumClasses-1.</summary>
    public int[] Labels { get; }
    /// <summary>Channels C (1 greyscale, 3 RGB).</summary>
    public int Channels { get; }
    /// <summary>Image height H.</summary>
    public int Height { get; }
    /// <summary>Image width W.</summary>
    public int Width { get; }
    /// <summary>Number of images N.</summary>
    public int Count => Labels.Length;
    /// <summary>Values per image, C * H * W.</summary>
    public int ImageSize => Channels * Height * Width;
    /// <summary>Pixels per channel plane, H * W.</summary>
    public int PlaneSize => Height * Width;
    /// <summary>Where the images came from (for reports and messages).</summary>
    public string Source { get; }

    /// <summary>Wraps pixels [N * C * H * W] and labels [N].</summary>
    /// <exception cref="ArgumentException">Sizes disagree.</exception>
    public ImageSet(float[] pixels, int[] labels, int height, int width, string source, int channels = 1)
    {
        if (channels < 1 || height < 1 || width < 1 || pixels.Length != (long)labels.Length * channels * height * width)
            throw new ArgumentException($"ImageSet: {pixels.Length} pixels do not make {labels.Length} images of [{channels},{height},{width}].");
        Pixels = pixels; Labels = labels; Channels = channels; Height = height; Width = width; Source = source;
    }

    /// <summary>One image, [C * H * W].</summary>
    public ReadOnlySpan<float> Image(int i) => Pixels.AsSpan(i * ImageSize, ImageSize);

    /// <summary>Converts an IDX dataset (0-255) to model space, optionally only its first <paramref name="limit"/> images.</summary>
    public static ImageSet FromIdx(IdxDataset data, int limit = 0)
    {
        var (px, labels, _) = data.ToModel(limit);
        return new ImageSet(px, labels.Select(l => (int)l).ToArray(), data.Height, data.Width, data.Images.Path);
    }

    /// <summary>Converts the images of an IDX dataset at <paramref name="indices"/> (in that order) to model space.</summary>
    public static ImageSet FromIdx(IdxDataset data, IReadOnlyList<int> indices) => From(Imaging.LabelledData.FromIdx(data), indices);

    /// <summary>Converts labelled images (0-255, IDX or image folder) to model space.</summary>
    public static ImageSet From(Imaging.LabelledImages data)
    {
        var px = new float[data.Pixels.Length];
        Runtime.Pixels.ToModel(data.Pixels, px);
        return new ImageSet(px, data.Labels.Select(l => (int)l).ToArray(), data.Height, data.Width, data.Source, data.Channels);
    }

    /// <summary>Converts the labelled images at <paramref name="indices"/> (in that order) to model space.</summary>
    public static ImageSet From(Imaging.LabelledImages data, IReadOnlyList<int> indices)
    {
        int size = data.ImageSize;
        var px = new float[indices.Count * size];
        var labels = new int[indices.Count];
        for (int j = 0; j < indices.Count; j++)
        {
            Runtime.Pixels.ToModel(data.Pixels.AsSpan(indices[j] * size, size), px.AsSpan(j * size, size));
            labels[j] = data.Labels[indices[j]];
        }
        return new ImageSet(px, labels, data.Height, data.Width, data.Source, data.Channels);
    }

    /// <summary>Loads an IDX images / labels pair (raw or .gz), checking counts and label range.</summary>
    /// <exception cref="InvalidInputException">Missing or corrupt file, counts disagree, a label outside 0..numClasses-1.</exception>
    public static ImageSet LoadIdx(string imagesPath, string labelsPath, int numClasses, int limit = 0)
        => FromIdx(IdxDataset.Load(imagesPath, labelsPath, numClasses), limit);

    /// <summary>The images at <paramref name="indices"/>, in that order.</summary>
    public ImageSet Subset(IReadOnlyList<int> indices)
    {
        var px = new float[indices.Count * ImageSize];
        var labels = new int[indices.Count];
        for (int j = 0; j < indices.Count; j++)
        {
            Image(indices[j]).CopyTo(px.AsSpan(j * ImageSize, ImageSize));
            labels[j] = Labels[indices[j]];
        }
        return new ImageSet(px, labels, Height, Width, Source, Channels);
    }

    /// <summary>Indices of the images of class <paramref name="label"/>.</summary>
    public int[] IndicesOf(int label) => Enumerable.Range(0, Count).Where(i => Labels[i] == label).ToArray();

    /// <summary>Writes the set as an IDX pair (0-255) atomically; greyscale only.</summary>
    /// <exception cref="InvalidInputException">A colour set (IDX files here hold [N, H, W] greyscale images).</exception>
    public void WriteIdx(string imagesPath, string labelsPath)
    {
        if (Channels != 1) throw new InvalidInputException($"{imagesPath}: IDX files hold greyscale images; this set has {Channels} channels (write PNG grids instead).");
        var bytes = new byte[Pixels.Length];
        Runtime.Pixels.ToBytes(Pixels, bytes);
        Idx.Write(imagesPath, [Count, Height, Width], bytes);
        Idx.Write(labelsPath, [Count], Labels.Select(l => (byte)l).ToArray());
    }
}
