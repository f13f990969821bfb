using Diffusion.Onnx;
using Diffusion.Runtime;
using Diffusion.Train.Checkpoints;
using Diffusion.Train.Config;
using Diffusion.Train.Model;
using static Diffusion.Export.Tests.TestModels;

namespace Diffusion.Export.Tests;

/// <summary>The export command: checkpoint in, model folder out; bad input gives exit code 2 and writes nothing.</summary>
public sealed class CliTests : CommandTestBase
{
    private static TrainConfig Config(string preset) => new TrainConfig { Name = "cli-test", Preset = preset, Model = UNetConfig.Preset(preset) }.Validate();

    private int Run(string checkpoint, int opset = 17, bool ema = true) =>
        ExportCli.Run(["export", "--checkpoint", checkpoint, "--out", Out, "--opset", opset.ToString(System.Globalization.CultureInfo.InvariantCulture), "--no-int8", .. (ema ? Array.Empty<string>() : ["--no-ema"])], Stdout, Stderr);

    [Fact]
    public void Exports_a_checkpoint_whose_graph_computes_the_ema_weights()
    {
        var config = Config("small");
        string ck = SaveCheckpoint(config);
        Assert.Equal(0, Run(ck));
        Assert.Equal(["model-card.json", "model-card.md", "unet-guided.onnx", "unet.onnx"], Directory.GetFiles(Out).Select(Path.GetFileName).Order());

        using var loaded = Checkpoint.Load(ck);
        var model = OnnxHelper.Load(Path.Combine(Out, "unet.onnx"));
        var meta = ModelMetadata.FromProperties(OnnxHelper.Metadata(model), "unet.onnx");
        Assert.True(meta.Ema);
        Assert.Equal(loaded.ConfigSha256, meta.ConfigSha256);
        Assert.Equal(TrainConfig.Sha256(config.ToJson()), meta.ConfigSha256);
        Assert.Equal("abc1234", meta.SourceCommit);
        Assert.Equal("small", meta.Architecture);

        var cfg = loaded.Ema.Config;
        using var ort = new OrtModel(File.ReadAllBytes(Path.Combine(Out, "unet.onnx")), cfg);
        long[] t = [0, 500, 999], y = [1, 10, 7];
        var x = Noise(3 * 28 * 28, 3);
        var fromEma = Torch(loaded.Ema, x, t, y);
        var got = ort.Run(x, t, y);
        Assert.True(MaxAbsDiff(fromEma, got) <= 1e-4f);
        loaded.Model.eval();
        Assert.True(MaxAbsDiff(Torch(loaded.Model, x, t, y), got) > 1e-2f, "the raw weights give the same output: the test cannot tell EMA from raw");
        Assert.Contains("wrote", Stdout.ToString());
    }

    [Fact]
    public void No_ema_exports_the_raw_weights()
    {
        string ck = SaveCheckpoint(Config("small"));
        Assert.Equal(0, Run(ck, ema: false));
        using var loaded = Checkpoint.Load(ck);
        loaded.Model.eval();   // loaded in training mode (dropout on)
        using var ort = new OrtModel(File.ReadAllBytes(Path.Combine(Out, "unet.onnx")), loaded.Model.Config);
        long[] t = [10, 900], y = [3, 10];
        var x = Noise(2 * 28 * 28, 4);
        Assert.True(MaxAbsDiff(Torch(loaded.Model, x, t, y), ort.Run(x, t, y)) <= 1e-4f);
        Assert.False(ModelMetadata.FromProperties(ort.Session.ModelMetadata.CustomMetadataMap, "unet.onnx").Ema);
    }

    [Fact]
    public void Missing_checkpoint_exits_2_and_writes_nothing()
    {
        string ck = Path.Combine(Dir, "nope.ckpt");
        Assert.Equal(InvalidInputException.ExitCode, Run(ck));
        Assert.Contains(ck, Stderr.ToString());
        Assert.False(Directory.Exists(Out));
    }

    [Fact]
    public void Corrupt_checkpoint_exits_2_and_writes_nothing()
    {
        string ck = SaveCheckpoint(Config("small"));
        var bytes = File.ReadAllBytes(ck);
        bytes[bytes.Length / 2] ^= 0xff;
        File.WriteAllBytes(ck, bytes);
        Assert.Equal(InvalidInputException.ExitCode, Run(ck));
        Assert.Contains(ck, Stderr.ToString());
        Assert.False(Directory.Exists(Out));

        File.WriteAllText(ck, "not a checkpoint at all");
        Assert.Equal(InvalidInputException.ExitCode, Run(ck));
        Assert.False(Directory.Exists(Out));
    }

    [Fact]
    public void Checkpoint_of_another_architecture_exits_2_and_writes_nothing()
    {
        // config says medium, weights are small
        string ck = SaveCheckpoint(Config("medium"), weightsFor: UNetConfig.Preset("small"));
        Assert.Equal(InvalidInputException.ExitCode, Run(ck));
        Assert.Contains("architecture", Stderr.ToString());
        Assert.False(Directory.Exists(Out));
    }

    [Fact]
    public void Unsupported_opset_exits_2_before_loading()
    {
        Assert.Equal(InvalidInputException.ExitCode, Run(Path.Combine(Dir, "whatever.ckpt"), opset: 11));
        Assert.Contains("--opset 11", Stderr.ToString());
        Assert.False(Directory.Exists(Out));
    }

    [Fact]
    public void Command_line_parse_errors_exit_2()
    {
        Assert.Equal(InvalidInputException.ExitCode, ExportCli.Run(["export", "--opset", "seventeen", "--out", Out], Stdout, Stderr));
        Assert.False(Directory.Exists(Out));
    }

    [Fact]
    public void Presets_table_counts_each_preset_from_its_graph()
    {
        Assert.Equal(0, ExportCommand.DescribePresets(Stdout));
        var rows = Stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(2).ToArray();
        Assert.Equal(3, rows.Length);
        foreach (var (row, preset) in rows.Zip(new[] { "small", "medium", "large" }))
        {
            using var model = new UNet(UNetConfig.Preset(preset));
            Assert.StartsWith($"| {preset} | {model.ParameterCount().ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} |", row);
        }
    }
}
