using Diffusion.Runtime;
using SkiaSharp;

namespace Diffusion.Imaging;

/// <summary>How an image folder's files are brought to the model's size.</summary>
public enum ResizeMode
{
    /// <summary>Every image must already have the model's size; another size is an error naming the file.</summary>
    Refuse,
    /// <summary>Resized with SkiaSharp's linear filter (bilinear, with mipmaps when shrinking by more than 2x).</summary>
    Linear,
    /// <summary>Resized with SkiaSharp's cubic filter (Mitchell).</summary>
    Cubic,
}

/// <summary>What the model takes: channels (1 greyscale, 3 RGB), a square size, and how to get there.</summary>
/// <param name="Channels">1 (greyscale: ITU-R BT.601 luma of the decoded colour) or 3 (RGB; alpha composited on black).</param>
/// <param name="Size">Height and width of the model's images.</param>
/// <param name="Resize">What to do with a file of another size.</param>
/// <param name="SkipBad">Skip files that cannot be decoded (counted in <see cref="ImageFolderDataset.Skipped"/>) instead of stopping.</param>
public sealed record ImageFolderOptions(int Channels, int Size, ResizeMode Resize = ResizeMode.Refuse, bool SkipBad = false);

/// <summary>
/// A labelled image dataset read from a folder (issue 17): <c>&lt;root&gt;/&lt;class name&gt;/*.png|jpg|jpeg</c>, or the
/// same under <c>&lt;root&gt;/train</c> and <c>&lt;root&gt;/test</c>. Classes are the folder names sorted ordinally (label =
/// index); files within a class are sorted by name, so a folder always gives the same dataset. Decoded with
/// SkiaSharp and converted once to the model's channels and size; pixels are kept as bytes, [N, C, H, W].
/// </summary>
public sealed class ImageFolderDataset
{
    /// <summary>The image file extensions read (case-insensitive).</summary>
    public static readonly IReadOnlyList<string> Extensions = [".png", ".jpg", ".jpeg"];

    internal ImageFolderDataset(string root, IReadOnlyList<string> classNames, byte[] pixels, byte[] labels, int channels, int size, IReadOnlyList<string> skipped)
    {
        Root = root; ClassNames = classNames; Pixels = pixels; Labels = labels; Channels = channels; Height = Width = size; Skipped = skipped;
    }

    /// <summary>The folder the images came from (the split's folder).</summary>
    public string Root { get; }
    /// <summary>Class names, index = label.</summary>
    public IReadOnlyList<string> ClassNames { get; }
    /// <summary>Pixels 0-255, [N, C, H, W] (channel planes, as the model takes them).</summary>
    public byte[] Pixels { get; }
    /// <summary>Labels, [N].</summary>
    public byte[] Labels { get; }
    /// <summary>Images.</summary>
    public int Count => Labels.Length;
    /// <summary>Channels C.</summary>
    public int Channels { get; }
    /// <summary>Height H.</summary>
    public int Height { get; }
    /// <summary>Width W.</summary>
    public int Width { get; }
    /// <summary>Files skipped as undecodable (<see cref="ImageFolderOptions.SkipBad"/>), with the reason.</summary>
    public IReadOnlyList<string> Skipped { get; }

    /// <summary>Parses "refuse", "linear" or "cubic" (the <c>--resize</c> option and the config key <c>resize</c>).</summary>
    /// <exception cref="InvalidInputException">Any other value.</exception>
    public static ResizeMode ParseResize(string value) => value?.Trim().ToLowerInvariant() switch
    {
        "refuse" or "none" => ResizeMode.Refuse,
        "linear" or "bilinear" => ResizeMode.Linear,
        "cubic" or "bicubic" => ResizeMode.Cubic,
        _ => throw new InvalidInputException($"Unknown resize '{value}'; expected refuse, linear or cubic."),
    };

    /// <summary>The name <see cref="ParseResize"/> reads back: "refuse", "linear" or "cubic".</summary>
    public static string ResizeName(ResizeMode mode) => mode.ToString().ToLowerInvariant();

    /// <summary>True when <paramref name="folder"/> looks like an image folder (class subfolders with images, directly or under train/).</summary>
    public static bool IsImageFolder(string folder)
    {
        if (!Directory.Exists(folder)) return false;
        string root = Directory.Exists(Path.Combine(folder, "train")) ? Path.Combine(folder, "train") : folder;
        return Directory.EnumerateDirectories(root).Any(d => Directory.EnumerateFiles(d).Any(IsImage));
    }

    /// <summary>The class names of an image folder's train split (its class folders, sorted ordinally), without decoding anything.</summary>
    public static IReadOnlyList<string> ClassNamesOf(string folder)
    {
        string root = Directory.Exists(Path.Combine(folder, "train")) ? Path.Combine(folder, "train") : folder;
        return Directory.Exists(root) ? Directory.GetDirectories(root).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList() : [];
    }

    /// <summary>The side of the first image of the train split's first class (sorted), read from its header; what a judge trains at by default.</summary>
    /// <exception cref="InvalidInputException">No image, an undecodable file, or a non-square image.</exception>
    public static int FirstImageSize(string folder)
    {
        string root = Directory.Exists(Path.Combine(folder, "train")) ? Path.Combine(folder, "train") : folder;
        var file = (Directory.Exists(root) ? Directory.GetDirectories(root).Order(StringComparer.Ordinal) : Enumerable.Empty<string>())
            .Select(d => Directory.GetFiles(d).Where(IsImage).Order(StringComparer.Ordinal).FirstOrDefault()).FirstOrDefault(f => f is not null)
            ?? throw new InvalidInputException($"Image folder {folder}: no .png, .jpg or .jpeg file under {root}/<class name>/.");
        using var codec = SKCodec.Create(file)
            ?? throw new InvalidInputException($"Image {file} cannot be decoded as PNG or JPEG (corrupt or another format).");
        var info = codec.Info;
        if (info.Width != info.Height) throw new InvalidInputException($"Image {file} is {info.Width}x{info.Height}; give the size to convert to (square images only).");
        return info.Width;
    }

    /// <summary>Reads split <paramref name="split"/> ("train" or "test") of <paramref name="folder"/>; a folder without train/ and test/ is its own train split.</summary>
    /// <exception cref="InvalidInputException">No such folder or split, fewer than two classes, an empty class folder, more than 255 classes,
    /// a file that cannot be decoded (unless skipped), or a size other than the model's with <see cref="ResizeMode.Refuse"/>; one line naming the file or folder.</exception>
    public static ImageFolderDataset Load(string folder, string split, ImageFolderOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Channels is not (1 or 3)) throw new InvalidInputException($"Image channels {options.Channels}; expected 1 (greyscale) or 3 (RGB).");
        if (options.Size < 4 || options.Size > 1024) throw new InvalidInputException($"Image size {options.Size}; expected 4 to 1024.");
        if (!Directory.Exists(folder)) throw new InvalidInputException($"Image folder not found: {folder} (expected <folder>/<class name>/*.png|jpg|jpeg).");
        bool splits = Directory.Exists(Path.Combine(folder, "train"));
        string root = splits ? Path.Combine(folder, split) : split == "train" ? folder
            : throw new InvalidInputException($"Image folder {folder} has no train/ and test/ splits, so it has no '{split}' split.");
        if (!Directory.Exists(root)) throw new InvalidInputException($"Image folder {folder}: no {split}/ folder beside train/.");

        var classes = Directory.GetDirectories(root).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList();
        if (classes.Count < 2)
            throw new InvalidInputException($"Image folder {root}: {(classes.Count == 0 ? "no class folders" : $"one class folder ({classes[0]})")}; expected a folder per class, at least two.");
        if (classes.Count > 255) throw new InvalidInputException($"Image folder {root}: {classes.Count} classes; at most 255 are supported.");

        int size = options.Size, c = options.Channels, plane = size * size;
        var pixels = new List<byte[]>();
        var labels = new List<byte>();
        var skipped = new List<string>();
        for (int k = 0; k < classes.Count; k++)
        {
            string dir = Path.Combine(root, classes[k]);
            var files = Directory.GetFiles(dir).Where(IsImage).Order(StringComparer.Ordinal).ToList();
            if (files.Count == 0) throw new InvalidInputException($"Class folder {dir} holds no .png, .jpg or .jpeg file; remove it or add images.");
            int kept = 0;
            foreach (var f in files)
            {
                byte[]? img;
                try { img = Decode(f, options); }
                catch (InvalidInputException e) when (options.SkipBad && e.Data.Contains(Undecodable))
                {
                    skipped.Add(e.Message);
                    continue;
                }
                pixels.Add(img);
                labels.Add((byte)k);
                kept++;
            }
            if (kept == 0) throw new InvalidInputException($"Class folder {dir}: none of its {files.Count} images could be decoded.");
        }
        var all = new byte[(long)pixels.Count * c * plane];
        for (int i = 0; i < pixels.Count; i++) pixels[i].CopyTo(all, (long)i * c * plane);
        return new ImageFolderDataset(root, classes, all, [.. labels], c, size, skipped);
    }

    private const string Undecodable = "undecodable";

    internal static bool IsImage(string file) => Extensions.Contains(Path.GetExtension(file).ToLowerInvariant());

    // One file to [C, H, W] bytes.
    private static byte[] Decode(string file, ImageFolderOptions o)
    {
        using var decoded = SKBitmap.Decode(file);
        if (decoded is null || decoded.Width < 1 || decoded.Height < 1)
        {
            var e = new InvalidInputException($"Image {file} cannot be decoded as PNG or JPEG (corrupt or another format); remove it or skip such files (train --skip-bad-images).");
            e.Data[Undecodable] = true;
            throw e;
        }
        int size = o.Size;
        if ((decoded.Width != size || decoded.Height != size) && o.Resize == ResizeMode.Refuse)
            throw new InvalidInputException($"Image {file} is {decoded.Width}x{decoded.Height}; the model takes {size}x{size} (resize the images, or pass --resize linear or --resize cubic).");
        var info = new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var rgba = new SKBitmap(info);
        using (var canvas = new SKCanvas(rgba))
        {
            canvas.Clear(SKColors.Black); // transparent pixels composite on black
            var sampling = o.Resize == ResizeMode.Cubic ? new SKSamplingOptions(SKCubicResampler.Mitchell)
                : new SKSamplingOptions(SKFilterMode.Linear, decoded.Width >= 2 * size ? SKMipmapMode.Linear : SKMipmapMode.None);
            using var image = SKImage.FromBitmap(decoded);
            canvas.DrawImage(image, new SKRect(0, 0, size, size), sampling);
        }
        var src = rgba.GetPixelSpan();
        int plane = size * size;
        var dst = new byte[o.Channels * plane];
        for (int p = 0; p < plane; p++)
        {
            byte r = src[4 * p], g = src[4 * p + 1], b = src[4 * p + 2];
            if (o.Channels == 3) { dst[p] = r; dst[plane + p] = g; dst[2 * plane + p] = b; }
            else dst[p] = (byte)Math.Clamp((int)Math.Round(0.299 * r + 0.587 * g + 0.114 * b), 0, 255); // ITU-R BT.601 luma
        }
        return dst;
    }
}
