using Diffusion.Runtime;
using Diffusion.Train.Checkpoints;
using Diffusion.Train.Cli;
using Diffusion.Train.Config;
using Diffusion.Train.Data;
using Diffusion.Train.Training;
using static TorchSharp.torch;

namespace Diffusion.Train.Tests;

/// <summary>A tiny trained teacher (4 epochs of 320 images), shared by the distillation tests.</summary>
public sealed class TinyTeacher : IDisposable
{
    private readonly TempDir _dir = new();

    /// <summary>Trains it.</summary>
    public TinyTeacher()
    {
        Data = TestData.WriteIdx(_dir["data"], 320);
        var config = TestData.TinyConfig(Data, _dir["teacher"]) with { Epochs = 4, BatchSize = 32, Model = TestData.TinyModel with { Dropout = 0 } };
        using (var trainer = DiffusionTrainer.Prepare(config, new TrainOptions { Console = ConsoleMode.Silent }))
            trainer.Run();
        Checkpoint = _dir["teacher/checkpoints/last.ckpt"];
    }

    /// <summary>The IDX folder it trained on.</summary>
    public string Data { get; }
    /// <summary>Its last.ckpt.</summary>
    public string Checkpoint { get; }

    /// <inheritdoc/>
    public void Dispose() => _dir.Dispose();
}

/// <summary>make distill on a tiny teacher: the stage chain, its folders and configs, learning, skip on rerun, bad input.</summary>
public sealed class DistillRunTests(TinyTeacher tiny) : IClassFixture<TinyTeacher>, IDisposable
{
    private readonly TempDir _dir = new();
    private readonly string _data = tiny.Data, _teacher = tiny.Checkpoint;

    public void Dispose() => _dir.Dispose();

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter(); var e = new StringWriter();
        int code = TrainCli.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    private string[] Distill(params string[] extra) =>
        ["distill", "--teacher", _teacher, "--out", _dir["distill"], "--teacher-steps", "4", "--guidance-epochs", "3", "--halving-epochs", "1", "--lr", "3e-3", "--threads", "1", "--plain", .. extra];

    [Fact]
    public void Distill_runs_the_guidance_stage_then_each_halving_and_skips_finished_stages()
    {
        var (code, output, err) = Run(Distill());
        Assert.True(code == 0, err + output);
        string[] stages = ["guidance", "steps-2", "steps-1"];
        string previous = _teacher;
        foreach (var (stage, i) in stages.Select((s, i) => (s, i)))
        {
            using var ck = Checkpoint.Load(_dir[$"distill/{stage}/checkpoints/last.ckpt"]);
            var d = ck.Config.Distill!;
            Assert.True(ck.Config.Model.GuidanceEmbedding);
            Assert.Equal(PredictionType.V, ck.Config.Prediction);   // the students predict v; the tiny teacher, epsilon
            Assert.Equal(previous, d.Teacher);
            Assert.Equal(i == 0 ? DistillStage.Guidance : DistillStage.Halving, d.Stage);
            Assert.Equal(i == 0 ? 0 : 4 >> i, d.StudentSteps);
            Assert.Equal(i == 0 ? 3 : 1, ck.Epoch);
            Assert.True(File.Exists(_dir[$"distill/{stage}/samples/epoch-000{ck.Epoch}.png"]), $"{stage}: sample grid");
            Assert.True(File.Exists(_dir[$"distill/{stage}/log.jsonl"]));
            previous = _dir[$"distill/{stage}/checkpoints/last.ckpt"];
        }

        // stage one learned the guided output: on a fixed batch its loss is below the copied teacher's (a student
        // that starts as the teacher gives the conditional output at every scale)
        using var teacher = Checkpoint.Load(_teacher);
        using var student = Checkpoint.Load(_dir["distill/guidance/checkpoints/last.ckpt"]);
        using var fresh = new Diffusion.Train.Model.UNet(student.Config.Model);
        Diffusion.Train.Optim.ExponentialMovingAverage.CopySharedWeights(teacher.Ema, fresh);
        using var distillation = new GuidanceDistillation(student.Config.CreateSchedule(), teacher.Config.Prediction, student.Config.Prediction, 1, 6, CPU);
        using var data = ImageData.Load(_data, "train", 10);
        double FixedLoss(Diffusion.Train.Model.UNet m)
        {
            m.eval(); teacher.Ema.eval();
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            random.manual_seed(5);
            var (x0, y) = data.Batch(Enumerable.Range(0, 256).Select(i => (long)i).ToArray(), CPU);
            return distillation.GuidanceLoss(m.forward, GuidanceDistillation.Guided(teacher.Ema.forward, 10), x0, y).item<float>();
        }
        double before = FixedLoss(fresh), after = FixedLoss(student.Model);
        Assert.True(after < 0.8 * before, $"stage-one loss: copied teacher {before:F5}, trained student {after:F5}");

        // a second run finds every stage done and changes nothing
        var stamp = File.GetLastWriteTimeUtc(_dir["distill/steps-1/checkpoints/last.ckpt"]);
        (code, output, err) = Run(Distill());
        Assert.True(code == 0, err);
        Assert.Equal(3, output.Split('\n').Count(l => l.Contains(": done (", StringComparison.Ordinal)));
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(_dir["distill/steps-1/checkpoints/last.ckpt"]));
    }

    [Fact]
    public void An_interrupted_stage_is_resumed_and_the_chain_goes_on()
    {
        var (code, _, err) = Run(Distill("--stop-after-steps", "5"));
        Assert.Equal(130, code);
        using (var ck = Checkpoint.Load(_dir["distill/guidance/checkpoints/last.ckpt"])) Assert.Equal(5, ck.Step);
        Assert.False(Directory.Exists(_dir["distill/steps-2"]));
        (code, var output, err) = Run(Distill());
        Assert.True(code == 0, err + output);
        Assert.Contains("resuming at step 5", output);
        using var last = Checkpoint.Load(_dir["distill/steps-1/checkpoints/last.ckpt"]);
        Assert.Equal(1, last.Epoch);
    }

    [Theory]
    [InlineData("--teacher-steps", "6", "--teacher-steps 6; expected a power of two")]
    [InlineData("--down-to", "4", "--down-to 4; expected a power of two from 1 to 2")]
    [InlineData("--guidance-epochs", "0", "--guidance-epochs 0")]
    [InlineData("--max-scale", "0.5", "distill.max_scale = 0.5")]
    [InlineData("--teacher", "no-such.ckpt", "no-such.ckpt")]
    public void Bad_input_is_one_line_and_exit_2_before_anything_is_written(string option, string value, string expected)
    {
        var args = Distill().ToList();
        int at = args.IndexOf(option);
        if (at >= 0) args[at + 1] = value; else args.AddRange([option, value]);
        var (code, _, err) = Run([.. args]);
        Assert.Equal(InvalidInputException.ExitCode, code);
        Assert.Contains(expected, err);
        Assert.Single(err.Trim().Split('\n'));
        Assert.False(Directory.Exists(_dir["distill"]));
    }

    [Fact]
    public void A_student_is_refused_as_the_teacher_of_stage_one()
    {
        Assert.Equal(130, Run(Distill("--stop-after-steps", "1")).Code);
        var args = Distill().ToList();
        args[args.IndexOf("--teacher") + 1] = _dir["distill/guidance/checkpoints/last.ckpt"];
        args[args.IndexOf("--out") + 1] = _dir["distill2"];
        var (code, _, err) = Run([.. args]);
        Assert.Equal(InvalidInputException.ExitCode, code);
        Assert.Contains("is already a distilled student", err);
    }
}
