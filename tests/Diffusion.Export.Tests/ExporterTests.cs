using System.Text.Json.Nodes;
using Diffusion.Onnx.Torch;
using Diffusion.Onnx;
using Diffusion.Runtime;
using Diffusion.Train.Model;
using TorchSharp;
using TorchSharp.Modules;
using static Diffusion.Export.Tests.TestModels;
using DataType = Diffusion.Onnx.Proto.TensorProto.Types.DataType;

namespace Diffusion.Export.Tests;

public class ExporterTests
{
    private sealed class Bar : torch.nn.Module<torch.Tensor, torch.Tensor>
    {
        public Bar() : base(nameof(Bar)) { }
        public override torch.Tensor forward(torch.Tensor x) => x;
    }

    private static torch.nn.Module Child(UNet model, string path) => ExportContext.Tree(model).Single(m => m.Path == path).Module;

    [Fact]
    public void Exporting_twice_gives_identical_bytes()
    {
        var m = Get("small");
        var (unet, guided) = UNetExporter.BuildBoth(m.Model, m.Metadata);
        Assert.Equal(m.Unet, OnnxHelper.Serialize(unet));
        Assert.Equal(m.Guided, OnnxHelper.Serialize(guided));
        // a second model built from the same seed: same weights, same file
        using var again = RandomModel(m.Model.Config, seed: 1234);
        Assert.Equal(m.Unet, OnnxHelper.Serialize(UNetExporter.Build(again, m.Metadata, GraphKind.Unet)));
        // and different weights give a different file
        using var other = RandomModel(m.Model.Config, seed: 99);
        Assert.NotEqual(m.Unet, OnnxHelper.Serialize(UNetExporter.Build(other, m.Metadata, GraphKind.Unet)));
    }

    [Fact]
    public void Unknown_module_type_stops_the_export_naming_its_path()
    {
        using var model = new UNet(UNetConfig.Preset("small"));
        Child(model, "down.1.res.0").register_module("foo", new Bar());
        var e = Assert.Throws<UnsupportedModuleException>(() => UNetExporter.Build(model, Metadata(model.Config), GraphKind.Unet));
        Assert.Equal("down.1.res.0.foo: no ONNX emitter for module type Bar", e.Message);
        Assert.Equal("down.1.res.0.foo", e.ModulePath);
    }

    [Fact]
    public void Missing_emitter_names_the_first_module_of_that_type()
    {
        using var model = new UNet(UNetConfig.Preset("small"));
        var registry = EmitterRegistry.CreateDefault().Remove(typeof(GroupNorm));
        var e = Assert.Throws<UnsupportedModuleException>(() =>
            UNetExporter.Build(model, Metadata(model.Config), GraphKind.Unet, new ExportOptions { Emitters = registry }));
        Assert.Equal("down.0.res.0.norm1: no ONNX emitter for module type GroupNorm", e.Message);
    }

    [Fact]
    public void A_known_module_its_parent_ignores_is_an_error_too()
    {
        using var model = new UNet(UNetConfig.Preset("small"));
        Child(model, "mid.res2").register_module("extra", torch.nn.Conv2d(4, 4, 1));
        var e = Assert.Throws<UnsupportedModuleException>(() => UNetExporter.Build(model, Metadata(model.Config), GraphKind.Unet));
        Assert.StartsWith("mid.res2.extra: module of type Conv2d is not used", e.Message);
    }

    [Fact]
    public void Metadata_that_contradicts_the_architecture_is_refused()
    {
        using var model = new UNet(UNetConfig.Preset("small"));
        var meta = Metadata(model.Config);
        Assert.Throws<InvalidInputException>(() => UNetExporter.Build(model, meta with { NumClasses = 5, ClassNames = [] }, GraphKind.Unet));
        Assert.Throws<InvalidInputException>(() => UNetExporter.Build(model, meta with { Height = 32 }, GraphKind.Unet));
        Assert.Throws<InvalidInputException>(() => UNetExporter.Build(model, meta, GraphKind.Unet, new ExportOptions { Opset = 12 }));
    }

    [Theory]
    [InlineData("small")]
    [InlineData("large")]
    public void Graph_interface_layout_and_metadata(string preset)
    {
        var m = Get(preset);
        var cfg = m.Model.Config;
        foreach (var (kind, bytes) in new[] { (GraphKind.Unet, m.Unet), (GraphKind.Guided, m.Guided) })
        {
            var model = Diffusion.Onnx.Proto.ModelProto.Parser.ParseFrom(bytes);
            Assert.Equal(8, model.IrVersion);
            Assert.Equal(17, model.OpsetImport.Single().Version);
            Assert.Equal(UNetExporter.ProducerName, model.ProducerName);
            Assert.Contains("guidance", model.DocString + (kind == GraphKind.Guided ? "" : " guidance"), StringComparison.Ordinal);
            var g = model.Graph;
            string[] inputs = kind == GraphKind.Unet ? ["x", "t", "y"] : ["x", "t", "y", "scale"];
            Assert.Equal(inputs, g.Input.Select(i => i.Name));
            Assert.Equal<Dim>(["batch", cfg.InChannels, cfg.ImageSize, cfg.ImageSize], OnnxHelper.ShapeOf(g.Input[0]));
            Assert.Equal<Dim>(["batch"], OnnxHelper.ShapeOf(g.Input[1]));
            Assert.Equal((int)DataType.Int64, g.Input[1].Type.TensorType.ElemType);
            Assert.Equal((int)DataType.Int64, g.Input[2].Type.TensorType.ElemType);
            Assert.Equal("out", g.Output.Single().Name);
            Assert.Equal<Dim>(["batch", cfg.InChannels, cfg.ImageSize, cfg.ImageSize], OnnxHelper.ShapeOf(g.Output[0]));

            // every parameter is an initializer named by its state_dict key, with the same values
            var inits = g.Initializer.ToDictionary(t => t.Name);
            foreach (var (name, p) in m.Model.named_parameters())
            {
                Assert.True(inits.ContainsKey(name), $"initializer {name} missing");
                Assert.Equal(p.detach().contiguous().data<float>().ToArray(), OnnxHelper.ToFloatArray(inits[name]));
            }
            // GroupNorm as torch.onnx writes it, attention as MatMul / Softmax / MatMul
            var ops = g.Node.GroupBy(n => n.OpType).ToDictionary(x => x.Key, x => x.Count());
            int norms = m.Model.modules().OfType<GroupNorm>().Count(), attns = m.Model.modules().OfType<AttentionBlock>().Count();
            Assert.Equal(norms, ops["InstanceNormalization"]);
            Assert.Equal(attns, ops.GetValueOrDefault("Softmax"));
            Assert.Equal(2 * attns, ops.GetValueOrDefault("MatMul"));
            Assert.All(g.Node, n => Assert.NotEqual("GroupNormalization", n.OpType));

            var props = OnnxHelper.Metadata(model);
            var back = ModelMetadata.FromProperties(props, preset);
            Assert.Equal(kind, back.Graph);
            Assert.Equal((m.Metadata with { Graph = kind }).ToProperties(), back.ToProperties());
        }
    }

    [Fact]
    public void Onnx_runtime_reads_the_metadata_back()
    {
        var m = Get("small");
        using var ort = new OrtModel(m.Guided, m.Model.Config);
        var props = ort.Session.ModelMetadata.CustomMetadataMap;
        var back = ModelMetadata.FromProperties(props, "unet-guided.onnx");
        Assert.Equal(GraphKind.Guided, back.Graph);
        Assert.Equal(m.Metadata.Timesteps, back.Timesteps);
        Assert.Equal(10, back.NullClass);
        Assert.Equal("Diffusion.Export", ort.Session.ModelMetadata.ProducerName);
    }

    /// <summary>
    /// FLOPs worked out from the module tree and the config, independently of the graph: each Conv2d is
    /// 2 * Cout * Hout * Wout * Cin/groups * kH * kW at the resolution its path implies, each Linear 2 * in * out,
    /// each attention block two L x L x C products (q^T k and v w^T over all heads).
    /// </summary>
    private static long ExpectedFlops(UNet model)
    {
        var cfg = model.Config;
        int levels = cfg.ChannelMults.Length;
        long total = 0;
        foreach (var (path, module) in ExportContext.Tree(model))
        {
            var parts = path.Split('.');
            if (module is not (Conv2d or Linear or AttentionBlock)) continue;
            long res = parts[0] switch
            {
                "down" => cfg.ImageSize >> int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture),
                "up" => cfg.ImageSize >> (levels - 1 - int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture)),
                "mid" => cfg.ImageSize >> (levels - 1),
                _ => cfg.ImageSize,
            };
            if (path.Contains(".downsample.", StringComparison.Ordinal)) res /= 2;
            if (path.Contains(".upsample.", StringComparison.Ordinal)) res *= 2;
            switch (module)
            {
                case Conv2d c:
                    var w = c.weight!.shape;
                    total += 2 * w[0] * res * res * w[1] * w[2] * w[3];
                    break;
                case Linear l:
                    total += 2 * l.in_features * l.out_features;
                    break;
                case AttentionBlock:
                    long ch = Child(model, path + ".proj") is Conv2d p ? p.weight!.shape[0] : 0;
                    total += 2 * 2 * res * res * res * res * ch;
                    break;
            }
        }
        return total;
    }

    [Theory]
    [InlineData("small")]
    [InlineData("medium")]
    [InlineData("large")]
    public void Flop_count_from_the_graph_matches_the_architecture(string preset)
    {
        var m = Get(preset);
        long unet = FlopCounter.Count(Diffusion.Onnx.Proto.ModelProto.Parser.ParseFrom(m.Unet)).Total;
        long guided = FlopCounter.Count(Diffusion.Onnx.Proto.ModelProto.Parser.ParseFrom(m.Guided)).Total;
        Assert.Equal(ExpectedFlops(m.Model), unet);
        Assert.Equal(2 * unet, guided);
        // bench-train's count (issue 16: training FLOPs per image) builds the same graph from the config alone
        Assert.Equal(unet, Diffusion.Train.Training.TrainBenchmark.ForwardFlopsPerImage(m.Model.Config));
        Assert.Equal(3 * unet, Diffusion.Train.Training.TrainBenchmark.TrainingFlopsPerImage(m.Model.Config));
    }

    [Fact]
    public void Model_folder_holds_both_graphs_and_a_card_and_is_reproducible()
    {
        var m = Get("small");
        string root = Directory.CreateTempSubdirectory("export-folder").FullName;
        try
        {
            var source = new ExportSource("mnist-test", "last.ckpt", 1234, 5);
            string config = """{ "name": "mnist-test", "epochs": 5 }""";
            var a = ModelFolder.Write(m.Model, m.Metadata, config, Path.Combine(root, "a"), source);
            var b = ModelFolder.Write(m.Model, m.Metadata, config, Path.Combine(root, "b"), source);
            Assert.Equal([ModelFolderLayout.Unet, ModelFolderLayout.Guided, ModelFolderLayout.CardJson, ModelFolderLayout.CardMarkdown], a.Files.Select(Path.GetFileName));
            foreach (var (fa, fb) in a.Files.Zip(b.Files)) Assert.Equal(File.ReadAllBytes(fa), File.ReadAllBytes(fb));
            Assert.Equal(m.Unet, File.ReadAllBytes(a.Files[0]));
            Assert.Equal(m.Guided, File.ReadAllBytes(a.Files[1]));

            var card = JsonNode.Parse(File.ReadAllText(a.Files[2]))!;
            Assert.Equal(m.Model.ParameterCount(), card["parameters"]!.GetValue<long>());
            Assert.Equal(a.UnetFlops.Total, card["flops_per_image"]!["unet"]!["total"]!.GetValue<long>());
            Assert.Equal(ExpectedFlops(m.Model), a.UnetFlops.Total);
            Assert.Equal(5, card["config"]!["epochs"]!.GetValue<int>());
            Assert.Equal("1000", card["metadata"]!["diffusion.timesteps"]!.GetValue<string>());
            Assert.Equal(1234, card["checkpoint"]!["step"]!.GetValue<long>());
            Assert.Equal(m.Unet.LongLength, card["onnx"]!["files"]!["unet.onnx"]!["bytes"]!.GetValue<long>());
            string md = File.ReadAllText(a.Files[3]);
            Assert.Contains("# Model card: mnist-test", md);
            Assert.Contains("scale = 1 + w", md);
            Assert.Contains(m.Model.ParameterCount().ToString("N0", System.Globalization.CultureInfo.InvariantCulture), md);
            Assert.Empty(Directory.GetFiles(Path.Combine(root, "a"), "*.tmp"));
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void A_failed_export_writes_nothing()
    {
        using var model = new UNet(UNetConfig.Preset("small"));
        Child(model, "up.0.res.1").register_module("foo", new Bar());
        string dir = Path.Combine(Path.GetTempPath(), $"export-fail-{Guid.NewGuid():N}");
        Assert.Throws<UnsupportedModuleException>(() => ModelFolder.Write(model, Metadata(model.Config), null, dir, new ExportSource("x")));
        Assert.False(Directory.Exists(dir));
    }
}

public class TorchTensorsTests
{
    [Fact]
    public void MakeTensor_from_a_torch_tensor_keeps_shape_type_and_values()
    {
        using var f = torch.arange(6, dtype: torch.ScalarType.Float64).reshape(2, 3).t();   // non-contiguous, float64
        var tf = TorchTensors.MakeTensor("f", f);
        Assert.Equal([3L, 2L], tf.Dims);
        Assert.Equal((int)DataType.Float, tf.DataType);
        Assert.Equal([0f, 3f, 1f, 4f, 2f, 5f], OnnxHelper.ToFloatArray(tf));
        using var i = torch.tensor(new long[] { 7, -2, 10 });
        var ti = TorchTensors.MakeTensor("i", i);
        Assert.Equal((int)DataType.Int64, ti.DataType);
        Assert.Equal([7L, -2L, 10L], OnnxHelper.ToInt64Array(ti));
    }
}
