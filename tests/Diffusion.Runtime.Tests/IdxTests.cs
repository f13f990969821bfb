using System.IO.Compression;
using Diffusion.Runtime;
using Diffusion.Tools;

namespace Diffusion.Runtime.Tests;

public class IdxTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "diffusion-idx-tests", Guid.NewGuid().ToString("N"));

    public IdxTests() => Directory.CreateDirectory(_dir);
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private string File_(string name, byte[] bytes) { string p = Path.Combine(_dir, name); File.WriteAllBytes(p, bytes); return p; }

    private static byte[] Images(int n) => Idx.Encode([n, 28, 28], new byte[n * 784]);
    private static byte[] Labels(params byte[] l) => Idx.Encode([l.Length], l);

    private void Fails(string path, string expected)
    {
        var e = Assert.Throws<InvalidInputException>(() => Idx.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void RoundTrip_RawAndGzip()
    {
        var data = Enumerable.Range(0, 2 * 784).Select(i => (byte)(i % 251)).ToArray();
        foreach (var name in new[] { "a-idx3-ubyte", "a-idx3-ubyte.gz" })
        {
            string p = Path.Combine(_dir, name);
            Idx.Write(p, [2, 28, 28], data);
            var r = Idx.Read(p);
            Assert.Equal(new[] { 2, 28, 28 }, r.Dims);
            Assert.Equal(data, r.Data);
        }
    }

    [Fact]
    public void Truncated_IsRefused() => Fails(File_("t", Images(3)[..^10]), "truncated");

    [Fact]
    public void TrailingBytes_AreRefused() => Fails(File_("t", [.. Images(1), 1, 2, 3]), "trailing");

    [Fact]
    public void BadMagic_IsRefused() => Fails(File_("m", [0x50, 0x4b, 3, 4, 0, 0, 0, 1, 0]), "magic");

    [Fact]
    public void UnsupportedType_IsRefused() => Fails(File_("f", [0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]), "data type");

    [Fact]
    public void TruncatedHeader_IsRefused() => Fails(File_("h", [0, 0, 8, 3, 0, 0, 0, 1]), "header");

    [Fact]
    public void TooShort_IsRefused() => Fails(File_("s", [0, 0]), "too short");

    [Fact]
    public void CorruptGzip_IsRefused()
    {
        var ms = new MemoryStream();
        using (var z = new GZipStream(ms, CompressionLevel.Optimal, leaveOpen: true)) z.Write(Images(2));
        var gz = ms.ToArray();
        // .NET's GZipStream ends quietly at a cut; the IDX length check then reports the truncation
        Fails(File_("c.gz", gz[..(gz.Length / 2)]), "truncated");
        // a gzip header followed by garbage is a corrupt stream
        Fails(File_("d.gz", [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), "gzip");
    }

    [Fact]
    public void Dataset_CountsMustAgree_AndLabelsBeInRange()
    {
        string img = File_("train-images-idx3-ubyte", Images(3));
        var e = Assert.Throws<InvalidInputException>(() => IdxDataset.Load(img, File_("l2", Labels(1, 2))));
        Assert.Contains("disagree", e.Message);
        e = Assert.Throws<InvalidInputException>(() => IdxDataset.Load(img, File_("l3", Labels(1, 2, 10))));
        Assert.Contains("label 10", e.Message);
        File_("train-labels-idx1-ubyte", Labels(0, 9, 5));
        var ok = IdxDataset.LoadSplit(_dir, "train");
        Assert.Equal(3, ok.Count);
        e = Assert.Throws<InvalidInputException>(() => IdxDataset.LoadSplit(_dir, "t10k"));
        Assert.Contains("t10k-images-idx3-ubyte", e.Message);
        e = Assert.Throws<InvalidInputException>(() => IdxDataset.LoadSplit(Path.Combine(_dir, "missing"), "train"));
        Assert.Contains("not found", e.Message);
    }
}
