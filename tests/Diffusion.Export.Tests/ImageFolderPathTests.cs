using Diffusion.Imaging;
using Diffusion.Onnx;
using Diffusion.Runtime;
using Diffusion.Runtime.Generation;
using Diffusion.Runtime.Onnx;
using Diffusion.Train.Cli;
using Diffusion.Train.Config;
using Diffusion.Train.Model;
using ModelMetadata = Diffusion.Runtime.ModelMetadata;

namespace Diffusion.Export.Tests;

/// <summary>
/// Your own images, end to end (issue 17, as far as it is wired): the shapes image folder made here, trained on in
/// colour at 16x16 with its folder names as classes, exported (float32: int8 calibration is greyscale-IDX only so
/// far, which export says), and sampled by the runtime as 3-channel images.
/// </summary>
public sealed class ImageFolderPathTests : CommandTestBase
{
    [Fact]
    public void An_image_folder_trains_exports_and_samples_in_colour()
    {
        string data = Path.Combine(Dir, "shapes"), run = Path.Combine(Dir, "run"), model = Path.Combine(Dir, "model");
        ShapesDataset.Write(data, trainPerClass: 8, testPerClass: 2, size: 16, seed: 3);
        var tiny = new TrainConfig
        {
            Name = "shapes-test", Preset = null, Timesteps = 50, Epochs = 1, BatchSize = 16, Lr = 1e-3, WarmupSteps = 1,
            Model = new UNetConfig { BaseChannels = 8, ChannelMults = [1, 2], BlocksPerLevel = 1, Groups = 4, Dropout = 0 },
            Threads = 1, Device = DeviceKind.Cpu, SampleEvery = 1, CheckpointEvery = 0, SampleSteps = 2, SamplesPerClass = 1,
        };
        string cfg = Path.Combine(Dir, "tiny.json");
        File.WriteAllText(cfg, tiny.ToJson());

        var (o, e) = (new StringWriter(), new StringWriter());
        int code = TrainCli.Run(["train", "--config", cfg, "--data", data, "--image-size", "16", "--out", run, "--plain"], o, e);
        Assert.True(code == 0, e.ToString());
        using (var grid = SkiaSharp.SKBitmap.Decode(Path.Combine(run, "samples", "epoch-0001.png")))
            Assert.NotEqual(SkiaSharp.SKColorType.Gray8, grid.ColorType);

        Assert.Equal(0, ExportCli.Run(["export", "--checkpoint", Path.Combine(run, "checkpoints", "last.ckpt"), "--out", model, "--data", data], Stdout, Stderr));
        Assert.Contains("greyscale IDX files only", Stderr.ToString());
        var meta = ModelMetadata.FromProperties(OnnxHelper.Metadata(OnnxHelper.Load(Path.Combine(model, ModelFolderLayout.Unet))), "unet.onnx");
        Assert.Equal((3, 16, 16), (meta.Channels, meta.Height, meta.Width));
        Assert.Equal(ShapesDataset.Classes, meta.ClassNames);
        Assert.Equal("shapes", meta.Dataset);

        using var pipeline = DiffusionPipeline.Load(model, new RuntimeOptions { IntraOpThreads = 1 });
        var result = pipeline.Generate(new GenerationRequest { Labels = [0, 1, 2, 3], Steps = 3, GuidanceScale = 2 });
        Assert.Equal(4 * 3 * 16 * 16, result.Images.Length);
        Assert.All(result.Images, v => Assert.InRange(v, -1.01f, 1.01f));
        Assert.True(PngGrid.Encode(result.Images, 1, 4, 16, 16, channels: 3).Length > 100);

        // IDX data cannot feed a colour model
        string idx = Path.Combine(Dir, "idx");
        Diffusion.Tools.Idx.Write(Path.Combine(idx, "train-images-idx3-ubyte"), [16, 16, 16], new byte[16 * 256]);
        Diffusion.Tools.Idx.Write(Path.Combine(idx, "train-labels-idx1-ubyte"), [16], Enumerable.Range(0, 16).Select(i => (byte)(i % 10)).ToArray());
        var err = new StringWriter();
        Assert.Equal(InvalidInputException.ExitCode, TrainCli.Run(["train", "--config", cfg, "--data", idx, "--image-size", "16", "--channels", "3", "--out", Path.Combine(Dir, "run2")], o, err));
        Assert.Contains("IDX files are greyscale", err.ToString());
    }
}
