using System.IO.Compression;
using System.Security.Cryptography;
using Diffusion.Runtime.Generation;
using Diffusion.Runtime.Onnx;
using Diffusion.Tests.Shared;
using Diffusion.Tools;

namespace Diffusion.Runtime.Tests;

/// <summary>
/// Fuzz tests of the readers that take a user's files (issue 15): 1,000 seeded mutations each of an IDX pair (raw and
/// gzip) and of a model folder (float32 and int8 graphs, and files swapped for one another). Every mutation either
/// loads or fails with <see cref="InvalidInputException"/> naming the file; no other exception escapes.
/// </summary>
public class FuzzTests
{
    private const int Count = 1000;

    private static void AssertHeld(List<string> failures, string reader) =>
        Assert.True(failures.Count == 0, $"{failures.Count} mutations of {reader} escaped the project's error:\n" + string.Join("\n", failures.Take(20)));

    private static (string Images, string Labels) IdxPair(string dir, int n = 12)
    {
        var rng = new Random(3);
        var pixels = new byte[n * 28 * 28];
        rng.NextBytes(pixels);
        string images = Path.Combine(dir, "train-images-idx3-ubyte"), labels = Path.Combine(dir, "train-labels-idx1-ubyte");
        Idx.Write(images, [n, 28, 28], pixels);
        Idx.Write(labels, [n], Enumerable.Range(0, n).Select(i => (byte)(i % 10)).ToArray());
        return (images, labels);
    }

    private static byte[] Gzip(byte[] raw)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest)) gz.Write(raw);
        return ms.ToArray();
    }

    [Fact]
    public void Idx_files_load_or_fail_naming_the_file()
    {
        string dir = TinyModels.NewTempDir();
        var (images, labels) = IdxPair(dir);
        byte[] img = File.ReadAllBytes(images), lab = File.ReadAllBytes(labels);
        string mutated = Path.Combine(dir, "mutated-idx3-ubyte"), mutatedGz = mutated + ".gz";
        void Check(IdxDataset d)
        {
            // a dataset that loads is consistent: as many labels as images, every label a class, [N, H, W] bytes
            Assert.Equal(d.Images.Count, d.Labels.Count);
            Assert.Equal((long)d.Count * d.Height * d.Width, d.Images.Data.LongLength);
            Assert.All(d.Labels.Data, l => Assert.InRange(l, 0, 9));
        }
        var failures = new List<string>();
        failures.AddRange(Mutations.Run<InvalidInputException>(Mutations.Of(img, Count / 4, seed: 1), mutated, p => Check(IdxDataset.Load(p, labels)), mutated));
        failures.AddRange(Mutations.Run<InvalidInputException>(Mutations.Of(lab, Count / 4, seed: 2), mutated, p => Check(IdxDataset.Load(images, p)), mutated));
        // gzip: mutations of the compressed stream, and compressed mutations of the raw bytes
        failures.AddRange(Mutations.Run<InvalidInputException>(Mutations.Of(Gzip(img), Count / 4, seed: 3), mutatedGz, p => Check(IdxDataset.Load(p, labels)), mutatedGz));
        failures.AddRange(Mutations.Run<InvalidInputException>(Mutations.Of(img, Count / 4, seed: 4).Select(m => m with { Bytes = Gzip(m.Bytes) }), mutatedGz, p => Check(IdxDataset.Load(p, labels)), mutatedGz));
        // swapped: labels given as images and the other way round
        var swapped = Assert.Throws<InvalidInputException>(() => IdxDataset.Load(labels, images));
        Assert.Contains(labels, swapped.Message);
        AssertHeld(failures, "IDX files");
    }

    // A folder with the four graphs; the int8 ones quantized_from their float32 files, as export writes them.
    private static string FullFolder()
    {
        string dir = TinyModels.Folder();
        foreach (var (kind, fl, q) in new[] { (GraphKind.Unet, ModelFolderLayout.Unet, ModelFolderLayout.UnetInt8), (GraphKind.Guided, ModelFolderLayout.Guided, ModelFolderLayout.GuidedInt8) })
        {
            string sha = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(dir, fl))));
            Diffusion.Onnx.OnnxHelper.Save(TinyModels.Build(TinyModels.Meta(kind) with { Precision = GraphPrecision.Int8, QuantizedFrom = sha }), Path.Combine(dir, q));
        }
        return dir;
    }

    [Fact]
    public void Model_folders_load_or_fail_naming_the_file()
    {
        string dir = FullFolder();
        var originals = ModelFolderLayout.Int8Pairs.SelectMany(p => new[] { p.Float32, p.Int8 }).ToDictionary(f => f, f => File.ReadAllBytes(Path.Combine(dir, f)));
        var options = new[] { new RuntimeOptions { IntraOpThreads = 1 }, new RuntimeOptions { IntraOpThreads = 1, Precision = PrecisionMode.Float32 } };
        void Restore() { foreach (var (f, b) in originals) File.WriteAllBytes(Path.Combine(dir, f), b); }
        var failures = new List<string>();
        int k = 0;
        foreach (var (name, bytes) in originals)
        {
            string path = Path.Combine(dir, name);
            // the int8 graphs are only read at the default precision; the float32 ones at both
            var opts = name.Contains("int8", StringComparison.Ordinal) ? options[..1] : options;
            failures.AddRange(Mutations.Run<InvalidInputException>(Mutations.Of(bytes, Count / 4, seed: 10 + k++), path, _ =>
            {
                foreach (var o in opts)
                {
                    using var p = DiffusionPipeline.Load(dir, o);
                    Assert.True(p.Unet is not null && p.Guided is not null);
                }
            }, dir));
            Restore();
        }
        // swapped files: each graph in another's place, a foreign file, an empty one
        string idx = Path.Combine(TinyModels.NewTempDir(), "x-idx1-ubyte");
        Idx.Write(idx, [3], [1, 2, 3]);
        var others = originals.Values.Append(File.ReadAllBytes(idx)).Append([]).ToList();
        foreach (var (name, _) in originals)
            foreach (var other in others)
            {
                File.WriteAllBytes(Path.Combine(dir, name), other);
                foreach (var o in options)
                    try { using var p = DiffusionPipeline.Load(dir, o); }
                    catch (InvalidInputException e) when (e.Message.Contains(dir, StringComparison.Ordinal)) { }
                    catch (Exception e) { failures.Add($"{name} replaced ({other.Length} bytes), {o.Precision}: {e.GetType().Name}: {e.Message.Split('\n')[0]}"); }
                Restore();
            }
        AssertHeld(failures, "model folders");
    }
}
