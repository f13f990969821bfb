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
/// Your own images, end to end (issue 17): the shapes image folder made here, trained on in colour at 16x16 with its
/// folder names as classes (decoded once into the run's cache), exported with int8 graphs calibrated on the folder,
/// and sampled by the runtime as 3-channel images; images of another size train only when resizing is asked for.
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
        Assert.Single(Directory.GetFiles(Path.Combine(run, Diffusion.Tools.RunFolder.DataCacheName), "train-*.bin"));
        Assert.Contains("cached in", o.ToString());

        Assert.Equal(0, ExportCli.Run(["export", "--checkpoint", Path.Combine(run, "checkpoints", "last.ckpt"), "--out", model, "--data", data], Stdout, Stderr));
        Assert.DoesNotContain("warning", Stderr.ToString());
        foreach (var (_, q) in ModelFolderLayout.Int8Pairs) Assert.True(File.Exists(Path.Combine(model, q)), q);
        var int8 = ModelMetadata.FromProperties(OnnxHelper.Metadata(OnnxHelper.Load(Path.Combine(model, ModelFolderLayout.GuidedInt8))), "int8");
        Assert.Equal(GraphPrecision.Int8, int8.Precision);
        Assert.Equal(3, int8.Channels);
        var meta = ModelMetadata.FromProperties(OnnxHelper.Metadata(OnnxHelper.Load(Path.Combine(model, ModelFolderLayout.Unet))), "unet.onnx");
        Assert.Equal((3, 16, 16), (meta.Channels, meta.Height, meta.Width));
        Assert.Equal(ShapesDataset.Classes, meta.ClassNames);
        Assert.Equal("shapes", meta.Dataset);

        using var pipeline = DiffusionPipeline.Load(model, new RuntimeOptions { IntraOpThreads = 1 });
        Assert.Equal(GraphPrecision.Int8, pipeline.Precision); // the CPU's default for a folder with int8 graphs
        var result = pipeline.Generate(new GenerationRequest { Labels = [0, 1, 2, 3], Steps = 3, GuidanceScale = 2 });
        Assert.Equal(4 * 3 * 16 * 16, result.Images.Length);
        Assert.All(result.Images, v => Assert.InRange(v, -1.01f, 1.01f));
        Assert.True(PngGrid.Encode(result.Images, 1, 4, 16, 16, channels: 3).Length > 100);

        // a resumed run reads the decoded images back from its cache
        var (o2, e2) = (new StringWriter(), new StringWriter());
        Assert.True(TrainCli.Run(["train", "--config", cfg, "--data", data, "--image-size", "16", "--out", run, "--plain", "--resume", "--epochs", "2"], o2, e2) == 0, e2.ToString());
        Assert.Contains("decoded images of", o2.ToString());

        // an image of another size is refused, naming it, unless --resize asks for a filter
        string odd = Path.Combine(data, "train", ShapesDataset.Classes[0], "zz-odd.png");
        File.WriteAllBytes(odd, PngGrid.Encode(new float[3 * 20 * 20], 1, 1, 20, 20, pad: 0, channels: 3));
        var e3 = new StringWriter();
        Assert.Equal(InvalidInputException.ExitCode, TrainCli.Run(["train", "--config", cfg, "--data", data, "--image-size", "16", "--out", Path.Combine(Dir, "run3"), "--plain"], o2, e3));
        Assert.Contains(odd, e3.ToString());
        Assert.Contains("--resize", e3.ToString());
        var e4 = new StringWriter();
        Assert.True(TrainCli.Run(["train", "--config", cfg, "--data", data, "--image-size", "16", "--resize", "linear", "--out", Path.Combine(Dir, "run4"), "--plain", "--stop-after-steps", "1"], o2, e4) is 0 or 130, e4.ToString());
        Assert.Contains("\"resize\": \"linear\"", File.ReadAllText(Path.Combine(Dir, "run4", Diffusion.Tools.RunFolder.ConfigName)));

        // a file that cannot be decoded stops the run, naming it, unless --skip-bad-images skips and counts it
        File.Delete(odd);
        string corrupt = Path.Combine(data, "train", ShapesDataset.Classes[1], "zz-corrupt.png");
        File.WriteAllBytes(corrupt, [0x89, 0x50, 0x4E, 0x47, 1, 2, 3]);
        var e5 = new StringWriter();
        Assert.Equal(InvalidInputException.ExitCode, TrainCli.Run(["train", "--config", cfg, "--data", data, "--image-size", "16", "--out", Path.Combine(Dir, "run5"), "--plain"], o2, e5));
        Assert.Contains(corrupt, e5.ToString());
        var (o6, e6) = (new StringWriter(), new StringWriter());
        Assert.True(TrainCli.Run(["train", "--config", cfg, "--data", data, "--image-size", "16", "--skip-bad-images", "--out", Path.Combine(Dir, "run6"), "--plain", "--stop-after-steps", "1"], o6, e6) is 0 or 130, e6.ToString());
        Assert.Contains("skipped 1 file(s)", o6.ToString());

        // IDX data cannot feed a colour model
        string idx = Path.Combine(Dir, "idx");
        Diffusion.Tools.Idx.Write(Path.Combine(idx, "train-images-idx3-ubyte"), [16, 16, 16], new byte[16 * 256]);
        Diffusion.Tools.Idx.Write(Path.Combine(idx, "train-labels-idx1-ubyte"), [16], Enumerable.Range(0, 16).Select(i => (byte)(i % 10)).ToArray());
        var err = new StringWriter();
        Assert.Equal(InvalidInputException.ExitCode, TrainCli.Run(["train", "--config", cfg, "--data", idx, "--image-size", "16", "--channels", "3", "--out", Path.Combine(Dir, "run2")], o, err));
        Assert.Contains("IDX files are greyscale", err.ToString());
    }
}
