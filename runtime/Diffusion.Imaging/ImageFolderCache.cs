using System.Security.Cryptography;
using System.Text;
using Diffusion.Runtime;
using Diffusion.Tools;

namespace Diffusion.Imaging;

/// <summary>
/// The decoded images of an image folder's split, kept in one binary file so that a later run or a resumed one reads
/// them back instead of decoding every PNG or JPEG again (<see cref="Load"/>). The file is named after a SHA-256 key of
/// what the decode depends on (every file's path, size and modification time, the channels, size, resize filter and
/// skip setting), so a changed folder or setting misses the cache and decodes afresh; the file ends with the SHA-256
/// of its contents, so a damaged cache is decoded again, never used.
/// <code>
/// "DIFFIMG1" | key [32] | C H W N K (int32) | K class names | skipped count, messages | labels [N] | pixels [N, C, H, W] | sha256 [32]
/// </code>
/// </summary>
public static class ImageFolderCache
{
    private static readonly byte[] Magic = "DIFFIMG1"u8.ToArray();

    /// <summary>
    /// <see cref="ImageFolderDataset.Load"/> through a cache in <paramref name="cacheDir"/> (null: no cache): reads
    /// <c>&lt;cacheDir&gt;/&lt;split&gt;-&lt;key&gt;.bin</c> when it matches the folder, else decodes and writes it
    /// (atomically; older cache files of the split are removed).
    /// </summary>
    /// <param name="folder">The image folder.</param>
    /// <param name="split">"train" or "test".</param>
    /// <param name="options">Channels, size, resize filter.</param>
    /// <param name="cacheDir">Cache folder, or null.</param>
    /// <param name="log">Told whether the cache was used, written or unreadable.</param>
    /// <exception cref="InvalidInputException">As <see cref="ImageFolderDataset.Load"/>.</exception>
    public static ImageFolderDataset Load(string folder, string split, ImageFolderOptions options, string? cacheDir, Action<string>? log = null)
    {
        if (cacheDir is null) return ImageFolderDataset.Load(folder, split, options);
        byte[] key = Key(folder, split, options);
        string path = Path.Combine(cacheDir, $"{split}-{Convert.ToHexStringLower(key)[..16]}.bin");
        if (File.Exists(path))
        {
            if (TryRead(path, key) is { } cached)
            {
                log?.Invoke($"{cached.Count} decoded images of {cached.Root} from {path}");
                return cached;
            }
            log?.Invoke($"cache {path} is damaged or stale; decoding {folder} again");
        }
        var set = ImageFolderDataset.Load(folder, split, options);
        Directory.CreateDirectory(cacheDir);
        AtomicFile.Write(path, s => Write(s, key, set));
        foreach (var old in Directory.GetFiles(cacheDir, $"{split}-*.bin").Where(f => Path.GetFullPath(f) != Path.GetFullPath(path)))
            File.Delete(old);
        log?.Invoke($"decoded {set.Count} images of {set.Root}; cached in {path}");
        return set;
    }

    /// <summary>The cache key: SHA-256 over the settings and every image file's relative path, size and modification time, in load order.</summary>
    public static byte[] Key(string folder, string split, ImageFolderOptions options)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Add(string s) { h.AppendData(Encoding.UTF8.GetBytes(s)); h.AppendData([0]); }
        Add($"v1 {split} c={options.Channels} s={options.Size} r={options.Resize} skip={options.SkipBad}");
        bool splits = Directory.Exists(Path.Combine(folder, "train"));
        string root = splits ? Path.Combine(folder, split) : folder;
        if (!Directory.Exists(root)) return h.GetHashAndReset(); // Load reports the missing folder
        foreach (var dir in Directory.GetDirectories(root).Order(StringComparer.Ordinal))
        {
            Add("class " + Path.GetFileName(dir));
            foreach (var f in Directory.GetFiles(dir).Where(ImageFolderDataset.IsImage).Order(StringComparer.Ordinal))
            {
                var info = new FileInfo(f);
                Add($"{Path.GetFileName(f)} {info.Length} {info.LastWriteTimeUtc.Ticks}");
            }
        }
        return h.GetHashAndReset();
    }

    private static void Write(Stream s, byte[] key, ImageFolderDataset set)
    {
        using var hashing = new HashingStream(s);
        using (var w = new BinaryWriter(hashing, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic); w.Write(key);
            w.Write(set.Channels); w.Write(set.Height); w.Write(set.Width); w.Write(set.Count); w.Write(set.ClassNames.Count);
            foreach (var n in set.ClassNames) w.Write(n);
            w.Write(set.Root);
            w.Write(set.Skipped.Count);
            foreach (var m in set.Skipped) w.Write(m);
            w.Write(set.Labels); w.Write(set.Pixels);
        }
        s.Write(hashing.Hash());
    }

    private static ImageFolderDataset? TryRead(string path, byte[] key)
    {
        try
        {
            byte[] all = File.ReadAllBytes(path);
            if (all.Length < Magic.Length + 64) return null;
            var body = all.AsSpan(0, all.Length - 32);
            if (!SHA256.HashData(body).AsSpan().SequenceEqual(all.AsSpan(all.Length - 32))) return null;
            using var r = new BinaryReader(new MemoryStream(all, 0, body.Length), Encoding.UTF8);
            if (!r.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic) || !r.ReadBytes(32).AsSpan().SequenceEqual(key)) return null;
            int c = r.ReadInt32(), h = r.ReadInt32(), wd = r.ReadInt32(), n = r.ReadInt32(), k = r.ReadInt32();
            if (c is not (1 or 3) || h != wd || h < 1 || n < 0 || k < 2 || (long)n * c * h * wd > body.Length) return null;
            var names = new string[k];
            for (int i = 0; i < k; i++) names[i] = r.ReadString();
            string root = r.ReadString();
            int skippedCount = r.ReadInt32();
            if (skippedCount < 0 || skippedCount > n + 1_000_000) return null;
            var skipped = new string[skippedCount];
            for (int i = 0; i < skippedCount; i++) skipped[i] = r.ReadString();
            byte[] labels = r.ReadBytes(n), pixels = r.ReadBytes(n * c * h * wd);
            if (labels.Length != n || pixels.Length != n * c * h * wd || r.BaseStream.Position != body.Length || labels.Any(l => l >= k)) return null;
            return new ImageFolderDataset(root, names, pixels, labels, c, h, skipped);
        }
        catch (Exception e) when (e is IOException or EndOfStreamException or FormatException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    // Passes writes through and hashes them.
    private sealed class HashingStream(Stream inner) : Stream
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        public byte[] Hash() => _hash.GetHashAndReset();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer) { _hash.AppendData(buffer); inner.Write(buffer); }
        public override void Flush() => inner.Flush();
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        protected override void Dispose(bool disposing) { if (disposing) _hash.Dispose(); base.Dispose(disposing); }
    }
}
