using System.Text.Json;
using Diffusion.Eval.Evaluation;
using Diffusion.Runtime;
using Diffusion.Runtime.Onnx;
using Diffusion.Tools;

namespace Diffusion.Eval.Tests;

public class GateTests(JudgeFolderFixture judges) : IClassFixture<JudgeFolderFixture>
{
    private static (string Images, string Labels) Idx(ImageSet set)
    {
        string dir = Tiny.TempDir();
        string i = Path.Combine(dir, "images-idx3-ubyte"), l = Path.Combine(dir, "labels-idx1-ubyte");
        set.WriteIdx(i, l);
        return (i, l);
    }

    private int Gate(params string[] extra) => EvalCli.Run(["gate", "--judges", judges.Folder, .. extra]);

    [Fact]
    public void Good_idx_set_passes_and_a_mislabelled_one_fails()
    {
        var (gi, gl) = Idx(Tiny.Images(5, 0.2, seed: 11));
        Assert.Equal(0, Gate("--images", gi, "--labels", gl));

        // every image labelled as the next class: the judge disagrees with all of them
        var (bi, bl) = Idx(Tiny.Images(5, 0.2, seed: 12, labelOf: k => (k + 1) % Tiny.K));
        Assert.Equal(Evaluation.Gate.FailExitCode, Gate("--images", bi, "--labels", bl));
    }

    [Fact]
    public void Threshold_decides_a_set_that_is_90_percent_right()
    {
        var (i, l) = Idx(Tiny.Images(5, 0.2, seed: 13, labelOf: k => k == 3 ? 4 : k)); // class 3 mislabelled: 90% right
        Assert.Equal(Evaluation.Gate.FailExitCode, Gate("--images", i, "--labels", l));
        Assert.Equal(0, Gate("--images", i, "--labels", l, "--threshold", "0.9"));
        var r = Evaluation.Gate.Run(new GateOptions { Images = i, Labels = l, Judges = judges.Folder });
        Assert.Equal(0.9, r.Metrics.Accuracy, 12);
        Assert.True(double.IsNaN(r.Metrics.PerClassAccuracy[3])); // no image requested as 3
        Assert.Equal(0.5, r.Metrics.PerClassAccuracy[4], 12);      // half of the "4"s are 3s
    }

    [Theory]
    [InlineData(PredictionType.Epsilon, "dpm++", "2")]
    [InlineData(PredictionType.X0, "ddim", "1")]
    public void Gate_generates_from_the_model_and_passes_when_it_draws_the_right_classes(PredictionType prediction, string sampler, string scale)
    {
        string model = Tiny.ModelFolder(prediction, judgesFrom: judges.Folder);
        Assert.Equal(0, EvalCli.Run(["gate", "--model", model, "--per-class", "3", "--steps", "5", "--sampler", sampler, "--guidance", scale]));
    }

    [Fact]
    public void Gate_fails_a_model_that_draws_the_wrong_classes()
    {
        int[] shifted = Enumerable.Range(0, Tiny.K).Select(k => (k + 1) % Tiny.K).ToArray();
        string model = Tiny.ModelFolder(PredictionType.Epsilon, classOfTemplate: shifted, judgesFrom: judges.Folder);
        string result = Path.Combine(Tiny.TempDir(), "gate.json");
        Assert.Equal(Evaluation.Gate.FailExitCode, EvalCli.Run(["gate", "--model", model, "--per-class", "2", "--steps", "4", "--out", result]));
        using var doc = JsonDocument.Parse(File.ReadAllText(result));
        Assert.Equal(0.0, doc.RootElement.GetProperty("metrics").GetProperty("accuracy").GetDouble());
    }

    [Fact]
    public void Bad_input_exits_2()
    {
        const int bad = InvalidInputException.ExitCode;
        string dir = Tiny.TempDir();
        var (i, l) = Idx(Tiny.Images(2, 0.1, seed: 14));
        // counts disagree
        Idx(Tiny.Images(3, 0.1, seed: 15)).Labels.Let(l3 => Assert.Equal(bad, Gate("--images", i, "--labels", l3)));
        // labels outside the classes
        string l12 = Path.Combine(dir, "labels12");
        Diffusion.Tools.Idx.Write(l12, [20], Enumerable.Repeat((byte)12, 20).ToArray());
        Assert.Equal(bad, Gate("--images", i, "--labels", l12));
        // missing model, missing judges, missing IDX file
        Assert.Equal(bad, Gate("--model", Path.Combine(dir, "nope")));
        // ... named as the missing model, not as a missing judge card beside it
        var missing = Assert.Throws<InvalidInputException>(() => Evaluation.EvalRunner.JudgeFolder(null, Path.Combine(dir, "nope"), "mnist"));
        Assert.StartsWith($"Model not found: {Path.Combine(dir, "nope")}", missing.Message);
        Assert.Equal(bad, EvalCli.Run(["gate", "--images", i, "--labels", l, "--judges", Path.Combine(dir, "nope")]));
        Assert.Equal(bad, Gate("--images", Path.Combine(dir, "nope"), "--labels", l));
        // a model of another dataset
        string foreign = Tiny.ModelFolder(PredictionType.Epsilon, dataset: "fashion-mnist");
        Assert.Equal(bad, Gate("--model", foreign));
        // a file that is not a model
        string junk = Path.Combine(dir, "junk.onnx");
        File.WriteAllText(junk, "junk");
        Assert.Equal(bad, Gate("--model", junk));
        // bad options
        Assert.Equal(bad, Gate("--images", i, "--labels", l, "--threshold", "1.5"));
        Assert.Equal(bad, Gate("--images", i));
        Assert.Equal(bad, Gate("--images", i, "--labels", l, "--sampler", "euler"));
        Assert.Equal(bad, Gate("--per-class", "zero"));
        Assert.Equal(bad, EvalCli.Run(["report", "--images", i, "--labels", l, "--judges", judges.Folder, "--sweep-scales", "1,x"]));
        Assert.Equal(bad, EvalCli.Run(["report", "--judges", judges.Folder]));
    }
}

public class ReportTests(JudgeFolderFixture judges) : IClassFixture<JudgeFolderFixture>
{
    [Fact]
    public void Report_from_a_model_has_every_section_and_consistent_numbers()
    {
        string model = Tiny.ModelFolder(PredictionType.Epsilon, judgesFrom: judges.Folder);
        string outDir = Path.Combine(Tiny.TempDir(), "report");
        int rc = EvalCli.Run(["report", "--model", model, "--data", judges.Data, "--per-class", "4", "--steps", "5", "--denoise", "20",
            "--sweep-scales", "1,3", "--sweep-steps", "2,5", "--sweep-per-class", "3", "--out", outDir]);
        Assert.Equal(0, rc);
        foreach (var f in new[] { "report.json", "report.md", "samples.png", "confusion.png", "sweep-accuracy.png", "sweep-frechet.png", "sweep-diversity.png", "sweep-time.png" })
            Assert.True(new FileInfo(Path.Combine(outDir, f)).Length > 100, f);
        Assert.False(File.Exists(Path.Combine(outDir, Diffusion.Tools.IncompleteMarker.FileName)), "a complete report keeps the incomplete marker");

        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "report.json")));
        var r = doc.RootElement;
        var m = r.GetProperty("metrics");
        Assert.Equal(40, m.GetProperty("count").GetInt32());
        Assert.Equal(1.0, m.GetProperty("cnn").GetProperty("accuracy").GetDouble());
        // The model draws each class's template exactly: no diversity at all, unlike the noisy real images.
        double div = m.GetProperty("diversity_mean").GetDouble(), realDiv = r.GetProperty("real").GetProperty("diversity_mean").GetDouble();
        Assert.True(realDiv > 0.1, $"real diversity {realDiv}");
        Assert.True(div < 0.01 * realDiv, $"generated diversity {div} vs real {realDiv}");
        // ... so its distance to the real data is far above the real-data floor.
        Assert.True(m.GetProperty("frechet_distance").GetDouble() > 2 * m.GetProperty("frechet_floor_same_size").GetDouble());
        Assert.Equal(3, r.GetProperty("denoising").GetArrayLength());
        Assert.Equal(4, r.GetProperty("sweep").GetArrayLength());
        foreach (var p in r.GetProperty("sweep").EnumerateArray())
        {
            Assert.Equal(1.0, p.GetProperty("cnn_accuracy").GetDouble());
            Assert.Equal(30, p.GetProperty("count").GetInt32());
        }
        // background cleanliness: the same measure on both sides, against the real data's background value
        var bg = m.GetProperty("background");
        var realBg = r.GetProperty("real").GetProperty("background");
        Assert.Equal(realBg.GetProperty("value").GetInt32(), bg.GetProperty("value").GetInt32());
        Assert.InRange(bg.GetProperty("mean").GetDouble(), 0, 1);
        Assert.InRange(realBg.GetProperty("mean").GetDouble(), 0, 1);
        Assert.Equal(judges.Card.NumClasses, bg.GetProperty("per_class").GetArrayLength());
        string md = File.ReadAllText(Path.Combine(outDir, "report.md"));
        Assert.Contains("| clean background (pixels within 8 grey levels of", md);
        Assert.Contains("## Guidance sweep", md);
        Assert.Contains("## One-step denoising", md);
        Assert.Contains("100.00 %", md);
    }

    [Fact]
    public void Report_on_idx_files_without_a_model()
    {
        string dir = Tiny.TempDir();
        Tiny.Images(6, 0.3, seed: 21).WriteIdx(Path.Combine(dir, "i"), Path.Combine(dir, "l"));
        var (report, folder) = EvalRunner.Run(new EvalOptions
        {
            Images = Path.Combine(dir, "i"), Labels = Path.Combine(dir, "l"), Judges = judges.Folder, Data = judges.Data, Out = Path.Combine(dir, "r"),
        });
        Assert.Null(report.Model);
        Assert.Null(report.Sweep);
        Assert.Null(report.Denoising);
        Assert.Equal(60, report.Metrics.Count);
        // Images drawn like the real data sit near the real-data floor and have the real diversity.
        Assert.True(report.Metrics.FrechetDistance < 3 * report.Metrics.FrechetFloorSameSize + 0.05,
            $"FD {report.Metrics.FrechetDistance} vs floor {report.Metrics.FrechetFloorSameSize}");
        Assert.Equal(report.Real.DiversityMean, report.Metrics.DiversityMean, 1);
        Assert.True(File.Exists(Path.Combine(folder, "report.md")));
    }
}

public class StoppedReportTests(JudgeFolderFixture judges) : IClassFixture<JudgeFolderFixture>
{
    // Ctrl+C once the first outputs are written: the folder says that its set of outputs is incomplete.
    [Fact]
    public void A_report_stopped_part_way_leaves_the_incomplete_marker()
    {
        string model = Tiny.ModelFolder(PredictionType.Epsilon, judgesFrom: judges.Folder);
        string outDir = Path.Combine(Tiny.TempDir(), "report");
        using var cts = new CancellationTokenSource();
        var options = new EvalOptions
        {
            Model = model, Judges = judges.Folder, Data = judges.Data, PerClass = 2, Out = outDir, DenoiseCount = 0, Threads = 1,
            Setting = EvalDefaults.Setting with { Steps = 2 },
            SweepScales = [1, 3], SweepSteps = [2], SweepPerClass = 2,
        };
        Assert.ThrowsAny<OperationCanceledException>(() => EvalRunner.Run(options, line => { if (line.StartsWith("guidance sweep", StringComparison.Ordinal)) cts.Cancel(); }, cts.Token));
        Assert.True(File.Exists(Path.Combine(outDir, "samples.png")));
        Assert.False(File.Exists(Path.Combine(outDir, "report.json")));
        Assert.Contains("eval report had not finished", File.ReadAllText(Path.Combine(outDir, Diffusion.Tools.IncompleteMarker.FileName)));
    }
}

public class DenoisingTests
{
    [Theory]
    [InlineData(PredictionType.Epsilon)]
    [InlineData(PredictionType.X0)]
    public void Exact_model_on_clean_templates_gives_perfect_reconstruction(PredictionType prediction)
    {
        string path = Path.Combine(Tiny.TempDir(), "unet.onnx");
        Diffusion.Onnx.OnnxHelper.Save(Tiny.Diffusion(GraphKind.Unet, prediction), path);
        using var model = DiffusionModel.Load(path);
        var clean = Tiny.Images(1, 0, seed: 1);
        var r = Denoising.Evaluate(model, clean, Denoising.DefaultTimesteps(Tiny.T), seed: 3);
        Assert.Equal([10, 25, 50], r.Select(d => d.Timestep));
        foreach (var d in r)
        {
            Assert.True(d.Psnr > 60, $"PSNR {d.Psnr} at t = {d.Timestep}");
            Assert.Equal(1.0, d.Ssim, 3);
            Assert.True(d.NoisyPsnr < 40 && d.NoisySsim < 1);
        }
        // the noisy baseline gets worse as t grows
        Assert.True(r[0].NoisyPsnr > r[1].NoisyPsnr && r[1].NoisyPsnr > r[2].NoisyPsnr);
    }

    [Fact]
    public void Template_model_on_noisy_images_scores_the_noise_level()
    {
        // The model returns the template; the real images are template + N(0, 0.2^2) clamped to [-1, 1], so the
        // error is the clamped noise (half of it cut away at +-1): PSNR is about 10 log10(4 / (0.04 / 2)) = 23 dB at every t.
        string path = Path.Combine(Tiny.TempDir(), "unet.onnx");
        Diffusion.Onnx.OnnxHelper.Save(Tiny.Diffusion(GraphKind.Unet, PredictionType.X0), path);
        using var model = DiffusionModel.Load(path);
        var r = Denoising.Evaluate(model, Tiny.Images(2, 0.2, seed: 4), [5, 50], seed: 3);
        foreach (var d in r) Assert.InRange(d.Psnr, 21.5, 24.5);
        Assert.Equal(r[0].Psnr, r[1].Psnr, 6);
    }
}

internal static class Functional
{
    public static void Let<T>(this T value, Action<T> action) => action(value);
}
