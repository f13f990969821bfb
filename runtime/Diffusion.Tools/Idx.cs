using System.Buffers.Binary;
using System.IO.Compression;
using Diffusion.Runtime;

namespace Diffusion.Tools;

/// <summary>An IDX array of unsigned bytes (the MNIST format): dimensions and row-major data.</summary>
/// <param name="Path">File it was read from (for messages).</param>
/// <param name="Dims">Dimensions, e.g. [N, 28, 28] for images or [N] for labels.</param>
/// <param name="Data">Row-major bytes, product(Dims) long.</param>
public sealed record IdxArray(string Path, int[] Dims, byte[] Data)
{
    /// <summary>First dimension (number of items).</summary>
    public int Count => Dims[0];
    /// <summary>Bytes per item (product of the dimensions after the first).</summary>
    public int ItemSize => Dims.Skip(1).Aggregate(1, (a, b) => a * b);
}

/// <summary>
/// Reader and writer for IDX files (LeCun's MNIST format), raw or gzip-compressed (by the .gz extension or the
/// gzip magic). Only the unsigned-byte type (0x08) is supported, which is what MNIST-style datasets use.
/// </summary>
public static class Idx
{
    private const byte UnsignedByte = 0x08;

    /// <summary>Reads and validates an IDX file.</summary>
    /// <exception cref="InvalidInputException">Missing, truncated or corrupt file; the message names the file and the problem.</exception>
    public static IdxArray Read(string path)
    {
        if (!File.Exists(path)) throw new InvalidInputException($"IDX file not found: {path}");
        byte[] bytes;
        try
        {
            byte[] raw = File.ReadAllBytes(path);
            bool gz = raw.Length >= 2 && raw[0] == 0x1f && raw[1] == 0x8b;
            if (gz)
            {
                using var ms = new MemoryStream();
                using (var z = new GZipStream(new MemoryStream(raw), CompressionMode.Decompress)) z.CopyTo(ms);
                bytes = ms.ToArray();
            }
            else bytes = raw;
        }
        catch (InvalidDataException e) { throw new InvalidInputException($"IDX file {path}: corrupt gzip stream ({e.Message}).", e); }
        catch (EndOfStreamException e) { throw new InvalidInputException($"IDX file {path}: truncated gzip stream.", e); }
        return Parse(path, bytes);
    }

    /// <summary>Parses IDX bytes; <paramref name="path"/> is only used in messages.</summary>
    /// <exception cref="InvalidInputException">Bad magic, type, dimensions or length.</exception>
    public static IdxArray Parse(string path, byte[] bytes)
    {
        if (bytes.Length < 4) throw new InvalidInputException($"IDX file {path}: {bytes.Length} bytes, too short for the 4-byte magic number.");
        if (bytes[0] != 0 || bytes[1] != 0)
            throw new InvalidInputException($"IDX file {path}: bad magic number 0x{bytes[0]:x2}{bytes[1]:x2}{bytes[2]:x2}{bytes[3]:x2}; expected 0x0000 followed by type and rank (e.g. 0x00000803).");
        if (bytes[2] != UnsignedByte)
            throw new InvalidInputException($"IDX file {path}: data type 0x{bytes[2]:x2}; only unsigned byte (0x08) is supported.");
        int rank = bytes[3];
        if (rank < 1 || rank > 4) throw new InvalidInputException($"IDX file {path}: rank {rank}; expected 1 to 4.");
        int header = 4 + 4 * rank;
        if (bytes.Length < header) throw new InvalidInputException($"IDX file {path}: truncated header ({bytes.Length} bytes, expected at least {header}).");
        var dims = new int[rank];
        long expected = 1;
        for (int i = 0; i < rank; i++)
        {
            uint d = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(4 + 4 * i));
            if (d == 0 || d > int.MaxValue) throw new InvalidInputException($"IDX file {path}: dimension {i} is {d}; expected a positive size.");
            dims[i] = (int)d;
            expected *= d;
        }
        long actual = bytes.LongLength - header;
        if (actual != expected)
            throw new InvalidInputException($"IDX file {path}: {(actual < expected ? "truncated" : "has trailing bytes")}: header [{string.Join(", ", dims)}] needs {expected} data bytes, found {actual}.");
        return new IdxArray(path, dims, bytes.AsSpan(header).ToArray());
    }

    /// <summary>Encodes an unsigned-byte IDX array.</summary>
    public static byte[] Encode(ReadOnlySpan<int> dims, ReadOnlySpan<byte> data)
    {
        long n = 1;
        foreach (int d in dims) n *= d;
        if (n != data.Length) throw new ArgumentException($"IDX encode: dims need {n} bytes, got {data.Length}.");
        var bytes = new byte[4 + 4 * dims.Length + data.Length];
        bytes[2] = UnsignedByte; bytes[3] = (byte)dims.Length;
        for (int i = 0; i < dims.Length; i++) BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(4 + 4 * i), (uint)dims[i]);
        data.CopyTo(bytes.AsSpan(4 + 4 * dims.Length));
        return bytes;
    }

    /// <summary>Writes an IDX file atomically (gzip-compressed when the path ends in .gz).</summary>
    public static void Write(string path, ReadOnlySpan<int> dims, ReadOnlySpan<byte> data)
    {
        byte[] bytes = Encode(dims, data);
        AtomicFile.Write(path, s =>
        {
            if (path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase))
            {
                using var z = new GZipStream(s, CompressionLevel.Optimal, leaveOpen: true);
                z.Write(bytes);
            }
            else s.Write(bytes);
        });
    }
}

/// <summary>Images [N, H, W] and their labels [N] read from a pair of IDX files, checked against each other.</summary>
public sealed class IdxDataset
{
    /// <summary>Images, 0-255.</summary>
    public IdxArray Images { get; }
    /// <summary>Labels, one byte per image.</summary>
    public IdxArray Labels { get; }
    /// <summary>Number of images.</summary>
    public int Count => Images.Count;
    /// <summary>Image height.</summary>
    public int Height => Images.Dims[1];
    /// <summary>Image width.</summary>
    public int Width => Images.Dims[2];

    private IdxDataset(IdxArray images, IdxArray labels) { Images = images; Labels = labels; }

    /// <summary>
    /// The first <paramref name="limit"/> images (0 = all) in model space ([-1, 1], <see cref="Runtime.Pixels.ToModel(ReadOnlySpan{byte}, Span{float})"/>),
    /// [n * H * W], and their labels: what the trainer and the judges feed their models.
    /// </summary>
    public (float[] Pixels, byte[] Labels, int Count) ToModel(int limit = 0)
    {
        int n = limit > 0 ? Math.Min(limit, Count) : Count, size = Height * Width;
        var pixels = new float[(long)n * size];
        Runtime.Pixels.ToModel(Images.Data.AsSpan(0, n * size), pixels);
        return (pixels, Labels.Data[..n], n);
    }

    /// <summary>Loads and cross-checks an images file ([N, H, W]) and a labels file ([N], values below <paramref name="numClasses"/>).</summary>
    /// <exception cref="InvalidInputException">Either file is bad, the counts disagree or a label is out of range.</exception>
    public static IdxDataset Load(string imagesPath, string labelsPath, int numClasses = 10)
    {
        var images = Idx.Read(imagesPath);
        var labels = Idx.Read(labelsPath);
        if (images.Dims.Length != 3) throw new InvalidInputException($"IDX images {imagesPath}: rank {images.Dims.Length}; expected 3 ([N, H, W]).");
        if (labels.Dims.Length != 1) throw new InvalidInputException($"IDX labels {labelsPath}: rank {labels.Dims.Length}; expected 1 ([N]).");
        if (images.Count != labels.Count)
            throw new InvalidInputException($"IDX counts disagree: {imagesPath} has {images.Count} images, {labelsPath} has {labels.Count} labels.");
        for (int i = 0; i < labels.Data.Length; i++)
            if (labels.Data[i] >= numClasses)
                throw new InvalidInputException($"IDX labels {labelsPath}: label {labels.Data[i]} at index {i}; expected 0 to {numClasses - 1}.");
        return new IdxDataset(images, labels);
    }

    /// <summary>
    /// Loads the "train" or "t10k" split from a folder holding the standard MNIST file names
    /// (<c>{split}-images-idx3-ubyte</c> and <c>{split}-labels-idx1-ubyte</c>, raw or .gz).
    /// </summary>
    /// <exception cref="InvalidInputException">Folder or files missing, or the files are bad.</exception>
    public static IdxDataset LoadSplit(string folder, string split, int numClasses = 10)
    {
        var (images, labels) = SplitFiles(folder, split);
        return Load(images, labels, numClasses);
    }

    /// <summary>True when <paramref name="folder"/> has both files of <paramref name="split"/> (raw or .gz).</summary>
    public static bool HasSplit(string folder, string split)
    {
        try { SplitFiles(folder, split); return true; }
        catch (InvalidInputException) { return false; }
    }

    /// <summary>The paths of a split's images and labels files in <paramref name="folder"/> (see <see cref="LoadSplit"/>).</summary>
    /// <exception cref="InvalidInputException">Folder or files missing.</exception>
    public static (string Images, string Labels) SplitFiles(string folder, string split)
    {
        if (!Directory.Exists(folder)) throw new InvalidInputException($"Data folder not found: {folder} (run 'make data', or pass --data with a folder of IDX files).");
        return (Find(folder, $"{split}-images-idx3-ubyte"), Find(folder, $"{split}-labels-idx1-ubyte"));
    }

    private static string Find(string folder, string stem)
    {
        foreach (var name in new[] { stem, stem + ".gz" })
        {
            string p = Path.Combine(folder, name);
            if (File.Exists(p)) return p;
        }
        throw new InvalidInputException($"Data folder {folder}: no {stem} or {stem}.gz.");
    }
}
