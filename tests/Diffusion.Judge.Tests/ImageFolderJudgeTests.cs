using Diffusion.Imaging;
using Diffusion.Judge.Export;
using Diffusion.Onnx;
using Diffusion.Runtime;
using Diffusion.Tools;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Judge.Tests;

/// <summary>
/// Judges of your own classes (issue 17): <c>train-classifier</c> on an image folder takes its class names, RGB and the
/// first image's size, and <c>export-classifier</c> writes a judge that takes [batch, 3, S, S].
/// </summary>
public class ImageFolderJudgeTests
{
    [Fact]
    public void Train_classifier_and_export_take_the_folders_classes_channels_and_size()
    {
        string root = Repo.TempDir(), data = Path.Combine(root, "my-shapes"), ckpt = Path.Combine(root, "judge.ckpt"), onnx = Path.Combine(root, "judge.onnx");
        ShapesDataset.Write(data, trainPerClass: 16, testPerClass: 4, size: 16, seed: 9);
        Assert.Equal(0, JudgeCli.Run(["train-classifier", "--data", data, "--epochs", "1", "--batch", "16", "--threads", "1", "--features", "16", "--out", ckpt]));
        using (var judge = JudgeCheckpoint.Load(ckpt))
        {
            Assert.Equal("my-shapes", judge.Info.Dataset);
            Assert.Equal(ShapesDataset.Classes, judge.Info.ClassNames);
            Assert.Equal((3, 16, 4), (judge.Model.Config.InChannels, judge.Model.Config.ImageSize, judge.Model.Config.NumClasses));
        }
        Assert.Equal(0, JudgeExportCli.Run(["export-classifier", "--dataset", "my-shapes", "--checkpoint", ckpt, "--out", onnx]));
        var meta = JudgeMetadata.FromProperties(OnnxHelper.Metadata(OnnxHelper.Load(onnx)), onnx);
        Assert.Equal((3, 16, 16), (meta.Channels, meta.Height, meta.Width));
        using var session = new InferenceSession(onnx);
        Assert.Equal([-1, 3, 16, 16], session.InputMetadata[JudgeMetadata.ImageInput].Dimensions);

        // greyscale on request; read at 8x8 only when resizing is asked for
        var grey = JudgeDatasets.Resolve(null, data, 1, null);
        Assert.Equal((1, 16, "my-shapes"), (grey.Channels, grey.Size, grey.Dataset));
        Assert.Contains("--channels 2", Assert.Throws<InvalidInputException>(() => JudgeDatasets.Resolve(null, data, 2, null)).Message);
        Assert.Equal(InvalidInputException.ExitCode, JudgeCli.Run(["train-classifier", "--data", data, "--image-size", "8", "--epochs", "1", "--out", Path.Combine(root, "x.ckpt")]));
        Assert.False(File.Exists(Path.Combine(root, "x.ckpt")));
        Assert.Equal(0, JudgeCli.Run(["train-classifier", "--data", data, "--image-size", "8", "--resize", "linear", "--epochs", "1", "--threads", "1", "--features", "8", "--out", Path.Combine(root, "x.ckpt")]));
        using (var small = JudgeCheckpoint.Load(Path.Combine(root, "x.ckpt")))
            Assert.Equal(8, small.Model.Config.ImageSize);
        // IDX data is greyscale
        Assert.Contains("greyscale", Assert.Throws<InvalidInputException>(() => JudgeDatasets.Resolve("mnist", Repo.Data("mnist"), 3, null)).Message);
    }
}
