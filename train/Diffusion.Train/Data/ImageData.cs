using Diffusion.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using Diffusion.Tools;

namespace Diffusion.Train.Data;

/// <summary>
/// A labelled image set held as two tensors, ready to batch: <see cref="Images"/> [N, C, H, W] float32 in
/// [-1, 1] (<see cref="Pixels"/>) and <see cref="Labels"/> [N] int64. Loaded from an IDX split or an image folder.
/// The one augmentation, <see cref="RandomHorizontalFlip"/>, runs only when a config asks (a mirrored digit is
/// another symbol). Shared by the diffusion trainer and any classifier trainer.
/// </summary>
public sealed class ImageData : IDisposable
{
    /// <summary>Images, [N, C, H, W] float32 in [-1, 1].</summary>
    public Tensor Images { get; }
    /// <summary>Labels, [N] int64 in 0..classes-1.</summary>
    public Tensor Labels { get; }
    /// <summary>Number of images N.</summary>
    public int Count { get; }
    /// <summary>Image height H.</summary>
    public int Height { get; }
    /// <summary>Image width W.</summary>
    public int Width { get; }
    /// <summary>Channels C (1 for IDX data; 1 or 3 for image folders).</summary>
    public int Channels => (int)Images.shape[1];

    private ImageData(Tensor images, Tensor labels, int count, int height, int width)
    {
        Images = images; Labels = labels; Count = count; Height = height; Width = width;
    }

    /// <summary>Converts an image folder's split (<see cref="Imaging.ImageFolderDataset"/>, [N, C, H, W] bytes), the first <paramref name="maxImages"/> images (0 = all), to tensors on the CPU.</summary>
    public static ImageData FromImageFolder(Imaging.ImageFolderDataset set, int maxImages = 0)
    {
        int n = maxImages > 0 ? Math.Min(maxImages, set.Count) : set.Count, per = set.Channels * set.Height * set.Width;
        var pixels = new float[(long)n * per];
        Pixels.ToModel(set.Pixels.AsSpan(0, n * per), pixels);
        return new ImageData(tensor(pixels, [n, set.Channels, set.Height, set.Width]), tensor(set.Labels[..n].Select(l => (long)l).ToArray(), [n]), n, set.Height, set.Width);
    }

    /// <summary>Loads split <paramref name="split"/> ("train" or "t10k") from <paramref name="folder"/>, keeping the first <paramref name="maxImages"/> (0 = all).</summary>
    /// <exception cref="InvalidInputException">Missing folder or files, corrupt IDX, labels outside 0..classes-1.</exception>
    public static ImageData Load(string folder, string split, int numClasses, int maxImages = 0)
        => FromIdx(IdxDataset.LoadSplit(folder, split, numClasses), maxImages);

    /// <summary>Converts an IDX dataset (the first <paramref name="maxImages"/> images; 0 = all) to tensors on the CPU.</summary>
    public static ImageData FromIdx(IdxDataset set, int maxImages = 0)
    {
        var (pixels, labels, n) = set.ToModel(maxImages);
        return new ImageData(tensor(pixels, [n, 1, set.Height, set.Width]), tensor(labels.Select(l => (long)l).ToArray(), [n]), n, set.Height, set.Width);
    }

    /// <summary>Wraps existing tensors (images [N, 1, H, W] float in [-1, 1], labels [N] int64); takes ownership.</summary>
    public static ImageData FromTensors(Tensor images, Tensor labels)
    {
        if (images.dim() != 4 || labels.dim() != 1 || images.shape[0] != labels.shape[0])
            throw new ArgumentException($"Expected images [N, 1, H, W] and labels [N]; got [{string.Join(",", images.shape)}] and [{string.Join(",", labels.shape)}].");
        return new ImageData(images, labels, (int)images.shape[0], (int)images.shape[2], (int)images.shape[3]);
    }

    /// <summary>Gathers a batch: images [B, 1, H, W] and labels [B] for the given indices, moved to <paramref name="device"/>.</summary>
    public (Tensor Images, Tensor Labels) Batch(ReadOnlySpan<long> indices, Device device)
    {
        using var idx = tensor(indices.ToArray(), dtype: int64);
        return (Images.index_select(0, idx).to(device), Labels.index_select(0, idx).to(device));
    }

    /// <summary>
    /// Mirrors each image of <paramref name="images"/> [B, C, H, W] left to right with probability 1/2, drawing B
    /// uniforms from the global torch generator (so a seeded, resumed run draws the same mirrors).
    /// </summary>
    public static Tensor RandomHorizontalFlip(Tensor images)
    {
        using Scalar half = 0.5.ToScalar();                                          // held: see Optim/AdamW.cs
        var mirror = (rand(images.shape[0], device: images.device) < half).view(-1, 1, 1, 1);
        return where(mirror, images.flip(3), images);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
    }
}

/// <summary>
/// The data order of a run: epoch e visits the images in a permutation that depends only on (seed, e), so a
/// resumed run (even one stopped mid-epoch) sees exactly the batches an uninterrupted run would. The generator is
/// SplitMix64 (Steele et al. 2014), written out so the order never changes with the .NET version.
/// </summary>
public sealed class EpochShuffle
{
    /// <summary>Creates the order for <paramref name="count"/> items in batches of <paramref name="batchSize"/>.</summary>
    public EpochShuffle(int count, int batchSize, long seed)
    {
        if (count < 1 || batchSize < 1) throw new ArgumentOutOfRangeException(nameof(count), "count and batch size must be >= 1.");
        Count = count; BatchSize = batchSize; Seed = seed;
    }

    /// <summary>Items per epoch.</summary>
    public int Count { get; }
    /// <summary>Items per batch (the last batch of an epoch may be smaller).</summary>
    public int BatchSize { get; }
    /// <summary>Seed of the order.</summary>
    public long Seed { get; }
    /// <summary>Batches per epoch, ceil(Count / BatchSize).</summary>
    public int BatchesPerEpoch => (Count + BatchSize - 1) / BatchSize;

    /// <summary>The permutation of 0..Count-1 for <paramref name="epoch"/> (0-based), by Fisher-Yates.</summary>
    public long[] Permutation(int epoch)
    {
        var p = new long[Count];
        for (int i = 0; i < p.Length; i++) p[i] = i;
        ulong state = (ulong)Seed * 0x9E3779B97F4A7C15UL ^ (ulong)(epoch + 1) * 0xD1B54A32D192ED03UL;
        for (int i = p.Length - 1; i > 0; i--)
        {
            int j = (int)(Next(ref state) % (ulong)(i + 1));
            (p[i], p[j]) = (p[j], p[i]);
        }
        return p;
    }

    /// <summary>The indices of batch <paramref name="batch"/> of <paramref name="permutation"/>.</summary>
    public ReadOnlySpan<long> Batch(long[] permutation, int batch)
    {
        int start = batch * BatchSize;
        return permutation.AsSpan(start, Math.Min(BatchSize, Count - start));
    }

    private static ulong Next(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
