using System.Text.Json;
using Diffusion.Eval.Judges;
using Diffusion.Onnx;
using Diffusion.Runtime;
using Diffusion.Tools;

namespace Diffusion.Eval.Tests;

/// <summary>
/// Your own images through eval (issue 17): judges built from a colour image folder with the same <c>judges</c>
/// command, then the gate and the report on a 3-channel model, with the folder as the real data.
/// </summary>
public class ImageFolderEvalTests
{
    private const string Dataset = "tiny-rgb";

    [Fact]
    public void Judges_gate_and_report_work_on_a_colour_image_folder()
    {
        string data = Tiny.ImageFolder(trainPerClass: 12, testPerClass: 6);
        string onnx = Path.Combine(Tiny.TempDir(), ModelFolderLayout.JudgeOnnx), judges = Tiny.TempDir();
        OnnxHelper.Save(Tiny.Judge(Dataset, channels: 3), onnx);
        Assert.Equal(0, EvalCli.Run(["judges", "--dataset", Dataset, "--onnx", onnx, "--data", data, "--out", judges, "--lgbm-iterations", "10"]));
        var card = JudgeSet.ReadCard(judges).Card;
        Assert.Equal([3, Tiny.H, Tiny.W], card.ImageShape);
        Assert.Equal(1.0, card.CnnTest!.Accuracy);
        Assert.True(card.LightGbmTest!.Accuracy > 0.5, $"LightGBM {card.LightGbmTest.Accuracy}");

        string model = Tiny.ModelFolder(PredictionType.Epsilon, Dataset, judgesFrom: judges, channels: 3);
        Assert.Equal(0, EvalCli.Run(["gate", "--model", model, "--per-class", "3", "--steps", "5"]));
        // a model that draws the wrong classes fails the same gate
        int[] shifted = Enumerable.Range(0, Tiny.K).Select(k => (k + 1) % Tiny.K).ToArray();
        string wrong = Tiny.ModelFolder(PredictionType.Epsilon, Dataset, classOfTemplate: shifted, judgesFrom: judges, channels: 3);
        Assert.Equal(Evaluation.Gate.FailExitCode, EvalCli.Run(["gate", "--model", wrong, "--per-class", "2", "--steps", "4"]));

        string outDir = Path.Combine(Tiny.TempDir(), "report");
        Assert.Equal(0, EvalCli.Run(["report", "--model", model, "--data", data, "--per-class", "3", "--steps", "5", "--denoise", "10", "--no-sweep", "--out", outDir]));
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "report.json")));
        var r = doc.RootElement;
        Assert.Equal(1.0, r.GetProperty("metrics").GetProperty("cnn").GetProperty("accuracy").GetDouble());
        Assert.Equal(1.0, r.GetProperty("real").GetProperty("cnn").GetProperty("accuracy").GetDouble());
        using (var grid = SkiaSharp.SKBitmap.Decode(Path.Combine(outDir, "samples.png")))
            Assert.NotEqual(SkiaSharp.SKColorType.Gray8, grid.ColorType);
    }

    [Fact]
    public void Judges_refuse_an_image_folder_whose_test_split_misses_a_class()
    {
        string data = Tiny.ImageFolder(trainPerClass: 2, testPerClass: 2);
        string onnx = Path.Combine(Tiny.TempDir(), ModelFolderLayout.JudgeOnnx);
        // a test split missing a class is refused, naming the split's folder
        OnnxHelper.Save(Tiny.Judge(Dataset, channels: 3), onnx);
        Directory.Delete(Path.Combine(data, "test", Tiny.Classes[9]), recursive: true);
        var e = Assert.Throws<InvalidInputException>(() => JudgeBuilder.Build(new JudgeBuildOptions { Onnx = onnx, OutDir = Tiny.TempDir(), Data = data, LightGbm = null, Command = "(test)" }));
        Assert.Contains(Path.Combine(data, "test"), e.Message);
    }
}
