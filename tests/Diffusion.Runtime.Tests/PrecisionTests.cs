using System.Security.Cryptography;
using Diffusion.Runtime.Generation;
using Diffusion.Runtime.Onnx;

namespace Diffusion.Runtime.Tests;

/// <summary>
/// Which graphs of a model folder the pipeline runs (<see cref="RuntimeOptions.Precision"/>): int8 forms on the CPU
/// by default when the folder has them for every float32 graph, float32 otherwise, and a stale int8 file is refused.
/// The int8 files here are tiny graphs labelled int8 (the real quantizer is tested in Diffusion.Export.Tests).
/// </summary>
public class PrecisionTests
{
    private static readonly RuntimeOptions OneThread = new() { IntraOpThreads = 1 };

    private static string FolderWithInt8(bool stale = false)
    {
        string dir = TinyModels.Folder();
        foreach (var (kind, fl, q) in new[] { (GraphKind.Unet, ModelFolderLayout.Unet, ModelFolderLayout.UnetInt8), (GraphKind.Guided, ModelFolderLayout.Guided, ModelFolderLayout.GuidedInt8) })
        {
            string sha = stale ? new string('0', 64) : Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(dir, fl))));
            var meta = TinyModels.Meta(kind) with { Precision = GraphPrecision.Int8, QuantizedFrom = sha };
            Diffusion.Onnx.OnnxHelper.Save(TinyModels.Build(meta), Path.Combine(dir, q));
        }
        return dir;
    }

    [Fact]
    public void Auto_RunsTheInt8Graphs_OnTheCpu()
    {
        string dir = FolderWithInt8();
        using var p = DiffusionPipeline.Load(dir, OneThread);
        Assert.Equal(GraphPrecision.Int8, p.Precision);
        Assert.EndsWith(ModelFolderLayout.UnetInt8, ((DiffusionModel)p.Unet!).Path);
        Assert.EndsWith(ModelFolderLayout.GuidedInt8, ((DiffusionModel)p.Guided!).Path);
        using var f = DiffusionPipeline.Load(dir, OneThread with { Precision = PrecisionMode.Float32 });
        Assert.Equal(GraphPrecision.Float32, f.Precision);
        Assert.EndsWith(ModelFolderLayout.Unet, ((DiffusionModel)f.Unet!).Path);
    }

    [Fact]
    public void Auto_UsesFloat32_WhenAGraphHasNoInt8Form_OrOnCuda()
    {
        string dir = FolderWithInt8();
        Assert.Equal(GraphPrecision.Int8, DiffusionPipeline.SelectFiles(dir, OneThread).Precision);
        Assert.Equal(GraphPrecision.Float32, DiffusionPipeline.SelectFiles(dir, OneThread with { Device = ExecutionDevice.Cuda }).Precision);
        File.Delete(Path.Combine(dir, ModelFolderLayout.GuidedInt8));
        var (u, g, precision) = DiffusionPipeline.SelectFiles(dir, OneThread);
        Assert.Equal(GraphPrecision.Float32, precision);
        Assert.EndsWith(ModelFolderLayout.Unet, u);
        Assert.EndsWith(ModelFolderLayout.Guided, g);
        // asked for explicitly, the int8 graph that exists is used
        var (uq, gq, p8) = DiffusionPipeline.SelectFiles(dir, OneThread with { Precision = PrecisionMode.Int8 });
        Assert.Equal(GraphPrecision.Int8, p8);
        Assert.EndsWith(ModelFolderLayout.UnetInt8, uq);
        Assert.Null(gq);
    }

    [Fact]
    public void Int8_WithoutInt8Graphs_IsRefused_NamingTheFiles()
    {
        string dir = TinyModels.Folder();
        var e = Assert.Throws<InvalidInputException>(() => DiffusionPipeline.Load(dir, OneThread with { Precision = PrecisionMode.Int8 }));
        Assert.Contains(ModelFolderLayout.UnetInt8, e.Message);
        Assert.Contains(dir, e.Message);
        using var auto = DiffusionPipeline.Load(dir, OneThread);
        Assert.Equal(GraphPrecision.Float32, auto.Precision);
    }

    [Fact]
    public void AStaleInt8Graph_IsRefused()
    {
        string dir = FolderWithInt8(stale: true);
        var e = Assert.Throws<InvalidInputException>(() => DiffusionPipeline.Load(dir, OneThread));
        Assert.Contains("stale", e.Message);
        Assert.Contains(ModelFolderLayout.UnetInt8, e.Message);
        using var f = DiffusionPipeline.Load(dir, OneThread with { Precision = PrecisionMode.Float32 });
        Assert.Equal(GraphPrecision.Float32, f.Precision);
    }

    [Fact]
    public void AFloat32GraphUnderAnInt8Name_IsRefused()
    {
        string dir = TinyModels.Folder();
        File.Copy(Path.Combine(dir, ModelFolderLayout.Unet), Path.Combine(dir, ModelFolderLayout.UnetInt8));
        File.Copy(Path.Combine(dir, ModelFolderLayout.Guided), Path.Combine(dir, ModelFolderLayout.GuidedInt8));
        var e = Assert.Throws<InvalidInputException>(() => DiffusionPipeline.Load(dir, OneThread));
        Assert.Contains("expected an int8 graph", e.Message);
    }

    [Fact]
    public void PrecisionMetadata_RoundTrips_AndFloat32FilesCarryNoKey()
    {
        var f = TinyModels.Meta(GraphKind.Unet);
        Assert.DoesNotContain(ModelMetadata.Prefix + "precision", f.ToProperties().Keys);
        var q = f with { Precision = GraphPrecision.Int8, QuantizedFrom = new string('a', 64) };
        var back = ModelMetadata.FromProperties(q.ToProperties(), "x.onnx");
        Assert.Equal(GraphPrecision.Int8, back.Precision);
        Assert.Equal(q.QuantizedFrom, back.QuantizedFrom);
        var bad = new Dictionary<string, string>(q.ToProperties()) { [ModelMetadata.Prefix + "precision"] = "int4" };
        var e = Assert.Throws<InvalidInputException>(() => ModelMetadata.FromProperties(bad, "x.onnx"));
        Assert.Contains("int4", e.Message);
    }

    [Theory]
    [InlineData("auto", PrecisionMode.Auto)]
    [InlineData("float32", PrecisionMode.Float32)]
    [InlineData("FP32", PrecisionMode.Float32)]
    [InlineData("int8", PrecisionMode.Int8)]
    public void ParsePrecision_KnowsTheNames(string text, PrecisionMode mode) => Assert.Equal(mode, RuntimeOptions.ParsePrecision(text));

    [Fact]
    public void ParsePrecision_And_Validate_RefuseBadValues()
    {
        Assert.Contains("int4", Assert.Throws<InvalidInputException>(() => RuntimeOptions.ParsePrecision("int4")).Message);
        var e = Assert.Throws<InvalidInputException>(() => new RuntimeOptions { Device = ExecutionDevice.Cuda, Precision = PrecisionMode.Int8 }.Validate());
        Assert.Contains("CPU", e.Message);
    }

    // Graphs exported before they named their checkpoint (the release models): the card's list of file hashes still
    // finds a graph of another export swapped into the folder.
    [Fact]
    public void A_legacy_folder_whose_graph_is_not_the_one_its_card_lists_is_refused()
    {
        string dir = TinyModels.Folder();
        string Hash(string f) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(dir, f))));
        File.WriteAllText(Path.Combine(dir, ModelFolderLayout.CardJson),
            $"{{\"onnx\": {{\"files\": {{\"unet.onnx\": {{\"sha256\": \"{Hash(ModelFolderLayout.Unet)}\"}}, \"unet-guided.onnx\": {{\"sha256\": \"{Hash(ModelFolderLayout.Guided)}\"}}}}}}}}");
        using (var ok = DiffusionPipeline.Load(dir, OneThread)) Assert.NotNull(ok.Guided);
        // another export's guided graph: same schedule and classes, other bytes
        Diffusion.Onnx.OnnxHelper.Save(TinyModels.Build(TinyModels.Meta(GraphKind.Guided) with { Architecture = "other" }), Path.Combine(dir, ModelFolderLayout.Guided));
        var e = Assert.Throws<InvalidInputException>(() => DiffusionPipeline.Load(dir, OneThread));
        Assert.Contains(Path.Combine(dir, ModelFolderLayout.Guided), e.Message);
        Assert.Contains("mixes two exports", e.Message);
        // a folder without a card has nothing to check against
        File.Delete(Path.Combine(dir, ModelFolderLayout.CardJson));
        using var noCard = DiffusionPipeline.Load(dir, OneThread);
    }
}
