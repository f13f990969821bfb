using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Diffusion.Onnx;
using Diffusion.Runtime;
using Diffusion.Runtime.Generation;
using Diffusion.Runtime.Samplers;
using Diffusion.Train.Checkpoints;
using Diffusion.Train.Config;
using Diffusion.Train.Model;
using static Diffusion.Export.Tests.TestModels;

namespace Diffusion.Export.Tests;

/// <summary>A distilled student exported beside its teacher's graphs and served by the runtime for its step count.</summary>
public sealed class StudentFolderTests : CommandTestBase
{
    private static TrainConfig TeacherConfig() => SmallConfig("teacher");

    private static TrainConfig StudentConfig(string teacherPath, string origin, DistillStage stage = DistillStage.Halving, int steps = 4) => (TeacherConfig() with
    {
        Name = "student",
        Model = UNetConfig.Preset("small") with { Dropout = 0, GuidanceEmbedding = true },
        Distill = new DistillConfig { Teacher = teacherPath, Stage = stage, StudentSteps = stage == DistillStage.Halving ? steps : 0, OriginSha256 = origin, MinScale = 1, MaxScale = 5 },
    }).Validate();

    // teacher folder (float32 graphs) plus a 4-step student in it; returns the student's checkpoint
    private string TeacherFolderWithStudent(int steps = 4)
    {
        string teacher = SaveCheckpoint(TeacherConfig(), folder: "teacher");
        Assert.Equal(0, ExportCli.Run(["export", "--checkpoint", teacher, "--out", Out, "--no-int8"], Stdout, Stderr));
        string origin;
        using (var ck = Checkpoint.Load(teacher)) origin = ck.FileSha256;
        string student = SaveCheckpoint(StudentConfig(teacher, origin, steps: steps), seed: 21, folder: $"steps-{steps}");
        Assert.True(ExportCli.Run(["export", "--checkpoint", student, "--out", Out], Stdout, Stderr) == 0, Stderr.ToString());
        return student;
    }

    [Fact]
    public void The_student_serves_its_step_count_with_DDIM_one_pass_per_step_and_the_teacher_the_rest()
    {
        TeacherFolderWithStudent();
        Assert.True(File.Exists(Path.Combine(Out, ModelFolderLayout.StudentFile(4, false))));
        Assert.True(File.Exists(Path.Combine(Out, ModelFolderLayout.Unet)), "the teacher's graphs stay");
        using var pipeline = DiffusionPipeline.Load(Out, new Runtime.Onnx.RuntimeOptions { Precision = Runtime.Onnx.PrecisionMode.Float32 });
        Assert.Equal([4], pipeline.Students.Keys.ToArray());
        var info = pipeline.Students[4].Metadata.Student!;
        Assert.Equal([999, 749, 499, 249], info.Timesteps);
        Assert.Equal((1.0, 5.0), (info.MinScale, info.MaxScale));

        int[] labels = [0, 3, 7, 9, 10];
        var request = new GenerationRequest { Labels = labels, Steps = 4, GuidanceScale = 3f, Seed = 5, BatchSize = 2 };
        var result = pipeline.Generate(request);
        Assert.Equal(ModelFolderLayout.StudentFile(4, false), result.Graph);
        Assert.Equal(3 * 4, result.ModelCalls);              // 3 batches, one pass per step

        // the same by hand: the student graph in ONNX Runtime, the runtime's DDIM (eta 0, trailing), the keyed noise
        using var ort = new OrtModel(File.ReadAllBytes(Path.Combine(Out, ModelFolderLayout.StudentFile(4, false))), UNetConfig.Preset("small"));
        var sampler = new DdimSampler(new NoiseSchedule(NoiseScheduleKind.Cosine, 1000), PredictionType.Epsilon, SamplerOptions.Images with { Eta = 0, Spacing = TimestepSpacing.Trailing });
        sampler.SetTimesteps(4);
        int size = 784, n = labels.Length;
        var x = new float[n * size];
        GaussianNoise.FillBatch(5, 0, 0, size, x);
        var prev = new float[n * size]; var x0 = new float[n * size];
        foreach (int t in sampler.Timesteps)
        {
            var output = ort.Run(x, Enumerable.Repeat((long)t, n).ToArray(), labels.Select(l => (long)l).ToArray(), Enumerable.Repeat(3f, n).ToArray());
            sampler.Step(output, t, x, new float[n * size], prev, x0, size);
            (x, prev) = (prev, x);
        }
        Assert.True(MaxAbsDiff(x, result.Images) <= 1e-4f, $"max |pipeline - by hand| = {MaxAbsDiff(x, result.Images)}");

        // other step counts go to the teacher, and so do scales outside the student's range
        Assert.Equal(ModelFolderLayout.Guided, pipeline.Generate(request with { Steps = 5 }).Graph);
        Assert.Equal(ModelFolderLayout.Guided, pipeline.Generate(request with { GuidanceScale = 7f }).Graph);
        Assert.Equal(ModelFolderLayout.Guided, pipeline.Generate(request with { Student = StudentMode.Off }).Graph);
        Assert.Equal(ModelFolderLayout.Unet, pipeline.Generate(request with { GuidanceScale = 1f, Student = StudentMode.Off }).Graph);
        Assert.Equal(ModelFolderLayout.StudentFile(4, false), pipeline.Generate(request with { GuidanceScale = 1f }).Graph);
    }

    [Fact]
    public void Asking_a_student_for_a_step_count_or_scale_it_was_not_distilled_for_is_a_clear_error()
    {
        TeacherFolderWithStudent();
        using var pipeline = DiffusionPipeline.Load(Out, new Runtime.Onnx.RuntimeOptions { Precision = Runtime.Onnx.PrecisionMode.Float32 });
        var request = new GenerationRequest { Labels = [1], Steps = 5, GuidanceScale = 3f, Student = StudentMode.Require };
        var e = Assert.Throws<InvalidInputException>(() => pipeline.Generate(request));
        Assert.Equal("No student was distilled for 5 steps; this model's students take 4 steps.", e.Message);
        e = Assert.Throws<InvalidInputException>(() => pipeline.Generate(request with { Steps = 4, GuidanceScale = 6f }));
        Assert.Contains("outside the 4-step student's range [1, 5]", e.Message);
    }

    [Fact]
    public void A_student_of_another_model_or_of_the_guidance_stage_is_refused()
    {
        string student = TeacherFolderWithStudent();
        // a student whose origin is another model: export refuses it, and a copy dropped in is refused at load
        string other = SaveCheckpoint(StudentConfig("x.ckpt", new string('a', 64), steps: 2), seed: 31, folder: "other");
        Assert.Equal(InvalidInputException.ExitCode, ExportCli.Run(["export", "--checkpoint", other, "--out", Out], Stdout, Stderr));
        Assert.Contains("was distilled from another model", Stderr.ToString());
        string elsewhere = Path.Combine(Dir, "elsewhere");
        Assert.Equal(0, ExportCli.Run(["export", "--checkpoint", other, "--out", elsewhere], Stdout, Stderr));
        File.Copy(Path.Combine(elsewhere, ModelFolderLayout.StudentFile(2, false)), Path.Combine(Out, ModelFolderLayout.StudentFile(2, false)));
        var e = Assert.Throws<InvalidInputException>(() => DiffusionPipeline.Load(Out));
        Assert.Contains("unet-student-2.onnx was distilled from another model", e.Message);

        string guidance = SaveCheckpoint(StudentConfig("x.ckpt", "", DistillStage.Guidance), seed: 41, folder: "guidance");
        Assert.Equal(InvalidInputException.ExitCode, ExportCli.Run(["export", "--checkpoint", guidance, "--out", elsewhere], Stdout, Stderr));
        Assert.Contains("is the guidance stage's student", Stderr.ToString());
        Assert.NotNull(student);
    }

    [Fact]
    public void A_student_gets_an_int8_form_and_a_card_section_and_the_CPU_default_samples_with_it()
    {
        string data = IdxData();
        string teacher = SaveCheckpoint(TeacherConfig(), folder: "teacher");
        Assert.Equal(0, ExportCli.Run(["export", "--checkpoint", teacher, "--out", Out, "--data", data], Stdout, Stderr));
        string origin;
        using (var ck = Checkpoint.Load(teacher)) origin = ck.FileSha256;
        string student = SaveCheckpoint(StudentConfig(teacher, origin, steps: 4), seed: 21, folder: "steps-4");
        Assert.True(ExportCli.Run(["export", "--checkpoint", student, "--out", Out, "--data", data], Stdout, Stderr) == 0, Stderr.ToString());
        string q = Path.Combine(Out, ModelFolderLayout.StudentFile(4, true)), f = Path.Combine(Out, ModelFolderLayout.StudentFile(4, false));
        Assert.Contains($"wrote {q}: ", Stdout.ToString());

        // the int8 student: quantized from the float32 student, a student graph with the same step count and timesteps
        var meta = ModelMetadata.FromProperties(OnnxHelper.Metadata(OnnxHelper.Load(q)), q);
        Assert.Equal((GraphKind.Student, GraphPrecision.Int8), (meta.Graph, meta.Precision));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(f))), meta.QuantizedFrom);
        Assert.Equal([999, 749, 499, 249], meta.Student!.Timesteps);

        // the card: the teacher's int8 entries kept, the student's added; the students section lists the file
        var card = JsonNode.Parse(File.ReadAllText(Path.Combine(Out, ModelFolderLayout.CardJson)))!;
        Assert.Equal([ModelFolderLayout.UnetInt8, ModelFolderLayout.GuidedInt8, ModelFolderLayout.StudentFile(4, true)],
            card["int8"]!["graphs"]!.AsObject().Select(kv => kv.Key).ToArray());
        var entry = card[StudentCard.Key]![ModelFolderLayout.StudentFile(4, false)]!;
        Assert.Equal(4, (int)entry["steps"]!);
        Assert.Equal(ModelFolderLayout.StudentFile(4, true), (string)entry["int8"]!);
        Assert.Equal(origin, (string)entry["distilled_from"]!);
        string md = File.ReadAllText(Path.Combine(Out, ModelFolderLayout.CardMarkdown));
        Assert.Contains("## Distilled students", md);
        Assert.Contains($"| `{ModelFolderLayout.StudentFile(4, false)}` | 4 | 999, 749, 499, 249 |", md);
        Assert.Contains($"| {ModelFolderLayout.StudentFile(4, true)} |", md);

        // on the CPU the default precision takes the int8 student with the teacher's int8 graphs
        using (var pipeline = DiffusionPipeline.Load(Out))
        {
            var r = pipeline.Generate(new GenerationRequest { Labels = [1, 2], Steps = 4, GuidanceScale = 3f, Seed = 1 });
            Assert.Equal(ModelFolderLayout.StudentFile(4, true), r.Graph);
            Assert.All(r.Images, v => Assert.True(float.IsFinite(v)));
        }

        // re-exporting the teacher's checkpoint keeps its student (and quantizes it again); another checkpoint drops it
        Assert.Equal(0, ExportCli.Run(["export", "--checkpoint", teacher, "--out", Out, "--data", data], Stdout, Stderr));
        Assert.True(File.Exists(q) && File.Exists(f));
        Assert.Contains("## Distilled students", File.ReadAllText(Path.Combine(Out, ModelFolderLayout.CardMarkdown)));
        string other = SaveCheckpoint(TeacherConfig(), seed: 51, folder: "other-teacher");
        Stdout.GetStringBuilder().Clear();
        Assert.Equal(0, ExportCli.Run(["export", "--checkpoint", other, "--out", Out, "--data", data], Stdout, Stderr));
        Assert.Contains($"removed {f}: a student distilled from the earlier export", Stdout.ToString());
        Assert.False(File.Exists(q) || File.Exists(f));
        Assert.DoesNotContain("## Distilled students", File.ReadAllText(Path.Combine(Out, ModelFolderLayout.CardMarkdown)));
        Assert.Null(JsonNode.Parse(File.ReadAllText(Path.Combine(Out, ModelFolderLayout.CardJson)))![StudentCard.Key]);
        using (var pipeline = DiffusionPipeline.Load(Out)) Assert.Empty(pipeline.Students);
    }
}
