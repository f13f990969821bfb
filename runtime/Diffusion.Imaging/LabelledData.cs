using Diffusion.Runtime;
using Diffusion.Tools;

namespace Diffusion.Imaging;

/// <summary>The two splits every dataset has: IDX files name them <c>train</c> and <c>t10k</c>, image folders <c>train/</c> and <c>test/</c>.</summary>
public enum DataSplit
{
    /// <summary>The training split.</summary>
    Train,
    /// <summary>The held-out split (IDX <c>t10k</c>, image folder <c>test/</c>).</summary>
    Test,
}

/// <summary>Labelled images as bytes 0-255, [N, C, H, W] (channel planes), with labels [N]; what the judges and eval read.</summary>
/// <param name="Pixels">Pixels 0-255, image after image, each <c>C * H * W</c> bytes.</param>
/// <param name="Labels">Labels, [N].</param>
/// <param name="Channels">Channels C (1 or 3).</param>
/// <param name="Height">Height H.</param>
/// <param name="Width">Width W.</param>
/// <param name="ClassNames">Class names of an image folder (its sorted class folders); null for IDX files, which carry none.</param>
/// <param name="Source">The file or folder the images came from (for messages and reports).</param>
public sealed record LabelledImages(byte[] Pixels, byte[] Labels, int Channels, int Height, int Width, IReadOnlyList<string>? ClassNames, string Source)
{
    /// <summary>Images N.</summary>
    public int Count => Labels.Length;
    /// <summary>Bytes per image, C * H * W.</summary>
    public int ImageSize => Channels * Height * Width;
}

/// <summary>
/// Reads a split of either kind of dataset folder: IDX files (<c>train-images-idx3-ubyte</c>, greyscale, any size) or an
/// image folder (<see cref="ImageFolderDataset"/>, converted to the channels and size asked for). The one place the
/// judges, the gate and the reports load real data, so every stage reads a user's folder the same way.
/// </summary>
public static class LabelledData
{
    /// <summary>True when <paramref name="folder"/> is an image folder rather than a folder of IDX files.</summary>
    public static bool IsImageFolder(string folder) => ImageFolderDataset.IsImageFolder(folder);

    /// <summary>True when <paramref name="folder"/> has split <paramref name="split"/>: IDX files of it, or for an image folder train/ and test/ folders.</summary>
    public static bool HasSplit(string folder, DataSplit split) => IsImageFolder(folder)
        ? split == DataSplit.Train || (Directory.Exists(Path.Combine(folder, "train")) && Directory.Exists(Path.Combine(folder, "test")))
        : IdxDataset.HasSplit(folder, IdxName(split));

    private static string IdxName(DataSplit split) => split == DataSplit.Train ? "train" : "t10k";

    /// <summary>Reads split <paramref name="split"/> of <paramref name="folder"/>.</summary>
    /// <param name="folder">IDX folder or image folder.</param>
    /// <param name="split">Train or test.</param>
    /// <param name="numClasses">Classes K; every label must be below it (an image folder must have exactly K class folders).</param>
    /// <param name="channels">Channels the caller takes (IDX: must be 1).</param>
    /// <param name="size">Side the caller takes (IDX: must match the files; image folder: converted to it per <paramref name="resize"/>).</param>
    /// <param name="resize">What an image folder does with a file of another size.</param>
    /// <param name="limit">Only the first N images (0 = all).</param>
    /// <exception cref="InvalidInputException">Missing or bad files, a shape or class count other than asked; one line naming the file or folder.</exception>
    public static LabelledImages Load(string folder, DataSplit split, int numClasses, int channels, int size, ResizeMode resize = ResizeMode.Refuse, int limit = 0)
    {
        if (IsImageFolder(folder))
        {
            var set = ImageFolderDataset.Load(folder, split == DataSplit.Train ? "train" : "test", new ImageFolderOptions(channels, size, resize));
            if (set.ClassNames.Count != numClasses)
                throw new InvalidInputException($"Image folder {set.Root}: {set.ClassNames.Count} class folders ({string.Join(", ", set.ClassNames)}); expected {numClasses} classes.");
            return Take(new LabelledImages(set.Pixels, set.Labels, set.Channels, set.Height, set.Width, set.ClassNames, set.Root), limit);
        }
        var idx = IdxDataset.LoadSplit(folder, IdxName(split), numClasses);
        if (channels != 1)
            throw new InvalidInputException($"{idx.Images.Path}: IDX images are greyscale (1 channel); {channels} channels were asked for (use an image folder for colour).");
        if (idx.Height != size || idx.Width != size)
            throw new InvalidInputException($"{idx.Images.Path}: images are {idx.Height}x{idx.Width}; {size}x{size} was asked for (IDX files are not resized).");
        return Take(FromIdx(idx), limit);
    }

    /// <summary>An IDX dataset as labelled images (greyscale, [N, 1, H, W]; the bytes are shared, not copied).</summary>
    public static LabelledImages FromIdx(IdxDataset idx) => new(idx.Images.Data, idx.Labels.Data, 1, idx.Height, idx.Width, null, idx.Images.Path);

    private static LabelledImages Take(LabelledImages set, int limit)
    {
        if (limit < 0) throw new InvalidInputException($"Image limit {limit}; expected 0 (all) or more.");
        if (limit == 0 || limit >= set.Count) return set;
        return set with { Pixels = set.Pixels[..(limit * set.ImageSize)], Labels = set.Labels[..limit] };
    }
}
